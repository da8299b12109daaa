"""What every platform's sandbox shares: serving over HTTP on loopback, and the database file.

Each platform's emulator (``beeplan/platforms/*/sandbox/``) is a WSGI app over a
store; this module serves such apps, one or several on one port:

- ``HTTPSandbox``: the base of a platform's server (``SandboxServer``,
  ``CurrentSandboxServer``): a thread, a cap on connections, a deadline per
  request, HTTP/1.1 keep-alive, a request log that never chatters.
- ``JointSandbox``: several platforms' apps on one port, each at its own path,
  one token (``beeplan sandbox serve``).
- ``FaultKnobs`` and ``Knob``: the fault knobs every sandbox has, as attributes
  of a running server.
- ``claim_file`` and ``mark_file``: the rule for the SQLite file, which holds
  the stores of several platforms side by side (distinct tables): another
  program's database is never written to.

It names no platform: the registry (``beeplan/platforms``) puts them together.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
import socket
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

from .errors import ConfigError

log = logging.getLogger("beeplan.sandbox")

_SURROGATE = re.compile("[\ud800-\udfff]")


def has_lone_surrogate(doc: Any) -> bool:
    """Whether a string (key or value) anywhere in a parsed JSON document holds a lone
    surrogate: valid JSON syntax (``"\\ud800"``), but not Unicode text anything can store."""
    stack = [doc]
    while stack:  # iterative: documents may be nested up to the parser's limit
        value = stack.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                return True
        elif isinstance(value, dict):
            stack.extend(value)
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return False


def drop_connection(environ: Mapping[str, Any]) -> NoReturn:
    """Close the request's connection without an answer (the ``drop_rate`` fault).

    werkzeug, and the keep-alive handler here, treat a ConnectionError from the
    app as "the client went away": no answer, no log line.
    """
    sock = environ.get("werkzeug.socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    raise ConnectionAbortedError("sandbox: dropped on purpose (drop_rate)")


# -- knobs -------------------------------------------------------------------------


@dataclass
class FaultKnobs:
    """The fault knobs of every sandbox. Plain attributes: tests change them on a running server."""

    latency_ms: float = 0.0
    error_rate: float = 0.0  # HTTP 500 before doing the work
    error_after_rate: float = 0.0  # do the work, then HTTP 500: the "lost answer"
    drop_rate: float = 0.0  # close the connection without an answer (before the work)
    max_body: int = 1024 * 1024  # a larger request body is refused (and ends keep-alive)


# The knobs ``beeplan sandbox serve`` sets on every platform's sandbox alike.
SHARED_KNOBS = ("latency_ms", "error_rate", "error_after_rate", "drop_rate")


class Knob:
    """A server attribute that reads and writes ``server.knobs.<name>``."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        return getattr(obj.knobs, self.name)

    def __set__(self, obj: Any, value: Any) -> None:
        setattr(obj.knobs, self.name, value)


class SharedKnobs:
    """Several sandboxes' knobs as one: a knob set here is set on each that has it."""

    def __init__(self, knobs: Sequence[Any]):
        object.__setattr__(self, "_all", tuple(knobs))

    def __getattr__(self, name: str) -> Any:
        for knobs in self._all:
            if hasattr(knobs, name):
                return getattr(knobs, name)
        raise AttributeError(name)

    def __setattr__(self, name: str, value: Any) -> None:
        owners = [knobs for knobs in self._all if hasattr(knobs, name)]
        if not owners:
            raise AttributeError(f"no sandbox has the knob {name!r}")
        for knobs in owners:
            setattr(knobs, name, value)


# -- the database file -------------------------------------------------------------

# A file holding any platform's store lists the platforms in this table. Files made
# before it existed are API v2's alone, recognised by v2's own mark.
_MARK_TABLE = "sandbox_platforms"
_LEGACY_MARK = "SELECT 1 FROM meta WHERE key = 'created'"


def claim_file(path: str) -> bool:
    """Make ``path`` ready for a sandbox store; whether it is new (or ``:memory:``).

    A sandbox adds its tables to whatever SQLite file it opens: pointed at
    another program's database by mistake (``sandbox:app.db``), it would change
    it. An existing file is opened read-only first and refused unless a sandbox
    made it, so nothing is written to such a file. A new file is created
    readable by its owner only: it holds the token.
    """
    if path in (":memory:", ""):
        return True
    file = Path(path)
    if not file.exists() or (file.is_file() and file.stat().st_size == 0):
        file.touch(mode=0o600)  # an empty file (made with touch) holds nothing to protect
        return True
    try:
        conn = sqlite3.connect(f"{file.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise ConfigError(f"{path} is not a usable sandbox database: {exc}") from None
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master "
                                                  "WHERE type = 'table'")}
        marked = _MARK_TABLE in tables or (
            "meta" in tables and "entity" in tables
            and conn.execute(_LEGACY_MARK).fetchone() is not None)
    except sqlite3.DatabaseError as exc:
        raise ConfigError(f"{path} is not a usable sandbox database: {exc}") from None
    finally:
        conn.close()
    if not marked:
        raise ConfigError(
            f"{path} is an SQLite database but not a beeplan sandbox: refusing to add the "
            "sandbox's tables to it. Name a new file (it is created) or a sandbox database."
        )
    return False


