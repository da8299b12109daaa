"""A saved plan of the current platform, verified against its planner and a fresh read. Pure.

On API v2 each action of a plan file is rebuilt from what it shows
(``planfile.verify.check_actions``). Here the whole plan is rebuilt instead:
the current planner runs again on the plan's manifests (their digest checked)
and one fresh read of the account, and every action of the file must be one
it makes, with the same mutation, arguments and shown changes. The file's
fingerprints (a hash of each target as the plan saw it) tell apart, for an
action the planner does not make (or makes otherwise):

- its target is as the plan saw it: the account cannot explain the
  difference, so the file was edited: refused, naming the action;
- its target changed since, and the planner makes neither it nor anything else
  on that target the file does not hold: it was done (by an earlier apply of this
  file that stopped part-way, or by hand): left out, so a re-run continues where
  the last one stopped;
- its target changed since, and the planner makes it otherwise, or makes another
  action on that target (its External ID was cleared: it would be created
  again): the account changed under the plan: refused as stale.

What runs is the planner's own version of each remaining action: the same
mutation and arguments, except that a ``{"$ref": ID}`` to a create already
done is that entity's live id. Nothing the planner would not make now, and
nothing the file did not show, is ever sent.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, replace
from typing import Any

from ...errors import PlanError
from ...model import Ref, entity_key
from ...planner import Action, Plan
from ...safetext import printable
from .reader import LiveAccount

PAYLOAD_SHOWN = 160  # characters of the planner's arguments quoted in a refusal


class Lookup:
    """The live entities of one read, indexed once: a plan of a 1000-person account
    looks up thousands of targets, each in constant time."""

    def __init__(self, live: LiveAccount):
        self.by_id: dict[tuple[str, str], Any] = {}
        self.by_label: dict[tuple[str, str], Any] = {}
        pools: list[tuple[str, Iterable[Any]]] = [
            ("projectCategory", live.project_categories), ("tagCategory", live.tag_categories),
            ("taskCategory", live.task_categories), ("customField", live.custom_fields)]
        pools += [(n.kind, (n,)) for n in live.nodes]
        for kind, items in pools:
            for item in items:
                self.by_id.setdefault((kind, item.id), item)
                # categories, roles and custom fields are named by name, the others by xid
                label = getattr(item, "xid", None) if kind not in _BY_NAME else item.name
                if label is not None:
                    self.by_label.setdefault((kind, label), item)
        self.values: dict[str, list[tuple[str, str]]] = {}
        for (entity, field_id), value_id in live.value_ids.items():
            self.values.setdefault(entity, []).append((field_id, value_id))
        self._prints: dict[Ref, str] = {}

    def entity(self, target: Ref) -> Any:
        """The live entity a target names (by id, else by xid or name), or None."""
        if target.id is not None:
            return self.by_id.get((target.kind, str(target.id)))
        if target.xid is None:
            return None
        return self.by_label.get((target.kind, target.xid))

    def fingerprint(self, target: Ref) -> str:
        """A hash of everything the read shows of a target (absent: the hash of nothing).

        Every mutation the planner makes changes its target's read (a create makes it
        appear, an edit a field, a link its relations, a value its ``custom``), so a
        target whose hash is unchanged has had none of the plan's actions done.
        """
        if target not in self._prints:
            entity = self.entity(target)
            doc: dict[str, Any] | None = None
            if entity is not None:
                doc = {"type": type(entity).__name__, **asdict(entity),
                       # the ids of its values: an edit of a value sends that id
                       "values": sorted(self.values.get(entity.id, ()))}
            raw = json.dumps(doc, sort_keys=True, default=str).encode()
            self._prints[target] = hashlib.sha256(raw).hexdigest()[:16]
        return self._prints[target]


_BY_NAME = ("projectCategory", "tagCategory", "taskCategory", "customField", "role")


def fingerprints(live: LiveAccount, actions: Iterable[Action]) -> dict[str, str]:
    """The fingerprint of every target of ``actions``, by entity key."""
    lookup = Lookup(live)
    return {entity_key(a.target): lookup.fingerprint(a.target) for a in actions}


def verified_rest(saved: Plan, fresh: Plan, live: LiveAccount, source: str) -> Plan:
    """The actions of ``saved`` still to run, as the planner makes them now (``fresh``,
    from the same manifests and ``live``); refuses (PlanError) an edited file or a
    stale plan. The result keeps ``fresh``'s problems, warnings and settings."""
    seen = _ids_once(saved, source)
    planned = {a.id: a for a in fresh.actions}
    lookup = Lookup(live)
    done: dict[str, Any] = {}  # saved actions done already -> their target's live id
    for action in saved.actions:
        if action.id not in planned:
            entity = lookup.entity(action.target)
            done[action.id] = entity.id if entity is not None else None
    # What the planner makes now that the file does not hold, by target
    unplanned: dict[str, str] = {}
    for action in fresh.actions:
        if action.id not in seen:
            unplanned.setdefault(entity_key(action.target), action.id)
    keep: list[Action] = []
    for action in saved.actions:
        key = entity_key(action.target)
        then = saved.fingerprints.get(key)
        if then is None:
            raise _refuse(source, action, f"its target {key} has no fingerprint")
        now = lookup.fingerprint(action.target)
        made = planned.get(action.id)
        why = _difference(action, made, done) if made is not None else "beeplan does not plan it"
        if not why:
            assert made is not None
            keep.append(made)
        elif now == then:
            # Its target is as the plan saw it, so nothing of it was done: the file was
            # edited (or an entity it only names, such as a role, changed since).
            raise _refuse(source, action, f"{why} from the manifests and the account, and "
                          "its target is as the plan saw it: the file was edited after it was "
                          "made (or an entity it names changed since); make a new plan")
        elif made is not None:
            raise PlanError(printable(
                f"{source} is stale: {key} changed since it was made, and beeplan now plans "
                f"action {action.id!r} otherwise ({why}). Make a new plan. Nothing was "
                "applied."))
        elif key in unplanned:
            # Not done: the target changed otherwise (deleted, say), and needs new work.
            raise PlanError(printable(
                f"{source} is stale: {key} changed since it was made, and beeplan now plans "
                f"{unplanned[key]!r} for it, which the plan does not hold. Make a new plan. "
                "Nothing was applied."))
        # else: done already (its target changed, and nothing of it is left to do)
    _check_needs(keep, source)
    extra = len(fresh.actions) - len(keep)
    warnings = fresh.warnings
    if extra:
        warnings = (*warnings, f"the manifests now need {extra} change(s) this saved plan "
                    "does not hold (the account changed since it was made); they are not "
                    "applied: make a new plan to see them")
    return replace(fresh, actions=tuple(keep), warnings=warnings,
                   fingerprints={k: v for k, v in saved.fingerprints.items()
                                 if k in {entity_key(a.target) for a in keep}})


