"""The `validate` command."""

from __future__ import annotations

import click

from ..errors import BeeplanError


@click.command("validate", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def validate_command(args: tuple[str, ...]) -> None:
    """Check manifests offline: schema and references."""
    raise BeeplanError("beeplan validate: not implemented yet")


COMMANDS = [validate_command]
