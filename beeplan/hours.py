"""Hours logged behind entities: the values a lookup answers and the words that show them.

Pure values: the renderers and the saved plan use them without reaching the
API client; the lookup itself (time-export jobs) is in beeplan/usage.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypeGuard

from .model import Ref, entity_key
from .planner import Plan


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


def saved_report(document: Mapping[str, Any], plan: Plan) -> UsageReport | None:
    """The hours a saved plan recorded when it was made, to show them again at apply.

    Display only: a plan file is data, so a refusal never rests on these
    figures (``refuseInUse`` looks the hours up again). Whatever is not the
    shape ``plan -o`` writes is left out rather than shown.
    """
    head = document.get("usage")
    if not isinstance(head, Mapping):
        return None
    days, start, end = head.get("days"), _iso_date(head.get("from")), _iso_date(head.get("to"))
    if not _count(days) or not days or start is None or end is None:
        return None
    entities: dict[str, EntityUsage] = {}
    actions = document.get("actions")
    for action, raw in zip(plan.actions, actions if isinstance(actions, list) else [],
                           strict=False):
        found = raw.get("usage") if isinstance(raw, Mapping) else None
        if action.op != "deactivate" or not isinstance(found, Mapping):
            continue
        hours, people, last = found.get("hours"), found.get("people"), found.get("last")
        if (
            isinstance(hours, (int, float)) and not isinstance(hours, bool) and 0 <= hours < 1e9
            and _count(people) and (last is None or _iso_date(last) is not None)
            and found.get("days") == days
        ):
            entities[entity_key(action.target)] = EntityUsage(float(hours), people, last)
    skipped = head.get("not_looked_up")
    calls = head.get("calls")
    return UsageReport(
        days, start, end, entities,
        calls=calls if _count(calls) else 0,
        not_looked_up=tuple(k for k in skipped if isinstance(k, str))
        if isinstance(skipped, list) else (),
    )


def _count(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _iso_date(value: Any) -> str | None:
    if not isinstance(value, str) or len(value) != 10:
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        return None


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

