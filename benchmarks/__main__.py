"""python -m benchmarks: beeplan's API calls, quota, wall time, CPU and memory at scale.

Scenarios (all against a loopback sandbox, with the real client):
  apply   (a) apply of the large org to an empty account
  noop    (b) a no-op plan of the large org
  change  (c) plan + apply after a 5% change of the manifests
  import  (d) beeplan import of the large org (skipped until beeplan import exists)
  scale   no-op plan calls at 1x, 2x, 4x, 8x the large org; the largest org within quota
  slices  (e) apply from empty in --max-calls 4000 slices, one a day (benchmarks/quota.py)
  resume  (f) import stopped at 60% by the quota, resumed the next day
  pr      (g) full plan vs plan --changed-since for a 5-entity change
  budget  (h) a day of hourly check --max-calls N: cost and hours to full coverage

Plus, always: validation of the manifests, and the naive baseline (a reconciler
reading every relation of every entity), measured on the sandbox.
See benchmarks/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from beeplan.manifest import load
from beeplan.model import State

from . import quota as quota_scenarios
from .gen_manifests import write as write_agency
from .generate import OrgSpec, generate, mutate, write_manifests
from .minimal import unavoidable_reads
from .report import linear_fit, plot_scale, table
from .sandbox_host import BENCH_TOKEN, TOKEN_ENV, SandboxProcess
from .seeding import seed_account

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
SCENARIOS = ("apply", "noop", "change", "import", "scale", "slices", "resume", "pr", "budget")
QUOTA_SCENARIOS = ("slices", "resume", "pr", "budget")
DAILY_CALLS = 4000
DAILY_KB = 2048

SANDBOX_NOTE = (
    "The sandbox runs in a subprocess (benchmarks/sandbox_host.py), so this process's "
    "CPU time and peak RSS are beeplan's own; the sandbox's own call counter is read over "
    "a pipe after every step and compared with the client's count."
)


@dataclass
class Config:
    quick: bool = False
    org_scale: float = 1.0
    latency_ms: float = 50.0
    parallelism: int = 4
    scale_factors: list[float] = field(default_factory=lambda: [1.0, 2.0, 4.0, 8.0])
    scale_latency_ms: float = 5.0
    change_fraction: float = 0.05
    seed: int = 1
    scenarios: list[str] = field(default_factory=lambda: list(SCENARIOS))
    profile: bool = False


def say(message: str = "") -> None:
    print(message, flush=True)


class Bench:
    def __init__(self, config: Config, work: Path):
        self.config = config
        self.work = work
        self.env = dict(os.environ, **{TOKEN_ENV: BENCH_TOKEN})
        self.env["PYTHONPATH"] = str(ROOT) + (
            os.pathsep + self.env["PYTHONPATH"] if self.env.get("PYTHONPATH") else "")
        # The CLI's quota ledger (import) must not touch the user's cache.
        self.env["BEEPLAN_CACHE_DIR"] = str(work / "cache")
        self.results: dict[str, Any] = {"scenarios": {}}

    # -- plumbing -----------------------------------------------------------

    def worker(self, step: str, url: str = "", *args: str,
               parallelism: int | None = None) -> dict[str, Any]:
        cmd = [sys.executable, "-m", "benchmarks.worker", step,
               "--parallelism", str(parallelism or self.config.parallelism)]
        if url:
            cmd += ["--url", url]
        cmd += list(args)
        proc = subprocess.run(cmd, capture_output=True, text=True, env=self.env, cwd=ROOT)
        if proc.returncode != 0 or not proc.stdout.strip():
            raise RuntimeError(f"worker {step} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]

    def measured(self, sandbox: SandboxProcess, step: str, *args: str,
                 parallelism: int | None = None) -> dict[str, Any]:
        """Run a worker step; add the sandbox's own count of the calls it made."""
        sandbox.reset()
        result = self.worker(step, sandbox.url, *args, parallelism=parallelism)
        counts = sandbox.counts()
        result["sandbox_calls"] = counts.total
        result["sandbox_requests"] = counts.requests
        result["sandbox_bytes"] = counts.bytes
        result["sandbox_by_service"] = dict(sorted(counts.calls.items()))
        result["sandbox_internal_errors"] = counts.internal_errors
        client = result.get("client_calls")
        result["counts_agree"] = client == counts.total == counts.requests
        if not result["counts_agree"]:
            say(f"  !! {step}: the client counted {client} calls, the sandbox {counts.total} "
                f"(quota ledger {counts.requests})")
        return result

    def db(self, name: str, source: Path | None = None) -> Path:
        path = self.work / f"{name}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        if source is not None:
            shutil.copyfile(source, path)
        return path

    # -- the org --------------------------------------------------------------

    def prepare(self) -> None:
        c = self.config
        org = generate(seed=c.seed, scale=c.org_scale)
        self.large = self.work / "large"
        write_manifests(org, self.large)
        changed, change_log = mutate(org, c.change_fraction, seed=c.seed + 1)
        self.changed = self.work / "changed"
        write_manifests(changed, self.changed)
        self.org = org
        self.results["org"] = {"scale": c.org_scale, "seed": c.seed, **org.counts(),
                               "entities": org.entity_count()}
        self.results["change"] = change_log
        say(f"Org (x{c.org_scale:g}, seed {c.seed}): " +
            ", ".join(f"{v} {k}" for k, v in org.counts().items()))

        v = self.worker("validate", "", "--manifests", str(self.large))
        self.results["validate"] = {"cpu_s": v["phases"]["load"]["cpu_s"],
                                    "wall_s": v["phases"]["load"]["wall_s"],
                                    "entities": v["entities"], "maxrss_kb": v["maxrss_kb"]}
        say(f"Validation (manifest.load of {v['entities']} entities): "
            f"{v['phases']['load']['cpu_s']:.3f} s CPU")
        # And the other engineer's validation set (benchmarks/gen_manifests.py), for scale.
        agency = self.work / "agency"
        size = 2_500 if c.quick else 10_000
        written = write_agency(size, agency, seed=c.seed)
        v = self.worker("validate", "", "--manifests", str(agency))
        self.results["validate_agency"] = {"cpu_s": v["phases"]["load"]["cpu_s"],
                                           "wall_s": v["phases"]["load"]["wall_s"],
                                           "entities": written, "maxrss_kb": v["maxrss_kb"],
                                           "generator": "benchmarks/gen_manifests.py"}
        say(f"Validation of gen_manifests.py's {written}-entity set: "
            f"{v['phases']['load']['cpu_s']:.3f} s CPU")

    def large_db(self) -> Path:
        """The account holding the large org: applied by (a), else seeded."""
        path = self.work / "large.db"
        if not path.exists():
            n, secs = seed_account(path, load(self.large))
            self.results["large_account"] = f"seeded directly ({n} calls, {secs:.1f} s)"
            say(f"Large account seeded directly through the sandbox's dispatch ({n} calls, "
                f"{secs:.1f} s): scenario (a) was not run")
        return path

    # -- scenarios --------------------------------------------------------------

    def naive(self) -> None:
        say("Naive baseline (every relation of every entity), at 0 ms latency: ...")
        out: dict[str, Any] = {}
        with SandboxProcess(self.db("naive-empty"), latency_ms=0) as sb:
            out["empty"] = self.measured(sb, "naive")
        with SandboxProcess(self.db("naive", self.large_db()), latency_ms=0) as sb:
            out["large"] = self.measured(sb, "naive")
        self.results["naive"] = {
            k: {"calls": v["sandbox_calls"], "client_calls": v["client_calls"],
                "kb": v["client_bytes"] / 1024, "by_service": v["sandbox_by_service"],
                "seen": v.get("seen")}
            for k, v in out.items()
        }
        say(f"  empty account: {out['empty']['sandbox_calls']} calls; large org: "
            f"{out['large']['sandbox_calls']} calls, {out['large']['client_bytes'] / 1024:.0f} KB")

    def apply_from_empty(self) -> None:
        c = self.config
        say(f"(a) apply from empty, latency {c.latency_ms:g} ms, parallelism {c.parallelism}: ...")
        db = self.db("large")
        with SandboxProcess(db, latency_ms=c.latency_ms) as sb:
            r = self.measured(sb, "apply", "--manifests", str(self.large))
        self.results["large_account"] = "applied by scenario (a)"
        empty = self.db("empty-ref")
        seed_account(empty, State())  # a new sandbox database: schema and custom fields only
        r["unavoidable"] = unavoidable_reads(load(self.large), empty)
        self.results["scenarios"]["apply"] = r
        say(f"  {r['sandbox_calls']} calls ({r['read_calls']} reads + {r['apply_calls']} "
            f"writes for {r['actions']} actions), {r['wall_s']:.1f} s")

    def noop(self) -> None:
        c = self.config
        say(f"(b) no-op plan, latency {c.latency_ms:g} ms: ...")
        src = self.large_db()
        with SandboxProcess(self.db("noop", src), latency_ms=c.latency_ms) as sb:
            r = self.measured(sb, "plan", "--manifests", str(self.large), "--replay")
            r["transport_floor"] = self.worker("floor", sb.url)
        r["unavoidable"] = unavoidable_reads(load(self.large), src)
        self.results["scenarios"]["noop"] = r
        say(f"  {r['sandbox_calls']} calls, {r['actions']} actions, {r['wall_s']:.1f} s")

    def change(self) -> None:
        c = self.config
        say(f"(c) plan + apply after a {c.change_fraction:.0%} change, latency "
            f"{c.latency_ms:g} ms: ...")
        for line in self.results["change"]:
            say(f"    {line}")
        src = self.large_db()
        plan_file = self.work / "change-plan.json"
        with SandboxProcess(self.db("change", src), latency_ms=c.latency_ms) as sb:
            plan = self.measured(sb, "plan", "--manifests", str(self.changed),
                                 "--plan-file", str(plan_file), "--replay")
            apply = self.measured(sb, "apply-saved", "--plan-file", str(plan_file))
            sb.set(latency_ms=0)
            verify = self.measured(sb, "plan", "--manifests", str(self.changed))
        unavoidable = unavoidable_reads(load(self.changed), src)
        total = {
            "sandbox_calls": plan["sandbox_calls"] + apply["sandbox_calls"],
            "client_calls": plan["client_calls"] + apply["client_calls"],
            "client_bytes": plan["client_bytes"] + apply["client_bytes"],
            "wall_s": plan["wall_s"] + apply["wall_s"],
            "cpu_s": plan["cpu_s"] + apply["cpu_s"],
            "maxrss_kb": max(plan["maxrss_kb"], apply["maxrss_kb"]),
            "actions": plan["actions"],
            "counts_agree": plan["counts_agree"] and apply["counts_agree"],
            "read_calls": plan["read_calls"],
            "fresh_calls": apply["fresh_calls"],
            "apply_calls": apply["apply_calls"],
            "applied": apply["applied"],
            "failed": apply["failed"],
            "skipped": apply["skipped"],
        }
        self.results["scenarios"]["change"] = {
            **total, "unavoidable": unavoidable, "plan": plan, "apply": apply,
            "verify": {"actions": verify["actions"], "calls": verify["sandbox_calls"]},
        }
        say(f"  plan: {plan['sandbox_calls']} calls ({plan['actions']} actions planned); "
            f"apply: {apply['sandbox_calls']} calls ({apply['fresh_calls']} freshness reads + "
            f"{apply['apply_calls']} writes); re-plan afterwards: {verify['actions']} actions")

    def import_(self) -> None:
        c = self.config
        missing = import_missing()
        if missing:
            self.results["scenarios"]["import"] = {"skipped_reason": missing}
            say(f"(d) import: SKIPPED: {missing}")
            return
        say(f"(d) import, latency {c.latency_ms:g} ms: ...")
        src = self.large_db()
        out_dir = self.work / "imported"
        with SandboxProcess(self.db("import", src), latency_ms=c.latency_ms) as sb:
            r = self.measured(sb, "import", "--out-dir", str(out_dir))
            if out_dir.exists():
                sb.set(latency_ms=0)
                verify = self.measured(sb, "plan", "--manifests", str(out_dir))
                r["verify"] = {"actions": verify["actions"], "calls": verify["sandbox_calls"]}
        r["unavoidable"] = unavoidable_reads(None, src)
        if r.get("exit_status") not in (0, None):
            r["error"] = f"beeplan import exited {r.get('exit_status')}"
            say(f"  beeplan import FAILED (exit {r.get('exit_status')})")
        self.results["scenarios"]["import"] = r
        say(f"  {r['sandbox_calls']} calls, {r['wall_s']:.1f} s, "
            f"{r.get('imported_entities', '?')} entities written")

    def scale(self) -> None:
        c = self.config
        if len(set(c.scale_factors)) < 2:  # the largest org within quota is a line's fit
            why = "--scale-factors needs two sizes or more to fit the line it extrapolates"
            say(f"Scale: skipped: {why}")
            self.results["scale"] = {"skipped_reason": why}
            return
        say(f"Scale: no-op plan at x{', x'.join(f'{f:g}' for f in c.scale_factors)} "
            f"(accounts seeded directly, latency {c.scale_latency_ms:g} ms): ...")
        points: list[dict[str, Any]] = []

        def point(factor: float, role: str) -> dict[str, Any]:
            org = generate(OrgSpec().scaled(factor), seed=c.seed)
            path = self.work / f"scale-{factor:g}"
            write_manifests(org, path)
            desired = load(path)
            db = self.db(f"scale-{factor:g}")
            n, secs = seed_account(db, desired)
            with SandboxProcess(db, latency_ms=c.scale_latency_ms) as sb:
                r = self.measured(sb, "plan", "--manifests", str(path))
            unavoidable = sum(unavoidable_reads(desired, db).values())
            p = {"factor": factor, "role": role, **org.counts(),
                 "entities": org.entity_count(), "seed_calls": n, "seed_s": secs,
                 "calls": r["sandbox_calls"], "client_calls": r["client_calls"],
                 "counts_agree": r["counts_agree"], "kb": r["client_bytes"] / 1024,
                 "wall_s": r["wall_s"], "cpu_s": r["cpu_s"], "maxrss_kb": r["maxrss_kb"],
                 "actions": r["actions"], "unavoidable": unavoidable,
                 "by_service": r["sandbox_by_service"]}
            say(f"  x{factor:g}: {p['people']} people, {p['projects']} projects: "
                f"{p['calls']} calls, {p['kb']:.0f} KB, {p['wall_s']:.1f} s "
                f"(seeded with {n} calls in {secs:.1f} s)")
            db.unlink(missing_ok=True)
            return p

        for factor in c.scale_factors:
            points.append(point(factor, "measured"))
        naive = self.results.get("naive", {}).get("large", {}).get("calls")
        for p in points:
            if p["factor"] == c.org_scale and naive:
                p["naive_calls"] = naive
        xs = [p["factor"] for p in points]
        fit: dict[str, Any] = {}
        for key, quota in (("calls", DAILY_CALLS), ("kb", DAILY_KB)):
            a, b, r2 = linear_fit(xs, [p[key] for p in points])
            fit[key] = {"a": a, "b": b, "r2": r2, "quota": quota,
                        "largest_factor": (quota - a) / b if b > 0 else math.inf}
        largest = min(fit["calls"]["largest_factor"], fit["kb"]["largest_factor"])
        binding = "calls" if fit["calls"]["largest_factor"] <= fit["kb"]["largest_factor"] \
            else "KB"
        largest = math.floor(largest * 100) / 100
        fit["largest_factor"] = largest
        fit["binding"] = binding
        spec = OrgSpec().scaled(largest)
        fit["largest_people"] = spec.people
        fit["largest_projects"] = spec.projects
        # Check the extrapolation: measure the org it names.
        check = point(largest, "check")
        points.append(check)
        fit["check"] = {"factor": largest, "calls": check["calls"], "kb": check["kb"],
                        "fits": check["calls"] <= DAILY_CALLS and check["kb"] <= DAILY_KB}
        self.results["scale"] = {"latency_ms": c.scale_latency_ms, "points": points, "fit": fit}

    def profile(self) -> None:
        """cProfile of the no-op plan and of apply-from-empty, every thread on its CPU clock."""
        say("Profiles (latency 0, every thread on its own CPU clock): ...")
        prof: dict[str, str] = {}
        with SandboxProcess(self.db("profile-noop", self.large_db()), latency_ms=0) as sb:
            self.worker("plan", sb.url, "--manifests", str(self.large),
                        "--profile", str(self.work / "profile-noop.prof"))
        prof["noop"] = str(self.work / "profile-noop.txt")
        with SandboxProcess(self.db("profile-apply"), latency_ms=0) as sb:
            self.worker("apply", sb.url, "--manifests", str(self.large),
                        "--profile", str(self.work / "profile-apply.prof"))
        prof["apply"] = str(self.work / "profile-apply.txt")
        keep = HERE / "profiles"
        keep.mkdir(exist_ok=True)
        for name, path in prof.items():
            shutil.copyfile(path, keep / f"{name}.txt")
            prof[name] = str((keep / f"{name}.txt").relative_to(ROOT))
            say(f"  {name}: {prof[name]}")
        self.results["profiles"] = prof