def mark_file(conn: sqlite3.Connection, platform: str) -> None:
    """Record in the file that it holds ``platform``'s store (``claim_file`` then accepts it)."""
    conn.execute(f"CREATE TABLE IF NOT EXISTS {_MARK_TABLE} (platform TEXT PRIMARY KEY)")
    conn.execute(f"INSERT OR IGNORE INTO {_MARK_TABLE} (platform) VALUES (?)", (platform,))


# -- HTTP ----------------------------------------------------------------------------


class Routes:
    """One WSGI app over several, by path: each platform's API at its own path."""

    def __init__(self, apps: Mapping[str, Any], not_found: bytes):
        self.apps = dict(apps)
        self.not_found = not_found

    def app_for(self, path: str) -> Any:
        """The app serving a request path (query string allowed), or None."""
        path = path.partition("?")[0]
        return self.apps.get(path.rstrip("/") or "/")

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        app = self.app_for(environ.get("PATH_INFO", ""))
        if app is not None:
            return app(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "application/json; charset=utf-8"),
                                         ("Content-Length", str(len(self.not_found)))])
        return [self.not_found]


class _Handler(WSGIRequestHandler):
    """werkzeug's handler with keep-alive, a deadline per request and a quiet log.

    The request line holds no secret (the token travels in a header that is
    never logged), but a serving sandbox must not chatter on stderr: the log
    goes to the server's logger at debug level.
    """

    timeout = 60  # a client that connects and says nothing must not pin a thread forever
    # HTTP/1.1 so a client's connection serves many calls (issue 24: a new TCP connection
    # per call cost both sides CPU). An idle connection is closed by the request deadline.
    protocol_version = "HTTP/1.1"

    def log(self, type: str, message: str, *args: Any) -> None:
        logging.getLogger(getattr(self.server, "log_name", "beeplan.sandbox.http")).debug(
            message, *args)

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The Date header on the sandbox's own clock (``advance_clock``), as a real
        server's is on its: a client that measures the API's time by it sees the sandbox's."""
        # An error answered before the request line was read has no path: the server's app.
        target = self._target() if hasattr(self, "path") else self.server.app
        clock = getattr(target, "clock", None)
        if timestamp is None and callable(clock):
            timestamp = clock()
        return super().date_time_string(timestamp)

    def _target(self) -> Any:
        """The app that will answer this request (one of several on a joint server)."""
        app = self.server.app
        app_for = getattr(app, "app_for", None)
        return app_for(self.path) if app_for is not None else app

    def run_wsgi(self) -> None:
        """Answer one request, keeping the connection open when that is safe.

        werkzeug closes every connection: it cannot tell where a request's body
        ends, so it drains the socket after each answer. Here a request with a
        Content-Length within the sandbox's body limit is read whole first, so
        the connection is at the next request's start and may stay open. Anything
        else (no length, a larger body, chunked, ``Connection: close``, HTTP/1.0,
        an unknown path, a sandbox being stopped) gets werkzeug's answer-and-close.
        """
        target = self._target()
        length = self._body_length(target)
        if length is None:
            super().run_wsgi()
            return
        body = self.rfile.read(length) if length else b""
        if len(body) < length:  # the client went away mid-body: nothing to answer
            self.close_connection = True
            went_away = getattr(target, "client_went_away", None)
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

    def _body_length(self, target: Any) -> int | None:
        """The request's body length if the connection may stay open after it, else None."""
        if (target is None or self.request_version != "HTTP/1.1"
                or getattr(self.server, "stopping", False)):
            return None
        headers = self.headers
        if (headers.get("Connection", "").lower() == "close" or "Transfer-Encoding" in headers
                or "Expect" in headers):
            return None
        declared = headers.get("Content-Length", "0").strip()
        limit = getattr(getattr(target, "knobs", None), "max_body", 0)
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


