"""The `diff` command: manifest set vs manifest set, offline, for pull-request review."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import click

from ..errors import ExitStatus
from ..render import render_markdown, render_text
from ..render.jsonplan import plan_document
from .options import detailed_exitcode_option, format_option
from .progress import use_color

RELEASED_HEAD = "No longer managed by beeplan (apply leaves their live values as they are):"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _same(changed: bool) -> str:
    """What an empty offline plan means: settings or keys may still have changed."""
    if changed:
        return "No entity changes between the two sets."
    return "No changes between the two sets."


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
    OLD_PATH and NEW_PATH are one manifest set each: to review merged sets
    (plan common/ envs/prod/), diff the set that changed.
    """
    from ..manifest import load
    from ..review import diff_sets

    old, new = load(old_path), load(new_path)
    found = diff_sets(old, new)
    plan = found.plan
    if fmt == "json":
        doc = plan_document(plan)
        doc.pop("fingerprints", None)
        doc.pop("read_relations", None)
        doc.pop("plan_digest", None)  # no apply will ever print it: see _NO_DIGEST
        # A settings change or a key no longer managed is a change too (exit 2).
        doc["changes_present"] = found.changed
        doc["settings_changes"] = list(found.settings)
        doc["no_longer_managed"] = [
            {"kind": r.entity.kind, "entity": r.entity.ref.label, "name": r.entity.name,
             "keys": list(r.keys)}
            for r in found.released
        ]
        click.echo(json.dumps({"old": str(old_path), "new": str(new_path), **doc}, indent=2))
    elif fmt == "markdown":
        title = f"beeplan diff {old_path} → {new_path}"
        text = _NO_DIGEST.sub("", render_markdown(plan, title=title))
        # diff sees no account: say what differs between the two sets instead.
        text = text.replace(
            "**No changes.** The account matches the manifests.", f"**{_same(found.changed)}**"
        ).replace(
            "live entities are not in the manifests (left alone)",
            f"entities are in {_md(str(old_path))} only; apply leaves them alone",
        )
        extra: list[str] = []
        if found.settings:
            extra += ["", "**Settings change**", ""]
            extra += [f"- {_md(line.strip())}" for line in found.settings]
        if found.released:
            extra += ["", f"**{RELEASED_HEAD}**", ""]
            extra += [f"- {_md(r.line())}" for r in found.released]
        click.echo(text.rstrip("\n") + "\n" + "\n".join(extra) + ("\n" if extra else ""), nl=False)
    else:
        text = _NO_DIGEST.sub("", render_text(plan, color=use_color(sys.stdout.isatty())))
        text = text.replace(
            "No changes. The account matches the manifests.", _same(found.changed)
        ).replace(
            "beeplan will make these API calls:", f"Changes from {old_path} to {new_path}:"
        )
        text = text.replace(
            "live entities are not in the manifests and are left alone",
            f"entities are in {old_path} only; apply leaves them alone",
        )
        lines: list[str] = []
        if found.settings:
            lines += ["Settings change:", *(f"  {line}" for line in found.settings), ""]
        if found.released:
            lines += [RELEASED_HEAD, *(f"  ~ {r.line()}" for r in found.released), ""]
        click.echo("\n".join(lines) + text, nl=False)
    if plan.problems:
        return ExitStatus.ERROR  # apply would refuse the new set, as plan does
    if detailed_exitcode and found.changed:
        return ExitStatus.CHANGES
    return ExitStatus.SUCCESS


# A diff is no plan of an account: no apply prints its digest, and a reviewer
# matching a PR comment's digest with the one the merge job's apply prints
# would see a mismatch where nothing was tampered with.
_NO_DIGEST = re.compile(r"^\n?Plan digest: [0-9a-f]+.*\n", re.MULTILINE)

COMMANDS = [diff_command]
