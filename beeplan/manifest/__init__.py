"""Load manifests: YAML files -> schema -> semantic checks -> ``model.State``.

``load(path)`` reads a file, or every ``*.yaml``/``*.yml`` file below a
directory (sorted by path; files and directories whose name starts with a dot
are skipped, so a repository's ``.github/`` is never read). Each top-level
list may be split across files. Every problem in every file is collected and
raised as one ``ManifestError``; nothing touches the network.

Files are found and read by the rules of ``._files`` (a symlink leaving the
git work tree is refused unread, directory symlinks inside it are followed,
only regular files of at most 5 MiB are read), and ``${NAME}`` in string
values is replaced from the environment by ``._env`` before the schema sees
the data, so every check applies to the values the plan will use.

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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..errors import ManifestError, Problem
from ..model import KIND_ORDER, KINDS, CustomValue, Entity, Located, Ref, Source, State, new_entity
from . import _overlay, _schema, _written
from ._checks import PlanNote
from ._checks import check as _semantic_check
from ._env import Resolver
from ._files import MAX_FILE_BYTES, Boundary, boundary_of, manifest_files, read_manifest
from ._settings import declared_kinds, settings_of
from ._walk import Key, Raw, aliases, resolve, walk
from ._yaml import MDict, parse

__all__ = ["MAX_FILE_BYTES", "PlanNote", "boundary_of", "load", "manifest_files",
           "manifest_schema", "read_manifest"]

manifest_schema = _schema.manifest_schema

def _read(file: Path, boundary: Boundary, problems: list[Problem]) -> str | None:
    try:
        raw = read_manifest(file, boundary)
    except ValueError as exc:  # a refusal by the file rules (see ._files)
        problems.append(Problem(str(file), None, "", str(exc)))
        return None
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


def load(
    path: str | Path | Sequence[str | Path],
    warnings: list[Problem] | None = None,
    environ: Mapping[str, str] | None = None,
) -> State:
    """The desired state declared by the manifests at ``path`` (a file or a directory).

    Several paths are several sets, later ones overriding earlier ones
    (``_overlay``: the merge rule). Raises ``ManifestError`` carrying every
    problem found, each located by file, line and path (e.g.
    ``companies[0].projects[1].startDate``).
    What is legal but worth a look (duplicate sibling names) is appended to
    ``warnings`` when a list is given. ``${NAME}`` in string values is read
    from ``environ`` (default: ``os.environ``); the state records the
    variables used (``State.variables``).
    """
    found: list[Problem] = []
    # Each set has its own boundary: the repository (or folder) that holds it.
    paths = _overlay.paths_of(path)
    boundaries = [boundary_of(one) for one in paths]
    sets = [manifest_files(one, boundaries[n]) for n, one in enumerate(paths)]
    files = [file for in_set in sets for file in in_set]
    resolver = Resolver(os.environ if environ is None else environ)
    problems: list[Problem] = []
    schema_problems: list[Problem] = []  # kept apart: an overriding entry may omit a key
    raws: list[list[Raw]] = [[] for _ in sets]  # per set
    settings: list[list[tuple[str, MDict]]] = [[] for _ in sets]
    declared: set[str] = set()
    platforms: list[_written.Declared] = []  # each file's settings.platform
    parsed: list[tuple[str, MDict]] = []
    facts: dict[str, tuple[str, _Facts]] = {}  # published if the load succeeds
    for number, file in ((n, f) for n, in_set in enumerate(sets) for f in in_set):
        name = str(file)
        text = _read(file, boundaries[number], problems)
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
        said = _written.declared_in(name, data)
        if said is not None:
            platforms.append(said)
        parsed.append((name, data))
        # Every file's ${NAME} is resolved, whichever platform the set is written for
        # and wherever its settings.platform is: a file sorting after the declaring one
        # must not keep '${NAME}' as text while the files before it are expanded.
        if "$" in text:  # no '$', no variable: most sets skip this walk entirely
            resolver.resolve(data, name)
            problems.extend(resolver.problems)
            resolver.problems.clear()
        if platforms and platforms[0].platform in _written.OTHER_VOCABULARIES:
            continue  # another vocabulary: the v2 schema would only say it is not v2
        schema_problems.extend(_schema.check(data, name))
        own = list(walk(data, name))
        raws[number].extend(own)
        kinds = declared_kinds(data)
        declared |= kinds
        # One set: several may forgive a file's schema problems (an entry overriding
        # another omits a key). The variables read are added below, once all are known.
        if len(sets) == 1:
            facts[name] = (text, _Facts(frozenset(kinds), aliases(own),
                                        "settings" not in data and said is None, {}))
        if isinstance(data.get("settings"), MDict):
            settings[number].append((name, data["settings"]))
    _written.check(platforms, parsed, problems, resolver.used)
    overlay = _overlay.merge_entries(raws)
    _resolve_parents(overlay.raws)
    problems.extend(overlay.completed(schema_problems))
    problems.extend(overlay.locate(_semantic_check(overlay.raws, found)))
    found = overlay.locate(found)
    found_settings = settings_of(_overlay.merge_settings(settings), problems)
    if problems:
        problems = resolver.explain(problems)
        order = {str(file): index for index, file in enumerate(files)}
        problems.sort(key=lambda p: (order.get(p.file, -1), p.line or 0))
        raise ManifestError(problems)
    order = {str(file): index for index, file in enumerate(files)}
    found.sort(key=lambda p: (order.get(p.file, -1), p.line or 0))
    if warnings is not None:
        warnings.extend(found)
    used = dict(resolver.used)
    _FACTS.update({name: (text, replace(fact, variables=used))
                   for name, (text, fact) in facts.items()})
    return State(entities=_entities(overlay.settled()), settings=found_settings,
                 declared_kinds=frozenset(declared), variables=dict(sorted(resolver.used.items())),
                 notes=_notes(found))


def _notes(found: Iterable[Problem]) -> tuple[str, ...]:
    """The warnings a plan repeats, worded like its own: the entry, its line, the key."""
    out: list[str] = []
    for note in found:
        if isinstance(note, PlanNote):
            key = note.path.rsplit(".customFields.", 1)[-1]
            out.append(Located(f"{note.entity} ({note.file}:{note.line}): customFields.{key}: "
                               f"{note.message}", Source(note.file, note.line)))
    return tuple(out)


_PARENT_KIND = {"group": "group", "project": "company", "subproject": "project",
                "task": "company", "person": "company", "absence": "company"}


def _resolve_parents(raws: list[Raw]) -> None:
    """Parents named by an xid still being given (``id: N`` with ``xid: X``) become id N.

    So the checks (cycles, sibling names) and the model see one identity per entity.
    """
    alias = aliases(raws)
    if not alias:
        return
    for raw in raws:
        if raw.parent is not None and raw.kind in _PARENT_KIND:
            raw.parent = resolve(_PARENT_KIND[raw.kind], raw.parent, alias)


# Refs already made in this load, by (kind, key): 10,000 people name the same few
# companies and groups, and a Ref (a frozen dataclass) costs more to make than to find.
_Made = dict[tuple[str, Key], Ref]


def _ref(kind: str, key: Key, alias: dict[tuple[str, str], int] | None = None,
         made: _Made | None = None) -> Ref:
    if alias:  # (most sets give no entry adopted by id an xid: nothing to resolve)
        key = resolve(kind, key, alias) or key
    if made is not None:
        found = made.get((kind, key))
        if found is not None:
            return found
    ref = Ref(kind, xid=key[1]) if key[0] == "xid" else Ref(kind, id=key[1])
    if made is not None:
        made[(kind, key)] = ref
    return ref


def _refs(kind: str, items: Any, alias: dict[tuple[str, str], int],
          made: _Made | None = None) -> frozenset[Ref]:
    refs = []
    for item in items or ():
        if isinstance(item, str):
            refs.append(_ref(kind, ("xid", item), alias, made))
        else:
            refs.append(_ref(kind, ("id", int(item["id"])), None, made))
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


def _entity(raw: Raw, alias: dict[tuple[str, str], int], made: _Made | None = None) -> Entity:
    data = raw.data
    spec = KINDS[raw.kind]
    assert raw.key is not None  # a valid manifest gives every entity an identity
    parent = (_ref(spec.parent_kind, raw.parent, None, made)
              if raw.parent and spec.parent_kind else None)
    fields = {name: data[name] for name in spec.fields if name in data}
    relations: dict[str, Any] = {}
    for name in ("groups", "managers", "leaders"):
        if name in data and name in spec.relations:
            relations[name] = _refs("group" if name == "groups" else "person", data[name],
                                   alias, made)
    members = data.get("members")
    if isinstance(members, MDict):
        relations["members.people"] = _refs("person", members.get("people"), alias, made)
        relations["members.groups"] = _refs("group", members.get("groups"), alias, made)
    if isinstance(data.get("customFields"), MDict):
        relations["customFields"] = _custom_fields(data["customFields"])
    specific = data.get("specificTasks")
    if isinstance(specific, MDict):
        relations["specificTasks.enabled"] = specific.get("enabled", True) is not False
        relations["specificTasks.tasks"] = _refs("task", specific.get("tasks"), alias, made)
    return new_entity(
        kind=raw.kind,
        ref=_ref(raw.kind, raw.key, None, made),
        name=data["name"],
        parent=parent,
        active=data.get("active", True) is not False,
        fields=fields,
        relations=relations,
        invite=raw.kind == "person" and data.get("invite") is True,
        new_xid=raw.new_xid,
        source=Source(raw.file, raw.line),
    )


def _entities(
    raws: Iterable[Raw], alias: dict[tuple[str, str], int] | None = None
) -> tuple[Entity, ...]:
    rank = {kind: index for index, kind in enumerate(KIND_ORDER)}
    ordered = sorted(raws, key=lambda raw: rank[raw.kind])  # stable: file order within a kind
    alias = aliases(ordered) if alias is None else alias
    made: _Made = {}
    return tuple(_entity(raw, alias, made) for raw in ordered)


@dataclass(frozen=True)
class Part:
    """Some files of a manifest set, read without the checks across files (``read_part``)."""

    entities: tuple[Entity, ...]  # kinds in KIND_ORDER, file order within a kind
    declared_kinds: frozenset[str]
    aliases: dict[tuple[str, str], int]  # of these files' own entries (``_walk.aliases``)
    settled: bool  # False: they hold settings (or a platform), which concern every file


@dataclass(frozen=True)
class _Facts:
    """What ``read_part`` says of one file besides its entities."""

    declared_kinds: frozenset[str]
    aliases: dict[tuple[str, str], int]
    settled: bool
    variables: Mapping[str, str | None]  # what the load's ${NAME} read (None: unset)


# File name -> (its text, its facts), for each file of a successful ``load`` in this
# process: ``part_facts`` then does not parse a file that load parsed (--changed-since
# read HEAD's changed files twice, issue 24).
_FACTS: dict[str, tuple[str, _Facts]] = {}


def part_facts(
    files: Sequence[Path], boundary: Boundary, alias: Mapping[tuple[str, str], int],
    environ: Mapping[str, str] | None = None,
) -> tuple[frozenset[str], dict[tuple[str, str], int], bool]:
    """``read_part(files, ...)``'s declared kinds, aliases and settled, without its
    entities: from what ``load`` found when it read the same texts with the same
    variables, else read_part's."""
    env = os.environ if environ is None else environ
    kept: list[_Facts] = []
    for file in files:
        problems: list[Problem] = []
        text = _read(file, boundary, problems)
        known = _FACTS.get(str(file))
        if (text is None or known is None or known[0] != text
                or any(env.get(k) != v for k, v in known[1].variables.items())):
            part = read_part(files, boundary, alias, environ)
            return part.declared_kinds, part.aliases, part.settled
        kept.append(known[1])
    merged: dict[tuple[str, str], int] = {}
    for fact in kept:  # in file order, the first of an xid winning, as ``aliases`` does
        for key, value in fact.aliases.items():
            merged.setdefault(key, value)
    return (frozenset().union(*(f.declared_kinds for f in kept)), merged,
            all(f.settled for f in kept))


