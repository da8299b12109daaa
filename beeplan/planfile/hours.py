"""The hours a saved plan recorded when it was made (``plan -o``), read back for apply."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any, TypeGuard

from ..hours import EntityUsage, UsageReport
from ..model import entity_key
from ..planner import Plan


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
