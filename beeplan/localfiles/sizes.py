"""What this machine measured of one account's calls, kept between runs (the KB guards).

A list's answer grows with what it lists (``person.list`` of a company of 250
people is about 47 KB, of 50 people 9.7 KB), so the fixed per-service sizes a
client starts with can be five times too small on a large account: the guards
that stop before today's KB would let calls through that the API then refuses
(issue 24). The client keeps, per account (token hash, never the token):

- ``services``: the average bytes (request + answer) of one call per service,
  as last measured, which the next run's estimates start from;
- ``reads``: per kind of whole read, the calls per service it asked for last
  time and whether it finished (if not, a lower bound), so the next one can be
  refused before its first call when it cannot fit what is left today.

Kept in ``cache_dir()/sizes/<account key>.json`` (cachefile.py: private,
locked, whole; a file of the wrong shape is set aside).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import cachefile
from .ledger import utc_today

log = logging.getLogger("beeplan.api")


@dataclass(frozen=True)
class ReadRecord:
    """The calls per service one whole read asked for, the day it did."""

    calls: Mapping[str, int]
    complete: bool  # False: stopped part-way, so a lower bound of the whole read
    day: str

    @property
    def total(self) -> int:
        return sum(self.calls.values())


@dataclass(frozen=True)
class Sizes:
    services: Mapping[str, int] = field(default_factory=dict)
    reads: Mapping[str, ReadRecord] = field(default_factory=dict)


def load(path: Path | None) -> Sizes:
    """The sizes kept at ``path``; none when it is missing or not what beeplan writes."""
    if path is None:
        return Sizes()
    try:
        data = cachefile.read_json(path)
        return _parse(data)
    except FileNotFoundError:
        return Sizes()
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        cachefile.set_aside(path, "measured call sizes", str(exc) or type(exc).__name__)
    except OSError as exc:
        log.warning("could not read the measured call sizes: %s", exc)
    return Sizes()


def _parse(data: Any) -> Sizes:
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    services = {str(k): _whole(v) for k, v in dict(data.get("services", {})).items()}
    reads = {
        str(k): ReadRecord({str(s): _whole(n) for s, n in dict(v["calls"]).items()},
                           bool(v["complete"]), str(v["day"]))
        for k, v in dict(data.get("reads", {})).items()
    }
    return Sizes(services, reads)


def _whole(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{value!r} is not a whole number")
    return value


def save(
    path: Path | None, services: Mapping[str, int], reads: Mapping[str, ReadRecord]
) -> None:
    """Merge this run's measurements into the file: its services and reads replace theirs.

    An unfinished read replaces a kept one only when it asked for more (a read stopped
    early by a spent day says less about the account than the last one that finished).
    """
    if path is None or not (services or reads):
        return
    try:
        with cachefile.locked(path):
            kept = load(path)
            merged = dict(kept.reads)
            for key, record in reads.items():
                old = merged.get(key)
                if record.complete or old is None or record.total >= old.total:
                    merged[key] = record
            cachefile.write_json(path, {
                "services": {**kept.services, **services},
                "reads": {k: {"calls": dict(r.calls), "complete": r.complete, "day": r.day}
                          for k, r in merged.items()},
            })
    except OSError as exc:
        log.warning("could not save the measured call sizes: %s", exc)


def record(calls: Mapping[str, int], complete: bool) -> ReadRecord:
    return ReadRecord(dict(calls), complete, utc_today())