def import_missing() -> str | None:
    """Why the import scenario cannot run yet, or None when beeplan import has landed."""
    if not (ROOT / "beeplan" / "importer.py").exists():
        return ("beeplan import is being written (beeplan/importer.py does not exist yet); "
                "this scenario runs once it lands")
    log = subprocess.run(["git", "log", "--oneline", "-1", "--", "beeplan/importer.py"],
                         capture_output=True, text=True, cwd=ROOT)
    if log.returncode == 0 and not log.stdout.strip():
        return ("beeplan/importer.py exists but is not committed yet (git log shows nothing); "
                "this scenario runs once it lands")
    return None


# ---------------------------------------------------------------------------
# Ratios, targets, the table


def summarize(results: dict[str, Any], config: Config) -> tuple[str, list[dict[str, Any]]]:
    lat, par = config.latency_ms, config.parallelism
    large = config.org_scale == 1
    org = "the large org" if large else f"the org (x{config.org_scale:g})"
    scale_note = "" if large else (" (the target is for the large org; fixed per-company "
                                   "reads weigh more in a smaller one)")
    sc = results["scenarios"]
    naive = results.get("naive", {})
    naive_empty = naive.get("empty", {}).get("calls")
    naive_large = naive.get("large", {}).get("calls")
    rows = []
    for key, label in (("apply", "(a) apply from empty"), ("noop", "(b) no-op plan"),
                       ("change", "(c) plan + apply, 5% change"), ("import", "(d) import")):
        r = sc.get(key)
        if r is None or "skipped_reason" in r or "sandbox_calls" not in r:
            if r is not None and "skipped_reason" in r:
                rows.append([label, "skipped", "", "", "", "", "", "", "", ""])
            continue
        calls = r["sandbox_calls"]
        actions = r.get("actions", 0) if key != "import" else 0
        base_reads = naive_empty if key == "apply" else naive_large
        naive_calls = base_reads + actions if base_reads is not None else None
        minimal = sum(r["unavoidable"].values()) + actions
        ideal = calls * lat / 1000 / par
        r["ratios"] = {
            "naive_calls": naive_calls,
            "minimal_calls": minimal,
            "vs_naive": calls / naive_calls if naive_calls else None,
            "vs_minimal": calls / minimal if minimal else None,
            "ideal_wall_s": ideal,
            "wall_vs_ideal": r["wall_s"] / ideal if ideal else None,
        }
        rows.append([label, calls, r.get("client_calls"), r["client_bytes"] / 1024,
                     r["wall_s"], r["cpu_s"], r["maxrss_kb"] / 1024,
                     r["ratios"]["vs_naive"], r["ratios"]["vs_minimal"],
                     r["ratios"]["wall_vs_ideal"]])
    text = table(["scenario", "calls(sandbox)", "calls(client)", "KB", "wall s", "CPU s",
                  "peak RSS MB", "vs naive", "vs minimal", f"wall/ideal@{lat:g}ms"], rows)

    targets: list[dict[str, Any]] = []

    def target(name: str, goal: str, measured: Any, ok: bool | None, note: str = "") -> None:
        targets.append({"target": name, "goal": goal, "measured": measured, "ok": ok,
                        "note": note})

    a = sc.get("apply")
    if a and "ratios" in a:
        v = a["ratios"]["vs_minimal"]
        target("apply from empty: calls / (actions + unavoidable reads)", "= 1.00",
               round(v, 4), abs(v - 1.0) < 0.005,
               f"{a['sandbox_calls']} calls = {a['read_calls']} reads + {a['apply_calls']} "
               f"writes; {a['actions']} actions + {sum(a['unavoidable'].values())} "
               f"unavoidable reads ({', '.join(a['unavoidable'])})")
    b = sc.get("noop")
    if b and "ratios" in b and b["ratios"]["vs_naive"] is not None:
        v = b["ratios"]["vs_naive"]
        target("no-op plan: calls vs the naive baseline", "<= 0.25", round(v, 3),
               (v <= 0.25) if large else None,
               f"{b['sandbox_calls']} vs {naive_large} naive calls "
               f"({0.25 * naive_large:.0f} allowed); unavoidable reads: "
               f"{sum(b['unavoidable'].values())}" + scale_note)
    for key in ("apply", "noop", "change", "import"):
        r = sc.get(key)
        if r and "ratios" in r and r["ratios"]["wall_vs_ideal"] is not None:
            v = r["ratios"]["wall_vs_ideal"]
            target(f"wall ({key}) vs calls x {lat:g} ms / {par}", "<= 1.3", round(v, 3),
                   v <= 1.3 if lat >= 50 else None,
                   f"{r['wall_s']:.1f} s vs {r['ratios']['ideal_wall_s']:.1f} s"
                   + ("" if lat >= 50 else " (target is for 50 ms latency; this run is "
                      f"{lat:g} ms, where fixed CPU costs weigh more)"))
    if b and "own_cpu" in b:
        own = b["own_cpu"]
        target(f"CPU for planning {org}, beeplan's code (HTTP transport replayed)",
               "< 0.5 s", round(own["total_s"], 3), (own["total_s"] < 0.5) if large else None,
               f"read logic + JSON {own['read_s']:.3f} s, diff {own['diff_s']:.3f} s, "
               f"render {own['render_s']:.3f} s")
        calls = max(1, b["sandbox_calls"])
        http_s = b["cpu_s"] - own["total_s"]
        note = (f"{http_s:.2f} s of it is the HTTP client stack "
                f"({1000 * http_s / calls:.2f} ms per call)")
        floor = b.get("transport_floor")
        if floor:
            floor_s = floor["cpu_ms_per_call"] * calls / 1000
            note += (f": {floor_s:.2f} s would remain with a bare http.client loop "
                     f"({floor['cpu_ms_per_call']:.2f} ms per call measured at the same latency "
                     f"and parallelism), {http_s - floor_s:.2f} s is requests' own overhead")
        target(f"CPU for planning {org}, whole process (incl. the HTTP client)",
               "< 0.5 s", round(b["cpu_s"], 3), (b["cpu_s"] < 0.5) if large else None, note)
    v = results.get("validate")
    if v:
        extra = results.get("validate_agency")
        target(f"CPU for validating {org}", "< 2 s", round(v["cpu_s"], 3),
               (v["cpu_s"] < 2.0) if large else None, f"manifest.load of {v['entities']} entities"
               + (f"; gen_manifests.py's {extra['entities']}-entity set: "
                  f"{extra['cpu_s']:.2f} s" if extra else ""))
    return text, targets


