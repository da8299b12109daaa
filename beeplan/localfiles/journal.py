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

The current platform's apply keeps here too, under keys starting
``pending-create ``, each create sent but not yet labelled with its xid, so
the next apply adopts what a stopped one made (``platforms/current/apply.py``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from pathlib import Path

from ..platforms.base import Client
from . import cachefile
from .cachefile import cache_dir

log = logging.getLogger("beeplan.journal")


class Journal:
    """The owed entities of one token; every change is read-modify-write under the file lock.

    So two applies sharing a cache dir each keep the other's entries.
    """

    def __init__(self, path: Path | None):
        self.path = path
        self.lock = threading.Lock()
        self.keys: set[str] = set()
        if path is not None:
            try:
                with cachefile.locked(path):
                    self.keys = self._read()
            except OSError as exc:
                log.warning("could not read the journal %s: %s", path, exc)

    @classmethod
    def for_client(cls, client: Client) -> Journal:
        return cls.for_account(client.account_key)

    @classmethod
    def for_account(cls, account_key: str) -> Journal:
        """The journal of the account a client's ``account_key`` names (never the token)."""
        return cls(cache_dir() / "journal" / f"{account_key}.json")

    def owed(self) -> frozenset[str]:
        with self.lock:
            return frozenset(self.keys)

    def add(self, keys: Iterable[str]) -> None:
        self._update(set(keys), set())

    def settle(self, keys: Iterable[str]) -> None:
        self._update(set(), set(keys))

    def _read(self) -> set[str]:
        assert self.path is not None
        try:
            data = cachefile.read_json(self.path)
        except FileNotFoundError:
            return set()
        except ValueError as exc:
            cachefile.set_aside(self.path, "journal", str(exc))
            return set()
        owed = data.get("owed") if isinstance(data, dict) else None
        if not isinstance(owed, list) or not all(isinstance(k, str) for k in owed):
            cachefile.set_aside(self.path, "journal", '"owed" is not a list of entity keys')
            return set()
        return set(owed)

    def _update(self, added: set[str], settled: set[str]) -> None:
        with self.lock:
            if self.path is None:
                self.keys = (self.keys | added) - settled
                return
            try:
                with cachefile.locked(self.path):
                    current = self._read()
                    wanted = (current | added) - settled
                    if wanted != current:
                        cachefile.write_json(self.path, {"owed": sorted(wanted)})
            except OSError as exc:
                log.warning("could not save the journal %s: %s", self.path, exc)
                self.keys = (self.keys | added) - settled
                return
            self.keys = wanted
