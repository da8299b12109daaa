"""Issue 24: ``plan --changed-since`` parses each of PATH's files once (the differing ones
are not parsed again to compare with BASE), and BASE only where its files differ; what
it finds is the same as when BASE's files are all read."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import beeplan.manifest as manifest
from beeplan.changed import partial_base
from beeplan.manifest import load

ACME = Path(__file__).resolve().parent.parent / "examples" / "acme"


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the files the loader parses, in order (its parser, counted)."""
    names: list[str] = []
    real = manifest.parse

    def counting(text: str, name: str, problems: list[object]) -> object:
        names.append(Path(name).name)
        return real(text, name, problems)  # type: ignore[arg-type]

    monkeypatch.setattr(manifest, "parse", counting)
    return names


def base_and_head(tmp_path: Path, marc: str) -> tuple[Path, Path, Path]:
    """BASE and HEAD copies of acme, HEAD's people.yaml renaming Marc Dubois to ``marc``."""
    base, head = tmp_path / "base", tmp_path / "head"
    shutil.copytree(ACME, base)
    shutil.copytree(ACME, head)
    people = head / "people.yaml"
    people.write_text(people.read_text().replace("name: Marc Dubois", f"name: {marc}"))
    return base, head, people


def test_head_files_are_parsed_once_and_base_only_where_it_differs(
    tmp_path: Path, parsed: list[str]
) -> None:
    base, head, _ = base_and_head(tmp_path, "Marc Dubois-Roy")
    desired = load(head)
    files = sorted(p.name for p in head.glob("*.yaml"))
    assert sorted(parsed) == files
    parsed.clear()
    part = partial_base(base, head, desired)
    assert parsed == ["people.yaml"]  # BASE's differing file alone; HEAD's not again
    assert part is not None and part.entities == load(base).entities


def test_a_file_edited_after_the_load_is_read_again(tmp_path: Path, parsed: list[str]) -> None:
    """What load found is used only for the very text it read."""
    base, head, people = base_and_head(tmp_path, "Marc Dubois-Roy")
    desired = load(head)
    people.write_text(people.read_text() + "settings:\n  prune: false\n")
    parsed.clear()
    assert partial_base(base, head, desired) is None  # settings in a changed file: whole
    assert parsed.count("people.yaml") == 2  # HEAD's, read again, and BASE's


def test_another_value_of_a_variable_reads_the_file_again(
    tmp_path: Path, parsed: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    base, head, _ = base_and_head(tmp_path, "Marc ${SURNAME}")
    monkeypatch.setenv("SURNAME", "Roy")
    desired = load(head)
    parsed.clear()
    partial_base(base, head, desired)
    assert parsed == ["people.yaml"]  # the same variables: HEAD's file not read again
    monkeypatch.setenv("SURNAME", "Dubois")
    parsed.clear()
    partial_base(base, head, desired)
    assert parsed == ["people.yaml", "people.yaml"]