def read_part(
    files: Sequence[Path],
    boundary: Boundary,
    alias: Mapping[tuple[str, str], int],
    environ: Mapping[str, str] | None = None,
) -> Part:
    """The entities ``files`` declare, each file parsed and schema-checked as ``load`` does,
    without what needs the whole set (references, cycles, sibling names, settings).

    For ``--changed-since``: BASE is HEAD where their files are the same bytes, so
    only the files that differ are read again (issue 24). ``alias``: the whole
    set's (kind, xid) -> id; ``boundary``: the set's (``boundary_of``). Raises
    ``ManifestError`` as ``load`` does.
    """
    problems: list[Problem] = []
    resolver = Resolver(os.environ if environ is None else environ)
    raws: list[Raw] = []
    declared: set[str] = set()
    settled = True
    for file in files:
        name = str(file)
        text = _read(file, boundary, problems)
        data = parse(text, name, problems) if text is not None else None
        if data is None:
            continue
        if not isinstance(data, MDict):
            problems.append(Problem(name, getattr(data, "line", 1), "",
                                    f"a manifest file is a mapping, not {_schema.describe(data)}"))
            continue
        if "settings" in data or _written.declared_in(name, data) is not None:
            settled = False
        if text is not None and "$" in text:
            resolver.resolve(data, name)
            problems.extend(resolver.problems)
            resolver.problems.clear()
        problems.extend(_schema.check(data, name))
        raws.extend(walk(data, name))
        declared |= declared_kinds(data)
    if problems:
        raise ManifestError(resolver.explain(problems))
    whole = {**alias, **aliases(raws)}
    for raw in raws:
        if raw.parent is not None and raw.kind in _PARENT_KIND:
            raw.parent = resolve(_PARENT_KIND[raw.kind], raw.parent, whole)
    return Part(_entities(raws, whole), frozenset(declared), aliases(raws), settled)
