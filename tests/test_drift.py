"""`check --max-calls N`: a budgeted, rotating drift check (calls counted by the sandbox)."""

from __future__ import annotations

import copy
import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from beeplan.budgeted_check import CheckRun, coverage_lines, units_of
from beeplan.platforms.v2.client import BeeboleClient
from beeplan.platforms.v2.sandbox.server import SandboxServer
from beeplan.usecases import steps as workflow
from tests.test_targeted import ORG, apply_org, load, write

START = datetime(2026, 1, 5, 0, 0, tzinfo=timezone.utc)


def grouped_org() -> dict[str, Any]:
    """ORG with more entities managing groups than there are groups: read by group.assignments."""
    doc = copy.deepcopy(ORG)
    for person in doc["people"][3:]:
        person["groups"] = ["us"]
    return doc


def check(client: BeeboleClient, sandbox: SandboxServer, where: Path, budget: int,
          hour: int, state: Path) -> CheckRun:
    sandbox.reset_calls()
    run = workflow.budgeted_check(client, load(where), where, budget, state,
                                  now=START + timedelta(hours=hour))
    assert sum(sandbox.calls.values()) <= budget, sandbox.calls  # never past the budget
    assert run.calls == sum(sandbox.calls.values())
    return run


def test_budgeted_check_stays_within_budget_and_covers_everything(
    client: BeeboleClient, sandbox: SandboxServer, tmp_path: Path
) -> None:
    apply_org(client, grouped_org(), tmp_path / "m")
    desired = load(tmp_path / "m")
    units = units_of(desired)
    assert any(u.service == "group.assignments" for u in units)
    budget, state = 4, tmp_path / "state.json"
    first = check(client, sandbox, tmp_path / "m", budget, 0, state)
    promised = first.runs_for_full_cover(budget)
    run, hour = first, 0
    while run.never:
        hour += 1
        run = check(client, sandbox, tmp_path / "m", budget, hour, state)
        assert not run.drifted, run.plan  # an account in sync never shows drift
    assert hour + 1 <= promised  # every unit verified within the promised number of runs
    assert run.total == len(units)
    assert run.oldest == START  # the first run's units are now the oldest
    # The next run starts over with the least recently verified units.
    again = check(client, sandbox, tmp_path / "m", budget, hour + 1, state)
    assert again.oldest == START + timedelta(hours=1)
    saved = json.loads(state.read_text())
    assert len(saved["verified"]) == len(units)


def test_drift_in_a_relation_is_found_within_the_promised_runs(
    client: BeeboleClient, sandbox: SandboxServer, tmp_path: Path
) -> None:
    apply_org(client, grouped_org(), tmp_path / "m")
    budget, state = 5, tmp_path / "state.json"
    first = check(client, sandbox, tmp_path / "m", budget, 0, state)
    promised = first.runs_for_full_cover(budget)
    for hour in range(1, promised):
        check(client, sandbox, tmp_path / "m", budget, hour, state)
    # Someone removes cy from group us, and jane as manager of acme-ops, by hand.
    client.call("person.remove_group", xid="cy", group={"xid": "us"})
    client.call("project.detach_manager", xid="acme-ops", person={"xid": "jane"})
    fields = client.call("custom_field.list")["customFields"]
    industry = next(f["id"] for f in fields if f["name"] == "Industry")
    client.call("company.set_custom_field_value", xid="acme",
                customField={"id": industry, "value": "Retail"})
    found: dict[str, int] = {}
    for hour in range(promised, 2 * promised + 1):
        run = check(client, sandbox, tmp_path / "m", budget, hour, state)
        for action in run.plan.actions:
            found.setdefault(action.service, hour)
        if len(found) == 3:
            break
    assert set(found) == {"person.add_group", "project.attach_manager",
                          "company.set_custom_field_value"}, found
    # Within one rotation, lengthened by one run since the unit found drifted first is
    # read again by every run (so the job stays red until the drift is fixed).
    assert max(found.values()) - promised + 1 <= promised + 1, found
    # A drifted unit stays first in line: the next run reports it again.
    again = check(client, sandbox, tmp_path / "m", budget, 100, state)
    assert {a.service for a in again.plan.actions} == set(found)
    # Fixed: the same state gives no drift (nothing stale is reported).
    outcome = workflow.apply_plan(client, workflow.compute_plan(client, load(tmp_path / "m"), 4),
                                  4, None)
    assert outcome.ok
    for hour in range(101, 101 + promised):
        run = check(client, sandbox, tmp_path / "m", budget, hour, state)
        assert not run.drifted, run.plan


