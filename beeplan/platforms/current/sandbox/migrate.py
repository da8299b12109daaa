"""Beebole's one-time legacy migration, emulated: a v2 account -> this sandbox's account.

The mapping is the one documentation-legacy-migration.mdx describes (companies at the
top of the project structure, projects and subprojects below, groups as tags, exclusive
membership as assignments, custom fields and values, absence types, tasks, people,
external ids kept). Where it is silent the sandbox chose, and its README says so, row by
row ("Legacy migration").

The v2 account arrives as plain data (``LegacyAccount``): this platform folder never
imports the v2 one. ``beeplan sandbox migrate`` reads the v2 account through the v2
platform's reader (the registry) and hands it here, as the real tool reads the legacy
account through the legacy API key.

Every record is written with this sandbox's own mutations (``app.run``), so each is
validated against the real schema and leaves ``lastEdited`` and an audit trail entry,
as anything the account's administrator does. A record the API refuses (a name the
current platform does not accept) is counted as failed, and what depends on it is
skipped: the real migration "completes even if individual records fail".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..convert import (
    DEFAULT_ROLE,
    PROJECT_CATEGORY,
    PROJECT_LEVELS,
    ROLES,
    TASK_CATEGORY,
    TASK_STATUSES,
)
from ..kinds import XID_FIELD_DEFAULT

if TYPE_CHECKING:
    from .app import CurrentSandboxApp

# The migration's phases, in the reference's order (its numbers), as far as a v2 account
# of the sandbox has data for them (no schedules, rates, quotas or activities there).
PHASES = ("Projects", "Activities", "Absence Types", "Groups", "People", "Tag Assignments",
          "Team Members", "Project Assignments", "Custom Fields", "Custom Field Values",
          "External IDs", "Archived records")
# A v2 custom field's "available for" label -> where the current field is shown.
_SHOWN_ON = {"Company": "projects", "Company - Customer": "projects",
             "Company - Corporate": "projects", "Project": "projects",
             "Subproject": "projects", "Person": "people"}
_VISIBILITY = {"projects": "editCustomFieldVisibilityProjects",
               "people": "editCustomFieldVisibilityPersons"}
_PROJECT_KINDS = ("company", "project", "subproject")
_TYPE = {"company": "Project", "project": "Project", "subproject": "Project", "group": "Tag",
         "person": "Person", "task": "Task", "absence": "AbsenceType"}
_ONE_ACCOUNT = "on the current platform everything belongs to the one account"
_VALUE_ARG = {"text": "textValue", "number": "numberValue", "boolean": "booleanValue"}


@dataclass(frozen=True)
class LegacyEntity:
    """One v2 entity as plain data: what the v2 reader read, keyed by its v2 live id."""

    kind: str  # company, project, subproject, task, group, person, absence
    key: str  # the v2 live id, as text: what ``parent`` and ``links`` name
    name: str
    xid: str | None = None
    parent: str | None = None  # a group's parent group, a project's company...
    active: bool = True
    fields: Mapping[str, Any] = field(default_factory=dict)  # description, userGroup...
    # groups, members.people, members.groups, managers, leaders, specificTasks.tasks
    links: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    custom: Mapping[str, Any] = field(default_factory=dict)  # custom field name -> value


@dataclass(frozen=True)
class LegacyField:
    """A v2 custom field definition: its name and where v2 offers it ("Person"...)."""

    name: str
    available_for: tuple[str, ...] = ()


@dataclass(frozen=True)
class LegacyAccount:
    entities: tuple[LegacyEntity, ...] = ()
    fields: tuple[LegacyField, ...] = ()


@dataclass(frozen=True)
class Skipped:
    """A v2 value the migration does not carry, and why (the report names each)."""

    what: str  # "company acme: corporate"
    why: str


@dataclass(frozen=True)
class PhaseCount:
    phase: str
    created: int
    failed: int


@dataclass(frozen=True)
class MigrationReport:
    """What the real tool's summary shows: per phase, created and failed; and what it left."""

    phases: tuple[PhaseCount, ...]
    skipped: tuple[Skipped, ...]
    failures: tuple[str, ...]  # "People: person jane: DuplicateEmail: ..."
    left_out: tuple[str, ...] = ()  # only_active: the archived records not migrated

    @property
    def created(self) -> int:
        return sum(p.created for p in self.phases)

    @property
    def failed(self) -> int:
        return sum(p.failed for p in self.phases)


