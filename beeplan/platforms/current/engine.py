"""The current platform's ``Engine``: what the core calls to plan and apply a current set,
and to verify a saved plan of one."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...applier import Outcome, ProgressCallback
from ...errors import Problem
from ...planner import Plan
from .apply import apply_actions
from .client import CurrentClient
from .desired import Desired, load_desired
from .plan import make_plan, with_safety
from .reader import read_account
from .saved import verified_rest


class CurrentEngine:
    """Load (offline), plan (one read request), apply (batched mutations)."""

    def load(self, files: Sequence[tuple[str, Any]], problems: Sequence[Problem]) -> Desired:
        return load_desired(files, problems)

    def plan(self, client: CurrentClient, desired: Desired) -> Plan:
        before = client.usage.total_requests
        live = read_account(client, xid_field=desired.settings.xid_field)
        return make_plan(desired, live, client.usage.total_requests - before)

    def verify_saved(self, client: CurrentClient, saved: Plan, desired: Desired,
                     source: str) -> Plan:
        """What is left to run of a saved plan, as the planner makes it now from its
        manifests and one fresh read (``saved.verified_rest``); refuses an edited or
        stale plan. Makes no mutation."""
        before = client.usage.total_requests
        live = read_account(client, xid_field=desired.settings.xid_field)
        fresh = make_plan(desired, live, client.usage.total_requests - before)
        # The safety threshold of what is left, from this read: never the file's verdict.
        return with_safety(verified_rest(saved, fresh, live, source), desired, live)

    def apply(self, client: CurrentClient, plan: Plan, desired: Desired, parallelism: int,
              progress: ProgressCallback | None) -> Outcome:
        return apply_actions(client, plan.actions, xid_field=desired.settings.xid_field,
                             batch_size=desired.settings.batch_size, parallelism=parallelism,
                             progress=progress)
