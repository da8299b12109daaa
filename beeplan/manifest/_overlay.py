"""Several manifest sets (``beeplan plan common/ envs/prod/``): later sets override earlier ones.

The rule (docs/manifest.md, "Several paths"):

- an entry of a later set with the same kind and identity (xid, or id) as an
  entry of an earlier set overrides the fields it writes, at any depth (a
  project inside a company is matched by its own xid, wherever it sits);
  the fields it does not write are kept;
- a field's value is replaced whole: relations (groups, members, managers,
  leaders, customFields, specificTasks) replace, they never merge;
- entries new in a later set are added;
- ``settings`` merge key by key, nested mappings too (``safety.kinds``);
  the later set wins.

Within one set nothing changes: an identity declared twice is still an error.

Errors keep the file and line that declared the value: a merged entry is
checked under a placeholder file name, and each problem about it is moved
back to the file (and path) that wrote the field it names.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import Problem
from ._walk import PARENT_KEY, Key, Raw
from ._yaml import MDict

# Keys that hold nested entries: those entries are matched one by one, so the
# enclosing entry keeps its own list (it only feeds the walk, already done).
_NESTED = {"company": "projects", "project": "subprojects", "group": "groups"}

_KEY = re.compile(r"\.([^.\[]+)")
_MISSING = re.compile(r"missing required key '(.+)'")  # as beeplan.manifest._schema says it


@dataclass
class _Origin:
    """Where a merged entry's fields come from: (file, path) per field, and the latest entry."""

    file: str
    path: str
    fields: dict[str, tuple[str, str]] = field(default_factory=dict)


@dataclass
class Overlay:
    """The merged entries, and how to move their problems back to real files."""

    raws: list[Raw]
    origins: dict[str, _Origin] = field(default_factory=dict)  # placeholder -> origin
    # (file, path) of each entry that overrode an earlier one -> the merged fields
    overrides: dict[tuple[str, str], MDict] = field(default_factory=dict)
    # (file, path) of each entry a later set adds (no earlier entry had its identity)
    # -> its identity as written: an override whose xid has a typo lands here.
    added: dict[tuple[str, str], str] = field(default_factory=dict)

    def completed(self, problems: list[Problem]) -> list[Problem]:
        """Schema problems less "missing required key" where an earlier set gave the key.

        An overriding entry writes only what changes (``- xid: acme`` and one
        field); the merged entry must still have every required key.
        """
        kept = []
        for problem in problems:
            merged = self.overrides.get((problem.file, problem.path))
            match = _MISSING.fullmatch(problem.message)
            if merged is not None and match is not None and match.group(1) in merged:
                continue
            identity = self.added.get((problem.file, problem.path))
            if identity is not None and match is not None:
                # Meant as an override, most likely: say why it was not one.
                problem = replace(problem, message=(
                    f"{problem.message}: no earlier path declares {identity}, so this entry "
                    "is a new one, not an override; check the identity against the earlier "
                    f"path, or give the new entry its {match.group(1)!r}"))
            kept.append(problem)
        return kept

    def locate(self, problems: list[Problem]) -> list[Problem]:
        """Problems with each placeholder replaced by the file and path that declared the value."""
        if not self.origins:
            return problems
        return [self._locate(p) for p in problems]

    def _locate(self, problem: Problem) -> Problem:
        file, path = problem.file, problem.path
        origin = self.origins.get(file)
        if origin is not None:
            rest = path[len(file):] if path.startswith(file) else ""
            match = _KEY.match(rest)
            file, base = origin.fields.get(match.group(1), (origin.file, origin.path)) if match \
                else (origin.file, origin.path)
            path = base + rest if path.startswith(problem.file) else path
        message = problem.message
        if "\0" in message:  # "first at <placeholder>:12"
            for tag, where in self.origins.items():
                message = message.replace(tag, where.file)
        return replace(problem, file=file, path=path, message=message)

    def settled(self) -> list[Raw]:
        """The entries, a merged one placed at its latest declaration (the plan's file:line)."""
        return [replace(raw, file=self.origins[raw.file].file, path=self.origins[raw.file].path)
                if raw.file in self.origins else raw for raw in self.raws]


