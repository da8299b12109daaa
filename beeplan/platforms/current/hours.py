"""Hours behind every archive on the current platform: time records in the last N days.

Before a plan archives a person, project, task or absence type, it shows the hours
logged on it (as v2 plans show them behind every deactivation). The value is the
core's ``UsageReport`` (``beeplan/hours.py``), keyed by the plan's own targets, so
the core renderers, the saved plan and ``settings.safety.refuseInUse``
(``usage.with_usage``) use it unchanged.

Why ``getTimeRecords``: it is the reference's documented way to read logged time,
with documented filters (``personId``, ``projectIds`` with their subprojects,
``taskIds``) and a documented answer (``duration`` in milliseconds). The counts
(``countTimeRecords``) give no hours, and the inline report (``runInlineReport``) has
no documented answer shape to check an answer against. Records are read with the
fewest fields that answer the question (duration, person id, start date).

Cost, stated: one request for all the archives of a plan (an alias per person,
project and task; one alias for every absence type, since the time record filter has
no absence type field: absence records are read once and counted per type). Its
size grows with the records logged in the period on those entities.

The period is the last ``days`` days, today included, in UTC (``usage.period``): the
records that start on or after its first day and end by the end of its last.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from ...errors import ApiError, AuthError, TransportError
from ...hours import EntityUsage, UsageReport
from ...model import Ref, entity_key
from ...planner import Plan
from ...safetext import capped
from ...usage import period
from .client import Arg, CurrentClient, Op

MS_PER_HOUR = 3_600_000  # durations on this platform are milliseconds
_SELECT = "duration person { id } startTime { iso }"
_FILTER = "[BeeboleTimeRecordFilter]"
# kind -> the time record filter that selects its records (absence types: see above)
_FILTERS: dict[str, str] = {"person": "personId", "project": "projectIds", "task": "taskIds"}
HOURS_KINDS = frozenset({*_FILTERS, "absenceType"})


@dataclass(frozen=True)
class Archive:
    """An entity a plan archives: the plan's target and its live id."""

    target: Ref
    id: str


def archives_in(plan: Plan, ids: Mapping[str, str] | None = None) -> list[Archive]:
    """The archives of a plan whose kind carries time, with their live ids.

    ``ids``: live id by entity key (``entity_key(target)``), for targets that name
    the entity by xid only; otherwise the target's own id is used.
    """
    out = []
    for action in plan.actions:
        if action.op != "deactivate" or action.target.kind not in HOURS_KINDS:
            continue
        live = (ids or {}).get(entity_key(action.target))
        if live is None and action.target.id is not None:
            live = str(action.target.id)
        if live is not None:
            out.append(Archive(action.target, live))
    return out


def bounds_ms(days: int, today: date | None = None) -> tuple[str, str, int, int]:
    """(first day, last day, startTime, endTime): the period, and it in milliseconds."""
    start, end = period(days, today)
    first = datetime.combine(date.fromisoformat(start), datetime.min.time(), timezone.utc)
    after = datetime.combine(date.fromisoformat(end) + timedelta(days=1), datetime.min.time(),
                             timezone.utc)
    return start, end, int(first.timestamp() * 1000), int(after.timestamp() * 1000)


def hours_ops(archives: Sequence[Archive], start_ms: int, end_ms: int) -> list[Op]:
    """One alias per person, project and task archived; then one for absence records."""
    window = (Arg("startTime", "BeeboleTimestamp", start_ms),
              Arg("endTime", "BeeboleTimestamp", end_ms))
    ops = []
    for archive in archives:
        key = _FILTERS.get(archive.target.kind)
        if key is not None:
            value: Any = archive.id if key == "personId" else [archive.id]
            ops.append(Op("getTimeRecords", (*window, Arg("filter", _FILTER, [{key: value}])),
                          _SELECT))
    if any(a.target.kind == "absenceType" for a in archives):
        ops.append(Op("getTimeRecords", (*window, Arg("absence", "Boolean", True)),
                      _SELECT + " absence { id }"))
    return ops


def _usage(records: Sequence[Mapping[str, Any]]) -> EntityUsage:
    total = sum(int(r["duration"]) for r in records)
    people = {str(r["person"]["id"]) for r in records if isinstance(r.get("person"), Mapping)}
    days = [str(r["startTime"]["iso"])[:10] for r in records
            if isinstance(r.get("startTime"), Mapping) and r["startTime"].get("iso")]
    hours = round(total / MS_PER_HOUR, 2)
    return EntityUsage(hours, len(people) if hours > 0 else 0, max(days) if days else None)


def parse_hours(archives: Sequence[Archive], data: Mapping[str, Any], denied: Sequence[str]
                ) -> tuple[dict[str, EntityUsage], tuple[str, ...]]:
    """The answer to ``hours_ops(archives, ...)`` -> hours by entity key, and the keys not
    looked up because the key may not read what they need (never read as no hours). Pure."""
    found: dict[str, EntityUsage] = {}
    unknown: list[str] = []

    def withheld(alias: str) -> bool:
        return any(p == alias or p.startswith((f"{alias}.", f"{alias}[")) for p in denied)

    alias = 0
    for archive in archives:
        if archive.target.kind not in _FILTERS:
            continue
        name = f"a{alias}"
        alias += 1
        if withheld(name):
            unknown.append(entity_key(archive.target))
        else:
            found[entity_key(archive.target)] = _usage(data.get(name) or [])
    absences = [a for a in archives if a.target.kind == "absenceType"]
    if absences:
        name = f"a{alias}"
        rows = data.get(name) or []
        for archive in absences:
            if withheld(name):
                unknown.append(entity_key(archive.target))
                continue
            mine = [r for r in rows if isinstance(r.get("absence"), Mapping)
                    and r["absence"].get("id") == archive.id]
            found[entity_key(archive.target)] = _usage(mine)
    return found, tuple(unknown)


def look_up_hours(client: CurrentClient, archives: Sequence[Archive], days: int, *,
                  today: date | None = None, strict: bool = False) -> UsageReport:
    """Hours logged on ``archives`` in the last ``days`` days: one request, none without
    archives.

    Not strict (plan): an answer the API refuses becomes a note and the entities are
    listed as not looked up, the plan is still made. Strict (``beeplan usage``): it raises.
    """
    start, end, start_ms, end_ms = bounds_ms(days, today)
    todo = [a for a in dict.fromkeys(archives) if a.target.kind in HOURS_KINDS]
    if days <= 0 or not todo:
        return UsageReport(days, start, end)
    keys = tuple(entity_key(a.target) for a in todo)
    before = client.usage.total_requests
    try:
        answer = client.query(hours_ops(todo, start_ms, end_ms), allow_denied=True)
    except AuthError:
        raise
    except (ApiError, TransportError) as exc:
        if strict:
            raise
        return UsageReport(days, start, end, calls=client.usage.total_requests - before,
                           not_looked_up=keys, notes=(f"hours not looked up: {exc}",))
    found, unknown = parse_hours(todo, answer.data, answer.denied)
    notes: tuple[str, ...] = ()
    if unknown:
        message = (f"hours not looked up for {len(unknown)} archived "
                   f"entit{'y' if len(unknown) == 1 else 'ies'}: the key may not read their "
                   f"time records (permissionsErrors: {capped(', '.join(answer.permissions), 120)})"
                   "; give the key's role access to time records")
        if strict:
            raise ApiError("getTimeRecords", message)
        notes = (message,)
    return UsageReport(days, start, end, found, calls=client.usage.total_requests - before,
                       not_looked_up=unknown, notes=notes)
