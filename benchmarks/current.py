"""python -m benchmarks.current: the benchmark org on Beebole's current platform (GraphQL).

The same org as ``python -m benchmarks`` (benchmarks/generate.py), written for the
current platform by ``beeplan convert``, against the current platform's sandbox with
added latency. Each step is a real ``beeplan`` process talking HTTP to the sandbox;
the sandbox counts requests and bytes (both directions' bodies as it reads and
writes them). Steps: (a) apply to an empty account, (b) a no-op plan, (c) plan and
apply of a 5-entity change, (d) import, then a plan of the imported set.

The current platform has no daily quota, so what is measured is requests, bytes and
wall time; the bound apply must meet is
``sum over dependency layers of ceil(actions in the layer / batch size)`` requests
(plus the reads), and a no-op plan at most 3 requests. Figures go to
``benchmarks/results-current.json`` (``--quick``: ``results-current-quick.json``) and
are printed beside the v2 figures of ``benchmarks/results.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .generate import OrgSpec, generate, write_manifests

HERE = Path(__file__).resolve().parent
TOKEN = "bench-current-token-" + "0" * 20


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _beeplan(args: Sequence[str], env: dict[str, str]) -> tuple[int, str, str, float, float]:
    """Run one beeplan step: (status, stdout, stderr, wall seconds, CPU seconds)."""
    cpu, wall = _children_cpu(), time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "beeplan", *args], env=env,
                          capture_output=True, text=True, check=False)
    return (done.returncode, done.stdout, done.stderr, time.perf_counter() - wall,
            _children_cpu() - cpu)


class _Counted:
    """The sandbox's request and byte counters, read as deltas around one step."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.requests = server.requests
        self.bytes = server.bytes

    def spent(self) -> dict[str, int]:
        return {"requests": self.server.requests - self.requests,
                "bytes": self.server.bytes - self.bytes}


# Kinds known by name, which carry no External ID label (platforms/current/kinds.py).
_UNLABELLED = {"projectCategory", "tagCategory", "taskCategory", "role", "customField"}


def _layers(plan: dict[str, Any]) -> list[int]:
    """Mutations per dependency layer of a JSON plan: an action runs once its dependencies
    did, and a create's External ID label goes out with the layer after it."""
    actions = {a["id"]: tuple(a.get("depends_on") or ()) for a in plan.get("actions", [])}
    labelled = {a["id"] for a in plan.get("actions", [])
                if a.get("op") == "create" and a["target"]["kind"] not in _UNLABELLED}
    depth: dict[str, int] = {}

    def level(aid: str, seen: frozenset[str] = frozenset()) -> int:
        if aid not in depth:
            deps = [d for d in actions.get(aid, ()) if d in actions and d not in seen]
            depth[aid] = 1 + max((level(d, seen | {aid}) for d in deps), default=-1)
        return depth[aid]

    for aid in actions:
        level(aid)
    # removals (archives) run last, after every other layer (platforms/current/apply.py)
    removals = {a["id"] for a in plan.get("actions", []) if a.get("op") == "deactivate"}
    last = 1 + max((d for aid, d in depth.items() if aid not in removals), default=0)
    for aid in removals:
        depth[aid] = max(depth[aid], last + 1)
    sizes: dict[int, int] = {}
    for aid, d in depth.items():
        sizes[d] = sizes.get(d, 0) + 1
        if aid in labelled:
            sizes[d + 1] = sizes.get(d + 1, 0) + 1
    return [sizes[d] for d in sorted(sizes)]


def _rename_five(folder: Path) -> list[str]:
    """Rename five entities in the converted set (a 5-entity change)."""
    changed: list[str] = []
    for path in sorted(folder.glob("*.yaml")):
        text = path.read_text("utf-8")
        out: list[str] = []
        for line in text.splitlines(keepends=True):
            match = re.match(r"(\s*(?:- )?name: )(.+)$", line.rstrip("\n"))
            if match and len(changed) < 5 and "xid" in "".join(out[-2:]) and "Category" not in line:
                line = f"{match.group(1)}{match.group(2).strip(chr(34))} (renamed)\n"
                changed.append(f"{path.name}: {match.group(2)}")
            out.append(line)
        path.write_text("".join(out), "utf-8")
        if len(changed) >= 5:
            break
    return changed