def print_report(results: dict[str, Any], config: Config) -> None:
    text, targets = summarize(results, config)
    results["targets"] = targets
    sc = results["scenarios"]
    say()
    say("=" * 100)
    say(f"Results: org x{config.org_scale:g} ({results['org']['entities']} entities), "
        f"latency {config.latency_ms:g} ms, parallelism {config.parallelism}")
    say(SANDBOX_NOTE)
    if sc or results.get("scale"):
        print_classic(results, config, text)
    q = results.get("quota")
    if q:
        say()
        say("Quota-proportional workflows (benchmarks/quota.py, at "
            f"{quota_scenarios.QUOTA_LATENCY_MS:g} ms latency; the sandbox's real daily quota, "
            "a simulated day = its clock moved on and a fresh beeplan ledger):")
        for line in quota_report(q):
            say("  " + line)
    say()
    say("Targets:")
    for t in targets:
        mark = {True: "MET   ", False: "MISSED", None: "n/a   "}[t["ok"]]
        say(f"  [{mark}] {t['target']}: {t['measured']} (goal {t['goal']}). {t['note']}")


def print_classic(results: dict[str, Any], config: Config, text: str) -> None:
    """The table and notes of scenarios (a)-(d), the naive baseline and the scale table."""
    sc = results["scenarios"]
    say()
    say(text)
    say()
    say("calls(sandbox): the sandbox's own counter; calls(client): BeeboleClient.usage; "
        "they must agree: " + ", ".join(
            f"{k} {'yes' if r.get('counts_agree') else 'NO'}"
            for k, r in sc.items() if "counts_agree" in r))
    say("KB: request + answer bodies as counted by the client (the quota's measure); "
        "wall: the network phases (read, diff, apply), excluding manifest loading; "
        "CPU: time.process_time of the beeplan process (sandbox excluded); "
        "peak RSS: ru_maxrss of the step's process (~"
        f"{_baseline_mb(sc):.0f} MB of it is Python, imports and the loaded manifests).")
    say("vs naive: calls / (the naive reconciler's measured reads of the same account + "
        "the same actions); vs minimal: calls / (unavoidable reads + actions); "
        "wall/ideal: wall / (calls x latency / parallelism).")
    say("Unavoidable reads (benchmarks/minimal.py, computed from the sandbox database): "
        "company.list if any kind hangs under companies; group.tree if groups are declared; "
        "custom_field.list if custom fields are managed; under each live company project.list "
        "(unless projects.count is 0) and task/person/absence.list for declared kinds; "
        "subproject.list under each live project with subprojects; per existing managed "
        "entity one listing per managed relation (members, managers, custom_fields, "
        "specific_tasks; leaders unless leaders.count is 0); group assignments: the fewer of "
        "one group.assignments per group or one X.groups per entity. On an empty account: "
        "company.list + group.tree + custom_field.list.")
    for key, r in sc.items():
        if "unavoidable" in r:
            say(f"  {key}: unavoidable reads {sum(r['unavoidable'].values())} = "
                + ", ".join(f"{s} {n}" for s, n in r["unavoidable"].items()))
    ch = sc.get("change")
    if ch and "plan" in ch:
        say(f"(c) breakdown: plan {ch['plan']['sandbox_calls']} calls "
            f"({ch['plan']['wall_s']:.1f} s); apply of the saved plan "
            f"{ch['apply']['sandbox_calls']} calls = {ch['fresh_calls']} freshness re-reads "
            f"(beeplan apply plan.json re-reads every touched entity) + {ch['apply_calls']} "
            f"writes ({ch['apply']['wall_s']:.1f} s); applied {ch['applied']}, failed "
            f"{len(ch['failed'])}, skipped {ch['skipped']}; a new plan afterwards has "
            f"{ch['verify']['actions']} actions.")
    imp = sc.get("import")
    if imp and "skipped_reason" in imp:
        say(f"(d) import: skipped: {imp['skipped_reason']}")
    elif imp and "verify" in imp:
        say(f"(d) import wrote {imp.get('imported_entities')} entities; a plan of the imported "
            f"manifests against the same account has {imp['verify']['actions']} actions "
            f"({imp['verify']['calls']} calls).")
    n = results.get("naive")
    if n:
        say(f"Naive baseline, measured on the sandbox: {n['large']['calls']} calls on the "
            f"large org ({n['large']['kb']:.0f} KB), {n['empty']['calls']} on an empty account.")
    b = sc.get("noop")
    if b and "own_cpu" in b:
        say(f"CPU of the no-op plan: {b['cpu_s']:.2f} s for the process; "
            f"{b['own_cpu']['total_s']:.3f} s with the HTTP transport replaced by the recorded "
            f"answers (read logic + JSON {b['own_cpu']['read_s']:.3f}, diff "
            f"{b['own_cpu']['diff_s']:.3f}, render {b['own_cpu']['render_s']:.4f}).")

    s = results.get("scale")
    if s and "points" in s:
        say()
        say(f"Scale table: no-op plan of the org at N x its people and projects "
            f"(accounts seeded directly through the sandbox's dispatch, the seed-file "
            f"mechanism, not applied over HTTP; latency {s['latency_ms']:g} ms: call counts do "
            "not depend on latency)")
        rows = [[("check " if p["role"] == "check" else "") + f"x{p['factor']:g}",
                 p["people"], p["projects"], p["subprojects"], p["entities"], p["calls"],
                 p["unavoidable"], p["kb"], p["calls"] / DAILY_CALLS, p["kb"] / DAILY_KB,
                 p["wall_s"], p["cpu_s"]]
                for p in s["points"]]
        say(table(["org", "people", "projects", "subprojects", "entities", "calls",
                   "unavoidable", "KB", "of 4000 calls", "of 2048 KB", "wall s", "CPU s"],
                  rows))
        f = s["fit"]
        say(f"Linear fit over the measured points (an extrapolation): calls = "
            f"{f['calls']['a']:.0f} + {f['calls']['b']:.1f} x N (R^2 {f['calls']['r2']:.5f}); "
            f"KB = {f['kb']['a']:.0f} + {f['kb']['b']:.1f} x N (R^2 {f['kb']['r2']:.5f}).")
        say(f"Largest org whose no-op plan fits one day's quota: x{f['largest_factor']:.2f} = "
            f"{f['largest_people']} people, {f['largest_projects']} projects "
            f"(calls reach 4000 at x{f['calls']['largest_factor']:.2f}, KB reach 2048 at "
            f"x{f['kb']['largest_factor']:.2f}: the {f['binding']} quota binds first). "
            f"Checked by measuring that org: {f['check']['calls']} calls, "
            f"{f['check']['kb']:.0f} KB ({'fits' if f['check']['fits'] else 'DOES NOT FIT'}).")


