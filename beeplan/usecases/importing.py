"""``beeplan import``: write the live account as a manifest set.

Reads the whole account (resuming from a checkpoint kept in the cache, see
beeplan/resume.py), turns it into files (beeplan/importer.py) and writes
them, keeping the files an earlier import did not write.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import platforms
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
    written_by_import,
)
from ..manifest import load
from ..manifest import manifest_files as set_files
from ..manifest._written import WrittenForOther
from ..model import KINDS
from ..platforms.base import ImportedAccount, Platform
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
    # --platform: the API of a sandbox:FILE endpoint (a URL says its own); None: the URL's,
    # or v2's for a sandbox
    platform: str | None = None


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
    notes: tuple[str, ...] = ()  # what the user should know (a platform's import says)


def _refuse_other_platform(out_dir: Path) -> None:
    """A set written for another platform is not import's to mix v2 files into: say so first."""
    try:
        load(out_dir)
    except WrittenForOther:
        raise
    except ManifestError:
        pass  # kept_files below says what is wrong with the files import keeps


def _existing(out_dir: Path, force: bool) -> bool:
    """Whether ``out_dir`` holds anything: refused unless ``force``, before any API call."""
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
    return bool(existing)


def import_platform(endpoint: str, chosen: str | None) -> Platform:
    """The platform an import reads: the endpoint's; for ``sandbox:FILE``, ``chosen`` (else v2).

    There are no manifests yet to say which platform a sandbox should speak, so
    --platform says it; given with a URL, it must agree with the URL.
    """
    platform = platforms.for_endpoint(endpoint, chosen)
    if chosen is not None and platform.name != chosen:
        raise ConfigError(
            f"--platform {chosen}: the endpoint {platforms.shown_endpoint(endpoint)} speaks the "
            f"{platform.name!r} platform's API; give an endpoint of {chosen!r} (--endpoint "
            f"{platforms.endpoint_like(chosen, endpoint)}), or leave --platform out"
        )
    return platform


def run_import(request: ImportRequest, console: Console) -> Imported:
    r = request
    out_dir, force = r.out_dir, r.force
    platform = import_platform(r.endpoint, r.platform)
    if platform.import_account is not None:
        return _run_platform_import(r, platform, platform.import_account, console)
    try:
        wanted = parse_relations(r.relations)
    except ValueError as exc:
        raise ConfigError(f"--relations: {exc}") from None
    existing = _existing(out_dir, force)
    if existing and force:
        _refuse_other_platform(out_dir)
    # Read before the account is: a kept file that does not parse costs no API call.
    kept = kept_files(out_dir) if existing else None

    def tell(message: str) -> None:
        if not console.quiet:
            console.say(printable_lines(message), err=True)  # may quote names read off the API

    with console.open_client(r.endpoint, platform.name) as client:
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


# Options of the v2 import that a platform's own import does not take (it writes every
# entity, archived ones with 'archived: true', and every relation).
_V2_ONLY = (("relations", "all", "--relations"), ("include_inactive", False, "--include-inactive"),
            ("assign_xids", False, "--assign-xids"))


def _run_platform_import(r: ImportRequest, platform: Platform,
                         import_account: Callable[[Any], ImportedAccount],
                         console: Console) -> Imported:
    """Import through the platform's own entry point; files written by import's rules.

    A non-empty directory is refused unless --force; with it, only top-level files
    an earlier import wrote are replaced or removed (``write_set``). Other YAML files
    there would stay part of the set and declare entities twice, or mix vocabularies,
    so they are refused before any API call: the user moves them.
    """
    for field, default, option in _V2_ONLY:
        if getattr(r, field) != default:
            raise ConfigError(
                f"{option} is an option of the API v2 import; the {platform.name} platform's "
                "import writes every entity (archived ones with 'archived: true') and every "
                "relation: leave it out"
            )
    out_dir = r.out_dir
    if _existing(out_dir, r.force):
        _refuse_kept_files(out_dir, platform.name)
    with console.open_client(r.endpoint, platform.name) as client:
        account = import_account(client)
        calls = client.usage.total_requests
        kb = client.usage.total_bytes / 1024
    outcome = write_set(out_dir, account.files)
    result = ImportedSet(dict(account.files), {})
    return Imported(result, outcome, (), account.summary, calls, kb, 0, account.notes)


def _refuse_kept_files(out_dir: Path, platform: str) -> None:
    """Refuse --force into a directory whose set import would not wholly replace."""
    try:
        paths = set_files(out_dir)
    except ManifestError:
        return  # no YAML file: nothing would stay in the set
    theirs = [p.relative_to(out_dir).as_posix() for p in paths
              if p.parent != out_dir or not written_by_import(p)]
    if theirs:
        shown = ", ".join(theirs[:10]) + (f" and {len(theirs) - 10} more" if len(theirs) > 10
                                          else "")
        raise BeeplanError(
            f"refusing to import into {out_dir}: {shown} {'was' if len(theirs) == 1 else 'were'}"
            f" not written by 'beeplan import', and would stay part of the set beside the "
            f"{platform} platform's files (declaring entities twice, or in another "
            "vocabulary). Move them out of the directory, or choose another -o directory. "
            "Nothing was read or written."
        )
    try:
        load(out_dir)
    except WrittenForOther as other:
        if other.declared.platform == platform:
            return
        raise  # pragma: no cover - the registry knows one other vocabulary today
    except ManifestError:
        return  # import's own files, unreadable: replaced all the same
    raise BeeplanError(
        f"refusing to import into {out_dir}: it holds an API v2 manifest set that "
        f"'beeplan import' wrote, and --force would replace it with the {platform} "
        "platform's. Choose another -o directory (or remove those files first). Nothing "
        "was read or written."
    )
