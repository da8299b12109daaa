"""``CurrentSandboxServer``: the current-platform emulator over real HTTP on loopback.

    with CurrentSandboxServer() as server:
        requests.post(server.url, json={"query": "{ currentPerson { id } }"},
                      headers={"apikey": server.token})

Knobs are attributes, changeable while it runs: ``server.error_rate = 0.5``.
Serving (the thread, keep-alive, the connection cap, the request deadline) is
the sandboxes' shared core: ``beeplan.sandboxcore.HTTPSandbox``.
"""

from __future__ import annotations

import json
import os
import random
import secrets
from typing import Any

from ....sandboxcore import BUSY_MESSAGE, HTTPSandbox, Knob
from .app import PATH, CurrentSandboxApp, Knobs
from .seed import ensure_account, seed_demo
from .store import Store


class CurrentSandboxServer(HTTPSandbox):
    """A local Beebole current platform (GraphQL) over a SQLite file (or ``":memory:"``).

    The file may also hold the API v2 sandbox's store (distinct tables): one
    file is one sandbox of both platforms (``beeplan sandbox serve``).
    """

    path = PATH
    busy = json.dumps({"data": None, "errors": [{"message": BUSY_MESSAGE}]}).encode("utf-8")
    log_name = "beeplan.sandbox.current.http"

    # latency_ms, error_rate, error_after_rate, drop_rate: HTTPSandbox's, like every sandbox
    inactive = Knob()
    audit_trail = Knob()
    denied = Knob()

    def __init__(self, db: str | os.PathLike[str] = ":memory:", *, host: str = "127.0.0.1",
                 port: int = 0, token: str | None = None, demo: bool = False,
                 seed: int | None = None, max_connections: int = 256,
                 request_deadline: float = 30.0, **knobs: Any):
        super().__init__(host=host, port=port, max_connections=max_connections,
                         request_deadline=request_deadline)
        self.knobs = Knobs(**knobs)  # first: an unknown knob is refused before the file opens
        self.db = os.fspath(db)
        self.store = Store(self.db)
        try:
            ensure_account(self.store)
            self.token = token or self._kept_token()
            self.app = CurrentSandboxApp(self.store, self.token, self.knobs,
                                         random.Random(seed))
            if demo:
                seed_demo(self.app)
        except BaseException:
            self.store.close()
            raise

    def _kept_token(self) -> str:
        """The database's own key, made up once, as API v2's sandbox keeps its token: what
        beeplan keeps per key (a saved plan's binding, the apply journal, what it applied)
        carries over from one ``--endpoint sandbox:FILE`` run to the next."""
        kept = self.store.meta("apikey")
        if kept is None:
            kept = secrets.token_urlsafe(24)
            self.store.set_meta("apikey", kept)
        return kept

    def __repr__(self) -> str:  # never show the token
        return f"CurrentSandboxServer({self.db!r}, port={self.port})"

    def close(self) -> None:
        self.store.close()

    @property
    def requests(self) -> int:
        return self.app.requests

    @property
    def bytes(self) -> int:
        return self.app.bytes_in + self.app.bytes_out

    @property
    def calls(self) -> Any:
        return self.app.calls

    @property
    def internal_errors(self) -> int:
        """Requests answered HTTP 500 because of a bug in the sandbox (not injected faults)."""
        return self.app.internal_errors

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
