"""The call counts of a benchmark run: what must not change unless beeplan's reads change.

Call counts depend only on the seeded org and beeplan's logic, never on the
machine, the latency or the CPU, so a run can be compared with the committed
results exactly (``tests/test_benchmarks.py``). Time, KB and memory are left out:
time varies by machine, and KB follow from the calls.
"""

from __future__ import annotations

from typing import Any


def call_counts(results: dict[str, Any]) -> dict[str, int]:
    """Flatten a results JSON into ``{"scenario.figure": calls}`` for every counted step."""
    counts: dict[str, int] = {}
    for name, r in results.get("scenarios", {}).items():
        counts[f"{name}.calls"] = r["sandbox_calls"]
        for key in ("read_calls", "fresh_calls", "apply_calls", "actions"):
            if key in r:
                counts[f"{name}.{key}"] = r[key]
        if "verify" in r:
            counts[f"{name}.verify.calls"] = r["verify"]["calls"]
            counts[f"{name}.verify.actions"] = r["verify"]["actions"]
    for name, r in results.get("naive", {}).items():
        counts[f"naive.{name}.calls"] = r["calls"]
    scale = results.get("scale", {})
    for point in scale.get("points", []):
        counts[f"scale.x{point['factor']:g}.calls"] = point["calls"]
    if "check" in scale.get("fit", {}):
        counts["scale.largest_within_quota.calls"] = scale["fit"]["check"]["calls"]
    quota = results.get("quota", {})
    if "slices" in quota:
        q = quota["slices"]
        counts["slices.days"] = q["days"]
        for day in q["per_day"]:
            counts[f"slices.day{day['day']}.calls"] = day["calls"]
        counts["slices.follow_up.calls"] = q["follow_up_plan"]["calls"]
        counts["slices.duplicates"] = q["duplicate_xids"]
    if "resume" in quota:
        q = quota["resume"]
        for run in q["runs"]:
            counts[f"resume.day{run['day']}.calls"] = run["calls"]
        counts["resume.plan_of_import.calls"] = q["plan_of_import"]["calls"]
    if "pr" in quota and "full" in quota["pr"]:
        counts["pr.full.calls"] = quota["pr"]["full"]["calls"]
        counts["pr.targeted.calls"] = quota["pr"]["targeted"]["calls"]
    if "budget" in quota and "runs" in quota["budget"]:
        q = quota["budget"]
        counts["budget.max_calls"] = q["max_calls"]
        counts["budget.daily_calls"] = q["daily_calls"]
        counts["budget.hours_to_full_coverage"] = q["hours_to_full_coverage"]
    return counts
