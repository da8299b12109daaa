"""CPU costs that must not grow with the account or with each call (issue 24).

    python -m benchmarks.cpu [--parts units,check,changed,start,calls] [--label L]
                             [--factors 1,10]

- ``units``: the CPU ``check --max-calls 100`` spends before its first call
  (``drift.units_of`` over the manifests, then choosing the 100 units), on the
  benchmark org at 1000 and 10,000 people (``generate.py`` at ``--scale``).
- ``check``: the whole ``beeplan check --max-calls 100 --state FILE`` process
  (the real CLI, against a sandbox subprocess seeded with the org, a fresh
  daily ledger each run), four runs in turn (the first reads lists, the later
  ones relation units), at 1000 and 10,000 people; and the CPU of loading the
  manifests alone (``manifest.load``), which grows with the manifests. The
  first run starts with an empty cache dir; each later one keeps the loaded
  manifests the run before left there (``manifest/_cache.py``), as an hourly
  check on one machine does.
- ``changed``: the whole ``beeplan plan CHANGED --changed-since BASE`` process for
  the 5-entity pull request of the ``pr`` scenario (``quota.five_entity_change``)
  on the org at 1000 and 10,000 people, BASE a directory; beside it, the CPU of
  ``validate CHANGED`` (loading the manifests a plan must load anyway). With
  ``--against DIR`` (a worktree of an older commit), that tree's beeplan runs in
  turn with this one, round after round on the same data: before and after.
- ``start``: CPU and wall of ``python -m beeplan --help`` and of ``validate``
  of ``examples/acme`` (best of 5, each a new process), the modules imported,
  and whether ``requests``, ``deepdiff`` or ``jsonschema`` are among them.
- ``calls``: CPU per API call on both sides: beeplan's client (this process,
  reads in stages of 50 through ``LiveReader.pmap``, parallelism 4, as a plan
  fans out) and the sandbox (its subprocess's CPU from ``/proc``), 0 ms latency.

Each run is stored under its ``--label`` in ``benchmarks/results-cpu.json``, so
the figures before and after a change sit side by side (same machine, same
command). Nothing here is asserted by the tests: times vary by machine.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
OUT = HERE / "results-cpu.json"


def units(factors: list[float]) -> dict[str, Any]:
    from beeplan.budgeted_check import CheckState, select, units_of
    from beeplan.manifest import load

    from .generate import OrgSpec, generate, write_manifests

    points = []
    for factor in factors:
        org = generate(OrgSpec().scaled(factor), seed=1)
        with tempfile.TemporaryDirectory() as tmp:
            write_manifests(org, Path(tmp))
            desired = load(Path(tmp))
        best = float("inf")
        for _ in range(2 if factor <= 2 else 1):
            t = time.process_time()
            found = units_of(desired)
            select(found, CheckState(), 100)
            best = min(best, time.process_time() - t)
        points.append({"factor": factor, "people": org.counts()["people"],
                       "units": len(found), "cpu_s": round(best, 4)})
        print(f"  units x{factor:g}: {points[-1]['people']} people, {len(found)} units, "
              f"{best:.3f} s CPU", flush=True)
    return {"what": "drift.units_of + select(100) on the generated org, best of 1-2",
            "points": points}


def _check_rounds(desired: Any, url: str, token: str, rounds: int) -> list[dict[str, Any]]:
    """In this process, round after round as ``check --max-calls 100`` does them (the
    state kept in memory, no KB limit): CPU of units_of + select, of the calls, and of
    the comparison (``_compare``), each apart."""
    from beeplan import budgeted_check as bc
    from beeplan.platforms.v2.client import BeeboleClient, Quota
    from beeplan.platforms.v2.live import LiveReader

    out = []
    state = bc.CheckState()
    with BeeboleClient(url, token, ledger=False, timeout=60,
                       quota=Quota(10**9, 10**9)) as client:
        reader = LiveReader(client, 4)
        for n in range(rounds):
            t0 = time.process_time()
            found = bc.units_of(desired, state.seen_groups)
            chosen = bc.select(found, state, 100)
            t1 = time.process_time()
            answers = reader.pmap(lambda u: (u, client.call(u.service, **u.payload)), chosen)
            t2 = time.process_time()
            _, verified, _, seen = bc._compare(desired, answers, reader)
            t3 = time.process_time()
            for unit in verified:
                state.verified[unit.key] = {"at": f"2026-01-01T00:{n:02d}:00Z",
                                            "digest": unit.digest}
            if seen is not None:
                state.seen_groups = seen
            out.append({"units_s": round(t1 - t0, 4), "calls_s": round(t2 - t1, 4),
                        "compare_s": round(t3 - t2, 4),
                        "read": sorted({u.what for u in chosen})})
    return out


def check(factors: list[float], runs: int = 4) -> dict[str, Any]:
    from beeplan.manifest import load

    from .generate import OrgSpec, generate, write_manifests
    from .sandbox_host import BENCH_TOKEN, SandboxProcess
    from .seeding import seed_account

    points = []
    for factor in factors:
        org = generate(OrgSpec().scaled(factor), seed=1)
        with tempfile.TemporaryDirectory() as tmp:
            manifests = Path(tmp) / "manifests"
            write_manifests(org, manifests)
            t = time.process_time()
            desired = load(manifests)
            load_cpu = time.process_time() - t
            seed_account(Path(tmp) / "account.db", desired)
            found: list[dict[str, Any]] = []
            with SandboxProcess(Path(tmp) / "account.db") as sb:
                rounds = _check_rounds(desired, sb.url, sb.token, runs)
                for n in range(runs):
                    cache = Path(tmp) / f"cache-{n}"
                    if n:  # the machine keeps its cache dir (the manifests loaded last
                        # hour); only the ledger starts afresh, so four runs fit one day's KB
                        shutil.copytree(Path(tmp) / f"cache-{n - 1}" / "manifests",
                                        cache / "manifests")
                    env = dict(os.environ, BEEBOLE_TOKEN=BENCH_TOKEN, BEEBOLE_ENDPOINT=sb.url,
                               BEEPLAN_CACHE_DIR=str(cache), NO_COLOR="1")
                    sb.reset()
                    try:
                        cpu, wall = _child_cpu(
                            [sys.executable, "-m", "beeplan", "check", str(manifests),
                             "--max-calls", "100", "--state", str(Path(tmp) / "state.json")],
                            env)
                    except RuntimeError as exc:  # a run that fails is a figure too
                        found.append({"failed": str(exc)[-300:]})
                        continue
                    counts = sb.counts()
                    found.append({"cpu_s": round(cpu, 4), "wall_s": round(wall, 4),
                                  "calls": counts.requests,
                                  "kb": round(counts.bytes / 1024, 1),
                                  "manifest_cache": "kept" if n else "empty"})
        points.append({"factor": factor, "people": org.counts()["people"],
                       "load_cpu_s": round(load_cpu, 4), "in_process": rounds, "runs": found})
        print(f"  check x{factor:g}: {points[-1]['people']} people, manifest load "
              f"{load_cpu:.3f} s CPU", flush=True)
        for r in rounds:
            print(f"    in process: units_of+select {r['units_s']:.3f} s, calls "
                  f"{r['calls_s']:.3f} s, compare {r['compare_s']:.3f} s ({r['read']})",
                  flush=True)
        for r in found:
            print("    process: " + (f"{r['cpu_s']:.3f} s CPU ({r['calls']} calls, "
                                     f"{r['kb']:.0f} KB, manifest cache "
                                     f"{r.get('manifest_cache', 'empty')})"
                                     if "cpu_s" in r else r["failed"]),
                  flush=True)
    return {"what": "check --max-calls 100 round after round: in this process (units_of + "
                    "select, calls, compare), and as beeplan processes (whole CPU); "
                    "manifest.load alone", "points": points}


def changed(factors: list[float], runs: int = 2, against: Path | None = None) -> dict[str, Any]:
    """``against``: another tree of beeplan (a worktree of an older commit), run in turn
    with this one on the same data and sandbox, ``runs`` + 1 rounds: the figures before
    and after a change, on a shared machine, from the same minutes."""
    from .generate import OrgSpec, generate, write_manifests
    from .quota import five_entity_change
    from .sandbox_host import BENCH_TOKEN, SandboxProcess
    from .seeding import seed_account

    trees = {"after": ROOT} if against is None else {"before": against, "after": ROOT}
    rounds = runs if against is None else runs + 1
    for tree in trees.values():
        _compiled(tree)
    points = []
    for factor in factors:
        org = generate(OrgSpec().scaled(factor), seed=1)
        new, _ = five_entity_change(org)
        with tempfile.TemporaryDirectory() as tmp:
            base, head = Path(tmp) / "base", Path(tmp) / "head"
            write_manifests(org, base)
            write_manifests(new, head)
            from beeplan.manifest import load

            seed_account(Path(tmp) / "account.db", load(base))
            found: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
            printed: dict[str, set[str]] = {name: set() for name in trees}
            validate: dict[str, float] = {}
            with SandboxProcess(Path(tmp) / "account.db") as sb:
                for n in range(rounds):
                    for name, tree in trees.items():
                        env = dict(os.environ, BEEBOLE_TOKEN=BENCH_TOKEN,
                                   BEEBOLE_ENDPOINT=sb.url, NO_COLOR="1",
                                   BEEPLAN_CACHE_DIR=str(Path(tmp) / f"cache-{name}-{n}"),
                                   PYTHONPATH=str(tree))
                        sb.reset()
                        # In the tree: 'python -m' puts the working directory first
                        # on the path, before PYTHONPATH.
                        cpu, wall, out = _child_run(
                            [sys.executable, "-m", "beeplan", "plan", str(head),
                             "--changed-since", str(base)], env, ok=(0, 2), cwd=tree)
                        counts = sb.counts()
                        # The plan's counts and digest: the same plan from both trees.
                        printed[name].add("\n".join(line for line in out.splitlines()
                                                     if line.startswith("Plan")))
                        found[name].append({"cpu_s": round(cpu, 4), "wall_s": round(wall, 4),
                                            "calls": counts.requests,
                                            "kb": round(counts.bytes / 1024, 1)})
                        validate[name] = min(validate.get(name, 1e9), _child_run(
                            [sys.executable, "-m", "beeplan", "validate", str(head)],
                            dict(os.environ, PYTHONPATH=str(tree)), cwd=tree)[0])
        point: dict[str, Any] = {"factor": factor, "people": org.counts()["people"]}
        for name in trees:
            point[name] = {"runs": found[name], "cpu_s": min(r["cpu_s"] for r in found[name]),
                           "validate_cpu_s": round(validate[name], 4)}
        if against is not None:
            point["same_plan"] = printed["before"] == printed["after"]
        points.append(point)
        after = point["after"]
        print(f"  changed x{factor:g}: {point['people']} people: plan --changed-since "
              f"{after['cpu_s']:.3f} s CPU ({after['runs'][0]['calls']} calls, "
              f"{after['runs'][0]['kb']:.0f} KB); validate of the same manifests "
              f"{after['validate_cpu_s']:.3f} s CPU", flush=True)
        if against is not None:
            before = point["before"]
            print(f"    before ({against}): plan --changed-since {before['cpu_s']:.3f} s CPU; "
                  f"validate {before['validate_cpu_s']:.3f} s; the same plan (counts, digest): "
                  f"{point['same_plan']}", flush=True)
    what = ("plan --changed-since BASE for a 5-entity change (best of the runs, each a new "
            "process with an empty cache dir and compiled bytecode), and validate of the "
            "changed manifests")
    if against is not None:
        what += f"; 'before' is the tree at {against}, run in turn with this one"
    return {"what": what, "points": points}


def _compiled(tree: Path) -> None:
    """beeplan's bytecode written in ``tree``, as an installed beeplan has it (pip compiles
    it): with PYTHONDONTWRITEBYTECODE set, an edited module would otherwise be compiled
    again by every process measured."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(tree / "beeplan")],
                   check=True, capture_output=True)


