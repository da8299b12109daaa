"""What a current-platform plan looks up beyond the read, and what a run may spend.

The planner is pure (``plan.py``); this module adds to its ``Plan`` what needs more
requests, each counted and said: who changed each drifted entity (``authors.py``,
0 or 2 requests), the hours behind each archive (``hours.py``, 0 or 1) with
``settings.safety.refuseInUse`` as on v2, and a ``--max-calls`` limit, under which a
lookup that does not fit is skipped and said, never half made. Also what an apply
costs in requests (layers x batches: checked against the batched apply, the example set
costs exactly the estimate), so ``apply --max-calls`` refuses before writing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from math import ceil

from ...hours import UsageReport
from ...model import Ref, entity_key
from ...planner import Action, Plan
from ...usage import with_usage
from . import applied
from .authors import (
    AUDIT_UNREAD,
    AUTHOR_KINDS,
    NOT_LISTED,
    PER_REQUEST,
    Authors,
    Drifted,
    Since,
    look_up_authors,
)
from .client import CurrentClient
from .hours import archives_in, bounds_ms, look_up_hours
from .kinds import VALUE_ENTITY_TYPES, XID_FIELD_DEFAULT


def drifted_in(plan: Plan) -> dict[Drifted, Ref]:
    """The live entities the plan changes (anything but a create), by their live id. Pure."""
    out: dict[Drifted, Ref] = {}
    for action in plan.actions:
        target = action.target
        if action.op == "activate" and action.detail:
            continue  # unarchived after its parent's archive: the plan's doing, not drift
        if action.op != "create" and target.id is not None and target.kind in AUTHOR_KINDS:
            out.setdefault(Drifted(target.kind, str(target.id)), target)
    return out


def operations_listed(plan: Plan) -> bool:
    """Whether the plan shows who changed each entity it changes, with the audit trail's
    operations as far as the account and the key allow (or nothing drifted): then a
    check may become the account's last one, the start of the next check's listing.
    A lookup skipped (``--no-authors``, ``--max-calls``) or failed did not. Pure."""
    targets = drifted_in(plan)
    if not targets:
        return True
    shown = {c.target for c in plan.changed_by}
    return (all(ref in shown for ref in targets.values())
            and not any(note.startswith(NOT_LISTED) for note in plan.changed_by_notes))


def author_requests(count: int) -> int:
    """Requests the author lookup of ``count`` entities takes (audit trail included)."""
    return 2 * ceil(count / PER_REQUEST) if count else 0


def left(client: CurrentClient, max_calls: int | None) -> int | None:
    """Requests this run may still send under ``--max-calls`` (None: no limit)."""
    return None if max_calls is None else max(0, max_calls - client.usage.total_requests)


def with_authors(client: CurrentClient, plan: Plan, max_calls: int | None = None,
                 off_hint: str = "--no-authors", since: Since | None = None) -> Plan:
    """The plan with who changed each drifted entity beside it, and what that cost;
    ``since``: how far back the audit trail is listed (``authors.since_last``)."""
    targets = drifted_in(plan)
    if not targets:
        return plan  # nothing drifted: no request, and the rendering reads as it always did
    need = author_requests(len(targets))
    room = left(client, max_calls)
    if room is not None and max_calls is not None and room < need:
        note = (f"not looked up: it takes {need} requests and --max-calls {max_calls} leaves "
                f"{room}; raise --max-calls to {max_calls - room + need} to see who changed "
                "them")
        return replace(plan, changed_by_notes=(*plan.changed_by_notes, note))
    found = look_up_authors(client, targets, since=since)
    cost = (f"looked up in {found.requests} request{'' if found.requests == 1 else 's'} for "
            f"{len(targets)} entit{'y' if len(targets) == 1 else 'ies'} ({off_hint} skips it)")
    marks = applied.last_applied(client.account_key)
    shown, own = _outside(found, targets, marks)
    notes = found.notes
    if own:
        notes = (*notes, f"{own} of them {'was' if own == 1 else 'were'} last changed by "
                 "beeplan's own apply from this machine, and not since: what the plan "
                 "changes there comes from the manifests")
    # The audit trail's operations since beeplan's last apply of each entity, when known.
    listed = Authors({e: applied.since_apply(a, marks.get(entity_key(targets[e])))
                      for e, a in found.found.items()}, found.notes, found.requests)
    if any(len(listed.found[e].entries) < len(a.entries) for e, a in found.found.items()
           if e in shown):
        notes = (*notes, "the operations listed are those since beeplan's last apply from "
                 "this machine that changed the entity")
    return replace(plan, changed_by=listed.changed_by(shown),
                   changed_by_notes=(*notes, cost),
                   read_calls=plan.read_calls + found.requests)


def _outside(found: Authors, targets: Mapping[Drifted, Ref],
             applied_at: Mapping[str, int]) -> tuple[dict[Drifted, Ref], int]:
    """The targets whose author line stays, and how many were beeplan's own apply."""
    audit_read = not any(n.startswith(AUDIT_UNREAD) for n in found.notes)
    now = applied.now_ms()
    shown = {e: ref for e, ref in targets.items()
             if not applied.is_beeplans_own(found.found.get(e),
                                            applied_at.get(entity_key(ref)), audit_read, now)}
    return shown, len(targets) - len(shown)


