"""The `plan`, `apply` and `check` commands: argument parsing and output around `workflow`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from ..annotations import plan_annotations, workflow_command
from ..errors import ExitStatus, PlanError
from ..github import summary_wanted, write_step_summary
from ..hours import UsageReport
from ..model import State
from ..planner import Plan, only_drift
from ..platforms.base import EngineOptions
from ..render import Budget, plan_to_json, render_markdown, render_text
from ..render.common import Compared
from ..render.markdown import MAX_CHARS as MARKDOWN_CHARS
from ..safetext import json_text, markdown, printable
from ..usecases import plan as usecases_plan
from ..usecases import steps as workflow
from ..usecases.apply import ApplyRequest, apply
from .console import ClickConsole
from .options import (
    authors_option,
    changed_since_option,
    check_output_file,
    detailed_exitcode_option,
    endpoint_options,
    manifest_paths_argument,
    max_kb_option,
    parallelism_option,
    usage_days_option,
)
from .progress import use_color


def plan_format_option(func: Any) -> Any:
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(["text", "json", "markdown", "github"]),
        default="text",
        show_default=True,
        help="Output format. github: the text plan, and each problem, safety refusal and "
        "warning as a workflow annotation on the manifest line it comes from.",
    )(func)


def summary_option(func: Any) -> Any:
    return click.option(
        "--summary/--no-summary",
        default=None,
        help="Also append the plan as Markdown to $GITHUB_STEP_SUMMARY (the job summary, "
        "kept within GitHub's 1 MiB). Default: on with --format markdown when that "
        "variable is set.",
    )(func)


def load_since(
    changed_since: str | None, paths: tuple[Path, ...], desired: State | None = None
) -> workflow.Base | None:
    """BASE of ``--changed-since``, loaded offline (before any API call); ``desired``
    (PATH, loaded) spares reading BASE's files that are the same bytes."""
    if changed_since is None:
        return None
    if len(paths) > 1:
        raise click.UsageError(
            "--changed-since takes one manifest PATH; with several "
            f"({' '.join(str(p) for p in paths)}) make a full plan (drop --changed-since)")
    return workflow.read_base(changed_since, paths[0], desired)


def other_options(other: workflow.OtherSet, paths: tuple[Path, ...],
                  changed_since: str | None, **given: Any) -> EngineOptions:
    """The engine's options, with ``--changed-since``'s BASE loaded offline for it."""
    if changed_since is None:
        return EngineOptions(**given)
    if len(paths) > 1:
        load_since(changed_since, paths)  # the same refusal as for a v2 set
    base = workflow.read_other_base(changed_since, paths[0], other)
    return EngineOptions(since=base.desired, since_label=base.label,
                         since_unusable=base.unusable, **given)


def show_plan(
    plan: Plan,
    budget: Budget,
    fmt: str,
    endpoint: str,
    graph_of: State | None = None,
    usage: UsageReport | None = None,
    summary: bool = False,
    account: dict[str, str] | None = None,
    diagram: str | None = None,
) -> None:
    if graph_of is not None:
        diagram = changed_part_diagram(plan, graph_of)
    if fmt == "json":
        click.echo(plan_to_json(plan, budget, endpoint, usage, account=account), nl=False)
    elif fmt == "markdown":
        click.echo(render_markdown(plan, budget, graph=diagram, usage=usage), nl=False)
    else:
        color = use_color(sys.stdout.isatty()) and fmt == "text"
        click.echo(render_text(plan, budget, color=color, usage=usage), nl=False)
    if fmt == "github":
        for annotation in plan_annotations(plan):
            click.echo(workflow_command(annotation))
    if summary:
        write_step_summary(
            lambda limit: render_markdown(plan, budget, diagram, limit, usage=usage)
        )


def changed_part_diagram(plan: Plan, desired: State) -> str | None:
    """The declared structure around what the plan changes, as Mermaid (capped in size)."""
    from ..graph import render_graph

    if plan.empty:
        return None
    return render_graph(desired, "mermaid", only={a.target for a in plan.actions}, max_nodes=150)


