"""Interruption: ``beeplan apply`` in a child process, killed or interrupted mid-way.

- SIGKILL at a random moment (20 seeded trials): nothing can be cleaned up,
  yet one re-run converges, with no duplicate entity.
- SIGINT (Ctrl-C): scheduling stops, the calls in flight finish, the output
  says exactly what was applied (checked against the sandbox's own count of
  write calls), the exit status is 130, and a re-run converges.
"""

from __future__ import annotations

import json
import random
import re
import signal
import time
from pathlib import Path

import pytest

from beeplan.platforms.v2.client import BeeboleClient, is_read
from beeplan.platforms.v2.sandbox.server import SandboxServer

from .conftest import Run, figure
from .orgs import duplicates, entity_count, inventory, medium_org, write_docs
from .procs import beeplan_process, output_of, wait_quiet, wait_until

SIGKILL_TRIALS = 20
SIGINT_TRIALS = 5
LATENCY_MS = 20  # a window: the calls in flight take this long


def small_org(tmp_path: Path) -> tuple[Path, int]:
    docs = medium_org(100, companies=2, people=30)
    return write_docs(tmp_path / "org", docs), entity_count(docs)


def planned_calls(beeplan: Run, manifests: Path) -> tuple[int, int]:
    """(read calls, write calls) of an apply of the manifests to an empty account."""
    with SandboxServer(":memory:") as sandbox:
        code, out, err = beeplan("plan", manifests, "--format", "json",
                                 "--endpoint", sandbox.url, token=sandbox.token)
        assert code == 0, err
        return sum(sandbox.calls.values()), len(json.loads(out)["actions"])


def total_calls(sandbox: SandboxServer) -> int:
    return sum(sandbox.calls.values())


def write_calls(sandbox: SandboxServer) -> int:
    return sum(n for service, n in sandbox.calls.items() if not is_read(service))


def assert_converged(beeplan: Run, sandbox: SandboxServer, manifests: Path, declared: int) -> str:
    """One re-run finishes cleanly; then no duplicates, every entity there, an empty plan."""
    code, out, err = beeplan("apply", manifests, "--auto-approve", "--endpoint", sandbox.url,
                             token=sandbox.token)
    assert code == 0, out[-2000:] + err[-3000:]
    with BeeboleClient(sandbox.url, sandbox.token, ledger=False) as client:
        live = inventory(client)
    assert duplicates(live) == []
    assert len(live) == declared
    code, plan_out, err = beeplan("check", manifests, "--endpoint", sandbox.url)
    assert (code, plan_out) == (0, ""), plan_out + err
    return out


def kill_at(sandbox: SandboxServer, manifests: Path, workdir: Path, after: int,
            pause: float) -> int | None:
    """Run ``beeplan apply`` in a child; SIGKILL it once the sandbox has received
    ``after`` more requests, plus ``pause`` seconds. The write calls it had made by
    then; None if it finished first."""
    base, base_writes = total_calls(sandbox), write_calls(sandbox)
    with beeplan_process(
        ["apply", manifests, "--auto-approve", "--endpoint", sandbox.url],
        workdir,
        env={"BEEBOLE_TOKEN": sandbox.token},
    ) as proc:
        assert wait_until(
            lambda: total_calls(sandbox) - base >= after or proc.poll() is not None, 30
        )
        time.sleep(pause)
        if proc.poll() is not None:
            assert proc.returncode == 0, output_of(workdir)[1][-3000:]
            return None
        proc.send_signal(signal.SIGKILL)
        written = write_calls(sandbox) - base_writes
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    # Calls the dead process had sent still complete on the server: let them land.
    wait_quiet(lambda: total_calls(sandbox))
    return written


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_sigkill_at_a_random_moment_then_one_rerun_converges(
    beeplan: Run, tmp_path: Path
) -> None:
    """Each trial kills an apply at a random moment, then kills its re-run at another
    (on a half-made account, so often while reading), then re-runs once more."""
    manifests, declared = small_org(tmp_path)
    reads, writes = planned_calls(beeplan, manifests)
    rng = random.Random(20240607)
    started = time.monotonic()
    kills = second_finished = while_reading = missed = disconnects = done = 0
    trial = -1
    while done < SIGKILL_TRIALS:
        trial += 1
        assert missed <= SIGKILL_TRIALS, f"{missed} applies ended before their kill"
        with SandboxServer(":memory:", seed=trial, latency_ms=LATENCY_MS) as sandbox:
            pause = rng.uniform(0, LATENCY_MS / 1000)
            # The first: after a random number of requests (0: before the first one).
            first = kill_at(sandbox, manifests, tmp_path / f"kill{trial}a",
                            rng.randrange(0, reads + writes), pause)
            if first is None:
                # Drawn near the end, on a loaded machine the apply finished before
                # this process could kill it: the trial proves nothing; draw another.
                missed += 1
                continue
            # Its re-run: reads what the first left (about 100 calls), then writes.
            second = kill_at(sandbox, manifests, tmp_path / f"kill{trial}b",
                             rng.randrange(0, 150), rng.uniform(0, LATENCY_MS / 1000))
            kills += 1 + (second is not None)
            second_finished += second is None
            while_reading += (first == 0) + (second == 0)
            sandbox.latency_ms = 0
            assert_converged(beeplan, sandbox, manifests, declared)
            # A request cut by the kill mid-body is a client gone, not a sandbox fault.
            assert sandbox.internal_errors == 0
            disconnects += sandbox.client_disconnects
            done += 1
    elapsed = time.monotonic() - started
    figure(
        f"SIGKILL: {SIGKILL_TRIALS} trials on {declared} entities ({writes} calls to apply): "
        f"{kills} kills ({while_reading} before any write; {second_finished} re-runs "
        "finished before their kill); "
        f"every final re-run converged, 0 duplicates; {disconnects} requests cut mid-body"
        + (f"; {missed} applies finished before their kill and were drawn again"
           if missed else "")
        + f"; {elapsed:.0f}s"
    )


