"""``beeplan apply``: bring the account to the manifests, or run a saved plan.

Manifests are planned now; a saved plan (``plan -o``) is verified first
(beeplan/planfile.py: account, manifests, freshness). Then safety, the part
that fits today's quota or ``--max-calls``, confirmation, and the apply
itself (beeplan/applier.py); a saved plan records its progress so a re-run
continues it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

from ..applier import Outcome
from ..cost import Slice
from ..errors import BeeplanError, ConfigError, ExitStatus, PlanError
from ..planfile.progress import SavedProgress
from ..planfile.verify import manifests_line
from ..planner import Plan, require_possible
from ..platforms.base import Client
from ..render import render_text
from . import steps as workflow
from .console import Console
from .plan import plan_with_usage
from .steps import (
    QuotaShortfall,
    apply_plan,
    budget_of,
    check_fresh,
    choose_saved_slice,
    choose_slice,
    guard_safety,
    is_plan_file,
    live_problems,
    load_manifests,
    load_saved_plan,
    owed_by,
    report,
    saved_safety,
    slice_report,
    with_source,
)


@dataclass(frozen=True)
class ApplyRequest:
    """``beeplan apply``'s arguments (see its --help)."""

    targets: tuple[Path, ...]
    endpoint: str
    auto_approve: bool = False
    allow_destroy: bool = False
    ignore_quota: bool = False
    max_calls: int | None = None
    manifests: tuple[Path, ...] = ()
    max_kb: float | None = None  # with max_calls: a KB budget beside it
    usage_days: int = 90
    parallelism: int = 4


def apply(request: ApplyRequest, console: Console) -> ExitStatus:
    """Apply; the exit status says how it went (a refusal raises a BeeplanError)."""
    r = request
    targets, manifests, endpoint, parallelism = r.targets, r.manifests, r.endpoint, r.parallelism
    auto_approve, allow_destroy, ignore_quota = r.auto_approve, r.allow_destroy, r.ignore_quota
    max_calls, max_kb, usage_days = r.max_calls, r.max_kb, r.usage_days
    target = targets[0]
    saved_file = _is_saved_plan(targets, manifests)
    # Parsed before any token is needed: a broken file says so first.
    parsed = workflow.parse_saved_plan(target) if saved_file else None
    desired = None if saved_file else load_manifests(targets)
    quiet = console.quiet
    with console.open_client(endpoint) as client:
        usage = None
        saved = (load_saved_plan(target, endpoint, manifests, client, parsed)
                 if saved_file else None)
        client.ignore_quota = ignore_quota
        if saved is not None:
            if not quiet:
                console.say(manifests_line(saved.plan, manifests, str(target)))
            # Safety, then the budget: a plan that cannot run today spends no re-reads.
            plan = saved_safety(client, saved, parallelism, allow_destroy=allow_destroy)
            plan, usage = workflow.saved_usage_safety(
                client, saved, plan, usage_days, allow_destroy=allow_destroy
            )
            guard_safety(plan, allow_destroy=allow_destroy)
            whole = plan
            # Earlier slices of this plan file: what they applied is not applied again.
            progress = SavedProgress.of(client, target)
            plan = progress.remaining(plan)
            if plan.empty and progress.started:
                if not quiet:
                    console.say(
                        f"Every action of {target} was applied already, by an earlier "
                        "apply of this file. Nothing to do."
                    )
                return ExitStatus.SUCCESS
            part = _slice_or_offer(
                console, client, plan, (max_calls, max_kb), ignore_quota, auto_approve, True,
                progress,
            )
            current = check_fresh(client, part.plan, parallelism)
            plan = replace(plan, problems=live_problems(client, part.plan, current).problems)
        else:
            assert desired is not None
            # With --max-calls, reads that would pass it are refused before they start.
            reader = (client if max_calls is None
                      else workflow.read_budget(client, max_calls, max_kb))
            plan, usage = plan_with_usage(console, reader, desired, parallelism, usage_days)
            plan = with_source(plan, targets)
            whole = plan
        budget = budget_of(client, plan, usage)
        require_possible(plan)
        if plan.empty:
            if not quiet and plan.leaves_kinds_alone:
                # Under prune, kinds with no key are left alone: say which, never "matches".
                console.say(render_text(plan, color=console.color), nl=False)
            elif not quiet:
                console.say("No changes. The account matches the manifests.")
            return ExitStatus.SUCCESS
        if not quiet:
            color = console.color
            # The digest of the whole plan file, even when earlier slices applied part of it.
            text = render_text(plan, budget, color=color, usage=usage, digest_of=whole)
            console.say(text, nl=False)
        if desired is not None:
            guard_safety(plan, allow_destroy=allow_destroy)
            part = _slice_or_offer(
                console, client, plan, (max_calls, max_kb), ignore_quota, auto_approve, False
            )
        if not part.complete and not quiet:
            console.say(
                f"This run applies {len(part.plan.actions)} of the {len(plan.actions)} actions "
                f"(about {part.cost.calls} calls, {part.cost.kb:.0f} KB)."
            )
        if not auto_approve and not _confirmed(console):
            console.say("Nothing applied.", err=True)
            return ExitStatus.ERROR
        before = client.usage.total_requests
        started = time.monotonic()
        outcome = apply_plan(
            client, part.plan, parallelism, console.apply_progress(), owed_by(whole)
        )
        if saved is not None:
            progress.record(client, plan, outcome, parallelism)
        calls = client.usage.total_requests - before
        rest = slice_report(client, plan, part, saved=desired is None)
    return _finish(console, outcome, report(outcome, calls, time.monotonic() - started), rest)


