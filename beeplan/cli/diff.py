"""The `diff` command: manifest set vs manifest set, offline, for pull-request review."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..errors import ExitStatus
from ..render import render_markdown, render_text
from ..render.common import Compared
from ..render.jsonplan import plan_document
from ..safetext import json_text, markdown, printable
from ..usecases.diff import compare_sets
from .options import detailed_exitcode_option, format_option
from .progress import use_color

if TYPE_CHECKING:
    from ..setdiff import SetDiff

RELEASED_HEAD = "No longer managed by beeplan (apply leaves their live values as they are):"


@click.command(
    "diff",
    epilog="""\b
Examples:
  beeplan diff base/manifests manifests               # what a pull request changes
  beeplan diff old/ new/ --format markdown > diff.md
  beeplan diff old/ new/ --detailed-exitcode          # exit 2 when they differ""",
)
@click.argument("old_path", type=click.Path(exists=True, path_type=Path))
@click.argument("new_path", type=click.Path(exists=True, path_type=Path))
@format_option
@detailed_exitcode_option
def diff_command(old_path: Path, new_path: Path, fmt: str, detailed_exitcode: bool) -> ExitStatus:
    """Compare two manifest sets offline: what changes, entity by entity, field by field.

    Needs no token and makes no API call, so a pull request can be reviewed
    by anyone. The changes are shown as the API calls 'beeplan apply' would
    make to an account that matched OLD_PATH, with the settings that change
    (and what that means for entities neither set names) and the keys NEW
    stops managing. Exit 1 when NEW holds changes apply would refuse.
    OLD_PATH may be a folder with no manifests yet (the first pull request).
    OLD_PATH and NEW_PATH are one manifest set each: to review merged sets
    (plan common/ envs/prod/), diff the set that changed. Two current-platform
    sets are compared entry by entry in that platform's vocabulary.
    """
    found = compare_sets(old_path, new_path)
    if fmt == "json":
        click.echo(json_text(_json_document(found, old_path, new_path)))
    elif fmt == "markdown":
        click.echo(_markdown(found, old_path, new_path), nl=False)
    else:
        click.echo(_text(found, old_path, new_path), nl=False)
    if found.plan.problems:
        return ExitStatus.ERROR  # apply would refuse the new set, as plan does
    if detailed_exitcode and found.changed:
        return ExitStatus.CHANGES
    return ExitStatus.SUCCESS


def _compared(found: SetDiff, old_path: Path, new_path: Path) -> Compared:
    # diff sees no account: the renderers word their sentences for two sets.
    return Compared(old=str(old_path), new=str(new_path), changed=found.changed)


def _json_document(found: SetDiff, old_path: Path, new_path: Path) -> dict[str, Any]:
    doc = plan_document(found.plan)
    doc.pop("fingerprints", None)
    doc.pop("read_relations", None)
    doc.pop("plan_digest", None)  # no apply will ever print it: see Compared.digest
    # A settings change or a key no longer managed is a change too (exit 2).
    doc["changes_present"] = found.changed
    doc["settings_changes"] = list(found.settings)
    doc["no_longer_managed"] = [
        {"kind": r.entity.kind, "entity": r.entity.ref.label, "name": r.entity.name,
         "keys": list(r.keys)}
        for r in found.released
    ]
    return {"old": str(old_path), "new": str(new_path), **doc}


def _markdown(found: SetDiff, old_path: Path, new_path: Path) -> str:
    title = f"beeplan diff {old_path} → {new_path}"
    text = render_markdown(found.plan, title=title, compared=_compared(found, old_path, new_path))
    extra: list[str] = []
    if found.settings:
        extra += ["", "**Settings change**", ""]
        extra += [f"- {markdown(line.strip())}" for line in found.settings]
    if found.released:
        extra += ["", f"**{RELEASED_HEAD}**", ""]
        extra += [f"- {markdown(r.line())}" for r in found.released]
    return text.rstrip("\n") + "\n" + "\n".join(extra) + ("\n" if extra else "")


def _text(found: SetDiff, old_path: Path, new_path: Path) -> str:
    color = use_color(sys.stdout.isatty())
    text = render_text(found.plan, color=color, compared=_compared(found, old_path, new_path))
    lines: list[str] = []
    if found.settings:
        lines += ["Settings change:", *(printable(f"  {line}") for line in found.settings), ""]
    if found.released:
        lines += [RELEASED_HEAD, *(printable(f"  ~ {r.line()}") for r in found.released), ""]
    return "\n".join(lines) + text


COMMANDS = [diff_command]
