"""Command-line wiring. The one place that turns exceptions into exit codes."""

from __future__ import annotations

import atexit
import contextlib
import gc
import importlib
import logging
import os
import re
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

import click

from .. import __version__
from ..errors import BeeplanError, ExitStatus, Terminated, raise_terminated
from ..safetext import printable
from .options import setup_logging

_GLOBAL_FLAG = re.compile(r"-(v+|q)\Z|--(verbose|quiet)\Z")

# command -> (its module under beeplan.cli, the first line of its help). A module is
# imported when its command runs or is looked up, not before: importing all of them
# cost every start (--help, validate: each pre-commit hook) about 0.2 s of CPU
# (issue 24). `beeplan --help` lists the lines here; tests/test_start.py holds them
# to the commands' own help.
LAZY_COMMANDS = {
    "apply": ("plan", "Make the API calls that bring the account to the manifests."),
    "check": ("plan", "Exit 2 when the account drifted from the manifests (0 in sync, 1 "
                      "error)."),
    "convert": ("convert", "Convert a legacy (API v2) manifest set to Beebole's current "
                           "platform."),
    "diff": ("diff", "Compare two manifest sets offline: what changes, entity by entity, "
                     "field by field."),
    "graph": ("graph", "Draw the structure the manifests declare."),
    "import": ("importer", "Write the live account as a manifest set: the first step of "
                           "adopting beeplan."),
    "plan": ("plan", "Show the API calls that would bring the account to the manifests."),
    "sandbox": ("sandbox", "Run the local Beebole API emulators (the sandbox): API v2 and "
                           "the current platform."),
    "usage": ("usage", "Hours logged per managed entity, and the active ones nobody logs "
                       "time on."),
    "validate": ("validate", "Check manifests offline: schema, references, cycles, names and "
                             "dates."),
}


class _Commands(dict[str, click.Command]):
    """The commands, each module imported on first use (by name, or when all are listed)."""

    def _load(self, name: str) -> None:
        if name in LAZY_COMMANDS and not dict.__contains__(self, name):
            module = importlib.import_module(f"{__name__}.{LAZY_COMMANDS[name][0]}")
            for command in module.COMMANDS:
                dict.setdefault(self, command.name or "", command)

    def loaded(self) -> dict[str, click.Command]:
        """The commands imported so far."""
        return dict(dict.items(self))

    def _load_all(self) -> None:
        for name in LAZY_COMMANDS:
            self._load(name)

    def __getitem__(self, name: str) -> click.Command:
        self._load(name)
        return dict.__getitem__(self, name)

    def get(self, name: str, default: Any = None) -> Any:
        self._load(name)
        return dict.get(self, name, default)

    def __contains__(self, name: object) -> bool:
        return name in LAZY_COMMANDS or dict.__contains__(self, name)

    def __iter__(self) -> Iterator[str]:  # the names: nothing imported
        return iter(sorted({*LAZY_COMMANDS, *dict.keys(self)}))

    def __len__(self) -> int:
        return len({*LAZY_COMMANDS, *dict.keys(self)})

    def keys(self) -> Any:
        return list(self)

    def items(self) -> Any:
        self._load_all()
        return dict.items(self)

    def values(self) -> Any:
        self._load_all()
        return dict.values(self)


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

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list of ``beeplan --help``, without importing the commands."""
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        loaded_now = self.commands.loaded() if isinstance(self.commands, _Commands) else {}
        for name in names:
            loaded = loaded_now.get(name)
            if loaded is not None:
                if not loaded.hidden:
                    rows.append((name, loaded.get_short_help_str(limit)))
            else:
                # Shortened as click shortens a command's own help.
                stand_in = click.Command(name, help=LAZY_COMMANDS[name][1])
                rows.append((name, stand_in.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(
    cls=_Cli,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="""\b
Examples:
  beeplan validate examples/acme
  beeplan plan examples/acme --endpoint sandbox:demo.db
  beeplan apply examples/acme --endpoint sandbox:demo.db --auto-approve
  beeplan plan examples/current --endpoint https://app.beebole.com/graphql   # current platform
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


cli.commands = _Commands()


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


@contextlib.contextmanager
def _few_collections() -> Iterator[None]:
    """The cyclic garbage collector run rarely, for the length of one command.

    A plan of 10,000 people holds about two million objects: each full
    collection walks them all and frees none (manifests and states hold no
    cycles), about 0.4 s of a targeted plan's 2.7 s of CPU (issue 24). The
    thresholds are mypy's; reference counting still frees everything else at once.
    """
    before = gc.get_threshold()
    gc.set_threshold(200_000, 30, 30)
    try:
        yield
    finally:
        gc.set_threshold(*before)  # in-process callers (the tests) get theirs back


def entry() -> None:
    """The ``beeplan`` command (and ``python -m beeplan``): ``main``, then a quick end.

    At 10,000 people a run holds millions of objects, and the interpreter freeing
    them one by one as it shuts down cost 0.2-0.25 s of CPU after the work was done:
    a fifth of a targeted plan or of an hourly check (issue 24). So, as mypy does, the
    process ends without that, once the exit handlers have run (temporary folders
    removed, logs closed) and the output is flushed. With a thread still running that
    the usual end would wait for (none should be), or under a profiler, a debugger or
    a coverage tool, it ends the usual way.
    """
    try:
        main()
    except SystemExit as exc:
        if not isinstance(exc.code, int) or _threads_to_wait_for() or _watched():
            raise
        atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing to lose
                stream.flush()
        os._exit(exc.code)


def _watched() -> bool:
    """Whether a profiler, a debugger or a coverage tool watches this run: they write
    what they measured as the interpreter ends, the usual way."""
    return sys.gettrace() is not None or sys.getprofile() is not None


def _threads_to_wait_for() -> bool:
    """Whether a thread the usual end would wait for is running (daemon threads, such as
    the client's deadline watcher, it would not)."""
    main_thread = threading.main_thread()
    return any(t is not main_thread and not t.daemon and t.is_alive()
               for t in threading.enumerate())


def main(argv: list[str] | None = None) -> None:
    """Run the CLI and map every outcome to one exit status (``SystemExit``)."""
    try:
        with _sigterm_like_ctrl_c(), _few_collections():
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