REPORT = re.compile(r"Apply: (\d+) applied, (\d+) failed, (\d+) skipped \((\d+) API calls")


@pytest.mark.slow
@pytest.mark.timeout(150)
@pytest.mark.parametrize(
    ("latency_ms", "parallelism", "trials"),
    [
        (LATENCY_MS, 4, SIGINT_TRIALS),  # calls in flight when Ctrl-C comes: waited for
        (0, 8, 20),  # no latency: Ctrl-C lands amid the bookkeeping of finished calls
    ],
    ids=["in-flight", "racing"],
)
def test_sigint_stops_waits_for_calls_in_flight_reports_and_exits_130(
    latency_ms: float, parallelism: int, trials: int, beeplan: Run, tmp_path: Path
) -> None:
    manifests, declared = small_org(tmp_path)
    reads, writes = planned_calls(beeplan, manifests)
    rng = random.Random(130 + parallelism)
    reported = []
    missed = 0  # trials the apply finished before the signal could land (a loaded machine)
    trial = -1
    while len(reported) < trials:
        trial += 1
        assert missed <= trials, f"{missed} trials ended before Ctrl-C could be sent"
        after = rng.randrange(5, writes - 60)
        with SandboxServer(":memory:", seed=trial, latency_ms=latency_ms) as sandbox:
            workdir = tmp_path / f"int{trial}"
            with beeplan_process(
                ["apply", manifests, "--auto-approve", "--parallelism", parallelism,
                 "--endpoint", sandbox.url],
                workdir,
                env={"BEEBOLE_TOKEN": sandbox.token},
            ) as proc:
                assert wait_until(
                    lambda: write_calls(sandbox) >= after or proc.poll() is not None, 30  # noqa: B023
                )
                time.sleep(rng.uniform(0, latency_ms / 1000))
                if proc.poll() is not None:
                    # The scheduler let the apply finish before this process looked:
                    # nothing was interrupted, so this trial proves nothing; draw another.
                    assert proc.returncode == 0, output_of(workdir)[1][-3000:]
                    missed += 1
                    continue
                proc.send_signal(signal.SIGINT)
                code = proc.wait(timeout=20)
            out, err = output_of(workdir)
            assert code == 130, err[-3000:]
            made = write_calls(sandbox)
            # Nothing reaches the server after the process ended: it did not exit
            # while calls were still in flight.
            time.sleep(0.2)
            assert write_calls(sandbox) == made
            match = REPORT.search(err)
            assert match, err[-3000:]
            applied, failed, skipped, calls = map(int, match.groups())
            # What it says it applied is exactly what the server received: every call
            # made was waited for and counted, none was lost between two statements.
            assert (applied, failed) == (made, 0), f"trial {trial}: {err[-1500:]}"
            assert calls == made
            assert applied + skipped == writes
            assert 0 < applied < writes  # it stopped scheduling
            assert "not started: interrupted" in err
            sandbox.latency_ms = 0
            rerun = assert_converged(beeplan, sandbox, manifests, declared)
            rerun_applied = REPORT.search(rerun)
            assert rerun_applied and int(rerun_applied.group(1)) == writes - applied
            reported.append(applied)
    figure(
        f"SIGINT ({latency_ms:g} ms latency, parallelism {parallelism}): {trials} trials, "
        f"each reported exactly the writes the sandbox received ({min(reported)}..."
        f"{max(reported)} of {writes}), exit 130, re-run converged"
        + (f"; {missed} finished before the signal and were drawn again" if missed else "")
    )
