"""Build a sandbox account directly, without HTTP: for the big orgs of the scale table.

Applying 8x the large org through HTTP would take minutes, so the scale
accounts are written through the sandbox's own seed mechanism instead: the
service calls a seed file would hold (``calls:``, run by
``SandboxServer._populate`` through ``SandboxApp.dispatch`` when a database
is created) are dispatched straight into the store, in order, in-process.
The calls are the ones ``beeplan apply`` would make from an empty account
(the planner's actions, in plan order with dependencies first), so the
account is the same as an applied one, ids aside.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from beeplan.model import CustomField, State
from beeplan.planner import Action, make_plan
from beeplan.platforms.v2.sandbox.seed import DEFAULT_CUSTOM_FIELDS
from beeplan.platforms.v2.sandbox.server import SandboxServer

from .sandbox_host import BENCH_TOKEN, UNLIMITED


def default_custom_fields() -> tuple[CustomField, ...]:
    return tuple(
        CustomField(int(f["id"]), str(f["name"]), ", ".join(f["availableFor"]))
        for f in DEFAULT_CUSTOM_FIELDS
    )


def in_dependency_order(actions: Sequence[Action]) -> list[Action]:
    """The plan's order, except that an action never comes before one it depends on."""
    done: set[str] = set()
    ids = {a.id for a in actions}
    out: list[Action] = []
    pending = list(actions)
    while pending:
        left = []
        for action in pending:
            if all(d in done or d not in ids for d in action.depends_on):
                out.append(action)
                done.add(action.id)
            else:
                left.append(action)
        if len(left) == len(pending):
            raise RuntimeError(f"cannot seed: circular dependencies among {len(left)} actions")
        pending = left
    return out


def seed_account(db: Path, desired: State) -> tuple[int, float]:
    """Create ``db`` holding the account ``desired`` describes; return (calls, seconds)."""
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    started = time.monotonic()
    plan = make_plan(desired, State(custom_fields=default_custom_fields()))
    if plan.problems:
        raise RuntimeError("cannot seed: " + "; ".join(plan.problems[:5]))
    server = SandboxServer(db, token=BENCH_TOKEN, quota_requests=UNLIMITED, quota_kb=UNLIMITED)
    try:
        for action in in_dependency_order(plan.actions):
            server.app.dispatch(action.service, {"service": action.service, **action.payload})
    finally:
        server.stop()
    return len(plan.actions), time.monotonic() - started
