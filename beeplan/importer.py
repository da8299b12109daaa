"""Write a live account as a manifest set: the way into beeplan for an existing account.

``manifest_files`` is a pure function from a live ``State`` to file texts:
one file per company (its projects and subprojects nested), plus
groups.yaml, tasks.yaml, people.yaml and absences.yaml. The output is
deterministic (same account, same bytes), nested the way a person would
write it, with no empty keys, and comments where a value needs explaining.

Entities with an xid are keyed by it; those without get ``id:`` so the first
plan adopts them instead of creating duplicates. References to entities
that are not written (inactive ones, without --include-inactive) use
``{id: N}``: they stay valid, and the entities stay unmanaged. An inactive
company or project that holds active projects or subprojects is written
anyway (``active: false``): nesting needs it, and dropping the children
would leave them out of the set.

Every set written must load again: a group tree deeper than
``GROUP_NEST_LIMIT`` levels continues as root entries with ``parent:``,
since the loader refuses YAML nested too deep.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import BeeplanError, ManifestError
from .manifest import manifest_files as set_files  # the loader's rule of what a set holds
from .model import Entity, Index, Ref, State

# The manifest's relation keys and the model's flattened relations behind each.
RELATION_KEYS: dict[str, tuple[str, ...]] = {
    "groups": ("groups",),
    "members": ("members.people", "members.groups"),
    "managers": ("managers",),
    "leaders": ("leaders",),
    "customFields": ("customFields",),
    "specificTasks": ("specificTasks.enabled", "specificTasks.tasks"),
}

ADOPTED_NOTE = (
    "created without an xid: adopted by its live id (the API reference sets xids at creation)"
)
FLOW_LIMIT = 90  # longer reference lists are written one item per line
# Each group level costs the YAML two levels (a list and a mapping); the loader
# refuses more than 64, so deeper trees continue flat, with 'parent:'.
GROUP_NEST_LIMIT = 20
INACTIVE_PARENT_NOTE = "inactive, written because it holds active {children}"

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_LINE_BREAKS = frozenset("\n\r\x85\u2028\u2029")
# Plain scalars YAML 1.2 reads as numbers where PyYAML (YAML 1.1) reads text ("1e3",
# "0o17"): quoted, so an editor's YAML 1.2 schema check agrees with beeplan.
_YAML12_NUMBER = re.compile(
    r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+"
    r"|[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)
_SLUG = re.compile(r"[^a-z0-9]+")


def parse_relations(option: str) -> frozenset[str]:
    """``all``, ``none`` or a comma list of manifest relation keys -> model relations."""
    text = option.strip()
    if text == "all":
        return frozenset(r for rels in RELATION_KEYS.values() for r in rels)
    if text == "none":
        return frozenset()
    chosen = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [c for c in chosen if c not in RELATION_KEYS]
    if unknown:
        raise ValueError(
            f"unknown relation key(s) {', '.join(unknown)}; choose from "
            f"{', '.join(RELATION_KEYS)}, or all, or none"
        )
    return frozenset(r for c in chosen for r in RELATION_KEYS[c])


# ---------------------------------------------------------------------------
# A small YAML writer: PyYAML cannot write comments, and we want stable bytes.


_INTERPOLATED = re.compile(r"\$(?=[{$])")


def value_scalar(value: Any) -> str:
    """A value as YAML text that the loader reads back as it is.

    The loader replaces ``${NAME}`` and reads ``$$`` as ``$``: a live name
    holding either is written with that ``$`` doubled ("Cost $${x}").
    """
    if isinstance(value, str) and "$" in value:
        value = _INTERPOLATED.sub("$$", value)
    return scalar(value)


def scalar(value: Any) -> str:
    if isinstance(value, str) and _DATE.match(value):
        return value  # a date reads back as the same date string
    if isinstance(value, str) and any(c in _LINE_BREAKS for c in value):
        # YAML folds these in plain and single-quoted text; a JSON string is a
        # valid YAML double-quoted scalar that keeps them as they are.
        return json.dumps(value)
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=1 << 20)
    if text.endswith("\n...\n"):
        text = text[: -len("\n...\n")]
    text = text.strip()
    if "\n" in text:  # PyYAML folded something; fall back to a fully escaped form
        return json.dumps(value)
    if isinstance(value, str) and text == value and _YAML12_NUMBER.match(value):
        return "'" + value + "'"
    return text


@dataclass(frozen=True)
class Comment:
    text: str


Node = Any  # dict[str, Node] | list[Node] | scalar | Comment-annotated values


def _flow(items: list[Any]) -> str | None:
    if not all(isinstance(i, (str, int)) or _is_id_ref(i) for i in items):
        return None
    parts = [f"{{id: {i['id']}}}" if _is_id_ref(i) else value_scalar(i) for i in items]
    text = "[" + ", ".join(parts) + "]"
    return text if len(text) <= FLOW_LIMIT else None


def _is_id_ref(value: Any) -> bool:
    return isinstance(value, dict) and list(value) == ["id"]


def emit(node: Mapping[str, Any], indent: int = 0) -> list[str]:
    """Block-style YAML lines for a mapping; ``#key`` entries become comments."""
    pad = " " * indent
    lines: list[str] = []
    for key, value in node.items():
        if key.startswith("#"):
            lines.append(f"{pad}# {value}")
            continue
        if isinstance(value, dict) and not _is_id_ref(value):
            lines.append(f"{pad}{scalar(key)}:")
            lines += emit(value, indent + 2)
        elif isinstance(value, list):
            flow = _flow(value)
            if flow is not None:
                lines.append(f"{pad}{scalar(key)}: {flow}")
                continue
            lines.append(f"{pad}{scalar(key)}:")
            for item in value:
                if isinstance(item, dict) and not _is_id_ref(item):
                    body = emit(item, indent + 4)
                    # "- " takes the place of the first line's indentation
                    first = next(
                        i for i, line in enumerate(body) if not line.lstrip().startswith("#")
                    )
                    for i, line in enumerate(body):
                        if i < first:
                            lines.append(f"{pad}  {line.lstrip()}")
                        elif i == first:
                            lines.append(f"{pad}  - {line.lstrip()}")
                        else:
                            lines.append(line)
                elif _is_id_ref(item):
                    lines.append(f"{pad}  - {{id: {item['id']}}}")
                else:
                    lines.append(f"{pad}  - {value_scalar(item)}")
        elif _is_id_ref(value):
            lines.append(f"{pad}{scalar(key)}: {{id: {value['id']}}}")
        else:
            lines.append(f"{pad}{scalar(key)}: {value_scalar(value)}")
    return lines