def saved_note(plan: Plan, out: Path) -> str:
    """What to do with a saved plan: apply it, unless apply is sure to refuse it."""
    if plan.problems:
        return (
            f"Saved the plan to {out}, but it holds {len(plan.problems)} problem(s) that "
            "'beeplan apply' refuses: fix the manifests and make the plan again."
        )
    if plan.destroy_violations:
        return (
            f"Saved the plan to {out}; it goes past the safety threshold, so 'beeplan apply "
            f"{out}' refuses it unless you add --allow-destroy after reviewing the removals."
        )
    if not plan.actions:
        return f"Saved the plan to {out}; it makes no changes, so there is nothing to apply."
    return f"Saved the plan to {out}; apply it with: beeplan apply {out}"


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
  beeplan plan examples/current --endpoint https://app.beebole.com/graphql   # current platform
  beeplan plan manifests/ -o plan.json          # save it for 'beeplan apply plan.json'
  beeplan plan manifests/ --format markdown --graph > comment.md
  beeplan plan manifests/ --detailed-exitcode   # exit 2 when there are changes
  beeplan plan manifests/ --usage-days 30       # hours behind deactivations: last 30 days
  beeplan plan manifests/ --usage-days 0        # no hours lookup (no export calls)
  beeplan plan manifests/ --changed-since origin/main   # a PR: read only what changed
  beeplan plan common/ envs/prod/ -o plans/prod.json   # several sets: later ones override""",
)
@manifest_paths_argument
@click.option(
    "-o",
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also save the plan as JSON, to apply it later with 'beeplan apply FILE'.",
)
@plan_format_option
@summary_option
@detailed_exitcode_option
@click.option(
    "--graph", is_flag=True, help="With --format markdown: add a Mermaid diagram of what changes."
)
@usage_days_option
@changed_since_option
@authors_option
@endpoint_options
@parallelism_option
@click.pass_context
def plan_command(
    ctx: click.Context,
    paths: tuple[Path, ...],
    out: Path | None,
    fmt: str,
    summary: bool | None,
    detailed_exitcode: bool,
    graph: bool,
    usage_days: int,
    changed_since: str | None,
    authors: bool,
    endpoint: str,
    token_file: Path | None,
    parallelism: int,
) -> ExitStatus:
    """Show the API calls that would bring the account to the manifests.

    Reads only what the manifests manage, changes nothing. The plan lists
    each call grouped by entity, field by field, and what it costs against
    today's API quota. Each deactivation shows the hours logged on the
    entity lately (--usage-days), read with Beebole's time export.

    Several PATHs are merged in order, later ones overriding entries with
    the same xid (docs/manifest.md). A saved plan records every PATH and is
    bound to the account of the token it was made with.
    """
    if out is not None:
        check_output_file(f"-o {out}", out)  # before the reads, not after them
    want_summary = summary_wanted(summary, fmt)
    # A targeted plan is a pull request's: its manifests are rarely loaded again.
    loaded = workflow.load_set(paths, endpoint, keep=changed_since is None)
    console = ClickConsole.of(ctx, token_file)
    graph_of, diagram = None, None
    if isinstance(loaded, workflow.OtherSet):
        options = other_options(loaded, paths, changed_since, authors=authors,
                                usage_days=usage_days)
        planned = usecases_plan.plan_other(console, loaded, paths, endpoint, options)
        if graph and not planned.plan.empty:  # the changed part, in the set's own kinds
            diagram = loaded.engine.graph(loaded.desired, "mermaid", max_nodes=150,
                                          only={a.target for a in planned.plan.actions})
    else:
        since = load_since(changed_since, paths, loaded)
        planned = usecases_plan.plan(console, loaded, paths, endpoint, usage_days=usage_days,
                                     parallelism=parallelism, since=since)
        graph_of = loaded if graph else None
    plan = planned.plan
    if out is not None:
        out.write_text(plan_to_json(plan, planned.budget, endpoint, planned.usage,
                                    account=planned.account), encoding="utf-8")
    show_plan(plan, planned.budget, fmt, endpoint, graph_of, planned.usage,
              summary=want_summary, account=planned.account, diagram=diagram)
    if out is not None and not _quiet(ctx):
        click.echo(saved_note(plan, out), err=True)
    if plan.problems:
        return ExitStatus.ERROR
    return ExitStatus.CHANGES if detailed_exitcode and not plan.empty else ExitStatus.SUCCESS


