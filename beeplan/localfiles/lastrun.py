"""When beeplan last applied or checked an account from this machine.

A later ``check`` or ``plan`` of a current-platform set lists the audit trail's
operations on each drifted entity since then (``platforms/current/authors.py``):
what happened before was already shown (a check's drift) or made to match the
manifests (an apply). One small file per account, named by the client's
``account_key`` (a hash: never the token), under the cache dir:

    <cache dir>/last-run/<account_key>.json   {"command": "check", "at_ms": 1764943200000}

``at_ms`` is when that run's read started, on the API's clock (ms since the epoch):
an edit made while it ran is listed again by the next run rather than never.
Written whole, 0600, under the lock (``cachefile.py``); the last run to finish wins,
so two runs at once can only move it back (list more), never past a run that did
not finish. A file that is not what beeplan writes is set aside with a warning.
Only this machine's runs are known: a CI runner starts with an empty cache dir
unless a cache step keeps it, and then the audit trail's own window applies.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import cachefile
from .cachefile import cache_dir

log = logging.getLogger("beeplan.cache")

COMMANDS = ("check", "apply")


@dataclass(frozen=True)
class LastRun:
    """The last successful apply or check of one account from this machine."""

    command: str  # "check" or "apply"
    at_ms: int  # when its read started, on the API's clock (ms since the epoch)


def path_for(account_key: str) -> Path:
    """The file of the account a client's ``account_key`` names (never the token)."""
    return cache_dir() / "last-run" / f"{account_key}.json"


def read_last_run(account_key: str) -> LastRun | None:
    """The recorded run, or None: none recorded, unreadable, or set aside (warned).

    Read without the lock, so that a ``plan`` (read only) creates nothing: a file is
    only ever replaced whole, so a reader never sees half of one."""
    path = path_for(account_key)
    try:
        data = cachefile.read_json(path)
    except FileNotFoundError:
        return None
    except ValueError as exc:
        _set_aside(path, str(exc))
        return None
    except OSError as exc:
        log.warning("could not read the last-run file %s: %s", path, exc)
        return None
    problem = _problem(data)
    if problem:
        _set_aside(path, problem)
        return None
    return LastRun(data["command"], data["at_ms"])


def _set_aside(path: Path, why: str) -> None:
    try:
        with cachefile.locked(path):
            cachefile.set_aside(path, "last-run file", why)
    except OSError as exc:
        log.warning("the last-run file %s is not one beeplan wrote (%s); could not move it: "
                    "%s", path, why, exc)


def record_run(account_key: str, run: LastRun) -> None:
    """Remember ``run`` as the account's last apply or check; a failure only warns
    (the command's result stands; the next run looks back over the whole window)."""
    if _problem({"command": run.command, "at_ms": run.at_ms}):
        raise ValueError(f"not a run to record: {run!r}")
    path = path_for(account_key)
    try:
        with cachefile.locked(path):
            cachefile.write_json(path, {"command": run.command, "at_ms": run.at_ms})
    except OSError as exc:
        log.warning("could not save the last-run file %s: %s", path, exc)


def _problem(data: Any) -> str | None:
    if not isinstance(data, dict):
        return "not a JSON object"
    if data.get("command") not in COMMANDS:
        return '"command" is not "check" or "apply"'
    at = data.get("at_ms")
    if isinstance(at, bool) or not isinstance(at, int) or at <= 0:
        return '"at_ms" is not a positive whole number of milliseconds'
    return None
