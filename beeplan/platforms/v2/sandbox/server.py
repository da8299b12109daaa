"""``SandboxServer``: the emulator served over real HTTP on loopback, in a daemon thread.

    with SandboxServer("demo.db") as server:
        client = BeeboleClient(server.url, server.token)

Knobs (latency, faults, quotas) are attributes, changeable while it runs:
``server.error_rate = 0.5`` (or ``server.knobs.error_rate``).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import random
import socket
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from werkzeug.serving import BaseWSGIServer, ThreadedWSGIServer, WSGIRequestHandler

from ....errors import ConfigError
from .app import Knobs, SandboxApp
from .request import ServiceError
from .seed import DEFAULT_CUSTOM_FIELDS, custom_field_rows, load_seed
from .store import Store

log = logging.getLogger("beeplan.sandbox")


class _QuietHandler(WSGIRequestHandler):
    """werkzeug's handler, logging to ``beeplan.sandbox.http`` at debug level.

    The request line holds no secret (the token travels in a header that is
    never logged), but a serving sandbox must not chatter on stderr.
    """

    timeout = 60  # a client that connects and says nothing must not pin a thread forever
    # HTTP/1.1 so a client's connection serves many calls (issue 24: a new TCP connection
    # per call cost both sides CPU). An idle connection is closed by the request deadline.
    protocol_version = "HTTP/1.1"

    def log(self, type: str, message: str, *args: Any) -> None:
        logging.getLogger("beeplan.sandbox.http").debug(message, *args)

    def run_wsgi(self) -> None:
        """Answer one request, keeping the connection open when that is safe.

        werkzeug closes every connection: it cannot tell where a request's body
        ends, so it drains the socket after each answer. Here a request with a
        Content-Length within the sandbox's body limit is read whole first, so
        the connection is at the next request's start and may stay open. Anything
        else (no length, a larger body, chunked, ``Connection: close``, HTTP/1.0,
        a sandbox being stopped) gets werkzeug's answer-and-close, as before.
        """
        length = self._body_length()
        if length is None:
            super().run_wsgi()
            return
        body = self.rfile.read(length) if length else b""
        if len(body) < length:  # the client went away mid-body: nothing to answer
            self.close_connection = True
            went_away = getattr(self.server.app, "client_went_away", None)
            if went_away is not None:
                went_away()
            return
        environ = self.make_environ()
        environ["wsgi.input"] = io.BytesIO(body)
        started: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]],
                           exc_info: Any = None) -> Any:
            started[:] = [status, headers]
            return None

        try:
            chunks = list(self.server.app(environ, start_response))
        except ConnectionError as exc:  # dropped on purpose (drop_rate): no answer
            self.close_connection = True
            self.connection_dropped(exc, environ)
            return
        except Exception:
            self.close_connection = True
            raise
        status, headers = started
        code, _, reason = status.partition(" ")
        self.send_response(int(code), reason)
        for key, value in headers:
            self.send_header(key, value)
        # Head and body in one write: two small writes on a kept-alive connection meet
        # Nagle's algorithm and the client's delayed ACK (~10 ms a call on loopback).
        self._headers_buffer.append(b"\r\n")
        self._headers_buffer.extend(chunks)
        self.flush_headers()

    def _body_length(self) -> int | None:
        """The request's body length if the connection may stay open after it, else None."""
        if self.request_version != "HTTP/1.1" or getattr(self.server, "stopping", False):
            return None
        headers = self.headers
        if (headers.get("Connection", "").lower() == "close" or "Transfer-Encoding" in headers
                or "Expect" in headers):
            return None
        declared = headers.get("Content-Length", "0").strip()
        knobs = getattr(self.server.app, "knobs", None)
        limit = getattr(knobs, "max_body", 0)
        if not declared.isdigit() or int(declared) > limit:
            return None
        return int(declared)

    def handle_one_request(self) -> None:
        # The socket timeout bounds each read; a client trickling its request a byte at
        # a time would pass it forever. The deadline bounds the whole request: waiting
        # for it, reading it, answering it.
        deadlines = getattr(self.server, "deadlines", None)
        if deadlines is None:
            super().handle_one_request()
            return
        deadlines.arm(self.connection, self.server.request_deadline)  # type: ignore[attr-defined]
        try:
            super().handle_one_request()
        finally:
            deadlines.disarm(self.connection)


