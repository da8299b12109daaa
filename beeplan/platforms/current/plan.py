"""The current platform's planner: desired account x live account -> the core's ``Plan``. Pure.

Each ``Action`` is one mutation, as ``apply.py``'s contract says: ``service`` the
mutation field, ``payload`` its arguments, ``{"$ref": ACTION_ID}`` for the id a create
of the same plan returns (and ``depends_on`` names that create). Entities are matched
ONLY by xid (the value of the External ID field) or by ``id:``; categories, roles and
custom field definitions, which hold no custom field values, by name (or ``id:``).
Nothing is matched by an entity's name: a renamed xid-less project is never taken for
another one.

The core renders, guards and exits on the plan as on v2: creates (parents first),
updates, links attached, links and values removed, archives last. Names the manifests
use but do not declare (a role, a task category or status, a custom field) must be
the account's; an xid the account holds twice, a move between categories, a field
type change are problems that refuse the plan, each with the manifest's file:line.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, cast

from ...model import Located, Ref, Source
from ...planner import (
    Action,
    Change,
    GoneProblem,
    Plan,
    Provenance,
    Unmanaged,
    label_text,
    link_detail,
)
from .desired import (
    KIND_APPLIES_TO,
    CategoryEntry,
    Desired,
    Entry,
    FieldEntry,
    Index,
    Key,
    value_problem,
)
from .kinds import BY_NAME, KINDS, VALUE_ENTITY_TYPES
from .reader import Category, FieldDef, LiveAccount, Node
from .saved import fingerprints

# Phases, for the order the plan is shown in (apply layers by depends_on): the xid
# field, definitions, entities parents first, links and values, removals, archives.
_PHASE = {"xidField": 0, "customField": 1, "projectCategory": 2, "tagCategory": 2,
          "taskCategory": 2, "role": 3, "tag": 4, "person": 5, "project": 6, "task": 7,
          "absenceType": 8}
PHASE_LINKS, PHASE_UNLINK, PHASE_ARCHIVE = 10, 11, 12
# The kinds whose archive takes the entity's whole subtree with it (the schema's
# descriptions of archiveProject, archiveTag, archiveTask).
_CASCADES = frozenset({"project", "tag", "task"})

# The word for each kind in mutation names (addProject, editPersonName...).
_TYPE = {"project": "Project", "tag": "Tag", "person": "Person", "task": "Task",
         "absenceType": "AbsenceType", "role": "Role", "customField": "CustomField",
         "projectCategory": "ProjectCategory", "tagCategory": "TagCategory",
         "taskCategory": "TaskCategory"}

# (kind, relation) -> (attach mutation, detach mutation, this entity's argument, the
# other's argument). assignProjectToPerson/Tag serve every level of a tree (the sandbox,
# built on the real schema, emulates those for subprojects and not assignSubProject*).
_LINKS: dict[tuple[str, str], tuple[str, str, str, str]] = {
    ("project", "managers"): ("makeManagerOfProject", "removeManagerOfProject",
                              "projectId", "managerId"),
    ("project", "tags"): ("tagProject", "untagProject", "projectId", "tagId"),
    ("project", "assigned.people"): ("assignProjectToPerson", "unassignProjectFromPerson",
                                     "projectId", "personId"),
    ("project", "assigned.tags"): ("assignProjectToTag", "unassignProjectFromTag",
                                   "projectId", "tagId"),
    ("tag", "managers"): ("makeManagerOfTag", "removeManagerOfTag", "tagId", "managerId"),
    ("person", "tags"): ("tagPerson", "untagPerson", "personId", "tagId"),
    ("person", "managers"): ("makeManagerOfPerson", "removeManagerOfPerson",
                             "personId", "managerId"),
    ("task", "projects"): ("assignTaskToProject", "unassignTaskFromProject",
                           "taskId", "projectId"),
    ("task", "managers"): ("makeManagerOfTask", "removeManagerOfTask", "taskId", "managerId"),
    ("task", "tags"): ("tagTask", "untagTask", "taskId", "tagId"),
    ("task", "assigned.people"): ("assignTaskToPerson", "unassignTaskFromPerson",
                                  "taskId", "personId"),
    ("task", "assigned.tags"): ("assignTaskToTag", "unassignTaskFromTag", "taskId", "tagId"),
}
# a custom field's type -> the argument carrying its value, and the edit mutation's suffix
_VALUE_ARG = {"text": ("textValue", "Text"), "number": ("numberValue", "Number"),
              "date": ("dateValue", "Date"), "datetime": ("dateTimeValue", "DateTime"),
              "url": ("urlValue", "Url"), "boolean": ("booleanValue", "Boolean")}
_VISIBILITY = {"people": "editCustomFieldVisibilityPersons",
               "absenceTypes": "editCustomFieldVisibilityAbsenceTypes",
               "projects": "editCustomFieldVisibilityProjects",
               "tasks": "editCustomFieldVisibilityTasks"}
# Visibility the reader sees as a yes/no: people and absence types are flags; projects and
# tasks are lists of category rows (null: not shown), so "shown" is "a list, maybe empty".
_VISIBILITY_READ = ("people", "absenceTypes", "projects", "tasks")

IdValue = Any  # a live id (str) or {"$ref": ACTION_ID}


def ref(kind: str, xid: str | None, live_id: str | None) -> Ref:
    """The core's reference, holding this platform's opaque text id (the core only shows it)."""
    return Ref(kind, xid=xid, id=cast(Any, live_id))


@dataclass
class _Resolved:
    """What a manifest entry is live: a node, or the create that makes it."""

    target: Ref
    node: Node | None = None
    create: str | None = None  # the create action's id

    @property
    def id(self) -> IdValue:
        return self.node.id if self.node is not None else {"$ref": self.create}


@dataclass
class _Planner:
    desired: Desired
    live: LiveAccount
    actions: list[Action] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    unmanaged: list[Unmanaged] = field(default_factory=list)
    resolved: dict[int, _Resolved] = field(default_factory=dict)  # id(entry) -> resolution
    matched: set[str] = field(default_factory=set)  # live ids the manifests name
    xid_field: IdValue = None

    # -- helpers -------------------------------------------------------------

    def add(self, op: str, kind: str, target: Ref, name: str, service: str,
            payload: Mapping[str, Any], phase: int, *, suffix: str = "",
            changes: Iterable[Change] = (), relation: str = "", detail: str = "",
            after: Iterable[str] = ()) -> Action:
        action_id = f"{service}:{kind}:{label_text(target)}{suffix}"
        deps = [*_refs_in(payload), *after]
        action = Action(action_id, op, kind, target, name, service, dict(payload), phase,
                        tuple(dict.fromkeys(d for d in deps if d != action_id)),
                        tuple(changes), relation, detail)
        self.actions.append(action)
        return action

    def problem(self, message: str, source: Source | None) -> None:
        where = f" ({source})" if source else ""
        self.problems.append(Located(message + where, source))

    # -- the plan ------------------------------------------------------------

    def build(self) -> None:
        self.plan_xid_field()
        fields = self.plan_fields()
        cats = self.plan_categories()
        roles = self.plan_roles()
        index = Index.of(self.desired)
        entries = [e for kind in ("tag", "person", "project", "task", "absenceType")
                   for e in _parents_first(self.desired.of_kind(kind), index)]
        for entry in entries:
            self.plan_entry(entry, index, cats, roles)
        for entry in entries:
            self.plan_links(entry, index)
            self.plan_values(entry, fields)
        self.keep_descendants_active(entries, index)
        self.plan_unnamed()

    def plan_xid_field(self) -> None:
        name = self.desired.settings.xid_field
        if self.live.xid_field is not None:
            self.xid_field = self.live.xid_field
            self.matched.add(self.live.xid_field)
            return
        other = next((f for f in self.live.custom_fields if f.name == name), None)
        if other is not None:
            self.problem(f"the account's custom field {name!r} (settings.xidField) is a "
                         f"{other.type} field; the xids need a text field: rename that field "
                         "in Beebole, or name another one in settings.xidField",
                         None)
            return
        # First of all: every create (and adoption) of this plan stores its xid there.
        target = ref("customField", name, None)
        action = self.add("create", "customField", target, name, "addCustomField",
                          {"name": name, "fieldType": "text"}, _PHASE["xidField"],
                          changes=[Change("name", None, name), Change("type", None, "text")])
        self.xid_field = {"$ref": action.id}

    def plan_fields(self) -> dict[str, tuple[IdValue, str]]:
        """Custom field definitions; returns name -> (id, type) for every usable field."""
        usable: dict[str, tuple[IdValue, str]] = {
            f.name: (f.id, f.type) for f in self.live.custom_fields
            if f.id != self.live.xid_field}
        by_id = {f.id: f for f in self.live.custom_fields}
        by_name: dict[str, FieldDef] = {}
        for f in self.live.custom_fields:
            by_name.setdefault(f.name, f)
        for want in self.desired.fields:
            have = by_id.get(want.id) if want.id is not None else by_name.get(want.name)
            if want.id is not None and have is None:
                self.gone("customField", want.id, want.name, want.source)
                continue
            target = ref("customField", want.name, have.id if have else None)
            if have is None and want.archived:
                # The API lists no archived field (getCustomFields has no archived filter):
                # one archived already and one never made look alike; neither needs a call.
                continue
            if have is None:
                create = self.add("create", "customField", target, want.name, "addCustomField",
                                  {"name": want.name, "fieldType": want.type},
                                  _PHASE["customField"], changes=[Change("type", None, want.type)])
                fid: IdValue = {"$ref": create.id}
                self.field_options(want, fid, target, ())
                for key in want.applies_to or ():
                    if key in _VISIBILITY:
                        self.add("update", "customField", target, want.name, _VISIBILITY[key],
                                 {"id": fid, "enabled": True}, _PHASE["customField"],
                                 changes=[Change(f"appliesTo.{key}", None, True)])
                usable[want.name] = (fid, want.type)
                continue
            self.matched.add(have.id)
            usable[want.name] = (have.id, have.type)
            if have.name != want.name:
                usable.pop(have.name, None)  # renamed: values name it by its new name
            if have.type != want.type:
                self.problem(f"custom field {want.name!r} is a {have.type} field in the "
                             f"account, not {want.type}: a field's type cannot change; create "
                             "a field with another name instead", want.source)
            if have.name != want.name:
                self.add("update", "customField", target, want.name, "editCustomFieldName",
                         {"id": have.id, "name": want.name}, _PHASE["customField"],
                         changes=[Change("name", have.name, want.name)])
            self.field_options(want, have.id, target, have.options)
            for key in _VISIBILITY_READ:
                if want.applies_to is None:
                    break
                wanted, now = key in want.applies_to, key in have.applies_to
                if wanted != now:
                    self.add("update", "customField", target, want.name, _VISIBILITY[key],
                             {"id": have.id, "enabled": wanted}, _PHASE["customField"],
                             changes=[Change(f"appliesTo.{key}", now, wanted)])
            self.archive_flag("customField", target, want.name, want.archived, have.archived,
                              have.id)
        return usable

    def field_options(self, want: FieldEntry, fid: IdValue, target: Ref,
                      have: tuple[str, ...]) -> None:
        if want.options is None or tuple(want.options) == tuple(have):
            return
        if not have:
            self.add("update", "customField", target, want.name,
                     "editCustomFieldTextOptionUseAllowedValues",
                     {"id": fid, "useAllowedValues": True}, _PHASE["customField"],
                     changes=[Change("options", None, list(want.options))])
        for value in want.options:
            if value not in have:
                self.add("update", "customField", target, want.name,
                         "addCustomFieldTextOptionAllowedValue", {"id": fid, "value": value},
                         _PHASE["customField"], suffix=f":{value}",
                         changes=[Change("options", None, value)])
        for value in have:
            if value not in want.options:
                self.add("update", "customField", target, want.name,
                         "removeCustomFieldTextOptionAllowedValue", {"id": fid, "value": value},
                         _PHASE["customField"], suffix=f":{value}",
                         changes=[Change("options", value, None)])

    def plan_categories(self) -> dict[tuple[str, str], tuple[IdValue, dict[str, IdValue]]]:
        """(kind, name) -> (id, status name -> status id) of every category usable by name."""
        live_of = {"projectCategory": self.live.project_categories,
                   "tagCategory": self.live.tag_categories,
                   "taskCategory": self.live.task_categories}
        usable: dict[tuple[str, str], tuple[IdValue, dict[str, IdValue]]] = {}
        for kind, cats in live_of.items():
            for c in cats:
                usable.setdefault((kind, c.name), (c.id, dict((n, i) for i, n in c.statuses)))
        named: set[tuple[str, str]] = set()
        for want in self.desired.categories:
            cats = live_of[want.kind]
            have: Category | None
            if want.id is not None:
                have = next((c for c in cats if c.id == want.id), None)
                if have is None:
                    self.gone(want.kind, want.id, want.name, want.source)
                    continue
            else:
                have = next((c for c in cats if c.name == want.name), None)
            named.add((want.kind, have.id if have else want.name))
            usable[(want.kind, want.name)] = self.plan_category(want, have)
        for kind, cats in live_of.items():
            if kind not in self.desired.managed:
                continue
            for c in cats:
                if (kind, c.id) not in named and (kind, c.name) not in named:
                    # categories cannot be archived; beeplan never deletes: shown, left alone
                    self.unmanaged.append(Unmanaged(ref(kind, c.name, c.id), c.name, True))
        return usable

    def plan_category(self, want: CategoryEntry, have: Category | None
                      ) -> tuple[IdValue, dict[str, IdValue]]:
        t = _TYPE[want.kind]
        target = ref(want.kind, want.name, have.id if have else None)
        phase = _PHASE[want.kind]
        if have is None:
            create = self.add("create", want.kind, target, want.name, f"add{t}",
                              {"name": want.name}, phase)
            cid: IdValue = {"$ref": create.id}
        else:
            cid = have.id
            if have.name != want.name:
                self.add("update", want.kind, target, want.name, f"edit{t}Name",
                         {"id": cid, "name": want.name}, phase,
                         changes=[Change("name", have.name, want.name)])
        before = have.level_names if have else ()
        if want.level_names is not None and tuple(want.level_names) != tuple(before):
            self.add("update", want.kind, target, want.name, f"edit{t}LevelNames",
                     {"id": cid, "levelNames": list(want.level_names)}, phase,
                     changes=[Change("levelNames", list(before) or None,
                                     list(want.level_names))])
        statuses: dict[str, IdValue] = {n: i for i, n in have.statuses} if have else {}
        if want.statuses is not None:
            for name in want.statuses:
                if name not in statuses:
                    made = self.add("update", want.kind, target, want.name,
                                    "addTaskCategoryStatus", {"categoryId": cid, "name": name},
                                    phase, suffix=f":{name}",
                                    changes=[Change("statuses", None, name)])
                    statuses[name] = {"$ref": made.id}
            for sid, name in have.statuses if have else ():
                if name not in want.statuses:
                    self.add("clear", want.kind, target, want.name, "deleteTaskCategoryStatus",
                             {"categoryId": cid, "statusId": sid}, PHASE_UNLINK,
                             suffix=f":{name}", relation="statuses",
                             changes=[Change("statuses", name, None)])
        return cid, statuses

    def plan_roles(self) -> dict[str, IdValue]:
        """Role name -> id, for people's ``role``."""
        lives = self.live.of_kind("role")
        usable: dict[str, IdValue] = {}
        for node in lives:
            usable.setdefault(node.name, node.id)
        for want in self.desired.of_kind("role"):
            if want.id is not None:
                have = next((n for n in lives if n.id == want.id), None)
                if have is None:
                    self.gone("role", want.id, want.name, want.source)
                    continue
            else:
                have = next((n for n in lives if n.name == want.name), None)
            target = ref("role", want.name, have.id if have else None)
            if have is None:
                create = self.add("create", "role", target, want.name, "addRole",
                                  {"name": want.name, "authorisations": []}, _PHASE["role"])
                usable[want.name] = {"$ref": create.id}
                self.resolved[id(want)] = _Resolved(target, None, create.id)
                if want.archived:
                    self.add("deactivate", "role", target, want.name, "archiveRole",
                             {"id": {"$ref": create.id}}, PHASE_ARCHIVE)
                continue
            self.matched.add(have.id)
            self.resolved[id(want)] = _Resolved(target, have)
            usable[want.name] = have.id
            if have.name != want.name:
                self.add("update", "role", target, want.name, "editRoleName",
                         {"id": have.id, "name": want.name}, _PHASE["role"],
                         changes=[Change("name", have.name, want.name)])
            self.archive_flag("role", target, want.name, want.archived, have.archived, have.id)
        return usable

    def gone(self, kind: str, live_id: str, name: str, source: Source | None) -> None:
        # The account changed, the manifests did not: check reports it as drift (exit 2).
        where = f" ({source})" if source else ""
        self.problems.append(GoneProblem(
            f"{kind} {name!r} is adopted by id {live_id}{where}, but the account has no {kind} "
            f"with that id: it was deleted outside beeplan (or the id is wrong). To recreate "
            f"it, give it an xid instead of the id (for a category, role or custom field: "
            f"remove the id); to stop managing it, remove the entry", source))

    def archive_flag(self, kind: str, target: Ref, name: str, want: bool, have: bool,
                     live_id: str) -> None:
        t = _TYPE[kind]
        if want and not have:
            self.add("deactivate", kind, target, name, f"archive{t}", {"id": live_id},
                     PHASE_ARCHIVE)
        elif have and not want:
            self.add("activate", kind, target, name, f"unarchive{t}", {"id": live_id},
                     _PHASE[kind])

    # -- projects, tags, people, tasks, absence types ---------------------------

    def find(self, entry: Entry) -> tuple[bool, Node | None]:
        """Whether the entry can be planned, and the live entity it names (None: to create);
        a problem for what cannot be."""
        kind = entry.kind
        if entry.id is not None:
            node = next((n for n in self.live.of_kind(kind) if n.id == entry.id), None)
            if node is None:
                self.gone(kind, entry.id, entry.name, entry.source)
            return node is not None, node
        held = self.live.duplicate_xids().get((kind, entry.xid or ""))
        if held:
            self.problem(f"{kind} {entry.xid!r} is held by {len(held)} entities of the account "
                         f"({', '.join(held)}) in the {self.desired.settings.xid_field!r} "
                         "field: beeplan cannot tell which one is meant; clear the field on "
                         "all but one in Beebole (or adopt one with id:)", entry.source)
            return False, None
        return True, self.live.by_xid(kind).get(entry.xid or "")

    def plan_entry(self, entry: Entry, index: Index, cats: Mapping[tuple[str, str], Any],
                   roles: Mapping[str, IdValue]) -> None:
        kind = entry.kind
        plannable, node = self.find(entry)
        if not plannable:
            return
        target = ref(kind, entry.xid, node.id if node else None)
        if node is not None:
            self.matched.add(node.id)
            self.resolved[id(entry)] = _Resolved(target, node)
            if entry.xid is not None and node.xid != entry.xid:
                self.set_xid(entry, node, target)
        payload, changes = self.placement(entry, index, cats, node)
        if payload is None:
            return
        fields = dict(entry.fields)
        if "color" in fields:
            self.warnings.append(Located(
                f"{kind} {entry.key}: color {fields['color']!r} is not applied: the API takes a "
                f"palette index (0-71), not #RRGGBB ({entry.source})", entry.source))
        role_id: IdValue = None
        if kind == "person":
            role_id = roles.get(str(fields.get("role")))
            if role_id is None:
                self.problem(f"person {entry.key}: role {fields.get('role')!r} is neither in "
                             "roles nor in the account; declare it under roles, or fix the name",
                             entry.source)
                return
        if node is None:
            self.plan_create(entry, target, payload, changes, fields, role_id)
            return
        self.plan_update(entry, node, target, payload, fields, role_id)

    def plan_create(self, entry: Entry, target: Ref, payload: dict[str, Any],
                    changes: list[Change], fields: dict[str, Any], role_id: IdValue) -> None:
        """A new entry: its create, then what the create does not take, then its archive."""
        kind, t = entry.kind, _TYPE[entry.kind]
        create_payload: dict[str, Any] = {"name": entry.name, **payload}
        if kind == "person":
            create_payload.update(email=fields["email"], roleId=role_id)
        create = self.add("create", kind, target, entry.name, f"add{t}", create_payload,
                          _PHASE[kind], changes=[
                              Change("name", None, entry.name), *changes,
                              *(Change(k, None, v) for k, v in fields.items()
                                if k not in ("color", "status"))])
        self.resolved[id(entry)] = _Resolved(target, None, create.id)
        me: IdValue = {"$ref": create.id}
        for key in ("description", "lang", "startDate"):
            if key in fields:
                self.edit(kind, target, entry.name, me, key, None, fields[key])
        if entry.archived:
            self.add("deactivate", kind, target, entry.name, f"archive{t}", {"id": me},
                     PHASE_ARCHIVE)

    def plan_update(self, entry: Entry, node: Node, target: Ref, payload: dict[str, Any],
                    fields: dict[str, Any], role_id: IdValue) -> None:
        """A live entry: an action for each field that differs, unarchived first if need be."""
        kind, t = entry.kind, _TYPE[entry.kind]
        first = len(self.actions)
        if node.name != entry.name:
            self.add("update", kind, target, entry.name, f"edit{t}Name",
                     {"id": node.id, "name": entry.name}, _PHASE[kind],
                     changes=[Change("name", node.name, entry.name)])
        for key, (service, arg, sent, before, after) in payload.items():
            self.add("update", kind, target, entry.name, service, {"id": node.id, arg: sent},
                     _PHASE[kind], changes=[Change(key, before, after)])
        if kind == "person":
            if fields.get("email") != node.field("email"):
                self.edit(kind, target, entry.name, node.id, "email", node.field("email"),
                          fields["email"])
            if fields.get("role") != node.field("role"):
                self.add("update", kind, target, entry.name, "editPersonRole",
                         {"id": node.id, "roleId": role_id}, _PHASE[kind],
                         changes=[Change("role", node.field("role"), fields["role"])])
        for key in ("description", "lang", "startDate"):
            if key in fields and not _same_field(key, node.field(key), fields[key]):
                self.edit(kind, target, entry.name, node.id, key, node.field(key), fields[key])
        if node.archived and not entry.archived:
            # unarchived before it is edited
            unarchive = self.add("activate", kind, target, entry.name, f"unarchive{t}",
                                 {"id": node.id}, _PHASE[kind])
            self.actions[first:-1] = [_after(a, unarchive.id) for a in self.actions[first:-1]]
        elif entry.archived and not node.archived and node.id == self.live.key_person:
            self.problem(f"person {entry.xid or entry.id} ({entry.name}) is the person the API "
                         "key belongs to: archiving it would lock the key out of the account; "
                         "archive it by hand, or apply with another person's key", entry.source)
        elif entry.archived and not node.archived:
            self.add("deactivate", kind, target, entry.name, f"archive{t}", {"id": node.id},
                     PHASE_ARCHIVE)

    def set_xid(self, entry: Entry, node: Node, target: Ref) -> None:
        """An entry adopting a live entity by id gives it its xid (or corrects it)."""
        taken = self.live.by_xid(entry.kind).get(entry.xid or "")
        if taken is not None and taken.id != node.id:
            self.problem(f"{entry.kind} #{node.id} cannot take xid {entry.xid!r}: the account's "
                         f"{entry.kind} #{taken.id} ({taken.name}) holds it; remove it there "
                         "first, or adopt that one", entry.source)
            return
        change = [Change("xid", node.xid, entry.xid)]
        value_id = self.live.value_ids.get((node.id, str(self.live.xid_field)))
        if node.xid is None or value_id is None:
            self.add("set_xid", entry.kind, target, entry.name, "addCustomFieldValue",
                     {"customFieldId": self.xid_field,
                      "entityType": VALUE_ENTITY_TYPES[entry.kind], "entityId": node.id,
                      "textValue": entry.xid}, _PHASE[entry.kind], suffix=":xid", changes=change)
        else:
            self.add("set_xid", entry.kind, target, entry.name, "editCustomFieldValueText",
                     {"id": value_id, "textValue": entry.xid}, _PHASE[entry.kind],
                     suffix=":xid", changes=change)

    def edit(self, kind: str, target: Ref, name: str, me: IdValue, key: str, before: Any,
             after: Any) -> None:
        service = f"edit{_TYPE[kind]}{key[0].upper()}{key[1:]}"
        value = _timestamp(after) if key == "startDate" else after
        self.add("update", kind, target, name, service, {"id": me, key: value}, _PHASE[kind],
                 changes=[Change(key, _shown_date(before) if key == "startDate" else before,
                                 after)])

    def placement(self, entry: Entry, index: Index, cats: Mapping[tuple[str, str], Any],
                  node: Node | None) -> tuple[dict[str, Any] | None, list[Change]]:
        """Where the entry sits (category, parent, status): create arguments for a new
        entry; for a live one, {key: (mutation, argument, before, after)} of what moves."""
        kind = entry.kind
        if kind not in ("project", "tag", "task"):
            return {}, []
        parent: _Resolved | None = None
        if entry.parent is not None:
            parent = self.lookup(kind, entry.parent, index)
            if parent is None and index.get(kind, entry.parent) is not None:
                return None, []  # the parent could not be planned: said on its line
            if parent is None:
                self.problem(f"{kind} {entry.key}: its parent {entry.parent} is not in the "
                             "account", entry.source)
                return None, []
        category: tuple[IdValue, dict[str, IdValue]] | None = None
        cat_kind = f"{kind}Category"
        if entry.category is not None:
            category = cats.get((cat_kind, entry.category))
            if category is None:
                self.problem(f"{kind} {entry.key}: {cat_kind} {entry.category!r} is neither in "
                             "the manifests nor in the account; declare it, or fix the name",
                             entry.source)
                return None, []
        elif parent is None and node is None:
            self.problem(f"{kind} {entry.key}: a root {kind} needs a category", entry.source)
            return None, []
        status_id: IdValue = None
        status = entry.field("status")
        if kind == "task" and node is None and status is None:
            inherited = cats.get((cat_kind, _inherited_category(entry, index) or ""))
            known = (category[1] if category else inherited[1] if inherited
                     else self.statuses_of_parent(parent, cats))
            if known is not None and not known:
                # A task always has a status (BeeboleTask.status is non-null): the API gives a
                # new one its category's first, and a category without any leaves none to give.
                self.problem(f"task {entry.key}: its task category has no status, and a task "
                             "on this platform always has one: give the category statuses "
                             "(statuses: [Open, Done])", entry.source)
                return None, []
        if status is not None:
            inherited = cats.get((cat_kind, _inherited_category(entry, index) or ""))
            statuses = (category[1] if category else inherited[1] if inherited
                        else self.statuses_of_parent(parent, cats))
            status_id = statuses.get(status) if statuses is not None else None
            if status_id is None:
                self.problem(f"task {entry.key}: status {status!r} is not a status of its "
                             "category (in the manifests or the account)", entry.source)
                return None, []
        if node is None:
            return _create_placement(entry, parent, category, status_id, status)
        return self.moves(entry, node, parent, category, status_id, status), []

    def moves(self, entry: Entry, node: Node, parent: _Resolved | None,
              category: tuple[IdValue, dict[str, IdValue]] | None, status_id: IdValue,
              status: Any) -> dict[str, Any] | None:
        """{key: (mutation, argument, before, after)} of where a live entry moves; None
        (and a problem) when the API cannot move it there."""
        kind, cat_kind = entry.kind, f"{entry.kind}Category"
        t = _TYPE[kind]
        if parent is None and category is not None and category[0] != node.category:
            self.problem(f"{kind} {entry.key} is in another {cat_kind} in the account: the "
                         f"API cannot move a {kind} between categories; archive it and declare "
                         "a new one with another xid, or keep its category", entry.source)
            return None
        moves: dict[str, Any] = {}
        want_parent = parent.id if parent is not None else None
        if _hashable(want_parent) != node.parent:
            moves["parent"] = (f"edit{t}Parent", "parentId", want_parent,
                               self.label_of(node.parent),
                               None if entry.parent is None else str(entry.parent))
        if status_id is not None and status_id != node.field("status"):
            moves["status"] = (f"edit{t}Status", "statusId", status_id,
                               self.status_name(node.field("status")), status)
        return moves

    def label_of(self, live_id: str | None) -> str | None:
        """How a change shows a live entity: its xid, else #id."""
        node = next((n for n in self.live.nodes if n.id == live_id), None)
        if live_id is None:
            return None
        return node.xid if node is not None and node.xid is not None else f"#{live_id}"

    def status_name(self, status_id: str | None) -> str | None:
        for c in self.live.task_categories:
            for sid, name in c.statuses:
                if sid == status_id:
                    return name
        return status_id

    def statuses_of_parent(self, parent: _Resolved | None,
                           cats: Mapping[tuple[str, str], Any]) -> dict[str, IdValue] | None:
        if parent is None or parent.node is None or parent.node.category is None:
            return None
        for (kind, _name), (cid, statuses) in cats.items():
            if kind == "taskCategory" and cid == parent.node.category:
                return dict(statuses)
        return None

    def lookup(self, kind: str, key: Key, index: Index) -> _Resolved | None:
        """What a reference names: a declared entry's resolution, or a live entity by id."""
        entry = index.get(kind, key)
        if entry is not None:
            return self.resolved.get(id(entry))
        if key.id is not None:
            node = next((n for n in self.live.of_kind(kind) if n.id == key.id), None)
            if node is not None:
                return _Resolved(ref(kind, node.xid, node.id), node)
        return None

    # -- links and values -------------------------------------------------------

    def plan_links(self, entry: Entry, index: Index) -> None:
        me = self.resolved.get(id(entry))
        if me is None:
            return
        for rel, keys in entry.relations:
            target_kind = next(r.target for r in BY_NAME[entry.kind].relations if r.key == rel)
            attach, detach, my_arg, other_arg = _LINKS[(entry.kind, rel)]
            wanted: dict[Any, _Resolved] = {}
            for key in keys:
                other = self.lookup(target_kind, key, index)
                if other is None and index.get(target_kind, key) is not None:
                    continue  # a declared entry that could not be planned: said on its line
                if other is None:
                    self.problem(f"{entry.kind} {entry.key}: {rel} names {target_kind} {key}, "
                                 "which the account does not have", entry.source)
                    continue
                wanted[_hashable(other.id)] = other
            have = set(me.node.related(rel)) if me.node is not None else set()
            names = {n.id: n for n in self.live.nodes}
            for hid, other in wanted.items():
                if hid in have:
                    continue
                self.add("attach", entry.kind, me.target, entry.name, attach,
                         {my_arg: me.id, other_arg: other.id}, PHASE_LINKS,
                         suffix=f":{rel}:{label_text(other.target)}", relation=rel,
                         detail=link_detail(rel, "attach", other.target,
                                            other.node.name if other.node else None))
            for live_id in sorted(have - set(wanted)):
                node = names.get(live_id)
                other_ref = ref(target_kind, node.xid if node else None, live_id)
                self.add("detach", entry.kind, me.target, entry.name, detach,
                         {my_arg: me.id, other_arg: live_id}, PHASE_UNLINK,
                         suffix=f":{rel}:{label_text(other_ref)}", relation=rel,
                         detail=link_detail(rel, "detach", other_ref,
                                            node.name if node else None))

    def plan_values(self, entry: Entry, fields: Mapping[str, tuple[IdValue, str]]) -> None:
        me = self.resolved.get(id(entry))
        if me is None or entry.custom is None or entry.kind not in VALUE_ENTITY_TYPES:
            return
        have = dict(me.node.custom) if me.node is not None else {}
        by_id = {f.id: f for f in self.live.custom_fields}
        wanted_ids = set()
        for name, value in entry.custom:
            if name not in fields:
                self.problem(f"{entry.kind} {entry.key}: customFields.{name}: the account has no "
                             "custom field of that name and customFields does not declare it",
                             entry.source)
                continue
            fid, ftype = fields[name]
            live_def = by_id.get(fid) if isinstance(fid, str) else None
            wrong = value_problem(ftype, value, live_def.options if live_def else None)
            if wrong and live_def is not None:
                self.problem(f"{entry.kind} {entry.key}: customFields.{name}: {wrong}",
                             entry.source)
                continue
            if isinstance(fid, str):
                wanted_ids.add(fid)
            arg, suffix = _VALUE_ARG[ftype]
            sent = _sent_value(ftype, value)
            before = have.get(fid) if isinstance(fid, str) else None
            if isinstance(fid, str) and fid in have and _same_value(before, sent):
                continue
            value_id = self.live.value_ids.get((me.node.id, fid)) if me.node and \
                isinstance(fid, str) else None
            change = [Change(f"customFields.{name}", _shown_value(ftype, before), value)]
            if value_id is None:
                self.add("set", entry.kind, me.target, entry.name, "addCustomFieldValue",
                         {"customFieldId": fid, "entityType": VALUE_ENTITY_TYPES[entry.kind],
                          "entityId": me.id, arg: sent}, PHASE_LINKS, suffix=f":{name}",
                         relation="customFields", changes=change)
            else:
                self.add("set", entry.kind, me.target, entry.name,
                         f"editCustomFieldValue{suffix}", {"id": value_id, arg: sent},
                         PHASE_LINKS, suffix=f":{name}", relation="customFields", changes=change)
        for fid, before in sorted(have.items()):
            value_id = self.live.value_ids.get((me.node.id, fid)) if me.node else None
            if fid in wanted_ids or value_id is None:
                continue
            name = by_id[fid].name if fid in by_id else fid
            shown = _shown_value(by_id[fid].type, before) if fid in by_id else before
            self.add("clear", entry.kind, me.target, entry.name, "deleteCustomFieldValue",
                     {"id": value_id}, PHASE_UNLINK, suffix=f":{name}", relation="customFields",
                     changes=[Change(f"customFields.{name}", shown, None)])

    def keep_descendants_active(self, entries: Iterable[Entry], index: Index) -> None:
        """Archiving a project, tag or task archives its whole subtree (the API's own
        description: "and all its sub-projects"). A descendant the manifests keep active is
        unarchived after that archive, so one apply converges instead of the next plan
        finding it archived."""
        archives = {a.id: a for a in self.actions if a.op == "deactivate"}
        for entry in entries:
            if entry.kind not in _CASCADES or entry.archived or id(entry) not in self.resolved:
                continue
            archive = self.ancestor_archive(entry, index, archives)
            if archive is None:
                continue
            me = self.resolved[id(entry)]
            self.add("activate", entry.kind, me.target, entry.name,
                     f"unarchive{_TYPE[entry.kind]}", {"id": me.id}, PHASE_ARCHIVE,
                     suffix=":after-parent", after=[archive.id],
                     detail=f"archiving {archive.name} archives its subtree; the manifests "
                            "keep this one active")

    def ancestor_archive(self, entry: Entry, index: Index,
                         archives: Mapping[str, Action]) -> Action | None:
        """The archive of this plan that will take ``entry`` with it: its nearest
        ancestor in the manifests' tree (where the entry sits once applied) archived here."""
        seen = {id(entry)}
        parent = index.get(entry.kind, entry.parent) if entry.parent is not None else None
        while parent is not None and id(parent) not in seen:
            seen.add(id(parent))
            done = self.resolved.get(id(parent))
            if done is not None:
                action_id = f"archive{_TYPE[parent.kind]}:{parent.kind}:{label_text(done.target)}"
                if action_id in archives:
                    return archives[action_id]
            parent = index.get(parent.kind, parent.parent) if parent.parent is not None else None
        return None

    # -- what no manifest names ---------------------------------------------------

    def plan_unnamed(self) -> None:
        prune = self.desired.settings.prune
        for kind in ("project", "tag", "person", "task", "absenceType", "role"):
            if kind not in self.desired.managed:
                continue
            nodes = {n.id: n for n in self.live.of_kind(kind)}
            for node in nodes.values():
                if node.id in self.matched or node.archived:
                    continue
                target = ref(kind, node.xid, node.id)
                if not prune:
                    self.unmanaged.append(Unmanaged(target, node.name, True))
                    continue
                # Archiving a project or tag archives its subtree: once, at the top.
                if _ancestor_pruned(node, nodes, self.matched):
                    continue
                if kind == "person" and node.id == self.live.key_person:
                    self.warnings.append(
                        f"person {node.name!r} ({node.id}) is not in the manifests but is the "
                        "person the API key belongs to: not archived (the key would lose the "
                        "account); name it in people: to manage it, or archive it by hand")
                    self.unmanaged.append(Unmanaged(target, node.name, True))
                    continue
                self.add("deactivate", kind, target, node.name, f"archive{_TYPE[kind]}",
                         {"id": node.id}, PHASE_ARCHIVE)
        if "customField" in self.desired.managed:
            for f in self.live.custom_fields:
                if f.id in self.matched or f.archived:
                    continue
                target = ref("customField", f.name, f.id)
                if prune:
                    self.add("deactivate", "customField", target, f.name, "archiveCustomField",
                             {"id": f.id}, PHASE_ARCHIVE)
                else:
                    self.unmanaged.append(Unmanaged(target, f.name, True))

    def unmanaged_kinds(self) -> dict[str, int | None]:
        """Under prune, the manifest keys the set lacks, with the live entities left alone
        (keyed by manifest key: the core's renderer names them so: ``roles: []``)."""
        if not self.desired.settings.prune:
            return {}
        counts: dict[str, int | None] = {}
        for kind in KINDS:
            if kind.name in self.desired.managed or not kind.archivable:
                continue
            if kind.name == "customField":
                count = sum(1 for f in self.live.custom_fields
                            if f.id != self.live.xid_field and not f.archived)
            else:
                count = sum(1 for n in self.live.of_kind(kind.name) if not n.archived)
            counts[kind.manifest_key] = (counts.get(kind.manifest_key) or 0) + count
        return counts