def test_manifest_change_reverifies_and_prune_strays_are_drift(
    client: BeeboleClient, sandbox: SandboxServer, tmp_path: Path
) -> None:
    doc = grouped_org()
    apply_org(client, doc, tmp_path / "m")
    budget, state = 50, tmp_path / "state.json"
    run = check(client, sandbox, tmp_path / "m", budget, 0, state)
    assert run.never == 0 and not run.drifted
    # A manifest change applied to the account: its units are re-verified, no drift.
    doc["people"][2]["name"] = "Li Wei-Chen"
    apply_org(client, doc, tmp_path / "m")
    run = check(client, sandbox, tmp_path / "m", 1, 1, state)
    assert run.verified == 1 and not run.drifted
    # A person nobody declared, under prune, is drift.
    client.call("person.create", person={"name": "Stray", "company": {"xid": "acme"}})
    doc["settings"] = {"prune": True}
    write(tmp_path / "m", doc)
    run = check(client, sandbox, tmp_path / "m", budget, 2, state)
    assert [a.service for a in run.plan.actions] == ["person.deactivate"]


def test_check_max_calls_cli(sandbox: SandboxServer, tmp_path: Path, run: Any,
                             client: BeeboleClient) -> None:
    apply_org(client, ORG, tmp_path / "m")
    state = tmp_path / "ci" / "state.json"
    sandbox.reset_calls()
    status, out, err = run("check", tmp_path / "m", "--max-calls", 6, "--state", state)
    assert status == 0, err
    assert sum(sandbox.calls.values()) <= 6
    assert "Coverage: verified" in out and "not verified yet" in out and state.exists()
    client.call("person.update", person={"xid": "li", "name": "Somebody Else"})
    for _ in range(10):
        status, out, err = run("check", tmp_path / "m", "--max-calls", 6, "--state", state)
        if status != 0:
            break
    assert status == 2 and "person.update" in out and "Coverage:" in out, out + err
    status, _, err = run("check", tmp_path / "m", "--state", state)
    assert status == 1 and "--max-calls" in err
    status, _, err = run("check", tmp_path / "m", "--max-calls", 5, "--changed-since", "x")
    assert status == 1


