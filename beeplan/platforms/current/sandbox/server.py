"""``CurrentSandboxServer``: the current-platform emulator over real HTTP on loopback.

    with CurrentSandboxServer() as server:
        requests.post(server.url, json={"query": "{ currentPerson { id } }"},
                      headers={"apikey": server.token})

Knobs are attributes, changeable while it runs: ``server.error_rate = 0.5``.
"""

from __future__ import annotations

import logging
import os
import random
import secrets
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
                 seed: int | None = None, **knobs: Any):
        self.store = Store(str(db))
        ensure_account(self.store)
        self.token = token or secrets.token_urlsafe(24)
        self.knobs = Knobs(**knobs)
        self.app = CurrentSandboxApp(self.store, self.token, self.knobs, random.Random(seed))
        if demo:
            seed_demo(self.app)
        self._server = ThreadedWSGIServer(host, port, self.app, _QuietHandler)
        self._server.daemon_threads = True
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
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.store.close()

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

    def person_id(self) -> str:
        """The id of the person the token belongs to."""
        return self.store.meta("person") or ""
