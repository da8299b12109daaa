"""``beeplan import`` on the current platform: a ``LiveAccount`` as manifest files.

``manifest_files`` is a pure function from the account (read in one request by
``reader.read_account``) to file texts in this platform's vocabulary, laid out as
examples/current is: settings.yaml (``platform: current``), projects.yaml (each
project category with its project tree nested), tags.yaml, people.yaml (roles and
people), tasks.yaml (task categories with their statuses, then the tasks),
absences.yaml and custom-fields.yaml. A kind the account holds none of gets no file.

The rules, so that the first plan of the result shows no changes:

- An entity whose External ID field holds a valid xid is written with ``xid:``;
  any other with ``id: "<live id>"``, which the first plan adopts in place (a
  comment says why). An xid the account holds twice in a kind, or one that is not
  a valid xid (a newline, only spaces, too long), is not used: the entities are
  adopted by id, and a note names them.
- Categories, roles and custom field definitions hold no xid: they are written by
  name (their identity), so the set also applies to another account. Names held
  twice in such a kind are written with ``id:`` as well, to say which is which.
- Archived entities are written, with ``archived: true``.
- Custom values keep their type: numbers and booleans as YAML numbers and
  booleans, dates as ``YYYY-MM-DD`` (the API keeps a UTC timestamp), date-times
  as ISO 8601 UTC text. The xid field is beeplan's: neither declared nor valued.
- Everything is sorted (siblings by name, then id): the same account gives the
  same bytes. Text YAML would read as something else is quoted (beeplan.importer).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ...errors import BeeplanError, Problem
from ...importer import IdRef, Quoted, render_file
from ..base import ImportedAccount
from .kinds import XID_FIELD_DEFAULT
from .reader import Category, FieldDef, LiveAccount, Node

ADOPTED_NOTE = "no External ID yet: adopted by its live id ('xid: X' beside it gives it one)"
# Each tree level costs the YAML two levels (a list and a mapping) and the loader
# refuses more than 64: deeper project or tag trees cannot be written nested, and
# the vocabulary has no 'parent:' for them, so import refuses them by name.
TREE_NEST_LIMIT = 28
_XID = re.compile(r"^(?=.*\S)[^\x00-\x1f\x7f]+$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class _Names:
    """How entities are written and referred to: their xid, or their live id."""

    xids: Mapping[str, str]  # live id -> the xid it is written with
    names: Mapping[str, str]  # live id -> name (the comment beside an {id: ...} reference)

    def ref(self, live_id: str) -> Any:
        xid = self.xids.get(live_id)
        return xid if xid is not None else IdRef(live_id, self.names.get(live_id))

    def refs(self, ids: Iterable[str]) -> list[Any]:
        values = [self.ref(i) for i in ids]
        # xids first, sorted; then {id: ...} references by id
        return sorted(values, key=lambda v: (isinstance(v, IdRef), str(v.id)
                                             if isinstance(v, IdRef) else v))

    def identity(self, node: Node) -> dict[str, Any]:
        xid = self.xids.get(node.id)
        if xid is not None:
            return {"xid": xid}
        return {"#adopted": ADOPTED_NOTE, "id": Quoted(node.id)}


def valid_xid(text: str) -> bool:
    """What the manifest schema takes as an xid: 1 to 255 characters, not only spaces,
    no control characters."""
    return 0 < len(text) <= 255 and _XID.match(text) is not None


def _xids(live: LiveAccount) -> tuple[dict[str, str], list[str]]:
    """live id -> xid for the entities written by xid; notes about xids not used."""
    notes: list[str] = []
    duplicates = live.duplicate_xids()
    out: dict[str, str] = {}
    for node in live.nodes:
        if node.xid is None:
            continue
        if (node.kind, node.xid) in duplicates:
            continue
        if not valid_xid(node.xid):
            notes.append(f"{node.kind} {node.name!r} (id {node.id}): its External ID "
                         f"{node.xid!r} is not a valid xid (1 to 255 characters, not only "
                         "spaces, no control characters), so it is adopted by id; write a "
                         "valid 'xid:' beside the id to replace it")
            continue
        out[node.id] = node.xid
    for (kind, xid), ids in sorted(duplicates.items()):
        notes.append(f"the External ID {xid!r} is held by {len(ids)} {kind} entities "
                     f"(ids {', '.join(ids)}), so they are adopted by id: give each its own "
                     "xid (write 'xid: X' beside its id)")
    return out, notes


def custom_value(field: FieldDef, raw: Any) -> Any:
    """A live custom value as the manifest writes it (and the plan compares it).

    Dates and date-times are UTC timestamps in milliseconds in the API; the manifest
    says YYYY-MM-DD for a date and ISO 8601 (UTC) for a date-time. A whole number
    is written without '.0'.
    """
    if field.type in ("date", "datetime") and isinstance(raw, (int, float)) \
            and not isinstance(raw, bool) and math.isfinite(raw):
        when = datetime.fromtimestamp(raw / 1000, tz=timezone.utc)
        if field.type == "date":
            return when.strftime("%Y-%m-%d")
        text = when.strftime("%Y-%m-%dT%H:%M:%S")
        millis = int(raw) % 1000
        return f"{text}.{millis:03d}Z" if millis else f"{text}Z"
    if isinstance(raw, float) and raw.is_integer() and abs(raw) < 2**53:
        return int(raw)
    return raw


def _date(iso: Any) -> str | None:
    """The YYYY-MM-DD of an API time's ISO text (UTC)."""
    if isinstance(iso, str) and _DATE.match(iso):
        return iso[:10]
    return None


