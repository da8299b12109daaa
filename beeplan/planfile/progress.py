"""A saved plan applied in slices: what its earlier runs applied, so the next one continues.

``beeplan apply plan.json --max-calls N`` applies part of a saved plan. The
next run of the same command must neither apply that part again nor refuse
the plan as stale because of it. So after each slice, beeplan keeps (in its
cache dir, per token hash and plan file content, never in the plan file):

- the ids of the actions applied so far;
- for each entity that the slice changed and that later actions still
  touch, the fingerprint of its state as re-read right after the slice.

The next run drops the applied actions and checks freshness against those
fingerprints: a change made by anyone else in between still makes the plan
stale, a change made by the plan itself does not.

An entity this plan created is re-read (before and after a slice) without the
relations that only ``attach`` actions, or sets of one custom field value, are
left to change: beeplan made it, with none of those links and no values, and
an attach only adds its one link, a set only writes the one value the
reviewed plan shows, so whatever anyone did to the rest of that relation in
between is kept; that relation's listing would only cost a call per entity and
per slice (most of what an adoption in slices spent reading). When nothing but
those is left on it, it is not re-read at all: they send references and the
value alone, so a rename or any other change made to it since is kept too (and
an entity removed since makes them fail, reported). Its get (name, fields,
active) and its other relations (leaders: set whole) are checked while other
actions are left on it, and every entity the plan did not create is checked
as before.

The entities still to create are checked absent by one listing of their parent
when an earlier slice created that parent (``listed``: see cost.AbsenceChecks).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..applier import Outcome
from ..cost import Cost, fresh_cost, parent_key
from ..errors import BeeplanError
from ..localfiles import cachefile
from ..localfiles.cachefile import cache_dir
from ..model import Ref, entity_key
from ..planner import Action, Plan, fingerprint
from ..platforms import reader_for
from ..platforms.base import Client

log = logging.getLogger("beeplan.apply")


def ref_of_key(key: str) -> Ref:
    """The reference behind an ``entity_key`` (``kind:xid`` or ``kind:#id``)."""
    kind, _, label = key.partition(":")
    if label.startswith("#") and label[1:].isdigit():
        return Ref(kind, id=int(label[1:]))
    return Ref(kind, xid=label)


@dataclass
class SavedProgress:
    path: Path
    applied: set[str] = field(default_factory=set)
    fingerprints: dict[str, str] = field(default_factory=dict)
    # Parents earlier slices created -> how many children they created under each:
    # what is left to create under them is checked absent by listing them (remaining()).
    listed: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, client: Client, plan_file: Path) -> SavedProgress:
        digest = hashlib.sha256(plan_file.read_bytes()).hexdigest()[:24]
        path = cache_dir() / "slices" / f"{client.account_key}-{digest}.json"
        progress = cls(path)
        try:
            doc = cachefile.read_json(path)
            progress.applied = {str(a) for a in doc.get("applied", [])}
            progress.fingerprints = {str(k): str(v) for k, v in doc["fingerprints"].items()}
        except FileNotFoundError:
            pass
        except (OSError, ValueError, KeyError, AttributeError, TypeError) as exc:
            # Unreadable: start from the plan itself; freshness then refuses what changed.
            log.warning("ignoring unreadable slice progress %s: %s", path, exc)
            progress.applied, progress.fingerprints = set(), {}
        return progress

    @property
    def started(self) -> bool:
        return bool(self.applied)

    def remaining(self, plan: Plan) -> Plan:
        """The plan without what earlier slices applied, fingerprints as they left them.

        Entities an earlier slice created are re-read without their attach-only
        relations (see the module's doc).
        """
        if not self.applied:
            return plan
        actions = tuple(a for a in plan.actions if a.id not in self.applied)
        keys = {entity_key(a.target) for a in actions}
        prints = {**plan.fingerprints, **self.fingerprints}
        done = [a for a in plan.actions if a.id in self.applied]
        created = _created(done)
        self.listed = {parent: 0 for parent in created}
        for action in done:
            parent = parent_key(action) if action.is_create else None
            if parent in self.listed:
                self.listed[parent] += 1
        reread = _reread_relations(plan.read_relations, actions, created, keys)
        return replace(
            plan,
            actions=actions,
            fingerprints={k: v for k, v in prints.items() if k in reread},
            read_relations=reread,
        )

    def after_cost(self, rest: Plan, part: Plan) -> Cost:
        """The re-reads ``record`` will make after applying ``part`` of ``rest``."""
        total = Cost()
        relations = self._after_relations(rest, {a.id for a in part.actions})
        for key in self._to_reread(rest, part):
            total += fresh_cost(relations.get(key, ()))
        return total

    @staticmethod
    def _after_relations(rest: Plan, done: set[str]) -> dict[str, tuple[str, ...]]:
        """The relations re-read after ``done``: an entity it created skips its attach-only ones."""
        later = tuple(a for a in rest.actions if a.id not in done)
        created = _created(a for a in rest.actions if a.id in done)
        return _reread_relations(rest.read_relations, later, created,
                                 {entity_key(a.target) for a in later})

    @staticmethod
    def _to_reread(rest: Plan, part: Plan) -> set[str]:
        return SavedProgress._touched_and_left(rest, {a.id for a in part.actions})

    @staticmethod
    def _touched_and_left(rest: Plan, done: set[str]) -> set[str]:
        """Entities that actions in ``done`` changed and that later freshness checks read."""
        later = SavedProgress._after_relations(rest, done)
        return {entity_key(a.target) for a in rest.actions if a.id in done} & set(later)

    def record(
        self, client: Client, rest: Plan, outcome: Outcome, parallelism: int
    ) -> None:
        """Keep what this slice applied, and the state it left on entities still to touch."""
        applied = {a.id for a in outcome.applied}
        if not applied:
            return
        # What was applied, not what was meant to be: a run stopped part-way (SIGTERM,
        # Ctrl-C, the quota, a failure) left entities that its own later actions touch.
        relations = self._after_relations(rest, applied)
        wanted = {
            ref_of_key(key): relations.get(key, ())
            for key in self._touched_and_left(rest, applied)
        }
        try:
            current = reader_for(client, parallelism).read_entities(wanted)
        except (BeeplanError, KeyboardInterrupt) as exc:
            # Never at the cost of the report (a second Ctrl-C or SIGTERM, the quota):
            # without these states the next run of the file is refused as stale.
            why = type(exc).__name__ if isinstance(exc, KeyboardInterrupt) else str(exc)
            log.warning("could not re-read what this run changed (%s): a re-run of this "
                        "plan file will be refused as stale; make a new plan", why)
            current = {}
        for ref, entity in current.items():
            self.fingerprints[entity_key(ref)] = fingerprint(entity, wanted[ref])
        self.applied |= applied
        # Private like the ledger (0600 in a 0700 directory), replaced whole.
        cachefile.write_json(
            self.path, {"applied": sorted(self.applied), "fingerprints": self.fingerprints}
        )


