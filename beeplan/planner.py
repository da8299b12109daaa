"""Diff the desired state against the live one: a pure function to a Plan.

A plan is a value: a tuple of actions, each exactly one API call with its
payload and the ids of the actions it depends on. It is rendered,
safety-checked, saved, and applied; nothing here does I/O.

References in payloads use the xid when the entity has one, else its live
id. Beebole accepts an xid wherever it accepts an id, so a payload is final
at plan time even for entities that do not exist yet: an action that
attaches ``person rosa`` works whether rosa was created a second ago or a
year ago.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from . import preflight
from .errors import PlanError
from .model import (
    KIND_ORDER,
    KINDS,
    RELATION_TARGET,
    CustomValue,
    Entity,
    Index,
    Located,
    Loosened,
    Ref,
    Source,
    State,
    entity_key,
    same_custom_value,
)
from .safetext import printable

# "MAJOR.MINOR" (docs/plan-format.md): a minor bump only adds fields, a major one breaks.
PLAN_FORMAT_VERSION = "1.3"
# 1.3 only added ``platform`` (and what a plan of the current platform holds): an API v2
# plan, which has none of it, is still written as 1.2, byte for byte what it was, and
# readable by a beeplan that knows 1.2.
V2_PLAN_FORMAT_VERSION = "1.2"

# Phases of docs/architecture.md (Plan). Additive work first; removals only once it all succeeded.
PHASE_OF_KIND = {kind: i for i, kind in enumerate(KIND_ORDER)}  # groups 0 .. absences 6
PHASE_LEADERS = 7
PHASE_RELATIONS = 8
PHASE_DETACH = 9
PHASE_DEACTIVATE = 10
PHASE_DELETE = 11
FIRST_REMOVAL_PHASE = PHASE_DETACH

# What each operation counts as in the summary line.
CATEGORY = {
    "create": "create",
    "update": "update",
    "set_xid": "update",
    "activate": "update",
    "leaders": "update",
    "set": "update",
    "clear": "detach",
    "enable": "update",
    "disable": "update",
    "attach": "attach",
    "detach": "detach",
    "deactivate": "deactivate",
    "delete": "deactivate",
}
REMOVALS = frozenset({"detach", "deactivate", "delete", "clear"})

# The relation services: (add service suffix, remove service suffix, payload key).
RELATION_SERVICES: dict[str, tuple[str, str, str]] = {
    "groups": ("add_group", "remove_group", "group"),
    "members.people": ("attach_member", "detach_member", "person"),
    "members.groups": ("attach_member", "detach_member", "group"),
    "managers": ("attach_manager", "detach_manager", "person"),
    "specificTasks.tasks": ("attach_specific_task", "detach_specific_task", "task"),
}

# Destruction is guarded per kind, and for these relations per link: stripping
# every member of a project is as harmful as deactivating it, and clearing
# everyone's groups, leaders or custom field values as harmful too.
GUARDED_RELATIONS = (
    "members.people",
    "members.groups",
    "managers",
    "groups",
    "leaders",
    "customFields",
    "specificTasks.tasks",
)
# How a violation names the links of each relation, and what happens to them.
LINK_WORDS = {
    "members.people": ("members.people links", "detached"),
    "members.groups": ("members.groups links", "detached"),
    "managers": ("managers links", "detached"),
    "groups": ("group assignments", "removed"),
    "leaders": ("leader links", "removed"),
    "customFields": ("custom field values", "cleared"),
    "specificTasks.tasks": ("specific task links", "detached"),
}
KNOWN_FIELD_LABELS = frozenset(
    {"Company", "Company - Corporate", "Company - Customer", "Person", "Project", "Subproject"}
)


@dataclass(frozen=True)
class Change:
    field: str
    before: Any
    after: Any


@dataclass(frozen=True)
class Action:
    id: str
    op: str
    kind: str
    target: Ref
    name: str
    service: str
    payload: Mapping[str, Any]
    phase: int
    depends_on: tuple[str, ...] = ()
    changes: tuple[Change, ...] = ()
    relation: str = ""  # the relation an attach/detach/set/clear acts on
    detail: str = ""  # for relations: what is attached/detached

    @property
    def is_create(self) -> bool:
        return self.op == "create"

    @property
    def is_removal(self) -> bool:
        return self.op in REMOVALS


@dataclass(frozen=True)
class Unmanaged:
    ref: Ref
    name: str
    active: bool


@dataclass(frozen=True)
class ChangedBy:
    """Who last changed a live entity the plan found drifted, as the account itself says.

    Display only: shown beside the entity's changes, never part of what the plan does
    (not in its digest, never read by apply). Platforms whose API records authors fill
    it (the current platform: ``lastEdited`` and the audit trail).
    """

    target: Ref
    text: str  # one line: "renamed by Jane Clark (jane@x.com) on 2026-12-01 14:03 UTC"
    person: str | None = None  # the author's name, None when unknown
    email: str | None = None
    at: str | None = None  # when, ISO 8601 UTC ("2026-12-01T14:03:00Z")
    # The audit trail's entries on the entity within the stated bound, newest first, one
    # line each ("2026-12-01 14:03 UTC editProjectName by Jane Clark: name=Web").
    operations: tuple[str, ...] = ()


@dataclass(frozen=True)
class Provenance:
    """What a plan was made from besides the account: the manifests, how much of them.

    Apart from the actions so that a plan's "what" and its "from where" read
    separately: the planner records what the manifests say (``of``), the plan
    use case the files they came from (``from_files``) and a ``--changed-since``
    plan its base (``narrowed``); the saved plan writes it all and ``apply``
    checks the manifests at hand against it (beeplan.planfile.verify).
    """

    manifest_path: str = ""  # the manifests it was made from, as given on the command line
    manifest_digest: str = ""  # and their digest (see beeplan.planfile.verify.manifest_digest)
    # The environment variables the manifests' ${NAME} read, with their value
    # (None: unset, defaults used); the manifest digest covers them.
    variables: Mapping[str, str | None] = field(default_factory=dict)
    # Every manifest path, in order, when several sets were merged (the first is manifest_path).
    manifest_paths: tuple[str, ...] = ()
    targeted: str = ""  # --changed-since BASE: only what changed since BASE was read and planned
    targeted_entries: int = 0  # and how many manifest entries changed since BASE
    # Settings of the manifests looser than the defaults: every rendering says them first.
    loosened: tuple[Loosened, ...] = ()

    @classmethod
    def of(cls, desired: State) -> Provenance:
        """What the manifests themselves say: the variables they read, their loosened settings."""
        return cls(variables=dict(desired.variables), loosened=desired.settings.loosened())

    def from_files(self, paths: Sequence[str], digest: str) -> Provenance:
        """The same, made from the manifest files ``paths`` (in order) of digest ``digest``."""
        return replace(self, manifest_path=paths[0], manifest_digest=digest,
                       manifest_paths=tuple(paths) if len(paths) > 1 else ())

    def narrowed(self, base: str, entries: int) -> Provenance:
        """The same, for a plan of only the ``entries`` changed since ``base``."""
        return replace(self, targeted=base, targeted_entries=entries)

    @property
    def paths(self) -> tuple[str, ...]:
        """The manifest path(s) recorded, in order."""
        return self.manifest_paths or ((self.manifest_path,) if self.manifest_path else ())


@dataclass(frozen=True)
class Plan:
    actions: tuple[Action, ...] = ()
    unmanaged: tuple[Unmanaged, ...] = ()
    problems: tuple[str, ...] = ()  # changes that cannot be made in place
    warnings: tuple[str, ...] = ()
    fingerprints: Mapping[str, str] = field(default_factory=dict)
    read_relations: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    destroy_violations: tuple[str, ...] = ()
    read_calls: int = 0  # API calls spent reading the account to make this plan
    prune: bool = False  # settings.prune of the manifests it was made from
    # Under prune: kinds the manifests hold no key for, and how many live
    # entities of each that leaves alone (None: not read, so not counted).
    unmanaged_kinds: Mapping[str, int | None] = field(default_factory=dict)
    provenance: Provenance = field(default_factory=Provenance)
    # Who changed each drifted entity outside beeplan (display only; empty: not looked up,
    # so every rendering reads as it always did), and one line each on how far that
    # lookup could see ("the account's plan has no audit trail...").
    changed_by: tuple[ChangedBy, ...] = ()
    changed_by_notes: tuple[str, ...] = ()
    # The platform the plan is for, when not API v2 ("current"): its kinds, text ids and
    # services are that platform's, and apply verifies it with that platform's planner.
    platform: str = ""

    @property
    def empty(self) -> bool:
        return not self.actions

    def counts(self) -> dict[str, int]:
        out = {"create": 0, "update": 0, "attach": 0, "detach": 0, "deactivate": 0}
        for action in self.actions:
            out[_category(action)] += 1
        return out

    @property
    def leaves_kinds_alone(self) -> bool:
        """Under prune, whether some kind with live entities is not managed."""
        return any(count != 0 for count in self.unmanaged_kinds.values())


def _category(action: Action) -> str:
    """The summary's word for an action: a person.update that only drops leaders removes."""
    if action.op == "leaders" and action.changes:
        before, after = set(action.changes[0].before or ()), set(action.changes[0].after or ())
        if after < before:
            return "detach"
        if before < after:
            return "attach"
    return CATEGORY[action.op]