def make_plan(desired: Desired, live: LiveAccount, read_calls: int = 0) -> Plan:
    """The actions that bring ``live`` to ``desired``, with problems and safety verdicts."""
    planner = _Planner(desired, live)
    planner.build()
    actions = sorted(_without_unused_xid_field(planner.actions, planner.xid_field),
                     key=lambda a: a.phase)  # stable: parents stay first
    plan = Plan(
        actions=tuple(actions),
        unmanaged=tuple(planner.unmanaged),
        problems=tuple(planner.problems),
        warnings=tuple(dict.fromkeys(planner.warnings)),
        read_calls=read_calls,
        prune=desired.settings.prune,
        unmanaged_kinds=planner.unmanaged_kinds(),
        provenance=Provenance(loosened=desired.settings.loosened()),
        # What the plan saw of each target: a saved plan's apply tells by it an edited
        # file from an account that changed since (saved.py).
        fingerprints=fingerprints(live, actions),
        platform="current",
    )
    return with_safety(plan, desired, live)


# ---------------------------------------------------------------------------
# Safety: the core's rule (settings.safety ratio and min) on archives and removed links


def with_safety(plan: Plan, desired: Desired, live: LiveAccount) -> Plan:
    """The plan with its safety violations: archives per kind, removed links per relation."""
    from dataclasses import replace

    created = {a.target for a in plan.actions if a.op == "create"}
    archived: dict[str, list[Action]] = defaultdict(list)
    removed: dict[tuple[str, str], list[Action]] = defaultdict(list)
    for a in plan.actions:
        if a.op == "deactivate" and a.target not in created:
            archived[a.kind].append(a)
        elif a.op in ("detach", "clear") and a.relation:
            removed[(a.kind, a.relation)].append(a)
    sources = {e.key: e.source for e in desired.entries}
    violations: list[str] = []
    safety = desired.settings.safety
    for kind, actions in archived.items():
        total = (len(live.custom_fields) if kind == "customField"
                 else len(live.of_kind(kind)))
        if safety.for_kind(kind).exceeded(len(actions), total):
            violations.append(Located(f"{len(actions)} of {total} {kind} entities would be "
                                      "archived", _source_of(actions[0], sources)))
    for (kind, rel), actions in sorted(removed.items()):
        total = _links(live, kind, rel)
        if safety.for_kind(kind).exceeded(len(actions), total):
            violations.append(Located(f"{len(actions)} of {total} {kind} {rel} links would be "
                                      "removed", _source_of(actions[0], sources)))
    return replace(plan, destroy_violations=tuple(violations))


