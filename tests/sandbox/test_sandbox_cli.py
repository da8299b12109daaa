"""`beeplan sandbox serve`: a real process, curl-like requests, Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

SENTINEL = "SENTINEL-cli-token-3f9d"


def serve(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-u", "-m", "beeplan", "sandbox", "serve", *args],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def read_until_ready(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    lines = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("Press Ctrl-C"):
            return "".join(lines)
    proc.kill()
    raise AssertionError("the sandbox did not start:\n" + "".join(lines)
                         + (proc.stderr.read() if proc.stderr else ""))


def interrupt(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=15)
    return proc.returncode, out, err


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    proc = serve(tmp_path, "--db", "demo.db", "--port", "0")
    try:
        yield proc, read_until_ready(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_serve_prints_the_url_and_answers_like_curl(
        served: tuple[subprocess.Popen[str], str], tmp_path: Path) -> None:
    proc, banner = served
    url = re.search(r"http://127\.0\.0\.1:\d+/api/v2", banner)
    assert url, banner
    token_file = tmp_path / "demo.db.token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "demo.db").stat().st_mode) == 0o600
    token = token_file.read_text().strip()
    assert token not in banner
    # curl -u TOKEN:x -d '{"service":"company.list"}' URL
    response = requests.post(url.group(0), data='{"service":"company.list"}',
                             auth=(token, "x"), timeout=10)
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "companies": []}
    code, out, err = interrupt(proc)
    assert code == 0 and "Sandbox stopped." in out
    assert token not in out + err
    assert "Traceback" not in err


def test_serve_reuses_the_database_and_its_token(tmp_path: Path) -> None:
    tokens = []
    for _ in range(2):
        proc = serve(tmp_path, "--db", "again.db")
        try:
            read_until_ready(proc)
            tokens.append((tmp_path / "again.db.token").read_text())
        finally:
            interrupt(proc)
    assert tokens[0] == tokens[1]


def test_serve_with_a_given_token_never_prints_it(tmp_path: Path) -> None:
    proc = serve(tmp_path, "--db", ":memory:", "--token", SENTINEL, "--latency-ms", "1",
                 "--error-rate", "0", "--drop-rate", "0", "--seed", "3",
                 "--quota-requests", "10", "--quota-kb", "100")
    banner = read_until_ready(proc)
    url = re.search(r"http://\S+/api/v2", banner)
    assert url
    answer = requests.post(url.group(0), data='{"service":"group.tree"}',
                           auth=(SENTINEL, "x"), timeout=10).json()
    assert answer == {"status": "ok", "groups": []}
    code, out, err = interrupt(proc)
    assert SENTINEL not in banner + out + err
    assert not list(tmp_path.iterdir())  # no token file, no database


def test_serve_refuses_a_public_host(tmp_path: Path) -> None:
    proc = serve(tmp_path, "--host", "0.0.0.0")
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert "refusing to serve on 0.0.0.0" in err and "--allow-remote" in err


def test_serve_help_has_examples() -> None:
    result = subprocess.run([sys.executable, "-m", "beeplan", "sandbox", "serve", "--help"],
                            capture_output=True, text=True, env={**os.environ, "COLUMNS": "100"})
    assert result.returncode == 0
    assert "Examples:" in result.stdout and "curl -u" in result.stdout
