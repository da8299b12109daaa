"""The `diff` command: manifest set vs manifest set, offline, for pull-request review."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import click

from ..errors import ExitStatus
from ..model import CustomField, Index, State, entity_key
from ..planner import Plan, Unmanaged, make_plan
from ..render import render_markdown, render_text
from ..render.jsonplan import plan_document
from .options import detailed_exitcode_option, format_option
from .progress import use_color


def diff_states(old: State, new: State) -> Plan:
    """What applying NEW would change in an account that matches OLD exactly.

    The planner does the work: OLD plays the live account. Custom field ids
    are not known offline, so every name used stands for itself.
    """
    names = sorted(
        {
            name
            for e in (*old.entities, *new.entities)
            for name in e.relations.get("customFields", {})
        }
    )
    fields = tuple(CustomField(i + 1, name) for i, name in enumerate(names))
    plan = make_plan(new, replace(old, custom_fields=fields))
    # A kind dropped from the manifests altogether becomes unmanaged, so the
    # planner does not list it; a reviewer still needs to see what left.
    acted_on = {entity_key(a.target) for a in plan.actions}
    in_new = Index(new)
    gone = tuple(
        Unmanaged(e.ref, e.name, e.active)
        for e in old.entities
        if in_new.find(e.ref) is None and entity_key(e.ref) not in acted_on
    )
    return replace(plan, unmanaged=gone)


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
    make to an account that matched OLD_PATH.
    """
    from ..manifest import load

    old, new = load(old_path), load(new_path)
    plan = diff_states(old, new)
    if fmt == "json":
        doc = plan_document(plan)
        doc.pop("fingerprints", None)
        doc.pop("read_relations", None)
        click.echo(json.dumps({"old": str(old_path), "new": str(new_path), **doc}, indent=2))
    elif fmt == "markdown":
        click.echo(render_markdown(plan, title=f"beeplan diff {old_path} → {new_path}"), nl=False)
    else:
        text = render_text(plan, color=use_color(sys.stdout.isatty()))
        text = text.replace(
            "No changes. The account matches the manifests.", "No changes between the two sets."
        ).replace("beeplan will make these API calls:", f"Changes from {old_path} to {new_path}:")
        text = text.replace(
            "live entities are not in the manifests and are left alone",
            f"entities are in {old_path} only; apply leaves them alone",
        )
        click.echo(text, nl=False)
    if detailed_exitcode and not plan.empty:
        return ExitStatus.CHANGES
    return ExitStatus.SUCCESS


COMMANDS = [diff_command]