def _links(live: LiveAccount, kind: str, rel: str) -> int:
    if rel == "customFields":
        return sum(len(n.custom) for n in live.of_kind(kind))
    if rel == "statuses":
        return sum(len(c.statuses) for c in live.task_categories)
    return sum(len(n.related(rel)) for n in live.of_kind(kind))


def _source_of(action: Action, sources: Mapping[Key, Source]) -> Source | None:
    t = action.target
    return sources.get(Key(xid=t.xid)) or sources.get(Key(id=cast(Any, t.id)))


# ---------------------------------------------------------------------------
# Small pure helpers


def _without_unused_xid_field(actions: list[Action], xid_field: IdValue) -> list[Action]:
    """Without the xid field's create when nothing stores an xid: an account whose every
    entity is adopted by id (or a set of categories only) is not told to make a field."""
    if not isinstance(xid_field, Mapping):
        return actions
    made = str(xid_field["$ref"])
    used = any(made in a.depends_on for a in actions) or any(
        a.op == "create" and BY_NAME[a.kind].xid_field and a.target.xid is not None
        for a in actions)
    return actions if used else [a for a in actions if a.id != made]


def _refs_in(payload: Mapping[str, Any]) -> list[str]:
    return [str(v["$ref"]) for v in payload.values() if isinstance(v, Mapping) and "$ref" in v]