class MigrationError(Exception):
    """The migration cannot start: it already ran on this account, or the account is not new."""


def infer_type(values: Iterable[Any]) -> str:
    """A field's type from its v2 values: boolean, number, else text; mixed values: text.

    v2 fields have no declared type; convert infers the same way (convert._Converter.field).
    """
    kinds = {"boolean" if isinstance(v, bool) else
             "number" if isinstance(v, (int, float)) else "text" for v in values}
    return kinds.pop() if len(kinds) == 1 else "text"


class _Migration:
    def __init__(self, app: CurrentSandboxApp, account: LegacyAccount):
        self.app = app
        self.account = account
        self.by_key = {e.key: e for e in account.entities}
        self.ids: dict[str, str] = {}  # v2 key -> current id
        self.created: dict[str, int] = {p: 0 for p in PHASES}
        self.failed: dict[str, int] = {p: 0 for p in PHASES}
        self.failures: list[str] = []
        self.skipped: list[Skipped] = []
        self.phase = PHASES[0]

    # -- one mutation -----------------------------------------------------------------

    def run(self, mutation: str, args: Mapping[str, Any], what: str) -> str | None:
        """One mutation; the id it answers, or None (counted as a failure of the phase)."""
        types = _arg_types(self.app, mutation)
        decl = ", ".join(f"${k}: {types[k]}" for k in args)
        passed = ", ".join(f"{k}: ${k}" for k in args)
        # every answer (an entity, a list of them, a raw relation) has an id
        document = f"mutation({decl}) {{ r: {mutation}({passed}) {{ id }} }}"
        answer = self.app.run(document, dict(args))
        if answer.get("errors"):
            self.failed[self.phase] += 1
            self.failures.append(f"{self.phase}: {what}: {answer['errors'][0]['message']}")
            return None
        self.created[self.phase] += 1
        result = answer["data"]["r"]
        first = result[0] if isinstance(result, list) else result
        return str(first["id"]) if isinstance(first, dict) and "id" in first else ""

    def lost(self, entity: LegacyEntity, why: str) -> None:
        """A record not created because another failed: a failure of the phase too."""
        self.failed[self.phase] += 1
        self.failures.append(f"{self.phase}: {entity.kind} {entity.xid or entity.name}: {why}")

    def skip(self, entity: LegacyEntity, what: str, why: str) -> None:
        self.skipped.append(Skipped(f"{entity.kind} {entity.xid or entity.name}: {what}", why))

    def of(self, *kinds: str) -> list[LegacyEntity]:
        return [e for e in self.account.entities if e.kind in kinds]

    def id_of(self, key: str | None) -> str | None:
        return None if key is None else self.ids.get(key)

    # -- the phases -------------------------------------------------------------------

    def projects(self) -> None:
        self.phase = "Projects"
        category = self.run("addProjectCategory", {"name": PROJECT_CATEGORY}, "project category")
        if category:
            self.run("editProjectCategoryLevelNames",
                     {"id": category, "levelNames": PROJECT_LEVELS}, "level names")
        for kind in _PROJECT_KINDS:  # companies first: a project names its company
            for entity in self.of(kind):
                parent = self.id_of(entity.parent) if kind != "company" else None
                if (kind != "company" and parent is None) or (kind == "company" and not category):
                    self.lost(entity, "what it belongs under was not migrated")
                    continue
                args = {"name": entity.name, **({"parentId": parent} if parent else
                                                {"categoryId": category})}
                new = self.run("addProject", args, f"{kind} {entity.xid or entity.name}")
                if new:
                    self.ids[entity.key] = new
                    if entity.fields.get("description"):
                        self.run("editProjectDescription",
                                 {"id": new, "description": entity.fields["description"]},
                                 f"{kind} {entity.xid or entity.name}: description")
                for key, why in (("corporate", "the current platform has no corporate flag"),
                                 ("startDate", "current projects have no start date")):
                    if entity.fields.get(key) not in (None, ""):
                        self.skip(entity, key, why)

    def activities(self) -> None:
        self.phase = "Activities"
        tasks = self.of("task")
        if not tasks:
            return
        category = self.run("addTaskCategory", {"name": TASK_CATEGORY}, "task category")
        if not category:
            for entity in tasks:
                self.lost(entity, "the task category was not migrated")
            return
        statuses = [self.run("addTaskCategoryStatus", {"categoryId": category, "name": name},
                             f"task status {name}") for name in TASK_STATUSES]
        for entity in tasks:
            args: dict[str, Any] = {"name": entity.name, "categoryId": category}
            if statuses[0]:
                args["statusId"] = statuses[0]
            new = self.run("addTask", args, f"task {entity.xid or entity.name}")
            if new:
                self.ids[entity.key] = new
            if entity.fields.get("company"):
                self.skip(entity, "company", _ONE_ACCOUNT)

    def absence_types(self) -> None:
        self.phase = "Absence Types"
        for entity in self.of("absence"):
            new = self.run("addAbsenceType", {"name": entity.name},
                           f"absence type {entity.xid or entity.name}")
            if new:
                self.ids[entity.key] = new
            if entity.fields.get("company"):
                self.skip(entity, "company", _ONE_ACCOUNT)
            if entity.links.get("groups"):
                self.skip(entity, "groups", "current absence types are not limited to groups")

    def groups(self) -> None:
        self.phase = "Groups"
        for entity in _parents_first(self.of("group"), self.by_key):
            parent = self.by_key.get(entity.parent or "")
            if parent is None:  # a root group: a tag category, which holds no xid
                new = self.run("addTagCategory", {"name": entity.name},
                               f"group {entity.xid or entity.name}")
                if entity.xid:
                    self.skip(entity, "xid", "a root group becomes a tag category, "
                                             "which has a name and no external id")
                if new:
                    self.ids[entity.key] = new
                continue
            pid = self.id_of(parent.key)
            if pid is None:
                self.lost(entity, "its parent group was not migrated")
                continue
            where = "categoryId" if self.by_key.get(parent.parent or "") is None else "parentId"
            new = self.run("addTag", {"name": entity.name, where: pid},
                           f"group {entity.xid or entity.name}")
            if new:
                self.ids[entity.key] = new

    def people(self) -> None:
        self.phase = "People"
        roles = {r["name"]: r["id"] for r in
                 self.app.run("{ r: getRoles(archived: true) { id name } }")["data"]["r"]}
        for entity in self.of("person"):
            role = ROLES.get(str(entity.fields.get("userGroup") or ""), DEFAULT_ROLE)
            if role not in roles:
                made = self.run("addRole", {"name": role, "authorisations": []}, f"role {role}")
                if made is None:
                    self.lost(entity, f"its role {role} was not migrated")
                    continue
                roles[role] = made
            email = entity.fields.get("email")
            if not email:
                self.failed[self.phase] += 1
                self.failures.append(f"People: person {entity.xid or entity.name}: no email "
                                     "(the current platform needs one)")
                continue
            new = self.run("addPerson", {"name": entity.name, "email": email,
                                         "roleId": roles[role]},
                           f"person {entity.xid or entity.name}")
            if new:
                self.ids[entity.key] = new
            if entity.fields.get("company"):
                self.skip(entity, "company", _ONE_ACCOUNT)

    def link(self, mutation: str, a_arg: str, a_key: str, b_arg: str, b_key: str,
             what: str) -> None:
        a, b = self.id_of(a_key), self.id_of(b_key)
        if a and b:
            self.run(mutation, {a_arg: a, b_arg: b}, what)

    def tag_assignments(self) -> None:
        self.phase = "Tag Assignments"
        tagging = {"company": ("tagProject", "projectId"), "project": ("tagProject", "projectId"),
                   "subproject": ("tagProject", "projectId"), "person": ("tagPerson", "personId"),
                   "task": ("tagTask", "taskId")}
        for entity in self.account.entities:
            if entity.kind not in tagging:
                continue
            mutation, arg = tagging[entity.kind]
            for group in entity.links.get("groups", ()):
                if self.by_key.get(group) and self.by_key[group].parent is None:
                    self.skip(entity, "groups", "tagged with a root group, which is a tag "
                                                "category on the current platform")
                    continue
                self.link(mutation, arg, entity.key, "tagId", group,
                          f"{entity.kind} {entity.xid or entity.name}: tag")

    def team_members(self) -> None:
        self.phase = "Team Members"
        for entity in self.account.entities:
            label = f"{entity.kind} {entity.xid or entity.name}"
            for person in entity.links.get("members.people", ()):
                self.link("assignProjectToPerson", "projectId", entity.key, "personId", person,
                          f"{label}: member")
            for person in entity.links.get("managers", ()):
                self.link("makeManagerOfProject", "projectId", entity.key, "managerId", person,
                          f"{label}: manager")
            for leader in entity.links.get("leaders", ()):
                self.link("makeManagerOfPerson", "personId", entity.key, "managerId", leader,
                          f"{label}: leader")

    def project_assignments(self) -> None:
        self.phase = "Project Assignments"
        for entity in self.of(*_PROJECT_KINDS):
            label = f"{entity.kind} {entity.xid or entity.name}"
            for group in entity.links.get("members.groups", ()):
                self.link("assignProjectToTag", "projectId", entity.key, "tagId", group,
                          f"{label}: member group")
            for task in entity.links.get("specificTasks.tasks", ()):
                self.link("assignTaskToProject", "projectId", entity.key, "taskId", task,
                          f"{label}: task")
            if entity.fields.get("specificTasks.enabled") is False:
                self.skip(entity, "specificTasks.enabled", "a current task lists its projects; "
                                                           "'enabled: false' has no counterpart")

    def custom_fields(self) -> dict[str, tuple[str, str]]:
        self.phase = "Custom Fields"
        made: dict[str, tuple[str, str]] = {}
        for definition in self.account.fields:
            values = [e.custom[definition.name] for e in self.account.entities
                      if definition.name in e.custom]
            kind = infer_type(values)
            new = self.run("addCustomField", {"name": definition.name, "fieldType": kind},
                           f"custom field {definition.name}")
            if not new:
                continue
            made[definition.name] = (new, kind)
            shown = dict.fromkeys(_SHOWN_ON[label] for label in definition.available_for
                                  if label in _SHOWN_ON)
            for where in shown:
                self.run(_VISIBILITY[where], {"id": new, "enabled": True},
                         f"custom field {definition.name}: shown on {where}")
        return made

    def custom_values(self, made: Mapping[str, tuple[str, str]]) -> None:
        self.phase = "Custom Field Values"
        for entity in self.account.entities:
            owner = self.id_of(entity.key)
            for name, value in entity.custom.items():
                if owner is None or name not in made:
                    continue
                fid, kind = made[name]
                sent = value if kind != "text" else str(value)
                self.run("addCustomFieldValue",
                         {"customFieldId": fid, "entityType": _TYPE[entity.kind],
                          "entityId": owner, _VALUE_ARG[kind]: sent},
                         f"{entity.kind} {entity.xid or entity.name}: {name}")

    def external_ids(self) -> None:
        self.phase = "External IDs"
        carried = [e for e in self.account.entities
                   if e.xid and self.id_of(e.key) and
                   not (e.kind == "group" and self.by_key.get(e.parent or "") is None)]
        if not carried:
            return
        fid = self.run("addCustomField", {"name": XID_FIELD_DEFAULT, "fieldType": "text"},
                       "custom field External ID")
        if not fid:
            return
        for entity in carried:
            self.run("addCustomFieldValue",
                     {"customFieldId": fid, "entityType": _TYPE[entity.kind],
                      "entityId": self.ids[entity.key], "textValue": entity.xid},
                     f"{entity.kind} {entity.xid}: external id")

    def archived(self) -> None:
        self.phase = "Archived records"
        archive = {"company": "archiveProject", "project": "archiveProject",
                   "subproject": "archiveProject", "person": "archivePerson",
                   "task": "archiveTask", "absence": "archiveAbsenceType"}
        closed = set()
        for entity in self.account.entities:  # v2 lists parents before children
            if not entity.active and entity.kind in archive and self.id_of(entity.key):
                self.run(archive[entity.kind], {"id": self.ids[entity.key]},
                         f"{entity.kind} {entity.xid or entity.name}: archived")
                closed.add(entity.key)
        # archiving a project archives its subprojects (the schema says so); one still
        # active in v2 is brought back, so that each record keeps its own state
        for entity in self.of("project", "subproject"):
            if entity.active and _under(entity, closed, self.by_key) and self.id_of(entity.key):
                self.run("unarchiveProject", {"id": self.ids[entity.key]},
                         f"{entity.kind} {entity.xid or entity.name}: kept active")