def removed_links(action: Action) -> int:
    """How many links (members, groups, leaders, values...) an action removes."""
    if action.op in ("detach", "clear"):
        return 1
    if action.op == "leaders" and action.changes:
        return len(set(action.changes[0].before or ()) - set(action.changes[0].after or ()))
    return 0


def fingerprint(entity: Entity | None, relations: Iterable[str] = ()) -> str:
    """A hash of what the plan assumed about a live entity (absent, or its state)."""
    if entity is None:
        doc: Any = None
    else:
        doc = {
            "id": entity.ref.id,
            "xid": entity.ref.xid,
            "name": entity.name,
            "active": entity.active,
            "parent": _ref_json(entity.parent),
            "fields": {k: entity.fields[k] for k in sorted(entity.fields)},
            "relations": {
                rel: _relation_json(entity.relations.get(rel)) for rel in sorted(set(relations))
            },
        }
    raw = json.dumps(doc, sort_keys=True, default=str).encode()
    return hashlib.sha256(raw).hexdigest()[:16]


def plan_digest(plan: Plan) -> str:
    """A short hash of everything a plan would do and checks, shown by every rendering.

    A reviewer matches the digest in the PR comment with the one ``apply``
    prints for the plan file it was given: equal digests, same plan.
    """
    doc = {
        "actions": [
            [
                a.id,
                a.op,
                [a.target.kind, a.target.xid, a.target.id],
                a.name,
                a.service,
                a.payload,
                a.phase,
                list(a.depends_on),
                [[c.field, c.before, c.after] for c in a.changes],
                a.relation,
                a.detail,
            ]
            for a in plan.actions
        ],
        "fingerprints": dict(plan.fingerprints),
        "read_relations": {k: sorted(v) for k, v in plan.read_relations.items()},
        "manifests": plan.provenance.manifest_digest,
    }
    variables = plan.provenance.variables
    if variables:  # absent without variables: digests of older plans stay the same
        doc["variables"] = dict(sorted(variables.items()))
    if plan.platform:  # likewise: a v2 plan's digest is what it always was
        doc["platform"] = plan.platform
    raw = json.dumps(doc, sort_keys=True, ensure_ascii=False, default=str, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()[:12]


def _ref_json(ref: Ref | None) -> Any:
    return None if ref is None else ref.id if ref.id is not None else ref.xid


def _relation_json(value: Any) -> Any:
    if isinstance(value, (set, frozenset)):
        return sorted(str(_ref_json(r)) for r in value)
    return value


# ---------------------------------------------------------------------------
# The action factory: one function from what an action means to the call it makes


class GoneProblem(Located):
    """An entity adopted by ``id:`` that the account no longer has.

    Deleted outside beeplan, most likely: nothing can be written for it (the
    API creates no entity with a given id), so the plan is refused as for any
    problem, while ``check`` reports it as drift (exit 2), not as an error:
    the account changed, the manifests did not.
    """


def gone_problem(want: Entity, desired: State) -> GoneProblem:
    """What to say about ``want`` (declared by id) missing from the account: how to
    recreate it, how to let it go, and the references that name it."""
    slug = re.sub(r"[^a-z0-9]+", "-", want.name.casefold()).strip("-")[:40] or want.kind
    refs = sorted({
        str(e.source) if e.source else f"{e.kind} {e.ref.label}"
        for e in desired.entities
        if e.parent == want.ref or any(
            want.ref in v for v in e.relations.values() if isinstance(v, frozenset))
    })
    also = (f", and name it by that xid where {{id: {want.ref.id}}} refers to it "
            f"({', '.join(refs)})" if refs else "")
    return GoneProblem(
        f"{want.kind} #{want.ref.id}{_where(want)} is adopted by id, but the account has no "
        f"{want.kind} with id {want.ref.id}: it was deleted outside beeplan (or the id is "
        f"wrong). To recreate it, replace `id: {want.ref.id}` with an xid (e.g. `xid: "
        f"{slug}`){also}; to stop managing it, remove the entry",
        want.source,
    )


def only_drift(problems: Iterable[str]) -> bool:
    """Whether every problem is the account having changed (drift for ``check``)."""
    found = list(problems)
    return bool(found) and all(isinstance(p, GoneProblem) for p in found)


class ActionError(ValueError):
    """A meaning the planner never turns into an action (so no plan file may hold it)."""


DELETE_DETAIL = "force: also removes its assignments"
_PLAIN_LABEL = re.compile(r'[^\s"#()][^\s"()]*')


def label_text(ref: Ref) -> str:
    """An entity's label as plans print it, readable back by ``parse_label``.

    ``#12`` is a live id; an xid is printed as is, or JSON-quoted when it could
    be mistaken for an id or run into the text around it (spaces, quotes).
    """
    if ref.xid is None:
        return f"#{ref.id}"
    return ref.xid if _PLAIN_LABEL.fullmatch(ref.xid) else json.dumps(ref.xid, ensure_ascii=False)


def parse_label(kind: str, text: Any) -> Ref:
    """The reference a ``label_text`` stands for."""
    if not isinstance(text, str) or not text:
        raise ActionError(f"{text!r} is not a {kind} label")
    if text.startswith("#") and text[1:].isdigit() and int(text[1:]) > 0:
        return Ref(kind, id=int(text[1:]))
    if text.startswith('"'):
        try:
            xid = json.loads(text)
        except ValueError:
            xid = None
        if not isinstance(xid, str) or not xid:
            raise ActionError(f"{text!r} is not a {kind} label")
        return Ref(kind, xid=xid)
    if not _PLAIN_LABEL.fullmatch(text):
        raise ActionError(f"{text!r} is not a {kind} label")
    return Ref(kind, xid=text)


def link_detail(relation: str, op: str, other: Ref, other_name: str | None = None) -> str:
    """What an attach/detach shows: ``members.people += person rosa (Rosa Diaz)``."""
    sign = "+=" if op == "attach" else "-="
    name = f" ({other_name})" if other_name is not None else ""
    return f"{relation} {sign} {other.kind} {label_text(other)}{name}"


def parse_link_detail(relation: str, op: str, detail: str) -> Ref:
    """The entity an attach/detach links, read back from the detail it shows."""
    kind = RELATION_TARGET.get(relation)
    prefix = f"{relation} {'+=' if op == 'attach' else '-='} {kind} "
    if kind is None or not detail.startswith(prefix):
        raise ActionError(f"its detail does not read '{prefix}<label>'")
    rest = detail[len(prefix) :]
    if rest.startswith('"'):
        try:
            xid, end = json.JSONDecoder().raw_decode(rest)
        except ValueError:
            raise ActionError(f"its detail has a malformed label: {rest!r}") from None
        label, tail = json.dumps(xid, ensure_ascii=False), rest[end:]
    else:
        label, _, tail = rest.partition(" ")
        tail = f" {tail}" if tail else ""
    if tail and not (tail.startswith(" (") and tail.endswith(")")):
        raise ActionError("its detail has text after the label")
    other = parse_label(kind, label)
    if label_text(other) != label:
        raise ActionError(f"its detail's label {label} is not written as beeplan writes it")
    return other


def action_phase(op: str, kind: str) -> int:
    """The phase an operation on a kind runs in: creates by kind, then links, then removals."""
    if op in ("create", "update", "set_xid", "activate"):
        return PHASE_OF_KIND[kind]
    return {
        "leaders": PHASE_LEADERS,
        "attach": PHASE_RELATIONS,
        "set": PHASE_RELATIONS,
        "enable": PHASE_RELATIONS,
        "disable": PHASE_RELATIONS,
        "detach": PHASE_DETACH,
        "clear": PHASE_DETACH,
        "deactivate": PHASE_DEACTIVATE,
        "delete": PHASE_DELETE,
    }[op]


def build_action(
    op: str,
    kind: str,
    target: Ref,
    name: str,
    *,
    relation: str = "",
    detail: str = "",
    changes: Iterable[Change] = (),
    depends_on: Iterable[str] = (),
    custom_field_ids: Mapping[str, int] | None = None,
) -> Action:
    """The one action (id, service, payload, phase) that an operation on an entity means.

    The planner makes every action with this function, and ``apply`` rebuilds
    each action of a saved plan with it: what a plan file shows (op, target,
    name, relation, detail, changes) is then exactly what is sent. A meaning
    the planner never produces raises ``ActionError``; so no service outside
    the planner's vocabulary can run from a file. The platform's action
    factory builds it (API v2: beeplan/platforms/v2/actions.py).
    """
    # Imported on use: the registry loads the platform, whose factory uses this module.
    from .platforms import default

    return default().build_action(
        op, kind, target, name, relation=relation, detail=detail, changes=changes,
        depends_on=depends_on, custom_field_ids=custom_field_ids,
    )


# ---------------------------------------------------------------------------
# The planner: one shared draft, then one pass per phase over it
#
#   _Entities   each declared entity exists as declared (create, update, xid, (de)activate)
#   _Relations  each declared relation holds as declared (links, leaders, custom fields)
#   _prune      what the manifests do not name: listed, or removed under prune
#   _removal_order, _with_preflight   dependencies between removals; the API's own checks
#   _assumptions                      what a saved plan checks of the live account
#
# Each pass reads the states and adds to the draft; none calls another.


class _Draft:
    """What every phase shares: both states, indexes on them, and the plan so far."""

    def __init__(self, desired: State, live: State):
        self.desired = desired
        self.live = live
        self.index = Index(live)
        self.desired_index = Index(State(entities=desired.entities))
        self.custom_field_ids = {cf.name: cf.id for cf in live.custom_fields}
        self.actions: list[Action] = []
        self.ids: set[str] = set()
        self.problems: list[str] = []
        self.warnings: list[str] = []
        # Per entity token: the action that makes it exist and active, if any.
        self.readiness: dict[tuple[str, str, Any], str] = {}
        # What the plan saw of each entity it may act on: fingerprinted if it does.
        self.seen: dict[str, Entity | None] = {}

    def add(self, action: Action) -> Action:
        if action.id in self.ids:  # the same call planned twice would be a planner bug
            raise AssertionError(f"duplicate action id {action.id}")
        self.actions.append(action)
        self.ids.add(action.id)
        return action

    def act(self, op: str, want: Entity, target: Ref, **meaning: Any) -> Action:
        """Add the one call that ``op`` on ``target`` means (see ``build_action``)."""
        return self.add(
            build_action(
                op, want.kind, target, want.name, custom_field_ids=self.custom_field_ids, **meaning
            )
        )

    def ready_deps(self, *refs: Ref | None) -> tuple[str, ...]:
        """The actions that must run before anything may reference these entities."""
        deps = []
        for ref in refs:
            if ref is None:
                continue
            dep = self.readiness.get(self.index.token(ref))
            if dep is not None:
                deps.append(dep)
        return tuple(dict.fromkeys(deps))

    def touch(self, live_entity: Entity | None, ref: Ref) -> None:
        self.seen.setdefault(entity_key(live_entity.ref if live_entity else ref), live_entity)

    def deactivate(self, want: Entity, target: Ref) -> None:
        self.act(
            "deactivate",
            want,
            target,
            depends_on=self.ready_deps(want.ref),
            changes=(Change("active", True, False),),
        )

    def describe(self, ref: Ref) -> str:
        hit = self.index.find(ref) or self.desired_index.find(ref)
        return f"{ref.kind} {self.index.best(ref).label}" + (f" ({hit.name})" if hit else "")

    def name_of(self, ref: Ref) -> str | None:
        hit = self.index.find(ref) or self.desired_index.find(ref)
        return hit.name if hit else None


# (declared entity, its live counterpart or None when created, the reference actions use)
_Placed = tuple[Entity, Entity | None, Ref]


class _Entities:
    """Each declared entity made to exist as declared, kind by kind (``KIND_ORDER``).

    Groups come parents first and people leaders first, so that what a
    create references is made ready by an action planned before it.
    """

    def __init__(self, draft: _Draft):
        self.draft = draft
        # Every entity planned, for the relations pass that follows.
        self.placed: list[_Placed] = []
        # New people whose leaders went into their person.create (no leaders update).
        self.leaders_in_create: set[Any] = set()

    def run(self) -> None:
        for kind in KIND_ORDER:
            wanted = [e for e in self.draft.desired.entities if e.kind == kind]
            if kind == "group":
                wanted = _parents_first(wanted)
            elif kind == "person":
                wanted = _leaders_first(wanted)
            for entity in wanted:
                self.plan(entity)

    def plan(self, want: Entity) -> None:
        have = self.draft.index.find(want.ref)
        if have is not None:
            self.reconcile(want, have)
        elif want.ref.xid is not None:
            self.create(want)
        elif want.kind in self.draft.live.complete_kinds:
            # Only a complete read proves an id gone (not offline, not a partial read).
            self.draft.problems.append(gone_problem(want, self.draft.desired))

    def create(self, want: Entity) -> None:
        draft = self.draft
        target = draft.index.best(want.ref)
        draft.touch(None, want.ref)
        leaders = self.leaders_at_create(want)
        if leaders is not None:
            self.leaders_in_create.add(draft.index.token(want.ref))
        action = draft.act(
            "create",
            want,
            want.ref,
            depends_on=draft.ready_deps(want.parent, *(leaders or ())),
            changes=self.creation(want, leaders),
        )
        draft.readiness[draft.index.token(want.ref)] = action.id
        if not want.active:
            draft.deactivate(want, target)
        self.placed.append((want, None, target))

    def creation(self, want: Entity, leaders: list[Ref] | None) -> tuple[Change, ...]:
        """What a create sets: name, parent, fields, leaders (when they fit), invite."""
        changes = [Change("name", None, want.name)]
        if want.parent is not None and want.spec.parent_field:
            parent = label_text(self.draft.index.best(want.parent))
            changes.append(Change(want.spec.parent_field, None, parent))
        changes += [Change(k, None, v) for k, v in want.fields.items()]
        if leaders is not None:
            changes.append(Change("leaders", [], [label_text(r) for r in leaders]))
        if want.invite:
            changes.append(Change("invite", None, True))
        return tuple(changes)

    def leaders_at_create(self, want: Entity) -> list[Ref] | None:
        """A new person's leaders, when all of them can go in its ``person.create``.

        The reference's ``person.create`` takes ``leaders``: that saves the
        ``person.update`` of each new person with leaders. Every leader must
        exist already or be made ready by an action planned before (people are
        planned leaders first); otherwise the leaders stay a later update.
        """
        index = self.draft.index
        wanted = want.relations.get("leaders") if want.kind == "person" else None
        if not wanted:
            return None
        for ref in wanted:
            if index.token(ref) not in self.draft.readiness and index.find(ref) is None:
                return None
        return _sorted_refs(index.best(r) for r in wanted)

    def reconcile(self, want: Entity, have: Entity) -> None:
        """An entity the account has: its xid, place, fields and active flag as declared."""
        draft = self.draft
        target = draft.index.best(want.ref)
        draft.touch(have, want.ref)
        if (want.name == have.name and want.active == have.active and want.parent == have.parent
                and (want.new_xid is None or want.new_xid == have.ref.xid)
                and (not want.fields or want.fields == have.fields)):
            # As declared in all it manages (every stub of a targeted plan, most entries of
            # a full one): what the checks below would find, without their lookups.
            self.placed.append((want, have, target))
            return
        if want.new_xid is not None and want.new_xid != have.ref.xid:
            self.new_xid(want, have, target)
        if want.parent is not None and have.parent is not None:
            if draft.index.token(want.parent) != draft.index.token(have.parent):
                draft.problems.append(self.moved(want, have.parent, want.parent, target))
        changes = _field_changes(want, have)
        if changes:
            if want.invite and any(c.field == "email" for c in changes):
                changes.append(Change("invite", None, True))
            draft.act(
                "update",
                want,
                target,
                depends_on=draft.ready_deps(want.parent),
                changes=tuple(changes),
            )
        if want.spec.has_active and want.active and not have.active:
            action = draft.act(
                "activate",
                want,
                target,
                depends_on=draft.ready_deps(want.parent),
                changes=(Change("active", False, True),),
            )
            draft.readiness[draft.index.token(want.ref)] = action.id
        elif want.spec.has_active and not want.active and have.active:
            draft.deactivate(want, target)
        self.placed.append((want, have, target))

    def moved(self, want: Entity, was: Ref, now: Ref, target: Ref) -> Located:
        return Located(
            f"{want.kind} {target.label}{_where(want)}: moving it from "
            f"{self.draft.describe(was)} to {self.draft.describe(now)} is "
            "impossible in place (the Beebole API has no service for it). Keep it "
            "where it is, or deactivate it and declare a new one with another xid.",
            want.source,
        )

    def new_xid(self, want: Entity, have: Entity, target: Ref) -> None:
        """``id: N`` with ``xid: X``: give live entity N the xid X, unless X is taken."""
        xid = want.new_xid
        assert xid is not None
        where = _where(want)
        holder = self.draft.index.by_xid.get((want.kind, xid))
        if have.ref.xid is not None:
            self.draft.problems.append(
                Located(
                    f"{want.kind} #{have.ref.id}{where} already has xid {have.ref.xid!r}; beeplan "
                    f"does not change an xid (other systems may know it). Write "
                    f"xid: {have.ref.xid}, or drop xid: {xid}.",
                    want.source,
                )
            )
        elif holder is not None:
            self.draft.problems.append(
                Located(
                    f"{want.kind} #{have.ref.id}{where}: xid {xid!r} is already held by "
                    f"{want.kind} #{holder.ref.id} ({holder.name}); choose another xid for it",
                    want.source,
                )
            )
        else:
            self.draft.act("set_xid", want, target, changes=(Change("xid", None, xid),))


_PLAIN = (str, bool, int, type(None))


def _field_changes(want: Entity, have: Entity) -> list[Change]:
    """The fields (and name) whose declared value differs from the live one."""
    before = {"name": have.name}
    after = {"name": want.name}
    for key, value in want.fields.items():
        # A field the live account did not report cannot be compared; leave it alone.
        if key in have.fields:
            before[key] = have.fields[key]
            after[key] = value
    if before == after:  # the common case; DeepDiff costs ~1 ms an entity
        return []
    if all(type(before[k]) is type(after[k]) and type(after[k]) in _PLAIN for k in after):
        # Texts, booleans, whole numbers of one type each side: DeepDiff would name the
        # keys that differ by ==, so no import of it (0.05 s) for a renamed project.
        return [Change(k, before[k], after[k]) for k in sorted(after) if before[k] != after[k]]
    from deepdiff import DeepDiff  # here: commands that plan nothing do not import it

    diff = DeepDiff(before, after, ignore_order=True, view="tree")
    changed = sorted(
        {level.path(output_format="list")[0] for levels in diff.values() for level in levels}
    )
    return [Change(k, before.get(k), after.get(k)) for k in changed]


class _Relations:
    """Each declared relation made to hold as declared, once every entity's pass is done.

    By then the action that makes each entity exist and active is known, so
    an attach can depend on it.
    """

    def __init__(self, draft: _Draft, leaders_in_create: set[Any]):
        self.draft = draft
        self.leaders_in_create = leaders_in_create
        self.custom_field_labels = {cf.name: cf.available_for for cf in draft.live.custom_fields}

    def run(self, placed: Iterable[_Placed]) -> None:
        for want, have, target in placed:
            self.plan(want, have, target)

    def plan(self, want: Entity, have: Entity | None, target: Ref) -> None:
        live_rel = have.relations if have is not None else {}
        for rel in want.spec.relations:
            if rel not in want.relations:
                continue
            wanted = want.relations[rel]
            current = live_rel.get(rel)
            if rel == "customFields":
                self.custom_fields(want, target, wanted, current or {})
            elif rel == "specificTasks.enabled":
                self.specific_enabled(want, target, wanted, current, have is None)
            elif rel == "leaders":
                self.leaders(want, target, wanted, current or frozenset())
            else:
                self.links(want, target, rel, wanted, current or frozenset())

    def links(
        self, want: Entity, target: Ref, rel: str, wanted: frozenset[Ref], current: frozenset[Ref]
    ) -> None:
        index = self.draft.index
        want_tokens = {index.token(r): r for r in wanted}
        have_tokens = {index.token(r): r for r in current}

        def order(tok: tuple[str, str, Any]) -> tuple[str, int, str]:
            # By xid when there is one, whether or not its live id is known, so a
            # targeted plan (which knows fewer ids) lists links in the full plan's order.
            ref = index.best(want_tokens.get(tok) or have_tokens[tok])
            return (ref.xid or "", ref.id or 0, str(tok))

        for tok in sorted(set(want_tokens) - set(have_tokens), key=order):
            self.link("attach", want, target, rel, want_tokens[tok])
        for tok in sorted(set(have_tokens) - set(want_tokens), key=order):
            self.link("detach", want, target, rel, have_tokens[tok])

    def link(self, op: str, want: Entity, target: Ref, rel: str, other: Ref) -> None:
        draft = self.draft
        draft.act(
            op,
            want,
            target,
            # A detach needs nothing first: removals wait for the additive phase anyway.
            depends_on=draft.ready_deps(want.ref, other) if op == "attach" else (),
            relation=rel,
            detail=link_detail(rel, op, draft.index.best(other), draft.name_of(other)),
        )

    def leaders(
        self, want: Entity, target: Ref, wanted: frozenset[Ref], current: frozenset[Ref]
    ) -> None:
        index = self.draft.index
        if index.token(want.ref) in self.leaders_in_create:
            return
        if {index.token(r) for r in wanted} == {index.token(r) for r in current}:
            return
        leaders = _sorted_refs(index.best(r) for r in wanted)
        before = sorted(label_text(index.best(r)) for r in current)
        self.draft.act(
            "leaders",
            want,
            target,
            depends_on=self.draft.ready_deps(want.ref, *wanted),
            changes=(Change("leaders", before, [label_text(r) for r in leaders]),),
            relation="leaders",
        )

    def custom_fields(
        self,
        want: Entity,
        target: Ref,
        wanted: Mapping[str, CustomValue],
        current: Mapping[str, CustomValue],
    ) -> None:
        # An empty text is no value: the account reads it as unset, so setting
        # it would be planned again on every run. Declaring it clears the field.
        wanted = {name: value for name, value in wanted.items() if value != ""}
        for name in sorted(set(wanted) | set(current)):
            refused = self.refused_field(want, target, name) if name in wanted else None
            if refused is not None:
                self.draft.problems.append(refused)
            elif name in self.draft.custom_field_ids:  # an unknown one is left alone
                self.custom_value(want, target, name, wanted, current)

    def refused_field(self, want: Entity, target: Ref, name: str) -> Located | None:
        """Why ``name`` cannot be set on this entity: unknown, or not available for it."""
        where = f"{want.kind} {target.label}{_where(want)}"
        if name not in self.draft.custom_field_ids:
            known = ", ".join(sorted(self.draft.custom_field_ids)) or "none"
            return Located(
                f"{where}: unknown custom field {name!r}; the account defines: {known}",
                want.source,
            )
        if not self.available(name, want):
            return Located(
                f"{where}: custom field {name!r} is not available for this {want.kind} (the "
                f"account makes it available for: {self.custom_field_labels[name]})",
                want.source,
            )
        return None

    def custom_value(
        self,
        want: Entity,
        target: Ref,
        name: str,
        wanted: Mapping[str, CustomValue],
        current: Mapping[str, CustomValue],
    ) -> None:
        """Set a declared value that differs from the live one; clear an undeclared one."""
        change = Change(f"customFields.{name}", current.get(name), wanted.get(name))
        if name in wanted and (
            name not in current or not same_custom_value(wanted[name], current[name])
        ):
            self.draft.act(
                "set",
                want,
                target,
                depends_on=self.draft.ready_deps(want.ref),
                changes=(change,),
                relation="customFields",
            )
        elif name not in wanted and name in current:
            self.draft.act("clear", want, target, changes=(change,), relation="customFields")

    def available(self, name: str, want: Entity) -> bool:
        """Whether custom field ``name`` applies to this entity, as far as the account says.

        ``availableFor`` lists labels such as ``Person`` or ``Company - Customer``
        (companies split by ``corporate``). Unknown labels or an unknown
        corporate flag give the benefit of the doubt: the API has the last word.
        """
        labels = {p.strip() for p in self.custom_field_labels.get(name, "").split(",") if p.strip()}
        if not labels or not labels & KNOWN_FIELD_LABELS:
            return True
        mine = {want.kind.capitalize()}
        if want.kind == "company":
            have = self.draft.index.find(want.ref)
            corporate = want.fields.get("corporate", have.fields.get("corporate") if have else None)
            if corporate is None:
                return bool(labels & {"Company", "Company - Corporate", "Company - Customer"})
            mine.add("Company - Corporate" if corporate else "Company - Customer")
        return bool(labels & mine)

    def specific_enabled(
        self, want: Entity, target: Ref, wanted: bool, current: bool | None, new: bool
    ) -> None:
        # Specific tasks are enabled by default: a new entity needs no call to enable them.
        live_value = True if new else current
        if live_value is None or live_value == wanted:
            return
        self.draft.act(
            "enable" if wanted else "disable",
            want,
            target,
            depends_on=self.draft.ready_deps(want.ref),
            changes=(Change("specificTasks.enabled", live_value, wanted),),
            relation="specificTasks.enabled",
        )


def _prune(draft: _Draft) -> list[Unmanaged]:
    """Live entities of a managed kind that no manifest entry names.

    Without prune they are listed and left alone; under prune they are
    deactivated, and stray groups (which have no active flag) deleted,
    children first.
    """
    kinds = draft.desired.managed_kinds()
    claimed = {draft.index.token(e.ref) for e in draft.desired.entities}
    strays = [
        have
        for have in draft.live.entities
        if have.kind in kinds and draft.index.token(have.ref) not in claimed
    ]
    if not draft.desired.settings.prune:
        return [Unmanaged(e.ref, e.name, e.active) for e in strays]
    for stray in strays:
        if stray.kind != "group" and stray.active:
            draft.touch(stray, stray.ref)
            draft.deactivate(stray, stray.ref)
    for group in reversed(_parents_first([e for e in strays if e.kind == "group"])):
        draft.touch(group, group.ref)
        # force: its assignments to unmanaged entities go with it; the plan says so.
        draft.act(
            "delete",
            group,
            group.ref,
            changes=(Change("exists", True, False),),
            detail=DELETE_DETAIL,
        )
    return []  # pruned: none of them is left alone


def _unmanaged_kinds(desired: State, live: State) -> dict[str, int | None]:
    """Under prune, the kinds left alone for want of a key, with their live counts."""
    if not desired.settings.prune:
        return {}
    managed = desired.managed_kinds()
    return {
        kind: sum(1 for _ in live.of_kind(kind))
        if kind in live.complete_kinds
        else live.kind_counts.get(kind)
        for kind in KIND_ORDER
        if kind not in managed
    }


def _removal_order(
    actions: list[Action], index: Index, entities: Iterable[Entity]
) -> list[Action]:
    """Deactivate children before parents; delete child groups before parents."""
    removal = {index.token(a.target): a.id for a in actions if a.op in ("deactivate", "delete")}
    if not removal:
        return actions  # nothing to order (and no token of every entity to make for it)
    children: dict[Any, list[str]] = defaultdict(list)
    for entity in entities:
        token = index.token(entity.ref)
        if entity.parent is not None and token in removal:
            child_action = removal[token]
            bucket = children[index.token(entity.parent)]
            if child_action not in bucket:
                bucket.append(child_action)
    return [
        _replace_deps(a, tuple(dict.fromkeys((*a.depends_on, *children[index.token(a.target)]))))
        if a.op in ("deactivate", "delete") and children.get(index.token(a.target))
        else a
        for a in actions
    ]


def _with_preflight(draft: _Draft) -> None:
    """Problems the API would answer with, replacements to warn about, and the order
    between actions that the API's own checks need."""
    found = preflight.check(draft.desired, draft.live, draft.index, draft.actions)
    draft.problems += found.problems
    draft.warnings += found.warnings
    draft.actions = [
        _replace_deps(a, tuple(dict.fromkeys((*a.depends_on, *found.depends[a.id]))))
        if a.id in found.depends
        else a
        for a in draft.actions
    ]


def _assumptions(
    actions: Iterable[Action], seen: Mapping[str, Entity | None]
) -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
    """What a saved plan checks against the live state of what it acts on: each
    target's fields (fingerprints), and the relations its actions change."""
    relations: dict[str, set[str]] = {}
    for action in actions:
        rels = relations.setdefault(entity_key(action.target), set())
        if action.relation:
            rels.add(action.relation)
    fingerprints = {key: fingerprint(seen.get(key), rels) for key, rels in relations.items()}
    read_relations = {key: tuple(sorted(rels)) for key, rels in relations.items()}
    return fingerprints, read_relations


def _build(desired: State, live: State) -> Plan:
    """The phases in order: entities, their relations, strays, removal order, preflight."""
    draft = _Draft(desired, live)
    entities = _Entities(draft)
    entities.run()
    _Relations(draft, entities.leaders_in_create).run(entities.placed)
    unmanaged = _prune(draft)
    draft.actions = _removal_order(
        draft.actions, draft.index, (*live.entities, *desired.entities)
    )
    _with_preflight(draft)
    actions = sorted(draft.actions, key=lambda a: (a.phase, _kind_rank(a.kind)))
    fingerprints, read_relations = _assumptions(actions, draft.seen)
    return Plan(
        actions=tuple(actions),
        unmanaged=tuple(unmanaged),
        problems=tuple(draft.problems),
        warnings=tuple(draft.warnings),
        fingerprints=fingerprints,
        read_relations=read_relations,
        prune=desired.settings.prune,
        unmanaged_kinds=_unmanaged_kinds(desired, live),
        provenance=Provenance.of(desired),
    )


def make_plan(
    desired: State, live: State, read_calls: int = 0, owed: frozenset[str] = frozenset()
) -> Plan:
    """Compare ``desired`` with ``live`` and return the actions that reconcile them.

    ``owed`` names entities (``entity_key``) that an earlier apply created and
    still has to deactivate: finishing that is not counted as destruction.
    """
    plan = _build(desired, live)
    plan = _evolve(plan, read_calls=read_calls)
    return _with_safety(plan, live, desired, owed)


def with_safety(plan: Plan, live: State, desired: State, owed: frozenset[str]) -> Plan:
    """The plan with its safety-threshold violations computed from ``live`` (not read from it)."""
    return _with_safety(plan, live, desired, owed)


def require_possible(plan: Plan) -> None:
    if plan.problems:
        # Problems quote live names: escaped, so none can rewrite the terminal.
        lines = "\n".join(f"  - {printable(p)}" for p in plan.problems)
        raise PlanError(f"the plan has {len(plan.problems)} impossible change(s):\n{lines}")


# ---------------------------------------------------------------------------
# Safety


def _with_safety(plan: Plan, live: State, desired: State, owed: frozenset[str]) -> Plan:
    managed_kinds = desired.managed_kinds()
    safety = desired.settings.safety
    destroyed: dict[str, int] = defaultdict(int)
    removed: dict[tuple[str, str], int] = defaultdict(int)
    # An entity the plan creates inactive (create, then deactivate) destroys nothing.
    # So is finishing one an earlier, interrupted apply created, while the
    # manifests still declare it inactive (pruning it still counts).
    declared_inactive = {entity_key(e.ref) for e in desired.entities if not e.active}
    created = {entity_key(a.target) for a in plan.actions if a.op == "create"}
    created |= owed & declared_inactive
    for action in plan.actions:
        if action.op in ("deactivate", "delete") and entity_key(action.target) not in created:
            destroyed[action.kind] += 1
        elif action.relation in GUARDED_RELATIONS:
            removed[(action.kind, action.relation)] += removed_links(action)
    # Only what some removal is a share of: with none, no ratio (>= 0) is exceeded, and the
    # live state is not walked (a targeted plan counts 18,000 entries at 10,000 people).
    live_counts: dict[str, int] = defaultdict(int)
    counted = {kind for kind, count in destroyed.items() if count} & managed_kinds
    if counted:
        for entity in live.entities:
            if entity.kind in counted:
                live_counts[entity.kind] += 1
    links = _managed_links(live, {key for key, count in removed.items() if count})
    found: list[dict[tuple[str, str], Source | None]] = []

    def first() -> dict[tuple[str, str], Source | None]:
        if not found:  # only for a refusal: it indexes every declared entry
            found.append(_first_sources(plan, desired))
        return found[0]

    violations = []
    for kind in KIND_ORDER:
        count = destroyed.get(kind, 0)
        if safety.for_kind(kind).exceeded(count, live_counts.get(kind, 0)):
            violations.append(Located(
                f"{count} of {live_counts.get(kind, 0)} {KINDS[kind].plural} would be "
                f"{'deleted' if kind == 'group' else 'deactivated'}",
                first().get((kind, "")),
            ))
    for (kind, rel), count in sorted(removed.items()):
        total = links.get((kind, rel), 0)
        if safety.for_kind(kind).exceeded(count, total):
            what, verb = LINK_WORDS[rel]
            violations.append(
                Located(f"{count} of {total} {kind} {what} would be {verb}",
                        first().get((kind, rel)))
            )
    return _evolve(plan, destroy_violations=tuple(violations))


def _managed_links(
    live: State, only: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], int]:
    """(kind, relation) -> the live links of the guarded relations, for the pairs ``only``.

    The managed links: those the live reader read, i.e. of the entities whose
    manifest entry holds the relation's key.
    """
    links: dict[tuple[str, str], int] = defaultdict(int)
    wanted: dict[str, list[str]] = defaultdict(list)
    for kind, rel in only:
        if rel in GUARDED_RELATIONS:
            wanted[kind].append(rel)
    if not wanted:
        return links
    for entity in live.entities:
        for rel in wanted.get(entity.kind, ()):
            value = entity.relations.get(rel)
            if value:
                links[(entity.kind, rel)] += len(value)
    return links