def _after(action: Action, dep: str) -> Action:
    from dataclasses import replace

    return replace(action, depends_on=tuple(dict.fromkeys((*action.depends_on, dep))))


def _hashable(value: IdValue) -> Any:
    return ("$ref", value["$ref"]) if isinstance(value, Mapping) else value


def _parents_first(entries: tuple[Entry, ...], index: Index) -> list[Entry]:
    """Entries with each parent before its children (stable otherwise; cycles are refused
    earlier, by desired.check_references)."""
    out: list[Entry] = []
    placed: set[int] = set()
    for entry in entries:
        chain = []
        node: Entry | None = entry
        while node is not None and id(node) not in placed and node not in chain:
            chain.append(node)
            node = index.get(node.kind, node.parent) if node.parent is not None else None
        for e in reversed(chain):
            placed.add(id(e))
            out.append(e)
    return out


def _create_placement(entry: Entry, parent: _Resolved | None,
                      category: tuple[IdValue, dict[str, IdValue]] | None, status_id: IdValue,
                      status: Any) -> tuple[dict[str, Any], list[Change]]:
    """The create arguments (and shown changes) that place a new entry: under its parent,
    else in its category; with its status."""
    payload: dict[str, Any] = ({"parentId": parent.id} if parent is not None
                               else {"categoryId": category[0] if category else None})
    if status_id is not None:
        payload["statusId"] = status_id
    changes = [Change("status", None, status)] if status is not None else []
    if parent is not None:
        changes.insert(0, Change("parent", None, str(entry.parent)))
    return payload, changes


