"""The use cases behind plan, apply and check: manifest -> live -> planner -> applier.

`cli` modules only parse arguments and print; every decision about a plan
(reading, the saved-plan checks, the safety and quota guards, applying)
lives here, so it can be called and tested without click.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .applier import Applier, Outcome, ProgressCallback
from .client import BeeboleClient
from .errors import PlanError
from .journal import Journal
from .live import LiveReader, Progress
from .model import Ref, State
from .planner import Plan, fingerprint, make_plan
from .render import Budget, plan_from_json


def load_manifests(path: Path) -> State:
    from .manifest import load

    return load(path)


def compute_plan(
    client: BeeboleClient,
    desired: State,
    parallelism: int,
    progress: Progress | None = None,
) -> Plan:
    """Read what the manifests manage and diff it against them."""
    before = client.usage.total_requests
    live = LiveReader(client, parallelism, progress).read(desired)
    owed = Journal.for_client(client).owed()
    return make_plan(desired, live, client.usage.total_requests - before, owed)


def budget_of(client: BeeboleClient, plan: Plan) -> Budget:
    return Budget(
        read_calls=plan.read_calls,
        apply_calls=len(plan.actions),
        left_today=client.remaining_today(),
        daily=client.quota.requests,
    )


def is_plan_file(path: Path) -> bool:
    """Whether ``apply`` was given a saved plan rather than manifests.

    The suffix decides when it says: .yaml/.yml are manifests (JSON syntax is
    YAML too), .json is a plan. Otherwise the content does: a JSON object with
    ``format_version`` is a plan, anything else is read as manifests.
    """
    if not path.is_file():
        return False
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        return False
    if suffix == ".json":
        return True
    try:
        document = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return False
    return isinstance(document, dict) and "format_version" in document


@dataclass(frozen=True)
class SavedPlan:
    plan: Plan
    document: dict[str, Any]


def load_saved_plan(path: Path, endpoint: str) -> SavedPlan:
    """A saved plan, refused when it was made against another endpoint."""
    plan, doc = plan_from_json(path.read_text(encoding="utf-8"), str(path))
    if doc.get("endpoint") not in (None, endpoint):
        raise PlanError(
            f"{path} was made against {doc['endpoint']}, not {endpoint}; "
            "make a new plan against this endpoint"
        )
    return SavedPlan(plan, doc)


def check_fresh(client: BeeboleClient, plan: Plan, parallelism: int) -> None:
    """Refuse a saved plan whose touched entities changed since it was made."""
    wanted: dict[Ref, tuple[str, ...]] = {}
    keys: dict[Ref, str] = {}
    for key, relations in plan.read_relations.items():
        kind, _, label = key.partition(":")
        by_id = label.startswith("#") and label[1:].isdigit()
        ref = Ref(kind, id=int(label[1:])) if by_id else Ref(kind, xid=label)
        wanted[ref] = tuple(relations)
        keys[ref] = key
    current = LiveReader(client, parallelism).read_entities(wanted)
    stale = [
        keys[ref]
        for ref, entity in current.items()
        if fingerprint(entity, wanted[ref]) != plan.fingerprints.get(keys[ref])
    ]
    if stale:
        shown = ", ".join(sorted(stale)[:10]) + (" ..." if len(stale) > 10 else "")
        raise PlanError(
            f"the saved plan is stale: {len(stale)} entit{'y' if len(stale) == 1 else 'ies'} "
            f"changed since it was made ({shown}). Make a new plan."
        )


def guard_apply(
    client: BeeboleClient, plan: Plan, *, allow_destroy: bool, ignore_quota: bool
) -> None:
    """The checks a plan passes before any write: safety threshold, then quota."""
    if plan.destroy_violations and not allow_destroy:
        raise PlanError(
            "refused by the safety threshold (pass --allow-destroy if this is intended): "
            + "; ".join(plan.destroy_violations)
        )
    if len(plan.actions) > client.remaining_today() and not ignore_quota:
        raise PlanError(
            f"the plan needs {len(plan.actions)} API calls but only "
            f"{client.remaining_today()} are left in today's quota (as counted by beeplan); "
            "apply it tomorrow, or pass --ignore-quota"
        )


def apply_plan(
    client: BeeboleClient, plan: Plan, parallelism: int, progress: ProgressCallback | None
) -> Outcome:
    return Applier(client, parallelism, progress, Journal.for_client(client)).apply(plan)


def report(outcome: Outcome, calls: int, seconds: float) -> str:
    lines = [f"Apply: {outcome.summary()} ({calls} API calls, {seconds:.1f}s)."]
    for action, message in outcome.failed:
        lines.append(f"  failed:  {action.service} {action.target.label}: {message}")
    for action, reason in outcome.skipped[:20]:
        lines.append(f"  skipped: {action.service} {action.target.label}: {reason}")
    if len(outcome.skipped) > 20:
        lines.append(f"  ... and {len(outcome.skipped) - 20} more skipped")
    if not outcome.ok:
        lines.append("Re-run 'beeplan apply' once the cause is fixed: it converges from here.")
    return "\n".join(lines)