def _first_sources(plan: Plan, desired: State) -> dict[tuple[str, str], Source | None]:
    """(kind, relation or "" for removals) -> where a refusal of it is shown.

    A refusal is shown on the first declared entry it counts (a pruned entity has none).
    """
    declared = {entity_key(e.ref): e.source for e in desired.entities}
    first: dict[tuple[str, str], Source | None] = {}
    for action in plan.actions:
        if action.op in ("deactivate", "delete"):
            counted = (action.kind, "")
        elif action.relation in GUARDED_RELATIONS and removed_links(action):
            counted = (action.kind, action.relation)
        else:
            continue
        if first.get(counted) is None:
            first[counted] = declared.get(entity_key(action.target))
    return first


# ---------------------------------------------------------------------------
# Small pure helpers


def _where(entity: Entity) -> str:
    """`` (file:line)`` of a desired entity, for problem messages."""
    return f" ({entity.source})" if entity.source else ""


def _kind_rank(kind: str) -> int:
    return PHASE_OF_KIND[kind]


def _parents_first(groups: list[Entity]) -> list[Entity]:
    """Order groups so that a parent comes before its children (stable otherwise)."""
    by_key = {}
    for g in groups:
        for key in ((g.ref.xid, None), (None, g.ref.id)):
            if key != (None, None):
                by_key[key] = g
    depths: dict[int, int] = {}

    def depth(g: Entity) -> int:
        seen = set()
        d, node = 0, g
        while node.parent is not None and id(node) not in seen:
            seen.add(id(node))
            parent = by_key.get((node.parent.xid, None)) if node.parent.xid else None
            parent = parent or by_key.get((None, node.parent.id))
            if parent is None:
                break
            d, node = d + 1, parent
        return d

    for g in groups:
        depths[id(g)] = depth(g)
    return sorted(groups, key=lambda g: depths[id(g)])


