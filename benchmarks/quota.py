"""Quota-proportional workflows (issue 13) on the benchmark org, through the real CLI.

Scenarios (each prints its figures; ``python -m benchmarks`` writes them to the JSON):
  slices  apply from empty in ``--max-calls 4000`` slices, one a day: days needed,
          calls and KB per day, duplicates, the follow-up plan
  resume  import stopped at 60% by the quota, resumed the next day: total calls
          against one import, and the plan of the imported manifests
  pr      full plan vs ``plan --changed-since`` for a 5-entity change (runs once
          ``--changed-since`` exists)
  budget  hourly ``check --max-calls N``: calls and KB a day, hours to full
          coverage (runs once ``check --max-calls`` exists)

Each step is ``python -m beeplan`` in its own process against the sandbox
subprocess, whose daily quota is the real one (4000 requests, 2048 KB). A
simulated day is the sandbox's clock moved on (``advance_day``) plus a fresh
beeplan cache dir, so beeplan's own ledger starts the day at zero as it would.
Call counts do not depend on latency, so these run at a low one.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from beeplan.platforms.v2.client import token_key, utc_today

from .generate import Org, _company_of, write_manifests
from .sandbox_host import BENCH_TOKEN, UNLIMITED, SandboxProcess

if TYPE_CHECKING:
    from .__main__ import Bench

ROOT = Path(__file__).resolve().parent.parent
DAILY_CALLS = 4000
DAILY_KB = 2048
QUOTA_LATENCY_MS = 2.0


def say(message: str = "") -> None:
    print(message, flush=True)


class Cli:
    """``python -m beeplan`` against one sandbox, one simulated day at a time."""

    def __init__(self, bench: Bench, sandbox: SandboxProcess, name: str):
        self.bench = bench
        self.sandbox = sandbox
        self.name = name
        self.day = 0
        # A copied account (bench.large_db(): scenario (a)'s when it ran) carries the calls
        # it took today in the sandbox's quota: start on a day of its own, as beeplan's
        # fresh ledger does, or the sandbox refuses what beeplan believes it may spend.
        self.new_day(advance=True)

    def new_day(self, advance: bool = True, keep: tuple[str, ...] = ()) -> None:
        """The next day; ``keep``: cache subdirs that outlive a day on a real machine."""
        if advance:
            self.sandbox.command("advance_day")
        before = getattr(self, "cache", None)
        self.day += 1
        self.cache = self.bench.work / f"cache-{self.name}-{self.day}"
        shutil.rmtree(self.cache, ignore_errors=True)
        for sub in keep:  # the quota ledger is never kept: the new day starts it at zero
            if before is not None and (before / sub).is_dir():
                shutil.copytree(before / sub, self.cache / sub)
        self.sandbox.set(quota_requests=DAILY_CALLS, quota_kb=DAILY_KB)

    def spent_today(self, requests: int) -> None:
        """Tell beeplan's ledger (and the sandbox) that ``requests`` went elsewhere today."""
        path = self.cache / "quota" / f"{token_key(BENCH_TOKEN)}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"day": utc_today(), "requests": requests, "bytes": 0}))
        self.sandbox.set(quota_requests=DAILY_CALLS - requests)

    def run(self, *args: str) -> dict[str, Any]:
        env = dict(self.bench.env, BEEBOLE_TOKEN=BENCH_TOKEN, BEEBOLE_ENDPOINT=self.sandbox.url,
                   BEEPLAN_CACHE_DIR=str(self.cache), NO_COLOR="1")
        self.sandbox.reset()
        started = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "beeplan", *args], capture_output=True,
                              text=True, env=env, cwd=ROOT)
        counts = self.sandbox.counts()
        return {"args": list(args), "exit": proc.returncode, "out": proc.stdout,
                "err": proc.stderr, "wall_s": time.monotonic() - started,
                # what the quota counted (refused requests are not), and what was sent
                "calls": counts.requests, "sent": counts.total, "kb": counts.bytes / 1024,
                "by_service": dict(sorted(counts.calls.items()))}


