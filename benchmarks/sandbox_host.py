"""The sandbox in its own process, driven over a pipe.

Why a subprocess: the sandbox is Python too. Served in-process, its threads
would share beeplan's GIL and CPU clock, so ``time.process_time`` and peak
memory would mix the emulator's work with beeplan's, and on a 2-core machine
the wall time would suffer from GIL contention that a real (remote) API does
not cause. In its own process, the benchmark process's CPU time and memory are
beeplan's own, while the sandbox's own call counter stays readable through
this pipe protocol (one JSON line per command on stdin/stdout):

    -> {"cmd": "counts"}                 <- {"calls": {service: n}, "requests": n, "bytes": n}
    -> {"cmd": "reset"}                  <- {"ok": true}
    -> {"cmd": "set", "latency_ms": 5}   <- {"ok": true}
    -> {"cmd": "advance_day"}            <- {"ok": true}   (the sandbox's clock, one day on)
    -> {"cmd": "quit"}                   <- {"ok": true}   (then the process exits)

``requests``/``bytes`` are the sandbox's own quota accounting for the token
(request body + answer body, as the reference's quota counts them).

    python -m benchmarks.sandbox_host --db FILE --latency-ms 50
    # first line on stdout: {"url": "http://127.0.0.1:PORT/api/v2"}
    # the token is read from $BENCH_SANDBOX_TOKEN
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TOKEN_ENV = "BENCH_SANDBOX_TOKEN"
# A loopback-only benchmark sandbox: the token guards nothing, it only has to match.
BENCH_TOKEN = "0" * 40
UNLIMITED = 10**12


def _usage(server: Any) -> tuple[int, int]:
    token_hash = hashlib.sha256(server.token.encode("utf-8")).hexdigest()[:16]
    return server.store.usage(token_hash, server.app.today())  # type: ignore[no-any-return]


def serve(db: str, latency_ms: float) -> int:
    from beeplan.platforms.v2.sandbox.server import SandboxServer

    token = os.environ.get(TOKEN_ENV, BENCH_TOKEN)
    server = SandboxServer(db, token=token, latency_ms=latency_ms,
                           quota_requests=UNLIMITED, quota_kb=UNLIMITED)
    server.start()
    out = sys.stdout
    out.write(json.dumps({"url": server.url}) + "\n")
    out.flush()
    base = _usage(server)
    try:
        for line in sys.stdin:
            if not line.strip():
                continue
            msg = json.loads(line)
            cmd = msg.get("cmd")
            answer: dict[str, Any] = {"ok": True}
            if cmd == "counts":
                requests, nbytes = _usage(server)
                answer = {"calls": dict(server.calls), "requests": requests - base[0],
                          "bytes": nbytes - base[1], "internal_errors": server.internal_errors}
            elif cmd == "reset":
                server.reset_calls()
                base = _usage(server)
            elif cmd == "advance_day":  # a new day: the quota starts again
                server.advance_day()
                base = _usage(server)
            elif cmd == "set":
                for key, value in msg.items():
                    if key != "cmd":
                        setattr(server, key, value)
            elif cmd == "quit":
                out.write(json.dumps(answer) + "\n")
                out.flush()
                break
            else:
                answer = {"ok": False, "error": f"unknown command {cmd!r}"}
            out.write(json.dumps(answer) + "\n")
            out.flush()
    finally:
        server.stop()
    return 0


@dataclass
class Counts:
    calls: dict[str, int]
    requests: int
    bytes: int
    internal_errors: int = 0

    @property
    def total(self) -> int:
        return sum(self.calls.values())


class SandboxProcess:
    """A sandbox subprocess over ``db`` (a SQLite file), controlled through its pipes."""

    def __init__(self, db: Path, latency_ms: float = 0.0):
        env = dict(os.environ, **{TOKEN_ENV: BENCH_TOKEN})
        # The sandbox must import this checkout's beeplan and benchmarks packages.
        root = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH")
                                    else "")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.sandbox_host", "--db", str(db),
             "--latency-ms", str(latency_ms)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=root,
        )
        first = self._read()
        self.url: str = first["url"]
        self.token = BENCH_TOKEN

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the sandbox process exited (status {self.proc.poll()})")
        return json.loads(line)  # type: ignore[no-any-return]

    def command(self, cmd: str, **extra: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"cmd": cmd, **extra}) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def counts(self) -> Counts:
        answer = self.command("counts")
        return Counts(answer["calls"], answer["requests"], answer["bytes"],
                      answer.get("internal_errors", 0))

    def reset(self) -> None:
        self.command("reset")

    def set(self, **knobs: Any) -> None:
        self.command("set", **knobs)

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.command("quit")
            except (OSError, RuntimeError, ValueError):
                pass
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> SandboxProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def diff_calls(after: Mapping[str, int], before: Mapping[str, int]) -> dict[str, int]:
    out = {k: after.get(k, 0) - before.get(k, 0) for k in set(after) | set(before)}
    return {k: v for k, v in sorted(out.items()) if v}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sandbox_host")
    parser.add_argument("--db", required=True)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args(argv)
    return serve(args.db, args.latency_ms)


if __name__ == "__main__":
    sys.exit(main())