def _child_cpu(cmd: list[str], env: dict[str, str], ok: tuple[int, ...] = (0,)
               ) -> tuple[float, float]:
    cpu, wall, _ = _child_run(cmd, env, ok)
    return cpu, wall


def _child_run(cmd: list[str], env: dict[str, str], ok: tuple[int, ...] = (0,),
               cwd: Path = ROOT) -> tuple[float, float, str]:
    """(CPU, wall, what it printed) of ``cmd`` run as a child process in ``cwd``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd)
    wall = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in ok:
        raise RuntimeError(f"{cmd} failed: {proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall, proc.stdout


def _modules(args: list[str], env: dict[str, str]) -> list[str]:
    code = ("import sys\nsys.argv = ['beeplan', *sys.argv[1:]]\n"
            "try:\n    from beeplan.cli import main\n    main()\n"
            "except SystemExit:\n    pass\n"
            "sys.stderr.write('\\nMODULES ' + ' '.join(sorted(sys.modules)) + '\\n')\n")
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env=env, cwd=ROOT)
    line = [x for x in proc.stderr.splitlines() if x.startswith("MODULES ")][-1]
    return line.split()[1:]


def start() -> dict[str, Any]:
    env = dict(os.environ, NO_COLOR="1")
    out: dict[str, Any] = {}
    for name, args in (("help", ["--help"]),
                       ("validate", ["validate", str(ROOT / "examples" / "acme")])):
        runs = [_child_cpu([sys.executable, "-m", "beeplan", *args], env) for _ in range(5)]
        bare = min(_child_cpu([sys.executable, "-c", "pass"], env)[1] for _ in range(3))
        mods = _modules(args, env)
        heavy = {m: m in mods for m in ("requests", "deepdiff", "jsonschema", "urllib3")}
        out[name] = {"cpu_s": round(min(c for c, _ in runs), 4),
                     "wall_s": round(min(w for _, w in runs), 4),
                     "bare_python_wall_s": round(bare, 4), "modules": len(mods),
                     "imports": heavy}
        print(f"  start {name}: {out[name]['cpu_s']:.3f} s CPU, {out[name]['wall_s']:.3f} s wall "
              f"(bare python {bare:.3f} s), {len(mods)} modules, {heavy}", flush=True)
    return out


def _proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def calls(n: int = 1000, stage: int = 50) -> dict[str, Any]:
    from beeplan.model import State
    from beeplan.platforms.v2.client import BeeboleClient
    from beeplan.platforms.v2.live import LiveReader

    from .sandbox_host import SandboxProcess
    from .seeding import seed_account

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "calls.db"
        seed_account(db, State())
        with SandboxProcess(db, latency_ms=0) as sb:
            client = BeeboleClient(sb.url, sb.token, ledger=False, timeout=60)
            reader = LiveReader(client, 4)
            reader.pmap(lambda _: client.call("custom_field.list"), range(20))  # warm up
            sb_cpu, cpu, wall = _proc_cpu(sb.proc.pid), time.process_time(), time.perf_counter()
            for _ in range(n // stage):  # a plan reads in stages, each a fan-out
                reader.pmap(lambda _: client.call("custom_field.list"), range(stage))
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            sb_cpu = _proc_cpu(sb.proc.pid) - sb_cpu
            client.close()
    out = {"calls": n, "stage": stage, "parallelism": 4, "service": "custom_field.list",
           "client_ms_per_call": round(cpu / n * 1000, 3),
           "sandbox_ms_per_call": round(sb_cpu / n * 1000, 3),
           "wall_ms_per_call": round(wall / n * 1000, 3)}
    print(f"  calls: client {out['client_ms_per_call']:.3f} ms CPU/call, sandbox "
          f"{out['sandbox_ms_per_call']:.3f} ms CPU/call, wall {out['wall_ms_per_call']:.3f} "
          "ms/call", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cpu", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default="units,check,changed,start,calls")
    parser.add_argument("--label", default="after", help="the key this run is stored under")
    parser.add_argument("--factors", default="1,10",
                        help="org scales for units and check (default 1,10)")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--against", type=Path, default=None,
                        help="changed: a tree of beeplan at another commit (git worktree "
                             "add --detach DIR COMMIT), run in turn with this one")
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    results: dict[str, Any] = json.loads(args.out.read_text()) if args.out.exists() else {}
    run: dict[str, Any] = results.setdefault(args.label, {})
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=ROOT).stdout.strip()
    factors = [float(f) for f in args.factors.split(",")]
    _compiled(ROOT)
    for part in parts:
        result = {"units": lambda: units(factors), "check": lambda: check(factors),
                  "changed": lambda: changed(factors, against=args.against),
                  "start": start, "calls": calls}[part]()
        result["measured"] = {
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "commit": commit, "cpus": os.cpu_count(),
            "command": "python -m benchmarks.cpu " + " ".join(argv or sys.argv[1:])}
        run[part] = result
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"written to {args.out} under {args.label!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
