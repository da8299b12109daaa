"""The daily quota ledger: what this machine spent today, per token, in the cache.

Beebole counts requests and KB per user (token) and UTC day; the ledger is
beeplan's own count of it, shared by every process of this machine through
a locked file (cachefile.py). ``Usage`` counts one client's calls.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import cachefile

log = logging.getLogger("beeplan.api")  # as when it was part of the client

# API v2's daily quota, the ledger's default budget (docs/architecture.md, Quota).
DAILY_REQUESTS = 4000
DAILY_KB = 2048


def token_key(token: str) -> str:
    """A stable, non-reversible name for a token: the ledger's file name.

    Beebole's quota is per user (token) and day, whatever the URL, so the
    endpoint is not part of it (the embedded sandbox's port changes per run).
    """
    return hashlib.sha256(f"beeplan-ledger\0{token}".encode()).hexdigest()[:24]


def utc_today() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d")


@dataclass
class Usage:
    """Requests and bytes (sent + received) per service."""

    requests: Counter[str] = field(default_factory=Counter)
    bytes: Counter[str] = field(default_factory=Counter)

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())

    @property
    def total_bytes(self) -> int:
        return sum(self.bytes.values())


class Ledger:
    """Today's spend for one token, persisted under the user cache dir.

    Beebole does not report the remaining quota, so beeplan keeps its own
    count. It only knows the calls made by beeplan on this machine; the
    message that quotes it says so. Several beeplan processes may share it:
    each adds what it spent since its last save to the file's count, under
    the file's lock (cachefile.py), so none overwrites another's calls.
    """

    def __init__(self, path: Path | None):
        self.path = path
        self.lock = threading.Lock()
        self.day = utc_today()
        self.requests = 0  # today's count: the file's at the last save, plus unsaved
        self.bytes = 0
        self.unsaved_requests = 0
        self.unsaved_bytes = 0
        if path is not None:
            try:
                with cachefile.locked(path):
                    self.requests, self.bytes = self._read()
            except OSError as exc:
                log.warning("could not read the quota ledger: %s", exc)

    def _read(self) -> tuple[int, int]:
        """Today's (requests, bytes) in the file; a file of the wrong shape is set aside."""
        assert self.path is not None
        try:
            data = cachefile.read_json(self.path)
        except FileNotFoundError:
            return 0, 0
        except ValueError as exc:
            cachefile.set_aside(self.path, "quota ledger", str(exc))
            return 0, 0
        problem = _ledger_problem(data)
        if problem:
            cachefile.set_aside(self.path, "quota ledger", problem)
            return 0, 0
        if data["day"] != self.day:
            return 0, 0
        return data["requests"], data["bytes"]

    def add(self, requests_: int, bytes_: int) -> None:
        with self.lock:
            today = utc_today()
            if today != self.day:
                self.day, self.requests, self.bytes = today, 0, 0
                self.unsaved_requests = self.unsaved_bytes = 0
            self.requests += requests_
            self.bytes += bytes_
            self.unsaved_requests += requests_
            self.unsaved_bytes += bytes_
            if self.unsaved_requests >= 25:
                self._save()

    def save(self) -> None:
        with self.lock:
            self._save()

    def _save(self) -> None:
        if self.path is None:
            self.unsaved_requests = self.unsaved_bytes = 0
            return
        try:
            with cachefile.locked(self.path):
                requests_, bytes_ = self._read()
                requests_ += self.unsaved_requests
                bytes_ += self.unsaved_bytes
                cachefile.write_json(
                    self.path, {"day": self.day, "requests": requests_, "bytes": bytes_}
                )
        except OSError as exc:
            log.warning("could not save the quota ledger: %s", exc)
            return  # kept unsaved: the next save adds it
        self.requests, self.bytes = requests_, bytes_
        self.unsaved_requests = self.unsaved_bytes = 0


def _ledger_problem(data: Any) -> str | None:
    if not isinstance(data, dict):
        return "not a JSON object"
    if not isinstance(data.get("day"), str):
        return 'no "day"'
    for key in ("requests", "bytes"):
        value = data.get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            return f'"{key}" is not a whole number'
        if value < 0:
            return f'"{key}" is negative'
    return None


@dataclass(frozen=True)
class Quota:
    requests: int = DAILY_REQUESTS
    kb: int = DAILY_KB
