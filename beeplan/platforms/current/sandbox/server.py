"""``CurrentSandboxServer``: the current-platform emulator over real HTTP on loopback.

    with CurrentSandboxServer() as server:
        requests.post(server.url, json={"query": "{ currentPerson { id } }"},
                      headers={"apikey": server.token})

Knobs are attributes, changeable while it runs: ``server.error_rate = 0.5``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import secrets
import socket
import threading
from typing import Any

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

from .app import PATH, CurrentSandboxApp, Knobs
from .seed import ensure_account, seed_demo
from .store import Store


class _QuietHandler(WSGIRequestHandler):
    timeout = 60  # a client that connects and says nothing must not pin a thread forever

    def log(self, type: str, message: str, *args: Any) -> None:
        logging.getLogger("beeplan.sandbox.current.http").debug(message, *args)

    def handle_one_request(self) -> None:
        # The socket timeout bounds each read; a client trickling its request a byte at
        # a time would pass it forever. The deadline bounds the whole request.
        deadline = getattr(self.server, "request_deadline", None)
        if deadline is None:
            super().handle_one_request()
            return
        timer = threading.Timer(deadline, _shut, (self.connection,))
        timer.daemon = True
        timer.start()
        try:
            super().handle_one_request()
        finally:
            timer.cancel()


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


BUSY = (b'{"data": null, "errors": [{"message": "the sandbox has too many connections open; '
        b'try again later"}]}')


class _Server(ThreadedWSGIServer):
    """werkzeug's threaded server with a cap on connections at once and a request deadline.

    One thread per connection: without a cap, a client opening connections and
    saying nothing would make the sandbox start threads without end. Past the
    cap a connection gets an immediate HTTP 503, not a thread.
    """

    daemon_threads = True

    def __init__(self, host: str, port: int, app: Any, *, max_connections: int,
                 request_deadline: float):
        self.slots = threading.BoundedSemaphore(max_connections)
        self.request_deadline = request_deadline
        self.refused = 0
        super().__init__(host, port, app, _QuietHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.slots.acquire(blocking=False):
            self.refused += 1
            with contextlib.suppress(OSError):
                request.settimeout(1)
                request.sendall(
                    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                    b"Connection: close\r\nContent-Length: " + str(len(BUSY)).encode()
                    + b"\r\n\r\n" + BUSY)
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


class _Knob:
    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        return getattr(obj.knobs, self.name)

    def __set__(self, obj: Any, value: Any) -> None:
        setattr(obj.knobs, self.name, value)


class CurrentSandboxServer:
    """A local Beebole current platform (GraphQL) over a SQLite file (or ``":memory:"``)."""

    latency_ms = _Knob()
    error_rate = _Knob()
    error_after_rate = _Knob()
    drop_rate = _Knob()
    inactive = _Knob()
    audit_trail = _Knob()
    denied = _Knob()

    def __init__(self, db: str | os.PathLike[str] = ":memory:", *, host: str = "127.0.0.1",
                 port: int = 0, token: str | None = None, demo: bool = False,
                 seed: int | None = None, max_connections: int = 256,
                 request_deadline: float = 30.0, **knobs: Any):
        self.store = Store(str(db))
        ensure_account(self.store)
        self.token = token or secrets.token_urlsafe(24)
        self.knobs = Knobs(**knobs)
        self.app = CurrentSandboxApp(self.store, self.token, self.knobs, random.Random(seed))
        if demo:
            seed_demo(self.app)
        self._server = _Server(host, port, self.app, max_connections=max_connections,
                               request_deadline=request_deadline)
        self._host = host
        self._thread: threading.Thread | None = None
        self.url = f"http://{host}:{self._server.server_port}{PATH}"

    def __repr__(self) -> str:  # never show the token
        return f"CurrentSandboxServer(url={self.url!r})"

    def start(self) -> CurrentSandboxServer:
        # a short poll: stop() waits for it, and tests start and stop many servers
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        name="current-sandbox", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        stopper = threading.Thread(target=self._server.shutdown)
        stopper.start()
        with contextlib.suppress(OSError):  # wake the serving loop now, not at its next poll
            socket.create_connection((self._host, self._server.server_port), timeout=1).close()
        stopper.join()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.store.close()

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (for a command that serves it)."""
        self.start()
        assert self._thread is not None
        try:
            while self._thread.is_alive():
                self._thread.join(timeout=0.5)
        finally:
            self.stop()

    def __enter__(self) -> CurrentSandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def requests(self) -> int:
        return self.app.requests

    @property
    def bytes(self) -> int:
        return self.app.bytes_in + self.app.bytes_out

    @property
    def calls(self) -> Any:
        return self.app.calls

    def advance_clock(self, days: float) -> None:
        """Move the sandbox's clock on (audit trail windows, lastEdited)."""
        self.app.clock_offset_ms += int(days * 86400 * 1000)

    def key_for(self, person_id: str) -> str:
        """A new API key of another person of the account: their mutations are theirs
        (``lastEdited.by``, the audit trail), as when a colleague edits in Beebole."""
        return self.app.add_key(person_id)

    def person_id(self) -> str:
        """The id of the person the token belongs to."""
        return self.store.meta("person") or ""
