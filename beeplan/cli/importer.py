"""The `import` command: write manifests from the live account."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import BeeplanError, ConfigError, ExitStatus
from ..importer import (
    RELATION_KEYS,
    check_result,
    import_set,
    kept_files,
    parse_relations,
    write_set,
)
from ..model import KINDS
from ..resume import CHECKPOINT_NAME, read_for_import
from ..safetext import printable, printable_lines
from .options import endpoint_options, open_client, parallelism_option
from .progress import ReadProgress


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
  beeplan import --endpoint sandbox:demo.db -o /tmp/acme && beeplan plan /tmp/acme""",
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
    """
    try:
        wanted = parse_relations(relations)
    except ValueError as exc:
        raise ConfigError(f"--relations: {exc}") from None
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"{out_dir} exists and is not a directory")
    # An old-style checkpoint left in the folder is ignored (with a warning), not content.
    existing = (
        sorted(p for p in out_dir.iterdir() if p.name != CHECKPOINT_NAME)
        if out_dir.is_dir()
        else []
    )
    if existing and not force:
        raise BeeplanError(
            f"{out_dir} is not empty; refusing to overwrite it. "
            "Choose another -o directory, or pass --force."
        )
    quiet = bool(ctx.find_root().params.get("quiet"))
    # Read before the account is: a kept file that does not parse costs no API call.
    kept = kept_files(out_dir) if existing else None

    def tell(message: str) -> None:
        if not quiet:
            click.echo(printable_lines(message), err=True)  # may quote names read off the API

    with open_client(endpoint, token_file) as client:
        progress = ReadProgress(enabled=not quiet)
        live, checkpoint = read_for_import(
            client, wanted, out_dir, endpoint, parallelism, progress, tell
        )
        progress.done()
        calls = client.usage.total_requests
        kb = client.usage.total_bytes / 1024
    result = import_set(live, wanted, include_inactive, assign_xids, kept)
    copies: tuple[str, ...] = ()
    if kept is not None:
        # A file an earlier import wrote that still declares live entities, under a
        # name this import does not write, is the user's (a split people.yaml): kept.
        copies = kept.copies(live, result.files)
        if copies:
            kept = kept.keeping(copies)
            result = import_set(live, wanted, include_inactive, assign_xids, kept)
        check_result(out_dir, result.files, kept)
    files = result.files
    outcome = write_set(out_dir, files, keep=copies)
    checkpoint.remove()
    summary = ", ".join(
        f"{n} {KINDS[kind].plural if n != 1 else kind}"
        for kind in live.counts()
        if (n := result.counts.get(kind, 0))
    )
    if not quiet:
        reused = (
            f"; {checkpoint.reused} answers reused from the stopped import"
            if checkpoint.reused
            else ""
        )
        click.echo(printable(
            f"Imported {summary or 'nothing'} into {out_dir}/ ({len(files)} files; "
            f"{calls} API calls, {kb:.0f} KB{reused})."
        ))
        if outcome.removed:
            click.echo(printable(
                f"Removed {len(outcome.removed)} file(s) an earlier import wrote: "
                + ", ".join(outcome.removed)
            ))
        if outcome.kept:
            click.echo(printable(
                f"Kept {len(outcome.kept)} YAML file(s) import did not write; they are part of "
                "the set: " + ", ".join(outcome.kept)
            ))
        if copies:
            click.echo(printable(
                f"Of those, {len(copies)} an earlier import wrote still declare live entities "
                "(a split or a renamed copy?), so they are kept too: " + ", ".join(copies)
            ))
        if result.left:
            left = ", ".join(f"{n} {KINDS[k].plural if n != 1 else k}"
                             for k, n in sorted(result.left.items()))
            click.echo(printable(f"Not written again, since the kept files declare them: {left}."))
        if assign_xids:
            proposed = result.proposed
            click.echo(
                f"Proposed xids for {proposed} entit{'y' if proposed == 1 else 'ies'} without "
                "one: review them, then 'beeplan apply' sets them; import again afterwards "
                "to write xids only."
            )
        click.echo(printable(f"Next: beeplan validate {out_dir} && beeplan plan {out_dir}"))
    return ExitStatus.SUCCESS


COMMANDS = [import_command]
