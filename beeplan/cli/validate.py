"""The `validate` command."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click

from .. import platforms
from ..annotations import Annotation, from_problems, problem_json, workflow_command
from ..errors import ExitStatus, ManifestError, Problem, warning_lines
from ..manifest import load
from ..manifest._written import WrittenForOther
from ..platforms.current import manifest as current_manifest
from ..safetext import json_text, printable

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
    return printable(f"{path}: valid ({', '.join(parts)})")


@click.command(
    "validate",
    epilog="""\b
Examples:
  beeplan validate examples/acme          # a directory: every *.yaml/*.yml below it
  beeplan validate manifests/people.yaml  # a single file
  beeplan validate manifests/ --format github   # in a workflow: errors on the PR's lines
  beeplan validate manifests/ --format json     # the errors as data
  beeplan validate common/ envs/prod/     # several sets, merged in order (later override)""",
)
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path),
                metavar="PATH...")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "github", "json"]),
    default="text",
    show_default=True,
    help="github: one workflow annotation per error and warning (::error file=F,line=L,...), "
    "placed on its line in a pull request; json: {valid, counts, errors, warnings} on stdout.",
)
def validate_command(paths: tuple[Path, ...], fmt: str) -> ExitStatus:
    """Check manifests offline: schema, references, cycles, names and dates.

    PATH is a manifest file or a directory (all *.yaml and *.yml files below
    it, merged). Several PATHs are merged in order, later ones overriding
    entries with the same xid (docs/manifest.md). Prints a one-line summary
    and exits 0 when valid; otherwise lists every error as
    file:line: path: message and exits 1. Warnings (legal but odd, such as
    duplicate sibling names) are printed on stderr and do not change the
    exit status. Makes no API call and needs no token.

    A set whose settings.platform says current (Beebole's current platform,
    docs/manifest-current.md) is checked against that platform's manifest
    schema instead, with the same output; plan, check, apply, diff and graph
    take such a set too (docs/manifest-current.md).
    """
    warnings: list[Problem] = []
    quiet = bool(click.get_current_context().find_root().params.get("quiet"))
    try:
        state = load(paths, warnings)
    except WrittenForOther as other:
        return _validate_other(paths, fmt, other, quiet)
    except ManifestError as exc:
        if fmt != "text":
            click.echo(_report(fmt, exc.problems, warnings, None), nl=False)
        raise  # the summary on stderr and exit 1, from beeplan.cli.main
    if fmt != "text":
        click.echo(_report(fmt, (), warnings, state.counts()), nl=False)
    if fmt == "github" and not quiet:
        # A plain line, for the log.
        click.echo(summary(" ".join(str(p) for p in paths), state.counts()))
    elif fmt == "text" and not quiet:
        for line in warning_lines(warnings):
            click.echo(printable(line), err=True)
        click.echo(summary(" ".join(str(p) for p in paths), state.counts()))
    return ExitStatus.SUCCESS


def _validate_other(paths: tuple[Path, ...], fmt: str, other: WrittenForOther,
                    quiet: bool) -> ExitStatus:
    """Check a set written for the current platform with that platform's checker."""
    problems = list(other.problems)
    counts: dict[str, int] = {}
    for name, data in other.files:
        problems.extend(current_manifest.check(data, name))
        for key, value in data.items():
            if key != "settings" and isinstance(value, list):
                counts[key] = counts.get(key, 0) + len(value)
    engine = platforms.get(other.declared.platform).engine
    if not problems and engine is not None:
        # References, duplicate xids, values against their fields: what plan refuses
        # before any request, validate reports too (the schema alone let them through).
        try:
            engine.load(other.files, other.problems)
        except ManifestError as exc:
            problems.extend(exc.problems)
    if problems:
        if fmt != "text":
            click.echo(_report(fmt, problems, (), None), nl=False)
        raise ManifestError(problems)
    if fmt != "text":
        click.echo(_report(fmt, (), (), counts), nl=False)
    if fmt != "json" and not quiet:
        shown = ", ".join(f"{n} {key}" for key, n in counts.items())
        click.echo(printable(
            f"{' '.join(str(p) for p in paths)}: valid for Beebole's {other.declared.platform} "
            f"platform ({shown}; {other.declared.where}); plan, check and apply it against "
            "an endpoint of that platform"))
    return ExitStatus.SUCCESS


def _report(
    fmt: str,
    errors: Sequence[Problem],
    warnings: Sequence[Problem],
    counts: dict[str, int] | None,
) -> str:
    if fmt == "github":
        # GitHub shows a few annotations per step: 100,000 lines would only bury the log.
        cap = ManifestError.MAX_SHOWN
        found = from_problems(errors[:cap]) + from_problems(warnings[:cap], level="warning")
        for rest, level, what in ((len(errors) - cap, "error", "errors"),
                                  (len(warnings) - cap, "warning", "warnings")):
            if rest > 0:
                found.append(Annotation(f"... and {rest:,} more {what} (the first {cap} are "
                                        "annotated: fix them and run again)", level=level))
        return "".join(workflow_command(a) + "\n" for a in found)
    doc = {
        "valid": not errors,
        "counts": counts,
        "errors": [problem_json(p) for p in errors],
        "warnings": [problem_json(p) for p in warnings],
    }
    return json_text(doc) + "\n"


COMMANDS = [validate_command]