def with_hours(client: CurrentClient, plan: Plan, days: int, refuse: bool,
               max_calls: int | None = None) -> tuple[Plan, UsageReport | None]:
    """The hours behind each archive (``--usage-days``), and ``refuseInUse`` as on v2:
    an archive with hours, or whose hours are unknown (the lookup turned off, refused,
    or past ``--max-calls``), needs ``--allow-destroy``."""
    archives = archives_in(plan)
    if days <= 0:
        return (_unchecked(plan, len(archives)) if refuse else plan), None
    room = left(client, max_calls)
    if archives and room is not None and room < 1:
        start, end, _, _ = bounds_ms(days)
        report = UsageReport(days, start, end,
                             not_looked_up=tuple(entity_key(a.target) for a in archives),
                             notes=(f"hours not looked up: --max-calls {max_calls} leaves no "
                                    "request for it (it takes 1); raise --max-calls by 1",))
    else:
        report = look_up_hours(client, archives, days)
    return with_usage(plan, report, refuse), report


def _unchecked(plan: Plan, archives: int) -> Plan:
    """``refuseInUse`` with ``--usage-days 0``: archives not checked for hours are refused."""
    if not archives:
        return plan
    return replace(plan, destroy_violations=(
        *plan.destroy_violations,
        f"{archives} archive{'' if archives == 1 else 's'} not checked for hours "
        "(--usage-days 0), and settings.safety.refuseInUse is on"))


@dataclass(frozen=True)
class ApplyCost:
    """The requests an apply sends: its mutation documents, and the reads around them."""

    layers: int
    documents: int
    reads: int = 1  # a re-read of the account, should an answer be lost (to settle it)

    @property
    def requests(self) -> int:
        return self.documents + self.reads


def apply_cost(actions: Sequence[Action], batch_size: int,
               xid_field: str = XID_FIELD_DEFAULT) -> ApplyCost:
    """About the requests apply.py sends: the actions whose dependencies ran form a layer,
    sent in documents of ``batch_size``; archives and removals run after the rest; each
    labelled create (an entity with an xid) waits for the xid field's create, and its xid
    goes out with the next layer (in documents of its own after the last). Pure."""
    field = next((a.id for a in actions if a.op == "create" and a.service == "addCustomField"
                  and a.payload.get("name") == xid_field), None)
    removals = [a for a in actions if a.is_removal]
    additive = [a for a in actions if not a.is_removal]
    documents = 0
    labels = 0  # xids of the previous layer's creates, sent with this layer
    layers = _layers(additive, field)
    for layer in layers:
        documents += ceil((len(layer) + labels) / batch_size)
        labels = sum(1 for a in layer if _labelled(a))
    documents += ceil(labels / batch_size)
    after = _layers(removals, None)
    documents += sum(ceil(len(layer) / batch_size) for layer in after)
    return ApplyCost(len(layers) + len(after), documents, 1 if actions else 0)


def _labelled(action: Action) -> bool:
    return (action.op == "create" and action.kind in VALUE_ENTITY_TYPES
            and action.target.xid is not None)


def _layers(actions: Sequence[Action], field: str | None) -> list[list[Action]]:
    ids = {a.id for a in actions}
    depth: dict[str, int] = {}
    by_id: Mapping[str, Action] = {a.id: a for a in actions}

    def needs(action: Action) -> tuple[str, ...]:
        extra = (field,) if field is not None and _labelled(action) else ()
        return (*action.depends_on, *extra)

    def of(action: Action, seen: frozenset[str] = frozenset()) -> int:
        if action.id not in depth:
            deps = [d for d in needs(action) if d in ids and d not in seen and d != action.id]
            depth[action.id] = 1 + max((of(by_id[d], seen | {action.id}) for d in deps),
                                       default=-1)
        return depth[action.id]

    out: list[list[Action]] = []
    for action in actions:
        level = of(action)
        while len(out) <= level:
            out.append([])
        out[level].append(action)
    return [layer for layer in out if layer]
