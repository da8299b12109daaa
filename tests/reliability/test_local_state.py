"""Interruptions and local state: SIGTERM, a shared cache dir, damaged files, the token file.

- SIGTERM (what a CI system sends on cancel) during ``apply`` is Ctrl-C: the
  calls in flight finish, the report says what was applied, exit 143, and a
  re-run converges.
- Two beeplan processes sharing one cache dir lose nothing: the quota ledger
  ends equal to the server's request count, and the journal keeps the
  entries of both applies (so both re-runs finish without --allow-destroy).
- A ledger or journal of the wrong shape is set aside with a warning: no
  traceback, and the quota check keeps counting.
- Cache files are 0600, directories 0700, no temporary file is left.
- ``--token-file``: only a regular file, at most 4 KB, a warning when others
  may read it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import time
from pathlib import Path
from typing import Any

import pytest

from beeplan.platforms.v2.client import BeeboleClient, cache_dir, token_key, utc_today
from beeplan.platforms.v2.sandbox.server import SandboxServer

from .conftest import Run, figure
from .orgs import duplicates, inventory, write_docs
from .procs import beeplan_process, output_of, wait_quiet, wait_until
from .test_interrupt import REPORT, assert_converged, small_org, total_calls, write_calls


def ledger_path(token: str) -> Path:
    return cache_dir() / "quota" / f"{token_key(token)}.json"


def journal_path(token: str) -> Path:
    return cache_dir() / "journal" / f"{token_key(token)}.json"


def journal_keys(token: str) -> set[str]:
    try:
        return set(json.loads(journal_path(token).read_text())["owed"])
    except (OSError, ValueError):
        return set()


@pytest.mark.slow  # SIGTERM to a child process mid-run
@pytest.mark.timeout(120)
def test_sigterm_during_apply_reports_exits_143_and_the_rerun_converges(
    beeplan: Run, tmp_path: Path
) -> None:
    manifests, declared = small_org(tmp_path)
    trials = []
    for trial, after in enumerate((10, 60)):
        with SandboxServer(":memory:", seed=trial, latency_ms=20) as sandbox:
            workdir = tmp_path / f"term{trial}"
            with beeplan_process(
                ["apply", manifests, "--auto-approve", "--endpoint", sandbox.url],
                workdir,
                env={"BEEBOLE_TOKEN": sandbox.token},
            ) as proc:
                assert wait_until(
                    lambda: write_calls(sandbox) >= after or proc.poll() is not None, 30  # noqa: B023
                )
                assert proc.poll() is None, "the apply ended before its SIGTERM"
                proc.send_signal(signal.SIGTERM)
                code = proc.wait(timeout=20)
            out, err = output_of(workdir)
            assert code == 143, err[-3000:]
            assert "Traceback" not in err
            made = write_calls(sandbox)
            time.sleep(0.2)
            assert write_calls(sandbox) == made  # nothing was left in flight
            match = REPORT.search(err)
            assert match, err[-3000:]
            applied, failed, _, calls = map(int, match.groups())
            assert (applied, failed, calls) == (made, 0, made)  # the report is exact
            assert "not started: interrupted" in err
            # The ledger was saved on the way out: it counts every request made.
            ledger = json.loads(ledger_path(sandbox.token).read_text())
            assert ledger["requests"] == total_calls(sandbox)
            sandbox.latency_ms = 0
            assert_converged(beeplan, sandbox, manifests, declared)
            trials.append(applied)
    figure(f"SIGTERM: {len(trials)} trials stopped after {trials} writes; exit 143, "
           "report exact, ledger saved, re-run converged")


@pytest.mark.slow  # SIGTERM to a child process mid-run
@pytest.mark.timeout(120)
def test_sigterm_during_a_saved_plan_then_the_same_file_converges(
    beeplan: Run, tmp_path: Path
) -> None:
    """A cancelled merge job re-run: the same plan.json continues where it stopped (it
    was refused as stale by the entities its own first run had created and changed)."""
    manifests, declared = small_org(tmp_path)
    with SandboxServer(":memory:", latency_ms=20) as sandbox:
        plan_file = tmp_path / "plan.json"
        code, _, err = beeplan("plan", manifests, "-o", plan_file, "--endpoint", sandbox.url,
                               token=sandbox.token)
        assert code == 0, err
        planned = len(json.loads(plan_file.read_text())["actions"])
        workdir = tmp_path / "term"
        with beeplan_process(["apply", plan_file, "--auto-approve", "--endpoint", sandbox.url],
                             workdir, env={"BEEBOLE_TOKEN": sandbox.token}) as proc:
            assert wait_until(lambda: write_calls(sandbox) >= 40 or proc.poll() is not None, 30)
            assert proc.poll() is None, "the apply ended before its SIGTERM"
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=20)
        out, err = output_of(workdir)
        assert code == 143 and "Traceback" not in err, err[-3000:]
        first = write_calls(sandbox)
        assert first < planned
        sandbox.latency_ms = 0
        code, out, err = beeplan("apply", plan_file, "--auto-approve", "--endpoint", sandbox.url,
                                 token=sandbox.token)
        assert code == 0, err[-3000:]
        assert write_calls(sandbox) == planned  # the rest, and nothing twice
        code, out, err = beeplan("check", manifests, "--endpoint", sandbox.url)
        assert (code, out) == (0, ""), out + err
        with BeeboleClient(sandbox.url, sandbox.token, ledger=False) as client:
            live = inventory(client)
        assert duplicates(live) == [] and len(live) == declared
    figure(f"SIGTERM in a saved plan after {first} of {planned} writes; the same file "
           "re-run applied the rest and converged")


@pytest.mark.slow  # SIGTERM to a child process mid-run
def test_sigterm_while_reading_exits_143_without_a_traceback(tmp_path: Path) -> None:
    manifests, _ = small_org(tmp_path)
    with SandboxServer(":memory:", latency_ms=200) as sandbox:
        workdir = tmp_path / "plan"
        with beeplan_process(["plan", manifests, "--endpoint", sandbox.url], workdir,
                             env={"BEEBOLE_TOKEN": sandbox.token}) as proc:
            assert wait_until(lambda: total_calls(sandbox) >= 1 or proc.poll() is not None, 30)
            assert proc.poll() is None
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=20)
        out, err = output_of(workdir)
        assert code == 143, err[-2000:]
        assert "Terminated." in err and "Traceback" not in err
        assert out == ""  # no plan from a half-read account
        # The reads made are in the ledger: the client was closed on the way out.
        wait_quiet(lambda: total_calls(sandbox))
        ledger = json.loads(ledger_path(sandbox.token).read_text())
        assert ledger["requests"] == total_calls(sandbox)


def team_docs(prefix: str) -> dict[str, Any]:
    """Three companies declared inactive (create, then deactivate: journaled), and enough
    people that the deactivations, which come last, are still ahead when SIGTERM lands."""
    companies: list[dict[str, Any]] = [{"xid": f"{prefix}-main", "name": f"{prefix} main"}]
    companies += [
        {"xid": f"{prefix}-old{i}", "name": f"{prefix} old {i}", "active": False}
        for i in range(3)
    ]
    people = [
        {"xid": f"{prefix}-p{i}", "name": f"{prefix} person {i}", "company": f"{prefix}-main"}
        for i in range(60)
    ]
    return {"org.yaml": {"companies": companies, "people": people}}


@pytest.mark.slow  # two apply processes at once
@pytest.mark.timeout(120)
def test_two_applies_sharing_a_cache_dir_lose_neither_ledger_nor_journal_entries(
    beeplan: Run, tmp_path: Path
) -> None:
    teams = {name: write_docs(tmp_path / name, team_docs(name)) for name in ("ta", "tb")}
    created = {f"company:{name}-old{i}" for name in teams for i in range(3)}
    with SandboxServer(":memory:", seed=7, latency_ms=15) as sandbox:
        token = sandbox.token
        procs = {}
        with beeplan_process(
            ["apply", teams["ta"], "--auto-approve", "--parallelism", 2, "--endpoint",
             sandbox.url], tmp_path / "run-ta", env={"BEEBOLE_TOKEN": token},
        ) as procs["ta"], beeplan_process(
            ["apply", teams["tb"], "--auto-approve", "--parallelism", 2, "--endpoint",
             sandbox.url], tmp_path / "run-tb", env={"BEEBOLE_TOKEN": token},
        ) as procs["tb"]:
            # Both have journaled their inactive companies: stop both before they finish.
            assert wait_until(
                lambda: created <= journal_keys(token)
                or any(p.poll() is not None for p in procs.values()),
                30,
            )
            assert all(p.poll() is None for p in procs.values()), "an apply ended too early"
            for proc in procs.values():
                proc.send_signal(signal.SIGTERM)
            codes = {name: proc.wait(timeout=20) for name, proc in procs.items()}
        assert codes == {"ta": 143, "tb": 143}, [output_of(tmp_path / f"run-{n}") for n in codes]
        wait_quiet(lambda: total_calls(sandbox))
        # Every request of both processes is in the shared ledger, none overwritten.
        ledger = json.loads(ledger_path(token).read_text())
        assert ledger["requests"] == total_calls(sandbox)
        # Both applies' created-but-not-yet-deactivated companies are still owed.
        owed = journal_keys(token)
        assert created <= owed, owed
        # So each re-run deactivates its 3 of 4 companies without --allow-destroy.
        for name, manifests in teams.items():
            code, out, err = beeplan("apply", manifests, "--auto-approve", "--endpoint",
                                     sandbox.url, token=token)
            assert code == 0, f"{name}: {err[-2000:]}"
        assert journal_keys(token) == set()
        ledger = json.loads(ledger_path(token).read_text())
        assert ledger["requests"] == total_calls(sandbox)
        figure(f"shared cache dir: 2 applies SIGTERM'd at once; ledger = server count "
               f"({ledger['requests']}), journal kept both applies' {len(created)} entries")


@pytest.mark.parametrize(
    ("ledger", "journal"),
    [
        ('{"day": "%s", "requests": -100000, "bytes": 0}', '{"owed": "company:x"}'),
        ('{"day": "%s", "requests": "12", "bytes": 0}', '["company:x"]'),
        ('[1, 2, 3]', '{"owed": [1, 2]}'),
        ('{"day": "%s", "requ', 'not json at all'),
        ('\xff\xfe{"day": "%s"}', "null"),
    ],
    ids=["negative", "string-count", "not-an-object", "truncated", "binary"],
)
def test_a_ledger_or_journal_of_the_wrong_shape_is_set_aside_with_a_warning(
    ledger: str, journal: str, run: Run, sandbox: SandboxServer
) -> None:
    for path, text in ((ledger_path(sandbox.token), ledger.replace("%s", utc_today())),
                       (journal_path(sandbox.token), journal)):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", errors="surrogateescape")
    code, out, err = run("plan", "examples/acme")
    assert code == 0, err
    assert "Traceback" not in err
    assert err.count("is not one beeplan wrote") == 2, err
    assert ledger_path(sandbox.token).with_name(ledger_path(sandbox.token).name + ".bad").exists()
    # The quota check still counts: from zero, plus this plan's reads, never negative.
    spent = sum(sandbox.calls.values())
    assert re.search(rf"\b{4000 - spent} of 4000 left today", out), out[-400:]
    assert json.loads(ledger_path(sandbox.token).read_text())["requests"] == spent


@pytest.mark.parametrize("shape", ["directory", "symlink", "dangling-symlink"])
def test_a_ledger_or_journal_that_is_not_a_regular_file_is_set_aside(
    shape: str, run: Run, sandbox: SandboxServer, tmp_path: Path
) -> None:
    """Else every run would warn it cannot save, and count its quota from zero."""
    target = tmp_path / "elsewhere.json"
    target.write_text('{"owed": []}')
    for path in (ledger_path(sandbox.token), journal_path(sandbox.token)):
        path.parent.mkdir(parents=True, exist_ok=True)
        if shape == "directory":
            path.mkdir()
        else:
            path.symlink_to(target if shape == "symlink" else tmp_path / "nowhere")
    code, out, err = run("plan", "examples/acme")
    assert code == 0, err
    assert "Traceback" not in err and "could not" not in err, err
    assert err.count("is not one beeplan wrote (not a regular file)") == 2, err
    ledger = ledger_path(sandbox.token)
    assert ledger.with_name(ledger.name + ".bad").is_symlink() == (shape != "directory")
    assert json.loads(ledger.read_text())["requests"] == sum(sandbox.calls.values())
    assert target.read_text() == '{"owed": []}'  # a symlink's target is never written
    code, out, err = run("plan", "examples/acme")  # the next run counts on from there
    assert code == 0 and "not one beeplan wrote" not in err, err
    assert json.loads(ledger.read_text())["requests"] == sum(sandbox.calls.values())


def test_cache_files_are_private_and_no_temporary_file_is_left(
    run: Run, sandbox: SandboxServer, tmp_path: Path
) -> None:
    plan_file = tmp_path / "plan.json"
    code, _, err = run("plan", "examples/acme", "-o", plan_file)
    assert code == 0, err
    code, out, err = run("apply", plan_file, "--auto-approve", "--max-calls", "40")
    assert code == 0 and "left" in out, err  # a first slice: its progress is kept
    code, _, err = run("apply", "examples/acme", "--auto-approve")
    assert code == 0, err
    code, _, err = run("check", "examples/acme", "--max-calls", "15")  # writes its state
    assert code == 0, err
    root = cache_dir()
    assert list(root.glob("check/*.json")), "check saved no state under the cache dir"
    assert list(root.glob("slices/*.json")), "apply --max-calls saved no progress"
    found = list(root.rglob("*"))
    assert any(p.name.endswith(".json") for p in found)
    for path in found:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), f"{path}: {mode:o}"
        assert not path.name.endswith(".tmp"), path


def test_token_file_must_be_a_small_regular_file_and_private(
    cli_main: Run, sandbox: SandboxServer, tmp_path: Path
) -> None:
    def plan_with(path: Path) -> tuple[int, str, str]:
        return cli_main("plan", "examples/acme", "--endpoint", sandbox.url, "--token-file", path)

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    code, _, err = plan_with(fifo)
    assert code == 1 and "is not a regular file" in err and "Traceback" not in err

    big = tmp_path / "big"
    big.write_text(sandbox.token + "\n" + "x" * 5000)
    os.chmod(big, 0o600)
    code, _, err = plan_with(big)
    assert code == 1 and "too big for an API token" in err
    assert sandbox.token not in err

    shared = tmp_path / "shared"
    shared.write_text(sandbox.token + "\n")
    os.chmod(shared, 0o644)
    code, _, err = plan_with(shared)
    assert code == 0, err
    assert "can be read by other users (mode 644)" in err

    private = tmp_path / "private"
    private.write_text(sandbox.token + "\n")
    os.chmod(private, 0o600)
    code, _, err = plan_with(private)
    assert code == 0 and "other users" not in err
    assert sum(sandbox.calls.values()) > 0