def quota_report(q: dict[str, Any]) -> list[str]:
    lines = []
    sl = q.get("slices")
    if sl:
        per_day = "; ".join(f"day {d['day']}: {d['calls']} calls ({d['reads']} reads + "
                            f"{d['applied']} writes), {d['kb']:.0f} KB" for d in sl["per_day"])
        lines.append(f"(e) apply from empty in --max-calls {sl['max_calls']} slices: "
                     f"{sl['days']} day(s): {per_day}. {sl['total_calls']} calls in all; "
                     f"duplicates {sl['duplicate_xids']}; follow-up plan "
                     f"{'empty' if sl['follow_up_plan']['empty'] else 'NOT EMPTY'}.")
    rs = q.get("resume")
    if rs:
        days = "; ".join(f"day {r['day']}: {r['calls']} calls" for r in rs["runs"])
        lines.append(f"(f) import stopped by the quota at {rs['stopped']['share']:.0%}, then "
                     f"resumed ({days}): {rs['total_calls']} calls in all vs "
                     f"{rs['one_import']['calls']} for one import ({rs['overhead_calls']:+d}); "
                     f"plan of the result "
                     f"{'empty' if rs['plan_of_import']['empty'] else 'NOT EMPTY'}.")
    for key, label in (("pr", "(g) PR plan"), ("budget", "(h) budgeted check")):
        r = q.get(key)
        if r and "skipped_reason" in r:
            lines.append(f"{label}: skipped: {r['skipped_reason']}")
    pr = q.get("pr")
    if pr and "full" in pr:
        lines.append(f"(g) 5-entity PR: full plan {pr['full']['calls']} calls / "
                     f"{pr['full']['kb']:.1f} KB; --changed-since {pr['targeted']['calls']} "
                     f"calls / {pr['targeted']['kb']:.1f} KB (target <= {pr['target_calls']}); "
                     f"same actions: {pr['same_actions']}.")
    bu = q.get("budget")
    if bu and "runs" in bu:
        lines.append(f"(h) 24 hourly check --max-calls {bu['max_calls']}: {bu['daily_calls']} "
                     f"calls ({bu['share_of_daily_calls']:.0%}) and {bu['daily_kb']:.0f} KB "
                     f"({bu['share_of_daily_kb']:.0%}) a day; "
                     f"{bu['coverage_after_24_runs']:.0%} of {bu['units']} units verified after "
                     f"24 runs, all after {bu['hours_to_full_coverage']} hour(s); full coverage "
                     f"in 24 runs needs --max-calls {bu['calls_per_run_for_24h_coverage']}.")
    return lines


