"""The `convert` command: a legacy (API v2) manifest set -> current-platform manifests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..errors import BeeplanError, ExitStatus, Problem
from ..manifest import boundary_of, load, manifest_files, read_manifest
from ..manifest._yaml import parse
from ..platforms.current.convert import HEADER, Conversion, convert, dump
from ..safetext import json_text, printable

OWN_NAMES = ("settings.yaml", "projects.yaml", "tags.yaml", "people.yaml", "tasks.yaml",
             "absences.yaml", "custom-fields.yaml")


def _parsed(path: Path) -> list[tuple[str, Any]]:
    """The v2 files as parsed trees (lines kept); ``load`` has already accepted them."""
    boundary = boundary_of(path)
    out: list[tuple[str, Any]] = []
    for file in manifest_files(path, boundary):
        problems: list[Problem] = []
        data = parse(read_manifest(file, boundary).decode("utf-8-sig"), str(file), problems)
        if isinstance(data, dict):
            out.append((str(file), data))
    return out


def _written_by_convert(file: Path) -> bool:
    try:
        with file.open(encoding="utf-8") as handle:
            return handle.readline() == HEADER
    except (OSError, UnicodeDecodeError):
        return False


def _prepare(legacy: Path, out: Path, force: bool) -> None:
    """Refuse a non-empty DIR (without --force) or a file convert did not write (always)."""
    if legacy.is_dir() and out.resolve().is_relative_to(legacy.resolve()):
        # the next run would read the converted files as v2 manifests, and fail on them
        raise BeeplanError(f"{out}: inside {legacy}, the set being converted; nothing written. "
                           "Choose a directory outside it")
    if out.exists() and not out.is_dir():
        raise BeeplanError(f"{out}: not a directory: give -o a directory to write into")
    if not out.exists() or not any(out.iterdir()):
        return
    if not force:
        raise BeeplanError(f"{out}: not empty; nothing written. Give an empty or new directory, "
                           "or --force to replace the files an earlier convert wrote there")
    foreign = [name for name in OWN_NAMES
               if (out / name).exists() and not _written_by_convert(out / name)]
    if foreign:
        raise BeeplanError(f"{out / foreign[0]}: not written by 'beeplan convert'; nothing "
                           "written. Move it away or choose another directory")


def _write(out: Path, result: Conversion) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    for name in OWN_NAMES:  # an earlier convert's file this run does not write would mislead
        if name not in result.documents and (out / name).exists():
            (out / name).unlink()
    written = []
    for name, document in result.documents.items():
        text = dump(document)
        file = out / name
        file.write_text(text, encoding="utf-8")
        written.append(file)
    return written


@click.command(
    "convert",
    epilog="""\b
Examples:
  beeplan convert examples/acme -o current/          # write current-platform manifests
  beeplan convert manifests/ -o current/ --force     # replace an earlier convert's files
  beeplan convert manifests/ -o current/ --format json   # the report as data

The mapping and the next steps: docs/moving-to-the-current-platform.md""",
)
@click.argument("legacy_path", type=click.Path(path_type=Path), metavar="LEGACY_PATH")
@click.option("-o", "--output", "out", required=True, type=click.Path(path_type=Path),
              metavar="DIR", help="Directory to write the current-platform manifests into.")
@click.option("--force", is_flag=True,
              help="Write into a non-empty DIR, replacing only the files convert wrote there.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True,
              help="json: {written, dropped, assumed} on stdout, each key with file and line.")
def convert_command(legacy_path: Path, out: Path, force: bool, fmt: str) -> ExitStatus:
    """Convert a legacy (API v2) manifest set to Beebole's current platform.

    LEGACY_PATH is a v2 manifest file or directory; it is validated as
    'beeplan validate' does (any error: exit 1, nothing written). The result
    follows Beebole's own legacy migration: companies become top-level projects,
    groups become tags, members become assignments, leaders become managers,
    user groups become roles; every xid is kept. Each v2 key with no
    counterpart is listed with its file and line. Makes no API call.
    """
    load(legacy_path)  # a ManifestError is reported by beeplan.cli.main: exit 1
    result = convert(_parsed(legacy_path))
    _prepare(legacy_path, out, force)
    written = _write(out, result)
    if fmt == "json":
        click.echo(json_text({
            "written": [str(f) for f in written],
            "dropped": [{"file": d.file, "line": d.line, "path": d.path, "key": d.key,
                         "reason": d.why} for d in result.dropped],
            "assumed": [{"file": d.file, "line": d.line, "path": d.path, "key": d.key,
                         "reason": d.why} for d in result.assumed],
        }))
        return ExitStatus.SUCCESS
    for item in (*result.dropped, *result.assumed):
        click.echo(printable(item.text() if item in result.dropped
                             else f"{item.file}:{item.line}: {item.path}: {item.why}"))
    click.echo(printable(
        f"{legacy_path} -> {out}: {len(written)} files written; {len(result.dropped)} keys "
        f"without a counterpart (listed above), {len(result.assumed)} "
        f"value{'' if len(result.assumed) == 1 else 's'} assumed. Review them, then: "
        f"beeplan plan {out} --endpoint URL/graphql (docs/moving-to-the-current-platform.md)."))
    return ExitStatus.SUCCESS


COMMANDS = [convert_command]
