"""``--changed-since BASE`` for a current set: the full plan, restricted to what changed.

On v2 a targeted plan reads only the entries a pull request changed, since reads
cost quota. The current platform reads the whole account in ONE request, so there
is nothing to save by reading less: the targeted plan is the full plan restricted to
the actions on entries (and categories, custom fields, roles) whose manifest entry
changed since BASE, plus what those actions depend on. Drift elsewhere is left out of
the plan, not unread ('beeplan check' shows it). A change of settings or of the kinds
managed changes what happens to entries no diff names: then the plan is a full one,
saying why. Pure.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, replace
from typing import Any

from ...model import Source
from ...planner import Plan
from .desired import Desired

_NOWHERE = Source("", None)
NAMED_KINDS = frozenset({"role", "customField", "projectCategory", "tagCategory",
                         "taskCategory"})  # known by name (the plan's target xid is it)


@dataclass(frozen=True)
class Changes:
    """What changed between BASE and the manifests, as the plan's targets name it."""

    labels: frozenset[tuple[str, str]]  # (kind, xid or name)
    ids: frozenset[tuple[str, str]]  # (kind, live id) of entries adopted by id
    count: int  # manifest entries changed, added or removed
    full_reasons: tuple[str, ...] = ()  # why no targeted plan can be made


def _items(desired: Desired) -> dict[Hashable, tuple[tuple[str, str | None, str | None], Any]]:
    """Every declared item by identity -> (kind, label, id) and its value without its line."""
    out: dict[Hashable, tuple[tuple[str, str | None, str | None], Any]] = {}
    for e in desired.entries:
        label = e.xid if e.xid is not None else (e.name if e.kind in NAMED_KINDS else None)
        out[(e.kind, label, e.id)] = ((e.kind, label, e.id), replace(e, source=_NOWHERE))
    for c in desired.categories:
        out[(c.kind, c.name, c.id)] = ((c.kind, c.name, c.id), replace(c, source=_NOWHERE))
    for f in desired.fields:
        out[("customField", f.name, f.id)] = (("customField", f.name, f.id),
                                              replace(f, source=_NOWHERE))
    return out


def changes(base: Desired, desired: Desired, label: str) -> Changes:
    """What ``desired`` changes against ``base`` (BASE as given: ``label``)."""
    reasons = []
    if replace(base.settings, platform_at="") != replace(desired.settings, platform_at=""):
        reasons.append(f"the settings changed since {label}")
    if base.managed != desired.managed:
        reasons.append(f"the kinds managed changed since {label}")
    old, new = _items(base), _items(desired)
    changed = [new.get(k, old.get(k)) for k in old.keys() | new.keys()
               if (old.get(k) or (None, None))[1] != (new.get(k) or (None, None))[1]]
    labels = frozenset((kind, lab) for (kind, lab, _id), _ in filter(None, changed)
                       if lab is not None)
    ids = frozenset((kind, i) for (kind, _lab, i), _ in filter(None, changed) if i is not None)
    return Changes(labels, ids, len(changed), tuple(reasons))


def restrict(plan: Plan, found: Changes, label: str) -> Plan:
    """The actions on what changed since BASE, with what they depend on. Safety is the
    caller's to recompute (fewer archives may pass the threshold)."""
    by_id = {a.id: a for a in plan.actions}
    keep = {a.id for a in plan.actions
            if (a.target.kind, a.target.xid) in found.labels
            or (a.target.kind, str(a.target.id)) in found.ids}
    todo = list(keep)
    while todo:  # what a kept action needs (a created parent, the xid field) is kept too
        for dep in by_id[todo.pop()].depends_on:
            if dep in by_id and dep not in keep:
                keep.add(dep)
                todo.append(dep)
    entries = f"{found.count} entr{'y' if found.count == 1 else 'ies'}"
    note = (f"targeted plan: {entries} changed since {label}; only their changes are planned. "
            "The current platform reads the whole account in one request anyway, so drift "
            "elsewhere is left out of this plan, not unread ('beeplan check' shows it).")
    return replace(plan, actions=tuple(a for a in plan.actions if a.id in keep),
                   unmanaged=(), warnings=(*plan.warnings, note),
                   provenance=plan.provenance.narrowed(label, found.count))
