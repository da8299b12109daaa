"""Hours logged behind entities: the values a lookup answers and the words that show them.

Pure values: the renderers and the saved plan use them without reaching the
API client; the lookup itself (time-export jobs) is in beeplan/usage.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .model import Ref, entity_key


@dataclass(frozen=True)
class EntityUsage:
    hours: float
    people: int
    last: str | None  # date of the latest entry, YYYY-MM-DD

    @property
    def used(self) -> bool:
        return self.hours > 0


UNUSED = EntityUsage(0.0, 0, None)


@dataclass(frozen=True)
class UsageReport:
    """What the export said, per entity key (``project:acme-dev``), for one period."""

    days: int
    start: str
    end: str
    entities: Mapping[str, EntityUsage] = field(default_factory=dict)
    calls: int = 0
    jobs: int = 0
    not_looked_up: tuple[str, ...] = ()  # entity keys the lookup could not answer for
    notes: tuple[str, ...] = ()

    def of(self, ref: Ref) -> EntityUsage | None:
        return self.entities.get(entity_key(ref))


def hours_text(hours: float) -> str:
    return f"{hours:.2f}".rstrip("0").rstrip(".")


def last_days(days: int) -> str:
    """``the last 90 days`` (``the last 1 day``)."""
    return f"the last {days} day{'' if days == 1 else 's'}"


def describe(usage: EntityUsage, days: int) -> str:
    """``312.5 h in the last 90 days by 7 people, last 2026-11-27``."""
    people = f"{usage.people} {'person' if usage.people == 1 else 'people'}"
    last = f", last {usage.last}" if usage.last else ""
    return f"{hours_text(usage.hours)} h in {last_days(days)} by {people}{last}"


@dataclass(frozen=True)
class Line:
    """One managed entity in the report; ``active`` None: not in the account."""

    ref: Ref
    name: str
    active: bool | None
    usage: EntityUsage | None  # None: not looked up


@dataclass(frozen=True)
class AccountUsage:
    days: int
    start: str
    end: str
    lines: tuple[Line, ...] = ()
    read_calls: int = 0
    export_calls: int = 0
    jobs: int = 0
    left_today: int | None = None
    notes: tuple[str, ...] = ()

    @property
    def unused(self) -> tuple[Line, ...]:
        """Managed entities, active in the account, with no hours in the period."""
        return tuple(
            line
            for line in self.lines
            if line.active and line.usage is not None and not line.usage.used
        )
