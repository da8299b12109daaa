"""``beeplan apply``: bring the account to the manifests, or run a saved plan.

Manifests are planned now; a saved plan (``plan -o``) is verified first
(beeplan/planfile.py: account, manifests, freshness). Then safety, the part
that fits today's quota or ``--max-calls``, confirmation, and the apply
itself (beeplan/applier.py); a saved plan records its progress so a re-run
continues it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..applier import Outcome
from ..cost import Slice
from ..errors import BeeplanError, ConfigError, ExitStatus, PlanError, StalePlan
from ..hours import UsageReport
from ..model import State
from ..planfile.kept import KeptPlan
from ..planfile.progress import SavedProgress
from ..planfile.verify import (
    account_binding,
    check_account,
    check_dependencies,
    check_digest,
    check_endpoint,
    check_manifests,
    check_seal,
    manifests_line,
    recorded_paths,
)
from ..planner import Plan, require_possible
from ..platforms.base import Client, EngineOptions
from ..render import plan_to_json, render_text
from ..safetext import printable
from . import steps as workflow
from .console import Console
from .plan import other_cost, plan_with_usage
from .steps import (
    OtherSet,
    QuotaShortfall,
    SavedPlan,
    apply_plan,
    budget_of,
    check_fresh,
    choose_saved_slice,
    choose_slice,
    guard_safety,
    is_plan_file,
    live_problems,
    load_saved_plan,
    load_set,
    owed_by,
    report,
    saved_safety,
    slice_report,
    with_source,
    with_variables,
)

log = logging.getLogger("beeplan.apply")


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
    replan: bool = False  # plan from a full read, not continuing a plan a sliced apply kept


def apply(request: ApplyRequest, console: Console) -> ExitStatus:
    """Apply; the exit status says how it went (a refusal raises a BeeplanError)."""
    r = request
    target = r.targets[0]
    saved_file = _is_saved_plan(r.targets, r.manifests)
    # Parsed before any token is needed: a broken file says so first.
    parsed = workflow.parse_saved_plan(target) if saved_file else None
    if parsed is not None and (parsed[0].platform or _platform_of(r.endpoint) != "v2"):
        return apply_saved_other(request, console, parsed)
    loaded = None if saved_file else load_set(r.targets, r.endpoint)
    if isinstance(loaded, OtherSet):
        return apply_other(request, console, loaded)
    with console.open_client(r.endpoint) as client:
        if loaded is None:
            saved = load_saved_plan(target, r.endpoint, r.manifests, client, parsed)
            client.ignore_quota = r.ignore_quota
            if not console.quiet:
                console.say(manifests_line(saved.plan, r.manifests, str(target)))
            return _apply_saved(r, console, client, saved, target)
        client.ignore_quota = r.ignore_quota
        kept = KeptPlan.of(client, r.targets, loaded.variables)
        if r.replan:
            kept.drop("--replan")  # this run's plan, if sliced, is the one kept now
        elif kept.exists():
            try:
                return _continue_kept(r, console, client, kept)
            except StalePlan as stale:
                kept.drop("stale")
                console.say(f"Note: the plan an earlier sliced apply of these manifests left "
                            f"to continue cannot be continued ({stale}); planning again from "
                            "a full read.", err=True)
        return _apply_manifests(r, console, client, loaded, kept)


def _continue_kept(r: ApplyRequest, console: Console, client: Client, kept: KeptPlan
                   ) -> ExitStatus:
    """The next slice of the plan an earlier sliced apply of the same manifests kept."""
    try:
        parsed = workflow.parse_saved_plan(kept.path)
        saved = load_saved_plan(kept.path, r.endpoint, r.targets, client, parsed)
    except PlanError as exc:  # another beeplan's, or damaged: only reads are lost
        raise StalePlan(str(exc)) from None
    if not console.quiet:
        console.say(
            "Continuing the plan an earlier apply of these manifests made and applied in "
            "part (the manifests are unchanged since): only what this part touches is "
            "re-read. --replan plans again from a full read."
        )
    return _apply_saved(r, console, client, saved, kept.path, kept)


def _apply_saved(r: ApplyRequest, console: Console, client: Client, saved: SavedPlan,
                 target: Path, kept: KeptPlan | None = None) -> ExitStatus:
    """A saved plan (or a kept one): safety, the budget, freshness, then the run."""
    allow_destroy = r.allow_destroy
    # Safety, then the budget: a plan that cannot run today spends no re-reads.
    plan = saved_safety(client, saved, r.parallelism, allow_destroy=allow_destroy)
    plan, usage = workflow.saved_usage_safety(
        client, saved, plan, r.usage_days, allow_destroy=allow_destroy
    )
    guard_safety(plan, allow_destroy=allow_destroy)
    whole = plan
    # Earlier slices of this plan file: what they applied is not applied again.
    progress = SavedProgress.of(client, target)
    plan = progress.remaining(plan)
    if plan.empty and progress.started:
        if kept is not None:
            raise StalePlan("every action of it was applied")
        if not console.quiet:
            console.say(
                f"Every action of {target} was applied already, by an earlier "
                "apply of this file. Nothing to do."
            )
        return ExitStatus.SUCCESS
    part = _slice_or_offer(
        console, client, plan, (r.max_calls, r.max_kb), r.ignore_quota, r.auto_approve, True,
        progress,
    )
    current = check_fresh(client, part.plan, r.parallelism, progress.listed)
    plan = replace(plan, problems=live_problems(client, part.plan, current).problems)
    return _run(r, console, client, _Run(plan, whole, usage, part, progress, kept))


def _apply_manifests(r: ApplyRequest, console: Console, client: Client, desired: State,
                     kept: KeptPlan) -> ExitStatus:
    """Plan the manifests now (a full read), then the run; a slice keeps its plan in
    ``kept`` for the next run."""
    # With --max-calls, reads that would pass it are refused before they start.
    reader = (client if r.max_calls is None
              else workflow.read_budget(client, r.max_calls, r.max_kb))
    plan, usage = plan_with_usage(console, reader, desired, r.parallelism, r.usage_days)
    plan = with_source(plan, r.targets)
    return _run(r, console, client, _Run(plan, plan, usage, kept=kept))


@dataclass(frozen=True)
class _Run:
    """What an apply runs: ``plan`` (what is left of ``whole``), and, for a saved or kept
    plan, the part chosen already and the progress of its earlier slices."""

    plan: Plan
    whole: Plan
    usage: UsageReport | None
    part: Slice | None = None
    progress: SavedProgress | None = None
    kept: KeptPlan | None = None  # where a sliced apply of manifests keeps its plan


def _run(r: ApplyRequest, console: Console, client: Client, run: _Run) -> ExitStatus:
    """Show, guard, slice, confirm, apply; keep what a next slice continues from."""
    plan, quiet = run.plan, console.quiet
    budget = budget_of(client, plan, run.usage)
    require_possible(plan)
    if plan.empty:
        if not quiet and plan.leaves_kinds_alone:
            # Under prune, kinds with no key are left alone: say which, never "matches".
            console.say(render_text(plan, color=console.color), nl=False)
        elif not quiet:
            console.say("No changes. The account matches the manifests.")
        return ExitStatus.SUCCESS
    if not quiet:
        # The digest of the whole plan file, even when earlier slices applied part of it.
        console.say(render_text(plan, budget, color=console.color, usage=run.usage,
                                digest_of=run.whole), nl=False)
    part = run.part
    if part is None:
        guard_safety(plan, allow_destroy=r.allow_destroy)
        # A plan kept for the next slice reserves the re-reads recording its progress.
        part = _slice_or_offer(
            console, client, plan, (r.max_calls, r.max_kb), r.ignore_quota, r.auto_approve,
            False, SavedProgress(run.kept.path) if run.kept is not None else None,
        )
    if not part.complete and not quiet:
        console.say(
            f"This run applies {len(part.plan.actions)} of the {len(plan.actions)} actions "
            f"(about {part.cost.calls} calls, {part.cost.kb:.0f} KB)."
        )
    if not r.auto_approve and not _confirmed(console):
        console.say("Nothing applied.", err=True)
        return ExitStatus.ERROR
    before = client.usage.total_requests
    started = time.monotonic()
    outcome = apply_plan(
        client, part.plan, r.parallelism, console.apply_progress(), owed_by(run.whole)
    )
    continued = _record(r, client, run, part, outcome, budget)
    calls = client.usage.total_requests - before
    rest = slice_report(client, plan, part, saved=run.progress is not None,
                        continued=continued)
    return _finish(console, outcome, report(outcome, calls, time.monotonic() - started), rest)


def _record(r: ApplyRequest, client: Client, run: _Run, part: Slice, outcome: Outcome,
            budget: Any) -> bool:
    """Keep what the next slice continues from; whether a manifests run kept its plan."""
    if run.progress is not None:
        run.progress.record(client, run.plan, outcome, r.parallelism)
        if run.kept is not None and part.complete and outcome.ok:
            run.kept.drop("every action of it was applied")
        return run.kept is not None
    if run.kept is None or part.complete or not outcome.applied:
        return False
    after = SavedProgress(run.kept.path).after_cost(run.plan, part.plan)
    left = r.max_calls - client.usage.total_requests if r.max_calls is not None else None
    if (left is not None and after.calls > left) or after.calls > client.remaining_today():
        return False  # its re-reads would pass the budget: the next run plans again
    try:
        account = account_binding(client, run.whole, r.endpoint)
        run.kept.keep(plan_to_json(run.whole, budget, r.endpoint, run.usage, account=account))
        SavedProgress.of(client, run.kept.path).record(client, run.plan, outcome, r.parallelism)
    except OSError as exc:  # a cache dir that cannot be written: the next run plans again
        log.warning("could not keep the plan for the next slice: %s", exc)
        run.kept.drop("not kept whole")
        return False
    return True


def apply_other(request: ApplyRequest, console: Console, other: OtherSet) -> ExitStatus:
    """``beeplan apply`` of a set written for a platform with its own engine: plan, show,
    guard (problems, safety), confirm, apply, report as on v2."""
    r = request
    quiet = console.quiet
    # The hours behind archives, for settings.safety.refuseInUse as on v2; --max-calls
    # caps every request of the run (the lookups that do not fit are skipped and said).
    options = EngineOptions(usage_days=r.usage_days, max_calls=r.max_calls, record_as="apply")
    with console.open_client(r.endpoint, other.platform.name) as client:
        made = other.engine.plan_with(client, other.desired, options)
        plan = with_source(with_variables(made.plan, other.variables), r.targets)
        budget = other_cost(other, client, plan, made.usage)
        require_possible(plan)
        if plan.empty:
            if not quiet:
                console.say("No changes. The account matches the manifests.")
            return ExitStatus.SUCCESS
        if not quiet:
            console.say(render_text(plan, budget, color=console.color, usage=made.usage),
                        nl=False)
        return _guard_and_run(r, console, other, client, plan)


def _guard_and_run(r: ApplyRequest, console: Console, other: OtherSet, client: Any,
                   plan: Plan) -> ExitStatus:
    """Safety, --max-calls, confirmation, then the engine's apply and its report."""
    guard_safety(plan, allow_destroy=r.allow_destroy)
    if r.max_calls is not None:
        _within_max_calls(other, plan, r.max_calls, client.usage.total_requests)
    if not r.auto_approve and not _confirmed(console):
        console.say("Nothing applied.", err=True)
        return ExitStatus.ERROR
    before = client.usage.total_requests
    started = time.monotonic()
    outcome = other.engine.apply(client, plan, other.desired, r.parallelism,
                                 console.apply_progress())
    calls = client.usage.total_requests - before
    return _finish(console, outcome, report(outcome, calls, time.monotonic() - started), "")


