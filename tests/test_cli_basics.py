"""The CLI's skeleton: help, version, and exit-code mapping."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import Run

ACME = Path(__file__).resolve().parent.parent / "examples" / "acme"


def test_help_lists_every_command(cli_main: Run) -> None:
    code, out, _ = cli_main("--help")
    assert code == 0
    for name in ("validate", "diff", "plan", "apply", "check", "import", "graph", "sandbox"):
        assert name in out


def test_usage_error_in_process_exits_1_like_the_shell(cli_main: Run) -> None:
    # The harness maps exits as the console script does (click's own runner would say 2).
    code, out, err = cli_main("check", "--no-such-option")
    assert (code, out) == (1, "")
    assert "no-such-option" in err and "Traceback" not in err


def test_usage_error_exits_1_not_2() -> None:
    # 2 means "changes present"; a typo must never look like drift to CI.
    proc = subprocess.run(
        [sys.executable, "-m", "beeplan", "check", "--no-such-option"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    assert "no-such-option" in proc.stderr


@pytest.mark.slow  # interrupts a child that reads a 2 s-latency sandbox
def test_ctrl_c_exits_130(tmp_path: Path) -> None:
    # A sandbox that answers slowly gives Ctrl-C a window while the plan reads.
    db = tmp_path / "slow.db"
    # An account with content makes the plan read in several rounds of slow calls.
    seeded = subprocess.run(
        [
            sys.executable,
            "-m",
            "beeplan",
            "apply",
            str(ACME),
            "--endpoint",
            f"sandbox:{db}",
            "--auto-approve",
            "-q",
        ],
        env={**os.environ, "BEEPLAN_CACHE_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
    )
    assert seeded.returncode == 0, seeded.stderr
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "beeplan",
            "sandbox",
            "serve",
            "--db",
            str(db),
            "--port",
            "0",
            "--token",
            "t0k3n",
            "--latency-ms",
            "2000",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = ""
        for _ in range(50):
            line = server.stdout.readline()
            if "http://" in line:
                url = line[line.index("http://") :].split()[0]
                break
        assert url, "the sandbox did not print its URL"
        env = {**os.environ, "BEEBOLE_TOKEN": "t0k3n", "BEEPLAN_CACHE_DIR": str(tmp_path)}
        proc = subprocess.Popen(
            [sys.executable, "-m", "beeplan", "-v", "plan", str(ACME), "--endpoint", url],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        # Wait until the first round of reads is answered (a loaded machine may take seconds
        # to import), so the signal lands amid the next round, not during start-up.
        assert proc.stderr is not None
        first = proc.stderr.readline()
        assert "beeplan.api:" in first, first
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        _, rest = proc.communicate(timeout=30)
        err = first + rest
        assert proc.returncode == 130, err
        assert "Interrupted" in err
        assert "Traceback" not in err
    finally:
        server.terminate()
        server.wait(timeout=10)
