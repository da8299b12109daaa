"""Executes GraphQL documents against the store: the emulated operations.

Operations are recognised by the regular names of the real API (``addX``,
``editX<Field>``, ``archiveX(s)``, ``assignAToB``, ``tagX``, ``makeManagerOfX``
...) so one rule serves a whole family; any root field that no rule covers
answers a GraphQL error saying it is not emulated. Object fields read the
stored document; a field the sandbox does not keep answers its type's empty
value (null, false, 0, "" or []), so any selection the schema allows works.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

from graphql import (
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLScalarType,
)

from .store import Store

# The entity kinds the sandbox keeps (GraphQL type name without "Beebole").
KINDS = ("ProjectCategory", "TaskCategory", "TagCategory", "Project", "Task", "Tag", "Person",
         "Role", "AbsenceType", "CustomFieldValue", "CustomField", "TimeRecord", "Status",
         "ExpenseType", "ExpenseRecord", "ApprovalEvent")
ARCHIVABLE = {"Project", "Task", "Tag", "Person", "Role", "AbsenceType", "CustomField",
              "ExpenseType"}
TREES = {"Project", "Task", "Tag"}  # parentId trees, with a category
WEEK_MS = 7 * 24 * 3600 * 1000


class NotEmulated(GraphQLError):
    pass


def now_ms() -> int:
    return int(time.time() * 1000)


def btime(ms: int) -> dict[str, Any]:
    """A BeeboleTime: {ts, iso} of a millisecond timestamp."""
    iso = datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat().replace("+00:00", "Z")
    return {"ts": ms, "iso": iso}


def _lower(name: str) -> str:
    return name[:1].lower() + name[1:]


class Context:
    """What one request's resolvers share: the store, who is asking, what was written."""

    def __init__(self, store: Store, person_id: str, audit_trail: bool, now: int):
        self.store = store
        self.person_id = person_id
        self.audit_trail = audit_trail
        self.now = now  # the sandbox clock (ms), fixed for the request

    def need(self, entity_id: Any, kind: str) -> dict[str, Any]:
        doc = self.store.get(entity_id)
        if doc is None or doc["__kind"] != kind:
            raise GraphQLError(f"NotFound: no {kind} with id {entity_id!r}")
        return doc

    def save(self, doc: dict[str, Any]) -> dict[str, Any]:
        doc["lastEdited"] = {"at": btime(self.now), "byId": self.person_id}
        return self.store.put(doc)


# -- reading -----------------------------------------------------------------

_EMPTY_SCALARS = {"Boolean": False, "Int": 0, "Float": 0.0, "BeeboleTimestamp": 0}


def empty_value(type_: Any) -> Any:
    """The value of a field the sandbox keeps nothing for."""
    if not isinstance(type_, GraphQLNonNull):
        return None
    inner = type_.of_type
    if isinstance(inner, GraphQLList):
        return []
    if isinstance(inner, GraphQLScalarType):
        return _EMPTY_SCALARS.get(inner.name, "")
    if isinstance(inner, GraphQLObjectType) and inner.name == "BeeboleTime":
        return btime(0)
    return {}


# (relation-holder type, field) -> (relation kind, side of the owner, other kind)
REL_FIELDS: dict[tuple[str, str], tuple[str, str, str]] = {}
for _owner in ("Person", "Tag", "Project", "Task", "TimeRecord", "AbsenceType"):
    REL_FIELDS[(f"Beebole{_owner}Relations", "customFields")] = ("customField", "b", "CustomField")
for _owner in ("Person", "Tag", "Project", "Task"):
    REL_FIELDS[(f"Beebole{_owner}Relations", "managedBy")] = ("manager", "b", "Person")
for _owner in ("Person", "Project", "Task"):
    REL_FIELDS[(f"Beebole{_owner}Relations", "taggedBy")] = ("tag", "b", "Tag")
