"""The current platform's ``Engine``: what the core calls to plan and apply a current set,
and to verify a saved plan of one."""

from __future__ import annotations

import weakref
from collections.abc import Collection, Sequence
from dataclasses import replace
from typing import Any

from ...applier import Outcome, ProgressCallback
from ...errors import Problem
from ...hours import AccountUsage
from ...localfiles.journal import Journal
from ...model import Ref, entity_key
from ...planner import Plan
from ...setdiff import SetDiff
from ..base import EngineOptions, EnginePlan
from . import applied
from .apply import apply_actions
from .client import Budget, CurrentClient
from .desired import Desired, load_desired
from .diffing import diff_desired
from .graphing import current_graph
from .lookups import apply_cost, with_authors, with_hours
from .plan import make_plan, with_safety
from .reader import LiveAccount, read_account
from .saved import verified_rest
from .targeted import changes, restrict
from .usage import account_usage


class CurrentEngine:
    """Load (offline), plan (one read request, and the lookups asked), apply (batched)."""

    def __init__(self) -> None:
        # The read each client's last plan was made from: apply starts from it (the
        # ids that existed before, so a lost create is told from a look-alike) instead
        # of reading the account a second time.
        self._read: weakref.WeakKeyDictionary[CurrentClient, LiveAccount] = (
            weakref.WeakKeyDictionary())

    def load(self, files: Sequence[tuple[str, Any]], problems: Sequence[Problem]) -> Desired:
        return load_desired(files, problems)

    def plan(self, client: CurrentClient, desired: Desired) -> Plan:
        return self.plan_with(client, desired, EngineOptions()).plan

    def plan_with(self, client: CurrentClient, desired: Desired,
                  options: EngineOptions) -> EnginePlan:
        """The plan; with ``options``: targeted on BASE, the hours behind its archives
        (``refuseInUse`` as on v2), who changed what it changes; within ``max_calls``."""
        if options.max_calls is not None:
            # A hard stop too: no request of this run goes past N, whatever retries happen.
            client.budget = Budget(requests=options.max_calls, bytes=client.budget.bytes)
        before = client.usage.total_requests
        live = read_account(client, xid_field=desired.settings.xid_field)
        self._read[client] = live
        plan = make_plan(desired, live, client.usage.total_requests - before)
        if options.since_label:
            plan = _targeted(plan, desired, live, options)
        plan, usage = with_hours(client, plan, options.usage_days,
                                 desired.settings.safety.refuse_in_use, options.max_calls)
        if options.authors:
            plan = with_authors(client, plan, options.max_calls)
        return EnginePlan(plan, usage)

    def verify_saved(self, client: CurrentClient, saved: Plan, desired: Desired,
                     source: str) -> Plan:
        """What is left to run of a saved plan, as the planner makes it now from its
        manifests and one fresh read (``saved.verified_rest``); refuses an edited or
        stale plan. Makes no mutation."""
        before = client.usage.total_requests
        live = read_account(client, xid_field=desired.settings.xid_field)
        self._read[client] = live  # apply starts from it, as after a plan
        fresh = make_plan(desired, live, client.usage.total_requests - before)
        # The safety threshold of what is left, from this read: never the file's verdict.
        return with_safety(verified_rest(saved, fresh, live, source), desired, live)

    def apply(self, client: CurrentClient, plan: Plan, desired: Desired, parallelism: int,
              progress: ProgressCallback | None) -> Outcome:
        # The journal records each create before it is sent, so a run stopped between a
        # create and its External ID label is finished by the next one, never duplicated.
        outcome = apply_actions(client, plan.actions, xid_field=desired.settings.xid_field,
                                batch_size=desired.settings.batch_size,
                                parallelism=parallelism, progress=progress,
                                journal=Journal.for_account(client.account_key),
                                live=self._read.pop(client, None))
        # What this apply changed, and when it ended: the next plan's author lookup tells
        # beeplan's own last edit from a change made outside it (applied.py).
        applied.record(client.account_key, (entity_key(a.target) for a in outcome.applied),
                       applied.now_ms())
        return outcome


    def apply_requests(self, plan: Plan, desired: Desired) -> tuple[int, str]:
        cost = apply_cost(plan.actions, desired.settings.batch_size,
                          desired.settings.xid_field)
        return cost.requests, (
            f"{cost.layers} layer{'' if cost.layers == 1 else 's'} of mutations in "
            f"documents of at most {desired.settings.batch_size} (settings.batchSize), the "
            "xids of new entities going with the next layer, and a re-read should an "
            "answer be lost")

    def usage(self, client: CurrentClient, desired: Desired, days: int,
              max_calls: int | None = None) -> AccountUsage:
        return account_usage(client, desired, days, max_calls=max_calls)

    def diff(self, old: Desired | None, new: Desired) -> SetDiff:
        return diff_desired(old, new)

    def graph(self, desired: Desired, fmt: str, *, only: Collection[Ref] | None = None,
              max_nodes: int = 300, leaders: bool = False) -> str:
        return current_graph(desired, fmt, only=only, max_nodes=max_nodes, leaders=leaders)


def _targeted(plan: Plan, desired: Desired, live: Any, options: EngineOptions) -> Plan:
    """``--changed-since``: the plan restricted to what changed, or a full one saying why."""
    label = options.since_label
    why = options.since_unusable
    if not why and options.since is None:
        why = f"there are no manifests at {label}"
    found = None
    if not why:
        found = changes(options.since, desired, label)
        why = "; ".join(found.full_reasons)
    if why or found is None:
        return replace(plan, warnings=(*plan.warnings,
                                       f"{why}: this is a full plan, not a targeted one"))
    return with_safety(restrict(plan, found, label), desired, live)