def _parents_first(groups: list[LegacyEntity],
                   by_key: Mapping[str, LegacyEntity]) -> list[LegacyEntity]:
    def depth(entity: LegacyEntity) -> int:
        n, seen = 0, {entity.key}
        while entity.parent is not None and entity.parent in by_key \
                and entity.parent not in seen:
            entity = by_key[entity.parent]
            seen.add(entity.key)
            n += 1
        return n
    return sorted(groups, key=depth)


def _under(entity: LegacyEntity, closed: set[str], by_key: Mapping[str, LegacyEntity]) -> bool:
    parent = by_key.get(entity.parent or "")
    while parent is not None:
        if parent.key in closed:
            return True
        parent = by_key.get(parent.parent or "")
    return False


def _arg_types(app: CurrentSandboxApp, mutation: str) -> dict[str, str]:
    mutation_type = app.schema.mutation_type
    assert mutation_type is not None
    return {name: str(arg.type) for name, arg in mutation_type.fields[mutation].args.items()}


def _held(app: CurrentSandboxApp) -> str:
    """What the account holds beyond a new one (its organisation, Admin role and admin)."""
    store = app.store
    counts = {label: sum(1 for _ in store.all(kind)) for kind, label in (
        ("Project", "projects"), ("Tag", "tags"), ("Task", "tasks"),
        ("AbsenceType", "absence types"), ("CustomField", "custom fields"))}
    counts["other people"] = sum(1 for p in store.all("Person")
                                 if p["id"] != store.meta("person"))
    return ", ".join(f"{n} {label}" for label, n in counts.items() if n)


