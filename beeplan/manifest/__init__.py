"""Load manifests: YAML files -> schema -> semantic checks -> ``model.State``.

``load(path)`` reads a file, or every ``*.yaml``/``*.yml`` file below a
directory (sorted by path; files and directories whose name starts with a dot
are skipped, so a repository's ``.github/`` is never read). Each top-level
list may be split across files. Every problem in every file is collected and
raised as one ``ManifestError``; nothing touches the network.

Model conventions (see ``beeplan.model``):

- ``startDate`` is kept as the 'YYYY-MM-DD' text written in the file.
- ``customFields`` values keep their YAML type, read as YAML 1.2 would:
  ``true``/``false`` are booleans, ``42`` and ``1.50`` numbers (sent as JSON
  numbers, compared by value), anything else text as written: ``yes``,
  ``0x1F``, ``1:30`` or ``1_000`` stay text (YAML 1.1 would turn them into a
  boolean or a number nobody meant), and a quoted ``"42"`` is text.
- A present ``members`` key manages both ``members.people`` and
  ``members.groups`` (a missing sub-list means none); a present
  ``specificTasks`` manages ``specificTasks.enabled`` (default true) and
  ``specificTasks.tasks`` (default none).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ..errors import ManifestError, Problem
from ..model import KIND_ORDER, KINDS, CustomValue, Entity, Ref, Source, State
from . import _overlay, _schema
from ._checks import check as _semantic_check
from ._settings import declared_kinds, settings_of
from ._walk import Key, Raw, walk
from ._yaml import MDict, parse

__all__ = ["load", "manifest_files", "manifest_schema"]

manifest_schema = _schema.manifest_schema

_SUFFIXES = (".yaml", ".yml")


def manifest_files(path: str | Path) -> list[Path]:
    """The files a manifest path stands for, in load order."""
    root = Path(path)
    if root.is_dir():
        found: list[Path] = []
        for directory, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            found.extend(Path(directory, name) for name in files
                         if name.endswith(_SUFFIXES) and not name.startswith("."))
        found.sort(key=lambda p: p.relative_to(root).parts)
        if not found:
            raise ManifestError([Problem(str(root), None, "", "no *.yaml or *.yml files here")])
        return found
    if not root.exists():
        raise ManifestError([Problem(str(root), None, "", "no such file or directory")])
    return [root]


def _read(file: Path, problems: list[Problem]) -> str | None:
    try:
        raw = file.read_bytes()
    except OSError as exc:
        problems.append(Problem(str(file), None, "", f"cannot read: {exc.strerror or exc}"))
        return None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        problems.append(Problem(str(file), line, "",
                                f"not UTF-8 text (byte 0x{raw[exc.start]:02x}); save it as UTF-8"))
        return None


def load(path: str | Path | Sequence[str | Path], warnings: list[Problem] | None = None) -> State:
    """The desired state declared by the manifests at ``path`` (a file or a directory).

    Several paths are several sets, later ones overriding earlier ones
    (``_overlay``: the merge rule). Raises ``ManifestError`` carrying every
    problem found, each located by file, line and path (e.g.
    ``companies[0].projects[1].startDate``).
    What is legal but worth a look (duplicate sibling names) is appended to
    ``warnings`` when a list is given.
    """
    found: list[Problem] = []
    sets = [manifest_files(one) for one in _overlay.paths_of(path)]
    files = [file for in_set in sets for file in in_set]
    problems: list[Problem] = []
    schema_problems: list[Problem] = []  # kept apart: an overriding entry may omit a key
    raws: list[list[Raw]] = [[] for _ in sets]  # per set
    settings: list[list[tuple[str, MDict]]] = [[] for _ in sets]
    declared: set[str] = set()
    for number, file in ((n, f) for n, in_set in enumerate(sets) for f in in_set):
        name = str(file)
        text = _read(file, problems)
        if text is None:
            continue
        data = parse(text, name, problems)
        if data is None:
            continue  # empty file, or unreadable YAML already reported
        if not isinstance(data, MDict):
            problems.append(Problem(
                name, getattr(data, "line", 1), "",
                f"a manifest file is a mapping (companies:, tasks:, groups:, people:, "
                f"absences:, settings:), not {_schema.describe(data)}"))
            continue
        schema_problems.extend(_schema.check(data, name))
        raws[number].extend(walk(data, name))
        declared |= declared_kinds(data)
        if isinstance(data.get("settings"), MDict):
            settings[number].append((name, data["settings"]))
    overlay = _overlay.merge_entries(raws)
    problems.extend(overlay.completed(schema_problems))
    problems.extend(overlay.locate(_semantic_check(overlay.raws, found)))
    found = overlay.locate(found)
    found_settings = settings_of(_overlay.merge_settings(settings), problems)
    if problems:
        order = {str(file): index for index, file in enumerate(files)}
        problems.sort(key=lambda p: (order.get(p.file, -1), p.line or 0))
        raise ManifestError(problems)
    if warnings is not None:
        order = {str(file): index for index, file in enumerate(files)}
        warnings.extend(sorted(found, key=lambda p: (order.get(p.file, -1), p.line or 0)))
    return State(entities=_entities(overlay.settled()), settings=found_settings,
                 declared_kinds=frozenset(declared))


def _ref(kind: str, key: Key) -> Ref:
    return Ref(kind, xid=key[1]) if key[0] == "xid" else Ref(kind, id=key[1])


def _refs(kind: str, items: Any) -> frozenset[Ref]:
    refs = []
    for item in items or ():
        if isinstance(item, str):
            refs.append(Ref(kind, xid=item))
        else:
            refs.append(Ref(kind, id=int(item["id"])))
    return frozenset(refs)


_NUMBER = re.compile(r"[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?\Z")
_BOOLEAN = {"true": True, "false": False}


def _custom_value(value: Any, text: str | None) -> CustomValue:
    if isinstance(value, str) or text is None:
        return value if isinstance(value, (str, bool, int, float)) else str(value)
    if text.lower() in _BOOLEAN:
        return _BOOLEAN[text.lower()]
    if _NUMBER.match(text):
        number = float(text) if any(c in text for c in ".eE") else int(text)
        if math.isfinite(number):  # 1e999 is no JSON number: keep what was written
            return number
    return text


def _custom_fields(values: MDict) -> dict[str, CustomValue]:
    return {name: _custom_value(value, values.texts.get(name)) for name, value in values.items()}


def _entity(raw: Raw) -> Entity:
    data = raw.data
    spec = KINDS[raw.kind]
    assert raw.key is not None  # a valid manifest gives every entity an identity
    parent = _ref(spec.parent_kind, raw.parent) if raw.parent and spec.parent_kind else None
    fields = {name: data[name] for name in spec.fields if name in data}
    relations: dict[str, Any] = {}
    for name in ("groups", "managers", "leaders"):
        if name in data and name in spec.relations:
            relations[name] = _refs("group" if name == "groups" else "person", data[name])
    members = data.get("members")
    if isinstance(members, MDict):
        relations["members.people"] = _refs("person", members.get("people"))
        relations["members.groups"] = _refs("group", members.get("groups"))
    if isinstance(data.get("customFields"), MDict):
        relations["customFields"] = _custom_fields(data["customFields"])
    specific = data.get("specificTasks")
    if isinstance(specific, MDict):
        relations["specificTasks.enabled"] = specific.get("enabled", True) is not False
        relations["specificTasks.tasks"] = _refs("task", specific.get("tasks"))
    return Entity(
        kind=raw.kind,
        ref=_ref(raw.kind, raw.key),
        name=data["name"],
        parent=parent,
        active=data.get("active", True) is not False,
        fields=fields,
        relations=relations,
        invite=raw.kind == "person" and data.get("invite") is True,
        source=Source(raw.file, raw.line),
    )


def _entities(raws: Iterable[Raw]) -> tuple[Entity, ...]:
    rank = {kind: index for index, kind in enumerate(KIND_ORDER)}
    ordered = sorted(raws, key=lambda raw: rank[raw.kind])  # stable: file order within a kind
    return tuple(_entity(raw) for raw in ordered)
