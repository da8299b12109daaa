"""The `plan` commands."""

from __future__ import annotations

import click

from ..errors import BeeplanError


@click.command("plan", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def plan_command(args: tuple[str, ...]) -> None:
    """Show the API calls that would bring the account to the manifests."""
    raise BeeplanError("beeplan plan: not implemented yet")


@click.command("apply", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def apply_command(args: tuple[str, ...]) -> None:
    """Make the API calls of a plan."""
    raise BeeplanError("beeplan apply: not implemented yet")


@click.command("check", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def check_command(args: tuple[str, ...]) -> None:
    """Exit 2 when the account drifted from the manifests."""
    raise BeeplanError("beeplan check: not implemented yet")


COMMANDS = [plan_command, apply_command, check_command]
