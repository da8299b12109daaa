"""The loaded manifests kept in the cache dir (``beeplan.manifest._cache``) never change a
result: an edited, added or removed file, another value of a ``${NAME}`` the manifests
read, or an entry from another beeplan is loaded afresh; a damaged or untrusted cache
file is ignored with a warning and replaced; invalid manifests are never kept. The
commands read through it (``plan`` here, against the sandbox)."""

from __future__ import annotations

import logging
import os
import pickle
from pathlib import Path

import pytest

from beeplan.errors import ManifestError
from beeplan.manifest import load
from beeplan.manifest._cache import load_cached, set_key
from tests.conftest import Run

ACME = """\
companies:
  - xid: acme
    name: ACME
    projects:
      - xid: web
        name: Web
"""


def entries(cache: Path) -> list[Path]:
    return sorted((cache / "manifests").glob("*.pickle"))


def forge_entry(folder: Path, cache: Path, state: object) -> Path:
    """Replace the cached entry of ``folder`` by one holding ``state`` under its own key."""
    entry = entries(cache)[0]
    key = set_key(folder)
    assert key is not None
    entry.write_bytes(pickle.dumps({"key": key[1], "state": state, "warnings": []}))
    return entry


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "manifests"
    path.mkdir()
    (path / "acme.yaml").write_text(ACME)
    return path


def test_a_second_load_comes_from_the_cache_and_equals_a_load(
    folder: Path, _cache_dir: Path
) -> None:
    first = load_cached(folder)
    assert len(entries(_cache_dir)) == 1
    mtime = entries(_cache_dir)[0].stat().st_mtime_ns
    second = load_cached(folder)
    assert second == first == load(folder)
    assert entries(_cache_dir)[0].stat().st_mtime_ns == mtime  # read, not rewritten
    assert oct(entries(_cache_dir)[0].stat().st_mode & 0o777) == "0o600"


def test_an_edited_file_is_loaded_afresh(folder: Path, _cache_dir: Path) -> None:
    load_cached(folder)
    (folder / "acme.yaml").write_text(ACME.replace("name: Web", "name: Website"))
    project = next(e for e in load_cached(folder).entities if e.kind == "project")
    assert project.name == "Website"
    # An edit that keeps the length and the modification time is still seen: bytes count.
    text = (folder / "acme.yaml").read_text()
    stat = (folder / "acme.yaml").stat()
    (folder / "acme.yaml").write_text(text.replace("Website", "Webzone"))
    os.utime(folder / "acme.yaml", ns=(stat.st_atime_ns, stat.st_mtime_ns))
    project = next(e for e in load_cached(folder).entities if e.kind == "project")
    assert project.name == "Webzone"


def test_an_added_or_removed_file_is_loaded_afresh(folder: Path) -> None:
    load_cached(folder)
    (folder / "globex.yaml").write_text("companies:\n  - xid: globex\n    name: Globex\n")
    assert {e.ref.xid for e in load_cached(folder).entities} == {"acme", "web", "globex"}
    (folder / "globex.yaml").unlink()
    assert {e.ref.xid for e in load_cached(folder).entities} == {"acme", "web"}


