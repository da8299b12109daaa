"""Benchmarks that cannot rot: every ``--quick`` scenario runs and spends the committed calls.

Nothing here is about time (the machine's speed varies); only that each scenario
completes and that its call counts, which depend only on the seeded org and on
beeplan's reads, equal those in ``benchmarks/results-quick.json`` (written by
the same command). A change that alters beeplan's reads on purpose re-runs
``python -m benchmarks --quick`` and commits the new results with it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.__main__ import QUOTA_SCENARIOS, SCENARIOS
from benchmarks.counts import call_counts

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "benchmarks" / "results-quick.json"


def test_call_counts_flatten_every_counted_figure() -> None:
    """The committed results name a count for every scenario: the slow test compares them all."""
    counts = call_counts(json.loads(COMMITTED.read_text(encoding="utf-8")))
    for name in ("apply", "noop", "change", "import"):
        assert f"{name}.calls" in counts, name
    assert "scale.x1.calls" in counts and "scale.largest_within_quota.calls" in counts
    for name in ("slices.days", "resume.day1.calls", "pr.targeted.calls", "budget.daily_calls"):
        assert name in counts, name
    assert all(isinstance(v, int) for v in counts.values())


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_every_quick_scenario_completes_with_the_committed_call_counts(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--out", str(out),
         "--plot", str(tmp_path / "scale.png"), "--workdir", str(tmp_path / "work")],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=1150)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    results = json.loads(out.read_text(encoding="utf-8"))
    for name in set(SCENARIOS) - set(QUOTA_SCENARIOS) - {"scale"}:
        assert results["scenarios"][name]["counts_agree"], name  # client and sandbox agree
    for name in QUOTA_SCENARIOS:
        assert "skipped_reason" not in results["quota"][name], (name, results["quota"][name])
    expected = call_counts(json.loads(COMMITTED.read_text(encoding="utf-8")))
    measured = call_counts(results)
    differ = {k: (expected.get(k), measured.get(k)) for k in expected.keys() | measured.keys()
              if expected.get(k) != measured.get(k)}
    assert not differ, (
        f"call counts differ from {COMMITTED.name} (committed, measured): {differ}; if beeplan's "
        "reads changed on purpose, re-run `python -m benchmarks --quick` and commit its results")