@click.command(
    "check",
    epilog="""\b
Examples:
  beeplan check manifests/                    # in a scheduled CI job
  beeplan check examples/acme --endpoint sandbox:demo.db && echo in sync
  beeplan check examples/current --endpoint https://app.beebole.com/graphql   # current platform
  beeplan check manifests/ --changed-since origin/main   # only what a PR changes
  beeplan check manifests/ --max-calls 60      # hourly: a rotating part, within 60 calls
  beeplan check manifests/ --max-calls 60 --state .beeplan/check-state.json   # CI cache
  beeplan check manifests/ --max-calls 100 --max-kb 80   # and at most about 80 KB
  beeplan check manifests/ --format markdown --summary  # the drift in the job summary
  beeplan check common/ envs/prod/             # several sets, merged in order""",
)
@manifest_paths_argument
@plan_format_option
@summary_option
@changed_since_option
@click.option(
    "--max-calls",
    type=click.IntRange(min=1),
    metavar="N",
    help="Spend at most N API calls: verify the part of the account verified least "
    "recently that fits, and print the coverage. Successive runs cover the whole account.",
)
@max_kb_option
@click.option(
    "--state",
    "state_file",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="With --max-calls: where to record what was verified when (default: under the "
    "cache dir, per account and manifest set). Keep it across CI runs with a cache step.",
)
@authors_option
@endpoint_options
@parallelism_option
@click.pass_context
def check_command(
    ctx: click.Context,
    paths: tuple[Path, ...],
    fmt: str,
    summary: bool | None,
    changed_since: str | None,
    max_calls: int | None,
    max_kb: float | None,
    state_file: Path | None,
    authors: bool,
    endpoint: str,
    token_file: Path | None,
    parallelism: int,
) -> ExitStatus:
    """Exit 2 when the account drifted from the manifests (0 in sync, 1 error).

    An entity adopted by id that the account no longer has (deleted outside
    beeplan) is drift too. Quiet when in sync; prints the plan when it drifted. With --max-calls it
    verifies a rotating part of the account within that budget, least
    recently verified first, and always prints the coverage; only what the
    API answered in this run is ever reported as drift.
    With --format json or markdown the plan is printed either way.
    """
    if state_file is not None and max_calls is None:
        raise click.UsageError("--state goes with --max-calls (it records a budgeted check)")
    if max_kb is not None and max_calls is None:
        raise click.UsageError("--max-kb goes with --max-calls (add --max-calls N)")
    if max_calls is not None and changed_since is not None:
        raise click.UsageError("use --changed-since or --max-calls, not both")
    want_summary = summary_wanted(summary, fmt)
    loaded = workflow.load_set(paths, endpoint, keep=changed_since is None)
    if isinstance(loaded, workflow.OtherSet):
        if state_file is not None:
            workflow.refuse_for_other(loaded, "--state", "That platform's check reads the "
                                      "whole account in 1 request, so there is no rotation "
                                      "to record: drop --state.")
        options = other_options(loaded, paths, changed_since, authors=authors,
                                max_calls=max_calls, record_as="check")
        checked = usecases_plan.plan_other(ClickConsole.of(ctx, token_file), loaded, paths,
                                           endpoint, options)
        status = _show_check(checked.plan, checked.budget, fmt, endpoint, want_summary)
        if max_calls is not None and fmt in ("text", "github"):
            spent = checked.plan.read_calls
            click.echo(f"Coverage: the whole account, verified in {spent} "
                       f"request{'' if spent == 1 else 's'} of the {max_calls} --max-calls "
                       "allows (this platform reads it in one request; a lookup that does "
                       "not fit is skipped and said).")
        return status
    desired = loaded
    if max_calls is not None:
        done = usecases_plan.budgeted_check(
            ClickConsole.of(ctx, token_file), desired, paths, endpoint, max_calls=max_calls,
            state_file=state_file, parallelism=parallelism, max_kb=max_kb)
        return _show_budgeted_check(done, max_calls, endpoint, fmt, want_summary)
    since = load_since(changed_since, paths, desired)
    checked = usecases_plan.check(ClickConsole.of(ctx, token_file), desired, paths, endpoint,
                                  parallelism=parallelism, since=since)
    return _show_check(checked.plan, checked.budget, fmt, endpoint, want_summary)