# ---------------------------------------------------------------------------
# Live state -> manifest nodes


def _sort_key(entity: Entity) -> tuple[bool, str, int]:
    return (entity.ref.xid is None, entity.ref.xid or "", entity.ref.id or 0)


class _Writer:
    def __init__(self, live: State, relations: frozenset[str], include_inactive: bool):
        self.live = live
        self.relations = relations
        self.index = Index(live)
        kept = [e for e in live.entities if include_inactive or e.active or e.kind == "group"]
        kept += self._inactive_parents(kept)
        self.by_kind: dict[str, list[Entity]] = {}
        for entity in sorted(kept, key=_sort_key):
            self.by_kind.setdefault(entity.kind, []).append(entity)
        # Children are only written under a parent that is written.
        self.children: dict[tuple[str, Any], list[Entity]] = {}
        for entity in self.by_kind.get("project", []) + self.by_kind.get("subproject", []):
            if entity.parent is not None:
                key = self._key(entity.parent)
                self.children.setdefault(key, []).append(entity)
        kept_ids = {(e.kind, e.ref.id) for e in kept}
        self.kept_keys = {self._key(e.ref) for e in kept if self._parent_kept(e, kept_ids)}

    def _inactive_parents(self, kept: list[Entity]) -> list[Entity]:
        """Inactive companies and projects that active nested entities need written."""
        have = {(e.kind, e.ref.id) for e in kept}
        extra: list[Entity] = []
        todo = [e for e in kept if e.kind in ("project", "subproject")]
        while todo:
            parent = self.index.find(todo.pop().parent)
            if parent is None or (parent.kind, parent.ref.id) in have:
                continue
            have.add((parent.kind, parent.ref.id))
            extra.append(parent)
            todo.append(parent)
        self.pulled_in = {(e.kind, e.ref.id) for e in extra}
        return extra

    def counts(self) -> dict[str, int]:
        """Entities written, per kind: what the summary may claim."""
        out: dict[str, int] = {}
        for entities in self.by_kind.values():
            for entity in entities:
                if self._key(entity.ref) in self.kept_keys:
                    out[entity.kind] = out.get(entity.kind, 0) + 1
        return out

    def _key(self, ref: Ref) -> tuple[str, Any]:
        hit = self.index.find(ref)
        return (ref.kind, hit.ref.id if hit is not None else (ref.xid, ref.id))

    def _parent_kept(self, entity: Entity, kept_ids: set[tuple[str, int | None]]) -> bool:
        """Projects and subprojects are nested: written only when their parents are."""
        if entity.kind not in ("project", "subproject") or entity.parent is None:
            return True
        parent = self.index.find(entity.parent)
        if parent is None or (parent.kind, parent.ref.id) not in kept_ids:
            return False
        return self._parent_kept(parent, kept_ids)

    def ref(self, ref: Ref) -> Any:
        """A reference as the manifests write it: the xid, or {id: N}."""
        full = self.index.best(ref)
        if full.xid is not None and self._key(full) in self.kept_keys:
            return full.xid
        return {"id": full.id}

    def refs(self, refs: Iterable[Ref]) -> list[Any]:
        values = [self.ref(r) for r in refs]
        return sorted(values, key=lambda v: (isinstance(v, dict), json.dumps(v, sort_keys=True)))

    def identity(self, entity: Entity) -> dict[str, Any]:
        if entity.ref.xid is not None:
            return {"xid": entity.ref.xid}
        return {"#adopted": ADOPTED_NOTE, "id": entity.ref.id}

    def common(self, entity: Entity, parent_key: str | None = None) -> dict[str, Any]:
        node = self.identity(entity)
        node["name"] = entity.name
        if parent_key and entity.parent is not None:
            node[parent_key] = self.ref(entity.parent)
        if not entity.active:
            if (entity.kind, entity.ref.id) in self.pulled_in:
                children = "subprojects" if entity.kind == "project" else "projects"
                node["#inactive"] = INACTIVE_PARENT_NOTE.format(children=children)
            node["active"] = False
        for field in entity.spec.fields:
            value = entity.fields.get(field)
            if value is None or value == "":
                continue
            node[field] = value
        return node

    def add_relations(self, node: dict[str, Any], entity: Entity) -> None:
        rel = entity.relations
        if "groups" in self.relations and rel.get("groups"):
            node["groups"] = self.refs(rel["groups"])
        people = rel.get("members.people") or frozenset()
        groups = rel.get("members.groups") or frozenset()
        if "members.people" in self.relations and (people or groups):
            members: dict[str, Any] = {}
            if people:
                members["people"] = self.refs(people)
            if groups:
                members["groups"] = self.refs(groups)
            node["members"] = members
        if "managers" in self.relations and rel.get("managers"):
            node["managers"] = self.refs(rel["managers"])
        if "leaders" in self.relations and rel.get("leaders"):
            node["leaders"] = self.refs(rel["leaders"])
        if "customFields" in self.relations and rel.get("customFields"):
            node["customFields"] = dict(sorted(rel["customFields"].items()))
        enabled = rel.get("specificTasks.enabled", True)
        tasks = rel.get("specificTasks.tasks") or frozenset()
        if "specificTasks.tasks" in self.relations and (not enabled or tasks):
            specific: dict[str, Any] = {"enabled": bool(enabled)}
            if tasks:
                specific["tasks"] = self.refs(tasks)
            node["specificTasks"] = specific

    def entity(self, entity: Entity, parent_key: str | None = None) -> dict[str, Any]:
        node = self.common(entity, parent_key)
        self.add_relations(node, entity)
        return node

    def company_file(self, company: Entity) -> dict[str, Any]:
        node = self.entity(company)
        projects = []
        for project in self.children.get(self._key(company.ref), []):
            pnode = self.entity(project)
            subs = [self.entity(s) for s in self.children.get(self._key(project.ref), [])]
            if subs:
                pnode["subprojects"] = subs
            projects.append(pnode)
        if projects:
            node["projects"] = projects
        return {"companies": [node]}

    def group_tree(self) -> list[dict[str, Any]]:
        groups = self.by_kind.get("group", [])
        kids: dict[Any, list[Entity]] = {}
        roots = []
        for group in groups:
            parent = self.index.find(group.parent) if group.parent is not None else None
            if parent is None:
                roots.append(group)
            else:
                kids.setdefault(parent.ref.id, []).append(group)

        flat: list[Entity] = []  # subtrees too deep to nest: root entries with 'parent:'

        def node(group: Entity, depth: int, parent_key: str | None = None) -> dict[str, Any]:
            out = self.common(group, parent_key)
            children = kids.get(group.ref.id, [])
            if depth + 1 >= GROUP_NEST_LIMIT:
                flat.extend(children)
            elif children:
                out["groups"] = [node(child, depth + 1) for child in children]
            return out

        tree = [node(g, 0) for g in roots]
        while flat:
            batch, flat = flat, []
            tree += [node(g, 0, "parent") for g in batch]
        return tree

    def files(self) -> dict[str, str]:
        out: dict[str, dict[str, Any]] = {}
        used: set[str] = set()
        for company in self.by_kind.get("company", []):
            base = _slug(company.ref.xid) if company.ref.xid else f"company-{company.ref.id}"
            name, n = base, 2
            while name in used or name in ("groups", "tasks", "people", "absences", "settings",
                                           "account"):
                name, n = f"{base}-{n}", n + 1
            used.add(name)
            out[f"{name}.yaml"] = self.company_file(company)
        tree = self.group_tree()
        if tree:
            out["groups.yaml"] = {"groups": tree}
        for kind, plural in (("task", "tasks"), ("person", "people"), ("absence", "absences")):
            items = [self.entity(e, "company") for e in self.by_kind.get(kind, [])]
            if items:
                out[f"{plural}.yaml"] = {plural: items}
        if not out:
            # An empty account (or one with only inactive entities) is still a set that
            # loads: the first plan of the result must show no changes, not "no files".
            return {"account.yaml": HEADER + "# The account held nothing to write.\n"}
        return {name: render_file(doc) for name, doc in sorted(out.items())}