def _baseline_mb(sc: dict[str, Any]) -> float:
    values = [r["rss_before_kb"] for r in sc.values() if "rss_before_kb" in r]
    return min(values) / 1024 if values else 0.0


# ---------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> tuple[Config, argparse.Namespace]:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="a fast run: org x0.25, latency 5 ms, scale points x0.25/0.5/1")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS),
                        help=f"comma-separated subset of {','.join(SCENARIOS)} (default: all)")
    parser.add_argument("--latency-ms", type=float, help="sandbox latency (default 50; quick 5)")
    parser.add_argument("--parallelism", type=int, default=4)
    parser.add_argument("--org-scale", type=float, help="size of the org (default 1; quick 0.25)")
    parser.add_argument("--scale-factors", help="comma-separated (default 1,2,4,8)")
    parser.add_argument("--scale-latency-ms", type=float, default=5.0,
                        help="sandbox latency for the scale table (default 5)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", action="store_true",
                        help="also write cProfile summaries of the no-op plan and of apply")
    parser.add_argument("--out", type=Path,
                        help="results file (default benchmarks/results.json; "
                        "quick: benchmarks/results-quick.json)")
    parser.add_argument("--plot", type=Path,
                        help="scale plot (default benchmarks/scale.png; quick: scale-quick.png)")
    parser.add_argument("--workdir", type=Path, help="keep the databases and manifests here")
    args = parser.parse_args(argv)
    config = Config(quick=args.quick, parallelism=args.parallelism, seed=args.seed,
                    scale_latency_ms=args.scale_latency_ms, profile=args.profile)
    if args.quick:
        config.org_scale, config.latency_ms = 0.25, 5.0
        config.scale_factors = [0.25, 0.5, 1.0]
    if args.latency_ms is not None:
        config.latency_ms = args.latency_ms
    if args.org_scale is not None:
        config.org_scale = args.org_scale
    if args.scale_factors:
        config.scale_factors = [float(x) for x in args.scale_factors.split(",")]
    wanted = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = sorted(set(wanted) - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; choose from "
                     f"{', '.join(SCENARIOS)}")
    config.scenarios = wanted
    suffix = "-quick" if args.quick else ""
    # The quota scenarios alone keep their own file: the full run's results.json stays whole.
    if set(wanted) <= set(QUOTA_SCENARIOS):
        suffix = "-quota" + suffix
    args.out = args.out or HERE / f"results{suffix}.json"
    args.plot = args.plot or HERE / f"scale{suffix}.png"
    return config, args


