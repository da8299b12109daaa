"""Which platform a manifest set is written for, found before the v2 schema reads it.

A set written for Beebole's current platform is a different vocabulary: read by
the v2 schema it would only produce dozens of errors that say nothing useful.
So ``load`` looks at ``settings.platform`` in every file first, and stops with
``WrittenForOther``: validate checks such a set with that platform's checker; plan,
check, apply, diff and graph hand it to that platform's engine (``Platform.engine``);
every other command refuses it, before any API call. ``${NAME}`` is expanded in
every file before that, exactly as in a v2 set.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError, ManifestError, Problem
from ._yaml import MDict

# Platforms with their own manifest vocabulary that the v2 commands cannot use.
OTHER_VOCABULARIES = ("current",)
# Every name settings.platform may say. Another one (a typo: 'curent') stops here, in
# one line: read by the v2 schema, a current set would give dozens of errors instead.
KNOWN = ("v2", *OTHER_VOCABULARIES)


@dataclass(frozen=True)
class Declared:
    """One file's ``settings.platform``: the name, and file:line that says it."""

    platform: str
    file: str
    line: int | None

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


class WrittenForOther(ConfigError):
    """The set is written for a platform whose manifests the v2 commands do not manage."""

    def __init__(self, declared: Declared, files: Sequence[tuple[str, Any]],
                 problems: Sequence[Problem],
                 variables: Mapping[str, str | None] | None = None) -> None:
        self.declared = declared
        # (file name, parsed data, ${NAME} already expanded as on v2): for that platform
        self.files = tuple(files)
        self.problems = tuple(problems)  # reading/YAML/${NAME} problems found on the way
        # The variables the files' ${NAME} read (None: unset, default used), as on v2.
        self.variables = dict(sorted((variables or {}).items()))
        name = declared.platform
        super().__init__(
            f"{declared.where}: this manifest set is written for Beebole's {name} platform "
            f"(settings.platform: {name}), which this command does not handle (it works on "
            f"API v2 sets); nothing was sent. What works with it: 'beeplan plan', 'check' and "
            f"'apply PATH' against an endpoint of that platform, 'beeplan diff OLD NEW' and "
            f"'beeplan graph PATH' offline, 'beeplan validate PATH' (every error, with file "
            f"and line); 'beeplan convert V2_SET -o DIR' writes such a set from a v2 one")


# Top-level keys only the current platform's manifests have (and no v2 user would guess):
# a set using them without settings.platform forgot to say what it is written for.
CURRENT_ONLY_KEYS = ("projectCategories", "tagCategories", "taskCategories", "absenceTypes")


def _undeclared_current(files: Sequence[tuple[str, Any]]) -> None:
    """One line for a current set without ``settings.platform``, not the v2 schema's
    error on every key."""
    for name, data in files:
        key = next((k for k in data if k in CURRENT_ONLY_KEYS), None) \
            if isinstance(data, MDict) else None
        if key is not None:
            raise ManifestError([Problem(
                name, data.key_lines.get(key), key,
                "a key of Beebole's current platform, in a set that does not say which "
                "platform it is written for (it is then read as API v2): add "
                "'settings: {platform: current}' to one of its files")])


def declared_in(name: str, data: MDict) -> Declared | None:
    """The file's ``settings.platform``, if it says one (as text)."""
    settings = data.get("settings")
    if not isinstance(settings, MDict) or not isinstance(settings.get("platform"), str):
        return None
    return Declared(str(settings["platform"]), name, settings.key_lines.get("platform"))


def check(declared: Sequence[Declared], files: Sequence[tuple[str, Any]],
          problems: Sequence[Problem],
          variables: Mapping[str, str | None] | None = None) -> None:
    """Stop a set whose files disagree, or that is written for another vocabulary."""
    if not declared:
        _undeclared_current(files)
        return
    first = declared[0]
    for other in declared[1:]:
        if other.platform != first.platform:
            raise ManifestError([Problem(
                other.file, other.line, "settings.platform",
                f"says {other.platform!r}, but {first.where} says {first.platform!r}: a manifest "
                f"set is written for one platform; make them agree (or remove one)")])
    if first.platform not in KNOWN:
        close = difflib.get_close_matches(first.platform, KNOWN, n=1, cutoff=0.5)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ManifestError([Problem(
            first.file, first.line, "settings.platform",
            f"{first.platform!r} is not a platform beeplan knows; {hint}write one of: "
            f"{', '.join(sorted(KNOWN))} (or remove the key: the set is then for v2)")])
    if first.platform in OTHER_VOCABULARIES:
        raise WrittenForOther(first, files, problems, variables)
