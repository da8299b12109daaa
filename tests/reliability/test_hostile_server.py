"""A hostile or broken server: only real API answers count.

A small HTTP server on loopback stands between beeplan and a real sandbox.
It passes some calls through and answers the others itself, in one hostile
way per test: an HTML page with HTTP 200, truncated JSON, a bare
``{"status": "ok"}``, wrong types, a 307 or 302 redirect to another server,
bytes trickled slowly, an answer too big. Hostile reads make ``plan`` fail;
hostile writes (reads passed through) make ``apply`` fail. Either way: exit 1,
a one-line reason, no traceback, no write reported as applied, nothing sent
to a redirect's target, and the sandbox behind received no write.
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from beeplan.platforms.v2.client import BeeboleClient, is_read
from beeplan.platforms.v2.sandbox.server import SandboxServer

from .conftest import Run

MANIFEST = """\
companies:
  - xid: hc
    name: Hostile Co
    projects:
      - {xid: hp1, name: First}
      - {xid: hp2, name: Second}
people:
  - {xid: hr, name: Rosa Hostile, company: hc, email: rosa@example.com}
"""

# $BEEPLAN_TIMEOUT of the trickle cases only: seconds for a whole call. The trickle never
# ends, so every try misses it however fast or loaded the machine is; the other cases keep
# the default deadline, which no answer of theirs comes near (a short one made a slow
# machine retry them, and their call counts drift: no test may depend on speed).
DEADLINE = 1.0


class Recorder(ThreadingHTTPServer):
    """A server that must receive nothing: it counts what reaches it."""

    daemon_threads = True

    def __init__(self) -> None:
        self.hits = 0
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                recorder.hits += 1
                self.send_response(200)
                self.end_headers()

            do_GET = do_POST  # noqa: N815

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)


Answer = Callable[[BaseHTTPRequestHandler, dict[str, Any]], None]


class Hostile(ThreadingHTTPServer):
    """Answers with ``answer`` the calls ``hostile(service)`` selects; the rest go upstream."""

    daemon_threads = True

    def __init__(self, upstream: SandboxServer, hostile: Callable[[str], bool],
                 answer: Answer) -> None:
        self.hostile_calls = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                request = json.loads(body)
                if hostile(request.get("service", "")):
                    server.hostile_calls += 1
                    self.close_connection = True
                    answer(self, request)
                    return
                conn = http.client.HTTPConnection(upstream.host, upstream.port, timeout=10)
                conn.request("POST", "/api/v2", body, {
                    "Authorization": self.headers["Authorization"],
                    "Content-Type": "application/json",
                })
                reply = conn.getresponse()
                data = reply.read()
                conn.close()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/api/v2"


def send(handler: BaseHTTPRequestHandler, body: bytes, status: int = 200,
         content_type: str = "application/json", headers: dict[str, str] | None = None) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(body)


def html(handler: BaseHTTPRequestHandler, request: dict[str, Any]) -> None:
    send(handler, b"<html><body>Please log in to the hotel Wi-Fi</body></html>",
         content_type="text/html")


def truncated(handler: BaseHTTPRequestHandler, request: dict[str, Any]) -> None:
    send(handler, b'{"status": "ok", "companies": [{"id": 12, "name": "Acm')


def bare_ok(handler: BaseHTTPRequestHandler, request: dict[str, Any]) -> None:
    send(handler, b'{"status": "ok"}')


def wrong_types(handler: BaseHTTPRequestHandler, request: dict[str, Any]) -> None:
    service = request["service"]
    if service.endswith(".create"):
        answer: dict[str, Any] = {"status": "ok", "id": {"no": "id"}}
    else:
        answer = {"status": "ok", "companies": [{"id": "twelve", "name": "x"}], "people": "x",
                  "groups": [{"id": [1]}]}
    send(handler, json.dumps(answer).encode())


def redirect(status: int, target: Recorder) -> Answer:
    def answer(handler: BaseHTTPRequestHandler, request: dict[str, Any]) -> None:
        location = f"http://127.0.0.1:{target.server_address[1]}/api/v2"
        send(handler, b"", status=status, headers={"Location": location})

    return answer


def trickle(handler: BaseHTTPRequestHandler, request: dict[str, Any]) -> None:
    """A real answer's start, status line included, one byte every 50 ms, and a body
    announced far longer than it will ever send: it never completes, so the deadline
    is what ends it, however slow the machine."""
    start = b'{"status": "ok", "companies": [], "pad": "'
    raw = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
           b"Content-Length: 100000000\r\n\r\n" + start)
    try:
        for byte in raw:
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()
            time.sleep(0.05)
        while True:  # until the client hangs up
            handler.wfile.write(b"x")
            handler.wfile.flush()
            time.sleep(0.05)
    except OSError:
        pass  # the client hung up: what it should do


def huge(handler: BaseHTTPRequestHandler, request: dict[str, Any]) -> None:
    """2 MB of valid JSON, without a Content-Length (so the cap must count as it reads)."""
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Connection", "close")
    handler.end_headers()
    try:
        handler.wfile.write(b'{"status": "ok", "companies": [], "pad": "')
        for _ in range(32):
            handler.wfile.write(b"x" * 65536)
        handler.wfile.write(b'"}')
    except OSError:
        pass


CASES: dict[str, tuple[Answer | None, str]] = {
    # name: (answer, what the one-line reason says)
    "html-200": (html, "not JSON (text/html"),
    "truncated-json": (truncated, "not JSON"),
    "bare-status-ok": (bare_ok, "missing"),
    "wrong-types": (wrong_types, "not an id"),
    "redirect-307": (None, "redirect"),
    "redirect-302": (None, "redirect"),
    "trickle": (trickle, f"no complete answer within {DEADLINE:g}s"),
    "huge": (huge, "over the 1,048,576 bytes limit"),
}


# The trickle waits out the client's deadline, several times: wall time, in the slow set.
CASE_PARAMS = [pytest.param(c, marks=pytest.mark.slow) if c == "trickle" else c for c in CASES]


def deadline_for(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The short deadline only where the answer never completes (see DEADLINE)."""
    if case == "trickle":
        monkeypatch.setenv("BEEPLAN_TIMEOUT", str(DEADLINE))


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BEEPLAN_TIMEOUT", raising=False)
    monkeypatch.setenv("BEEPLAN_MAX_ANSWER_MB", "1")
    # Would a proxy be used, the calls would fail differently: make sure none is.
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    server = Recorder()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def serve(upstream: SandboxServer, hostile: Callable[[str], bool], answer: Answer
          ) -> Hostile:
    server = Hostile(upstream, hostile, answer)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server


