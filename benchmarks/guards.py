"""Every reading command at the real quota: does it stop before the API refuses? (issue 24)

    python -m benchmarks.guards                   # the org at x5 and x10 (5000, 10,000 people)
    python -m benchmarks.guards --org-scale 5     # one size
    python -m benchmarks.guards --org-scale 0.5 --out /tmp/g.json   # a quick look

For each size, the benchmark org (benchmarks/generate.py) is seeded into a
sandbox account (benchmarks/seeding.py), and each command below runs through
the real CLI against the sandbox subprocess at the real daily quota (4000
requests, 2048 KB), twice: on a fresh day, and on a day with most of the
quota spent (beeplan's ledger and the sandbox both told so). Each run starts
a day of its own, so no run's spend shows in another's; the "next day" runs
have the call sizes the first run measured (beeplan's cache, kept overnight). Recorded per run: exit
status, calls and KB the sandbox counted, the requests it refused (429: the
guard failed), and beeplan's last message. Written to
benchmarks/results-guards.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from beeplan.manifest import load
from beeplan.platforms.v2.client import token_key, utc_today

from .generate import generate, write_manifests
from .quota import DAILY_CALLS, DAILY_KB, QUOTA_LATENCY_MS, Cli, five_entity_change
from .sandbox_host import BENCH_TOKEN, TOKEN_ENV, SandboxProcess
from .seeding import seed_account

ROOT = Path(__file__).resolve().parent.parent
OUT = Path(__file__).resolve().parent / "results-guards.json"
# "Most of the quota spent": what another job of the same user left today.
SPENT_CALLS = 3900
SPENT_KB = 1950
# The days each command runs on: a fresh day on a machine that never read the account;
# the next fresh day, with the call sizes beeplan measured the first time (its cache);
# a day with most of the quota spent, on a machine that never read the account, and
# one on the machine that measured it.
DAYS = ("fresh", "fresh, next day", "most spent", "most spent, next day")


class _Config:
    parallelism = 4


class _Bench:
    """What quota.Cli needs of benchmarks.__main__.Bench."""

    def __init__(self, work: Path):
        self.work = work
        self.config = _Config()
        self.env = dict(os.environ, **{TOKEN_ENV: BENCH_TOKEN})
        self.env["PYTHONPATH"] = str(ROOT) + (
            os.pathsep + self.env["PYTHONPATH"] if self.env.get("PYTHONPATH") else "")


def spend_most(cli: Cli) -> None:
    """Today, SPENT_CALLS requests and SPENT_KB KB went elsewhere: ledger and sandbox."""
    path = cli.cache / "quota" / f"{token_key(BENCH_TOKEN)}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"day": utc_today(), "requests": SPENT_CALLS,
                                "bytes": SPENT_KB * 1024}))
    cli.sandbox.set(quota_requests=DAILY_CALLS - SPENT_CALLS, quota_kb=DAILY_KB - SPENT_KB)


def last_message(r: dict[str, Any]) -> str:
    lines = [ln.strip() for ln in (r["err"] + "\n" + r["out"]).splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.lower().startswith(("error", "stopped", "refused"))]
    return (errors or lines or [""])[-1][:600]


def commands(work: Path) -> list[tuple[str, list[str], list[list[str]]]]:
    """(name, the command, the commands that prepare it on the same day, unmeasured)."""
    org, pr, plan_file = str(work / "org"), str(work / "pr"), str(work / "pr-plan.json")
    return [
        ("plan", ["plan", org], []),
        ("plan --changed-since", ["plan", pr, "--changed-since", org], []),
        ("check", ["check", org], []),
        ("check --max-calls 1000", ["check", org, "--max-calls", "1000",
                                    "--state", str(work / "check-state.json")], []),
        ("import", ["import", "-o", str(work / "imported"), "--force"], []),
        ("usage", ["usage", org], []),
        ("apply manifests", ["apply", pr, "--auto-approve"], []),
        ("apply saved plan", ["apply", plan_file, "--manifests", pr, "--auto-approve"], []),
        ("apply saved plan --max-calls 3", ["apply", plan_file, "--manifests", pr,
                                            "--auto-approve", "--max-calls", "3"], []),
    ]


def run_scale(scale: float, work: Path) -> dict[str, Any]:
    work.mkdir(parents=True, exist_ok=True)
    org = generate(seed=1, scale=scale)
    write_manifests(org, work / "org")
    changed, change_log = five_entity_change(org)
    write_manifests(changed, work / "pr")
    source = work / "seeded.db"
    calls, secs = seed_account(source, load(work / "org"))
    print(f"x{scale:g}: {org.counts()} seeded ({calls} calls, {secs:.0f} s)", flush=True)
    bench = _Bench(work)
    db = work / "account.db"
    runs: list[dict[str, Any]] = []
    for name, args, _ in commands(work):
        kept = work / "sizes-kept"  # the call sizes beeplan measured on the first run
        shutil.rmtree(kept, ignore_errors=True)
        for day in DAYS:
            # A fresh copy each time: an apply must not change what the next run sees.
            for suffix in ("", "-wal", "-shm"):
                Path(str(db) + suffix).unlink(missing_ok=True)
            shutil.copyfile(source, db)
            with SandboxProcess(db, latency_ms=QUOTA_LATENCY_MS) as sb:
                cli = Cli(bench, sb, "guards")  # a day of its own, a cache of its own
                if "saved plan" in name:
                    # The saved plan is made the day before (it is what a PR job leaves).
                    made = cli.run("plan", str(work / "pr"), "--changed-since",
                                   str(work / "org"), "-o", str(work / "pr-plan.json"))
                    if made["exit"] not in (0, 2):
                        print(f"  cannot save the plan: {last_message(made)}", flush=True)
                    cli.new_day(keep=("sizes",))
                if day.endswith("next day") and kept.is_dir():
                    # A machine keeps its cache overnight: what beeplan measured yesterday.
                    shutil.rmtree(cli.cache / "sizes", ignore_errors=True)
                    shutil.copytree(kept, cli.cache / "sizes")
                if day.startswith("most spent"):
                    spend_most(cli)
                r = cli.run(*args)
                if day == "fresh" and (cli.cache / "sizes").is_dir():
                    shutil.copytree(cli.cache / "sizes", kept)
            refused = r["sent"] - r["calls"]
            row = {"command": name, "day": day, "args": args, "exit": r["exit"],
                   "calls": r["calls"], "kb": round(r["kb"], 1), "sent": r["sent"],
                   "http_429": refused, "met_429": refused > 0,
                   "message": last_message(r)}
            runs.append(row)
            print(f"  {name:32} {day:15} exit {row['exit']}, {row['calls']:5} calls, "
                  f"{row['kb']:7.1f} KB, 429s {refused}: {row['message'][:200]}", flush=True)
    return {"scale": scale, "org": org.counts(), "people": len(org.people),
            "change": change_log, "runs": runs,
            "any_429": any(r["met_429"] for r in runs)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.guards", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--org-scale", type=float, action="append",
                        help="size of the org, repeatable (default: 5 and 10)")
    parser.add_argument("--out", type=Path, default=OUT, help=f"default {OUT.name}")
    parser.add_argument("--work", type=Path, help="work directory (default: a temporary one)")
    args = parser.parse_args(argv)
    scales = args.org_scale or [5.0, 10.0]
    work = args.work or Path(tempfile.mkdtemp(prefix="beeplan-guards-"))
    results: dict[str, Any] = {
        "quota": {"requests": DAILY_CALLS, "kb": DAILY_KB},
        "most_spent": {"requests": SPENT_CALLS, "kb": SPENT_KB},
        "python": sys.version.split()[0], "scales": []}
    try:
        for scale in scales:
            results["scales"].append(run_scale(scale, work / f"x{scale:g}"))
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"written {args.out}")
    return 1 if any(s["any_429"] for s in results["scales"]) else 0


if __name__ == "__main__":
    raise SystemExit(main())