def _slug(text: str) -> str:
    slug = _SLUG.sub("-", text.lower()).strip("-")
    return slug[:60] or "company"


HEADER_LINE = b"# Written by 'beeplan import'."
HEADER = (
    "# Written by 'beeplan import'. Edit freely: this file is now the source of truth.\n"
    "# Validate with 'beeplan validate DIR'; see what would change with 'beeplan plan DIR'.\n"
)


def written_by_import(path: Path) -> bool:
    """Whether ``path`` is a file this command wrote (it starts with our header)."""
    try:
        with path.open("rb") as handle:
            return handle.read(len(HEADER_LINE)) == HEADER_LINE
    except OSError:
        return False


@dataclass(frozen=True)
class WriteOutcome:
    removed: tuple[str, ...]  # files an earlier import wrote that this one no longer does
    kept: tuple[str, ...]  # other files of the set (relative paths): left alone, still loaded


def write_set(out_dir: Path, files: Mapping[str, str]) -> WriteOutcome:
    """Write ``files`` into ``out_dir``, replacing and removing only what import wrote.

    Nothing is written when a file to write exists and import did not write
    it: a hand-written file is never overwritten or deleted.
    """
    existing = [p for p in sorted(out_dir.iterdir()) if p.is_file()] if out_dir.is_dir() else []
    yaml_files = [p for p in existing if p.suffix in (".yaml", ".yml")]
    ours = {p.name for p in yaml_files if written_by_import(p)}
    clash = sorted(p.name for p in existing if p.name in files and p.name not in ours)
    if clash:
        raise BeeplanError(
            f"refusing to overwrite {', '.join(clash)} in {out_dir}: 'beeplan import' did not "
            "write them. Move them away, or choose another -o directory."
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    removed = tuple(p.name for p in yaml_files if p.name in ours and p.name not in files)
    for name in removed:
        (out_dir / name).unlink()
    for name, text in files.items():
        (out_dir / name).write_text(text, encoding="utf-8")
    return WriteOutcome(removed, _others_in_set(out_dir, files))


def _others_in_set(out_dir: Path, files: Mapping[str, str]) -> tuple[str, ...]:
    """The set's files this import did not just write, subdirectories included.

    They load with the rest (a hand-written settings.yaml, a copy of an old
    import in a subdirectory), so the first plan may differ: the user must
    hear of each one, not only those beside the written files.
    """
    try:
        paths = set_files(out_dir)
    except ManifestError:  # nothing there: an empty account writes no file
        return ()
    found = []
    for path in paths:
        name = path.relative_to(out_dir).as_posix()
        if name not in files:
            found.append(name)
    return tuple(found)


def render_file(doc: Mapping[str, Any]) -> str:
    return HEADER + "\n".join(emit(doc)) + "\n"


@dataclass(frozen=True)
class ImportedSet:
    files: dict[str, str]  # file name -> YAML text
    counts: dict[str, int]  # entities written, per kind


def import_set(
    live: State, relations: Iterable[str], include_inactive: bool = False
) -> ImportedSet:
    """The manifest set describing ``live``, and what it holds."""
    writer = _Writer(live, frozenset(relations), include_inactive)
    return ImportedSet(writer.files(), writer.counts())


def manifest_files(
    live: State, relations: Iterable[str], include_inactive: bool = False
) -> dict[str, str]:
    """The manifest set describing ``live``: file name -> YAML text."""
    return import_set(live, relations, include_inactive).files