def _show_check(plan: Plan, budget: Budget, fmt: str, endpoint: str,
                want_summary: bool) -> ExitStatus:
    """``check``'s output and exit status: 0 in sync, 2 drift, 1 a plan with problems."""
    in_sync = plan.empty and not plan.problems
    if not in_sync or fmt in ("json", "markdown"):
        show_plan(plan, budget, fmt, endpoint)
    if want_summary:
        write_step_summary(lambda limit: render_markdown(plan, budget, max_chars=limit,
                                                         title="beeplan check"))
    if in_sync:
        return ExitStatus.SUCCESS
    # An entity adopted by id and deleted outside beeplan is the account drifting.
    return ExitStatus.ERROR if plan.problems and not only_drift(plan.problems) \
        else ExitStatus.CHANGES


def _show_budgeted_check(
    done: usecases_plan.BudgetedCheck, max_calls: int, endpoint: str, fmt: str, summary: bool
) -> ExitStatus:
    from ..budgeted_check import coverage_document, coverage_lines  # check --max-calls only

    run, budget = done.run, done.budget
    coverage = coverage_lines(run, max_calls)
    if fmt == "json":
        partial = (f"budgeted: only the {run.verified} of {run.total} units verified in this "
                   f"run were compared (--max-calls {max_calls})")
        doc = json.loads(plan_to_json(run.plan, budget, endpoint, partial=partial))
        doc["coverage"] = coverage_document(run, max_calls)  # the same figures, for machines
        click.echo(json_text(doc))
        for line in coverage:  # stdout stays one JSON document
            click.echo(printable(line), err=True)
    elif fmt == "markdown":
        click.echo(_check_markdown(run.plan, budget, coverage), nl=False)
    else:
        if run.drifted:
            color = use_color(sys.stdout.isatty()) and fmt == "text"
            click.echo(render_text(run.plan, budget, color=color), nl=False)
        for line in coverage:
            click.echo(printable(line))
        if fmt == "github":
            for annotation in plan_annotations(run.plan):
                click.echo(workflow_command(annotation))
    if summary:
        write_step_summary(lambda limit: _check_markdown(run.plan, budget, coverage, limit))
    if run.plan.problems and not only_drift(run.plan.problems):
        return ExitStatus.ERROR
    if run.errors and not run.verified and not run.drifted:
        # No usable answer at all (a portal page, a proxy's): in sync is not what it showed.
        raise PlanError(f"no part of the account could be verified in this run: "
                        f"{run.errors[0]}")
    return ExitStatus.CHANGES if run.drifted else ExitStatus.SUCCESS


def _check_markdown(plan: Plan, budget: Budget, coverage: list[str],
                    max_chars: int | None = None) -> str:
    """A budgeted check in Markdown: the drift found, then what this run covered."""
    tail = "\n**Coverage**\n\n" + "".join(f"- {markdown(line)}\n" for line in coverage)
    room = (max_chars if max_chars is not None else MARKDOWN_CHARS) - len(tail)
    # Only part of the account was read: the sentences say no more than that about it.
    text = render_markdown(plan, budget, max_chars=room, title="beeplan check",
                           compared=Compared(partial=True))
    return text + tail


# ---------------------------------------------------------------------------