def only_active(account: LegacyAccount) -> tuple[LegacyAccount, tuple[str, ...]]:
    """The account without its inactive people and projects (and what is under those).

    The reference's "Only active entities" option skips archived people and projects;
    other kinds are kept as they are (it names no others).
    """
    by_key = {e.key: e for e in account.entities}
    closed = {e.key for e in account.entities
              if not e.active and e.kind in (*_PROJECT_KINDS, "person")}
    gone = [e for e in account.entities
            if e.key in closed or (e.kind in _PROJECT_KINDS and _under(e, closed, by_key))]
    keys = {e.key for e in gone}
    kept = tuple(e for e in account.entities if e.key not in keys)
    return (LegacyAccount(kept, account.fields),
            tuple(f"{e.kind} {e.xid or e.name}" for e in gone))


def migrate_from_v2(account: LegacyAccount, app: CurrentSandboxApp, *,
                    active_only: bool = False) -> MigrationReport:
    """Build the current account of ``app`` from ``account``, as Beebole's migration does.

    ``active_only``: the reference's "Only active entities" option (archived people
    and projects are not migrated). Raises ``MigrationError`` when this account was
    already migrated (the migration runs once per account, the reference says).
    """
    store = app.store
    org = store.get(store.meta("org"))
    if org is None or org.get("legacyMigrationDone"):
        raise MigrationError("this account was already migrated: Beebole's legacy migration "
                             "runs once per account")
    held = _held(app)
    if held:
        raise MigrationError(f"its current account already holds {held}: Beebole's legacy "
                             "migration fills a new workspace")
    left_out: tuple[str, ...] = ()
    if active_only:
        account, left_out = only_active(account)
    run = _Migration(app, account)
    run.projects()
    run.activities()
    run.absence_types()
    run.groups()
    run.people()
    run.tag_assignments()
    run.team_members()
    run.project_assignments()
    run.custom_values(run.custom_fields())
    run.external_ids()
    run.archived()
    with store.lock:
        org["legacyMigrationDone"] = True
        store.put(org)
    return MigrationReport(
        tuple(PhaseCount(p, run.created[p], run.failed[p]) for p in PHASES),
        tuple(run.skipped), tuple(run.failures), left_out)
