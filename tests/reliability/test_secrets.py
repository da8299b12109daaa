"""Secrets: the token never shows, whatever the command, the outcome or the verbosity.

Every command runs with a sentinel token, at ``-v`` and ``-vv``, on its happy
path and on failing ones (a refused token, a dead endpoint, API errors, a
reached quota, injected 500s, a stale plan, invalid manifests). The sentinel,
its basic-auth form and a distinctive slice of it must appear in no stdout,
stderr, log record, plan file, imported manifest, ledger or cache file.
tests/sandbox/test_sandbox_secrets.py does the same for the client and the
sandbox objects; this covers the commands.

Plain http to anything but loopback is refused before any socket is opened
(proved in a child process whose audit hook blocks and records every
connection and name lookup).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from beeplan.platforms.v2.sandbox.server import SandboxServer

from .conftest import Run, figure
from .procs import ROOT, beeplan_process, output_of, wait_until

SENTINEL = "SENTINEL-7f3a9c51-e2d8-4b6a-token"
FORMS = (
    SENTINEL,
    base64.b64encode(f"{SENTINEL}:x".encode()).decode(),
    SENTINEL[9:27],  # a distinctive slice: catches a token cut or wrapped in a message
)
ACME = ROOT / "examples" / "acme"
FAILING = """\
companies:
  - {xid: shut, name: Shut, active: false}
  - xid: open
    name: Open
    projects:
      - {xid: p1, name: P1, startDate: 2024-02-30}
