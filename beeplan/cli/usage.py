"""The `usage` command: hours per managed entity, read with the time export."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import ExitStatus
from ..render.usagereport import FORMATS, render_usage
from ..usage import DEFAULT_DAYS, ExportCost, PollPolicy, account_usage
from ..usecases.steps import OtherSet, load_set
from .options import endpoint_options, manifest_paths_argument, open_client, parallelism_option
from .progress import ExportProgress, ReadProgress, stderr_is_tty


@click.command(
    "usage",
    epilog="""\b
Examples:
  beeplan usage manifests/                     # hours per entity over the last 90 days
  beeplan usage examples/acme --endpoint sandbox:demo.db --days 30
  beeplan usage examples/current --endpoint https://app.beebole.com/graphql   # current platform
  beeplan usage manifests/ --format csv > hours.csv
  beeplan usage manifests/ --format markdown --max-calls 50""",
)
@manifest_paths_argument
@click.option(
    "--days",
    type=click.IntRange(1, 3660),
    default=DEFAULT_DAYS,
    show_default=True,
    metavar="N",
    help="The period: the last N days, today included (UTC).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="text",
    show_default=True,
    help="Output format.",
)
@click.option(
    "--max-calls",
    type=click.IntRange(min=1),
    metavar="N",
    help="Spend at most about N API calls (reading included); companies past it are "
    "left out and named. An N the reads would spend is refused before reading, naming "
    "the N that is enough. Without it, an export that would pass today's quota is refused.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=120.0,
    show_default=True,
    metavar="SECONDS",
    help="Give up waiting for the export after this long.",
)
@endpoint_options
@parallelism_option
@click.pass_context
def usage_command(
    ctx: click.Context,
    paths: tuple[Path, ...],
    days: int,
    fmt: str,
    max_calls: int | None,
    timeout: float,
    endpoint: str,
    token_file: Path | None,
    parallelism: int,
) -> ExitStatus:
    """Hours logged per managed entity, and the active ones nobody logs time on.

    For every company, project, subproject, task, absence type and person the
    manifests declare: the hours logged in the period, by how many people,
    and the last entry, read with Beebole's time export (time_entry.export).
    The entities with no hours are candidates for a cleanup. Says what the
    export costs before it starts; changes nothing.

    A set written for Beebole's current platform (settings.platform: current,
    an endpoint ending in /graphql): two requests, the account then its time
    records, no export job.
    """
    loaded = load_set(paths, endpoint)
    if isinstance(loaded, OtherSet):  # the current platform: two requests, no export job
        with open_client(endpoint, token_file, loaded.platform.name) as client:
            other_report = loaded.engine.usage(client, loaded.desired, days, max_calls)
        click.echo(render_usage(other_report, fmt), nl=False)
        return ExitStatus.SUCCESS
    desired = loaded
    quiet = bool(ctx.find_root().params.get("quiet"))
    reading = ReadProgress(stderr_is_tty() or bool(ctx.find_root().params.get("verbose")))

    def announce(cost: ExportCost) -> None:
        reading.done()
        if not quiet:
            click.echo(f"Hours export: {cost}.", err=True)

    with open_client(endpoint, token_file) as client:
        report = account_usage(
            client,
            desired,
            days,
            parallelism=parallelism,
            max_calls=max_calls,
            policy=PollPolicy(limit=timeout),
            read_progress=reading,
            progress=ExportProgress(not quiet),
            before_export=announce,
        )
    click.echo(render_usage(report, fmt), nl=False)
    return ExitStatus.SUCCESS


COMMANDS = [usage_command]