def paths_of(path: str | Path | Sequence[str | Path]) -> list[str | Path]:
    """``load``'s argument as a list of sets: one path, or several in order."""
    return [path] if isinstance(path, (str, os.PathLike)) else list(path)


def merge_entries(sets: list[list[Raw]]) -> Overlay:
    """The entries of several sets, later sets overriding earlier ones (see the module doc)."""
    overlay = Overlay(list(sets[0]) if sets else [])
    if len(sets) <= 1:
        return overlay  # one set (nearly always): nothing overrides anything
    result = overlay.raws
    # (kind, identity) -> (position in result, number of the set that last wrote it)
    where: dict[tuple[str, Key], tuple[int, int]] = {}
    for index, raw in enumerate(result):
        if raw.key is not None:
            where.setdefault((raw.kind, raw.key), (index, 0))
    for number, entries in enumerate(sets[1:], start=1):
        for raw in entries:
            found = where.get((raw.kind, raw.key)) if raw.key is not None else None
            if raw.key is None or found is None or found[1] == number:
                # New, or a second declaration within this set (still an error).
                result.append(raw)
                if raw.key is not None and found is None:
                    where[(raw.kind, raw.key)] = (len(result) - 1, number)
                    name, value = raw.key
                    overlay.added[(raw.file, raw.path)] = f"a {raw.kind} with {name} {value!r}"
                continue
            position = found[0]
            result[position] = _merged(result[position], raw, overlay)
            where[(raw.kind, raw.key)] = (position, number)
    return overlay


def _merged(base: Raw, top: Raw, overlay: Overlay) -> Raw:
    before = overlay.origins.get(base.file)
    # Delimited both ends: "merged1" must not match the start of "merged10" in a message.
    tag = f"\0merged{len(overlay.origins)}\0"
    origin = _Origin(top.file, top.path)
    data = MDict(top.line)
    nested = _NESTED.get(top.kind)
    for key, value in base.data.items():
        _put(data, key, value, base.data)
        origin.fields[key] = (before.fields.get(key, (before.file, before.path)) if before
                              else (base.file, base.path))
    for key, value in top.data.items():
        if key == nested and key in base.data:
            continue  # nested entries were matched one by one
        _put(data, key, value, top.data)
        origin.fields[key] = (top.file, top.path)
    overlay.origins[tag] = origin
    overlay.overrides[(top.file, top.path)] = data
    # An entry that does not name its parent (company:, parent:) keeps the earlier one.
    keeps_parent = top.parent is None and PARENT_KEY.get(top.kind, "") not in top.data
    return replace(
        top, data=data, file=tag, path=tag,
        parent=base.parent if keeps_parent else top.parent,
        parent_token=base.parent_token if keeps_parent else top.parent_token,
    )


def _put(data: MDict, key: str, value: Any, source: MDict) -> None:
    data[key] = value
    data.key_lines[key] = source.key_lines.get(key, source.line)
    if key in source.texts:
        data.texts[key] = source.texts[key]
    else:
        data.texts.pop(key, None)


def merge_settings(sets: list[list[tuple[str, MDict]]]) -> list[tuple[str, MDict]]:
    """The ``settings:`` of several sets, key by key (nested mappings too), later sets winning.

    Within a set each key is still set once (``settings_of`` says where both are).
    """
    merged: list[tuple[str, MDict]] = []
    for found in sets:
        later = {key for _, data in found for key in data}
        earlier: dict[str, Any] = {}
        kept: list[tuple[str, MDict]] = []
        for file, data in merged:
            rest = MDict(data.line)
            for key, value in data.items():
                if key in later:
                    earlier.setdefault(key, value)
                else:
                    _put(rest, key, value, data)
            if rest:
                kept.append((file, rest))
        for file, data in found:
            out = MDict(data.line)
            for key, value in data.items():
                _put(out, key, _deep(earlier.get(key), value), data)
            kept.append((file, out))
        merged = kept
    return merged


def _deep(before: Any, after: Any) -> Any:
    if not (isinstance(before, MDict) and isinstance(after, MDict)):
        return after
    out = MDict(after.line)
    for key, value in before.items():
        _put(out, key, value, before)
    for key, value in after.items():
        _put(out, key, _deep(before.get(key), value), after)
    return out