"""
INVALID = "companies:\n  - {xid: a, name: A, colour: red}\n"


def leaks(text: str) -> list[str]:
    return [form for form in FORMS if form in text]


def free_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def servers() -> Iterator[dict[str, SandboxServer]]:
    with SandboxServer(":memory:", token=SENTINEL, seed=1) as good, \
            SandboxServer(":memory:", token="another-token") as other, \
            SandboxServer(":memory:", token=SENTINEL, seed=2, error_rate=1.0) as failing, \
            SandboxServer(":memory:", token=SENTINEL, quota_requests=2) as quota:
        yield {"good": good, "other": other, "failing": failing, "quota": quota}


@pytest.mark.slow  # every command, each in several ways: a long loop
def test_no_command_ever_shows_the_token(
    beeplan: Run, servers: dict[str, SandboxServer], tmp_path: Path, _cache_dir: Path,
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)  # the root logger: urllib3 and anything else
    monkeypatch.setenv("BEEBOLE_TOKEN", SENTINEL)
    token_file = tmp_path / "token"
    token_file.write_text(SENTINEL + "\n")
    failing_manifest = tmp_path / "failing.yaml"
    failing_manifest.write_text(FAILING)
    invalid = tmp_path / "invalid.yaml"
    invalid.write_text(INVALID)
    plan_file = tmp_path / "plan.json"
    imported = tmp_path / "imported"
    url = {name: server.url for name, server in servers.items()}
    dead = f"http://127.0.0.1:{free_loopback_port()}/api/v2"

    runs: list[tuple[str, ...]] = [
        ("validate", str(ACME)),
        ("validate", str(invalid)),
        ("diff", str(ACME), str(invalid)),
        ("diff", str(ACME), str(failing_manifest)),
        ("graph", str(ACME)),
        ("plan", str(ACME), "--endpoint", url["good"], "-o", str(plan_file)),
        ("plan", str(ACME), "--endpoint", url["good"], "--format", "json"),
        ("plan", str(ACME), "--endpoint", url["good"], "--format", "markdown", "--graph"),
        ("apply", str(ACME), "--endpoint", url["good"]),  # no tty, no --auto-approve: refused
        ("apply", str(plan_file), "--endpoint", url["good"], "--auto-approve"),
        ("apply", str(plan_file), "--endpoint", url["good"], "--auto-approve"),  # now stale
        ("check", str(ACME), "--endpoint", url["good"]),
        ("apply", str(failing_manifest), "--endpoint", url["good"], "--auto-approve"),
        ("import", "-o", str(imported), "--endpoint", url["good"]),
        ("check", str(ACME), "--endpoint", url["good"], "--token-file", str(token_file)),
        ("check", str(ACME), "--endpoint", url["good"], "--token-file", str(tmp_path / "no")),
        # The token refused (HTTP 401), the quota reached, only 500s, a dead port (the
        # last two are retried with backoff for seconds: one command each).
        *[(cmd, str(ACME), "--endpoint", url[name])
          for name in ("other", "quota") for cmd in ("plan", "check")],
        ("apply", str(ACME), "--endpoint", url["other"], "--auto-approve"),
        ("import", "-o", str(tmp_path / "imported-401"), "--endpoint", url["other"]),
        ("plan", str(ACME), "--endpoint", url["failing"]),
        ("import", "-o", str(tmp_path / "imported-dead"), "--endpoint", dead),
        # Credentials in the URL: refused, and not echoed.
        ("plan", str(ACME), "--endpoint", url["good"].replace("//", f"//u:{SENTINEL}@")),
        ("plan", str(ACME), "--endpoint", url["good"].replace("//", f"//{SENTINEL}@")),
    ]
    texts: list[str] = []
    codes: dict[int, int] = {}
    for verbosity in ("-v", "-vv"):
        for args in runs:
            code, out, err = beeplan(verbosity, *args)
            codes[code] = codes.get(code, 0) + 1
            assert code in (0, 1, 2), (args, err[-2000:])
            assert "Traceback" not in err, (args, err[-3000:])
            texts += [out, err]
            assert not leaks(out + err), (verbosity, args, leaks(out + err))
    assert codes.get(1, 0) >= 20 and codes.get(0, 0) >= 8  # the failing runs did fail

    texts.append(caplog.text)
    texts += [repr(record.args) for record in caplog.records]
    files = [p for p in (*tmp_path.rglob("*"), *_cache_dir.rglob("*")) if p.is_file()]
    assert plan_file in files and any(p.suffix == ".yaml" for p in imported.rglob("*"))
    assert any("quota" in str(p) for p in files), "no ledger was written"
    for path in files:
        if path != token_file:
            texts.append(path.read_text(encoding="utf-8", errors="replace"))
            texts.append(str(path))
    found = [(i, leaks(text)) for i, text in enumerate(texts) if leaks(text)]
    assert found == []
    figure(f"secrets: {2 * len(runs)} in-process command runs (-v and -vv), "
           f"{len(files) - 1} files written, exit codes {dict(sorted(codes.items()))}, "
           "0 leaks")


@pytest.mark.slow  # child processes, one interrupted
def test_child_processes_and_sandbox_serve_never_show_the_token(
    servers: dict[str, SandboxServer], tmp_path: Path
) -> None:
    """The real process: its whole stderr (tracebacks included, were there any)."""
    env = {"BEEBOLE_TOKEN": SENTINEL}
    outputs = []
    codes = []
    for i, args in enumerate([
        ["-vv", "apply", ACME, "--auto-approve", "--endpoint", servers["good"].url],
        ["-vv", "plan", ACME, "--endpoint", servers["other"].url],
        ["-vv", "check", ACME, "--endpoint", f"http://127.0.0.1:{free_loopback_port()}/api/v2"],
    ]):
        with beeplan_process(args, tmp_path / f"child{i}", env) as child_proc:
            codes.append(child_proc.wait(timeout=60))
        outputs.append(output_of(tmp_path / f"child{i}"))
    assert codes == [0, 1, 1], outputs
    assert "Traceback" not in "".join(err for _, err in outputs)

    # The sandbox served with the sentinel as its token, at debug level, and used.
    workdir = tmp_path / "serve"
    with beeplan_process(
        ["-vv", "sandbox", "serve", "--db", tmp_path / "s.db", "--token", SENTINEL],
        workdir, env,
    ) as proc:
        assert wait_until(lambda: "Press Ctrl-C" in output_of(workdir)[0], 30, 0.05)
        line = next(w for w in output_of(workdir)[0].split() if w.startswith("http://"))
        child = subprocess.run(
            [sys.executable, "-m", "beeplan", "-vv", "plan", ACME, "--endpoint", line],
            env={**os.environ, **env}, capture_output=True, text=True, timeout=60, cwd=ROOT,
        )
        assert child.returncode == 0, child.stderr[-2000:]
        outputs.append((child.stdout, child.stderr))
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
    outputs.append(output_of(workdir))
    assert "Token: the one given with --token." in outputs[-1][0]
    # Every file, the sandbox's database included (--token is used, never stored).
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".db" for p in files)
    texts = [text for pair in outputs for text in pair]
    texts += [p.read_bytes().decode("latin-1") for p in files]
    assert [leaks(text) for text in texts if leaks(text)] == []


def test_a_token_that_cannot_be_sent_is_a_clear_error(
    beeplan: Run, servers: dict[str, SandboxServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    for bad in (SENTINEL + "€", SENTINEL + " with space", "\u202e" + SENTINEL):
        code, out, err = beeplan("plan", ACME, "--endpoint", servers["good"].url, token=bad)
        assert code == 1, err[-2000:]
        assert "Traceback" not in err and "token" in err
        assert not leaks(out + err) and bad not in out + err


# -- plain http off loopback -------------------------------------------------------------------

# Run in a child: block and record every connection or name lookup it tries.
GUARD = r"""
import io, json, sys, contextlib
attempts = []
def hook(event, args):
    # (Not socket.bind: urllib3 binds ::1 once at import, to probe for IPv6.)
    if event in ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname",
                 "socket.gethostbyaddr", "socket.sendto", "socket.sendmsg"):
        attempts.append([event, repr(args)[:200]])
        raise PermissionError("network blocked by the test: " + event)
