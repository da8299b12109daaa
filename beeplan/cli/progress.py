"""Progress on stderr: a live line on a tty, one line per action otherwise.

stdout stays machine-readable (``--format json``): nothing here writes to it.
"""

from __future__ import annotations

import os
import shutil
import sys
import time

import click

from ..planner import Action
from ..render.common import SYMBOL
from ..safetext import capped, printable


def stderr_is_tty() -> bool:
    return sys.stderr.isatty()


def use_color(stream_is_tty: bool) -> bool:
    return stream_is_tty and not os.environ.get("NO_COLOR")


class ReadProgress:
    """Stage messages while reading the account: shown on a tty, or with -v."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.tty = stderr_is_tty()
        self.started = time.monotonic()

    def __call__(self, message: str) -> None:
        if not self.enabled:
            return
        elapsed = time.monotonic() - self.started
        if self.tty:
            click.echo(
                f"\r\033[KReading the account: {message} ({elapsed:.1f}s)", err=True, nl=False
            )
        else:
            click.echo(f"Reading the account: {message}", err=True)

    def done(self) -> None:
        if self.enabled and self.tty:
            click.echo("\r\033[K", err=True, nl=False)


class ApplyProgress:
    """One line per action (non-tty), or a progress bar that updates in place (tty)."""

    def __init__(self, quiet: bool = False):
        self.quiet = quiet
        self.tty = stderr_is_tty()
        self.color = use_color(self.tty)

    def __call__(self, action: Action, status: str, message: str, done: int, total: int) -> None:
        if self.quiet:
            return
        width = len(str(total))
        symbol = SYMBOL[action.op]
        label = f"{symbol} {action.service} {action.target.label}"
        if action.detail:
            label += f" ({action.detail})"
        # Names come from the account, messages from the server: escaped (and capped).
        label = printable(label)
        suffix = f": {capped(message)}" if message else ""
        line = f"[{done:>{width}}/{total}] {status:<7} {label}{suffix}"
        if self.tty:
            filled = int(30 * done / max(total, 1))
            bar = "#" * filled + "-" * (30 - filled)
            if status != "applied":
                colour = "red" if status == "failed" else "yellow"
                click.echo(
                    "\r\033[K" + click.style(line, fg=colour if self.color else None), err=True
                )
            width = shutil.get_terminal_size((80, 24)).columns - 1
            # Wider than the terminal, the line would wrap and \r could not redraw it.
            click.echo("\r\033[K" + f"[{bar}] {done}/{total} {label}"[:width], err=True, nl=False)
            if done == total:
                click.echo("", err=True)
        else:
            click.echo(line, err=True)


class ExportProgress:
    """The time export's jobs: a live line on a tty; otherwise a line when a job finishes
    or every ~10 s of waiting, so a long export never looks hung in a CI log."""

    def __init__(self, enabled: bool, what: str = "Hours export"):
        self.enabled = enabled
        self.tty = stderr_is_tty()
        self.what = what
        self.last: tuple[int, int] = (-1, -1)

    def __call__(self, done: int, total: int, waited: float) -> None:
        if not self.enabled:
            return
        line = f"{self.what}: {done}/{total} job(s) done ({waited:.1f}s waited)"
        if self.tty:
            click.echo(f"\r\033[K{line}", err=True, nl=False)
            if done == total:
                click.echo("\r\033[K", err=True, nl=False)
            return
        mark = (done, int(waited // 10))
        if mark != self.last:
            self.last = mark
            click.echo(line, err=True)
