"""Write a live account as a manifest set: the way into beeplan for an existing account.

``manifest_files`` is a pure function from a live ``State`` to file texts:
one file per company (its projects and subprojects nested), plus
groups.yaml, tasks.yaml, people.yaml and absences.yaml. The output is
deterministic (same account, same bytes), nested the way a person would
write it, with no empty keys, and comments where a value needs explaining.

Entities with an xid are keyed by it; those without get ``id:`` so the first
plan adopts them instead of creating duplicates (with ``assign_xids``, also
an ``xid:`` proposed from the name: the next apply sets it). References to
entities that are not written (inactive ones, without --include-inactive)
use ``{id: N}`` with the entity's name beside it as a comment: they stay
valid, and the entities stay unmanaged. Company files are named after the
company (its xid, else its name), never after a live id.

With ``KeptFiles`` (``import --force`` into a set the user reorganised), the
entities the kept files declare are not written again, and references name
them as those files do. An inactive
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
import shutil
import tempfile
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from dataclasses import field as dc_field
from pathlib import Path
from typing import Any

import yaml

from .errors import BeeplanError, ManifestError
from .manifest import load
from .manifest import manifest_files as set_files  # the loader's rule of what a set holds
from .manifest.declared import Declared, declared_entries
from .model import KINDS, Entity, Index, Ref, State

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
    # The way out is said where the user sees the id: an xid can be set later (issue #23).
    "created without an xid: adopted by its live id (to give it one: 'xid: X' beside the "
    "id, or import --assign-xids)"
)
ASSIGNED_NOTE = (
    "adopted by its live id; the next apply gives it the xid below, then the id: line may go"
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
# File names import never takes for a company: its own files, and names Windows reserves.
RESERVED_NAMES = frozenset(
    {"groups", "tasks", "people", "absences", "settings", "account", "con", "prn", "aux", "nul"}
    | {f"{dev}{n}" for dev in ("com", "lpt") for n in range(10)}
)


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
class IdRef:
    """A reference ``{id: N}``, written with the entity's name beside it as a comment.

    A text id (the current platform's) is written quoted: ``{id: "65f1..."}``.
    """

    id: int | str | None
    name: str | None = None

    def text(self) -> str:
        note = f"  # {comment_text(self.name)}" if self.name else ""
        shown = json.dumps(self.id) if isinstance(self.id, str) else self.id
        return f"{{id: {shown}}}{note}"


# Characters YAML does not allow in a comment (line breaks end it; others are not
# printable in a YAML stream), and bidirectional controls that make a line read
# otherwise than it is: written as \uXXXX so the file still loads and reads true.
_NOT_IN_COMMENT = re.compile(
    "[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufeff\ufffe\uffff"
    "\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)


@dataclass(frozen=True)
class Quoted:
    """A text written double-quoted whatever it holds (a live text id: ``id: "65f1..."``)."""

    text: str

    def scalar(self) -> str:
        return json.dumps(self.text, ensure_ascii=False)


def comment_text(text: str) -> str:
    return _NOT_IN_COMMENT.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _flow(items: list[Any]) -> str | None:
    # An id reference goes on its own line, so its name comment says which it is.
    if not all(isinstance(i, (str, int)) for i in items):
        return None
    text = "[" + ", ".join(value_scalar(i) for i in items) + "]"
    return text if len(text) <= FLOW_LIMIT else None


def _is_id_ref(value: Any) -> bool:
    return isinstance(value, IdRef)


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
                    lines.append(f"{pad}  - {item.text()}")
                else:
                    lines.append(f"{pad}  - {value_scalar(item)}")
        elif _is_id_ref(value):
            lines.append(f"{pad}{scalar(key)}: {value.text()}")
        elif isinstance(value, Quoted):
            lines.append(f"{pad}{scalar(key)}: {value.scalar()}")
        else:
            lines.append(f"{pad}{scalar(key)}: {value_scalar(value)}")
    return lines


# ---------------------------------------------------------------------------
# Live state -> manifest nodes


def _sort_key(entity: Entity) -> tuple[bool, str, int]:
    return (entity.ref.xid is None, entity.ref.xid or "", entity.ref.id or 0)


class _Writer:
    def __init__(
        self,
        live: State,
        relations: frozenset[str],
        include_inactive: bool,
        assign_xids: bool = False,
        elsewhere: Mapping[tuple[str, int], Any] | None = None,
        taken_names: frozenset[str] = frozenset(),
    ):
        self.live = live
        self.relations = relations
        self.index = Index(live)
        # Entities the kept files declare: not written, referenced as those files name them.
        self.elsewhere: Mapping[tuple[str, int], Any] = elsewhere or {}
        self.taken_names = taken_names
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
        written = [e for e in kept if self._key(e.ref) in self.kept_keys]
        self.proposed = propose_xids(live, written, self.elsewhere) if assign_xids else {}

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
                if self._key(entity.ref) in self.kept_keys and not self.declared_elsewhere(entity):
                    out[entity.kind] = out.get(entity.kind, 0) + 1
        return out

    def declared_elsewhere(self, entity: Entity) -> bool:
        return (entity.kind, entity.ref.id or 0) in self.elsewhere

    def xid_of(self, entity: Entity) -> str | None:
        """The xid an entity is written with: its own, or the one proposed for it."""
        return entity.ref.xid or self.proposed.get((entity.kind, entity.ref.id or 0))

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
        """A reference as the manifests write it: the xid, or {id: N} with the name beside it."""
        full = self.index.best(ref)
        hit = self.index.find(ref)
        if full.id is not None and (full.kind, full.id) in self.elsewhere:
            form = self.elsewhere[(full.kind, full.id)]  # as the kept file declares it
            return form if isinstance(form, str) else IdRef(full.id, hit.name if hit else None)
        if hit is not None and self._key(full) in self.kept_keys:
            xid = self.xid_of(hit)
            if xid is not None:
                return xid
        return IdRef(full.id, hit.name if hit else None)

    def refs(self, refs: Iterable[Ref]) -> list[Any]:
        values = [self.ref(r) for r in refs]
        return sorted(
            values,
            key=lambda v: (
                isinstance(v, IdRef),
                json.dumps({"id": v.id} if isinstance(v, IdRef) else v, sort_keys=True),
            ),
        )

    def identity(self, entity: Entity) -> dict[str, Any]:
        if entity.ref.xid is not None:
            return {"xid": entity.ref.xid}
        proposed = self.proposed.get((entity.kind, entity.ref.id or 0))
        if proposed is not None:
            return {"#adopted": ASSIGNED_NOTE, "id": entity.ref.id, "xid": proposed}
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
            if self.declared_elsewhere(project):
                continue
            pnode = self.entity(project)
            subs = [
                self.entity(s)
                for s in self.children.get(self._key(project.ref), [])
                if not self.declared_elsewhere(s)
            ]
            if subs:
                pnode["subprojects"] = subs
            projects.append(pnode)
        if projects:
            node["projects"] = projects
        return {"companies": [node]}

    def orphans(self) -> list[tuple[Entity, Entity]]:
        """Projects and subprojects to write whose parent only a kept file declares.

        They nest under their parent, so import cannot write them anywhere else:
        (the entity, its parent), for a refusal that names both.
        """
        out = []
        for kind in ("project", "subproject"):
            for entity in self.by_kind.get(kind, []):
                if self._key(entity.ref) not in self.kept_keys or self.declared_elsewhere(entity):
                    continue
                parent = self.index.find(entity.parent)
                if parent is not None and self.declared_elsewhere(parent):
                    out.append((entity, parent))
        return out

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
            # A child group a kept file declares is not written; its own children are.
            children: list[Entity] = []
            todo = list(kids.get(group.ref.id, []))
            while todo:
                child = todo.pop(0)
                if self.declared_elsewhere(child):
                    flat.extend(c for c in kids.get(child.ref.id, []))
                else:
                    children.append(child)
            if depth + 1 >= GROUP_NEST_LIMIT:
                flat.extend(children)
            elif children:
                out["groups"] = [node(child, depth + 1) for child in children]
            return out

        def expand(groups: list[Entity]) -> list[Entity]:
            """Groups to write as roots: a kept file's group gives way to its children."""
            out, todo = [], list(groups)
            while todo:
                group = todo.pop(0)
                if self.declared_elsewhere(group):
                    todo.extend(kids.get(group.ref.id, []))
                else:
                    out.append(group)
            return out

        root_ids = {g.ref.id for g in roots}
        tree = [
            node(g, 0, None if g.ref.id in root_ids else "parent") for g in expand(roots)
        ]
        while flat:
            batch, flat = expand(flat), []
            tree += [node(g, 0, "parent") for g in batch]
        return tree

    def files(self) -> dict[str, str]:
        out: dict[str, dict[str, Any]] = {}
        # Names of files import did not write are never taken: no overwrite, no refusal.
        taken = {name.casefold() for name in self.taken_names}

        def free(base: str, fixed: bool = False) -> str:
            name, n = base, 2
            while f"{name}.yaml" in taken or (not fixed and name in RESERVED_NAMES):
                name, n = f"{base}-{n}", n + 1
            taken.add(f"{name}.yaml")
            return f"{name}.yaml"

        for company in self.by_kind.get("company", []):
            if self.declared_elsewhere(company):
                continue
            # Named after the entity: its xid (own or proposed), else its name.
            xid = self.xid_of(company)
            out[free(_slug(xid or company.name, "company"))] = self.company_file(company)
        tree = self.group_tree()
        if tree:
            out[free("groups", fixed=True)] = {"groups": tree}
        for kind, plural in (("task", "tasks"), ("person", "people"), ("absence", "absences")):
            items = [
                self.entity(e, "company")
                for e in self.by_kind.get(kind, [])
                if not self.declared_elsewhere(e)
            ]
            if items:
                out[free(plural, fixed=True)] = {plural: items}
        if not out:
            # An empty account (or one with only inactive entities) is still a set that
            # loads: the first plan of the result must show no changes, not "no files".
            return {"account.yaml": HEADER + "# The account held nothing to write.\n"}
        return {name: render_file(doc) for name, doc in sorted(out.items())}


def _slug(text: str, empty: str = "company", limit: int = 60) -> str:
    """Lower-case ASCII letters, digits and dashes: safe as a file name and as an xid."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = _SLUG.sub("-", ascii_text.lower()).strip("-")
    return slug[:limit].rstrip("-") or empty


def propose_xids(
    live: State, written: Iterable[Entity], elsewhere: Mapping[tuple[str, int], Any] | None = None
) -> dict[tuple[str, int], str]:
    """An xid for each written entity that has none, derived from its name: (kind, id) -> xid.

    Unique within its kind across the account (live xids included, whatever their
    case), and stable: the same account gives the same xids, and a clash is settled
    with the entity's live id (``website-42``), not with an order-dependent counter.
    Projects and subprojects are prefixed with their parent's xid (``northwind-website``):
    their names repeat from one company to the next.
    """
    index = Index(live)
    elsewhere = elsewhere or {}
    taken: dict[str, set[str]] = {}
    for entity in live.entities:
        if entity.ref.xid is not None:
            taken.setdefault(entity.kind, set()).add(entity.ref.xid.casefold())
    for (kind, _), form in elsewhere.items():
        if isinstance(form, str):
            taken.setdefault(kind, set()).add(form.casefold())
    wanted = sorted(
        (e for e in written if e.ref.xid is None and e.ref.id is not None
         and (e.kind, e.ref.id) not in elsewhere),
        key=lambda e: (list(KINDS).index(e.kind), e.ref.id or 0),
    )
    # Parents first: a project's xid starts with its company's.
    wanted.sort(key=lambda e: ("company", "project", "subproject").index(e.kind)
                if e.kind in ("company", "project", "subproject") else -1)
    out: dict[tuple[str, int], str] = {}
    for entity in wanted:
        base = _slug(entity.name, empty=entity.kind)
        parent = index.find(entity.parent) if entity.kind in ("project", "subproject") else None
        if parent is not None:
            prefix = parent.ref.xid or out.get((parent.kind, parent.ref.id or 0))
            if prefix:
                base = f"{_slug(prefix, limit=120)}-{base}"
        used = taken.setdefault(entity.kind, set())
        xid, n = base, 2
        if xid in used:
            xid = f"{base}-{entity.ref.id}"
        while xid in used:
            xid, n = f"{base}-{entity.ref.id}-{n}", n + 1
        used.add(xid)
        out[(entity.kind, entity.ref.id or 0)] = xid
    return out


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


def write_set(
    out_dir: Path, files: Mapping[str, str], keep: Iterable[str] = ()
) -> WriteOutcome:
    """Write ``files`` into ``out_dir``, replacing and removing only what import wrote.

    Nothing is written when a file to write exists and import did not write
    it: a hand-written file is never overwritten or deleted. ``keep``: files
    import wrote that are not removed (see ``KeptFiles.copies``).
    """
    keep = frozenset(keep)
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
    removed = tuple(
        p.name for p in yaml_files if p.name in ours and p.name not in files and p.name not in keep
    )
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
    # Entities left to the files import keeps (they declare them), per kind.
    left: dict[str, int] = dc_field(default_factory=dict)
    proposed: int = 0  # xids proposed (--assign-xids)


def import_set(
    live: State,
    relations: Iterable[str],
    include_inactive: bool = False,
    assign_xids: bool = False,
    kept: KeptFiles | None = None,
) -> ImportedSet:
    """The manifest set describing ``live``, and what it holds.

    ``kept``: the files of the output directory import does not write; the
    entities they declare are not written again (see ``KeptFiles``).
    """
    kept = kept or KeptFiles()
    elsewhere = kept.forms(live)
    writer = _Writer(
        live, frozenset(relations), include_inactive, assign_xids, elsewhere, kept.top_names
    )
    orphans = writer.orphans()
    if orphans:
        where = {(d.kind, key): d for d, key in kept.matched(live)}
        lines = [
            f"  - {e.kind} {e.name!r} (id {e.ref.id}) of {p.kind} {p.name!r}, which "
            f"{where[(p.kind, p.ref.id or 0)].where} declares"
            for e, p in orphans[:20]
        ]
        more = f"\n  ... and {len(orphans) - 20} more" if len(orphans) > 20 else ""
        raise BeeplanError(
            f"refusing to import: {len(orphans)} live entit{'y' if len(orphans) == 1 else 'ies'} "
            "nest under entities that files import does not write declare, so import cannot "
            "write them anywhere:\n" + "\n".join(lines) + more + "\nAdd them to those files "
            "(an import into an empty directory shows how they are written), or move those "
            "files out of the directory. Nothing was written."
        )
    counts = writer.counts()
    left: dict[str, int] = {}
    for kind, _ in elsewhere:
        left[kind] = left.get(kind, 0) + 1
    return ImportedSet(writer.files(), counts, left, len(writer.proposed))


def manifest_files(
    live: State, relations: Iterable[str], include_inactive: bool = False
) -> dict[str, str]:
    """The manifest set describing ``live``: file name -> YAML text."""
    return import_set(live, relations, include_inactive).files


@dataclass(frozen=True)
class KeptFiles:
    """The files of an output directory that import keeps, and the entities they declare.

    Kept: every file of the set except the top-level ones an earlier import
    wrote (those import replaces or removes). A user who split people.yaml or
    moved companies into folders keeps those files; import then writes only
    what they do not declare, so the set never declares an entity twice.
    """

    paths: tuple[str, ...] = ()  # relative to the output directory
    top_names: frozenset[str] = frozenset()  # top-level file names import must not take
    entries: tuple[Declared, ...] = ()
    # The top-level files an earlier import wrote, with what each declares.
    ours: Mapping[str, tuple[Declared, ...]] = dc_field(default_factory=dict)

    def copies(self, live: State, files: Mapping[str, str]) -> tuple[str, ...]:
        """Files an earlier import wrote that this one would remove, though they still
        declare live entities: a user's split or renamed copy (header and all), kept."""
        found = []
        for name, entries in sorted(self.ours.items()):
            if name not in files and replace(self, entries=entries).matched(live):
                found.append(name)
        return tuple(found)

    def keeping(self, names: Iterable[str]) -> KeptFiles:
        """These files (of ``ours``) kept as well."""
        names = tuple(names)
        return replace(
            self,
            paths=self.paths + names,
            top_names=self.top_names | set(names),
            entries=self.entries + tuple(e for n in names for e in self.ours[n]),
            ours={n: e for n, e in self.ours.items() if n not in names},
        )

    def matched(self, live: State) -> list[tuple[Declared, int]]:
        """Each entry that names a live entity, with that entity's live id."""
        index = Index(live)
        out = []
        for entry in self.entries:
            kind, (field_, value) = entry.kind, entry.key
            ref = Ref(kind, xid=value) if field_ == "xid" else Ref(kind, id=value)
            hit = index.find(ref)
            if hit is None and entry.new_xid is not None:
                hit = index.find(Ref(kind, xid=entry.new_xid))
            if hit is not None and hit.ref.id is not None:
                out.append((entry, hit.ref.id))
        return out

    def forms(self, live: State) -> dict[tuple[str, int], Any]:
        """(kind, live id) -> how the kept files let others name it: an xid, or None for {id: N}."""
        out: dict[tuple[str, int], Any] = {}
        for entry, ident in self.matched(live):
            field_, value = entry.key
            out.setdefault(
                (entry.kind, ident), value if field_ == "xid" else entry.new_xid
            )
        return out


def kept_files(out_dir: Path) -> KeptFiles:
    """What ``out_dir`` holds that import keeps (see ``KeptFiles``); refuses unreadable YAML."""
    if not out_dir.is_dir():
        return KeptFiles()
    top = [p for p in out_dir.iterdir() if p.is_file()]
    ours = {p.name for p in top if p.suffix in (".yaml", ".yml") and written_by_import(p)}
    try:
        paths = [p for p in set_files(out_dir) if p.relative_to(out_dir).as_posix() not in ours]
    except ManifestError:  # no YAML file at all
        paths = []
    entries, problems = declared_entries(paths)
    if problems:
        raise ManifestError(problems)
    # Import's own files are replaced or removed: one that does not parse declares nothing.
    mine = {name: tuple(declared_entries([out_dir / name])[0]) for name in sorted(ours)}
    return KeptFiles(
        paths=tuple(p.relative_to(out_dir).as_posix() for p in paths),
        top_names=frozenset(p.name for p in top if p.name not in ours),
        entries=tuple(entries),
        ours=mine,
    )


def check_result(out_dir: Path, files: Mapping[str, str], kept: KeptFiles) -> None:
    """Refuse, before writing, a result that would not validate with the kept files.

    The kept files and the new ones are put together in a scratch directory
    and loaded as ``validate`` loads them; problems name the files of ``out_dir``.
    """
    if not kept.paths:
        return  # import's own files always load (the round-trip tests say so)
    with tempfile.TemporaryDirectory(prefix="beeplan-import-") as scratch:
        root = Path(scratch)
        for rel in kept.paths:
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(out_dir / rel, root / rel)
        for name, text in files.items():
            (root / name).write_text(text, encoding="utf-8")
        try:
            load(root)
        except ManifestError as exc:
            message = str(exc).replace(str(root), str(out_dir))
            # Say what to do: the usual cause is a kept file naming xids that an
            # --assign-xids import proposed and no apply has set yet.
            raise BeeplanError(
                "refusing to import: with the files import keeps, the set would not "
                f"validate. Nothing was written.\n{message}\nFix those lines of the kept "
                f"files (or move the files out of {out_dir}) and import again. An xid that "
                "'import --assign-xids' proposed exists only once applied: apply first, "
                "or import again with --assign-xids."
            ) from None
