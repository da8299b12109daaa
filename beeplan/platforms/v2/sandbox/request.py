"""One service call: the JSON document, typed accessors and the error they raise.

Every error message starts with the service name and names the offending
field by its path in the document (``company.name``, ``leaders[1].email``),
so a user reading it knows what to fix without the request at hand.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any, NoReturn

MAX_ID = 2**63 - 1
MAX_TEXT = 10_000
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+")  # as the manifest schema: one @, no spaces


class ServiceError(Exception):
    """Answered as HTTP 200 ``{"status": "error", "message": ...}``."""


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def show(value: Any, limit: int = 60) -> str:
    """A short JSON rendering of a value for an error message (bounded: inputs can be huge)."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


class Req:
    """The request document of one call, and the database it runs against."""

    def __init__(self, service: str, doc: Mapping[str, Any], db: sqlite3.Connection,
                 app: Any = None):
        self.service = service
        self.doc = doc
        self.db = db
        self.app = app  # the SandboxApp: knobs and the (test-shiftable) date

    def fail(self, message: str) -> NoReturn:
        raise ServiceError(f"{self.service}: {message}")

    # -- shape -------------------------------------------------------------

    def only(self, obj: Mapping[str, Any], allowed: Iterable[str], path: str = "") -> None:
        """Refuse unknown keys: a misspelt or misplaced field must not be silently ignored."""
        allowed = set(allowed)
        extra = sorted(k for k in obj if k not in allowed)
        if extra:
            where = f" in {path}" if path else ""
            expected = ", ".join(sorted(allowed - {"service"})) or "none"
            self.fail(f"unknown field {join(path, extra[0])}{where} (expected: {expected})")

    def obj(self, obj: Mapping[str, Any], key: str, path: str = "", *, required: bool = True,
            hint: str = "") -> dict[str, Any] | None:
        where = join(path, key)
        if key not in obj:
            if required:
                self.fail(f"missing field {where}" + (f" ({hint})" if hint else ""))
            return None
        value = obj[key]
        if not isinstance(value, dict):
            self.fail(f"field {where} must be an object{f' ({hint})' if hint else ''}, "
                      f"got {json_type(value)}")
        return value

    def text(self, obj: Mapping[str, Any], key: str, path: str = "", *, required: bool = False,
             empty: bool = True, limit: int = MAX_TEXT) -> str | None:
        where = join(path, key)
        if key not in obj:
            if required:
                self.fail(f"missing field {where} (a string)")
            return None
        value = obj[key]
        if not isinstance(value, str):
            self.fail(f"field {where} must be a string, got {json_type(value)}")
        if not empty and not value.strip():
            self.fail(f"field {where} must not be empty")
        if len(value) > limit:
            self.fail(f"field {where} is too long ({len(value)} characters, at most {limit})")
        if "\x00" in value:
            self.fail(f"field {where} must not contain NUL characters")
        return value

    def name(self, obj: Mapping[str, Any], path: str, *, required: bool) -> str | None:
        return self.text(obj, "name", path, required=required, empty=False, limit=255)

    def flag(self, obj: Mapping[str, Any], key: str, path: str = "") -> bool | None:
        if key not in obj:
            return None
        value = obj[key]
        if not isinstance(value, bool):
            self.fail(f"field {join(path, key)} must be true or false, got {json_type(value)}")
        return value

    def number(self, obj: Mapping[str, Any], key: str, path: str = "", *,
               required: bool = False) -> float | None:
        where = join(path, key)
        if key not in obj:
            if required:
                self.fail(f"missing field {where} (a number)")
            return None
        value = obj[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(f"field {where} must be a number, got {json_type(value)}")
        return float(value)

    def day(self, obj: Mapping[str, Any], key: str, path: str = "", *,
            required: bool = False) -> str | None:
        value = self.text(obj, key, path, required=required)
        if value is None:
            return None
        if DATE_RE.match(value):
            try:
                date.fromisoformat(value)
                return value
            except ValueError:
                pass
        self.fail(f"field {join(path, key)} must be a date YYYY-MM-DD, got {show(value)}")

    def strings(self, obj: Mapping[str, Any], key: str, path: str = "", *,
                required: bool = False) -> list[str] | None:
        where = join(path, key)
        if key not in obj:
            if required:
                self.fail(f"missing field {where} (an array of strings)")
            return None
        value = obj[key]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(f"field {where} must be an array of strings, got {show(value)}")
        return list(value)

    # -- identities --------------------------------------------------------

    def id_value(self, value: Any, where: str) -> int:
        """An id: a positive integer, or the same written as a string (real clients do)."""
        if isinstance(value, bool):
            self.fail(f"field {where} must be a positive integer id, got a boolean")
        if isinstance(value, str) and value.strip().isdigit() and value.strip().isascii():
            value = int(value.strip())
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or value <= 0:
            self.fail(f"field {where} must be a positive integer id, got {show(value)}")
        if value > MAX_ID:
            self.fail(f"field {where} is not a valid id (too large)")
        return value

    def xid_value(self, value: Any, where: str) -> str:
        if not isinstance(value, str):
            self.fail(f"field {where} must be a string (an external id), got {json_type(value)}")
        if not value.strip():
            self.fail(f"field {where} must not be empty")
        if len(value) > 255:
            self.fail(f"field {where} is too long ({len(value)} characters, at most 255)")
        if any(ord(c) < 0x20 or ord(c) == 0x7f for c in value):
            self.fail(f"field {where} must not contain control characters (newline, tab...)")
        return value

    def identity(self, obj: Mapping[str, Any], path: str) -> tuple[int | None, str | None]:
        """The ``id`` and/or ``xid`` of a reference object; the id wins when both are given."""
        ident = self.id_value(obj["id"], join(path, "id")) if "id" in obj else None
        xid = self.xid_value(obj["xid"], join(path, "xid")) if "xid" in obj else None
        return ident, xid

    def find(self, kind: str, ident: int | None, xid: str | None) -> sqlite3.Row:
        """The entity of this kind with that id (or, without an id, that xid)."""
        if ident is not None:
            row = self.db.execute(
                "SELECT * FROM entity WHERE id = ? AND kind = ?", (ident, kind)
            ).fetchone()
            if row is None:
                self.fail(f"no {kind} with id {ident}")
            return row
        row = self.db.execute(
            "SELECT * FROM entity WHERE xid = ? AND kind = ?", (xid, kind)
        ).fetchone()
        if row is None:
            self.fail(f"no {kind} with xid {show(xid)}")
        return row

    def ref(self, obj: Mapping[str, Any], key: str, kind: str, path: str = "", *,
            required: bool = True) -> sqlite3.Row | None:
        """Resolve ``obj[key]``, a reference object ``{"id": N}`` or ``{"xid": "..."}``."""
        hint = '{"id": N} or {"xid": "..."}'
        value = self.obj(obj, key, path, required=required, hint=f"a {kind} reference {hint}")
        if value is None:
            return None
        where = join(path, key)
        ident, xid = self.identity(value, where)
        if ident is None and xid is None:
            self.fail(f"field {where} must have an id or an xid")
        return self.find(kind, ident, xid)

    def subject(self, kind: str) -> sqlite3.Row:
        """The entity a service acts on: the document's top-level ``id`` or ``xid``."""
        ident, xid = self.identity(self.doc, "")
        if ident is None and xid is None:
            self.fail(f"missing field id (the {kind} id, or xid for its external id)")
        return self.find(kind, ident, xid)
