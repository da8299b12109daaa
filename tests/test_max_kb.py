"""Issue 24: ``--max-kb K`` beside ``--max-calls N`` (check, apply).

The daily quota counts KB as well as requests, and at 5000 people the KB run
out first. A run given --max-kb stops before the first call whose estimate
(answer sizes measured per service, a list's by the entities it lists) would
pass K; a run refused outright spends nothing. What was spent is read from the
sandbox's own quota counter, not from beeplan's.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from beeplan.platforms.v2.sandbox.server import SandboxServer

from .conftest import Run
from .test_guards_every_command import counted

ACME = Path(__file__).resolve().parent.parent / "examples" / "acme"


def test_help_states_max_kb_on_the_commands_that_have_max_calls(run: Run) -> None:
    for command in ("check", "apply"):
        code, out, _ = run(command, "--help")
        assert code == 0
        assert "--max-calls" in out and "--max-kb" in out, command
        text = " ".join(out.split())  # as wrapped for the terminal
        assert "request + answer bytes" in text  # what is counted, said where it is set


@pytest.mark.parametrize("command", ["check", "apply"])
def test_max_kb_without_max_calls_is_a_usage_error_before_any_call(
    run: Run, sandbox: SandboxServer, command: str
) -> None:
    code, out, err = run(command, ACME, "--max-kb", 100)
    assert code == 1
    assert "--max-kb goes with --max-calls" in err
    assert "Traceback" not in err
    assert counted(sandbox) == (0, 0)


def test_budgeted_check_spends_within_max_kb_and_says_what_never_fits(
    run: Run, sandbox: SandboxServer, tmp_path: Path
) -> None:
    code, _, err = run("apply", ACME, "--auto-approve")
    assert code == 0, err
    for max_kb in (1, 2, 3, 5, 8):
        sandbox.advance_day()  # the sandbox's count starts again at 0
        before = counted(sandbox)
        assert before == (0, 0)
        state = tmp_path / f"state-{max_kb}.json"
        code, out, err = run("check", ACME, "--max-calls", 200, "--max-kb", max_kb,
                             "--state", state, "--format", "json")
        assert code == 0, (max_kb, err)
        calls, kb = counted(sandbox)
        assert 0 < calls and kb <= max_kb, (max_kb, calls, kb)  # within K, by the API's count
        coverage = json.loads(out)["coverage"]
        assert coverage["max_kb"] == max_kb and coverage["calls"] == calls
        # The unit lists larger than K are named, with the K that would read them.
        for unit in coverage["never_fit_max_kb"]:
            assert unit["kb"] > max_kb
    code, out, err = run("check", ACME, "--max-calls", 200, "--max-kb", 1)
    assert "never fit --max-kb 1 (the largest, " in out + err
    assert "raise --max-kb to at least" in out + err


def test_a_rotation_under_max_kb_still_covers_everything_in_the_runs_it_promises(
    run: Run, sandbox: SandboxServer, tmp_path: Path
) -> None:
    code, _, err = run("apply", ACME, "--auto-approve")
    assert code == 0, err
    state = tmp_path / "state.json"
    promised = None
    runs = 0
    while runs < 40:
        runs += 1
        code, out, err = run("check", ACME, "--max-calls", 50, "--max-kb", 10,
                             "--state", state, "--format", "json")
        assert code == 0, err
        coverage = json.loads(out)["coverage"]
        promised = promised or coverage["runs_for_full_cover"]
        assert coverage["kb"] <= 10
        if coverage["never_verified"] == 0:
            break
    assert coverage["never_verified"] == 0  # the big lists were read too, in their turn
    assert promised is not None and runs <= promised + 1, (runs, promised)


def test_apply_whose_first_read_passes_max_kb_spends_nothing(
    run: Run, sandbox: SandboxServer
) -> None:
    code, out, err = run("apply", ACME, "--auto-approve", "--max-calls", 500, "--max-kb", 1)
    assert code == 1
    assert "--max-kb 1 does not cover reading the account" in err
    assert "Raise --max-kb" in err
    assert "Traceback" not in err
    assert counted(sandbox) == (0, 0)  # refused before its first call


def test_apply_max_kb_binds_the_writes_and_a_rerun_continues(
    run: Run, sandbox: SandboxServer
) -> None:
    # From empty, acme's reads are 3 calls (about 6 KB) and its writes about 15 KB.
    code, out, err = run("apply", ACME, "--auto-approve", "--max-calls", 4000, "--max-kb", 10)
    assert code == 0, err
    calls, kb = counted(sandbox)
    assert kb <= 10 and calls > 3, (calls, kb)  # some writes, within K by the API's count
    assert "Slice:" in out and "re-run the same command to continue" in out
    sandbox.advance_day()
    code, out, err = run("apply", ACME, "--auto-approve", "--max-calls", 4000, "--max-kb", 80)
    assert code == 0, err
    assert counted(sandbox)[1] <= 80
    assert "Slice:" not in out  # the rest fitted
    code, out, err = run("plan", ACME)
    assert code == 0 and "No changes" in out, out + err


def test_a_saved_plan_in_kb_slices_stays_within_max_kb_and_finishes(
    run: Run, sandbox: SandboxServer, tmp_path: Path
) -> None:
    saved = tmp_path / "plan.json"
    code, _, err = run("plan", ACME, "-o", saved)
    assert code == 0, err
    runs = 0
    while True:  # each slice re-reads what it touches, before and after: all within K
        runs += 1
        assert runs < 40, "the saved plan's KB slices do not finish"
        sandbox.advance_day()
        code, out, err = run("apply", saved, "--auto-approve", "--max-calls", 4000,
                             "--max-kb", 12)
        assert code == 0, err
        assert counted(sandbox)[1] <= 12, (runs, counted(sandbox))
        if "Slice:" not in out:
            break
    assert runs > 1  # K bound it: more than one run
    code, out, err = run("plan", ACME)
    assert code == 0 and "No changes" in out, out + err
