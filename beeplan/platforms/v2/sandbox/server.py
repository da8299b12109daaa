"""``SandboxServer``: the emulator served over real HTTP on loopback, in a daemon thread.

    with SandboxServer("demo.db") as server:
        client = BeeboleClient(server.url, server.token)

Knobs (latency, faults, quotas) are attributes, changeable while it runs:
``server.error_rate = 0.5`` (or ``server.knobs.error_rate``).
"""

from __future__ import annotations

import json
import logging
import os
import random
from collections import Counter
from pathlib import Path
from typing import Any

from ....errors import ConfigError
from ....sandboxcore import BUSY_MESSAGE, HTTPSandbox, Knob
from .app import PATH, Knobs, SandboxApp
from .request import ServiceError
from .seed import DEFAULT_CUSTOM_FIELDS, custom_field_rows, load_seed
from .store import Store

log = logging.getLogger("beeplan.sandbox")


class SandboxServer(HTTPSandbox):
    """A local Beebole API v2 over a SQLite file (or ``":memory:"``).

    Serving (the thread, keep-alive, the connection cap, the request deadline)
    is the sandboxes' shared core: ``beeplan.sandboxcore.HTTPSandbox``.
    """

    path = PATH
    busy = json.dumps({"status": "error", "message": BUSY_MESSAGE}).encode("utf-8")
    log_name = "beeplan.sandbox.http"

    # latency_ms, error_rate, error_after_rate, drop_rate: HTTPSandbox's, like every sandbox
    quota_requests = Knob()
    quota_kb = Knob()
    job_polls = Knob()
    job_seconds = Knob()
    job_error = Knob()

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
        super().__init__(host=host, port=port, max_connections=max_connections,
                         request_deadline=request_deadline)
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

    def close(self) -> None:
        self.store.close()

    # -- test hooks --------------------------------------------------------------

    @property
    def calls(self) -> Counter[str]:
        """Requests that reached the app, per service (errors included)."""
        return self.app.calls

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
