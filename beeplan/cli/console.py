"""The terminal as the use cases see it (beeplan/usecases/console.py), through click."""

from __future__ import annotations

import sys
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from .options import open_client
from .progress import ApplyProgress, ExportProgress, ReadProgress, stderr_is_tty, use_color


@dataclass
class ClickConsole:
    quiet: bool
    verbose: bool
    token_file: Path | None

    @classmethod
    def of(cls, ctx: click.Context, token_file: Path | None) -> ClickConsole:
        """The console of this command line (-q and -v are the root command's options)."""
        params = ctx.find_root().params
        return cls(bool(params.get("quiet")), bool(params.get("verbose")), token_file)

    @property
    def color(self) -> bool:
        return use_color(sys.stdout.isatty())

    @property
    def show_progress(self) -> bool:
        return stderr_is_tty() or self.verbose

    def say(self, text: str, *, nl: bool = True, err: bool = False) -> None:
        click.echo(text, nl=nl, err=err)

    def can_ask(self) -> bool:
        return sys.stdin.isatty()

    def ask(self, question: str) -> bool:
        return click.confirm(question, default=False, err=True)

    def open_client(self, endpoint: str,
                    written_for: str | None = None) -> AbstractContextManager[Any]:
        return open_client(endpoint, self.token_file, written_for)

    def read_progress(self, shown: bool) -> ReadProgress:
        return ReadProgress(shown)

    def export_progress(self, shown: bool) -> ExportProgress:
        return ExportProgress(shown)

    def apply_progress(self) -> ApplyProgress:
        return ApplyProgress(self.quiet)
