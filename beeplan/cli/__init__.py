"""Command-line wiring. The one place that turns exceptions into exit codes."""

from __future__ import annotations

import contextlib
import logging
import re
import signal
import sys
import threading
from collections.abc import Iterator

import click

from .. import __version__
from ..errors import BeeplanError, ExitStatus, Terminated, raise_terminated
from ..safetext import printable
from .options import setup_logging

_GLOBAL_FLAG = re.compile(r"-(v+|q)\Z|--(verbose|quiet)\Z")


class _Cli(click.Group):
    """Accepts -v/-q after the subcommand too (``beeplan plan PATH -v``).

    click only parses a group's options before the subcommand; these flags take
    no value and no subcommand defines them, so they move to the front as is.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        start = next((i for i, arg in enumerate(args) if not arg.startswith("-")), len(args))
        end = args.index("--") if "--" in args[start:] else len(args)
        moved = [a for a in args[start:end] if _GLOBAL_FLAG.match(a)]
        kept = [a for a in args[start:end] if not _GLOBAL_FLAG.match(a)]
        return super().parse_args(ctx, [*args[:start], *moved, *kept, *args[end:]])


@click.group(
    cls=_Cli,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="""\b
Examples:
  beeplan validate examples/acme
  beeplan plan examples/acme --endpoint sandbox:demo.db
  beeplan apply examples/acme --endpoint sandbox:demo.db --auto-approve
  beeplan check manifests/            # exit 2 when the account drifted

Run 'beeplan COMMAND --help' for the examples of each command.""",
)
@click.version_option(__version__, prog_name="beeplan")
@click.option("-v", "--verbose", count=True, help="Show each API call on stderr (-vv: debug).")
@click.option("-q", "--quiet", is_flag=True, help="Print errors only.")
def cli(verbose: int, quiet: bool) -> None:
    """Configuration as code for Beebole.

    Declare companies, projects, people, groups and their relations in YAML;
    beeplan shows the API calls that bring the account in line (plan) and
    makes them (apply).

    \b
    Exit codes: 0 success or no changes, 1 error, 2 changes present
    (with --detailed-exitcode, check and diff), 130 interrupted, 143 terminated.
    """
    setup_logging(verbose, quiet)


def _register() -> None:
    from . import convert, diff, graph, importer, plan, sandbox, usage, validate

    for module in (validate, diff, plan, importer, usage, graph, sandbox, convert):
        for command in module.COMMANDS:
            cli.add_command(command)


_register()


@contextlib.contextmanager
def _sigterm_like_ctrl_c() -> Iterator[None]:
    """SIGTERM (what CI sends on cancel) raises where Ctrl-C would, so it stops the same way.

    Only where nothing else chose a handler (an embedding program keeps its own).
    """
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    ):
        yield
        return
    signal.signal(signal.SIGTERM, raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _stopped(exc: BaseException) -> ExitStatus:
    if isinstance(exc, Terminated):
        click.echo("Terminated.", err=True)
        return ExitStatus.TERMINATED
    click.echo("Interrupted.", err=True)
    return ExitStatus.INTERRUPTED


def _escaped(message: str) -> str:
    """Every line of an error escaped: a message may quote a plan file or an account
    (an xid holding an ANSI escape), and this is the one place they all print."""
    return "\n".join(printable(line) for line in message.split("\n"))


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI and map every outcome to one exit status."""
    try:
        with _sigterm_like_ctrl_c():
            status = cli.main(args=argv, prog_name="beeplan", standalone_mode=False)
    except KeyboardInterrupt as exc:  # Terminated (SIGTERM) included
        status = _stopped(exc)
    except click.exceptions.Abort as exc:
        # click wraps Ctrl-C (and EOF at a prompt) in Abort; Ctrl-C is 130, as everywhere.
        if isinstance(exc.__cause__, KeyboardInterrupt):
            status = _stopped(exc.__cause__)
        else:
            click.echo("Aborted.", err=True)
            status = ExitStatus.ERROR
    except click.ClickException as exc:
        # Usage errors exit 1, not click's 2: 2 means "changes present" here.
        exc.show()
        status = ExitStatus.ERROR
    except click.exceptions.Exit as exc:
        status = exc.exit_code
    except BeeplanError as exc:
        click.echo(f"Error: {_escaped(str(exc))}", err=True)
        status = exc.exit_status
    except OSError as exc:
        click.echo(f"Error: {_escaped(str(exc))}", err=True)
        status = ExitStatus.ERROR
    logging.shutdown()
    sys.exit(int(status or 0))