REL_FIELDS.update({
    ("BeebolePersonRelations", "projects"): ("assign", "any", "Project"),
    ("BeebolePersonRelations", "subProjects"): ("assign", "any", "Project"),
    ("BeebolePersonRelations", "absenceTypes"): ("absenceType", "b", "AbsenceType"),
    ("BeebolePersonRelations", "personsOfTask"): ("assign", "any", "Task"),
    ("BeebolePersonManagerOf", "tags"): ("manager", "a", "Tag"),
    ("BeebolePersonManagerOf", "persons"): ("manager", "a", "Person"),
    ("BeebolePersonManagerOf", "projects"): ("manager", "a", "Project"),
    ("BeebolePersonManagerOf", "tasks"): ("manager", "a", "Task"),
    ("BeeboleTagged", "persons"): ("tag", "a", "Person"),
    ("BeeboleTagged", "projects"): ("tag", "a", "Project"),
    ("BeeboleTagged", "tasks"): ("tag", "a", "Task"),
    ("BeeboleTagRelations", "projects"): ("assign", "any", "Project"),
    ("BeeboleTagRelations", "subProjects"): ("assign", "any", "Project"),
    ("BeeboleTagRelations", "absenceTypes"): ("absenceType", "b", "AbsenceType"),
    ("BeeboleTagRelations", "tagsOfTask"): ("assign", "any", "Task"),
    ("BeeboleProjectRelations", "projectsOfPerson"): ("assign", "any", "Person"),
    ("BeeboleProjectRelations", "subProjectsOfPerson"): ("assign", "any", "Person"),
    ("BeeboleProjectRelations", "projectsOfTag"): ("assign", "any", "Tag"),
    ("BeeboleProjectRelations", "subProjectsOfTag"): ("assign", "any", "Tag"),
    ("BeeboleProjectRelations", "relatedProjectsOfTask"): ("assign", "any", "Task"),
    ("BeeboleTaskRelations", "persons"): ("assign", "any", "Person"),
    ("BeeboleTaskRelations", "projects"): ("assign", "any", "Project"),
    ("BeeboleTaskRelations", "tags"): ("assign", "any", "Tag"),
    ("BeeboleCustomFieldRelations", "customFieldsOfTag"): ("customField", "a", "Tag"),
    ("BeeboleCustomFieldRelations", "customFieldsOfPerson"): ("customField", "a", "Person"),
    ("BeeboleCustomFieldRelations", "customFieldsOfProject"): ("customField", "a", "Project"),
    ("BeeboleCustomFieldRelations", "customFieldsOfTask"): ("customField", "a", "Task"),
    ("BeeboleCustomFieldRelations", "customFieldsOfTimeRecord"):
        ("customField", "a", "TimeRecord"),
    ("BeeboleAbsenceTypeRelations", "persons"): ("absenceType", "a", "Person"),
    ("BeeboleAbsenceTypeRelations", "tags"): ("absenceType", "a", "Tag"),
})
# Fields split by level: a project at level 0 is a project, deeper ones subprojects.
_SUB = {"subProjects", "subProjectsOfPerson", "subProjectsOfTag"}
_TOP = {"projects", "projectsOfPerson", "projectsOfTag"}


def level_of(store: Store, doc: dict[str, Any]) -> int:
    level, seen = 0, set()
    while doc.get("parentId") and doc["id"] not in seen:
        seen.add(doc["id"])
        parent = store.get(doc["parentId"])
        if parent is None:
            break
        doc, level = parent, level + 1
    return level


def _relation_items(ctx: Context, parent_type: str, field: str,
                    owner: dict[str, Any]) -> list[dict[str, Any]]:
    kind, side, other = REL_FIELDS[(parent_type, field)]
    items: list[dict[str, Any]] = []
    for rel_id, other_id, start in ctx.store.related(kind, owner["id"], other, side):
        value = ctx.store.get(other_id)
        if value is None:
            continue
        # projects vs subprojects: a person's or tag's by the project's level, a project's
        # own projectsOf*/subProjectsOf* by its own level; a task's projects are not split
        if other == "Project" and field in _SUB | _TOP and parent_type != "BeeboleTaskRelations":
            subject = value if owner["__kind"] != "Project" else owner
            deep = level_of(ctx.store, subject) > 0
            if deep != (field in _SUB):
                continue
        elif owner["__kind"] == "Project" and field in _SUB | _TOP:
            deep = level_of(ctx.store, owner) > 0
            if deep != (field in _SUB):
                continue
        items.append({"relationId": rel_id, "value": value, "operation": "add", "path": [],
                      "startTime": None if start is None else btime(start)})
    return items