def _is_saved_plan(targets: tuple[Path, ...], manifests: tuple[Path, ...]) -> bool:
    """Is this the apply of one saved plan (else of manifest sets)? Refuses a mix."""
    saved_file = len(targets) == 1 and is_plan_file(targets[0])
    if not saved_file and any(is_plan_file(t) for t in targets):
        raise ConfigError("a saved plan is applied alone: apply PLANFILE --manifests PATH "
                          "(once per manifest path it was made from)")
    if manifests and not saved_file:
        raise ConfigError("--manifests goes with a saved plan: apply PLANFILE --manifests PATH")
    return saved_file


def _confirmed(console: Console) -> bool:
    if not console.can_ask():
        raise PlanError(
            "refusing to apply without confirmation: no terminal to ask on. "
            "Pass --auto-approve (for example in CI)."
        )
    return console.ask("Apply these changes?")


def _finish(console: Console, outcome: Outcome, text: str, rest: str) -> ExitStatus:
    """The exit status of a finished apply, and its report."""
    if outcome.interrupted:
        console.say(text, err=True)
        return ExitStatus.TERMINATED if outcome.terminated else ExitStatus.INTERRUPTED
    if not outcome.ok:
        raise BeeplanError(text)
    if not console.quiet:
        console.say(text)
        if rest:
            console.say(rest)
    return ExitStatus.SUCCESS


def _slice_or_offer(
    console: Console,
    client: Client,
    plan: Plan,
    budget: tuple[int | None, float | None],
    ignore_quota: bool,
    auto_approve: bool,
    saved: bool,
    progress: SavedProgress | None = None,
) -> Slice:
    """The part to apply now; past today's quota, offer the part that fits (on a terminal).

    ``budget``: (--max-calls, --max-kb).
    """
    max_calls, max_kb = budget
    try:
        if progress is not None:
            return choose_saved_slice(client, plan, progress, max_calls, ignore_quota, max_kb)
        return choose_slice(
            client, plan, max_calls=max_calls, ignore_quota=ignore_quota, fresh=saved,
            max_kb=max_kb,
        )
    except QuotaShortfall as short:
        if auto_approve or not console.can_ask() or not short.fits.plan.actions:
            raise
        console.say(f"Note: {short}", err=True)
        if not console.ask("Apply the part that fits today's quota?"):
            raise
        return short.fits
