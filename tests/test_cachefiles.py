"""The local files under the cache dir on plain values: no CLI, no HTTP.

The quota ledger, the journal of owed deactivations and the shared helpers they
use (cachefile): private modes, whole replacement, read-modify-write under the
lock, and files of the wrong shape set aside with a warning. The end-to-end
versions (two processes, signals) are in tests/reliability/test_local_state.py.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import threading
from pathlib import Path

import pytest

from beeplan.localfiles import cachefile
from beeplan.localfiles.journal import Journal
from beeplan.platforms.v2.client import Ledger, utc_today


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# ------------------------------------------------------------------ cachefile


def test_write_json_makes_private_dirs_and_files(_cache_dir: Path) -> None:
    path = _cache_dir / "a" / "b" / "state.json"
    cachefile.write_json(path, {"x": 1})
    assert json.loads(path.read_text()) == {"x": 1}
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700 and mode(path.parent.parent) == 0o700


def test_write_json_is_0600_whatever_the_umask(_cache_dir: Path) -> None:
    old = os.umask(0)
    try:
        cachefile.write_json(_cache_dir / "open.json", [])
    finally:
        os.umask(old)
    assert mode(_cache_dir / "open.json") == 0o600


def test_an_old_0755_cache_dir_is_tightened_but_a_user_dir_is_not(
    _cache_dir: Path, tmp_path: Path
) -> None:
    ours = _cache_dir / "quota"
    ours.mkdir(mode=0o755)
    os.chmod(ours, 0o755)
    cachefile.write_json(ours / "x.json", {})
    assert mode(ours) == 0o700
    theirs = tmp_path / "mine"
    theirs.mkdir()
    os.chmod(theirs, 0o755)
    cachefile.write_json(theirs / "state.json", {})  # check --state FILE in a dir of theirs
    assert mode(theirs) == 0o755


def test_write_json_replaces_whole_and_leaves_no_temporary_file(_cache_dir: Path) -> None:
    path = _cache_dir / "f.json"
    cachefile.write_json(path, {"long": "x" * 1000})
    cachefile.write_json(path, {"short": 1}, indent=2)
    assert path.read_text() == '{\n  "short": 1\n}\n'
    assert sorted(p.name for p in _cache_dir.iterdir()) == ["f.json"]


def test_a_failed_write_removes_its_temporary_file_and_keeps_the_old(_cache_dir: Path) -> None:
    path = _cache_dir / "f.json"
    cachefile.write_json(path, {"kept": True})
    with pytest.raises(TypeError):
        cachefile.write_json(path, {"bad": object()})
    assert json.loads(path.read_text()) == {"kept": True}
    assert sorted(p.name for p in _cache_dir.iterdir()) == ["f.json"]


@pytest.mark.parametrize(("content", "why"), [
    (b"", "not JSON"),
    (b"{half", "not JSON"),
    (b"\xff\xfe", "not JSON"),
    (b"[" * 100_000, "not JSON"),  # too deep to decode: a ValueError, not a RecursionError
])
def test_read_json_says_what_is_wrong(_cache_dir: Path, content: bytes, why: str) -> None:
    path = _cache_dir / "f.json"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=why):
        cachefile.read_json(path)


def test_read_json_refuses_what_is_not_a_regular_file(_cache_dir: Path, tmp_path: Path) -> None:
    (_cache_dir / "dir.json").mkdir()
    target = tmp_path / "elsewhere.json"
    target.write_text("{}")
    (_cache_dir / "link.json").symlink_to(target)
    os.mkfifo(_cache_dir / "fifo.json")
    for name in ("dir.json", "link.json", "fifo.json"):
        with pytest.raises(ValueError, match="not a regular file"):
            cachefile.read_json(_cache_dir / name)
    with pytest.raises(FileNotFoundError):
        cachefile.read_json(_cache_dir / "none.json")


def test_read_json_refuses_a_huge_file(_cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cachefile, "MAX_CACHE_FILE", 10)
    path = _cache_dir / "big.json"
    path.write_text('{"a": "0123456789"}')
    with pytest.raises(ValueError, match="over 10 bytes"):
        cachefile.read_json(path)


def test_set_aside_renames_and_warns(_cache_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = _cache_dir / "q.json"
    path.write_text("junk")
    with caplog.at_level(logging.WARNING, logger="beeplan.cache"):
        cachefile.set_aside(path, "quota ledger", "not JSON")
    assert not path.exists() and (_cache_dir / "q.json.bad").read_text() == "junk"
    assert "the quota ledger" in caplog.text and "not JSON" in caplog.text
    assert "q.json.bad" in caplog.text


def test_locked_serialises_read_modify_write_across_threads(_cache_dir: Path) -> None:
    path = _cache_dir / "count.json"
    cachefile.write_json(path, {"n": 0})

    def bump() -> None:
        for _ in range(50):
            with cachefile.locked(path):
                n = cachefile.read_json(path)["n"]
                cachefile.write_json(path, {"n": n + 1})

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert cachefile.read_json(path) == {"n": 200}
    assert mode(path.with_name("count.json.lock")) == 0o600


# ------------------------------------------------------------------ the ledger


def test_ledger_counts_add_to_what_the_file_holds(_cache_dir: Path) -> None:
    path = _cache_dir / "quota" / "acct.json"
    first, second = Ledger(path), Ledger(path)  # two processes sharing the cache dir
    first.add(3, 300)
    second.add(2, 200)
    first.save()
    second.save()
    assert json.loads(path.read_text()) == {"day": utc_today(), "requests": 5, "bytes": 500}
    assert Ledger(path).requests == 5 and mode(path) == 0o600


def test_ledger_saves_by_itself_every_25_requests(_cache_dir: Path) -> None:
    path = _cache_dir / "quota" / "acct.json"
    ledger = Ledger(path)
    for _ in range(24):
        ledger.add(1, 10)
    assert not path.exists()  # not a write per call
    ledger.add(1, 10)
    assert json.loads(path.read_text())["requests"] == 25


def test_ledger_of_another_day_counts_from_zero(_cache_dir: Path) -> None:
    path = _cache_dir / "quota" / "acct.json"
    cachefile.write_json(path, {"day": "2000-01-01", "requests": 3999, "bytes": 1})
    ledger = Ledger(path)
    assert (ledger.requests, ledger.bytes) == (0, 0)
    ledger.add(1, 1)
    ledger.save()
    assert json.loads(path.read_text()) == {"day": utc_today(), "requests": 1, "bytes": 1}


@pytest.mark.parametrize(("data", "why"), [
    ([1, 2], "not a JSON object"),
    ({"requests": 1, "bytes": 1}, 'no "day"'),
    ({"day": "d", "requests": "7", "bytes": 1}, '"requests" is not a whole number'),
    ({"day": "d", "requests": True, "bytes": 1}, '"requests" is not a whole number'),
    ({"day": "d", "requests": 1, "bytes": -5}, '"bytes" is negative'),
])
def test_ledger_of_the_wrong_shape_is_set_aside(
    _cache_dir: Path, caplog: pytest.LogCaptureFixture, data: object, why: str
) -> None:
    path = _cache_dir / "quota" / "acct.json"
    cachefile.write_json(path, data)
    with caplog.at_level(logging.WARNING, logger="beeplan.cache"):
        assert Ledger(path).requests == 0
    assert why in caplog.text
    assert json.loads(path.with_name("acct.json.bad").read_text()) == data


def test_ledger_without_a_path_keeps_counting_in_memory() -> None:
    ledger = Ledger(None)
    ledger.add(30, 1)
    ledger.save()
    assert (ledger.requests, ledger.bytes) == (30, 1)


# ------------------------------------------------------------------ the journal


def test_journal_entries_survive_and_merge_across_instances(_cache_dir: Path) -> None:
    path = _cache_dir / "journal" / "acct.json"
    one, two = Journal(path), Journal(path)
    one.add(["person:a"])
    two.add(["project:b"])  # read-modify-write: keeps what ``one`` added
    assert Journal(path).owed() == {"person:a", "project:b"}
    one.settle(["person:a"])
    assert json.loads(path.read_text()) == {"owed": ["project:b"]}
    assert mode(path) == 0o600


@pytest.mark.parametrize("content", ['{"owed": "person:a"}', '{"owed": [1]}', "[]", "{"])
def test_journal_of_the_wrong_shape_is_set_aside(
    _cache_dir: Path, caplog: pytest.LogCaptureFixture, content: str
) -> None:
    path = _cache_dir / "journal" / "acct.json"
    path.parent.mkdir(mode=0o700)
    path.write_text(content)
    with caplog.at_level(logging.WARNING, logger="beeplan.cache"):
        journal = Journal(path)
    assert journal.owed() == frozenset()
    assert "journal" in caplog.text and path.with_name("acct.json.bad").exists()
    journal.add(["person:c"])  # and it works again at once
    assert Journal(path).owed() == {"person:c"}
