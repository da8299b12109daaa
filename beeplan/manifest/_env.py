"""``${NAME}`` and ``${NAME:-default}`` in string values, from the environment.

The syntax is Docker Compose's, restricted to what a manifest needs:

- ``${NAME}``: the variable's value (empty if set to ""); unset is an error;
- ``${NAME:-default}``: the default when NAME is unset or empty; the
  default is taken as written (it cannot hold ``}`` or another ``${``);
- ``$$``: one literal ``$``; a ``$`` followed by anything else stays as
  written (``$5``, ``$NAME`` without braces: text, not a variable).

Only values are interpolated, never keys, and only values YAML read as text
(``id: ${ID}`` is the text "42", which the schema then refuses as an id).

Manifest text ends up in plans, logs and pull-request comments, and a pull
request writes the manifests: a variable whose name says it holds a secret
(``BEEBOLE_TOKEN``, ``GITHUB_TOKEN``, ``*_PASSWORD``, ``*_KEY``...) is refused,
so a manifest cannot copy the CI job's credentials into a comment.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..errors import Problem
from ._yaml import MDict, MList

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_TOKEN = re.compile(r"\$(?:(\$)|\{(" + _NAME + r")(?:(:-)([^}]*))?\})")
_SECRET = re.compile(r"TOKEN|SECRET|PASSW|PASSPHRASE|CREDENTIAL|PRIVATE|(?:^|_)KEY(?:_|$)|"
                     r"(?:^|_)AUTH(?:_|$)|COOKIE|SESSION", re.IGNORECASE)

_SYNTAX = "write ${NAME} or ${NAME:-default}, or $$ for a literal $"


def is_secret_name(name: str) -> bool:
    """Whether a variable's name says it holds a credential (see the module docstring)."""
    return bool(_SECRET.search(name))


class Resolver:
    """Interpolates the values of one manifest set; collects problems and the variables used."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        # name -> its value in the environment, None when unset (defaults were used).
        self.used: dict[str, str | None] = {}
        self.problems: list[Problem] = []
        self._done: set[int] = set()  # containers already visited (aliases share them)
        self.substituted: set[tuple[str, str]] = set()  # (file, path) a variable wrote

    def explain(self, problems: list[Problem]) -> list[Problem]:
        """Problems about text where a number, true/false or id belongs, when the text
        came from a variable: say that variables give text only (the type error alone
        reads as if the manifest were at fault, and 'write it without quotes' cannot help).
        """
        return [
            Problem(p.file, p.line, p.path,
                    p.message.split("; write it without quotes")[0]
                    + "; it comes from a ${...} variable, and variables give text only: "
                    "write this value in the manifest itself (a value per environment goes "
                    "in that environment's own path)")
            if (p.file, p.path) in self.substituted
            and ("got text" in p.message or "(text)" in p.message) else p
            for p in problems
        ]

    def resolve(self, data: Any, file: str, path: str = "") -> None:
        """Replace, in place, every variable in the string values below ``data``."""
        if id(data) in self._done:
            return
        if isinstance(data, MDict):
            self._done.add(id(data))
            for key, value in data.items():
                where = f"{path}.{key}" if path else str(key)
                line = data.key_lines.get(key, data.line)
                if isinstance(value, str):
                    data[key] = self.text(value, file, line, where)
                    if data[key] != value:
                        self.substituted.add((file, where))
                else:
                    self.resolve(value, file, where)
        elif isinstance(data, MList):
            self._done.add(id(data))
            for index, value in enumerate(data):
                where = f"{path}[{index}]"
                if isinstance(value, str):
                    data[index] = self.text(value, file, data.item_lines[index], where)
                    if data[index] != value:
                        self.substituted.add((file, where))
                else:
                    self.resolve(value, file, where)

    def text(self, value: str, file: str, line: int, path: str) -> str:
        if "$" not in value:
            return value  # the common case, kept fast
        out: list[str] = []
        at = 0
        while True:
            dollar = value.find("$", at)
            if dollar < 0:
                out.append(value[at:])
                return "".join(out)
            out.append(value[at:dollar])
            match = _TOKEN.match(value, dollar)
            if match is None:
                if value.startswith("${", dollar):
                    self.problems.append(Problem(file, line, path, _malformed(value, dollar)))
                    return value
                out.append("$")  # '$5', '$NAME': literal
                at = dollar + 1
                continue
            at = match.end()
            if match.group(1):
                out.append("$")
                continue
            name, default = match.group(2), match.group(4) if match.group(3) else None
            if is_secret_name(name):
                self.problems.append(Problem(
                    file, line, path,
                    f"${{{name}}}: a manifest cannot read a variable whose name says it holds "
                    "a secret (its value would be shown in plans and pull-request comments); "
                    "use another name for what the manifests may show"))
                return value
            if "${" in (default or ""):
                self.problems.append(Problem(file, line, path, _malformed(value, dollar)))
                return value
            current = self.environ.get(name)
            self.used.setdefault(name, current)
            if default is not None and not current:
                out.append(default)
            elif current is None:
                self.problems.append(Problem(
                    file, line, path,
                    f"${{{name}}}: the environment variable {name} is not set; set it, or "
                    f"give a default: ${{{name}:-value}}"))
                return value
            else:
                out.append(current)


def _malformed(value: str, dollar: int) -> str:
    end = value.find("}", dollar)
    shown = value[dollar:end + 1] if end >= 0 else value[dollar:dollar + 40]
    why = ("it has no closing }" if end < 0
           else "a default cannot hold another ${...}" if "${" in value[dollar + 2:end]
           else "only a name (letters, digits, _) and :-default may be between the braces")
    return f"malformed variable {shown!r}: {why}; {_SYNTAX}"