class _Server(ThreadedWSGIServer):
    """werkzeug's threaded server with a cap on connections at once and a request deadline.

    One thread per connection: without a cap, a client opening connections and
    saying nothing would make the sandbox start threads without end. Past the
    cap a connection gets an immediate HTTP 503 (the client's retry path), not
    a thread.
    """

    def __init__(self, host: str, port: int, app: Any, *, max_connections: int,
                 request_deadline: float, busy: bytes, log_name: str):
        # Set before binding: a port in use makes werkzeug call server_close() at once.
        self.slots = threading.BoundedSemaphore(max_connections)
        self.request_deadline = request_deadline
        self.deadlines = _Deadlines()
        self.busy = busy
        self.log_name = log_name
        self.stopping = False
        self.accepted = 0
        self.refused = 0
        super().__init__(host, port, app, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        self.accepted += 1  # connections, not requests: a kept-alive one serves many
        if not self.slots.acquire(blocking=False):
            self.refused += 1
            log.debug("too many connections: answering 503")
            with contextlib.suppress(OSError):
                request.settimeout(1)
                request.sendall(
                    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                    b"Connection: close\r\nContent-Length: " + str(len(self.busy)).encode()
                    + b"\r\n\r\n" + self.busy
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


S = TypeVar("S", bound="HTTPSandbox")

BUSY_MESSAGE = "the sandbox has too many connections open; try again later"


class HTTPSandbox:
    """A sandbox served on loopback in a daemon thread: the base of each platform's server.

    A subclass sets ``app`` (the WSGI app; its ``knobs.max_body`` bounds the
    bodies read for keep-alive), ``path`` (where its API answers), ``busy`` (the
    503 body in its API's error shape) and ``close()`` (release its store).
    ``start()`` binds the port; ``stop()`` stops serving and calls ``close()``.
    """

    # The fault knobs every sandbox has (its ``knobs`` is a ``FaultKnobs``), as attributes.
    latency_ms = Knob()
    error_rate = Knob()
    error_after_rate = Knob()
    drop_rate = Knob()

    path = ""
    busy = b""
    log_name = "beeplan.sandbox.http"
    app: Any
    knobs: Any
    token: str
    db = ":memory:"

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, max_connections: int = 256,
                 request_deadline: float = 30.0):
        self.host = host
        self.port = port
        self.max_connections = max_connections
        self.request_deadline = request_deadline
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def close(self) -> None:
        """Release what the sandbox holds (its store); serving has stopped."""

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the sandbox is not started: call start() first")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def url(self) -> str:
        return self.base_url + self.path

    def start(self: S) -> S:
        if self._server is not None:
            return self
        self._server = _Server(self.host, self.port, self.app,
                               max_connections=self.max_connections,
                               request_deadline=self.request_deadline, busy=self.busy,
                               log_name=self.log_name)
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
        self.close()

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (the CLI's ``serve``)."""
        self.start()
        assert self._thread is not None
        try:
            while self._thread.is_alive():
                self._thread.join(timeout=0.5)
        finally:
            self.stop()

    def __enter__(self: S) -> S:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def connections(self) -> int:
        """TCP connections accepted so far (a kept-alive connection serves many calls)."""
        return self._server.accepted if self._server is not None else 0

    @property
    def refused(self) -> int:
        """Connections answered 503 because the cap was reached."""
        return self._server.refused if self._server is not None else 0


class JointSandbox(HTTPSandbox):
    """Several platforms' sandboxes on one port, each at its own path, sharing one token.

    The parts are made (not started) by their platforms over the same database
    file; this serves their apps and closes their stores when it stops. A knob
    set here (``joint.error_rate = 0.1``) is set on every part that has it.
    """

    def __init__(self, parts: Sequence[HTTPSandbox], *, host: str = "127.0.0.1", port: int = 0,
                 max_connections: int = 256, request_deadline: float = 30.0):
        if not parts:
            raise ValueError("a joint sandbox needs at least one part")
        super().__init__(host=host, port=port, max_connections=max_connections,
                         request_deadline=request_deadline)
        self.parts = tuple(parts)
        self.db = parts[0].db
        self.token = parts[0].token
        paths = " or ".join(f"POST {part.path}" for part in self.parts)
        self.app = Routes({part.path: part.app for part in self.parts},
                          _error_body(f"no such endpoint: the APIs are {paths}"))
        self.knobs = SharedKnobs([part.knobs for part in self.parts])
        # Past the cap the path is not read yet: one body in both platforms' error shapes.
        self.busy = _error_body(BUSY_MESSAGE)

    def __repr__(self) -> str:  # never show the token
        return f"JointSandbox({self.db!r}, port={self.port})"

    def url_of(self, part: HTTPSandbox) -> str:
        return self.base_url + part.path

    def close(self) -> None:
        for part in self.parts:
            part.stop()


def _error_body(message: str) -> bytes:
    """An error answer both APIs' clients read as one: v2's status/message, GraphQL's errors."""
    return json.dumps({"status": "error", "message": message, "data": None,
                       "errors": [{"message": message}]}).encode("utf-8")
