"""The `diff` command."""

from __future__ import annotations

import click

from ..errors import BeeplanError


@click.command("diff", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def diff_command(args: tuple[str, ...]) -> None:
    """Compare two manifest sets offline (for pull-request review)."""
    raise BeeplanError("beeplan diff: not implemented yet")


COMMANDS = [diff_command]
