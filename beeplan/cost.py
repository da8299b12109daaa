"""What applying a plan costs against the daily quota, and the part of it that fits.

Beebole counts requests and KB (request + answer bodies) per user and day.
A plan's cost is known before any call: one request per action, the bytes
of its payload plus a small answer; a saved plan adds its freshness re-reads
(one get per touched entity and one listing per relation service it checks).
An entity to create is checked absent more cheaply where it can be: not at all
when its parent is created by the same run (nothing can hang under an entity
that did not exist), and by one listing of its parent's children when an
earlier slice of the plan created that parent (``listed``: what is under it is
what the plan made there, plus anything added by hand since, so the listing is
small and one call checks every child the slice creates under it).

``select_slice`` picks a dependency-closed part of a plan that fits a budget:
every action in it has its dependencies in it (or already done), and
removals come only once every additive action is in, as the applier would
run them. Re-running from the manifests afterwards continues (what was
applied is no longer planned); a saved plan continues through
``sliced.SavedProgress``.
"""

from __future__ import annotations

import heapq
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TypeVar

from .dag import Dag, is_removal
from .model import KINDS, entity_key
from .planner import Action, ActionError, Plan, parse_label
from .platforms import default as default_platform

V = TypeVar("V")

# What a write's answer weighs, about: {"status": "ok", "id": 1234, "xid": "..."}.
ANSWER_BYTES = 48
# A get of one entity, request and answer (a person with its fields, a project).
GET_BYTES = 420
# One relation listing of one entity, request and answer (a few references).
LISTING_BYTES = 260
# custom_field.list, request and answer: a saved plan that sets custom field values
# re-reads it once, to check the field ids it sends.
FIELD_LIST_BYTES = 600
# A listing of one parent's children (person.list of a company, subproject.list of a
# project), request and envelope, plus each child it shows (a person with its fields).
CHILD_LIST_BYTES = 200
CHILD_ENTRY_BYTES = 220


@dataclass(frozen=True)
class Cost:
    calls: int = 0
    bytes: int = 0

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.calls + other.calls, self.bytes + other.bytes)

    @property
    def kb(self) -> float:
        return self.bytes / 1024


def action_cost(action: Action) -> Cost:
    body = json.dumps({"service": action.service, **action.payload}, ensure_ascii=False)
    return Cost(1, len(body.encode("utf-8")) + ANSWER_BYTES)


def fresh_cost(relations: Iterable[str]) -> Cost:
    """The re-read of one touched entity by a freshness check: a get and its listings."""
    # Plans do not record their platform; the default one's (API v2) are the only
    # plans there are, so its listing services are the ones a re-read calls.
    service = default_platform().listing_service
    listings = {service[r] for r in relations if r in service}
    return Cost(1 + len(listings), GET_BYTES + LISTING_BYTES * len(listings))


def to_create(plan: Plan) -> set[str]:
    """The entities ``plan`` creates: absent when re-read, so a get with no listing."""
    return {entity_key(a.target) for a in plan.actions if a.is_create}


def parent_key(action: Action) -> str | None:
    """The key of the parent a create puts its entity under, when that kind is listed
    under its parent (``person.list`` of a company...); None otherwise (groups, companies)."""
    spec = KINDS.get(action.kind)
    if spec is None or spec.parent_kind == action.kind:
        return None
    return _parent_of(action)


def _parent_of(action: Action) -> str | None:
    """The key of the entity a create puts its entity under (a group's parent group too)."""
    spec = KINDS.get(action.kind)
    if not action.is_create or spec is None or not spec.parent_field or not spec.parent_kind:
        return None
    for change in action.changes:
        if change.field == spec.parent_field:
            try:
                return entity_key(parse_label(spec.parent_kind, change.after))
            except ActionError:
                return None
    return None


def child_list_cost(children: int) -> Cost:
    """One listing of a parent's children, about ``children`` of them."""
    return Cost(1, CHILD_LIST_BYTES + CHILD_ENTRY_BYTES * children)


class AbsenceChecks:
    """What checking a slice's entities to create absent costs, each the first time.

    ``listed``: parents an earlier slice of the plan created, with how many children
    it made under each (their listing's size, about). One listing per parent covers
    every child the slice creates under it; a parent created in the same run needs no
    check at all; anything else is a get of the entity.
    """

    def __init__(self, listed: Mapping[str, int]) -> None:
        self.listed = listed
        self.made: set[str] = set()  # entities created earlier in this run
        self.lists: set[tuple[str, str]] = set()  # (parent, kind) listings counted already

    def cost(self, create: Action) -> Cost:
        parent = parent_key(create)
        if parent is not None and parent in self.made:
            return Cost()
        if parent is not None and parent in self.listed:
            if (parent, create.kind) in self.lists:
                return Cost()
            return child_list_cost(self.listed[parent])
        return fresh_cost(())

    def add(self, create: Action) -> None:
        self.made.add(entity_key(create.target))
        parent = parent_key(create)
        if parent is not None and parent in self.listed and parent not in self.made:
            self.lists.add((parent, create.kind))


def sets_fields(action: Action) -> bool:
    """Whether a saved plan's freshness check reads custom_field.list for this action."""
    return action.op in ("set", "clear")


