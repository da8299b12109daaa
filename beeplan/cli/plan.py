"""The `plan`, `apply` and `check` commands: wiring of manifest -> live -> planner -> applier."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from ..applier import Applier, Outcome
from ..client import BeeboleClient
from ..errors import BeeplanError, ExitStatus, PlanError
from ..journal import Journal
from ..live import LiveReader
from ..model import Ref, State
from ..planner import Plan, fingerprint, make_plan, require_possible
from ..render import Budget, plan_from_json, plan_to_json, render_markdown, render_text
from .options import (
    detailed_exitcode_option,
    endpoint_options,
    format_option,
    open_client,
    parallelism_option,
)
from .progress import ApplyProgress, ReadProgress, stderr_is_tty, use_color


def load_manifests(path: Path) -> State:
    from ..manifest import load

    return load(path)


def compute_plan(
    client: BeeboleClient, desired: State, parallelism: int, show_progress: bool
) -> Plan:
    progress = ReadProgress(show_progress)
    before = client.usage.total_requests
    live = LiveReader(client, parallelism, progress).read(desired)
    progress.done()
    owed = Journal.for_client(client).owed()
    return make_plan(desired, live, client.usage.total_requests - before, owed)


def budget_of(client: BeeboleClient, plan: Plan) -> Budget:
    return Budget(
        read_calls=plan.read_calls,
        apply_calls=len(plan.actions),
        left_today=client.remaining_today(),
        daily=client.quota.requests,
    )


def show_plan(
    plan: Plan, budget: Budget, fmt: str, endpoint: str, graph_of: State | None = None
) -> None:
    if fmt == "json":
        click.echo(plan_to_json(plan, budget, endpoint), nl=False)
    elif fmt == "markdown":
        diagram = changed_part_diagram(plan, graph_of) if graph_of is not None else None
        click.echo(render_markdown(plan, budget, graph=diagram), nl=False)
    else:
        click.echo(render_text(plan, budget, color=use_color(sys.stdout.isatty())), nl=False)


def changed_part_diagram(plan: Plan, desired: State) -> str | None:
    """The declared structure around what the plan changes, as Mermaid (capped in size)."""
    from ..graph import render_graph

    if plan.empty:
        return None
    return render_graph(desired, "mermaid", only={a.target for a in plan.actions}, max_nodes=150)


def _quiet(ctx: click.Context) -> bool:
    root = ctx.find_root()
    return bool(root.params.get("quiet"))


def _verbose(ctx: click.Context) -> bool:
    return bool(ctx.find_root().params.get("verbose"))


# ---------------------------------------------------------------------------


@click.command(
    "plan",
    epilog="""\b
Examples:
  beeplan plan manifests/
  beeplan plan examples/acme --endpoint sandbox:demo.db
  beeplan plan manifests/ -o plan.json          # save it for 'beeplan apply plan.json'
  beeplan plan manifests/ --format markdown --graph > comment.md
  beeplan plan manifests/ --detailed-exitcode   # exit 2 when there are changes""",
)
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option(
    "-o",
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also save the plan as JSON, to apply it later with 'beeplan apply FILE'.",
)
@format_option
@detailed_exitcode_option
@click.option(
    "--graph", is_flag=True, help="With --format markdown: add a Mermaid diagram of what changes."
)
@endpoint_options
@parallelism_option
@click.pass_context
def plan_command(
    ctx: click.Context,
    path: Path,
    out: Path | None,
    fmt: str,
    detailed_exitcode: bool,
    graph: bool,
    endpoint: str,
    token_file: Path | None,
    parallelism: int,
) -> ExitStatus:
    """Show the API calls that would bring the account to the manifests.

    Reads only what the manifests manage, changes nothing. The plan lists
    each call grouped by entity, field by field, and what it costs against
    today's API quota.
    """
    desired = load_manifests(path)
    with open_client(endpoint, token_file) as client:
        plan = compute_plan(client, desired, parallelism, stderr_is_tty() or _verbose(ctx))
        budget = budget_of(client, plan)
    if out is not None:
        out.write_text(plan_to_json(plan, budget, endpoint), encoding="utf-8")
    show_plan(plan, budget, fmt, endpoint, desired if graph else None)
    if out is not None and not _quiet(ctx):
        click.echo(f"Saved the plan to {out}; apply it with: beeplan apply {out}", err=True)
    if plan.problems:
        return ExitStatus.ERROR
    if detailed_exitcode and not plan.empty:
        return ExitStatus.CHANGES
    return ExitStatus.SUCCESS


