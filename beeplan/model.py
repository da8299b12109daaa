"""The desired and the live state, as the same small frozen types.

The manifest loader fills a ``State`` from YAML; the live reader fills one
from the API. The planner compares the two like with like.

Vocabulary follows the Beebole API: kinds are ``company``, ``project``,
``subproject``, ``task``, ``group``, ``person``, ``absence``; an entity is
known by its ``xid`` (external id) and/or its live ``id``.

Relations are flattened to one name per API read/write pair, so the planner
can treat them uniformly:

=====================  ==========================  ===============================
relation               value                        services
=====================  ==========================  ===============================
groups                 frozenset[Ref] (groups)      X.add_group / X.remove_group
members.people         frozenset[Ref] (people)      X.attach_member / X.detach_member
members.groups         frozenset[Ref] (groups)      X.attach_member / X.detach_member
managers               frozenset[Ref] (people)      project.attach_manager / detach
leaders                frozenset[Ref] (people)      person.update {leaders: [...]}
customFields           dict[name, CustomValue]      X.set/clear_custom_field_value
specificTasks.enabled  bool                         X.enable/disable_specific_tasks
specificTasks.tasks    frozenset[Ref] (tasks)       X.attach/detach_specific_task
=====================  ==========================  ===============================

A relation name absent from ``Entity.relations`` is not managed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

KIND_ORDER = ("group", "company", "task", "project", "subproject", "person", "absence")

USER_GROUPS = ("admin", "contractor", "employee", "pm", "leader")


@dataclass(frozen=True)
class KindSpec:
    kind: str
    plural: str  # the list response key, and the manifest's top-level key
    parent_kind: str | None  # the kind of the entity this one hangs under
    parent_field: str | None  # the payload key holding that reference
    fields: tuple[str, ...]  # optional scalar fields beeplan manages when present
    relations: tuple[str, ...]
    has_active: bool = True


KINDS: dict[str, KindSpec] = {
    spec.kind: spec
    for spec in (
        KindSpec("group", "groups", "group", "parent", (), (), has_active=False),
        KindSpec(
            "company",
            "companies",
            None,
            None,
            ("corporate",),
            (
                "groups",
                "members.people",
                "members.groups",
                "customFields",
                "specificTasks.enabled",
                "specificTasks.tasks",
            ),
        ),
        KindSpec("task", "tasks", "company", "company", (), ("groups",)),
        KindSpec(
            "project",
            "projects",
            "company",
            "company",
            ("startDate", "description"),
            (
                "groups",
                "members.people",
                "members.groups",
                "managers",
                "customFields",
                "specificTasks.enabled",
                "specificTasks.tasks",
            ),
        ),
        KindSpec(
            "subproject",
            "subprojects",
            "project",
            "project",
            (),
            (
                "groups",
                "members.people",
                "members.groups",
                "customFields",
                "specificTasks.enabled",
                "specificTasks.tasks",
            ),
        ),
        KindSpec(
            "person",
            "people",
            "company",
            "company",
            ("email", "userGroup"),
            ("leaders", "groups", "customFields"),
        ),
        KindSpec("absence", "absences", "company", "company", (), ("groups",)),
    )
}

# Which kind each relation's members are.
RELATION_TARGET: dict[str, str | None] = {
    "groups": "group",
    "members.people": "person",
    "members.groups": "group",
    "managers": "person",
    "leaders": "person",
    "customFields": None,
    "specificTasks.enabled": None,
    "specificTasks.tasks": "task",
}


@dataclass(frozen=True, order=True)
class Ref:
    """A reference to an entity: by external id, by live id, or (live) both.

    Two refs denote the same entity when their xids are equal, or, failing an
    xid on either side, their ids are.
    """

    kind: str
    xid: str | None = None
    id: int | None = None

    def __post_init__(self) -> None:
        if self.xid is None and self.id is None:
            raise ValueError(f"a {self.kind} reference needs an xid or an id")

    def payload(self) -> dict[str, Any]:
        """The API's reference object: ``{"xid": ...}`` when known, else ``{"id": ...}``."""
        return {"xid": self.xid} if self.xid is not None else {"id": self.id}

    @property
    def label(self) -> str:
        return self.xid if self.xid is not None else f"#{self.id}"

    def __str__(self) -> str:
        return f"{self.kind} {self.label}"