def _adds_alone(action: Action) -> bool:
    """An attach (one link added) or a set of one custom field value: sent without
    reading the entity, it leaves every other link and value as it finds them."""
    return action.op == "attach" or (action.op == "set" and action.relation == "customFields")


def _created(applied: Iterable[Action]) -> set[str]:
    return {entity_key(a.target) for a in applied if a.is_create}


def _reread_relations(
    planned: Mapping[str, tuple[str, ...]],
    left: Iterable[Action],
    created: set[str],
    keys: set[str],
) -> dict[str, tuple[str, ...]]:
    """What a freshness re-read lists for each entity in ``keys`` it reads, given the
    actions ``left``.

    For an entity in ``created`` (made by an applied create of this plan), a
    relation whose every action left is an ``attach`` (or a set of one custom
    field value) is not listed, and with only those left the entity is not read
    (absent from the answer): nothing left can take away what anyone did to it
    since, or write anything but what the plan shows.
    """
    others: dict[str, set[str]] = {}  # per created entity: what other actions change
    for action in left:
        key = entity_key(action.target)
        if key in created and not _adds_alone(action):
            others.setdefault(key, set()).add(action.relation)
    out: dict[str, tuple[str, ...]] = {}
    for key, relations in planned.items():
        if key not in keys:
            continue
        if key in created:
            if key not in others:
                continue
            relations = tuple(r for r in relations if r in others[key])
        out[key] = relations
    return out
