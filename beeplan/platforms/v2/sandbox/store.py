"""The sandbox's SQLite store: one connection, one lock, one transaction per request.

Requests are serialized by a lock: the sandbox favours obviously-correct
state over throughput (an in-process SQLite call is microseconds; the HTTP
round trip dominates anyway).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sqlite3
import threading
from collections.abc import Iterator

from ....errors import ConfigError
from ....sandboxcore import claim_file, mark_file

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
-- Every setup entity of every kind shares one id sequence, as ids of the
-- real API never collide across kinds: a project id sent as a company id is
-- then an error instead of silently naming another entity.
CREATE TABLE IF NOT EXISTS entity (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    xid TEXT,
    name TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1,
    parent INTEGER,            -- company of a project/task/absence/person,
                               -- project of a subproject, parent of a group
    corporate INTEGER,
    start_date TEXT,
    description TEXT,
    email TEXT,
    user_group TEXT,
    tasks_disabled INTEGER NOT NULL DEFAULT 0,
    UNIQUE (kind, xid)
);
CREATE INDEX IF NOT EXISTS entity_parent ON entity (kind, parent);
-- rel: group (entity -> group), member (container -> person|group),
-- manager (project -> person), leader (person -> person), task (container -> task)
CREATE TABLE IF NOT EXISTS link (
    rel TEXT NOT NULL,
    owner INTEGER NOT NULL,
    target INTEGER NOT NULL,
    PRIMARY KEY (rel, owner, target)
);
CREATE INDEX IF NOT EXISTS link_target ON link (rel, target);
CREATE TABLE IF NOT EXISTS custom_field (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    available_for TEXT NOT NULL      -- JSON list of labels, e.g. ["Company - Customer"]
);
CREATE TABLE IF NOT EXISTS custom_value (
    entity INTEGER NOT NULL,
    field INTEGER NOT NULL,
    value TEXT NOT NULL,             -- JSON
    PRIMARY KEY (entity, field)
);
CREATE TABLE IF NOT EXISTS time_entry (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    person INTEGER,                  -- NULL: the token's own user
    entity INTEGER NOT NULL,
    task INTEGER,
    date TEXT NOT NULL,
    hours REAL NOT NULL,
    comment TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'd',
    locked_from TEXT,                -- the status a locked entry returns to on unlock
    stime TEXT NOT NULL DEFAULT '',  -- 'HH:MM' start and end, '' when not given
    etime TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS time_entry_person ON time_entry (person, date);
CREATE TABLE IF NOT EXISTS job (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    polls INTEGER NOT NULL DEFAULT 0,
    array INTEGER NOT NULL DEFAULT 0,
    rows TEXT NOT NULL,              -- JSON: the export, computed when the job starts
    started REAL NOT NULL DEFAULT 0  -- the sandbox clock when it started (see App.clock)
);
CREATE TABLE IF NOT EXISTS usage (
    token TEXT NOT NULL,             -- a hash of the token, never the token
    day TEXT NOT NULL,
    requests INTEGER NOT NULL DEFAULT 0,
    bytes INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (token, day)
);
"""

# Columns added after the first release: a database made before gets them on
# open (CREATE TABLE IF NOT EXISTS leaves an existing table as it is).
_ADDED_COLUMNS = (
    ("time_entry", "stime", "TEXT NOT NULL DEFAULT ''"),
    ("time_entry", "etime", "TEXT NOT NULL DEFAULT ''"),
    ("job", "started", "REAL NOT NULL DEFAULT 0"),
)


def _add_columns(conn: sqlite3.Connection) -> None:
    for table, column, decl in _ADDED_COLUMNS:
        have = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if column not in have:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")


class Store:
    """A SQLite database shared by the server threads."""

    def __init__(self, db: str | os.PathLike[str] = ":memory:"):
        self.path = os.fspath(db)
        self.in_memory = self.path == ":memory:" or self.path == ""
        # Another program's database is refused untouched; a new file is made mode 0600
        # (it holds the token). The file may hold the current platform's store too.
        claim_file(self.path)
        self.lock = threading.RLock()
        # One connection for every thread, guarded by the lock: ":memory:"
        # databases are per-connection, so this is also what makes them work.
        self.conn = sqlite3.connect(
            self.path or ":memory:", check_same_thread=False, isolation_level=None, timeout=10
        )
        self.conn.row_factory = sqlite3.Row
        try:
            if not self.in_memory:
                self.conn.execute("PRAGMA journal_mode=WAL")
                self.conn.execute("PRAGMA synchronous=NORMAL")
            with self.lock:
                self.conn.executescript(SCHEMA)
                _add_columns(self.conn)
                mark_file(self.conn, "v2")
        except sqlite3.DatabaseError as exc:
            self.conn.close()
            raise ConfigError(f"{self.path} is not a usable sandbox database: {exc}") from None
        self.created = self.get_meta("created") is None
        if self.created:
            self.set_meta("created", "1")

    def get_meta(self, key: str) -> str | None:
        with self.lock:
            row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self.lock:
            self.conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def token(self) -> str:
        """The account's token, made up once when the database is created."""
        with self.lock:
            token = self.get_meta("token")
            if token is None:
                # 40 hex digits, the shape of a real Beebole token.
                token = secrets.token_hex(20)
                self.set_meta("token", token)
        return token

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Serialize and make atomic: a request that fails changes nothing."""
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def usage(self, token_hash: str, day: str) -> tuple[int, int]:
        with self.lock:
            row = self.conn.execute(
                "SELECT requests, bytes FROM usage WHERE token = ? AND day = ?", (token_hash, day)
            ).fetchone()
        return (0, 0) if row is None else (int(row[0]), int(row[1]))

    def reserve_request(
        self, token_hash: str, day: str, max_requests: int, max_bytes: int
    ) -> tuple[bool, int, int]:
        """Count one request if today's usage is under both limits, atomically.

        Checking and counting separately let parallel requests all pass at
        limit - 1; the real API never lets a day go over its quota.
        """
        with self.lock:
            row = self.conn.execute(
                "SELECT requests, bytes FROM usage WHERE token = ? AND day = ?", (token_hash, day)
            ).fetchone()
            requests, nbytes = (0, 0) if row is None else (int(row[0]), int(row[1]))
            if requests >= max_requests or nbytes >= max_bytes:
                return False, requests, nbytes
            self.conn.execute(
                "INSERT INTO usage (token, day, requests, bytes) VALUES (?, ?, 1, 0) "
                "ON CONFLICT (token, day) DO UPDATE SET requests = requests + 1",
                (token_hash, day),
            )
            return True, requests + 1, nbytes

    def add_usage(self, token_hash: str, day: str, requests: int, nbytes: int) -> None:
        with self.lock:
            self.conn.execute(
                "INSERT INTO usage (token, day, requests, bytes) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (token, day) DO UPDATE SET requests = requests + excluded.requests, "
                "bytes = bytes + excluded.bytes",
                (token_hash, day, requests, nbytes),
            )

    def close(self) -> None:
        with self.lock:
            self.conn.close()
