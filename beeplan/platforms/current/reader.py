"""The live account of the current platform, read in one document, as plain frozen data.

One query document with an alias per listing reads every managed kind (the
client sends it in one request, retried only on transport errors). Listings of
archivable kinds pass ``archived: true``, which the reference says includes the
archived entities (api-queries.mdx: "By default getPersons returns only active
people. Pass archived: true to include archived ones"): one alias gives both.
The xid of each entity is the text value of the External ID custom field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

from .client import Arg, CurrentClient, Document, Op, build_document
from .kinds import XID_FIELD_DEFAULT

_REF = "{ id }"
_LINKS = "{ value { id } }"

# (name, query field, selection): the listings of one read, in alias order.
_LISTINGS: tuple[tuple[str, str, str], ...] = (
    ("projectCategories", "getProjectCategories", "id name levelNames"),
    ("projects", "getProjects",
     f"id name archived level description category {_REF} parent {_REF} managedBy {_REF} "
     f"relations {{ taggedBy {_LINKS} projectsOfPerson {_LINKS} "
     f"subProjectsOfPerson {_LINKS} projectsOfTag {_LINKS} subProjectsOfTag {_LINKS} }}"),
    ("tagCategories", "getTagCategories", "id name levelNames"),
    ("tags", "getTags",
     f"id name archived level description category {_REF} parent {_REF} "
     f"relations {{ managedBy {_LINKS} }}"),
    ("roles", "getRoles", "id name archived"),
    ("people", "getPersons",
     f"id name archived email lang startDate {{ iso }} role {{ id name }} "
     f"relations {{ taggedBy {_LINKS} managedBy {_LINKS} }}"),
    ("taskCategories", "getTaskCategories", "id name statuses { id name }"),
    ("tasks", "getTasks",
     f"id name archived description category {_REF} status {_REF} parent {_REF} "
     f"relations {{ projects {_LINKS} persons {_LINKS} tags {_LINKS} managedBy {_LINKS} "
     f"taggedBy {_LINKS} }}"),
    ("absenceTypes", "getAbsenceTypes", "id name archived"),
    ("customFields", "getCustomFields",
     "id name archived fieldType textOptions { allowedValues useAllowedValues } "
     "visibility { persons absenceTypes projects { categoryId levels } "
     "tasks { categoryId levels } }"),
)
_ARCHIVABLE = {"projects", "tags", "roles", "people", "tasks", "absenceTypes"}
_VALUES = ("customFieldValues", "getCustomFieldValues",
           "id customFieldId entityType person { id } project { id } tag { id } task { id } "
           "absenceType { id } textValue numberValue dateValue dateTimeValue urlValue "
           "booleanValue")
_ENTITY_FIELD = {"Person": "person", "Project": "project", "Tag": "tag", "Task": "task",
                 "AbsenceType": "absenceType"}


@dataclass(frozen=True)
class Category:
    """A project, tag or task category; ``levelNames`` or task ``statuses`` (id, name)."""

    id: str
    name: str
    level_names: tuple[str, ...] = ()
    statuses: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Node:
    """One live entity: its identity, name, flags, parent, and relations by manifest key.

    ``relations`` maps a key ("managers", "tags", "projects", "assigned.people",
    "assigned.tags": the manifest's keys) to the sorted
    ids it links to; ``custom`` maps a custom field's id to the entity's value.
    """

    kind: str
    id: str
    name: str
    xid: str | None = None
    archived: bool = False
    category: str | None = None
    parent: str | None = None
    level: int = 0
    fields: tuple[tuple[str, Any], ...] = ()  # other plain fields: email, role, status...
    relations: tuple[tuple[str, tuple[str, ...]], ...] = ()
    custom: tuple[tuple[str, Any], ...] = ()

    def field(self, name: str) -> Any:
        return dict(self.fields).get(name)

    def related(self, key: str) -> tuple[str, ...]:
        return dict(self.relations).get(key, ())


@dataclass(frozen=True)
class FieldDef:
    """A custom field definition: where it applies and its options."""

    id: str
    name: str
    type: str
    archived: bool
    options: tuple[str, ...] = ()
    applies_to: tuple[str, ...] = ()  # "people", "absenceTypes", "projects", "tasks"


@dataclass(frozen=True)
class LiveAccount:
    """Everything the manifests of the current platform manage, as read."""

    project_categories: tuple[Category, ...]
    tag_categories: tuple[Category, ...]
    task_categories: tuple[Category, ...]
    custom_fields: tuple[FieldDef, ...]
    nodes: tuple[Node, ...]
    xid_field: str | None  # the id of the External ID field, None when the account has none
    # (entity id, custom field id) -> the id of that value: editing or clearing a value
    # names the value, not the entity (editCustomFieldValueText(id:), deleteCustomFieldValue)
    value_ids: Mapping[tuple[str, str], str] = dataclass_field(default_factory=dict)
    # The person the API key belongs to (``currentPerson``): never archived by a plan,
    # which would lock the key out of the account. None: not read.
    key_person: str | None = None

    def of_kind(self, kind: str) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if n.kind == kind)

    def by_xid(self, kind: str) -> dict[str, Node]:
        """Entities of ``kind`` by xid; see ``duplicate_xids`` for xids held more than once."""
        return {n.xid: n for n in self.nodes if n.kind == kind and n.xid is not None}

    def duplicate_xids(self) -> dict[tuple[str, str], tuple[str, ...]]:
        """(kind, xid) -> ids, for xids that several live entities of a kind hold.

        The field is plain text anyone can edit (or copy with an entity), so the
        account may hold an xid twice; a plan must refuse to guess which one is meant.
        """
        seen: dict[tuple[str, str], list[str]] = {}
        for n in self.nodes:
            if n.xid is not None:
                seen.setdefault((n.kind, n.xid), []).append(n.id)
        return {k: tuple(sorted(v)) for k, v in seen.items() if len(v) > 1}


def read_document() -> Document:
    """The one document that reads a whole account (also validated by the tests)."""
    return build_document("query", _ops(), name="ReadAccount")


def _ops() -> list[Op]:
    ops: list[Op] = []
    for name, field, select in _LISTINGS:
        # "Pass archived: true to include archived ones" (api-queries.mdx): one listing
        # gives the active and the archived entities of an archivable kind.
        args = (Arg("archived", "Boolean", True),) if name in _ARCHIVABLE else ()
        ops.append(Op(field, args, select))
    ops.append(Op(_VALUES[1], select=_VALUES[2]))
    ops.append(Op("currentPerson", select="id"))
    return ops


def read_account(client: CurrentClient, *, xid_field: str = XID_FIELD_DEFAULT) -> LiveAccount:
    """Read the account in one document (one request unless the transport fails)."""
    ops = _ops()
    # Named: "ReadAccount: no answer from the API" says what failed, where a document of
    # many fields would otherwise be called "Batch".
    answer = client.query(ops, name="ReadAccount")
    data = [answer.data[f"a{i}"] for i in range(len(ops))]
    return parse_account(data, xid_field=xid_field)


def _merged(chunks: Sequence[Sequence[Mapping[str, Any]]]) -> list[Mapping[str, Any]]:
    seen: dict[str, Mapping[str, Any]] = {}
    for chunk in chunks:
        for item in chunk:
            seen.setdefault(str(item["id"]), item)
    return list(seen.values())


def _id(value: Any) -> str | None:
    return None if not value else str(value["id"])


def _links(relations: Mapping[str, Any], *fields: str) -> tuple[str, ...]:
    return tuple(sorted({str(r["value"]["id"]) for f in fields for r in relations.get(f) or []}))


def parse_account(data: Sequence[Any], *, xid_field: str = XID_FIELD_DEFAULT) -> LiveAccount:
    """The answers of ``_ops()`` in order -> a ``LiveAccount``. Pure."""
    lists: dict[str, list[Mapping[str, Any]]] = {}
    i = 0
    for name, _field, _select in _LISTINGS:
        lists[name] = _merged([data[i]])
        i += 1
    values = data[i]
    me = data[i + 1] if len(data) > i + 1 else None  # currentPerson, when read

    fields = tuple(_field_def(f) for f in lists["customFields"])
    xid_id = next((f.id for f in fields if f.name == xid_field and f.type == "text"), None)
    custom: dict[str, dict[str, Any]] = {}
    xids: dict[str, str] = {}
    value_ids: dict[tuple[str, str], str] = {}
    for v in values:
        entity = v.get(_ENTITY_FIELD.get(v["entityType"], ""))
        if not entity:
            continue
        value = _value_of(v)
        value_ids[(str(entity["id"]), str(v["customFieldId"]))] = str(v["id"])
        if v["customFieldId"] == xid_id:
            if isinstance(value, str) and value:
                xids[str(entity["id"])] = value
        else:
            custom.setdefault(str(entity["id"]), {})[str(v["customFieldId"])] = value

    def node(kind: str, item: Mapping[str, Any], *, extra: Mapping[str, Any] = {},
             relations: Mapping[str, tuple[str, ...]] = {}) -> Node:
        nid = str(item["id"])
        return Node(kind, nid, item["name"], xids.get(nid), bool(item.get("archived")),
                    _id(item.get("category")), _id(item.get("parent")),
                    int(item.get("level") or 0), tuple(sorted(extra.items())),
                    tuple(sorted(relations.items())),
                    tuple(sorted(custom.get(nid, {}).items())))

    nodes: list[Node] = []
    for p in lists["projects"]:
        rel = p.get("relations") or {}
        nodes.append(node("project", p, extra={"description": p.get("description")},
                          relations={
            "managers": tuple(sorted({str(m["id"]) for m in p.get("managedBy") or []})),
            "tags": _links(rel, "taggedBy"),
            "assigned.people": _links(rel, "projectsOfPerson", "subProjectsOfPerson"),
            "assigned.tags": _links(rel, "projectsOfTag", "subProjectsOfTag")}))
    for t in lists["tags"]:
        nodes.append(node("tag", t, extra={"description": t.get("description")}, relations={
            "managers": _links(t.get("relations") or {}, "managedBy")}))
    for r in lists["roles"]:
        nodes.append(node("role", r))
    for p in lists["people"]:
        rel = p.get("relations") or {}
        nodes.append(node("person", p, extra={
            "email": p.get("email"), "lang": p.get("lang"),
            "startDate": (p.get("startDate") or {}).get("iso"),
            "role": (p.get("role") or {}).get("name")},
            relations={"tags": _links(rel, "taggedBy"), "managers": _links(rel, "managedBy")}))
    for t in lists["tasks"]:
        rel = t.get("relations") or {}
        nodes.append(node("task", t, extra={"status": _id(t.get("status")),
                                            "description": t.get("description")}, relations={
            "projects": _links(rel, "projects"), "managers": _links(rel, "managedBy"),
            "tags": _links(rel, "taggedBy"), "assigned.people": _links(rel, "persons"),
            "assigned.tags": _links(rel, "tags")}))
    for a in lists["absenceTypes"]:
        nodes.append(node("absenceType", a))

    def categories(name: str) -> tuple[Category, ...]:
        return tuple(Category(str(c["id"]), c["name"], tuple(c.get("levelNames") or ()),
                              tuple((str(s["id"]), s["name"]) for s in c.get("statuses") or ()))
                     for c in lists[name])

    return LiveAccount(categories("projectCategories"), categories("tagCategories"),
                       categories("taskCategories"), fields, tuple(nodes), xid_id, value_ids,
                       _id(me))


def _value_of(v: Mapping[str, Any]) -> Any:
    for key in ("textValue", "numberValue", "dateValue", "dateTimeValue", "urlValue",
                "booleanValue"):
        if v.get(key) is not None:
            return v[key]
    return None


def _field_def(f: Mapping[str, Any]) -> FieldDef:
    text = f.get("textOptions") or {}
    options = tuple(text.get("allowedValues") or ()) if text.get("useAllowedValues") else ()
    vis = f.get("visibility") or {}
    # persons/absenceTypes are flags; projects/tasks are lists of category rows, null when
    # the field is not shown there: an empty list is "shown, no category narrowed yet".
    applies = tuple(k for k in ("persons", "absenceTypes", "projects", "tasks")
                    if vis.get(k) is not None and vis.get(k) is not False)
    return FieldDef(str(f["id"]), f["name"], f["fieldType"], bool(f.get("archived")), options,
                    tuple("people" if a == "persons" else a for a in applies))