def plan_cost(plan: Plan, fresh: bool = False, listed: Mapping[str, int] | None = None) -> Cost:
    """Requests and bytes to apply ``plan`` (with a saved plan's re-reads when ``fresh``;
    ``listed``: see ``AbsenceChecks``)."""
    total = Cost()
    for action in plan.actions:
        total += action_cost(action)
    if fresh:
        creates = {entity_key(a.target): a for a in plan.actions if a.is_create}
        checks = AbsenceChecks(listed or {})
        for action in creates.values():  # in plan order: parents first
            if entity_key(action.target) in plan.read_relations:
                total += checks.cost(action)
            checks.add(action)
        for key, relations in plan.read_relations.items():
            if key not in creates:
                total += fresh_cost(relations)
        if any(sets_fields(a) for a in plan.actions):
            total += Cost(1, FIELD_LIST_BYTES)
    return total


@dataclass(frozen=True)
class Slice:
    plan: Plan  # the part to apply now (the whole plan when it all fits)
    cost: Cost  # its estimated cost, re-reads included when asked for
    left: tuple[Action, ...]  # what stays for a later run

    @property
    def complete(self) -> bool:
        return not self.left


class _Ready:
    """The actions ready to join a slice, families first.

    In plan order, except that what a create puts under an entity the slice just
    created comes right after it (a company's projects and people, a project's
    subprojects): a slice that stops part-way then leaves the children of at most
    one parent to a later run, which must check them absent (``AbsenceChecks``:
    a listing per parent an earlier slice created, nothing under a parent created
    in the same run).
    """

    def __init__(self, plan: Plan, order: Mapping[str, int]) -> None:
        self.plan, self.order = plan, order
        self.heap: list[tuple[int, int]] = []
        self.family: dict[str, int] = {}  # created entity -> where its family sorts

    def push(self, action_id: str) -> None:
        index = self.order[action_id]
        parent = _parent_of(self.plan.actions[index])
        heapq.heappush(self.heap, (self.family.get(parent or "", index), index))

    def pop(self) -> tuple[int, Action]:
        first, index = heapq.heappop(self.heap)
        return first, self.plan.actions[index]

    def chosen(self, first: int, action: Action) -> None:
        if action.is_create:
            self.family[entity_key(action.target)] = first


def select_slice(
    plan: Plan, budget: Cost, fresh: bool = False, listed: Mapping[str, int] | None = None
) -> Slice:
    """The largest dependency-closed part, in ``_Ready``'s order, that fits ``budget``.

    ``budget.calls`` and ``budget.bytes`` bound the slice's writes plus, when
    ``fresh``, the re-reads of the entities it touches (each entity's re-read
    counted with the first action on it; an entity to create priced by
    ``AbsenceChecks`` with ``listed``). Greedy in the plan's order (dependencies
    and phases first), families kept together: it stops at the first action that
    does not fit, so a later run finds the plan's next actions.
    """
    dag = Dag(plan.actions)
    ready = _Ready(plan, dag.order)
    for action_id in dag.ready_at_start():
        ready.push(action_id)
    held: list[str] = []  # ready removals, until every additive action is in
    chosen: set[str] = set()
    reread: set[str] = set()
    fields_read = False
    absent = to_create(plan) if fresh else set()
    checks = AbsenceChecks(listed or {})
    spent = Cost()
    while ready.heap:
        first, action = ready.pop()
        if dag.must_wait(action):
            held.append(action.id)
            continue
        cost = action_cost(action)
        key = entity_key(action.target)
        # A saved plan's entity with no re-read listed (one it created earlier, with
        # only attaches left: planfile/progress.py) costs its writes alone.
        if fresh and key not in reread and key in plan.read_relations:
            # An entity to create is absent (else the check refuses the plan as stale):
            # none of its relations is listed, and its absence may cost nothing.
            cost += (checks.cost(action) if key in absent and action.is_create
                     else fresh_cost(() if key in absent else plan.read_relations[key]))
        if fresh and sets_fields(action) and not fields_read:
            cost += Cost(1, FIELD_LIST_BYTES)
        after = spent + cost
        if after.calls > budget.calls or after.bytes > budget.bytes:
            break
        spent = after
        chosen.add(action.id)
        ready.chosen(first, action)
        if fresh:
            reread.add(key)
            fields_read = fields_read or sets_fields(action)
            if action.is_create:
                checks.add(action)
        dag.settle(action)
        if not is_removal(action) and dag.additive_left == 0:
            for action_id in held:
                ready.push(action_id)
            held.clear()
        for other in dag.done(action.id):
            ready.push(other)
    if len(chosen) == len(plan.actions):
        return Slice(plan, spent, ())
    part = tuple(a for a in plan.actions if a.id in chosen)
    keys = {entity_key(a.target) for a in part}
    sub = replace(
        plan,
        actions=part,
        fingerprints=_only(plan.fingerprints, keys),
        read_relations=_only(plan.read_relations, keys),
    )
    return Slice(sub, spent, tuple(a for a in plan.actions if a.id not in chosen))


def _only(mapping: Mapping[str, V], keys: set[str]) -> dict[str, V]:
    return {k: v for k, v in mapping.items() if k in keys}


def days_needed(cost: Cost, daily: Cost, per_run_reads: Cost, today: Cost) -> int:
    """Days of quota a plan of ``cost`` needs in slices, today's remainder (``today``) first.

    Each later day spends ``per_run_reads`` planning again before it writes:
    the estimate uses this run's reads, a lower bound when the account grows.
    """
    left = Cost(max(0, cost.calls - today.calls), max(0, cost.bytes - today.bytes))
    if left.calls == 0 and left.bytes == 0:
        return 1
    room = Cost(
        max(1, daily.calls - per_run_reads.calls), max(1, daily.bytes - per_run_reads.bytes)
    )
    more = max(math.ceil(left.calls / room.calls), math.ceil(left.bytes / room.bytes))
    return more + (1 if today.calls > 0 and today.bytes > 0 else 0)