def answer_for(case: str, recorder: Recorder) -> Answer:
    answer, _ = CASES[case]
    if answer is None:
        return redirect(int(case.rpartition("-")[2]), recorder)
    return answer


def writes_at(sandbox: SandboxServer) -> int:
    return sum(n for service, n in sandbox.calls.items() if not is_read(service))


def assert_one_line_failure(code: int, err: str, reason: str) -> None:
    assert code == 1, err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, err
    assert reason in errors[0], err


@pytest.mark.parametrize("case", CASE_PARAMS)
def test_plan_refuses_hostile_reads(case: str, beeplan: Run, sandbox: SandboxServer,
                                    recorder: Recorder, env: None, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "org.yaml").write_text(MANIFEST)
    deadline_for(case, monkeypatch)
    hostile = serve(sandbox, lambda service: service == "company.list",
                    answer_for(case, recorder))
    try:
        code, out, err = beeplan("plan", tmp_path / "org.yaml", "--endpoint", hostile.url,
                                 token=sandbox.token)
    finally:
        hostile.shutdown()
        hostile.server_close()
    assert_one_line_failure(code, err, CASES[case][1])
    assert "company.list" in err
    if case.startswith("redirect"):  # the error names where it was sent
        assert f"127.0.0.1:{recorder.server_address[1]}/api/v2" in err
    assert "Create" not in out and "create" not in out  # no plan made from a bad answer
    assert recorder.hits == 0
    # Not retried: an answer that is wrong once is wrong again (a deadline is retried).
    assert hostile.hostile_calls == (5 if case == "trickle" else 1)