def _ids_once(saved: Plan, source: str) -> set[str]:
    """The ids of ``saved``'s actions; refuses a file holding one twice."""
    seen: set[str] = set()
    for action in saved.actions:  # each would match the one planned action of its id
        if action.id in seen:
            raise _refuse(source, action, "a second action with this id")
        seen.add(action.id)
    return seen


def _check_needs(keep: list[Action], source: str) -> None:
    """Refuses (stale) when an action kept now depends on one the saved plan does not hold."""
    kept = {a.id for a in keep}
    for action in keep:
        missing = [d for d in action.depends_on if d not in kept]
        if missing:
            raise PlanError(printable(
                f"{source} is stale: action {action.id!r} now needs {missing[0]!r}, which "
                "the plan does not hold (the account changed since it was made). Make a new "
                "plan. Nothing was applied."))


def _difference(saved: Action, made: Action, done: Mapping[str, Any]) -> str:
    """How ``saved`` differs from the planner's ``made`` ('' when it does not), counting a
    ``{"$ref": ID}`` to a create done already as that entity's live id."""
    if (saved.op, saved.kind, saved.service) != (made.op, made.kind, made.service):
        return f"it calls {saved.service} ({saved.op}), but beeplan plans {made.service} " \
               f"({made.op})"
    t, m = saved.target, made.target
    if (t.kind, t.xid) != (m.kind, m.xid) or (t.id is not None and t.id != m.id):
        return f"it acts on {t}, but beeplan's action of that id acts on {m}"
    if _canonical(_resolved(saved.payload, done)) != _canonical(made.payload):
        shown = _canonical(made.payload)
        if len(shown) > PAYLOAD_SHOWN:
            shown = shown[:PAYLOAD_SHOWN] + "..."
        return f"its arguments are not the ones beeplan plans ({shown})"
    if _canonical(_shown(saved)) != _canonical(_shown(made)):
        return "the changes it shows are not the ones beeplan plans"
    return ""


def _shown(action: Action) -> list[Any]:
    return [[[c.field, c.before, c.after] for c in action.changes], action.relation]


def _resolved(value: Any, done: Mapping[str, Any]) -> Any:
    if isinstance(value, Mapping):
        if set(value) == {"$ref"} and value["$ref"] in done:
            return done[value["$ref"]]
        return {k: _resolved(v, done) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolved(v, done) for v in value]
    return value


def _canonical(value: Any) -> str:
    # sort_keys, and JSON's own types: true is not 1, "1" is not 1.
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def _refuse(source: str, action: Action, why: str) -> PlanError:
    return PlanError(printable(f"{source} refused: action {action.id!r}: {why}. "
                               "Nothing was applied."))
