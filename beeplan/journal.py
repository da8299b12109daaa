"""What an apply still owes: entities it created that its plan also deactivates.

The API cannot create an entity inactive, so a manifest entry declared
``active: false`` costs a create, then a deactivate. If an apply stops
between the two (quota, Ctrl-C, a kill), the re-run must deactivate an
entity that is live and active, which the safety threshold would count as
destruction and refuse. The journal remembers such entities, per token next
to the quota ledger, until their deactivation is applied, so the planner can
tell "finish what beeplan started" from "destroy what exists".

It is written before the create is sent, so a kill at any moment leaves it
covering the entity. It only relaxes the threshold for entities beeplan
created on this machine; elsewhere the re-run asks for --allow-destroy.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterable
from pathlib import Path

from .client import BeeboleClient, cache_dir

log = logging.getLogger("beeplan.journal")


class Journal:
    def __init__(self, path: Path | None):
        self.path = path
        self.lock = threading.Lock()
        self.keys: set[str] = set()
        if path is not None and path.exists():
            try:
                self.keys = set(json.loads(path.read_text()).get("owed", []))
            except (OSError, ValueError, AttributeError):
                log.warning("ignoring an unreadable journal %s", path)

    @classmethod
    def for_client(cls, client: BeeboleClient) -> Journal:
        return cls(cache_dir() / "journal" / f"{client.account_key}.json")

    def owed(self) -> frozenset[str]:
        with self.lock:
            return frozenset(self.keys)

    def add(self, keys: Iterable[str]) -> None:
        with self.lock:
            before = len(self.keys)
            self.keys.update(keys)
            if len(self.keys) != before:
                self._save()

    def settle(self, keys: Iterable[str]) -> None:
        with self.lock:
            before = len(self.keys)
            self.keys.difference_update(keys)
            if len(self.keys) != before:
                self._save()

    def _save(self) -> None:
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_text(json.dumps({"owed": sorted(self.keys)}))
            tmp.replace(self.path)
        except OSError as exc:
            log.warning("could not save the journal %s: %s", self.path, exc)
