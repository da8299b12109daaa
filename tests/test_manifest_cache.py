"""The loaded manifests kept in the cache dir (``beeplan.manifest._cache``) never change a
result: an edited, added or removed file, another value of a ``${NAME}`` the manifests
read, or an entry from another beeplan is loaded afresh; a damaged or untrusted cache
file is ignored with a warning and replaced; invalid manifests are never kept. The
commands read through it (``plan`` here, against the sandbox)."""

from __future__ import annotations

import json
import logging
import os
import pickle
from pathlib import Path

import pytest

from beeplan.errors import ManifestError
from beeplan.manifest import load
from beeplan.manifest._cache import kept_beside, load_cached, set_key
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


# --- values computed from a loaded set, kept beside it (``kept_beside``) ------------


def beside(cache: Path) -> list[Path]:
    return sorted((cache / "manifests" / "beside").glob("*.pickle"))


class Counted:
    """A computation that says how often it ran."""

    def __init__(self, value: object) -> None:
        self.value, self.runs = value, 0

    def __call__(self) -> object:
        self.runs += 1
        return self.value


def test_a_value_of_a_set_is_computed_once_while_the_set_is_the_same(
    folder: Path, _cache_dir: Path
) -> None:
    compute = Counted(["units", 1])
    assert kept_beside(load_cached(folder), "units", compute) == ["units", 1]
    assert kept_beside(load_cached(folder), "units", compute) == ["units", 1]  # a new run
    assert compute.runs == 1 and len(beside(_cache_dir)) == 1
    other = Counted("other")  # another name: its own value
    assert kept_beside(load_cached(folder), "other", other) == "other" and other.runs == 1
    (folder / "acme.yaml").write_text(ACME.replace("name: Web", "name: Website"))
    assert kept_beside(load_cached(folder), "units", compute) == ["units", 1]
    assert compute.runs == 2  # an edited set: computed again


def test_a_value_of_another_variable_value_or_beeplan_is_computed_again(
    folder: Path, _cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (folder / "acme.yaml").write_text(ACME.replace("name: Web", "name: ${WEB_NAME}"))
    compute = Counted("v")
    kept_beside(load_cached(folder, environ={"WEB_NAME": "Web"}), "units", compute)
    kept_beside(load_cached(folder, environ={"WEB_NAME": "Web"}), "units", compute)
    assert compute.runs == 1
    kept_beside(load_cached(folder, environ={"WEB_NAME": "Shop"}), "units", compute)
    assert compute.runs == 2
    monkeypatch.setattr("beeplan.__version__", "9.9.9")
    kept_beside(load_cached(folder, environ={"WEB_NAME": "Shop"}), "units", compute)
    assert compute.runs == 3


def test_a_set_not_loaded_through_the_cache_is_computed_and_nothing_kept(
    folder: Path, _cache_dir: Path
) -> None:
    compute = Counted("v")
    state = load(folder)
    assert kept_beside(state, "units", compute) == "v"
    assert kept_beside(state, "units", compute) == "v"
    assert compute.runs == 2 and beside(_cache_dir) == []


def test_a_damaged_kept_value_is_ignored_and_computed_again(
    folder: Path, _cache_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    compute = Counted("v")
    kept_beside(load_cached(folder), "units", compute)
    beside(_cache_dir)[0].write_bytes(b"\x80\x05 not a pickle")
    with caplog.at_level(logging.WARNING, logger="beeplan.cache"):
        assert kept_beside(load_cached(folder), "units", compute) == "v"
    assert compute.runs == 2 and "is ignored (it is damaged" in caplog.text


def test_an_hourly_check_finds_the_same_as_one_without_kept_units(
    run: Run, tmp_path: Path, folder: Path, _cache_dir: Path
) -> None:
    """Through the CLI: check --max-calls run after run keeps its units, and a run from
    them reports exactly what the same run computing them reports."""
    state = tmp_path / "check-state.json"
    (folder / "acme.yaml").write_text(ACME.replace("name: Web", "name: Web\n        managers: []"))
    run("apply", folder, "--auto-approve")
    for _ in range(2):
        code, _, err = run("check", folder, "--max-calls", "2", "--state", state)
        assert code == 0, err
    assert len(beside(_cache_dir)) >= 1
    saved = state.read_bytes()
    code, kept_out, err = run("check", folder, "--max-calls", "2", "--state", state)
    assert code == 0, err
    after_kept = state.read_bytes()
    state.write_bytes(saved)  # the same run again, its units computed
    for kept in beside(_cache_dir):
        kept.unlink()
    code, computed_out, err = run("check", folder, "--max-calls", "2", "--state", state)
    assert code == 0, err
    def timeless(out: str) -> list[str]:  # (how long ago the oldest verification was)
        return [line for line in out.splitlines() if not line.startswith("Oldest")]

    assert timeless(kept_out) == timeless(computed_out) and "Coverage: verified" in kept_out
    assert json.loads(after_kept)["verified"].keys() == json.loads(state.read_bytes())[
        "verified"].keys()