def _rename_out_of_band(server: Any) -> None:
    """Rename one project through the GraphQL API, as a colleague would in the web app."""
    import requests

    def post(query: str) -> dict[str, Any]:
        answer = requests.post(server.url, headers={"apikey": server.token}, timeout=30,
                               json={"query": query}).json()
        if answer.get("errors"):
            raise SystemExit(f"out-of-band rename failed: {answer['errors']}")
        return dict(answer["data"])

    project = post("{ getProjects { id name } }")["getProjects"][0]
    post(f'mutation {{ editProjectName(id: "{project["id"]}", name: "{project["name"]} (edited)")'
         " { id } }")


def run(args: argparse.Namespace) -> dict[str, Any]:
    from beeplan.platforms.current.sandbox.server import CurrentSandboxServer

    work = Path(args.workdir or tempfile.mkdtemp(prefix="beeplan-bench-current-"))
    work.mkdir(parents=True, exist_ok=True)
    org = generate(OrgSpec(), seed=args.seed, scale=args.org_scale)
    legacy = work / "v2"
    write_manifests(org, legacy)
    current = work / "current"
    env = dict(os.environ, BEEBOLE_TOKEN=TOKEN, PYTHONPATH=os.pathsep.join(
        p for p in (str(HERE.parent), os.environ.get("PYTHONPATH", "")) if p))
    status, out, err, _, _ = _beeplan(["convert", str(legacy), "-o", str(current), "--force"],
                                      env)
    if status not in (0, 2):
        raise SystemExit(f"convert failed ({status}): {err.strip()}")
    if args.batch_size:
        settings = current / "settings.yaml"
        settings.write_text(settings.read_text("utf-8").rstrip("\n")
                            + f"\n  batchSize: {args.batch_size}\n", "utf-8")

    results: dict[str, Any] = {"org": {"seed": org.seed, "scale": args.org_scale, **{
        k: len(v) for k, v in vars(org).items() if isinstance(v, list)}}}
    db = work / "current.db"
    db.unlink(missing_ok=True)
    with CurrentSandboxServer(str(db), token=TOKEN, latency_ms=args.latency_ms) as server:
        endpoint = server.url
        common = ["--endpoint", endpoint, "--parallelism", str(args.parallelism)]
        figures_out: dict[str, str] = {}

        def step(name: str, argv: list[str], expect: tuple[int, ...] = (0,)) -> dict[str, Any]:
            counted = _Counted(server)
            status, out, err, wall, cpu = _beeplan(argv, env)
            if status not in expect:
                raise SystemExit(f"{name}: exit {status}\n{err[-2000:]}")
            figures = {"exit_status": status, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
                       **counted.spent()}
            print(f"  {name:<28} {figures['requests']:>6} requests {figures['bytes'] / 1024:>9.1f}"
                  f" KB {wall:>8.2f} s wall {cpu:>6.2f} s CPU", flush=True)
            results[name] = figures
            figures_out[name] = out
            return figures

        step("plan (from empty)", ["plan", str(current), *common, "--format", "json"], (0, 2))
        plan = json.loads(figures_out["plan (from empty)"])
        layers = _layers(plan)
        batch = args.batch_size or 50
        # The bound: dependency depth x ceil(actions in the largest layer / batch);
        # and the tighter one, the sum over the layers of ceil(layer / batch).
        bound = len(layers) * max((math.ceil(n / batch) for n in layers), default=0)
        tight = sum(math.ceil(n / batch) for n in layers)
        results["plan (from empty)"].update(actions=len(plan.get("actions", [])),
                                            layers=layers, apply_bound=bound,
                                            apply_sum_of_layers=tight)
        apply = step("apply (from empty)", ["apply", str(current), *common, "--auto-approve"])
        apply.update(apply_bound_requests=bound, apply_sum_of_layers=tight,
                     mutation_requests=apply["requests"] - 1)  # minus the plan's one read
        step("no-op plan", ["plan", str(current), *common, "--detailed-exitcode"])
        changed = _rename_five(current)
        results["change"] = changed
        step("plan (5 changes)", ["plan", str(current), *common, "--detailed-exitcode"], (2,))
        step("apply (5 changes)", ["apply", str(current), *common, "--auto-approve"])
        # Issue "What only the current platform makes possible": what a check costs, with
        # and without drift (who changed it: the authors lookup), and the hours lookup.
        step("check (in sync)", ["check", str(current), *common])
        _rename_out_of_band(server)
        step("check (1 drifted, authors)", ["check", str(current), *common], (2,))
        step("apply (repair)", ["apply", str(current), *common, "--auto-approve"])
        step("usage (hours per entity)", ["usage", str(current), *common, "--days", "30"])
        imported = work / "imported"
        step("import", ["import", *common, "-o", str(imported), "--force"])
        step("plan of the import", ["plan", str(imported), *common, "--detailed-exitcode"])
    results["config"] = {"latency_ms": args.latency_ms, "parallelism": args.parallelism,
                         "batch_size": args.batch_size or 50, "org_scale": args.org_scale,
                         "seed": args.seed, "command": "python -m benchmarks.current "
                         + " ".join(sys.argv[1:])}
    return results