def _within_max_calls(other: OtherSet, plan: Plan, max_calls: int, spent: int) -> None:
    """``apply --max-calls N`` of a platform without a daily quota: the whole plan or
    nothing (no slice to continue tomorrow), refused before any write when it needs more."""
    need, how = other.engine.apply_requests(plan, other.desired)
    if spent + need > max_calls:
        raise PlanError(
            f"--max-calls {max_calls} does not cover this apply: it needs about "
            f"{spent + need} requests ({spent} spent reading, then {how}); nothing was "
            f"applied. This platform has no daily quota to spread a plan over: raise "
            f"--max-calls to {spent + need}, or apply without it")


def _platform_of(endpoint: str) -> str:
    from .. import platforms

    return platforms.for_endpoint(endpoint).name


def apply_saved_other(request: ApplyRequest, console: Console,
                      parsed: tuple[Plan, dict[str, Any]]) -> ExitStatus:
    """``beeplan apply PLANFILE`` of a plan made for a platform with its own engine.

    Verified before any mutation, as on v2: the account (before any call), the
    endpoint, the manifests (their digest; they must be at hand: the plan is
    verified by planning again from them), then ONE fresh read, from which that
    platform's planner rebuilds every action of the file (an edited one is refused,
    named) and tells done work from a stale plan; then the digest and the seal.
    What runs is the planner's own version of what is left to do.
    """
    from .. import platforms

    r = request
    plan, doc = parsed
    source = str(r.targets[0])
    platform = platforms.for_endpoint(r.endpoint, plan.platform or None)
    if platform.name != (plan.platform or "v2") or (plan.platform and platform.engine is None):
        made_for = f"Beebole's {plan.platform} platform" if plan.platform else "API v2"
        recorded = doc.get("endpoint")
        made_on = f" (it was made against {recorded})" if isinstance(recorded, str) else ""
        raise PlanError(printable(
            f"{source} is a plan for {made_for}, but the endpoint {r.endpoint} speaks "
            f"{platform.name!r}: apply it with an endpoint of that platform{made_on}, or make "
            "a new plan. Nothing was applied."))
    engine = platform.engine
    assert engine is not None
    paths = r.manifests or tuple(Path(p) for p in recorded_paths(plan))
    if not paths or (not r.manifests and not all(p.exists() for p in paths)):
        shown = " ".join(str(p) for p in paths) or "none recorded"
        raise PlanError(printable(
            f"{source} is verified by planning again from the manifests it was made from "
            f"({shown}), which are not here: pass --manifests PATH (once per path it was "
            "made from). Nothing was applied."))
    quiet = console.quiet
    with console.open_client(r.endpoint, platform.name) as client:
        check_account(doc, client, source)  # before any call: another account says so first
        check_endpoint(doc, r.endpoint, source)
        if plan.problems:  # a plan made with impossible changes stays refused
            raise PlanError(
                f"{source} lists {len(plan.problems)} impossible change(s); fix the manifests "
                "and make a new plan:\n" + "\n".join(f"  - {printable(p)}" for p in plan.problems))
        check_dependencies(plan, source)
        check_manifests(plan, r.manifests, source)
        other = load_set(paths, r.endpoint)
        if not isinstance(other, OtherSet) or other.platform.name != platform.name:
            raise PlanError(printable(
                f"{source} was made for Beebole's {platform.name} platform, but the manifests "
                f"at {' '.join(map(str, paths))} are not written for it; make a new plan. "
                "Nothing was applied."))
        if not quiet:
            console.say(manifests_line(plan, r.manifests, source))
        rest = engine.verify_saved(client, plan, other.desired, source)  # one read
        check_digest(plan, doc, source)
        check_seal(doc, plan, client, source)
        stated = tuple(printable(str(v)) for v in doc.get("destroy_violations", []))
        rest = replace(rest, destroy_violations=tuple(dict.fromkeys(
            (*rest.destroy_violations, *stated))))
        require_possible(rest)
        if rest.empty:
            if not quiet:
                console.say(f"Every action of {source} is done already (by an earlier apply "
                            "of it, or by hand). Nothing to do." if plan.actions else
                            f"{source} makes no changes. Nothing to do.")
                for warning in rest.warnings:  # what the account needs now beside it
                    console.say(printable(f"Warning: {warning}"))
            return ExitStatus.SUCCESS
        if not quiet:
            # The digest of the whole plan file, even when an earlier run applied part of it.
            budget = other_cost(other, client, rest, None)
            console.say(render_text(rest, budget, color=console.color, digest_of=plan),
                        nl=False)
        return _guard_and_run(r, console, other, client, rest)


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
            return choose_saved_slice(client, plan, progress, max_calls, ignore_quota, max_kb,
                                      fresh=saved)
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