sys.addaudithook(hook)
from beeplan.cli import main
results = []
for args in json.loads(sys.argv[1]):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(args)
        except SystemExit as exc:
            code = exc.code
    results.append({"args": args, "code": code, "out": out.getvalue(), "err": err.getvalue(),
                    "attempts": attempts[:]})
    attempts.clear()
print(json.dumps(results))
"""

REFUSED = [
    "http://10.0.0.1/api/v2",
    "http://10.0.0.1:8080/api/v2",
    "HTTP://10.0.0.1/api/v2",
    "http://192.168.1.20/api/v2",
    "http://example.com/api/v2",
    "http://beebole-apps.com/api/v2",
    "http://[::ffff:10.0.0.1]/api/v2",
    "http://[2001:db8::1]/api/v2",
    "http://0.0.0.0:8080/api/v2",
    "http://localhost.example.com/api/v2",
    "http://127.0.0.1.nip.io/api/v2",
    f"http://{SENTINEL}@127.0.0.1:9/api/v2",
    "ftp://127.0.0.1/api/v2",
]


def guarded(cases: list[list[str]], env: dict[str, str]) -> list[dict[str, object]]:
    child = subprocess.run(
        [sys.executable, "-c", GUARD, json.dumps(cases)],
        env={**os.environ, **env}, capture_output=True, text=True, timeout=120, cwd=ROOT,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    return list(json.loads(child.stdout.splitlines()[-1]))


def test_plain_http_off_loopback_is_refused_before_any_socket_is_opened(tmp_path: Path) -> None:
    cases: list[list[str]] = []
    for url in REFUSED:
        cases += [
            ["plan", str(ACME), "--endpoint", url],
            ["apply", str(ACME), "--endpoint", url, "--auto-approve"],
            ["check", str(ACME), "--endpoint", url],
            ["import", "-o", str(tmp_path / "out"), "--endpoint", url],
        ]
    # The same through $BEEBOLE_ENDPOINT, and a control that the guard does see traffic.
    control = ["plan", str(ACME), "--endpoint",
               f"http://127.0.0.1:{free_loopback_port()}/api/v2"]
    results = guarded([*cases, control], {"BEEBOLE_TOKEN": SENTINEL})
    *refused, seen = results
    assert seen["attempts"], "the guard saw no connection attempt: it proves nothing"
    for result in refused:
        assert result["attempts"] == [], result
        assert result["code"] == 1, result
        err = str(result["err"])
        assert "Traceback" not in err and not leaks(err), result
        assert "https" in err or "credentials" in err or "http(s) URL" in err, result
    env_results = guarded([["plan", str(ACME)], ["check", str(ACME)]],
                          {"BEEBOLE_TOKEN": SENTINEL,
                           "BEEBOLE_ENDPOINT": "http://10.0.0.1/api/v2"})
    for result in env_results:
        assert (result["code"], result["attempts"]) == (1, []), result
        assert "refusing plain http://" in str(result["err"]), result
    assert not (tmp_path / "out").exists()
    figure(f"non-loopback http: {len(refused) + len(env_results)} command runs on "
           f"{len(REFUSED)} URLs refused, 0 sockets opened")