@dataclass(frozen=True)
class Source:
    """Where a desired entity was declared, for error messages."""

    file: str
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


class Located(str):
    """A message about a manifest entry that also remembers where the entry is declared.

    It is a plain ``str`` to everything that prints, joins or saves it (the
    plan's problems and warnings are text); ``beeplan.annotations`` reads
    ``source`` to put the message on that line in a pull request.
    """

    source: Source | None

    def __new__(cls, text: str, source: Source | None = None) -> Located:
        located = super().__new__(cls, text)
        located.source = source
        return located


@dataclass(frozen=True)
class Entity:
    """One company, project, subproject, task, group, person or absence type.

    ``fields`` holds only the optional scalars that are managed (desired) or
    were read (live). ``relations`` likewise holds only managed/read relations.
    """

    kind: str
    ref: Ref
    name: str
    parent: Ref | None = None
    active: bool = True
    fields: Mapping[str, Any] = field(default_factory=dict)
    relations: Mapping[str, Any] = field(default_factory=dict)
    invite: bool = False  # person only: send the email invitation on create/update
    # Desired only: an entry with both ``id: N`` and ``xid: X`` is the live entity
    # N (its ref is by id), which is to be given xid X (a "set xid" action).
    new_xid: str | None = None
    source: Source | None = field(default=None, compare=False)

    @property
    def spec(self) -> KindSpec:
        return KINDS[self.kind]

    def with_relations(self, **updates: Any) -> Entity:
        merged = dict(self.relations)
        merged.update(updates)
        return replace(self, relations=merged)


_ENTITY_FIELDS = frozenset(Entity.__dataclass_fields__)


def new_entity(**values: Any) -> Entity:
    """``Entity(**values)``, every field given, at a third of the CPU.

    The frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``;
    Entity has no ``__post_init__`` to skip (tests/test_loader_fast_paths.py). The
    loader makes one per entry: 18,000 at 10,000 people.
    """
    assert values.keys() == _ENTITY_FIELDS, sorted(values.keys() ^ _ENTITY_FIELDS)
    entity: Entity = object.__new__(Entity)
    entity.__dict__.update(values)
    return entity


CustomValue = str | bool | int | float


def same_custom_value(a: Any, b: Any) -> bool:
    """Whether two custom field values mean the same: booleans compare with
    booleans, numbers by value (1.5 and 1.50), text as text. A value of one
    type never equals one of another (the text "false" is not false, and
    Python's True == 1 must not hide a change).
    """
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) or isinstance(b, (int, float)):
        return isinstance(a, (int, float)) and isinstance(b, (int, float)) and a == b
    return type(a) is type(b) and bool(a == b)


def same_relation(name: str, a: Any, b: Any) -> bool:
    """Whether two values of relation ``name`` mean the same: custom field values
    by meaning (Python's ``==`` takes true for 1), everything else as equal."""
    if name == "customFields" and isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(same_custom_value(a[k], b[k]) for k in a)
    return bool(a == b)


@dataclass(frozen=True)
class CustomField:
    id: int
    name: str
    available_for: str = ""


@dataclass(frozen=True)
class Threshold:
    """When removals are too many: more than ``ratio`` of the managed ones, and at least ``min``."""

    ratio: float = 0.10
    min: int = 3

    def exceeded(self, count: int, total: int) -> bool:
        return count >= self.min and count > self.ratio * max(total, 1)


@dataclass(frozen=True)
class Safety:
    """``settings.safety``: the threshold for every kind, and per-kind overrides.

    A kind's override also guards the links of that kind's entities (a
    person's groups, leaders and custom field values).
    """

    default: Threshold = Threshold()
    kinds: Mapping[str, Threshold] = field(default_factory=dict)
    refuse_in_use: bool = False  # refuseInUse: deactivating what has recent hours is refused

    def for_kind(self, kind: str) -> Threshold:
        return self.kinds.get(kind, self.default)


@dataclass(frozen=True)
class Loosened:
    """A setting of the manifests that makes apply remove more, or more readily, than
    beeplan's defaults: every rendering of a plan states these first, for the reviewer."""

    setting: str  # as written in the manifests: settings.safety.kinds.person.min
    value: Any
    default: Any