class _Deadlines:
    """One thread per server that shuts the sockets of requests past their deadline."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.due: dict[socket.socket, float] = {}
        self.closed = False
        self.thread: threading.Thread | None = None

    def arm(self, sock: socket.socket, seconds: float) -> None:
        with self.cond:
            self.due[sock] = time.monotonic() + seconds
            if self.thread is None and not self.closed:
                self.thread = threading.Thread(target=self._run, name="sandbox-deadlines",
                                               daemon=True)
                self.thread.start()
            self.cond.notify()

    def disarm(self, sock: socket.socket) -> None:
        with self.cond:
            self.due.pop(sock, None)

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify()
        if self.thread is not None:
            self.thread.join(timeout=5)

    def _run(self) -> None:
        with self.cond:
            while not self.closed:
                now = time.monotonic()
                for sock, due in list(self.due.items()):
                    if due <= now:
                        del self.due[sock]
                        log.debug("request deadline passed: closing the connection")
                        with contextlib.suppress(OSError):
                            sock.shutdown(socket.SHUT_RDWR)
                nearest = min(self.due.values(), default=None)
                self.cond.wait(None if nearest is None else max(0.0, nearest - now))


BUSY = (
    b'{"status": "error", "message": "the sandbox has too many connections open; '
    b'try again later"}'
)


class _Server(ThreadedWSGIServer):
    """werkzeug's threaded server with a cap on connections at once and a request deadline.

    One thread per connection: without a cap, a client opening connections and
    saying nothing would make the sandbox start threads without end. Past the
    cap a connection gets an immediate HTTP 503 (the client's retry path), not
    a thread.
    """

    def __init__(self, host: str, port: int, app: Any, *, max_connections: int,
                 request_deadline: float):
        # Set before binding: a port in use makes werkzeug call server_close() at once.
        self.slots = threading.BoundedSemaphore(max_connections)
        self.request_deadline = request_deadline
        self.deadlines = _Deadlines()
        self.stopping = False
        self.accepted = 0
        super().__init__(host, port, app, _QuietHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        self.accepted += 1  # connections, not requests: a kept-alive one serves many
        if not self.slots.acquire(blocking=False):
            log.debug("too many connections: answering 503")
            with contextlib.suppress(OSError):
                request.settimeout(1)
                request.sendall(
                    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                    b"Connection: close\r\nContent-Length: " + str(len(BUSY)).encode()
                    + b"\r\n\r\n" + BUSY
                )
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    def server_close(self) -> None:
        self.stopping = True  # a kept-alive connection gets no more answers
        super().server_close()
        self.deadlines.close()


class _Knob:
    """A server attribute that reads and writes ``server.knobs.<name>``."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        return getattr(obj.knobs, self.name)

    def __set__(self, obj: Any, value: Any) -> None:
        setattr(obj.knobs, self.name, value)


class SandboxServer:
    """A local Beebole API v2 over a SQLite file (or ``":memory:"``)."""

    latency_ms = _Knob()
    error_rate = _Knob()
    error_after_rate = _Knob()
    drop_rate = _Knob()
    quota_requests = _Knob()
    quota_kb = _Knob()
    job_polls = _Knob()
    job_seconds = _Knob()
    job_error = _Knob()

    def __init__(
        self,
        db: str | os.PathLike[str] = ":memory:",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        seed_file: str | os.PathLike[str] | None = None,
        latency_ms: float = 0,
        error_rate: float = 0.0,
        drop_rate: float = 0.0,
        seed: int | None = None,
        quota_requests: int = 4000,
        quota_kb: int = 2048,
        error_after_rate: float = 0.0,
        job_polls: int = 1,
        job_seconds: float | None = 2.0,
        request_deadline: float = 30.0,
        max_connections: int = 256,
    ):
        seed_data = load_seed(seed_file) if seed_file is not None else None
        self.db = os.fspath(db)
        self.store = Store(db)
        self.knobs = Knobs(
            latency_ms=latency_ms,
            error_rate=error_rate,
            error_after_rate=error_after_rate,
            drop_rate=drop_rate,
            quota_requests=quota_requests,
            quota_kb=quota_kb,
            job_polls=job_polls,
            job_seconds=job_seconds,
        )
        self.token: str = token if token else self.store.token()
        self.app = SandboxApp(self.store, self.token, self.knobs, random.Random(seed))
        if self.store.created:
            self._populate(seed_data, seed_file)
        elif seed_data is not None:
            log.warning("sandbox: %s already exists; the seed file %s is not applied again",
                        self.db, seed_file)
        self.host = host
        self.port = port
        self.request_deadline = request_deadline
        self.max_connections = max_connections
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:  # never show the token
        return f"SandboxServer({self.db!r}, port={self.port})"

    def _populate(self, seed: dict[str, Any] | None, seed_file: Any) -> None:
        source = str(seed_file) if seed_file is not None else "defaults"
        try:
            fields = (seed or {}).get("customFields", DEFAULT_CUSTOM_FIELDS)
            with self.store.transaction() as db:
                db.executemany("INSERT INTO custom_field (id, name, available_for) "
                               "VALUES (?, ?, ?)", custom_field_rows(fields, source))
            for i, call in enumerate((seed or {}).get("calls") or []):
                if not isinstance(call, dict) or not isinstance(call.get("service"), str):
                    raise ConfigError(f"{source}: calls[{i}] must be a mapping with a service")
                try:
                    self.app.dispatch(call["service"], call)
                except ServiceError as exc:
                    raise ConfigError(f"{source}: calls[{i}] failed: {exc}") from None
        except BaseException:
            # A half-seeded database would be reused silently next time: remove it.
            self.store.close()
            if not self.store.in_memory:
                for suffix in ("", "-wal", "-shm"):
                    Path(self.db + suffix).unlink(missing_ok=True)
            raise

    # -- serving ---------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the sandbox is not started: call start() first")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/api/v2"

    def start(self) -> SandboxServer:
        if self._server is not None:
            return self
        self._server = _Server(self.host, self.port, self.app,
                               max_connections=self.max_connections,
                               request_deadline=self.request_deadline)
        self.port = self._server.server_port
        # A short poll interval: stop() waits for it, and tests start hundreds of sandboxes.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        name=f"sandbox:{self.port}", daemon=True)
        self._thread.start()
        log.info("sandbox: serving %s over %s", self.url, self.db)
        return self

    def stop(self) -> None:
        if self._server is not None:
            stopper = threading.Thread(target=self._server.shutdown)
            stopper.start()
            # Wake the serving loop now rather than at its next poll.
            with contextlib.suppress(OSError):
                socket.create_connection((self.host, self.port), timeout=1).close()
            stopper.join()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=10)
            self._server = None
            self._thread = None
        self.store.close()

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (the CLI's ``serve``)."""
        self.start()
        assert self._thread is not None
        try:
            while self._thread.is_alive():
                self._thread.join(timeout=0.5)
        finally:
            self.stop()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- test hooks --------------------------------------------------------------

    @property
    def calls(self) -> Counter[str]:
        """Requests that reached the app, per service (errors included)."""
        return self.app.calls

    @property
    def connections(self) -> int:
        """TCP connections accepted so far (a kept-alive connection serves many calls)."""
        return self._server.accepted if isinstance(self._server, _Server) else 0

    def reset_calls(self) -> None:
        self.app.reset_calls()

    def advance_day(self, days: int = 1) -> None:
        """Move the sandbox's UTC day forward: the daily quotas start afresh."""
        self.app.day_offset += days

    def advance_clock(self, seconds: float) -> None:
        """Move the sandbox's clock on (export jobs age), without waiting."""
        self.app.clock_offset += seconds

    @property
    def internal_errors(self) -> int:
        """Requests answered HTTP 500 because of a bug in the sandbox (not injected faults)."""
        return self.app.internal_errors

    @property
    def client_disconnects(self) -> int:
        """Requests whose client went away before sending its whole body (not a sandbox fault)."""
        return self.app.client_disconnects
