"""SQLite state of the current-platform sandbox: entities, relations, audit trail.

Entities are JSON documents keyed by an opaque id (24 hex characters, like the
real API's ids); references are kept as ``<field>Id`` / ``<field>Ids`` keys and
resolved when read, so a renamed or archived target shows at once everywhere.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from typing import Any

from ....errors import ConfigError
from ....sandboxcore import claim_file, mark_file

# Every table is named current_*: the file may hold the API v2 sandbox's store too
# (its own tables), so that one file is one sandbox of both platforms.
SCHEMA = """
CREATE TABLE IF NOT EXISTS current_entities (id TEXT PRIMARY KEY, kind TEXT NOT NULL,
                                             seq INTEGER, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS current_entities_kind ON current_entities (kind, seq);
CREATE TABLE IF NOT EXISTS current_relations (id TEXT PRIMARY KEY, kind TEXT NOT NULL,
    a_id TEXT NOT NULL, a_kind TEXT NOT NULL, b_id TEXT NOT NULL, b_kind TEXT NOT NULL,
    start_time INTEGER);
CREATE INDEX IF NOT EXISTS current_relations_a ON current_relations (a_id);
CREATE INDEX IF NOT EXISTS current_relations_b ON current_relations (b_id);
CREATE TABLE IF NOT EXISTS current_audit (seq INTEGER PRIMARY KEY AUTOINCREMENT,
    ts INTEGER NOT NULL, person TEXT NOT NULL, operation TEXT NOT NULL,
    arguments TEXT NOT NULL, response_id TEXT);
CREATE TABLE IF NOT EXISTS current_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

def new_id() -> str:
    return secrets.token_hex(12)


class Store:
    """One account's state. Every call holds the lock: requests run one at a time."""

    def __init__(self, path: str = ":memory:"):
        # Another program's database is refused untouched; a new file is made mode 0600.
        claim_file(path)
        # The API v2 sandbox may have the same file open (beeplan sandbox serve): each
        # waits up to 10 s for the other's write lock rather than failing at once.
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None,
                                  timeout=10)
        try:
            if path not in (":memory:", ""):
                self.db.execute("PRAGMA journal_mode=WAL")  # readers never wait for a writer
            self.db.executescript(SCHEMA)
            mark_file(self.db, "current")
        except sqlite3.DatabaseError as exc:
            self.db.close()
            raise ConfigError(f"{path} is not a usable sandbox database: {exc}") from None
        self.lock = threading.RLock()
        self._seq = self.db.execute(
            "SELECT COALESCE(MAX(seq), 0) FROM current_entities").fetchone()[0]

    def close(self) -> None:
        self.db.close()

    # -- transactions: a document's mutations run in order, each committed on its own
    def begin(self) -> None:
        # IMMEDIATE: the write lock is taken now, waiting for another connection's (the v2
        # store on the same file). A deferred BEGIN that read first could fail at its first
        # write, at once, if the other wrote in between.
        self.db.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self.db.execute("COMMIT")

    def rollback(self) -> None:
        self.db.execute("ROLLBACK")

    # -- meta
    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM current_meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO current_meta (key, value) VALUES (?, ?)",
                        (key, value))

    # -- entities
    def get(self, entity_id: Any) -> dict[str, Any] | None:
        if not isinstance(entity_id, str):
            return None
        row = self.db.execute("SELECT doc FROM current_entities WHERE id = ?",
                              (entity_id,)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def put(self, doc: dict[str, Any]) -> dict[str, Any]:
        if "id" not in doc:
            doc["id"] = new_id()
        self._seq += 1
        old = self.db.execute("SELECT seq FROM current_entities WHERE id = ?",
                              (doc["id"],)).fetchone()
        seq = old[0] if old else self._seq
        self.db.execute("INSERT OR REPLACE INTO current_entities (id, kind, seq, doc) "
                        "VALUES (?, ?, ?, ?)", (doc["id"], doc["__kind"], seq, json.dumps(doc)))
        return doc

    def delete(self, entity_id: str) -> None:
        self.db.execute("DELETE FROM current_entities WHERE id = ?", (entity_id,))
        self.db.execute("DELETE FROM current_relations WHERE a_id = ? OR b_id = ?",
                        (entity_id, entity_id))

    def all(self, kind: str) -> Iterator[dict[str, Any]]:
        for (doc,) in self.db.execute(
                "SELECT doc FROM current_entities WHERE kind = ? ORDER BY seq", (kind,)):
            yield dict(json.loads(doc))

    # -- relations: (kind, a, b); a is the manager for "manager", the tag for "tag"
    def relate(self, kind: str, a: dict[str, Any], b: dict[str, Any],
               start_time: int | None = None) -> dict[str, Any]:
        row = self.db.execute(
            "SELECT id, start_time FROM current_relations WHERE kind = ? AND a_id = ? AND b_id = ?",
            (kind, a["id"], b["id"])).fetchone()
        if row is None:  # assigning twice keeps one relation (the sandbox's choice)
            row = (new_id(), start_time)
            self.db.execute("INSERT INTO current_relations VALUES (?, ?, ?, ?, ?, ?, ?)",
                            (row[0], kind, a["id"], a["__kind"], b["id"], b["__kind"], start_time))
        return {"id": row[0], "kind": kind, "a": a, "b": b, "start_time": row[1]}

    def unrelate(self, kind: str, a_id: str, b_id: str) -> str | None:
        row = self.db.execute(
            "SELECT id FROM current_relations WHERE kind = ? AND a_id = ? AND b_id = ?",
            (kind, a_id, b_id)).fetchone()
        if row is None:
            return None
        self.db.execute("DELETE FROM current_relations WHERE id = ?", (row[0],))
        return str(row[0])

    def related(self, kind: str, entity_id: str, other_kind: str,
                side: str = "any") -> list[tuple[str, str, int | None]]:
        """(relation id, other entity id, start time) of ``entity_id``'s relations of ``kind``.

        ``side``: "a" when the entity is the relation's a side, "b", or "any".
        """
        out: list[tuple[str, str, int | None]] = []
        if side in ("a", "any"):
            out += self.db.execute(
                "SELECT id, b_id, start_time FROM current_relations WHERE kind = ? AND a_id = ? "
                "AND b_kind = ? ORDER BY rowid", (kind, entity_id, other_kind)).fetchall()
        if side in ("b", "any"):
            out += self.db.execute(
                "SELECT id, a_id, start_time FROM current_relations WHERE kind = ? AND b_id = ? "
                "AND a_kind = ? ORDER BY rowid", (kind, entity_id, other_kind)).fetchall()
        return out

    def copy_relations(self, source_id: str, copy_id: str) -> None:
        """Give ``copy_id`` every relation ``source_id`` has (a duplicated entity)."""
        rows = self.db.execute(
            "SELECT kind, a_id, a_kind, b_id, b_kind, start_time FROM current_relations "
            "WHERE a_id = ? OR b_id = ?", (source_id, source_id)).fetchall()
        for kind, a_id, a_kind, b_id, b_kind, start in rows:
            a_id = copy_id if a_id == source_id else a_id
            b_id = copy_id if b_id == source_id else b_id
            self.db.execute("INSERT INTO current_relations VALUES (?, ?, ?, ?, ?, ?, ?)",
                            (new_id(), kind, a_id, a_kind, b_id, b_kind, start))

    # -- audit trail
    def audit(self, ts: int, person: str, operation: str, arguments: dict[str, Any],
              response_id: str | None) -> None:
        self.db.execute(
            "INSERT INTO current_audit (ts, person, operation, arguments, response_id) "
            "VALUES (?, ?, ?, ?, ?)", (ts, person, operation, json.dumps(arguments), response_id))

    def audits(self, start: int, end: int) -> list[tuple[int, str, str, str, str | None]]:
        return list(self.db.execute(
            "SELECT ts, person, operation, arguments, response_id FROM current_audit "
            "WHERE ts >= ? AND ts < ? ORDER BY seq DESC", (start, end)))
