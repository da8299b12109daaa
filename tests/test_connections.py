"""Issue 24: the client reuses its sessions and connections, the sandbox keeps them alive."""

from __future__ import annotations

import http.client
import json
from base64 import b64encode
from urllib.parse import urlsplit

from beeplan.platforms.v2.client import BeeboleClient
from beeplan.platforms.v2.live import LiveReader
from beeplan.platforms.v2.sandbox.server import SandboxServer


def _conn(sandbox: SandboxServer) -> tuple[http.client.HTTPConnection, dict[str, str], str]:
    parts = urlsplit(sandbox.url)
    auth = b64encode(f"{sandbox.token}:x".encode()).decode()
    headers = {"Authorization": f"Basic {auth}", "Content-Type": "application/json"}
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    return conn, headers, parts.path


def test_a_plan_in_stages_uses_one_connection_per_worker(sandbox: SandboxServer) -> None:
    """Ten stages of fan-out reads at parallelism 4 open at most 4 connections, not 40."""
    with BeeboleClient(sandbox.url, sandbox.token, ledger=False, timeout=10) as client:
        reader = LiveReader(client, 4)
        before = sandbox.connections
        for _ in range(10):
            answers = reader.pmap(lambda _: client.call("custom_field.list"), range(8))
            assert all(a["status"] == "ok" for a in answers)
        assert client.usage.total_requests == 80
        assert sandbox.connections - before <= 4


def test_sandbox_answers_several_requests_on_one_connection(sandbox: SandboxServer) -> None:
    conn, headers, path = _conn(sandbox)
    try:
        for service in ("company.list", "custom_field.list", "group.tree"):
            conn.request("POST", path, body=json.dumps({"service": service}), headers=headers)
            answer = conn.getresponse()
            assert answer.status == 200
            assert json.loads(answer.read())["status"] == "ok"
            assert answer.getheader("Connection", "").lower() != "close"
    finally:
        conn.close()
    assert sandbox.connections == 1
    assert sandbox.calls["company.list"] == 1 and sandbox.calls["group.tree"] == 1


def test_sandbox_closes_when_asked_or_when_it_cannot_tell_where_a_body_ends(
    sandbox: SandboxServer,
) -> None:
    """``Connection: close``, and a body over the limit (not read), still close after the
    answer: the next request can never be read from the middle of a body."""
    conn, headers, path = _conn(sandbox)
    try:
        conn.request("POST", path, body=json.dumps({"service": "company.list"}),
                     headers={**headers, "Connection": "close"})
        answer = conn.getresponse()
        assert answer.status == 200 and answer.getheader("Connection") == "close"
        answer.read()
    finally:
        conn.close()
    conn, headers, path = _conn(sandbox)
    try:
        big = json.dumps({"service": "company.list", "pad": "x" * (2 * 1024 * 1024)})
        conn.request("POST", path, body=big, headers=headers)
        answer = conn.getresponse()
        doc = json.loads(answer.read())
        assert doc["status"] == "error" and "larger than" in doc["message"]
        assert answer.getheader("Connection") == "close"
    finally:
        conn.close()