def test_another_value_of_a_variable_is_loaded_afresh(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (folder / "acme.yaml").write_text(ACME.replace("name: ACME", "name: ACME ${STAGE}"))
    monkeypatch.setenv("STAGE", "staging")
    assert load_cached(folder).entities[0].name == "ACME staging"
    monkeypatch.setenv("STAGE", "prod")
    assert load_cached(folder).entities[0].name == "ACME prod"
    monkeypatch.delenv("STAGE")
    with pytest.raises(ManifestError, match="STAGE"):  # unset: the loader's own error
        load_cached(folder)


def test_warnings_come_back_with_a_cached_load(folder: Path) -> None:
    (folder / "acme.yaml").write_text(ACME + "      - xid: web2\n        name: Web\n")
    first: list[object] = []
    load_cached(folder, first)
    again: list[object] = []
    load_cached(folder, again)
    assert first and [str(w) for w in again] == [str(w) for w in first]


def test_notes_a_plan_repeats_come_back_with_their_lines(
    folder: Path, _cache_dir: Path
) -> None:
    """Warnings the plan shows on their manifest lines (``State.notes``) survive the cache."""
    (folder / "acme.yaml").write_text(
        ACME + "    customFields:\n      remote: yes\n"
        "  - xid: globex\n    name: Globex\n    customFields:\n      remote: true\n")
    first = load_cached(folder)
    written = entries(_cache_dir)[0].stat().st_mtime_ns
    again = load_cached(folder)
    assert entries(_cache_dir)[0].stat().st_mtime_ns == written  # a hit, not a new load
    assert len(first.notes) == 2 and again.notes == first.notes
    assert [n.source for n in again.notes] == [n.source for n in first.notes]  # type: ignore[attr-defined]
    assert str(again.notes[0].source).endswith("acme.yaml:8")  # type: ignore[attr-defined]


def test_invalid_manifests_are_never_kept(folder: Path, _cache_dir: Path) -> None:
    (folder / "acme.yaml").write_text(ACME.replace("xid: web", "xid: [web]"))
    for _ in range(2):
        with pytest.raises(ManifestError, match=r"acme.yaml:5"):
            load_cached(folder)
    assert entries(_cache_dir) == []


def test_a_damaged_cache_file_is_ignored_logged_and_replaced(
    folder: Path, _cache_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    expected = load_cached(folder)
    entry = entries(_cache_dir)[0]
    entry.write_bytes(entry.read_bytes()[:100])  # cut short, as by a full disk
    with caplog.at_level(logging.WARNING, logger="beeplan.cache"):
        assert load_cached(folder) == expected
    assert "is ignored (it is damaged" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="beeplan.cache"):
        assert load_cached(folder) == expected  # rewritten whole: no warning again
    assert caplog.text == ""


def test_a_cache_file_that_holds_something_else_is_ignored(
    folder: Path, _cache_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    expected = load_cached(folder)
    forge_entry(folder, _cache_dir, "not a state")
    with caplog.at_level(logging.WARNING, logger="beeplan.cache"):
        assert load_cached(folder) == expected
    assert "is ignored (it is damaged: TypeError)" in caplog.text


def test_a_cache_file_others_may_write_is_not_read(
    folder: Path, _cache_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A pickle runs code when read: one another user could have written is never read."""
    load_cached(folder)
    forged = load(folder)
    entry = forge_entry(folder, _cache_dir, type(forged)(entities=forged.entities[:1]))
    entry.chmod(0o666)
    with caplog.at_level(logging.WARNING, logger="beeplan.cache"):
        assert len(load_cached(folder).entities) == 2
    assert "writable by" in caplog.text


def test_an_entry_of_another_beeplan_or_set_is_not_used(
    folder: Path, _cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_cached(folder)
    forged = type(load(folder))()
    forge_entry(folder, _cache_dir, forged)
    assert load_cached(folder) == forged  # (the entry is what a hit returns)
    monkeypatch.setattr("beeplan.__version__", "9.9.9")
    assert len(load_cached(folder).entities) == 2  # another version: loaded afresh


def test_plan_after_an_edit_shows_the_edit(
    run: Run, tmp_path: Path, folder: Path, _cache_dir: Path
) -> None:
    """Through the CLI: a plan, an edit, a plan again: the second plan is of the new file."""
    code, out, _ = run("plan", folder)
    assert code == 0 and '"Web"' in out
    assert len(entries(_cache_dir)) == 1
    (folder / "acme.yaml").write_text(ACME.replace("name: Web", "name: Website"))
    code, out, _ = run("plan", folder)
    assert code == 0 and '"Website"' in out and '"Web"\n' not in out
    (folder / "acme.yaml").write_text(ACME.replace("xid: web", "xid: [web]"))
    code, _, err = run("plan", folder)
    assert code == 1 and "acme.yaml:5" in err  # the error, not a kept load


def test_a_targeted_plan_reads_the_cache_but_does_not_fill_it(
    run: Run, folder: Path, _cache_dir: Path
) -> None:
    """A pull request's manifests are rarely loaded again: pickling them is not paid for."""
    base = folder.parent / "base"
    base.mkdir()
    (base / "acme.yaml").write_text(ACME)
    code, _, _ = run("plan", folder, "--changed-since", base)
    assert code == 0 and entries(_cache_dir) == []
    run("plan", folder)
    assert len(entries(_cache_dir)) == 1