def _sorted_refs(refs: Iterable[Ref]) -> list[Ref]:
    return sorted(refs, key=lambda r: (r.xid or "", r.id or 0))


def _leaders_first(people: list[Entity]) -> list[Entity]:
    """Order people so that a declared leader comes before those it leads (stable otherwise).

    A new person's leaders can then go in its create. A leader cycle (allowed,
    with a warning) is cut where first met: those leaders come in a later update.
    """
    by_key: dict[tuple[str | None, int | None], Entity] = {}
    for person in people:
        if person.ref.xid is not None:
            by_key[(person.ref.xid, None)] = person
        if person.ref.id is not None:
            by_key[(None, person.ref.id)] = person
    out: list[Entity] = []
    placed: set[int] = set()
    for root in people:
        if not root.relations.get("leaders"):
            # No leaders to place first (most people; every stub of a targeted plan):
            # what the walk below would do for it, without its stack and sets.
            if id(root) not in placed:
                placed.add(id(root))
                out.append(root)
            continue
        # Depth first without recursion: leader chains may be long.
        stack: list[tuple[Entity, bool]] = [(root, False)]
        on_path: set[int] = set()
        while stack:
            person, expanded = stack.pop()
            if id(person) in placed:
                continue
            if expanded:
                on_path.discard(id(person))
                placed.add(id(person))
                out.append(person)
                continue
            if id(person) in on_path:
                continue  # a cycle: cut here
            on_path.add(id(person))
            stack.append((person, True))
            for leader in reversed(_sorted_refs(person.relations.get("leaders") or ())):
                key = (leader.xid, None) if leader.xid is not None else (None, leader.id)
                found = by_key.get(key)
                if found is not None and id(found) not in placed and id(found) not in on_path:
                    stack.append((found, False))
    return out


def _replace_deps(action: Action, deps: tuple[str, ...]) -> Action:
    return replace(action, depends_on=deps)


def _evolve(plan: Plan, **changes: Any) -> Plan:
    return replace(plan, **changes)
