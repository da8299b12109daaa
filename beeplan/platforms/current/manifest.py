"""The current platform's manifest vocabulary: its JSON Schema, and schema problems by file:line.

The schema (manifest.schema.json beside this file) is the contract of the vocabulary;
docs/manifest-current.md explains it. Messages come from the core's schema checker,
so a typo reads the same on both platforms ("unknown key 'emial'; did you mean 'email'?").
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from ...errors import Problem
from ...manifest._schema import _locate, _messages, format_path

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

PLATFORM = "current"
DEFAULT_PLATFORM = "v2"  # a set that does not say which platform it is for


def manifest_schema() -> dict[str, Any]:
    """The current platform's manifest JSON Schema, shipped inside the package."""
    text = resources.files(__package__).joinpath("manifest.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    # The format checker makes "format": "date" (startDate) a real calendar date: the
    # pattern alone lets 2024-13-45 through to the planner.
    return Draft202012Validator(manifest_schema(),
                                format_checker=Draft202012Validator.FORMAT_CHECKER)


def check(root: Any, file: str) -> list[Problem]:
    """Schema problems of one file's data (as the core YAML loader builds it), with lines."""
    problems: list[Problem] = []
    for error in _validator().iter_errors(root):
        parts = list(error.absolute_path)
        for path, message in _own_messages(error, parts) or _messages(error, parts):
            if error.validator == "pattern":
                message = _pattern_message(error.validator_value, message)
            message = _v2_key_message(path, message)
            line, _text = _locate(root, path)
            problem = Problem(file, line, format_path(path), message)
            if problem not in problems:
                problems.append(problem)
    return sorted(_one_per_typo(problems), key=lambda p: (p.line or 0, p.path))


# API v2's keys, as a set written for v2 (or half converted) holds them, and what says
# the same on this platform (the mapping of 'beeplan convert' and Beebole's migration).
_V2_KEYS = {
    "companies": "companies are the top projects of a project category "
                 "(projectCategories: [{name, projects: [...]}])",
    "groups": "groups are tags (tagCategories: [{name, tags: [...]}] at the top; tags: [...] "
              "on an entry or in assigned)",
    "absences": "absences are absence types (absenceTypes: [...])",
    "subprojects": "subprojects are projects under a project (projects: [...])",
    "userGroup": "a person's user group is their role (role: NAME, declared under roles)",
    "leaders": "leaders are managers (managers: [...])",
    "members": "members are assignments (assigned: {people: [...], tags: [...]})",
    "company": "a person belongs to no company: tags and assignments say where they log time",
    "active": "write 'archived: true' instead of 'active: false'",
    "corporate": "there is no corporate flag: a company is a top-level project",
    "specificTasks": "a task names its projects (tasks[].projects: [...])",
}
_UNKNOWN = re.compile(r"unknown key '(.+)' \(allowed: [^)]*\)")
_ACTIVE = re.compile(r"unknown key '(active)'; did you mean 'archived'\?")


def _v2_key_message(path: list[Any], message: str) -> str:
    """An API v2 key says what this platform writes instead, not only what is allowed."""
    # 'active' is close to 'archived', but means its opposite: say so, not "did you mean".
    found = _UNKNOWN.fullmatch(message) or _ACTIVE.fullmatch(message)
    if not found or found.group(1) not in _V2_KEYS or not path or path[-1] != found.group(1):
        return message
    said = f"unknown key '{found.group(1)}'" if found.re is _ACTIVE else message
    return (f"{said}: an API v2 key; on the current platform {_V2_KEYS[found.group(1)]} "
            "('beeplan convert' rewrites a v2 set)")


_MEANT = re.compile(r"unknown key '.*'; did you mean '(.+)'\?")


def _one_per_typo(problems: list[Problem]) -> list[Problem]:
    """A misspelt required key (``emial``) is one problem, not two: its "did you mean
    'email'?" already says what the "missing required key 'email'" would."""
    meant = set()
    for p in problems:
        found = _MEANT.fullmatch(p.message)
        if found:
            meant.add((p.file, p.path.rpartition(".")[0], found.group(1)))
    return [p for p in problems
            if not (p.message.startswith("missing required key '")
                    and (p.file, p.path, p.message[len("missing required key '"):-1]) in meant)]


def _own_messages(error: ValidationError, parts: list[Any]) -> list[tuple[list[Any], str]]:
    """Messages for the keywords this schema uses and the v2 one does not."""
    if error.validator == "const" and parts[-1:] == ["type"]:
        # the only const: options need a text field
        return [(parts, f"options (allowed values) are for text fields only, and this field "
                        f"is {error.instance}: remove options, or make the type text")]
    if error.validator == "not" and isinstance(error.instance, str):
        # the only not: Beebole's names (BeeboleName) refuse URLs and HTML
        return [(parts, f"{error.instance!r}: a name on this platform holds no URL or HTML "
                        "(http://, www., <tag>): Beebole's API refuses it; write it without")]
    if error.validator == "format" and error.validator_value == "date":
        # Not of the YYYY-MM-DD shape: the pattern says so, in the same words (one line).
        shaped = re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(error.instance))
        return [(parts, f"'{error.instance}' is " + ("not a real date: write YYYY-MM-DD" if shaped
                                                    else "not a date: write YYYY-MM-DD"))]
    if error.validator == "uniqueItems" and isinstance(error.instance, list):
        seen: list[Any] = []
        for value in error.instance:
            if value in seen:
                return [(parts, f"{value!r} is listed more than once: list it once")]
            seen.append(value)
    return []


def _pattern_message(pattern: str, message: str) -> str:
    """Say what an xid or id must be, not which regular expression it failed."""
    defs = _validator().schema["$defs"]
    if pattern == defs["xid"]["pattern"]:
        return ("an xid (or a reference to one) is 1 to 255 characters, not only spaces, with "
                "no control characters (newline, tab...)")
    if pattern == defs["id"]["pattern"]:
        return ("a live id on this platform is an opaque text of letters, digits, - and _ "
                "(as 'beeplan import' writes it); quote it in YAML")
    if pattern == "\\S":
        return "a name cannot be only spaces"
    return message


def platform_of(settings: Any) -> str:
    """The platform a set's ``settings`` say it is for: ``settings.platform``, else v2."""
    if isinstance(settings, dict) and isinstance(settings.get("platform"), str):
        return str(settings["platform"])
    return DEFAULT_PLATFORM