def _v2_row(v2: dict[str, Any], key: str) -> str:
    if not key:
        return "n/a"
    s = v2.get("scenarios", {}).get(key) or {}
    calls = s.get("client_calls") or s.get("sandbox_calls")
    if not calls:
        return "n/a"
    kb = (s.get("client_bytes") or 0) / 1024
    what = f" (a 5% change: {s['actions']} actions)" if key == "change" and "actions" in s else ""
    return f"{calls} calls, {kb:.0f} KB, {s.get('wall_s', 0):.1f} s{what}"


def table(results: dict[str, Any], v2: dict[str, Any]) -> str:
    """A Markdown table: the current platform beside API v2 (results.json)."""
    rows = [("apply from empty", "apply (from empty)", "apply"),
            ("no-op plan", "no-op plan", "noop"),
            ("5-entity change (plan + apply)", ("plan (5 changes)", "apply (5 changes)"),
             "change"),
            ("check, in sync", "check (in sync)", "noop"),
            ("check, 1 entity drifted (and who changed it)", "check (1 drifted, authors)", ""),
            ("usage (hours per entity, 30 days)", "usage (hours per entity)", ""),
            ("import", "import", "import")]
    lines = ["| step | current platform (GraphQL) | API v2 |", "|---|---|---|"]
    for label, keys, v2key in rows:
        parts = [results[k] for k in ((keys,) if isinstance(keys, str) else keys)]
        req = sum(p["requests"] for p in parts)
        kb = sum(p["bytes"] for p in parts) / 1024
        wall = sum(p["wall_s"] for p in parts)
        lines.append(f"| {label} | {req} requests, {kb:.0f} KB, {wall:.1f} s | "
                     f"{_v2_row(v2, v2key)} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.current", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="org x0.25, 5 ms latency")
    parser.add_argument("--latency-ms", type=float, default=None)
    parser.add_argument("--parallelism", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=0, help="settings.batchSize (0: 50)")
    parser.add_argument("--org-scale", type=float, default=None)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", default="")
    args = parser.parse_args(argv)
    if args.latency_ms is None:
        args.latency_ms = 5.0 if args.quick else 50.0
    if args.org_scale is None:
        args.org_scale = 0.25 if args.quick else 1.0
    print(f"current platform, org x{args.org_scale}, {args.latency_ms:g} ms latency", flush=True)
    results = run(args)
    v2_file = HERE / ("results-quick.json" if args.quick else "results.json")
    v2 = json.loads(v2_file.read_text("utf-8")) if v2_file.exists() else {}
    print()
    print(table(results, v2))
    out = HERE / ("results-current-quick.json" if args.quick else "results-current.json")
    out.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n", "utf-8")
    print(f"\nwrote {out.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
