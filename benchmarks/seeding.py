"""Build a sandbox account directly, without HTTP: for the big orgs of the scale table.

Applying 8x the large org through HTTP would take minutes, so the scale
accounts are written through the sandbox's own seed mechanism instead: the
service calls a seed file would hold (``calls:``, run by
``SandboxServer._populate`` through ``SandboxApp.dispatch`` when a database
is created) are dispatched straight into the store, in order, in-process.
The calls are the ones ``beeplan apply`` would make from an empty account
(the planner's actions, sorted by phase), so the account is the same as an
applied one, ids aside.
"""

from __future__ import annotations

import time
from pathlib import Path

from beeplan.model import CustomField, State
from beeplan.planner import make_plan
from beeplan.sandbox.seed import DEFAULT_CUSTOM_FIELDS
from beeplan.sandbox.server import SandboxServer

from .sandbox_host import BENCH_TOKEN, UNLIMITED


def default_custom_fields() -> tuple[CustomField, ...]:
    return tuple(
        CustomField(int(f["id"]), str(f["name"]), ", ".join(f["availableFor"]))
        for f in DEFAULT_CUSTOM_FIELDS
    )


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
        for action in plan.actions:  # sorted by phase: dependencies come first
            server.app.dispatch(action.service, {"service": action.service, **action.payload})
    finally:
        server.stop()
    return len(plan.actions), time.monotonic() - started