def duplicates(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT kind, COUNT(*) - COUNT(DISTINCT xid), COUNT(*) FROM entity GROUP BY kind"
        ).fetchall()
    return {"duplicate_xids": sum(r[1] for r in rows), "entities": sum(r[2] for r in rows)}


def _int(pattern: str, text: str, default: int = 0) -> int:
    found = re.search(pattern, text)
    return int(found.group(1)) if found else default


# ---------------------------------------------------------------------------


def slices(bench: Bench) -> dict[str, Any]:
    """apply from empty, --max-calls 4000 a day, until a run says No changes."""
    from .seeding import seed_account

    say(f"(e) apply from empty in --max-calls {DAILY_CALLS} slices, one a day "
        f"(quota {DAILY_CALLS} requests / {DAILY_KB} KB a day): ...")
    db = bench.db("slices")
    from beeplan.model import State

    seed_account(db, State())
    saved = os.environ.get("BENCH_SLICES", "manifests") == "saved"
    max_days = int(os.environ.get("BENCH_SLICES_MAX_DAYS", "6"))
    days: list[dict[str, Any]] = []
    plan_file = bench.work / "slices-plan.json"
    with SandboxProcess(db, latency_ms=QUOTA_LATENCY_MS) as sb:
        cli = Cli(bench, sb, "slices")
        made: dict[str, Any] | None = None
        if saved:  # the saved-plan workflow: plan -o once, then apply the file each day
            made = cli.run("plan", str(bench.large), "-o", str(plan_file))
        while cli.day <= max_days:
            target = str(plan_file) if saved else str(bench.large)
            r = cli.run("apply", target, "--auto-approve", "--max-calls",
                        str(DAILY_CALLS - (made["calls"] if made and cli.day == 1 else 0)),
                        "--parallelism", str(bench.config.parallelism))
            if made and cli.day == 1:
                r["calls"] += made["calls"]
                r["kb"] += made["kb"]
                r["by_service"] = {k: r["by_service"].get(k, 0) + made["by_service"].get(k, 0)
                                   for k in {**r["by_service"], **made["by_service"]}}
            if "No changes" in r["out"] or "applied already" in r["out"]:
                break
            day = {"day": cli.day, "exit": r["exit"], "calls": r["calls"], "kb": r["kb"],
                   "reads": _int(r"(\d+) spent reading", r["out"]),
                   "planned": _int(r"API calls: (\d+) to apply", r["out"]),
                   "applied": _int(r"Apply: (\d+) applied", r["out"]),
                   "failed": _int(r"(\d+) failed", r["out"]),
                   "left": _int(r"; (\d+) left", r["out"]), "wall_s": r["wall_s"],
                   "by_service": r["by_service"]}
            days.append(day)
            say(f"  day {day['day']}: {day['calls']} calls ({day['reads']} reads + "
                f"{day['applied']} writes), {day['kb']:.0f} KB; {day['left']} actions left"
                + ("" if r["exit"] == 0 else f"; EXIT {r['exit']}: {r['err'][-300:]}"))
            if r["exit"] != 0 or day["left"] == 0:
                break
            cli.new_day(keep=("slices", "journal"))
        if saved:  # a day of its own: the last slice may have left too little of today
            cli.new_day(keep=("slices", "journal"))
        follow = cli.run("plan", str(bench.large), "--detailed-exitcode")
        # Past about 2600 people a full plan needs more than a day's 2048 KB, so the
        # CLI's follow-up plan stops at its quota guard: the same plan is then made by
        # the benchmark's worker (the planner and reader of `beeplan plan`) with the
        # guard lifted, to say whether the adoption left anything to do.
        verify = None
        if follow["exit"] != 0:
            sb.set(quota_requests=UNLIMITED, quota_kb=UNLIMITED)  # lifted for this plan alone
            verify = bench.worker("plan", sb.url, "--manifests", str(bench.large))
    dup = duplicates(db)
    out = {
        "workflow": "saved plan" if saved else "manifests",
        "max_calls": DAILY_CALLS, "days": len(days), "per_day": days,
        "total_calls": sum(d["calls"] for d in days), "total_kb": sum(d["kb"] for d in days),
        "within_quota": all(d["calls"] <= DAILY_CALLS and d["kb"] <= DAILY_KB for d in days),
        "follow_up_plan": {"exit": follow["exit"], "calls": follow["calls"],
                           "actions": _int(r"API calls: (\d+) to apply", follow["out"]),
                           "empty": follow["exit"] == 0, "err": follow["err"][-300:]},
        "follow_up_plan_unguarded": None if verify is None else {
            "actions": verify["actions"], "calls": verify["client_calls"],
            "kb": verify["client_bytes"] / 1024, "empty": verify["actions"] == 0},
        **dup, "declared_entities": bench.org.entity_count(),
    }
    say(f"  {out['days']} day(s), {out['total_calls']} calls, {out['total_kb']:.0f} KB in all; "
        f"{dup['duplicate_xids']} duplicates ({dup['entities']} entities in the account, "
        f"{out['declared_entities']} declared); follow-up plan "
        f"{'empty' if out['follow_up_plan']['empty'] else 'NOT EMPTY'} "
        f"({follow['calls']} calls)"
        + ("" if verify is None else
           f"; made with the quota guard lifted ({verify['client_calls']} calls, "
           f"{verify['client_bytes'] / 1024:.0f} KB): {verify['actions']} actions"))
    return out


