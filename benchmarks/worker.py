"""One benchmark step in a fresh process, so its CPU time and peak memory are its own.

    python -m benchmarks.worker STEP --manifests DIR --url URL [...]

prints one JSON line of measurements. Steps mirror the CLI commands:

- ``validate``: ``beeplan validate DIR`` (``manifest.load``);
- ``apply``: ``beeplan apply DIR --auto-approve`` (read, plan, show it, apply);
- ``plan``: ``beeplan plan DIR [-o FILE]`` (read, plan, show it, save it);
- ``apply-saved``: ``beeplan apply FILE`` (freshness check, apply);
- ``naive``: the naive baseline read (``benchmarks.naive``);
- ``import``: ``beeplan import -o DIR`` (in-process CLI; counts from its ledger);
- ``floor``: a bare ``http.client`` loop, the CPU per call under any HTTP client.

The plan steps make the same calls as ``beeplan.usecases.plan.compute_plan``
(``LiveReader.read`` then ``make_plan``), called one by one so the read and
the diff are timed apart. The sandbox runs in another process
(``benchmarks.sandbox_host``): this process's CPU time is beeplan's own
(its code plus the HTTP client stack it uses, never the emulator's).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import os
import pstats
import resource
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .sandbox_host import TOKEN_ENV

Metrics = dict[str, Any]


def maxrss_kb() -> int:
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)  # KB on Linux


class Clock:
    """Wall and CPU time per named phase."""

    def __init__(self) -> None:
        self.phases: dict[str, dict[str, float]] = {}

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            entry = self.phases.setdefault(name, {"wall_s": 0.0, "cpu_s": 0.0})
            entry["wall_s"] += time.perf_counter() - wall
            entry["cpu_s"] += time.process_time() - cpu

    def total(self, names: list[str], key: str) -> float:
        return sum(self.phases[n][key] for n in names if n in self.phases)


def run_step(args: argparse.Namespace) -> Metrics:
    from beeplan.manifest import load
    from beeplan.platforms.v2.client import BeeboleClient

    class _Client(RecordingClient, BeeboleClient):
        pass

    clock = Clock()
    out: Metrics = {"step": args.step, "parallelism": args.parallelism}
    desired = None
    if args.manifests and args.step not in ("naive", "apply-saved", "import"):
        with clock.phase("load"):
            desired = load(args.manifests)
        out["entities"] = len(desired.entities)
    out["rss_before_kb"] = maxrss_kb()
    if args.step == "validate":
        out["phases"] = clock.phases
        out["maxrss_kb"] = maxrss_kb()
        return out
    if args.step == "import":
        return run_import(args, out, clock)
    if args.step == "floor":
        return transport_floor(args, out)

    token = os.environ[TOKEN_ENV]
    profiler = ThreadProfiler() if args.profile else None
    client = _Client(args.url, token, ledger=False, timeout=60)
    # These steps measure what a plan costs, on an unlimited sandbox; the quota guards
    # are measured by the quota scenarios (quota.py, the real CLI at the real quota).
    client.ignore_quota = True
    client.recorded = [] if args.replay else None
    network_phases: list[str] = []
    try:
        if profiler is not None:
            profiler.enable()
        body: Callable[[], None]
        if args.step in ("apply", "plan"):
            assert desired is not None
            body = lambda: plan_and_maybe_apply(args, client, desired, clock, out)  # noqa: E731
            network_phases = ["read", "diff", "render", "save", "apply"]
        elif args.step == "apply-saved":
            body = lambda: apply_saved(args, client, clock, out)  # noqa: E731
            network_phases = ["parse", "fresh", "render", "apply"]
        elif args.step == "naive":
            body = lambda: naive(args, client, clock, out)  # noqa: E731
            network_phases = ["read"]
        else:
            raise SystemExit(f"unknown step {args.step}")
        body()
        if profiler is not None:
            profiler.disable()
    finally:
        client.close()
    out["client_calls"] = client.usage.total_requests
    out["client_bytes"] = client.usage.total_bytes
    out["client_by_service"] = dict(sorted(client.usage.requests.items()))
    out["client_bytes_by_service"] = dict(sorted(client.usage.bytes.items()))
    out["wall_s"] = clock.total(network_phases, "wall_s")
    out["cpu_s"] = clock.total(network_phases, "cpu_s")
    out["phases"] = clock.phases
    out["maxrss_kb"] = maxrss_kb()
    if profiler is not None:
        out["profile"] = write_profile(profiler, Path(args.profile))
    return out


class ThreadProfiler:
    """cProfile in every thread, on each thread's own CPU clock, merged at the end.

    The reader and the applier make their calls from pool threads; a profiler
    of the main thread alone would see them only as time spent waiting on a
    lock. ``time.thread_time`` keeps waiting (and other threads' work) out of
    each thread's figures.
    """

    def __init__(self) -> None:
        self.profilers: list[cProfile.Profile] = []
        self.lock = threading.Lock()

    def _start_thread(self, frame: Any, event: str, arg: Any) -> None:
        profiler = cProfile.Profile(time.thread_time)
        with self.lock:
            self.profilers.append(profiler)
        profiler.enable()  # replaces this hook for the rest of the thread

    def enable(self) -> None:
        threading.setprofile(self._start_thread)
        main = cProfile.Profile(time.thread_time)
        self.profilers.append(main)
        main.enable()

    def disable(self) -> None:
        threading.setprofile(None)  # type: ignore[arg-type]
        self.profilers[0].disable()

    def stats(self, stream: io.StringIO) -> pstats.Stats:
        stats = pstats.Stats(self.profilers[0], stream=stream)
        for other in self.profilers[1:]:
            other.create_stats()
            stats.add(other)
        return stats


def write_profile(profiler: ThreadProfiler, path: Path) -> str:
    text = io.StringIO()
    stats = profiler.stats(text)
    stats.dump_stats(str(path))
    text.write(f"{len(profiler.profilers)} threads profiled, each on its own CPU clock "
               "(time.thread_time); the sandbox runs in another process.\n")
    stats.sort_stats("tottime").print_stats(30)
    stats.sort_stats("cumulative").print_stats(30)
    path.with_suffix(".txt").write_text(text.getvalue())
    return str(path)


def plan_and_maybe_apply(args: argparse.Namespace, client: Any, desired: Any, clock: Clock,
                         out: Metrics) -> None:
    from beeplan.planner import make_plan, require_possible
    from beeplan.platforms.v2.live import LiveReader
    from beeplan.render import plan_to_json, render_text
    from beeplan.usecases.steps import budget_of

    with clock.phase("read"):
        live = LiveReader(client, args.parallelism).read(desired)
    read_calls = client.usage.total_requests
    recorded, client.recorded = client.recorded, None
    with clock.phase("diff"):
        plan = make_plan(desired, live, read_calls=read_calls)
    out["read_calls"] = read_calls
    out["read_bytes"] = client.usage.total_bytes
    out["actions"] = len(plan.actions)
    out["plan_counts"] = plan.counts()
    out["problems"] = list(plan.problems)
    out["destroy_violations"] = list(plan.destroy_violations)
    out["action_services"] = _services(plan.actions)
    with clock.phase("render"):
        budget = budget_of(client, plan)
        text = render_text(plan, budget, color=False)
    out["rendered_chars"] = len(text)
    if args.plan_file:
        with clock.phase("save"):
            Path(args.plan_file).write_text(plan_to_json(plan, budget, args.url),
                                            encoding="utf-8")
    if args.replay:
        out["own_cpu"] = replay_cpu(args, recorded, desired)
    if args.step == "apply" and not plan.empty:
        require_possible(plan)
        apply_plan(args, client, plan, clock, out)


class RecordingClient:
    """Mixin for BeeboleClient: keeps every answer (to replay the read without HTTP)."""

    recorded: list[tuple[str, dict[str, Any], dict[str, Any]]] | None = None

    def call(self, service: str, **payload: Any) -> dict[str, Any]:
        answer: dict[str, Any] = super().call(service, **payload)  # type: ignore[misc]
        if self.recorded is not None:
            self.recorded.append((service, payload, answer))
        return answer


class ReplayClient:
    """Answers a read from recorded JSON texts: the client's own work without the transport.

    Each call encodes its request body and decodes the recorded answer text, as
    ``BeeboleClient.call`` does around its HTTP POST.
    """

    def __init__(self, recorded: list[tuple[str, dict[str, Any], dict[str, Any]]]):
        from beeplan.platforms.v2.client import Quota, Usage

        self.answers = {
            (service, json.dumps(payload, sort_keys=True)): json.dumps(answer).encode("utf-8")
            for service, payload, answer in recorded
        }
        self.usage = Usage()
        self.quota = Quota()

    def remaining_today(self) -> int:
        return self.quota.requests

    def check_reads(self, count: int, services: Any = None, basis: str = "",
                    kb: Any = None) -> None:
        """The live reader asks before each fan-out; a replay spends no quota, so never refuses."""

    def expected_bytes(self, service: str) -> int:
        """What a call is expected to weigh, for the guards: nothing here (no quota)."""
        return 0

    def call(self, service: str, **payload: Any) -> dict[str, Any]:
        body = json.dumps({"service": service, **payload}, ensure_ascii=False).encode("utf-8")
        content = self.answers[(service, json.dumps(payload, sort_keys=True))]
        self.usage.requests[service] += 1
        self.usage.bytes[service] += len(body) + len(content)
        return json.loads(content.decode("utf-8"))  # type: ignore[no-any-return]


def replay_cpu(args: argparse.Namespace, recorded: Any, desired: Any) -> dict[str, float]:
    """beeplan's CPU for the plan with the HTTP transport taken out (best of 3 runs)."""
    from beeplan.planner import make_plan
    from beeplan.platforms.v2.live import LiveReader
    from beeplan.render import render_text
    from beeplan.usecases.steps import budget_of

    best: dict[str, float] = {}
    for _ in range(3):
        client = ReplayClient(recorded)
        times = {}
        t = time.process_time()
        live = LiveReader(client, args.parallelism).read(desired)  # type: ignore[arg-type]
        times["read_s"] = time.process_time() - t
        t = time.process_time()
        plan = make_plan(desired, live, read_calls=client.usage.total_requests)
        times["diff_s"] = time.process_time() - t
        t = time.process_time()
        render_text(plan, budget_of(client, plan), color=False)  # type: ignore[arg-type]
        times["render_s"] = time.process_time() - t
        times["total_s"] = times["read_s"] + times["diff_s"] + times["render_s"]
        if not best or times["total_s"] < best["total_s"]:
            best = times
    return best


def _services(actions: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for action in actions:
        counts[action.service] = counts.get(action.service, 0) + 1
    return dict(sorted(counts.items()))


def apply_plan(args: argparse.Namespace, client: Any, plan: Any, clock: Clock,
               out: Metrics) -> None:
    from beeplan.applier import Applier

    before = client.usage.total_requests
    with clock.phase("apply"):
        outcome = Applier(client, args.parallelism).apply(plan)
    out["apply_calls"] = client.usage.total_requests - before
    out["applied"] = len(outcome.applied)
    out["failed"] = [f"{a.service} {a.target.label}: {m}" for a, m in outcome.failed[:10]]
    out["skipped"] = len(outcome.skipped)


def apply_saved(args: argparse.Namespace, client: Any, clock: Clock, out: Metrics) -> None:
    from beeplan.render import plan_from_json, render_text
    from beeplan.usecases.steps import budget_of, check_fresh

    with clock.phase("parse"):
        plan, _doc = plan_from_json(Path(args.plan_file).read_text(encoding="utf-8"),
                                    args.plan_file)
    with clock.phase("fresh"):
        check_fresh(client, plan, args.parallelism)
    out["fresh_calls"] = client.usage.total_requests
    with clock.phase("render"):
        render_text(plan, budget_of(client, plan), color=False)
    out["actions"] = len(plan.actions)
    out["action_services"] = _services(plan.actions)
    apply_plan(args, client, plan, clock, out)


def naive(args: argparse.Namespace, client: Any, clock: Clock, out: Metrics) -> None:
    from .naive import naive_read

    with clock.phase("read"):
        out["seen"] = naive_read(client, args.parallelism)


def transport_floor(args: argparse.Namespace, out: Metrics) -> Metrics:
    """CPU per call of a bare ``http.client`` POST loop: what any Python client pays.

    Same sandbox, same latency, same parallelism as the scenarios, a small read
    (``custom_field.list``), a new connection per call as the sandbox closes
    them: the floor under the HTTP client's CPU per call, beeplan or not.
    """
    import base64
    import http.client
    from concurrent.futures import ThreadPoolExecutor
    from urllib.parse import urlsplit

    parts = urlsplit(args.url)
    auth = base64.b64encode(f"{os.environ[TOKEN_ENV]}:x".encode()).decode()
    headers = {"Authorization": f"Basic {auth}", "Content-Type": "application/json"}
    body = json.dumps({"service": "custom_field.list"}).encode()

    def one(_: int) -> int:
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
        conn.request("POST", parts.path, body=body, headers=headers)
        size = len(conn.getresponse().read())
        conn.close()
        return size

    n = args.calls
    cpu, wall = time.process_time(), time.perf_counter()
    with ThreadPoolExecutor(args.parallelism) as pool:
        sizes = list(pool.map(one, range(n)))
    out["calls"] = n
    out["cpu_ms_per_call"] = 1000 * (time.process_time() - cpu) / n
    out["wall_s"] = time.perf_counter() - wall
    out["answer_bytes"] = sizes[0] if sizes else 0
    return out


def run_import(args: argparse.Namespace, out: Metrics, clock: Clock) -> Metrics:
    """``beeplan import -o DIR`` in-process; the client's own count comes from its ledger."""
    from beeplan.cli import main
    from beeplan.manifest import load

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["BEEPLAN_CACHE_DIR"] = str(Path(tmp, "cache"))
        token_file = Path(tmp, "token")
        token_file.write_text(os.environ[TOKEN_ENV])
        target = Path(args.out_dir or Path(tmp, "imported"))
        argv = ["-q", "import", "-o", str(target), "--endpoint", args.url,
                "--token-file", str(token_file), "--parallelism", str(args.parallelism)]
        status: Any = 0
        calls = nbytes = days = 0
        with clock.phase("import"):
            # An org past one day's quota (4503 calls at x1) stops at it and resumes from
            # its checkpoint the next day: a new day is a fresh ledger, the checkpoint kept.
            for _day in range(20):
                days += 1
                status = 0
                try:
                    main(argv)
                except SystemExit as exc:
                    status = exc.code
                for ledger in Path(tmp, "cache", "quota").glob("*.json"):
                    data = json.loads(ledger.read_text())
                    calls += int(data.get("requests", 0))
                    nbytes += int(data.get("bytes", 0))
                    ledger.unlink()
                if status in (0, None) or not any(Path(tmp, "cache", "import").glob("*.json")):
                    break
        out["exit_status"] = status
        out["client_calls"], out["client_bytes"], out["days"] = calls, nbytes, days
        if status in (0, None) and target.exists():
            with clock.phase("validate-imported"):
                out["imported_entities"] = len(load(target).entities)
    out["wall_s"] = clock.phases["import"]["wall_s"]
    out["cpu_s"] = clock.phases["import"]["cpu_s"]
    out["phases"] = clock.phases
    out["maxrss_kb"] = maxrss_kb()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.worker")
    parser.add_argument("step", choices=["validate", "apply", "plan", "apply-saved", "naive",
                                         "import", "floor"])
    parser.add_argument("--calls", type=int, default=400, help="floor: how many calls")
    parser.add_argument("--manifests", type=Path)
    parser.add_argument("--url")
    parser.add_argument("--parallelism", type=int, default=4)
    parser.add_argument("--plan-file")
    parser.add_argument("--out-dir")
    parser.add_argument("--replay", action="store_true",
                        help="plan steps: also measure the plan's CPU with the HTTP transport "
                        "replaced by the recorded answers")
    parser.add_argument("--profile", help="write a cProfile dump here (and a .txt summary)")
    args = parser.parse_args(argv)
    result = run_step(args)
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
