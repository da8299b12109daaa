"""``beeplan`` in a child process, always reaped."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def beeplan_process(
    args: list[object], workdir: Path, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``python -m beeplan ARGS``; stdout/stderr go to workdir/out.txt and err.txt.

    Files, not pipes: an unread pipe would stall the child once it filled up.
    The child is killed and reaped on the way out, whatever happened.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    with open(workdir / "out.txt", "wb") as out, open(workdir / "err.txt", "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "beeplan", *map(str, args)],
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            cwd=ROOT,
            env={**os.environ, **(env or {})},
        )
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)


def output_of(workdir: Path) -> tuple[str, str]:
    return (
        (workdir / "out.txt").read_text(encoding="utf-8", errors="replace"),
        (workdir / "err.txt").read_text(encoding="utf-8", errors="replace"),
    )


def wait_until(condition: Callable[[], bool], timeout: float, step: float = 0.001) -> bool:
    """Poll until the condition holds (True) or the timeout passes (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()


def wait_quiet(count: Callable[[], int], quiet_for: float = 0.15, timeout: float = 10) -> None:
    """Wait until ``count()`` has not changed for ``quiet_for`` seconds."""
    deadline = time.monotonic() + timeout
    last, since = count(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.01)
        now = count()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_for:
            return
    raise AssertionError("the sandbox kept receiving requests")