def resume(bench: Bench) -> dict[str, Any]:
    """An import stopped at 60% of its calls by the quota, resumed the next day.

    The reference "one import" is the reads an import cannot avoid (every list
    and every relation listing, ``benchmarks/minimal.py``), which is exactly
    what an import spends when nothing stops it (scenario (d): 1.00 vs
    minimal), without a third import's worth of calls in this scenario.
    """
    from .minimal import unavoidable_reads

    say("(f) import stopped at 60% by the quota, resumed the next day: ...")
    src = bench.large_db()
    one = sum(unavoidable_reads(None, src).values())
    stopped_dir = bench.work / "import-stopped"
    shutil.rmtree(stopped_dir, ignore_errors=True)
    par = str(bench.config.parallelism)
    runs: list[dict[str, Any]] = []
    with SandboxProcess(bench.db("resume", src), latency_ms=QUOTA_LATENCY_MS) as sb:
        cli = Cli(bench, sb, "import-stopped")
        # The rest of today's quota is 60% of an import (or a whole day, for an import
        # larger than a day: then it resumes over the days it needs).
        allowed = min(one * 6 // 10, DAILY_CALLS)
        cli.spent_today(DAILY_CALLS - allowed)
        for _ in range(20):  # a day each, until it completes
            r = cli.run("import", "-o", str(stopped_dir), "--parallelism", par)
            runs.append(r)
            if r["exit"] == 0:
                break
            # The import's checkpoint lives in beeplan's cache dir (import/), which a real
            # machine keeps overnight: only the quota ledger starts afresh.
            cli.new_day(keep=("import", "sizes"))
        check = cli.run("plan", str(stopped_dir), "--detailed-exitcode")
        checkpoints = list((cli.cache / "import").glob("*.json"))
    first = runs[0]
    estimate = next((line for line in first["err"].splitlines() if "relations need" in line), "")
    out = {
        "one_import": {"calls": one, "source": "benchmarks/minimal.py (unavoidable reads)"},
        "runs": [{"day": i + 1, "exit": r["exit"], "calls": r["calls"], "kb": r["kb"],
                  "refused": r["sent"] - r["calls"]} for i, r in enumerate(runs)],
        "stopped": {"calls": first["calls"], "share": first["calls"] / one,
                    "estimate_said": estimate},
        "completed": runs[-1]["exit"] == 0,
        "days": len(runs),
        "total_calls": sum(r["calls"] for r in runs),
        "total_kb": sum(r["kb"] for r in runs),
        "checkpoint_removed": not checkpoints,
        "plan_of_import": {"exit": check["exit"], "empty": check["exit"] == 0,
                           "calls": check["calls"]},
    }
    out["overhead_calls"] = out["total_calls"] - one
    say(f"  one import reads {one} calls at least (and exactly, when nothing stops it)")
    say(f"  day 1: stopped after {first['calls']} calls ({out['stopped']['share']:.0%}), "
        f"{out['runs'][0]['refused']} refused; before the relations it said: "
        f"{estimate.strip()[:200]}")
    for r in out["runs"][1:]:
        say(f"  day {r['day']}: {r['calls']} calls, exit {r['exit']}")
    say(f"  total {out['total_calls']} calls vs {one} for one import "
        f"({out['overhead_calls']:+d}); checkpoint removed: {out['checkpoint_removed']}; "
        f"plan of the result: {'no changes' if out['plan_of_import']['empty'] else 'CHANGES'}")
    return out


def pr(bench: Bench) -> dict[str, Any]:
    """Full plan vs --changed-since for a change of 5 entities."""
    if "--changed-since" not in _help("plan"):
        say("(g) PR plan: SKIPPED: beeplan plan has no --changed-since yet")
        return {"skipped_reason": "beeplan plan has no --changed-since yet"}
    say("(g) full plan vs plan --changed-since for a 5-entity change: ...")
    changed, log = five_entity_change(bench.org)
    pr_dir = bench.work / "pr"
    write_manifests(changed, pr_dir)
    with SandboxProcess(bench.db("pr", bench.large_db()), latency_ms=QUOTA_LATENCY_MS) as sb:
        cli = Cli(bench, sb, "pr")
        full = cli.run("plan", str(pr_dir), "--format", "json")
        cli.new_day()  # each on a day of its own: past ~2600 people the full plan fills one
        targeted = cli.run("plan", str(pr_dir), "--changed-since", str(bench.large),
                           "--format", "json")
    out = {"change": log, "changed_entities": 5,
           "full": _plan_figures(full), "targeted": _plan_figures(targeted)}
    # A full plan stopped by the quota guard has no actions to compare with.
    out["same_actions"] = (out["full"]["services"] == out["targeted"]["services"]
                           if full["exit"] in (0, 2) and targeted["exit"] in (0, 2) else None)
    out["target_calls"] = 2 * 5 + 3
    say(f"  full plan: {full['calls']} calls, {full['kb']:.1f} KB; targeted: "
        f"{targeted['calls']} calls, {targeted['kb']:.1f} KB (target <= {out['target_calls']}); "
        f"same actions: {out['same_actions']}")
    return out


def five_entity_change(org: Org) -> tuple[Org, list[str]]:
    """A typical small PR: five entities, each changed differently."""
    new = copy.deepcopy(org)
    log = []
    project = next(iter(new.projects()))
    project["name"] += " (renamed)"
    log.append(f"project {project['xid']}: renamed")
    people = [p for p in new.people if p.get("groups") and "customFields" in p]
    mover, located = people[0], people[1]
    leaves = sorted({g for p in new.people for g in p.get("groups", [])})
    mover["groups"] = sorted(mover["groups"][1:] + [next(g for g in leaves
                                                         if g not in mover["groups"])])
    log.append(f"person {mover['xid']}: moved to another group")
    located["customFields"] = {"location": located["customFields"]["location"] + " (moved)"}
    log.append(f"person {located['xid']}: location changed")
    managed = next(p for p in list(new.projects())[1:] if p.get("managers"))
    pms = [p["xid"] for p in new.people if p["userGroup"] == "pm"
           and p["company"] == _company_of(new, managed) and p["xid"] not in
           managed["managers"]]
    managed["managers"] = sorted(managed["managers"][1:] + pms[:1])
    log.append(f"project {managed['xid']}: a manager replaced")
    new.people.append({"xid": "pr-new-hire", "name": "New Hire", "company": mover["company"],
                       "email": "pr-new-hire@example.com", "userGroup": "employee",
                       "groups": mover["groups"]})
    log.append("person pr-new-hire: created")
    return new, log


def _plan_figures(r: dict[str, Any]) -> dict[str, Any]:
    figures: dict[str, Any] = {"exit": r["exit"], "calls": r["calls"], "kb": r["kb"]}
    try:
        doc = json.loads(r["out"])
        figures["services"] = sorted(
            (a.get("service", ""), json.dumps(a.get("payload"), sort_keys=True))
            for a in doc.get("actions", []))
        figures["actions"] = len(figures["services"])
    except ValueError:
        figures["services"] = None
    return figures


def budget(bench: Bench) -> dict[str, Any]:
    """24 hourly check --max-calls N runs: what a day costs, and how long full coverage takes."""
    if "--max-calls" not in _help("check"):
        say("(h) budgeted check: SKIPPED: beeplan check has no --max-calls yet")
        return {"skipped_reason": "beeplan check has no --max-calls yet"}
    # 24 x 58 = 1392 calls = 35% of 4000: the target share of the daily quota.
    per_run = int(os.environ.get("BENCH_CHECK_MAX_CALLS", "58"))
    say(f"(h) hourly check --max-calls {per_run}, 24 runs: ...")
    state = bench.work / "check-state.json"
    state.unlink(missing_ok=True)
    runs: list[dict[str, Any]] = []
    full_at = None
    promised = 0
    with SandboxProcess(bench.db("budget", bench.large_db()), latency_ms=QUOTA_LATENCY_MS) as sb:
        cli = Cli(bench, sb, "budget")
        for hour in range(1, 49):  # a day, and on until full coverage (two days at most)
            if hour > 24 and full_at is not None:
                break
            if hour == 25:  # the next day: the quota starts again, the machine's cache stays
                cli.new_day(keep=("check", "sizes", "manifests"))
            r = cli.run("check", str(bench.large), "--max-calls", str(per_run),
                        "--state", str(state))
            text = r["out"] + r["err"]
            unverified = re.search(r"(\d+) units? not verified yet", text)
            runs.append({"hour": hour, "exit": r["exit"], "calls": r["calls"], "kb": r["kb"],
                         "units": _int(r"of (\d+) units", text),
                         "verified": _int(r"verified (\d+) of", text),
                         "unverified": int(unverified.group(1)) if unverified else 0})
            if full_at is None and r["exit"] == 0 and unverified is None:
                full_at = hour  # every unit verified at least once
            if hour == 1:
                promised = _int(r"within about (\d+) runs", text)
    day = runs[:24]
    # The coverage a day ended with: its last run that verified something (past about
    # 2600 people the day's KB can run out before its 24th run, which is then refused).
    last = next((r for r in reversed(day) if r["units"]), day[-1])
    out = {"max_calls": per_run, "runs": runs,
           "daily_calls": sum(r["calls"] for r in day),
           "daily_kb": sum(r["kb"] for r in day),
           "max_run_calls": max(r["calls"] for r in runs),
           "units": last["units"],
           "coverage_after_24_runs": 1 - last["unverified"] / max(1, last["units"]),
           "calls_per_run_for_24h_coverage": -(-last["units"] // 24),
           "hours_to_full_coverage": full_at, "runs_promised_by_check": promised,
           "refused_runs": sum(1 for r in runs if r["exit"] == 1 and not r["units"]),
           "false_drift_runs": sum(1 for r in runs if r["exit"] == 2)}
    out["share_of_daily_calls"] = out["daily_calls"] / DAILY_CALLS
    out["share_of_daily_kb"] = out["daily_kb"] / DAILY_KB
    say(f"  a day of hourly checks: {out['daily_calls']} calls "
        f"({out['share_of_daily_calls']:.0%} of {DAILY_CALLS}), {out['daily_kb']:.0f} KB "
        f"({out['share_of_daily_kb']:.0%} of {DAILY_KB}); largest run {out['max_run_calls']} "
        f"calls; {out['coverage_after_24_runs']:.0%} of {out['units']} units verified after 24 "
        f"runs; full coverage after {full_at} hour(s) (the check promised about {promised} "
        f"runs); runs reporting drift on the in-sync org: {out['false_drift_runs']}; runs refused "
        f"by the quota: {out['refused_runs']}")
    return out


def _help(command: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "beeplan", command, "--help"],
                          capture_output=True, text=True, cwd=ROOT)
    return proc.stdout
