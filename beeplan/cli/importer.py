"""The `importer` command."""

from __future__ import annotations

import click

from ..errors import BeeplanError


@click.command("import", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def import_command(args: tuple[str, ...]) -> None:
    """Write manifests from the live account."""
    raise BeeplanError("beeplan import: not implemented yet")


COMMANDS = [import_command]
