"""``beeplan diff OLD NEW`` of two current sets: what NEW changes, entry by entry. Pure.

No account is read: the changes are shown in the core's plan form (create, update,
archive, field by field: the renderers' "Changes from OLD to NEW"), one line per entry
changed, named ``addX``/``editX``/``archiveX`` after its kind (a plan against the
account names each mutation: ``editProjectName``, ``tagPerson``...). A key NEW leaves
out is left alone by apply (no longer managed), and an entry NEW drops is archived
only under ``settings.prune``; both are listed, as on v2.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ...model import Entity, Ref
from ...planner import Action, Change, Plan, Provenance
from ...setdiff import Released, SetDiff
from .desired import CategoryEntry, Desired, Entry, FieldEntry
from .targeted import NAMED_KINDS

_TYPE = {"project": "Project", "tag": "Tag", "person": "Person", "task": "Task",
         "absenceType": "AbsenceType", "role": "Role", "customField": "CustomField",
         "projectCategory": "ProjectCategory", "tagCategory": "TagCategory",
         "taskCategory": "TaskCategory"}
_PHASE = {"customField": 1, "projectCategory": 2, "tagCategory": 2, "taskCategory": 2,
          "role": 3, "tag": 4, "person": 5, "project": 6, "task": 7, "absenceType": 8}
_ARCHIVE_PHASE = 12
_CUSTOM = "customFields"
Item = Entry | CategoryEntry | FieldEntry


def _identity(item: Item) -> tuple[str, str | None, str | None]:
    if isinstance(item, Entry):
        label = item.xid if item.xid is not None else (
            item.name if item.kind in NAMED_KINDS else None)
        return item.kind, label, item.id
    kind = item.kind if isinstance(item, CategoryEntry) else "customField"
    return kind, item.name, item.id


def _values(item: Item) -> dict[str, Any]:
    """What the manifests say of an item, by key as written (absent: left alone)."""
    if isinstance(item, Entry):
        out: dict[str, Any] = {"name": item.name, "archived": item.archived}
        if item.category is not None:
            out["category"] = item.category
        if item.parent is not None:
            out["parent"] = str(item.parent)
        out.update(dict(item.fields))
        out.update({rel: sorted(str(k) for k in keys) for rel, keys in item.relations})
        if item.custom is not None:  # present: authoritative (a field left out is cleared)
            out[_CUSTOM] = "managed: fields not listed are cleared"
            out.update({f"{_CUSTOM}.{k}": v for k, v in item.custom})
        return out
    found: dict[str, Any]
    if isinstance(item, CategoryEntry):
        found = {"name": item.name, "levelNames": item.level_names, "statuses": item.statuses}
    else:
        found = {"name": item.name, "type": item.type, "options": item.options,
                 "appliesTo": item.applies_to, "archived": item.archived}
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in found.items()
            if v is not None}


def _items(desired: Desired) -> dict[tuple[str, str | None, str | None], Item]:
    items: Iterable[Item] = (*desired.fields, *desired.categories, *desired.entries)
    return {_identity(item): item for item in items}


def _ref(identity: tuple[str, str | None, str | None]) -> Ref:
    kind, label, live_id = identity
    return Ref(kind, xid=label, id=live_id)  # type: ignore[arg-type]  # opaque text ids


def diff_desired(old: Desired | None, new: Desired) -> SetDiff:
    """What ``new`` changes against ``old`` (None: OLD holds no manifests)."""
    before = _items(old) if old is not None else {}
    after = _items(new)
    actions: list[Action] = []
    released: list[Released] = []
    for identity, item in after.items():
        kind = identity[0]
        target = _ref(identity)
        now = _values(item)
        if identity not in before:
            changes = tuple(Change(k, None, v) for k, v in now.items() if k != "name")
            actions.append(_action("create", f"add{_TYPE[kind]}", target, item.name,
                                   _PHASE[kind], changes))
            continue
        was = _values(before[identity])
        # A value NEW's customFields leaves out is cleared; any other key left out is
        # no longer managed (apply leaves it as it is).
        cleared = [k for k in was if k not in now and _CUSTOM in now
                   and k.startswith(f"{_CUSTOM}.")]
        dropped = tuple(k for k in was if k not in now and k != "archived" and k not in cleared
                        and not k.startswith(f"{_CUSTOM}."))
        if dropped:
            released.append(Released(Entity(kind, target, item.name), dropped))
        changes = tuple(Change(k, was.get(k), v) for k, v in now.items() if was.get(k) != v) \
            + tuple(Change(k, was[k], None) for k in cleared)
        if not changes:
            continue
        archived = [c for c in changes if c.field == "archived"]
        rest = tuple(c for c in changes if c.field != "archived")
        if rest:
            actions.append(_action("update", f"edit{_TYPE[kind]}", target, item.name,
                                   _PHASE[kind], rest))
        if archived:
            op, verb = ("deactivate", "archive") if archived[0].after else ("update",
                                                                            "unarchive")
            actions.append(_action(op, f"{verb}{_TYPE[kind]}", target, item.name,
                                   _ARCHIVE_PHASE if op == "deactivate" else _PHASE[kind],
                                   tuple(archived)))
    for identity, item in before.items():
        if identity in after:
            continue
        kind = identity[0]
        if new.settings.prune and _managed(kind, new.managed):
            actions.append(_action("deactivate", f"archive{_TYPE[kind]}", _ref(identity),
                                   item.name, _ARCHIVE_PHASE, ()))
        else:
            released.append(Released(Entity(kind, _ref(identity), item.name),
                                     ("the whole entry (settings.prune is off: apply "
                                      "leaves it as it is)",)))
    actions.sort(key=lambda a: a.phase)
    plan = Plan(actions=tuple(actions), prune=new.settings.prune,
                provenance=Provenance(loosened=new.settings.loosened()))
    return SetDiff(plan, _settings_lines(old, new), tuple(released))


def _managed(kind: str, managed: frozenset[str]) -> bool:
    return kind in managed


def _action(op: str, service: str, target: Ref, name: str, phase: int,
            changes: tuple[Change, ...]) -> Action:
    label = target.xid if target.xid is not None else f"#{target.id}"
    return Action(f"{service}:{target.kind}:{label}", op, target.kind, target, name, service,
                  {}, phase, (), changes)


def _settings_lines(old: Desired | None, new: Desired) -> tuple[str, ...]:
    if old is None:
        return ()
    a, b = old.settings, new.settings
    out = []
    pairs: Mapping[str, tuple[Any, Any]] = {
        "settings.prune": (a.prune, b.prune), "settings.xidField": (a.xid_field, b.xid_field),
        "settings.batchSize": (a.batch_size, b.batch_size),
        "settings.safety": (a.safety, b.safety)}
    for key, (was, now) in pairs.items():
        if was != now:
            out.append(f"{key}: {_shown(was)} -> {_shown(now)}")
    if a.prune != b.prune:
        out.append("  entities no manifest names are " + (
            "archived by apply from now on" if b.prune else "left alone by apply from now on"))
    for kind in sorted(old.managed ^ new.managed):
        out.append(f"{kind}: " + ("managed from now on" if kind in new.managed
                                  else "no longer managed (its key is gone)"))
    return tuple(out)


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if hasattr(value, "default"):  # Safety
        kinds = ", ".join(f"{k}: {t.ratio}/{t.min}" for k, t in sorted(value.kinds.items()))
        return (f"ratio {value.default.ratio}, min {value.default.min}"
                f"{f', kinds {{{kinds}}}' if kinds else ''}"
                f"{', refuseInUse' if value.refuse_in_use else ''}")
    return repr(value)
