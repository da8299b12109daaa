"""The `import` command: write manifests from the live account."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import ExitStatus
from ..importer import (
    RELATION_KEYS,
)
from ..model import KINDS
from ..safetext import printable
from ..usecases.importing import Imported, ImportRequest, run_import
from .console import ClickConsole
from .options import endpoint_options, parallelism_option


@click.command(
    "import",
    epilog="""\b
Examples:
  beeplan import -o manifests/                       # everything, with all relations
  beeplan import -o manifests/                       # again after a quota stop: resumes
  beeplan import -o manifests/ --relations groups,leaders
  beeplan import -o manifests/ --relations none      # entities only; relations unmanaged
  beeplan import -o manifests/ --include-inactive --force
  beeplan import -o manifests/ --assign-xids         # then apply: the account moves to xids
  beeplan import --endpoint sandbox:demo.db -o /tmp/acme && beeplan plan /tmp/acme
  beeplan import --endpoint https://app.beebole.com/graphql -o manifests/   # current platform
  beeplan import --endpoint sandbox:current.db --platform current -o /tmp/org""",
)
@click.option(
    "-o",
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("manifests"),
    show_default=True,
    help="Directory to write the manifest set into.",
)
@click.option(
    "--relations",
    default="all",
    show_default=True,
    metavar="all|none|KEY,...",
    help="Which relation keys to import (and so manage): "
    + ", ".join(RELATION_KEYS)
    + ". Those left out stay unmanaged.",
)
@click.option(
    "--include-inactive",
    is_flag=True,
    help="Also write inactive entities (with active: false). Without it they stay unmanaged, "
    "except an inactive company or project that holds active ones (written, active: false).",
)
@click.option("--force", is_flag=True, help="Write into a non-empty directory (see below).")
@click.option(
    "--assign-xids",
    is_flag=True,
    help="Give every entity without an xid one derived from its name, written beside its "
    "id: the next apply sets them all; import again afterwards to write xids only.",
)
@click.option(
    "--platform",
    "platform",
    type=click.Choice(["current", "v2"]),
    default=None,
    help="The API a sandbox:FILE endpoint emulates (default v2): there are no manifests "
    "yet to say which. A URL says its own (a path ending in /graphql: current).",
)
@endpoint_options
@parallelism_option
@click.pass_context
def import_command(
    ctx: click.Context,
    out_dir: Path,
    relations: str,
    include_inactive: bool,
    force: bool,
    assign_xids: bool,
    endpoint: str,
    token_file: Path | None,
    parallelism: int,
    platform: str | None,
) -> ExitStatus:
    """Write the live account as a manifest set: the first step of adopting beeplan.

    One file per company (projects and subprojects nested), plus groups.yaml,
    tasks.yaml, people.yaml and absences.yaml (an account with nothing to
    write gets an account.yaml that holds nothing). Entities without an xid are
    written with their live id so the first plan adopts them in place. The
    output is deterministic: importing an unchanged account gives the same
    bytes. The first 'beeplan plan' on the result shows no changes.

    Before the relations (most of the cost), it says what they will cost
    against what is left of today's quota. Stopped by the quota or Ctrl-C,
    it keeps what it read in a checkpoint in the cache directory (never in
    the output directory, which a repository controls); the same command
    re-run later resumes without reading that again.

    Files are named after their entities (northwind.yaml), and each {id: N}
    reference has the entity's name beside it as a comment.

    --assign-xids proposes an xid for every entity that has none (from its
    name; unique in its kind, the same on every run), written as 'id: N' with
    'xid: X': the next plan shows one "set xid" per entity and one apply moves
    the account to xids.

    A non-empty directory is refused unless --force. With --force, only
    top-level files an earlier import wrote are replaced or removed; other
    files (a settings.yaml, people.yaml split into folders) are never
    overwritten or deleted, they stay part of the set and the command names
    them, and the entities they declare are not written again. When the
    result would not validate with them, nothing is written.

    On Beebole's current platform (an endpoint ending in /graphql, or
    sandbox:FILE with --platform current) the account is read in one request
    and written in that platform's vocabulary (docs/manifest-current.md):
    settings.yaml, projects.yaml, tags.yaml, people.yaml, tasks.yaml,
    absences.yaml, custom-fields.yaml; archived entities with 'archived: true';
    xids from the External ID field, else 'id:'. --force there refuses YAML
    files import did not write, and the v2-only options.
    """
    request = ImportRequest(out_dir, relations, endpoint, include_inactive=include_inactive,
                            force=force, assign_xids=assign_xids, parallelism=parallelism,
                            platform=platform)
    done = run_import(request, ClickConsole.of(ctx, token_file))
    if not ctx.find_root().params.get("quiet"):
        for line in report_lines(done, out_dir, assign_xids):
            click.echo(line)
    return ExitStatus.SUCCESS


COMMANDS = [import_command]


def report_lines(done: Imported, out_dir: Path, assign_xids: bool) -> list[str]:
    """What an import says when it is over (escaped: names come from the API)."""
    result, outcome, copies = done.result, done.outcome, done.copies
    reused = f"; {done.reused} answers reused from the stopped import" if done.reused else ""
    lines = [printable(
        f"Imported {done.summary or 'nothing'} into {out_dir}/ ({len(result.files)} files; "
        f"{done.calls} API call{'' if done.calls == 1 else 's'}, {done.kb:.0f} KB{reused})."
    )]
    if outcome.removed:
        lines.append(printable(
            f"Removed {len(outcome.removed)} file(s) an earlier import wrote: "
            + ", ".join(outcome.removed)
        ))
    if outcome.kept:
        lines.append(printable(
            f"Kept {len(outcome.kept)} YAML file(s) import did not write; they are part of "
            "the set: " + ", ".join(outcome.kept)
        ))
    if copies:
        lines.append(printable(
            f"Of those, {len(copies)} an earlier import wrote still declare live entities "
            "(a split or a renamed copy?), so they are kept too: " + ", ".join(copies)
        ))
    if result.left:
        left = ", ".join(f"{n} {KINDS[k].plural if n != 1 else k}"
                         for k, n in sorted(result.left.items()))
        lines.append(printable(f"Not written again, since the kept files declare them: {left}."))
    lines += [printable(f"Note: {note}") for note in done.notes]
    if assign_xids:
        proposed = result.proposed
        lines.append(
            f"Proposed xids for {proposed} entit{'y' if proposed == 1 else 'ies'} without "
            "one: review them, then 'beeplan apply' sets them; import again afterwards "
            "to write xids only."
        )
    lines.append(printable(f"Next: beeplan validate {out_dir} && beeplan plan {out_dir}"))
    return lines