def _sorted(nodes: Iterable[Node]) -> list[Node]:
    return sorted(nodes, key=lambda n: (n.name.casefold(), n.name, n.id))


class _Writer:
    def __init__(self, live: LiveAccount, xid_field: str):
        self.live = live
        xids, self.notes = _xids(live)
        self.names = _Names(xids, {n.id: n.name for n in live.nodes})
        # The xid field is beeplan's: neither a definition nor a value in the manifests.
        self.fields = {f.id: f for f in live.custom_fields
                       if f.id != live.xid_field and f.name != xid_field}
        self.children: dict[str, list[Node]] = {}
        for node in live.nodes:
            if node.parent is not None:
                self.children.setdefault(node.parent, []).append(node)
        self.counts: dict[str, int] = {}
        self.adopted = 0

    def count(self, key: str, n: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + n

    def common(self, node: Node) -> dict[str, Any]:
        out = self.names.identity(node)
        if "id" in out:
            self.adopted += 1
        out["name"] = node.name
        if node.archived:
            out["archived"] = True
        return out

    def customs(self, node: Node, out: dict[str, Any]) -> None:
        values = {self.fields[fid].name: custom_value(self.fields[fid], raw)
                  for fid, raw in node.custom if fid in self.fields and raw is not None}
        if values:
            out["customFields"] = dict(sorted(values.items()))

    def links(self, node: Node, out: dict[str, Any], *keys: str) -> None:
        for key in keys:
            ids = node.related(key)
            if not ids:
                continue
            if key.startswith("assigned."):
                out.setdefault("assigned", {})[key.split(".", 1)[1]] = self.names.refs(ids)
            else:
                out[key] = self.names.refs(ids)

    def tree(self, node: Node, child_key: str, relations: tuple[str, ...],
             depth: int) -> dict[str, Any]:
        if depth >= TREE_NEST_LIMIT:
            raise BeeplanError(
                f"refusing to import: the {node.kind} {node.name!r} (id {node.id}) is "
                f"{depth + 1} levels deep, and a manifest nests at most {TREE_NEST_LIMIT} "
                f"levels of a {node.kind} tree. Nothing was written.")
        out = self.common(node)
        self.count(child_key)
        self.links(node, out, *relations)
        self.customs(node, out)
        kids = [k for k in self.children.get(node.id, []) if k.kind == node.kind]
        if kids:
            out[child_key] = [self.tree(k, child_key, relations, depth + 1)
                              for k in _sorted(kids)]
        return out

    def category_names(self, categories: Iterable[Category]) -> dict[str, dict[str, Any]]:
        """Each category's own keys: its name, and its id when the name is not unique."""
        seen: dict[str, int] = {}
        for c in categories:
            seen[c.name] = seen.get(c.name, 0) + 1
        return {c.id: ({"id": Quoted(c.id), "name": c.name} if seen[c.name] > 1
                       else {"name": c.name})
                for c in categories}

    def categories(self, categories: tuple[Category, ...], kind: str, key: str,
                   relations: tuple[str, ...]) -> list[dict[str, Any]]:
        heads = self.category_names(categories)
        roots: dict[str, list[Node]] = {}
        for node in self.live.of_kind(kind):
            if node.parent is None and node.category is not None:
                roots.setdefault(node.category, []).append(node)
        out = []
        for cat in sorted(categories, key=lambda c: (c.name.casefold(), c.name, c.id)):
            entry = dict(heads[cat.id])
            if cat.level_names:
                entry["levelNames"] = list(cat.level_names)
            nodes = _sorted(roots.get(cat.id, []))
            if nodes:
                entry[key] = [self.tree(n, key, relations, 0) for n in nodes]
            out.append(entry)
        return out

    def unplaced(self, kind: str, written: int) -> None:
        """Tree entities whose category or parent the account did not show: said, not lost."""
        missing = len(self.live.of_kind(kind)) - written
        if missing:
            self.notes.append(f"{missing} {kind} entit{'y' if missing == 1 else 'ies'} sit "
                              "under a category or parent the account did not show, so they "
                              "were not written (the plan leaves them alone)")

    def roles(self) -> list[dict[str, Any]]:
        roles = self.live.of_kind("role")
        twice = {n.name for n in roles if sum(1 for r in roles if r.name == n.name) > 1}
        out = []
        for role in _sorted(roles):
            entry: dict[str, Any] = {"id": Quoted(role.id)} if role.name in twice else {}
            entry["name"] = role.name
            if role.archived:
                entry["archived"] = True
            out.append(entry)
        self.count("roles", len(out))
        return out

    def people(self) -> list[dict[str, Any]]:
        out = []
        for person in _sorted(self.live.of_kind("person")):
            entry = self.common(person)
            for key in ("email", "role", "lang"):
                value = person.field(key)
                if value:
                    entry[key] = value
            start = _date(person.field("startDate"))
            if start:
                entry["startDate"] = start
            self.links(person, entry, "tags", "managers")
            self.customs(person, entry)
            out.append(entry)
        self.count("people", len(out))
        return out

    def task_categories(self) -> list[dict[str, Any]]:
        heads = self.category_names(self.live.task_categories)
        out = []
        for cat in sorted(self.live.task_categories,
                          key=lambda c: (c.name.casefold(), c.name, c.id)):
            entry = dict(heads[cat.id])
            if cat.statuses:
                entry["statuses"] = [name for _id, name in cat.statuses]
            out.append(entry)
        return out

    def tasks(self) -> list[dict[str, Any]]:
        tasks = self.live.of_kind("task")
        categories = {c.id: c for c in self.live.task_categories}
        heads = self.category_names(self.live.task_categories)
        statuses = {sid: name for c in self.live.task_categories for sid, name in c.statuses}
        out: list[dict[str, Any]] = []

        def write(task: Node) -> None:
            entry = self.common(task)
            if task.parent is None:
                cat = categories.get(task.category or "")
                if cat is not None:
                    # A category whose name is not unique is written with its id: the
                    # task names it by name all the same; the plan says which is meant.
                    entry["category"] = heads[cat.id]["name"]
            else:
                entry["parent"] = self.names.ref(task.parent)
            status = statuses.get(task.field("status") or "")
            if status is not None:
                entry["status"] = status
            self.links(task, entry, "projects", "managers", "tags", "assigned.people",
                       "assigned.tags")
            self.customs(task, entry)
            out.append(entry)
            for child in _sorted(k for k in self.children.get(task.id, []) if k.kind == "task"):
                write(child)

        # Parents before their subtasks, each subtree in name order. A root task whose
        # category was not shown is not guessed: unplaced() says so.
        for task in _sorted(t for t in tasks if t.parent is None):
            if task.category in categories:
                write(task)
        self.count("tasks", len(out))
        self.unplaced("task", len(out))
        return out

    def absence_types(self) -> list[dict[str, Any]]:
        out = []
        for absence in _sorted(self.live.of_kind("absenceType")):
            entry = self.common(absence)
            self.customs(absence, entry)
            out.append(entry)
        self.count("absenceTypes", len(out))
        return out

    def custom_fields(self) -> list[dict[str, Any]]:
        # The API has no visibility flag for tags (a field is attached to tags one by
        # one), and a value may sit on a kind the field's visibility no longer shows:
        # a field that holds values on a kind says so in appliesTo, or the set would
        # refuse its own values.
        holds = {key: {fid for n in self.live.of_kind(kind) for fid, _ in n.custom}
                 for kind, key in (("person", "people"), ("project", "projects"),
                                   ("tag", "tags"), ("task", "tasks"),
                                   ("absenceType", "absenceTypes"))}
        fields = list(self.fields.values())
        twice = {f.name for f in fields if sum(1 for g in fields if g.name == f.name) > 1}
        out = []
        for f in sorted(fields, key=lambda f: (f.name.casefold(), f.name, f.id)):
            entry: dict[str, Any] = {"id": Quoted(f.id)} if f.name in twice else {}
            entry.update(name=f.name, type=f.type)
            if f.options and f.type == "text":
                entry["options"] = list(f.options)
            applies = list(f.applies_to) + [key for key, ids in holds.items() if f.id in ids]
            order = ("people", "projects", "tags", "tasks", "absenceTypes")
            if applies:
                entry["appliesTo"] = sorted(set(applies), key=order.index)
            if f.archived:
                entry["archived"] = True
            out.append(entry)
        self.count("customFields", len(out))
        return out

    def files(self) -> dict[str, dict[str, Any]]:
        docs: dict[str, dict[str, Any]] = {}
        projects = self.categories(self.live.project_categories, "project", "projects",
                                   ("managers", "tags", "assigned.people", "assigned.tags"))
        self.unplaced("project", self.counts.get("projects", 0))
        if projects:
            self.count("projectCategories", len(projects))
            docs["projects.yaml"] = {"projectCategories": projects}
        tags = self.categories(self.live.tag_categories, "tag", "tags", ("managers",))
        self.unplaced("tag", self.counts.get("tags", 0))
        if tags:
            self.count("tagCategories", len(tags))
            docs["tags.yaml"] = {"tagCategories": tags}
        people: dict[str, Any] = {}
        if roles := self.roles():
            people["roles"] = roles
        if persons := self.people():
            people["people"] = persons
        if people:
            docs["people.yaml"] = people
        work: dict[str, Any] = {}
        if categories := self.task_categories():
            self.count("taskCategories", len(categories))
            work["taskCategories"] = categories
        if tasks := self.tasks():
            work["tasks"] = tasks
        if work:
            docs["tasks.yaml"] = work
        if absences := self.absence_types():
            docs["absences.yaml"] = {"absenceTypes": absences}
        if fields := self.custom_fields():
            docs["custom-fields.yaml"] = {"customFields": fields}
        return docs


# The summary's words, in the order of the files.
_SUMMARY = (("projectCategories", "project category", "project categories"),
            ("projects", "project", "projects"),
            ("tagCategories", "tag category", "tag categories"), ("tags", "tag", "tags"),
            ("roles", "role", "roles"), ("people", "person", "people"),
            ("taskCategories", "task category", "task categories"),
            ("tasks", "task", "tasks"), ("absenceTypes", "absence type", "absence types"),
            ("customFields", "custom field", "custom fields"))


def import_account(live: LiveAccount, *, xid_field: str = XID_FIELD_DEFAULT) -> ImportedAccount:
    """The manifest set describing ``live``, what it holds, and what the user should know."""
    writer = _Writer(live, xid_field)
    docs = writer.files()
    settings: dict[str, Any] = {
        "#what": "this set is for Beebole's current platform (GraphQL API)",
        "platform": "current",
        "xidField": xid_field,
    }
    docs["settings.yaml"] = {"settings": settings}
    files = {name: render_file(doc) for name, doc in sorted(docs.items())}
    _refuse_invalid(files)
    counts = writer.counts
    summary = ", ".join(f"{n} {one if n == 1 else many}" for key, one, many in _SUMMARY
                        if (n := counts.get(key, 0)))
    notes = list(writer.notes) + _shared_names(live, writer.fields.values())
    if writer.adopted:
        one = writer.adopted == 1
        notes.insert(0, f"{writer.adopted} entit{'y has' if one else 'ies have'} no "
                        f"{xid_field} (the custom field that holds beeplan's xid): written "
                        f"with 'id:', so the first plan adopts {'it' if one else 'them'} in "
                        "place; to give one an xid, write 'xid: X' beside its id (the next "
                        "apply stores it)")
    return ImportedAccount(files, summary, tuple(notes))


def _shared_names(live: LiveAccount, fields: Iterable[FieldDef]) -> list[str]:
    """Notes for kinds known by name whose names repeat: written with 'id:' as well, but
    what refers to them by name (a person's role, a task's category, a custom value)
    cannot say which one it means."""
    groups = {
        "project categories": [c.name for c in live.project_categories],
        "tag categories": [c.name for c in live.tag_categories],
        "task categories": [c.name for c in live.task_categories],
        "roles": [n.name for n in live.of_kind("role")],
        "custom fields": [f.name for f in fields],
    }
    notes = []
    for what, names in groups.items():
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            notes.append(f"{what} known by name share a name ({', '.join(map(repr, twice))}): "
                         "each is written with its 'id:', but what names one (a role, a task's "
                         "category, a custom value) cannot say which; rename one in Beebole "
                         "and import again")
    return notes


def _refuse_invalid(files: Mapping[str, str]) -> None:
    """Refuse a set that would not validate (a person the API shows without a role,
    say): writing it would only move the error to the next command."""
    from ...manifest._yaml import parse
    from .manifest import check

    problems: list[Problem] = []
    for name, text in files.items():
        data = parse(text, name, problems)
        if data is not None:
            problems.extend(check(data, name))
    if problems:
        shown = "\n".join(f"  {p}" for p in problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise BeeplanError(
            "refusing to import: the account holds what these manifests cannot say, so the "
            f"files would not validate. Nothing was written.\n{shown}{more}\nFix those "
            "entities in Beebole, then import again.")


def manifest_files(live: LiveAccount, *, xid_field: str = XID_FIELD_DEFAULT) -> dict[str, str]:
    """The manifest set describing ``live``: file name -> YAML text. Pure."""
    return dict(import_account(live, xid_field=xid_field).files)


def read_and_import(client: Any) -> ImportedAccount:
    """The registry's entry point: read the account in one request, then write it."""
    from .reader import read_account

    return import_account(read_account(client))