@dataclass(frozen=True)
class Settings:
    prune: bool = False
    safety: Safety = Safety()
    # settings.platform (None: any) and where it is set, for the mismatch's message.
    platform: str | None = None
    platform_at: str = ""

    def loosened(self) -> tuple[Loosened, ...]:
        """What is looser than the defaults: prune on, a higher safety ratio or minimum.

        A kind's own threshold is listed where it is looser than the defaults
        and differs from the global one (which, listed itself, covers the
        kinds that inherit it). ``refuseInUse`` is off by default, so turning
        it off loosens nothing; stricter values are not listed.
        """
        base = Threshold()
        out = [Loosened("settings.prune", True, False)] if self.prune else []
        glob = self.safety.default
        if glob.ratio > base.ratio:
            out.append(Loosened("settings.safety.ratio", glob.ratio, base.ratio))
        if glob.min > base.min:
            out.append(Loosened("settings.safety.min", glob.min, base.min))
        for kind, rule in sorted(self.safety.kinds.items()):
            if rule.ratio > base.ratio and rule.ratio != glob.ratio:
                out.append(Loosened(f"settings.safety.kinds.{kind}.ratio", rule.ratio, base.ratio))
            if rule.min > base.min and rule.min != glob.min:
                out.append(Loosened(f"settings.safety.kinds.{kind}.min", rule.min, base.min))
        return tuple(out)


@dataclass(frozen=True)
class State:
    """A whole account, desired or live: entities per kind, in a stable order."""

    entities: tuple[Entity, ...] = ()
    settings: Settings = Settings()
    custom_fields: tuple[CustomField, ...] = ()
    # Desired: kinds whose key the manifests hold, even as an empty list
    # (``absences: []``): managed like kinds that have entries.
    declared_kinds: frozenset[str] = frozenset()
    # Live: kinds whose every entity was read, so an id missing here is
    # missing from the account (a partial or offline state has none).
    complete_kinds: frozenset[str] = frozenset()
    # Desired: manifest warnings a plan repeats among its own (custom field values
    # YAML reads otherwise than written), each on its manifest line.
    notes: tuple[str, ...] = ()
    # Live: kinds counted from their parents' answers (``subprojects.count``)
    # without being listed: how many exist, not which.
    kind_counts: Mapping[str, int] = field(default_factory=dict)
    # Desired: the environment variables the manifests' ``${NAME}`` read, with
    # their value (None: unset, the defaults written in the manifests were used).
    variables: Mapping[str, str | None] = field(default_factory=dict)

    def managed_kinds(self) -> frozenset[str]:
        """The kinds the manifests manage: declared, or with at least one entry."""
        return self.declared_kinds | {e.kind for e in self.entities}

    def of_kind(self, kind: str) -> Iterator[Entity]:
        return (e for e in self.entities if e.kind == kind)

    def counts(self) -> dict[str, int]:
        out = {kind: 0 for kind in KIND_ORDER}
        for entity in self.entities:
            out[entity.kind] += 1
        return out


class Index:
    """Finds live entities by xid or id; gives each reference a comparable token."""

    def __init__(self, live: State):
        self.by_xid: dict[tuple[str, str], Entity] = {}
        self.by_id: dict[tuple[str, int], Entity] = {}
        for entity in live.entities:
            if entity.ref.xid is not None:
                self.by_xid[(entity.kind, entity.ref.xid)] = entity
            if entity.ref.id is not None:
                self.by_id[(entity.kind, entity.ref.id)] = entity

    def find(self, ref: Ref | None) -> Entity | None:
        if ref is None:
            return None
        if ref.xid is not None:
            hit = self.by_xid.get((ref.kind, ref.xid))
            if hit is not None:
                return hit
        if ref.id is not None:
            return self.by_id.get((ref.kind, ref.id))
        return None

    def token(self, ref: Ref) -> tuple[str, str, Any]:
        """Equal tokens denote the same entity, whether it exists yet or not."""
        hit = self.find(ref)
        if hit is not None and hit.ref.id is not None:
            return (ref.kind, "id", hit.ref.id)
        if ref.xid is not None:
            return (ref.kind, "xid", ref.xid)
        return (ref.kind, "id", ref.id)

    def best(self, ref: Ref) -> Ref:
        """The fullest reference known: the live one (id and xid) when it exists."""
        hit = self.find(ref)
        return hit.ref if hit is not None else ref


def entity_key(ref: Ref) -> str:
    """A stable string key for an entity in plan files: ``company:acme`` or ``company:#233``."""
    return f"{ref.kind}:{ref.label}"