def _inherited_category(entry: Entry, index: Index) -> str | None:
    """The category a child declares none for: its nearest declared ancestor's."""
    seen: set[int] = set()
    node: Entry | None = entry
    while node is not None and id(node) not in seen:
        if node.category is not None:
            return node.category
        seen.add(id(node))
        node = index.get(node.kind, node.parent) if node.parent is not None else None
    return None


def _ancestor_pruned(node: Node, nodes: Mapping[str, Node], matched: set[str]) -> bool:
    parent = nodes.get(node.parent) if node.parent else None
    seen = set()
    while parent is not None and parent.id not in seen:
        seen.add(parent.id)
        if parent.id not in matched and not parent.archived:
            return True
        parent = nodes.get(parent.parent) if parent.parent else None
    return False


def _timestamp(day: str) -> int:
    """YYYY-MM-DD -> milliseconds since 1970 at midnight UTC (a BeeboleTimestamp)."""
    moment = datetime.fromisoformat(day[:10]).replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)


def _shown_date(value: Any) -> Any:
    return value[:10] if isinstance(value, str) else value


def _same_field(key: str, live: Any, want: Any) -> bool:
    if key == "startDate":
        return _shown_date(live) == want
    if key == "description":
        return (live or "") == (want or "")
    return bool(live == want)


def _sent_value(ftype: str, value: Any) -> Any:
    """A manifest value as the API takes it: dates as milliseconds, numbers as floats."""
    if ftype == "date":
        return float(_timestamp(value))
    if ftype == "datetime":
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return float(int(moment.timestamp() * 1000))
    if ftype == "number":
        return float(value)
    return value


def _shown_value(ftype: str, value: Any) -> Any:
    """A live value as the manifests write it: dates as YYYY-MM-DD, not milliseconds."""
    if ftype in ("date", "datetime") and isinstance(value, (int, float)) \
            and not isinstance(value, bool):
        moment = datetime.fromtimestamp(value / 1000, tz=timezone.utc)
        return moment.date().isoformat() if ftype == "date" else moment.isoformat()
    if ftype == "number" and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _same_value(live: Any, sent: Any) -> bool:
    if isinstance(sent, bool) or isinstance(live, bool):
        return isinstance(sent, bool) and isinstance(live, bool) and sent == live
    if isinstance(sent, float):
        return isinstance(live, (int, float)) and float(live) == sent
    return bool(live == sent)


__all__ = ["make_plan", "with_safety", "KIND_APPLIES_TO"]
