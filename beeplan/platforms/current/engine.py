"""The current platform's ``Engine``: what the core calls to plan and apply a current set."""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any

from ...applier import Outcome, ProgressCallback
from ...errors import Problem
from ...localfiles.journal import Journal
from ...planner import Plan
from .apply import apply_actions
from .client import CurrentClient
from .desired import Desired, load_desired
from .plan import make_plan
from .reader import LiveAccount, read_account


class CurrentEngine:
    """Load (offline), plan (one read request), apply (batched mutations)."""

    def __init__(self) -> None:
        # The read each client's last plan was made from: apply starts from it (the
        # ids that existed before, so a lost create is told from a look-alike) instead
        # of reading the account a second time.
        self._read: weakref.WeakKeyDictionary[CurrentClient, LiveAccount] = (
            weakref.WeakKeyDictionary())

    def load(self, files: Sequence[tuple[str, Any]], problems: Sequence[Problem]) -> Desired:
        return load_desired(files, problems)

    def plan(self, client: CurrentClient, desired: Desired) -> Plan:
        before = client.usage.total_requests
        live = read_account(client, xid_field=desired.settings.xid_field)
        self._read[client] = live
        return make_plan(desired, live, client.usage.total_requests - before)

    def apply(self, client: CurrentClient, plan: Plan, desired: Desired, parallelism: int,
              progress: ProgressCallback | None) -> Outcome:
        # The journal records each create before it is sent, so a run stopped between a
        # create and its External ID label is finished by the next one, never duplicated.
        return apply_actions(client, plan.actions, xid_field=desired.settings.xid_field,
                             batch_size=desired.settings.batch_size, parallelism=parallelism,
                             progress=progress, journal=Journal.for_account(client.account_key),
                             live=self._read.pop(client, None))