@click.command(
    "check",
    epilog="""\b
Examples:
  beeplan check manifests/                    # in a scheduled CI job
  beeplan check examples/acme --endpoint sandbox:demo.db && echo in sync""",
)
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@endpoint_options
@parallelism_option
def check_command(
    path: Path, endpoint: str, token_file: Path | None, parallelism: int
) -> ExitStatus:
    """Exit 2 when the account drifted from the manifests (0 in sync, 1 error).

    Quiet when in sync; prints the plan when it drifted.
    """
    desired = load_manifests(path)
    with open_client(endpoint, token_file) as client:
        plan = compute_plan(client, desired, parallelism, show_progress=False)
        budget = budget_of(client, plan)
    if plan.empty and not plan.problems:
        return ExitStatus.SUCCESS
    click.echo(render_text(plan, budget, color=use_color(sys.stdout.isatty())), nl=False)
    return ExitStatus.ERROR if plan.problems else ExitStatus.CHANGES


# ---------------------------------------------------------------------------


def is_plan_file(path: Path) -> bool:
    if not path.is_file():
        return False
    if path.suffix == ".json":
        return True
    with path.open("rb") as handle:
        return handle.read(64).lstrip().startswith(b"{")


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


@click.command(
    "apply",
    epilog="""\b
Examples:
  beeplan apply manifests/                      # shows the plan, asks before applying
  beeplan apply examples/acme --endpoint sandbox:demo.db --auto-approve
  beeplan plan manifests/ -o plan.json && beeplan apply plan.json --auto-approve
  beeplan apply manifests/ --allow-destroy      # past the deactivation safety threshold""",
)
@click.argument("target", metavar="PATH|PLANFILE", type=click.Path(exists=True, path_type=Path))
@click.option("--auto-approve", is_flag=True, help="Apply without asking (needed with no tty).")
@click.option(
    "--allow-destroy",
    is_flag=True,
    help="Allow a plan that deactivates, deletes or detaches more than 10% "
    "(and at least 3) of a kind.",
)
@click.option(
    "--ignore-quota", is_flag=True, help="Apply even if the calls exceed today's remaining quota."
)
@endpoint_options
@parallelism_option
@click.pass_context
def apply_command(
    ctx: click.Context,
    target: Path,
    auto_approve: bool,
    allow_destroy: bool,
    ignore_quota: bool,
    endpoint: str,
    token_file: Path | None,
    parallelism: int,
) -> ExitStatus:
    """Make the API calls that bring the account to the manifests.

    PATH is a manifest file or directory (planned now), or PLANFILE a plan
    saved with 'beeplan plan -o' (refused if the account changed since).
    Independent calls run in parallel; a failure skips what depends on it,
    and removals run only when everything else succeeded.
    """
    saved = is_plan_file(target)
    desired = None if saved else load_manifests(target)
    quiet = _quiet(ctx)
    with open_client(endpoint, token_file) as client:
        if desired is None:
            plan, doc = plan_from_json(target.read_text(encoding="utf-8"), str(target))
            if doc.get("endpoint") not in (None, endpoint):
                raise PlanError(
                    f"{target} was made against {doc['endpoint']}, not {endpoint}; "
                    "make a new plan against this endpoint"
                )
            check_fresh(client, plan, parallelism)
        else:
            plan = compute_plan(client, desired, parallelism, stderr_is_tty() or _verbose(ctx))
        budget = budget_of(client, plan)
        require_possible(plan)
        if plan.empty:
            if not quiet:
                click.echo("No changes. The account matches the manifests.")
            return ExitStatus.SUCCESS
        if not quiet:
            click.echo(render_text(plan, budget, color=use_color(sys.stdout.isatty())), nl=False)
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
        if not auto_approve:
            if not sys.stdin.isatty():
                raise PlanError(
                    "refusing to apply without confirmation: no terminal to ask on. "
                    "Pass --auto-approve (for example in CI)."
                )
            if not click.confirm("Apply these changes?", default=False, err=True):
                click.echo("Nothing applied.", err=True)
                return ExitStatus.ERROR
        before = client.usage.total_requests
        started = time.monotonic()
        journal = Journal.for_client(client)
        outcome = Applier(client, parallelism, ApplyProgress(quiet), journal).apply(plan)
        calls = client.usage.total_requests - before
    text = report(outcome, calls, time.monotonic() - started)
    if outcome.interrupted:
        click.echo(text, err=True)
        return ExitStatus.INTERRUPTED
    if not outcome.ok:
        raise BeeplanError(text)
    if not quiet:
        click.echo(text)
    return ExitStatus.SUCCESS


COMMANDS = [plan_command, apply_command, check_command]
