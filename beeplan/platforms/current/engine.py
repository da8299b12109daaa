"""The current platform's ``Engine``: what the core calls to plan and apply a current set,
and to verify a saved plan of one."""

from __future__ import annotations

import time
import weakref
from collections.abc import Collection, Sequence
from dataclasses import replace
from typing import Any

from ...applier import Outcome, ProgressCallback
from ...errors import Problem
from ...hours import AccountUsage
from ...localfiles.journal import Journal
from ...localfiles.lastrun import LastRun, read_last_run, record_run
from ...model import Ref, entity_key
from ...planner import Plan, only_drift
from ...setdiff import SetDiff
from ..base import EngineOptions, EnginePlan
from . import applied
from .apply import apply_actions
from .authors import since_last
from .client import Budget, CurrentClient
from .desired import Desired, load_desired
from .diffing import diff_desired
from .graphing import current_graph
from .lookups import apply_cost, operations_listed, with_authors, with_hours
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
        # When that read started, on the API's clock (ms): a successful apply of its plan
        # is recorded as the account's last run from then (``localfiles/lastrun.py``).
        self._started: weakref.WeakKeyDictionary[CurrentClient, int] = (
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
        live, started = self._read_account(client, desired)
        plan = make_plan(desired, live, client.usage.total_requests - before)
        if options.since_label:
            plan = _targeted(plan, desired, live, options)
        plan, usage = with_hours(client, plan, options.usage_days,
                                 desired.settings.safety.refuse_in_use, options.max_calls)
        if options.authors:
            last = read_last_run(client.account_key)
            since = since_last(last.command if last else None, last.at_ms if last else None,
                               client.server_now_ms())
            plan = with_authors(client, plan, options.max_calls, since=since)
        if _recorded(plan, options):
            record_run(client.account_key, LastRun(options.record_as, started))
        return EnginePlan(plan, usage)

    def _read_account(self, client: CurrentClient, desired: Desired) -> tuple[LiveAccount, int]:
        """The account (kept for the apply that follows), and when the read started on
        the API's clock: the answer's Date tells the clock, so it is taken after."""
        local = time.time()
        live = read_account(client, xid_field=desired.settings.xid_field)
        started = int(local * 1000) + client.clock_skew_ms
        self._read[client] = live
        self._started[client] = started
        return live, started

    def verify_saved(self, client: CurrentClient, saved: Plan, desired: Desired,
                     source: str) -> Plan:
        """What is left to run of a saved plan, as the planner makes it now from its
        manifests and one fresh read (``saved.verified_rest``); refuses an edited or
        stale plan. Makes no mutation."""
        before = client.usage.total_requests
        live, _ = self._read_account(client, desired)  # apply starts from it, as after a plan
        fresh = make_plan(desired, live, client.usage.total_requests - before)
        # The safety threshold of what is left, from this read: never the file's verdict.
        return with_safety(verified_rest(saved, fresh, live, source), desired, live)

    def apply(self, client: CurrentClient, plan: Plan, desired: Desired, parallelism: int,
              progress: ProgressCallback | None) -> Outcome:
        # The journal records each create before it is sent, so a run stopped between a
        # create and its External ID label is finished by the next one, never duplicated.
        started = self._started.pop(client, None)
        outcome = apply_actions(client, plan.actions, xid_field=desired.settings.xid_field,
                                batch_size=desired.settings.batch_size,
                                parallelism=parallelism, progress=progress,
                                journal=Journal.for_account(client.account_key),
                                live=self._read.pop(client, None))
        # Done whole: the account matches the manifests as of the read, so the next check
        # lists the audit trail from then (a stopped or failed apply leaves it as it was).
        if started is not None and outcome.ok and not outcome.interrupted:
            record_run(client.account_key, LastRun("apply", started))
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


def _recorded(plan: Plan, options: EngineOptions) -> bool:
    """Whether this run is now the account's last check or apply (``localfiles/lastrun.py``).

    A check that exits 0 or 2 and showed the operations behind its drift (or found
    none): the next one lists what happened since. Not a plan (read only), a targeted
    check (``--changed-since`` compared part of the manifests), a check with problems
    (exit 1), nor one whose author lookup was skipped (``--no-authors``; ``--max-calls``
    too small for it) or failed: those operations were never listed, so the next run
    lists them. ``--max-calls`` alone does not stop it: this platform reads the whole
    account in its one request. An apply whose plan is empty matches already; any other
    is recorded by ``apply`` when done whole. Pure."""
    if plan.problems and not only_drift(plan.problems):
        return False
    if options.record_as == "check":
        return not options.since_label and operations_listed(plan)
    return options.record_as == "apply" and not plan.actions and not plan.problems


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
