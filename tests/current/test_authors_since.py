"""The audit trail since the last apply or check: issue #22 point 1's bound.

A check or apply of a current set that succeeds is remembered per account under the
cache dir (``localfiles/lastrun.py``); the next check or plan lists the audit trail's
operations on each drifted entity from then, and its "Who changed it:" line says which
bound applied. Through the CLI, against the current sandbox over HTTP with the real
client; the out-of-band edits are made with a colleague's own key (``server.key_for``).
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from beeplan.localfiles.lastrun import path_for
from beeplan.platforms.current.authors import since_last, utc
from beeplan.platforms.current.client import CLOCK_TOLERANCE_MS, CurrentClient, clock_skew_ms
from beeplan.platforms.current.lookups import operations_listed, with_authors
from beeplan.platforms.current.plan import make_plan
from beeplan.platforms.current.reader import read_account
from beeplan.platforms.current.sandbox import CurrentSandboxServer

from .conftest import Gql
from .planning import converge, desired_of

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "current"
RENAME = ("mutation($id: BeeboleId!, $n: BeeboleName!) { editProjectName(id: $id, name: $n) "
          "{ id } }")
DAY_MS = 86_400_000
NONE_RECORDED = ("Who changed it: the audit trail was searched over its last 7 days (one "
                 "window of the API): no apply or check of this account is recorded on this "
                 "machine")


@pytest.fixture
def ids(current: CurrentSandboxServer) -> dict[tuple[str, str], str]:
    """The account brought to the example set; the live id of each (kind, xid)."""
    desired = desired_of(EXAMPLE)
    xid_field = desired.settings.xid_field
    with CurrentClient(current.url, current.token) as client:
        converge(client, make_plan(desired, read_account(client, xid_field=xid_field)),
                 xid_field)
        live = read_account(client, xid_field=xid_field)
    return {(n.kind, n.xid): n.id for n in live.nodes if n.xid is not None}


def _jane_renames_acme(current: CurrentSandboxServer, ids: dict[tuple[str, str], str],
                       name: str) -> None:
    jane = current.key_for(ids[("person", "jane")])
    Gql(current, {}).post(RENAME, {"id": ids[("project", "acme")], "n": name},
                          key=jane).raise_for_status()


def _listed(out: str, name: str) -> bool:
    """Whether the audit trail's lines list Jane's rename to ``name``."""
    return any(line.endswith(f"editProjectName by Jane Clark (jane.clark@example.com): "
                             f"name={name}") for line in out.splitlines())


def _recorded(current: CurrentSandboxServer) -> dict[str, object]:
    with CurrentClient(current.url, current.token) as client:
        path = path_for(client.account_key)
    return dict(json.loads(path.read_text("utf-8")))


def _file(current: CurrentSandboxServer) -> Path:
    with CurrentClient(current.url, current.token) as client:
        return path_for(client.account_key)


def test_an_edit_before_the_last_check_is_not_listed_one_after_is(crun, current, ids) -> None:
    _jane_renames_acme(current, ids, "Acme One")
    status, out, err = crun("check", EXAMPLE)
    assert status == 2, err
    assert _listed(out, "Acme One")
    assert NONE_RECORDED in out  # the first check: nothing recorded yet, the whole window
    first = _recorded(current)
    assert first["command"] == "check"

    _jane_renames_acme(current, ids, "Acme Two")
    status, out, err = crun("check", EXAMPLE)
    assert status == 2, err
    assert _listed(out, "Acme Two")
    assert not _listed(out, "Acme One"), out  # shown by the check before: not again
    assert (f"Who changed it: the audit trail was searched since the last check at "
            f"{utc(int(str(first['at_ms'])))} (recorded on this machine); earlier changes "
            "show only as the last edit") in out
    # the author line still names the latest edit, from the trail since then
    assert "changed outside beeplan: renamed by Jane Clark (jane.clark@example.com)" in out
    assert int(str(_recorded(current)["at_ms"])) > int(str(first["at_ms"]))


def test_an_in_sync_check_and_plan_use_it_and_plan_never_writes_it(crun, current, ids) -> None:
    assert crun("check", EXAMPLE) == (0, "", "")  # in sync: recorded, quietly
    checked = _recorded(current)
    _jane_renames_acme(current, ids, "Acme Plan")
    before = _file(current).read_bytes()
    status, out, err = crun("plan", EXAMPLE)
    assert status == 0, err
    assert _listed(out, "Acme Plan")
    assert f"searched since the last check at {utc(int(str(checked['at_ms'])))}" in out
    assert _file(current).read_bytes() == before  # plan is read only


def test_plan_with_nothing_recorded_writes_nothing(crun, current, ids, _cache_dir) -> None:
    _jane_renames_acme(current, ids, "Acme Plan")
    status, out, err = crun("plan", EXAMPLE)
    assert status == 0, err
    assert NONE_RECORDED in out and _listed(out, "Acme Plan")
    assert not _file(current).exists() and not (_cache_dir / "last-run").exists()


def test_a_successful_apply_is_the_start_and_is_said_so(crun, current, ids) -> None:
    _jane_renames_acme(current, ids, "Acme Before")
    status, _, err = crun("apply", EXAMPLE, "--auto-approve")
    assert status == 0, err
    applied = _recorded(current)
    assert applied["command"] == "apply"
    _jane_renames_acme(current, ids, "Acme After")
    status, out, err = crun("check", EXAMPLE)
    assert status == 2, err
    assert _listed(out, "Acme After") and not _listed(out, "Acme Before")
    assert f"searched since the last apply at {utc(int(str(applied['at_ms'])))}" in out
    # an apply with nothing to do matches already: it is the start too
    assert crun("apply", EXAMPLE, "--auto-approve")[0] == 0  # reverts "Acme After"
    again = _recorded(current)
    status, _, err = crun("apply", EXAMPLE, "--auto-approve")
    assert status == 0, err
    assert _recorded(current)["command"] == "apply"
    assert int(str(_recorded(current)["at_ms"])) > int(str(again["at_ms"]))


def test_applying_a_saved_plan_is_the_start_too(crun, current, ids, tmp_path) -> None:
    _jane_renames_acme(current, ids, "Acme Saved")
    saved = tmp_path / "plan.json"
    assert crun("plan", EXAMPLE, "-o", saved)[0] == 0
    assert not _file(current).exists()  # plan -o reads only
    status, _, err = crun("apply", saved, "--auto-approve")
    assert status == 0, err
    assert _recorded(current)["command"] == "apply"


def test_a_last_check_older_than_the_window_falls_back_to_it_and_says_so(
        crun, current, ids) -> None:
    assert crun("check", EXAMPLE)[0] == 0
    checked = _recorded(current)
    current.advance_clock(days=8)  # the API's clock: the trail answers 7 days back from it
    _jane_renames_acme(current, ids, "Acme Later")
    status, out, err = crun("check", EXAMPLE)
    assert status == 2, err
    assert _listed(out, "Acme Later")
    assert ("Who changed it: the audit trail was searched over its last 7 days (one window "
            "of the API): the last check recorded on this machine, at "
            f"{utc(int(str(checked['at_ms'])))}, was longer ago") in out
    # the new start is on the API's clock (its Date header, whole seconds), 8 days on,
    # not this machine's: else the next check would say "since" a time out of the window
    assert int(str(_recorded(current)["at_ms"])) > int(str(checked["at_ms"])) + 7 * DAY_MS


def test_a_fresh_cache_dir_falls_back_to_seven_days_and_says_so(
        crun, current, ids, tmp_path, monkeypatch) -> None:
    assert crun("check", EXAMPLE)[0] == 0  # recorded in the test's cache dir
    _jane_renames_acme(current, ids, "Acme Elsewhere")
    monkeypatch.setenv("BEEPLAN_CACHE_DIR", str(tmp_path / "fresh"))  # a CI runner, say
    status, out, err = crun("check", EXAMPLE)
    assert status == 2, err
    assert NONE_RECORDED in out and "(a CI runner remembers none between runs)" in out
    assert _listed(out, "Acme Elsewhere")
    assert _file(current).is_file()  # this check is recorded in the new cache dir


def test_the_file_is_private_and_names_no_token(crun, current, ids) -> None:
    _jane_renames_acme(current, ids, "Acme Secret")
    assert crun("check", EXAMPLE)[0] == 2
    path = _file(current)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    text = path.read_text("utf-8")
    assert current.token not in text and current.token not in str(path)
    assert set(json.loads(text)) == {"command", "at_ms"}
    assert not list(path.parent.glob(".*.tmp"))  # written whole, nothing left behind


def test_a_check_that_did_not_list_the_operations_leaves_the_start_alone(
        crun, current, ids) -> None:
    """--no-authors, or --max-calls too small for the lookup: the operations behind the
    drift were not shown, so the next run still lists them."""
    assert crun("check", EXAMPLE)[0] == 0
    checked = _file(current).read_bytes()
    _jane_renames_acme(current, ids, "Acme Unseen")
    status, out, _ = crun("check", EXAMPLE, "--no-authors")
    assert status == 2 and "Jane Clark" not in out
    status, out, _ = crun("check", EXAMPLE, "--max-calls", "2")  # 1 read, the lookup takes 2
    assert status == 2 and "not looked up: it takes 2 requests" in out
    assert _file(current).read_bytes() == checked
    status, out, _ = crun("check", EXAMPLE, "--max-calls", "3")  # the whole account + lookup
    assert status == 2 and _listed(out, "Acme Unseen")
    assert _file(current).read_bytes() != checked


def test_a_targeted_check_is_not_recorded(crun, current, ids, tmp_path) -> None:
    """--changed-since compares part of the manifests: it is not the start of a listing."""
    _jane_renames_acme(current, ids, "Acme Targeted")
    status, _, err = crun("check", EXAMPLE, "--changed-since", "HEAD")
    assert status in (0, 2), err
    assert not _file(current).exists()


def test_a_file_beeplan_did_not_write_is_set_aside_and_the_window_applies(
        crun, current, ids) -> None:
    path = _file(current)
    path.parent.mkdir(mode=0o700, parents=True)
    path.write_text('{"command": "check", "at_ms": "yesterday"}')
    _jane_renames_acme(current, ids, "Acme Bad")
    status, out, err = crun("check", EXAMPLE)
    assert status == 2, err
    assert NONE_RECORDED in out and _listed(out, "Acme Bad")
    assert path.with_name(path.name + ".bad").is_file()
    assert _recorded(current)["command"] == "check"  # the check itself is recorded anew


def test_a_lookup_that_failed_or_was_skipped_has_not_listed_the_operations(
        current, ids) -> None:
    """The rule behind "written only when it listed them" (``lookups.operations_listed``),
    on a real drift: an author lookup that failed, or none, leaves the start alone."""
    _jane_renames_acme(current, ids, "Acme Failed")
    desired = desired_of(EXAMPLE)
    with CurrentClient(current.url, current.token) as client:
        plan = make_plan(desired, read_account(client, xid_field=desired.settings.xid_field))
        looked_up = with_authors(client, plan)
    assert not operations_listed(plan)  # drift, and nobody looked up (--no-authors)
    assert operations_listed(looked_up)
    failed = replace(looked_up, changed_by_notes=(
        "who changed the drifted entities was not looked up (HTTP 503); the drift itself "
        "stands",))
    assert not operations_listed(failed)
    unread = replace(looked_up, changed_by_notes=(
        "the audit trail could not be read (HTTP 500): each entity names its last editor "
        "only",))
    assert not operations_listed(unread)
    assert operations_listed(replace(plan, actions=()))  # nothing drifted: nothing to list


# -- pure -------------------------------------------------------------------------------

NOW = 1_764_943_200_000  # 2025-12-05 14:00 UTC


@pytest.mark.parametrize(("command", "at", "since", "words"), [
    ("check", NOW - DAY_MS, NOW - DAY_MS,
     "since the last check at 2025-12-04 14:00 UTC (recorded on this machine)"),
    ("apply", NOW - 7 * DAY_MS, NOW - 7 * DAY_MS,
     "since the last apply at 2025-11-28 14:00 UTC (recorded on this machine)"),
    ("check", NOW - 7 * DAY_MS - 1, None,
     "over its last 7 days (one window of the API): the last check recorded on this "
     "machine, at 2025-11-28 13:59 UTC, was longer ago"),
    (None, None, None,
     "over its last 7 days (one window of the API): no apply or check of this account is "
     "recorded on this machine (a CI runner remembers none between runs)"),
    ("check", NOW + 60_000, None,
     "over its last 7 days (one window of the API): the last check recorded on this "
     "machine, at 2025-12-05 14:01 UTC, is later than the API's clock"),
])
def test_which_bound_applies(command: str | None, at: int | None, since: int | None,
                             words: str) -> None:
    bound = since_last(command, at, NOW)
    assert (bound.at_ms, bound.words) == (since, words)


@pytest.mark.parametrize(("date", "local", "want"), [
    ("Fri, 05 Dec 2025 14:00:00 GMT", NOW / 1000, 0),
    ("Fri, 05 Dec 2025 14:00:30 GMT", NOW / 1000, 0),  # within the tolerance
    ("Sat, 13 Dec 2025 14:00:00 GMT", NOW / 1000, 8 * DAY_MS),  # the sandbox moved on
    ("Fri, 05 Dec 2025 13:00:00 GMT", NOW / 1000, -3_600_000),  # the machine is ahead
    (None, NOW / 1000, 5), ("not a date", NOW / 1000, 5), ("", NOW / 1000, 5),
])
def test_the_apis_clock_from_the_date_header(date: str | None, local: float, want: int) -> None:
    assert clock_skew_ms(date, local, known=5) == want
    assert CLOCK_TOLERANCE_MS == 60_000
