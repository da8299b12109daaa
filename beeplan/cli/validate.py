"""The `validate` command."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import ExitStatus, Problem, warning_lines
from ..manifest import load

# Display order: how a person reads an account, top down.
_COUNTED = (
    ("company", "company", "companies"),
    ("project", "project", "projects"),
    ("subproject", "subproject", "subprojects"),
    ("task", "task", "tasks"),
    ("group", "group", "groups"),
    ("person", "person", "people"),
    ("absence", "absence", "absences"),
)


def summary(path: str, counts: dict[str, int]) -> str:
    parts = [f"{counts.get(kind, 0)} {one if counts.get(kind, 0) == 1 else many}"
             for kind, one, many in _COUNTED]
    return f"{path}: valid ({', '.join(parts)})"


@click.command(
    "validate",
    epilog="""\b
Examples:
  beeplan validate examples/acme          # a directory: every *.yaml/*.yml below it
  beeplan validate manifests/people.yaml  # a single file""",
)
@click.argument("path", type=click.Path(path_type=Path), metavar="PATH")
def validate_command(path: Path) -> ExitStatus:
    """Check manifests offline: schema, references, cycles, names and dates.

    PATH is a manifest file or a directory (all *.yaml and *.yml files below
    it, merged). Prints a one-line summary and exits 0 when valid; otherwise
    lists every error as file:line: path: message and exits 1. Warnings
    (legal but odd, such as duplicate sibling names) are printed on stderr
    and do not change the exit status. Makes no API call and needs no token.
    """
    warnings: list[Problem] = []
    state = load(path, warnings)  # a ManifestError is printed by beeplan.cli.main
    root = click.get_current_context().find_root()
    if not root.params.get("quiet"):
        for line in warning_lines(warnings):
            click.echo(line, err=True)
        click.echo(summary(str(path), state.counts()))
    return ExitStatus.SUCCESS


COMMANDS = [validate_command]