@pytest.mark.parametrize("case", CASE_PARAMS)
def test_apply_counts_no_hostile_write_as_applied(
    case: str, beeplan: Run, sandbox: SandboxServer, recorder: Recorder, env: None,
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    (tmp_path / "org.yaml").write_text(MANIFEST)
    deadline_for(case, monkeypatch)
    hostile = serve(sandbox, lambda service: not is_read(service), answer_for(case, recorder))
    try:
        code, out, err = beeplan("apply", tmp_path / "org.yaml", "--auto-approve",
                                 "--endpoint", hostile.url, token=sandbox.token)
    finally:
        hostile.shutdown()
        hostile.server_close()
    assert code == 1, out + err
    assert "Traceback" not in err
    report = re.search(r"Apply: (\d+) applied, (\d+) failed", err)
    assert report, err
    assert report.group(1) == "0", err  # nothing counted as applied
    assert int(report.group(2)) >= 1
    assert CASES[case][1] in err
    assert writes_at(sandbox) == 0  # indeed nothing was applied behind the hostile server
    assert recorder.hits == 0
    if case.startswith("redirect"):
        assert hostile.hostile_calls <= 4  # a redirect stops the apply (parallelism 4)
    # The untouched endpoint then converges (--ignore-quota: the huge answers, received,
    # count against the day's KB in beeplan's ledger).
    code, out, err = beeplan("apply", tmp_path / "org.yaml", "--auto-approve", "--ignore-quota",
                             "--endpoint", sandbox.url)
    assert code == 0, out + err
    assert writes_at(sandbox) == 4  # 4 creates, each made once


@pytest.mark.parametrize(("field", "value", "reason"), [
    ("name", 5, "companies[0].name is not a string: 5"),
    ("name", None, "companies[0].name is not a string: None"),
    ("active", "false", "companies[0].active is not true or false: 'false'"),
    ("xid", {"x": 1}, "companies[0].xid is not an xid"),
])
def test_plan_refuses_fields_of_the_wrong_type(
    field: str, value: Any, reason: str, beeplan: Run, sandbox: SandboxServer, env: None,
    tmp_path: Path,
) -> None:
    """Not only ids: a name that is not a string or an "active" of "false" would be read
    as the name "5" or as active, and planned against (an update, or no change at all)."""
    (tmp_path / "org.yaml").write_text(MANIFEST)
    company = {"id": 12, "xid": "hc", "name": "Hostile Co", "active": True, field: value}

    def answer(handler: BaseHTTPRequestHandler, request: dict[str, Any]) -> None:
        send(handler, json.dumps({"status": "ok", "companies": [company]}).encode())

    hostile = serve(sandbox, lambda service: service == "company.list", answer)
    try:
        code, out, err = beeplan("plan", tmp_path / "org.yaml", "--endpoint", hostile.url,
                                 token=sandbox.token)
    finally:
        hostile.shutdown()
        hostile.server_close()
    assert_one_line_failure(code, err, reason)
    assert "company.list" in err and out == ""
    assert hostile.hostile_calls == 1


def test_a_lost_create_answered_with_garbage_is_checked_by_xid_not_duplicated(
    beeplan: Run, sandbox: SandboxServer, env: None, tmp_path: Path
) -> None:
    """The server did the create but its answer is garbage: like a lost answer, the
    applier asks by xid before retrying, finds it, and creates nothing twice."""
    (tmp_path / "org.yaml").write_text(MANIFEST)

    def done_then_garbage(handler: BaseHTTPRequestHandler, request: dict[str, Any]) -> None:
        with BeeboleClient(sandbox.url, sandbox.token, ledger=False) as client:
            client.call(request.pop("service"), **request)
        html(handler, request)

    hostile = serve(sandbox, lambda service: service == "company.create", done_then_garbage)
    try:
        code, out, err = beeplan("apply", tmp_path / "org.yaml", "--auto-approve",
                                 "--endpoint", hostile.url, token=sandbox.token)
    finally:
        hostile.shutdown()
        hostile.server_close()
    assert code == 0, err
    assert "Apply: 4 applied, 0 failed" in out
    assert hostile.hostile_calls == 1
    assert sandbox.calls["company.create"] == 1  # not retried blindly ...
    assert sandbox.calls["company.get"] == 1  # ... but checked by xid first


def test_proxies_of_the_environment_are_never_used_for_loopback(
    beeplan: Run, sandbox: SandboxServer, recorder: Recorder, monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    proxy = f"http://127.0.0.1:{recorder.server_address[1]}"
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(name, proxy)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    (tmp_path / "org.yaml").write_text(MANIFEST)
    code, out, err = beeplan("apply", tmp_path / "org.yaml", "--auto-approve",
                             "--endpoint", sandbox.url, token=sandbox.token)
    assert code == 0, err
    assert recorder.hits == 0


def test_through_a_proxy_the_token_only_travels_inside_a_tls_tunnel(
    beeplan: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A plain-http proxy from the environment sees a CONNECT to the API host, never a
    request with the token: the token would be inside TLS (here the proxy refuses)."""
    listener = socket.create_server(("127.0.0.1", 0))
    seen: list[bytes] = []

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    seen.append(conn.recv(4096))
                    conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                except OSError:
                    pass

    threading.Thread(target=accept, daemon=True).start()
    proxy = f"http://127.0.0.1:{listener.getsockname()[1]}"
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(name, proxy)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "org.yaml").write_text(MANIFEST)
    token = "0123456789abcdef0123456789abcdef01234567"
    try:
        code, _, err = beeplan("plan", tmp_path / "org.yaml", "--endpoint",
                               "https://api.beebole.test/api/v2", token=token)
    finally:
        listener.close()
    assert code == 1 and "Traceback" not in err
    assert seen, "the proxy from the environment was not used for an https endpoint"
    for request in seen:
        assert request.startswith(b"CONNECT api.beebole.test:443 "), request
        assert b"Authorization" not in request and token.encode() not in request
        assert base64.b64encode(f"{token}:x".encode()) not in request


def test_a_refused_tls_certificate_is_reported_as_such_and_not_retried(
    beeplan: Run, tmp_path: Path
) -> None:
    """An https server with a certificate nobody trusts: one connection, a clear error."""
    ssl = pytest.importorskip("ssl")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    import subprocess

    made = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
        capture_output=True, check=False,
    )
    if made.returncode != 0:
        pytest.skip("openssl cannot make a test certificate here")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    connections = []

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            connections.append(conn)
            try:
                context.wrap_socket(conn, server_side=True).close()
            except (OSError, ssl.SSLError):
                conn.close()

    threading.Thread(target=accept, daemon=True).start()
    (tmp_path / "org.yaml").write_text(MANIFEST)
    try:
        code, out, err = beeplan("plan", tmp_path / "org.yaml", "--endpoint",
                                 f"https://localhost:{listener.getsockname()[1]}/api/v2",
                                 token="some-token")
    finally:
        listener.close()
    assert_one_line_failure(code, err, "TLS certificate verification failed for localhost")
    assert "not retried" in err
    assert len(connections) == 1


@pytest.mark.parametrize("value", ["abc", "0", "-1", "nan", "inf", "1e308", "1e400"])
@pytest.mark.parametrize("name", ["BEEPLAN_TIMEOUT", "BEEPLAN_MAX_ANSWER_MB"])
def test_a_deadline_or_cap_that_is_not_a_sane_number_is_a_clear_error(
    name: str, value: str, beeplan: Run, sandbox: SandboxServer,
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    """1e308 seconds passed the check and ended in a traceback from the socket layer."""
    monkeypatch.setenv(name, value)
    (tmp_path / "org.yaml").write_text(MANIFEST)
    sandbox.reset_calls()
    code, out, err = beeplan("plan", tmp_path / "org.yaml", "--endpoint", sandbox.url,
                             token=sandbox.token)
    assert_one_line_failure(code, err, f"${name} must be a positive number")
    assert sum(sandbox.calls.values()) == 0


@pytest.mark.parametrize("case", ["html-200", "bare-status-ok", "redirect-307"])
def test_a_budgeted_check_with_no_usable_answer_fails(
    case: str, beeplan: Run, sandbox: SandboxServer, recorder: Recorder, env: None,
    tmp_path: Path,
) -> None:
    """check --max-calls skips a unit without an answer; with none usable at all (a portal
    page for every call) it exited 0 as if in sync. A redirect stops it at once."""
    (tmp_path / "org.yaml").write_text(MANIFEST)
    hostile = serve(sandbox, is_read, answer_for(case, recorder))
    try:
        code, out, err = beeplan("check", tmp_path / "org.yaml", "--max-calls", "5",
                                 "--endpoint", hostile.url, token=sandbox.token)
    finally:
        hostile.shutdown()
        hostile.server_close()
    assert_one_line_failure(code, err, "redirect" if case.startswith("redirect") else
                            "no part of the account could be verified in this run")
    assert recorder.hits == 0
    if case.startswith("redirect"):
        assert hostile.hostile_calls <= 4  # stopped, not tried unit after unit
