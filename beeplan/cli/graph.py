"""The `graph` command."""

from __future__ import annotations

import click

from ..errors import BeeplanError


@click.command("graph", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def graph_command(args: tuple[str, ...]) -> None:
    """Draw the structure the manifests declare."""
    raise BeeplanError("beeplan graph: not implemented yet")


COMMANDS = [graph_command]
