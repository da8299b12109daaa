"""``beeplan plan`` and ``beeplan check``: the plan of the manifests against the account.

The manifests (and ``--changed-since``'s BASE) are loaded by the caller,
offline, before this reads anything; these functions read, plan, and return
values for the command line to print.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..hours import UsageReport
from ..model import State
from ..planfile.verify import account_binding
from ..planner import Plan
from ..platforms.base import Client, EngineOptions
from ..render import Budget
from ..usage import UsageOptions
from . import steps as workflow
from .console import Console
from .steps import OtherSet, budget_of, with_source, with_variables

if TYPE_CHECKING:  # imported where used: a plain plan checks no budget
    from ..budgeted_check import CheckRun


@dataclass(frozen=True)
class Planned:
    plan: Plan
    budget: Budget
    usage: UsageReport | None = None
    account: dict[str, str] | None = None  # the saved plan's binding to this token's account


def compute_plan(
    console: Console,
    client: Client,
    desired: State,
    parallelism: int,
    shown: bool,
    since: workflow.Base | None = None,
) -> Plan:
    """The full plan, or with ``since`` (BASE, loaded) the targeted one."""
    progress = console.read_progress(shown)
    if since is None:
        plan = workflow.compute_plan(client, desired, parallelism, progress)
    else:
        plan = workflow.compute_targeted_plan(
            client, desired, since.state, since.label, parallelism, progress, since.unusable
        ).plan
    progress.done()
    return plan


def plan_with_usage(
    console: Console,
    client: Client,
    desired: State,
    parallelism: int,
    usage_days: int,
    since: workflow.Base | None = None,
) -> tuple[Plan, UsageReport | None]:
    """The plan, with the hours behind each deactivation (``--usage-days``)."""
    progress = console.read_progress(console.show_progress)
    options = UsageOptions(progress=console.export_progress(console.show_progress))
    plan, usage = workflow.plan_with_usage(
        client, desired, parallelism, progress, usage_days, options, since
    )
    progress.done()
    return plan, usage


def plan(
    console: Console,
    desired: State,
    paths: tuple[Path, ...],
    endpoint: str,
    *,
    usage_days: int,
    parallelism: int,
    since: workflow.Base | None = None,
) -> Planned:
    """``beeplan plan``: the plan, its cost, the hours behind it, bound to this account."""
    with console.open_client(endpoint) as client:
        made, usage = plan_with_usage(console, client, desired, parallelism, usage_days, since)
        made = with_source(made, paths)
        budget = budget_of(client, made, usage)
        # Bound to this token's account: apply refuses it with another one.
        account = account_binding(client, made, endpoint)
    return Planned(made, budget, usage, account)


def check(
    console: Console,
    desired: State,
    paths: tuple[Path, ...],
    endpoint: str,
    *,
    parallelism: int,
    since: workflow.Base | None = None,
) -> Planned:
    """``beeplan check``: the plan, as drift (no progress lines: a check is quiet)."""
    with console.open_client(endpoint) as client:
        made = compute_plan(console, client, desired, parallelism, False, since)
        made = with_source(made, paths)
        return Planned(made, budget_of(client, made))


def other_budget(plan: Plan, usage: UsageReport | None = None, *, read_bytes: int = 0,
                 apply_requests: int = 0) -> Budget:
    """The cost line of a plan of a platform without a daily quota: requests and bytes."""
    return Budget(read_calls=plan.read_calls, apply_calls=len(plan.actions), left_today=None,
                  daily=0, usage_calls=usage.calls if usage is not None else 0,
                  read_bytes=read_bytes, apply_requests=apply_requests)


def other_cost(other: OtherSet, client: Any, plan: Plan,
               usage: UsageReport | None) -> Budget:
    """``other_budget`` with what ``client`` spent so far and what the apply will send."""
    requests, _why = other.engine.apply_requests(plan, other.desired)
    return other_budget(plan, usage, read_bytes=client.usage.total_bytes,
                        apply_requests=requests)


def plan_other(console: Console, other: OtherSet, paths: tuple[Path, ...],
               endpoint: str, options: EngineOptions | None = None) -> Planned:
    """``beeplan plan`` / ``check`` of a set written for a platform with its own engine;
    ``options``: who changed what drifted, the hours behind archives, BASE, --max-calls."""
    with console.open_client(endpoint, other.platform.name) as client:
        made = other.engine.plan_with(client, other.desired, options or EngineOptions())
        plan = with_source(with_variables(made.plan, other.variables), paths)
        budget = other_cost(other, client, plan, made.usage)
        # Bound to this token's account, as on v2: apply refuses it with another one.
        account = account_binding(client, plan, endpoint)
    return Planned(plan, budget, made.usage, account)


@dataclass(frozen=True)
class BudgetedCheck:
    run: CheckRun
    budget: Budget


def budgeted_check(
    console: Console,
    desired: State,
    paths: tuple[Path, ...],
    endpoint: str,
    *,
    max_calls: int,
    state_file: Path | None,
    parallelism: int,
    max_kb: float | None = None,
) -> BudgetedCheck:
    """``check --max-calls N``: verify the least recently verified part that fits in N."""
    with console.open_client(endpoint) as client:
        # The default state file is named per manifest set: several paths make one set.
        path = paths[0] if len(paths) == 1 else Path("|".join(str(p.resolve()) for p in paths))
        run = workflow.budgeted_check(
            client, desired, path, max_calls, state_file, parallelism, max_kb=max_kb
        )
        return BudgetedCheck(run, budget_of(client, run.plan))