def resolve_field(src: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
    """Every object field: stored value, computed value, reference, or the type's empty value."""
    name = info.field_name
    if not isinstance(src, dict):
        return getattr(src, name, None)
    ctx: Context = info.context
    parent_type = info.parent_type.name
    if "__rel_owner" in src:
        owner = src["__rel_owner"]
        if (parent_type, name) in REL_FIELDS:
            return _relation_items(ctx, parent_type, name, owner)
        if name in ("managerOf", "tagged"):
            return {"__rel_owner": owner}
        if parent_type == "BeeboleTaskRelations" and name == "owner":
            return None
        return empty_value(info.return_type)
    special = _COMPUTED.get((parent_type, name))
    if special is not None:
        return special(ctx, src)
    if name in src:
        return src[name]
    if name + "Id" in src:
        return ctx.store.get(src[name + "Id"])
    if name.endswith("s") and name[:-1] + "Ids" in src:
        return [d for d in (ctx.store.get(i) for i in src[name[:-1] + "Ids"]) if d is not None]
    if name == "relations" and "__kind" in src:
        return {"__rel_owner": src}
    return empty_value(info.return_type)


def _children(ctx: Context, doc: dict[str, Any]) -> list[str]:
    return [d["id"] for d in ctx.store.all(doc["__kind"]) if d.get("parentId") == doc["id"]]


def _category_roots(ctx: Context, doc: dict[str, Any]) -> list[str]:
    kind = doc["__kind"].replace("Category", "")
    return [d["id"] for d in ctx.store.all(kind)
            if d.get("categoryId") == doc["id"] and not d.get("parentId")]


def _statuses(ctx: Context, doc: dict[str, Any]) -> list[dict[str, Any]]:
    found = [s for s in ctx.store.all("Status") if s["category"] == doc["id"]]
    order = doc.get("statusOrder") or []
    return sorted(found, key=lambda s: order.index(s["id"]) if s["id"] in order else len(order))


def _managers(ctx: Context, doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in (ctx.store.get(i) for _r, i, _s in
                        ctx.store.related("manager", doc["id"], "Person", "b")) if p]


def _members(kind: str) -> Any:
    def members(ctx: Context, doc: dict[str, Any]) -> list[dict[str, Any]]:
        return [d for d in (ctx.store.get(i) for _r, i, _s in
                            ctx.store.related("assign", doc["id"], kind)) if d]
    return members


_COMPUTED: dict[tuple[str, str], Any] = {
    ("BeeboleProject", "level"): lambda ctx, d: level_of(ctx.store, d),
    ("BeeboleTask", "level"): lambda ctx, d: level_of(ctx.store, d),
    ("BeeboleTag", "level"): lambda ctx, d: level_of(ctx.store, d),
    ("BeeboleTask", "childrenIds"): _children,
    ("BeeboleProjectCategory", "childrenIds"): _category_roots,
    ("BeeboleTaskCategory", "childrenIds"): _category_roots,
    ("BeeboleTagCategory", "childrenIds"): _category_roots,
    ("BeeboleProjectCategory", "statuses"): lambda ctx, d: [],
    ("BeeboleTagCategory", "statuses"): lambda ctx, d: [],
    ("BeeboleTaskCategory", "statuses"): _statuses,
    ("BeeboleStatus", "taskIds"): lambda ctx, d: [t["id"] for t in ctx.store.all("Task")
                                                   if t.get("statusId") == d["id"]],
    ("BeeboleProject", "managedBy"): _managers,
    ("BeeboleTag", "memberOfProjects"): _members("Project"),
    ("BeeboleTag", "memberOfTasks"): _members("Task"),
    ("BeeboleRole", "persons"): lambda ctx, d: [p for p in ctx.store.all("Person")
                                                 if p.get("roleId") == d["id"]],
    ("BeebolePerson", "organisation"): lambda ctx, d: ctx.store.get(ctx.store.meta("org")),
    ("BeeboleCustomFieldValue", "customField"):
        lambda ctx, d: ctx.store.get(d["customFieldId"]),
    ("BeeboleAuditTrail", "person"): lambda ctx, d: ctx.store.get(d["personId"]),
}
for _k in ("Person", "Project", "Task", "Tag", "TimeRecord", "AbsenceType"):
    _COMPUTED[("BeeboleCustomFieldValue", _lower(_k))] = (
        lambda ctx, d, _k=_k: ctx.store.get(d["entityId"]) if d["entityType"] == _k else None)
