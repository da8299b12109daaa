"""Faults: a medium organisation applied through a sandbox that fails requests.

The sandbox answers 10% of requests HTTP 500 without doing the work, drops
2% of connections, and answers 5% HTTP 500 *after* doing the work (the lost
answer: the create happened, the client does not know). beeplan must:
- converge: within 3 apply runs, an apply ends with nothing failed or skipped;
- never duplicate: no two live entities share an xid, nor a name under one parent
  (checked with raw list calls, faults off), and the account holds exactly
  the declared entities;
- leave nothing to do: the plan made afterwards is empty.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from beeplan.platforms.v2.client import BeeboleClient
from beeplan.platforms.v2.sandbox.server import SandboxServer

from .conftest import FaultCounter, Run, figure
from .orgs import duplicates, entity_count, inventory, medium_org, write_docs

SEEDS = [1, 2, 3, 4, 5]
MAX_RUNS = 3


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
def test_apply_converges_without_duplicates_under_faults(
    seed: int, beeplan: Run, faults: FaultCounter, tmp_path: Path
) -> None:
    docs = medium_org(seed)
    declared = entity_count(docs)
    assert declared >= 300
    manifests = write_docs(tmp_path / "org", docs)
    with SandboxServer(
        ":memory:",
        seed=seed,
        error_rate=0.10,
        drop_rate=0.02,
        error_after_rate=0.05,
        quota_requests=10**6,
        quota_kb=10**6,
    ) as sandbox:
        runs = 0
        lost_creates = 0
        why_not: list[str] = []
        while True:
            runs += 1
            code, out, err = beeplan(
                "apply", manifests, "--auto-approve", "--parallelism", 8,
                "--endpoint", sandbox.url, token=sandbox.token,
            )
            # A create whose answer was lost, then found by xid instead of made again.
            lost_creates += len(re.findall(r"create \S+: already existed", err))
            if code == 0:
                # All applied; or nothing left (a call that "failed" had lost only its answer).
                assert "0 failed, 0 skipped" in out or (runs > 1 and "No changes" in out), out
                break
            # A run that did not finish says so, and what it did and did not do.
            assert code == 1, err
            assert "Error:" in err
            summary = err[err.index("Error:") :].splitlines()
            why_not.append(" / ".join(line.strip() for line in summary[:4])[:400])
            assert runs < MAX_RUNS, f"not converged after {MAX_RUNS} runs:\n{err[-3000:]}"
        injected = faults.total

        sandbox.error_rate = sandbox.drop_rate = sandbox.error_after_rate = 0.0
        with BeeboleClient(sandbox.url, sandbox.token, ledger=False) as client:
            live = inventory(client)
        found = duplicates(live)
        assert found == []
        assert len(live) == declared
        code, out, err = beeplan("plan", manifests, "--detailed-exitcode",
                                 "--endpoint", sandbox.url)
        assert code == 0, out + err
        assert "No changes" in out
        assert sandbox.internal_errors == 0

    # The dangerous path was exercised: creates whose answer was lost.
    assert faults.counts["error after the work (lost answer)"] > 0
    assert lost_creates > 0
    figure(
        f"faults seed={seed}: {declared} entities, {injected} faults injected "
        f"({dict(faults.counts)}), {lost_creates} creates found done after a lost answer, "
        f"converged in {runs} run(s), {len(found)} duplicates"
        + (f"; unfinished runs: {why_not}" if why_not else "")
    )