def test_check_max_calls_json_markdown_and_summary(
    sandbox: SandboxServer, tmp_path: Path, run: Any, client: BeeboleClient,
    monkeypatch: Any,
) -> None:
    """--format and --summary hold with --max-calls: JSON stays one document, with the coverage."""
    apply_org(client, ORG, tmp_path / "m")
    state = tmp_path / "state.json"
    client.call("project.detach_manager", xid="acme-ops", person={"xid": "jane"})
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    drift = None
    for _ in range(10):
        sandbox.reset_calls()
        status, out, err = run("check", tmp_path / "m", "--max-calls", 6, "--state", state,
                               "--format", "json")
        assert sum(sandbox.calls.values()) <= 6
        doc = json.loads(out)  # nothing but the document on stdout
        cover = doc["coverage"]
        assert cover["max_calls"] == 6 and cover["calls"] <= 6 and cover["units"] > 6
        assert doc["complete"] is False and any("budgeted" in r for r in doc["incomplete_reasons"])
        assert cover["max_calls_for_24_runs"] == -(-cover["units"] // 24)
        if status == 2:
            drift = doc
            break
        assert status == 0 and not doc["actions"], err
    assert drift is not None
    assert [a["service"] for a in drift["actions"]] == ["project.attach_manager"]
    status, out, err = run("check", tmp_path / "m", "--max-calls", 6, "--state", state,
                           "--format", "markdown")
    assert status == 2 and "project.attach_manager" in out and "- Coverage: verified" in out
    client.call("project.attach_manager", xid="acme-ops", person={"xid": "jane"})
    status, quiet, err = run("check", tmp_path / "m", "--max-calls", 6, "--state", state,
                             "--format", "markdown")
    assert status == 0 and "No drift** in the part of the account verified" in quiet, quiet
    assert "matches the manifests" not in quiet
    assert "Verifying everything within 24 runs (a day) needs --max-calls" in out
    text = summary.read_text()
    assert "beeplan check" in text and "project.attach_manager" in text and "Coverage:" in text


def test_budget_is_capped_by_what_is_left_today(
    client: BeeboleClient, sandbox: SandboxServer, tmp_path: Path
) -> None:
    apply_org(client, ORG, tmp_path / "m")
    client.ledger.requests = client.quota.requests - 2  # as if the day's quota were nearly spent
    run = check(client, sandbox, tmp_path / "m", 10, 0, tmp_path / "state.json")
    assert run.calls == 2 and run.budget == 2
    assert any("Only 2 calls are left" in line for line in coverage_lines(run, 10))


def test_a_lasting_problem_holds_back_only_its_own_units(
    client: BeeboleClient, sandbox: SandboxServer, tmp_path: Path
) -> None:
    apply_org(client, ORG, tmp_path / "m")
    moved = copy.deepcopy(ORG)
    cy = next(p for p in moved["people"] if p["xid"] == "cy")
    cy["company"] = "acme"  # impossible in place: a problem in every run that reads cy
    write(tmp_path / "m", moved)
    budget, state = 5, tmp_path / "state.json"
    total = len(units_of(load(tmp_path / "m")))
    runs = [check(client, sandbox, tmp_path / "m", budget, hour, state)
            for hour in range(-(-total // budget) + 3)]
    assert any(run.plan.problems for run in runs)
    # The rotation goes on: the units that do not read cy are all verified in the end,
    # instead of every run re-reading the first units and verifying none.
    assert runs[-1].never <= 2, [(r.verified, r.never) for r in runs]
    assert all(run.verified > 0 for run in runs[1:])
    drifted = next(run for run in runs if run.drifted)
    assert any("not counted as verified" in line for line in coverage_lines(drifted, budget))


def test_a_state_file_dated_in_the_future_is_refused_and_those_units_are_read_again(
    sandbox: SandboxServer, tmp_path: Path, run: Any, client: BeeboleClient
) -> None:
    """Times in the future kept units from ever being read again (least recently verified
    go first) while the coverage said 100%."""
    apply_org(client, ORG, tmp_path / "m")
    state = tmp_path / "state.json"
    status, out, err = run("check", tmp_path / "m", "--max-calls", 500, "--state", state)
    assert status == 0 and "Covered: 100.0%" in out, out + err
    doc = json.loads(state.read_text())
    total = len(doc["verified"])
    keys = sorted(doc["verified"])
    for key in keys[:-2]:  # all but two far ahead; one not a time at all
        doc["verified"][key]["at"] = "2099-01-01T00:00:00Z"
    doc["verified"][keys[-1]]["at"] = "yesterday"
    state.write_text(json.dumps(doc))
    sandbox.reset_calls()
    status, out, err = run("check", tmp_path / "m", "--max-calls", 3, "--state", state)
    assert status == 0, out + err
    assert sum(sandbox.calls.values()) == 3
    warning = next(line for line in out.splitlines() if line.startswith("Warning:"))
    assert str(state) in warning and f"{total - 1} unit(s) in the future" in warning
    assert "never verified" in warning
    assert "Covered: 100.0%" not in out
    assert f"{total - 1 - 3} units not verified yet" in out  # the refused ones, read first
    saved = json.loads(state.read_text())["verified"]
    assert not any(v["at"].startswith("2099") for v in saved.values())  # not carried over
    assert keys[-2] in saved  # a sane time is kept


@pytest.mark.parametrize("damage", ["not json", "wrong version", "wrong shape", "a directory",
                                    "empty list", "a record not a mapping",
                                    "a record without its time", "groups not a list",
                                    "a symlink to /dev/zero", "a fifo", "a symlink",
                                    "world-writable", "another user's"])
def test_a_damaged_state_file_is_a_warning_naming_it_and_the_rotation_restarts(
    damage: str, sandbox: SandboxServer, tmp_path: Path, run: Any, client: BeeboleClient
) -> None:
    apply_org(client, ORG, tmp_path / "m")
    state = tmp_path / "state.json"
    good = '{"version": 1, "verified": {}}'
    if damage == "another user's" and os.geteuid() != 0:
        pytest.skip("giving a file to another user needs root")
    if damage == "a directory":
        state.mkdir()
    elif damage == "a symlink to /dev/zero":  # read whole, it exhausted memory
        state.symlink_to("/dev/zero")
    elif damage == "a fifo":  # read, it waited for a writer for ever
        os.mkfifo(state)
    elif damage == "a symlink":  # a --state path in a checkout: it points anywhere
        (tmp_path / "elsewhere.json").write_text(good)
        state.symlink_to(tmp_path / "elsewhere.json")
    elif damage in ("world-writable", "another user's"):  # planted in a shared folder
        state.write_text(good)
        os.chmod(state, 0o666 if damage == "world-writable" else 0o600)
        if damage == "another user's":
            os.chown(state, 65534, -1)
    else:
        state.write_text({"not json": '{"version": 1, "verif',
                          "wrong version": '{"version": 99, "verified": {}}',
                          "wrong shape": '{"version": 1, "verified": [1, 2]}',
                          # These were dropped without a word: the rotation restarted silently.
                          "empty list": '{"version": 1, "verified": []}',
                          "a record not a mapping": '{"version": 1, "verified": {"x": 5}}',
                          "a record without its time":
                              '{"version": 1, "verified": {"list:company": {"digest": "a"}}}',
                          "groups not a list":
                              '{"version": 1, "verified": {}, "seen_groups": "zz"}'}[damage])
    sandbox.reset_calls()
    status, out, err = run("check", tmp_path / "m", "--max-calls", 3, "--state", state)
    if damage == "a directory":  # cannot be written either: refused before any read
        assert status == 1 and "--state" in err and str(state) in err, out + err
        assert "Traceback" not in err and sum(sandbox.calls.values()) == 0
        return
    assert status == 0, out + err
    warning = next(line for line in out.splitlines() if line.startswith("Warning:"))
    assert str(state) in warning and "the rotation restarts" in warning
    assert "units not verified yet" in out
    assert json.loads(state.read_text())["version"] == 1  # written anew
    status, out, err = run("check", tmp_path / "m", "--max-calls", 3, "--state", state)
    assert "Warning:" not in out  # said once, when it happened


def test_the_daily_cost_counts_what_a_run_really_spends(
    sandbox: SandboxServer, tmp_path: Path, run: Any, client: BeeboleClient
) -> None:
    """Above the unit count --max-calls is not spent: hourly runs cost 24 x the units."""
    apply_org(client, ORG, tmp_path / "m")
    units = len(units_of(load(tmp_path / "m")))
    sandbox.reset_calls()
    status, out, err = run("check", tmp_path / "m", "--max-calls", units + 12,
                           "--state", tmp_path / "state.json")
    assert status == 0, out + err
    assert sum(sandbox.calls.values()) == units
    assert f"Hourly at --max-calls {units + 12}: {24 * units} requests a day" in out
    assert f"{24 * (units + 12)} requests" not in out


def test_group_index_matches_exactly_the_refs_same_names() -> None:
    """check's index of groups (issue 24: no longer every entity against every group) finds
    the groups ``_same`` finds, for refs by xid, by id, and by both."""
    from beeplan.budgeted_check import _GroupMatcher, _same
    from beeplan.model import Ref

    groups = [Ref("group", xid="a"), Ref("group", xid="b", id=2), Ref("group", id=3),
              Ref("group", id=2), Ref("group", xid="c", id=3)]
    probes = [Ref("group", xid="a"), Ref("group", xid="b"), Ref("group", id=2),
              Ref("group", xid="z", id=2), Ref("group", id=3), Ref("group", xid="c", id=9),
              Ref("group", xid="q"), Ref("group", id=99), Ref("company", xid="a")]
    matcher = _GroupMatcher(groups)
    for probe in probes:
        expected = [i for i, g in enumerate(groups) if _same(probe, g)]
        assert sorted(matcher.find(probe)) == expected, probe
