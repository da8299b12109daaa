"""The sandbox as users run it: its token file, the database it opens, slow or many clients."""

from __future__ import annotations

import hashlib
import os
import socket
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from beeplan.cli.sandbox import write_secret
from beeplan.errors import ConfigError
from beeplan.platforms.v2.client import BeeboleClient
from beeplan.platforms.v2.sandbox.server import SandboxServer

Run = Callable[..., tuple[int, str, str]]


def test_the_token_file_is_never_written_through_a_symlink(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    link = tmp_path / "demo.db.token"
    link.symlink_to(victim)
    with pytest.raises(ConfigError, match="through the symlink"):
        write_secret(link, "s3cret")
    assert victim.read_text() == "precious\n"

    # A dangling link is no better: it would create the file wherever it points.
    dangling = tmp_path / "other.token"
    dangling.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(ConfigError):
        write_secret(dangling, "s3cret")
    assert not (tmp_path / "elsewhere").exists()

    # A hard link would put the token in the other name too.
    hard = tmp_path / "hard.token"
    os.link(victim, hard)
    with pytest.raises(ConfigError, match="not a plain file of its own"):
        write_secret(hard, "s3cret")
    assert victim.read_text() == "precious\n"

    plain = tmp_path / "plain.token"
    plain.write_text("an older, longer token that must not leave a tail\n")
    os.chmod(plain, 0o644)
    write_secret(plain, "s3cret")
    assert plain.read_text() == "s3cret\n"
    assert plain.stat().st_mode & 0o777 == 0o600


def test_sandbox_serve_refuses_a_symlinked_token_file(cli_main: Run, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (tmp_path / "demo.db.token").symlink_to(victim)
    code, _, err = cli_main("sandbox", "serve", "--db", tmp_path / "demo.db")
    assert code == 1 and "symlink" in err and "Traceback" not in err
    assert victim.read_text() == "precious\n"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_sandbox_endpoint_refuses_a_database_that_is_not_a_sandbox(
    cli_main: Run, tmp_path: Path
) -> None:
    other = tmp_path / "app.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, amount REAL)")
    conn.execute("INSERT INTO invoices (amount) VALUES (12.5)")
    conn.commit()
    conn.close()
    before = digest(other)
    code, _, err = cli_main("plan", "examples/acme", "--endpoint", f"sandbox:{other}")
    assert code == 1, err
    assert "not a beeplan sandbox" in err and "Traceback" not in err
    assert digest(other) == before  # not a table added, not a byte changed
    assert not Path(str(other) + "-wal").exists()

    garbage = tmp_path / "notes.db"
    garbage.write_text("just some text\n" * 50)
    code, _, err = cli_main("plan", "examples/acme", "--endpoint", f"sandbox:{garbage}")
    assert code == 1 and "not a usable sandbox database" in err
    assert garbage.read_text() == "just some text\n" * 50

    # A sandbox database, and a new (or empty) file, are used as always.
    fresh = tmp_path / "fresh.db"
    code, _, err = cli_main("plan", "examples/acme", "--endpoint", f"sandbox:{fresh}")
    assert code == 0, err
    code, _, err = cli_main("plan", "examples/acme", "--endpoint", f"sandbox:{fresh}")
    assert code == 0, err
    empty = tmp_path / "empty.db"
    empty.touch()
    code, _, err = cli_main("plan", "examples/acme", "--endpoint", f"sandbox:{empty}")
    assert code == 0, err


def test_a_request_trickled_slowly_is_cut_at_the_deadline() -> None:
    """A header that never ends is cut by the deadline, however slow the machine is.

    No clock is read here: the trickle would go on for about 20 s, 40 times the
    0.5 s deadline, so only a server that enforces it closes the connection
    before the trickle ends (a loaded machine only makes the trickle slower).
    """
    with SandboxServer(":memory:", request_deadline=0.5) as server:
        sock = socket.create_connection((server.host, server.port), timeout=5)
        request = b"POST /api/v2 HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 400
        closed = False
        try:
            for byte in request:
                sock.sendall(bytes([byte]))
                time.sleep(0.05)  # each byte well within the 60 s socket timeout
        except OSError:
            closed = True
        if not closed:  # the whole trickle went through: the server must have closed by now
            sock.settimeout(1)
            try:
                closed = sock.recv(100) == b""
            except (TimeoutError, OSError):
                closed = False
        sock.close()
        assert closed, "the server waited for a header that never ends"
        # Others are served as usual.
        with BeeboleClient(server.url, server.token, ledger=False) as client:
            assert client.call("company.list")["companies"] == []


def test_connections_past_the_cap_are_answered_503_without_a_thread() -> None:
    with SandboxServer(":memory:", max_connections=2) as server:
        idle = [socket.create_connection((server.host, server.port), timeout=5) for _ in range(2)]
        time.sleep(0.1)
        extra = socket.create_connection((server.host, server.port), timeout=5)
        answer = extra.recv(1000)
        extra.close()
        assert answer.startswith(b"HTTP/1.1 503"), answer
        assert b"too many connections" in answer
        for sock in idle:
            sock.close()
        # The server frees a slot when it sees a connection closed: wait for that (no
        # fixed sleep, which a loaded machine can outlast), bounded at 20 s.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            probe = socket.create_connection((server.host, server.port), timeout=5)
            probe.sendall(b"GET / HTTP/1.0\r\n\r\n")
            answer = probe.recv(1000)
            probe.close()
            if not answer.startswith(b"HTTP/1.1 503"):
                break
            time.sleep(0.05)
        with BeeboleClient(server.url, server.token, ledger=False) as client:
            assert client.call("company.list")["status"] == "ok"


def test_sandbox_serve_on_a_port_in_use_is_a_clear_error(cli_main: Run, tmp_path: Path) -> None:
    """A port another program holds: one error line, not a traceback from closing a
    server that never bound."""
    taken = socket.create_server(("127.0.0.1", 0))
    try:
        port = taken.getsockname()[1]
        code, _, err = cli_main("sandbox", "serve", "--db", tmp_path / "demo.db",
                                "--port", str(port))
    finally:
        taken.close()
    assert code == 1, err
    assert f"{port} is in use" in err  # werkzeug's own message
    assert "Traceback" not in err and "AttributeError" not in err
    assert not (tmp_path / "demo.db.token").exists()


def test_what_a_client_sends_is_logged_escaped(capsys: pytest.CaptureFixture[str]) -> None:
    """``beeplan -vv sandbox serve`` logs each service a client names: a local client
    naming one with an ANSI escape must not repaint the operator's terminal."""
    import json
    import logging

    import requests

    from beeplan.cli.options import setup_logging

    setup_logging(2, False)
    server = SandboxServer(":memory:").start()
    try:
        body = json.dumps({"service": "company.list\x1b[2J\x1b]0;owned\x07"})
        answer = requests.post(server.url, data=body, auth=(server.token, "x"), timeout=10)
        assert answer.json()["status"] == "error"
    finally:
        server.stop()
        logging.getLogger("beeplan").handlers[:] = []
        logging.getLogger("beeplan").setLevel(logging.NOTSET)
    err = capsys.readouterr().err
    assert "company.list\\x1b[2J\\x1b]0;owned\\x07" in err, err
    assert "\x1b" not in err and "\x07" not in err


@pytest.mark.parametrize("sent", [0, 13])
def test_a_client_that_disconnects_mid_body_is_not_an_internal_error(
    sent: int, caplog: pytest.LogCaptureFixture,
) -> None:
    """A client killed while sending (Ctrl-C, SIGKILL, a timeout) is not a sandbox bug:
    it is counted apart, gets no answer, and is logged once."""
    caplog.set_level("DEBUG", logger="beeplan.sandbox")
    with SandboxServer(":memory:") as server:
        body = b'{"service": "company.list"}'
        sock = socket.create_connection((server.host, server.port), timeout=10)
        sock.sendall(b"POST /api/v2 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body[:sent])
        sock.shutdown(socket.SHUT_WR)  # none or half of the body, then gone
        try:
            answer = sock.recv(1000)  # the server closes without a word once it sees the end
        except ConnectionResetError:
            answer = b""
        sock.close()
        assert answer == b""
        # The server counts before it closes; its thread may still be finishing.
        for _ in range(500):
            if server.client_disconnects:
                break
            time.sleep(0.01)
        assert server.client_disconnects == 1
        assert server.internal_errors == 0
        lines = [r for r in caplog.records if "disconnected" in r.getMessage()]
        assert len(lines) == 1, [r.getMessage() for r in caplog.records]
        assert not any(r.exc_info for r in caplog.records)
        # The sandbox serves the next client as usual.
        with BeeboleClient(server.url, server.token, ledger=False) as client:
            assert client.call("company.list")["companies"] == []
        assert server.internal_errors == 0