@click.command(
    "apply",
    epilog="""\b
Examples:
  beeplan apply manifests/                      # shows the plan, asks before applying
  beeplan apply examples/acme --endpoint sandbox:demo.db --auto-approve
  beeplan apply examples/current --endpoint sandbox:current-demo.db --auto-approve   # current
  beeplan plan manifests/ -o plan.json && beeplan apply plan.json --auto-approve
  beeplan apply manifests/ --allow-destroy      # past the deactivation safety threshold
  beeplan apply manifests/ --max-calls 4000 --auto-approve   # a part a day; re-run to go on
  beeplan apply manifests/ --max-calls 4000 --replan   # go on from a full read instead
  beeplan apply manifests/ --max-calls 4000 --max-kb 1500 --auto-approve   # KB too
  beeplan apply plan.json --manifests manifests/   # refused unless made from manifests/,
                                                   # unchanged since
  beeplan apply common/ envs/prod/              # several sets, merged in order
  beeplan apply plans/prod.json --manifests common/ --manifests envs/prod/""",
)
@click.argument(
    "targets", nargs=-1, required=True, metavar="PATH...|PLANFILE",
    type=click.Path(exists=True, path_type=Path),
)
@click.option("--auto-approve", is_flag=True, help="Apply without asking (needed with no tty).")
@click.option(
    "--allow-destroy",
    is_flag=True,
    help="Allow a plan past the safety threshold: deactivating or deleting more than 10% "
    "(and at least 3) of a kind, or removing as many of a relation's links; "
    "settings.safety changes the numbers.",
)
@click.option(
    "--ignore-quota", is_flag=True, help="Apply even if the calls exceed today's remaining quota."
)
@click.option(
    "--max-calls",
    type=click.IntRange(min=1),
    metavar="N",
    help="Spend at most N API calls (reads included): apply the dependency-closed part "
    "of the plan that fits, and say what is left. Re-running continues: the same "
    "manifests continue the plan this run keeps, re-reading only what the next part "
    "touches.",
)
@max_kb_option
@click.option(
    "--replan",
    is_flag=True,
    help="Plan again from a full read of the account, even when an earlier sliced apply "
    "of the same manifests kept its plan to continue (that plan is dropped; this run's "
    "is kept if it too applies only a part).",
)
@click.option(
    "--manifests",
    type=click.Path(exists=True, path_type=Path),
    multiple=True,
    metavar="PATH",
    help="With a PLANFILE: the manifests being applied, once per path in the plan's order "
    "(--manifests common/ --manifests envs/prod/). Refused unless the plan was made from "
    "these paths (compared resolved) and they are unchanged since. Default: the paths "
    "the plan records, when they exist; apply's first line says which.",
)
@usage_days_option
@endpoint_options
@parallelism_option
@click.pass_context
def apply_command(
    ctx: click.Context,
    targets: tuple[Path, ...],
    auto_approve: bool,
    allow_destroy: bool,
    ignore_quota: bool,
    max_calls: int | None,
    max_kb: float | None,
    replan: bool,
    manifests: tuple[Path, ...],
    usage_days: int,
    endpoint: str,
    token_file: Path | None,
    parallelism: int,
) -> ExitStatus:
    """Make the API calls that bring the account to the manifests.

    PATH is a manifest file or directory (planned now; several are merged
    in order, later ones overriding), or PLANFILE a plan saved with
    'beeplan plan -o' (refused if the account changed since, if it was made
    for another account's token, or from other manifests than --manifests).
    Independent calls run in parallel; a failure skips what depends on it,
    and removals run only when everything else succeeded.
    """
    if max_kb is not None and max_calls is None:
        raise click.UsageError("--max-kb goes with --max-calls (add --max-calls N)")
    request = ApplyRequest(
        targets, endpoint, auto_approve=auto_approve, allow_destroy=allow_destroy,
        ignore_quota=ignore_quota, max_calls=max_calls, max_kb=max_kb, manifests=manifests,
        usage_days=usage_days, parallelism=parallelism, replan=replan,
    )
    return apply(request, ClickConsole.of(ctx, token_file))


COMMANDS = [plan_command, apply_command, check_command]
