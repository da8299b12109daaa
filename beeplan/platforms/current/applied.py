"""What beeplan's own applies last changed, per key, on this machine: so a plan after a
manifest edit does not call beeplan's own edit a change "outside beeplan".

A plan lists every entity whose live state differs from the manifests, and the author
lookup (``authors.py``) names who last changed each. After ``apply`` and an edit of the
manifests, the last change of those entities is beeplan's own apply: the difference
comes from the manifests, and "changed outside beeplan: renamed by <the key's person>"
would be false. So each apply records, for the entities it changed (``entity_key`` of
each applied action's target), when it finished; ``is_beeplans_own`` then tells such an
entity apart, and the lookup leaves its line out, saying so in a note.

Only when that is certain: the last edit is by the key's own person, at or before the
recorded apply, and the audit trail was read (it names changes ``lastEdited`` does not
record, such as tagging) and shows nothing after it, within its seven-day window.
Anything else keeps the line. The time is this machine's clock, so a clock ahead of
Beebole's by more than a change's distance from the apply could hide that change's
line (never the change itself: the plan still shows it); a clock behind only keeps a
line. Another machine's applies are unknown here: their lines stay as before.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path

from ...localfiles import cachefile
from ...localfiles.cachefile import cache_dir
from .authors import AUDIT_DAYS, Author

log = logging.getLogger("beeplan.current.applied")

MAX_ENTITIES = 100_000  # a bound on the file, far above an account's managed entities


def _path(account_key: str) -> Path:
    return cache_dir() / "applied" / f"{account_key}.json"


def now_ms() -> int:
    return int(time.time() * 1000)


def record(account_key: str, keys: Iterable[str], at_ms: int) -> None:
    """Note that this key's apply changed the entities ``keys`` (``entity_key``), ending
    at ``at_ms``. Never fails the apply: a file that cannot be written only keeps lines."""
    keys = set(keys)
    if not keys:
        return
    path = _path(account_key)
    try:
        with cachefile.locked(path):
            known = dict(_read(path))
            known.update(dict.fromkeys(keys, at_ms))
            if len(known) > MAX_ENTITIES:  # keep the most recent
                known = dict(sorted(known.items(), key=lambda kv: kv[1])[-MAX_ENTITIES:])
            cachefile.write_json(path, {"applied": known})
    except OSError as exc:
        log.warning("could not note what the apply changed in %s: %s", path, exc)


def last_applied(account_key: str) -> dict[str, int]:
    """entity_key -> when this key's last apply that changed it ended (ms); {} if none."""
    path = _path(account_key)
    try:
        return dict(_read(path))
    except OSError:
        return {}


def _read(path: Path) -> Mapping[str, int]:
    try:
        data = cachefile.read_json(path)
    except FileNotFoundError:
        return {}
    except ValueError as exc:
        cachefile.set_aside(path, "record of applied entities", str(exc))
        return {}
    found = data.get("applied") if isinstance(data, dict) else None
    if not isinstance(found, dict):
        return {}
    return {k: v for k, v in found.items()
            if isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool)}


def since_apply(author: Author, applied_ms: int | None) -> Author:
    """The author with only the audit entries after beeplan's last apply of the entity. Pure."""
    if applied_ms is None:
        return author
    return replace(author, entries=tuple(e for e in author.entries if e.at_ms > applied_ms))


def is_beeplans_own(author: Author | None, applied_ms: int | None, audit_read: bool,
                    now: int) -> bool:
    """Whether the entity's last change is beeplan's own recorded apply, nothing since. Pure."""
    if author is None or applied_ms is None or not audit_read or author.at_ms is None:
        return False
    if not author.own_key or author.at_ms > applied_ms:
        return False
    if applied_ms < now - AUDIT_DAYS * 86_400_000:
        return False  # older than the audit trail's window: a later tagging could hide
    return all(entry.at_ms <= applied_ms for entry in author.entries)
