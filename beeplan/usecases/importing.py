"""``beeplan import``: write the live account as a manifest set.

Reads the whole account (resuming from a checkpoint kept in the cache, see
beeplan/resume.py), turns it into files (beeplan/importer.py) and writes
them, keeping the files an earlier import did not write.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import BeeplanError, ConfigError, ManifestError
from ..import_checkpoint import CHECKPOINT_NAME, read_for_import
from ..importer import (
    ImportedSet,
    WriteOutcome,
    check_result,
    import_set,
    kept_files,
    parse_relations,
    write_set,
)
from ..manifest import load
from ..manifest._written import WrittenForOther
from ..model import KINDS
from ..safetext import printable_lines
from .console import Console


@dataclass(frozen=True)
class ImportRequest:
    """``beeplan import``'s arguments (see its --help)."""

    out_dir: Path
    relations: str
    endpoint: str
    include_inactive: bool = False
    force: bool = False
    assign_xids: bool = False
    parallelism: int = 4


@dataclass(frozen=True)
class Imported:
    """What an import wrote, and what it cost."""

    result: ImportedSet
    outcome: WriteOutcome
    copies: tuple[str, ...]  # files an earlier import wrote, kept since they still declare
    summary: str  # "2 companies, 1 person"
    calls: int
    kb: float
    reused: int  # answers reused from a stopped import


def _refuse_other_platform(out_dir: Path) -> None:
    """A set written for another platform is not import's to mix v2 files into: say so first."""
    try:
        load(out_dir)
    except WrittenForOther:
        raise
    except ManifestError:
        pass  # kept_files below says what is wrong with the files import keeps


def run_import(request: ImportRequest, console: Console) -> Imported:
    r = request
    out_dir, force = r.out_dir, r.force
    try:
        wanted = parse_relations(r.relations)
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
    if existing and force:
        _refuse_other_platform(out_dir)
    # Read before the account is: a kept file that does not parse costs no API call.
    kept = kept_files(out_dir) if existing else None

    def tell(message: str) -> None:
        if not console.quiet:
            console.say(printable_lines(message), err=True)  # may quote names read off the API

    with console.open_client(r.endpoint) as client:
        progress = console.read_progress(shown=not console.quiet)
        live, checkpoint = read_for_import(
            client, wanted, out_dir, r.endpoint, r.parallelism, progress, tell
        )
        progress.done()
        calls = client.usage.total_requests
        kb = client.usage.total_bytes / 1024
    result = import_set(live, wanted, r.include_inactive, r.assign_xids, kept)
    copies: tuple[str, ...] = ()
    if kept is not None:
        # A file an earlier import wrote that still declares live entities, under a
        # name this import does not write, is the user's (a split people.yaml): kept.
        copies = kept.copies(live, result.files)
        if copies:
            kept = kept.keeping(copies)
            result = import_set(live, wanted, r.include_inactive, r.assign_xids, kept)
        check_result(out_dir, result.files, kept)
    outcome = write_set(out_dir, result.files, keep=copies)
    checkpoint.remove()
    summary = ", ".join(
        f"{n} {KINDS[kind].plural if n != 1 else kind}"
        for kind in live.counts()
        if (n := result.counts.get(kind, 0))
    )
    return Imported(result, outcome, copies, summary, calls, kb, checkpoint.reused)