def git_commit() -> str:
    proc = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True, cwd=ROOT)
    return proc.stdout.strip() if proc.returncode == 0 else "unknown"


def main(argv: list[str] | None = None) -> int:
    config, args = parse_args(argv)
    started = time.monotonic()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="beeplan-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    bench = Bench(config, work)
    results = bench.results
    results["meta"] = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "commit": git_commit(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "command": "python -m benchmarks " + " ".join(argv if argv is not None
                                                      else sys.argv[1:]),
        "config": asdict(config),
        "sandbox": SANDBOX_NOTE,
    }
    say(f"beeplan benchmarks ({'quick' if config.quick else 'full'} run), work dir {work}")
    try:
        bench.prepare()
        if "apply" in config.scenarios:
            bench.apply_from_empty()
        if set(config.scenarios) - set(QUOTA_SCENARIOS):
            bench.naive()  # every ratio needs it
        if "noop" in config.scenarios:
            bench.noop()
        if "change" in config.scenarios:
            bench.change()
        if "import" in config.scenarios:
            bench.import_()
        if "scale" in config.scenarios:
            bench.scale()
        for name in QUOTA_SCENARIOS:
            if name in config.scenarios:
                results.setdefault("quota", {})[name] = getattr(quota_scenarios, name)(bench)
        if config.profile:
            bench.profile()
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    results["meta"]["run_seconds"] = time.monotonic() - started
    print_report(results, config)
    if "points" in results.get("scale", {}):
        say(plot_scale(results["scale"]["points"], results["scale"]["fit"], args.plot))
    args.out.write_text(json.dumps(results, indent=1, default=str) + "\n")
    say(f"results written to {args.out}; the run took {results['meta']['run_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
