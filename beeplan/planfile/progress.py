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
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..applier import Outcome
from ..cost import Cost, fresh_cost
from ..errors import BeeplanError
from ..localfiles import cachefile
from ..localfiles.cachefile import cache_dir
from ..model import Ref, entity_key
from ..planner import Plan, fingerprint
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
        """The plan without what earlier slices applied, fingerprints as they left them."""
        if not self.applied:
            return plan
        actions = tuple(a for a in plan.actions if a.id not in self.applied)
        keys = {entity_key(a.target) for a in actions}
        prints = {**plan.fingerprints, **self.fingerprints}
        return replace(
            plan,
            actions=actions,
            fingerprints={k: v for k, v in prints.items() if k in keys},
            read_relations={k: v for k, v in plan.read_relations.items() if k in keys},
        )

    def after_cost(self, rest: Plan, part: Plan) -> Cost:
        """The re-reads ``record`` will make after applying ``part`` of ``rest``."""
        total = Cost()
        for key in self._to_reread(rest, part):
            total += fresh_cost(rest.read_relations.get(key, ()))
        return total

    @staticmethod
    def _to_reread(rest: Plan, part: Plan) -> set[str]:
        return SavedProgress._touched_and_left(rest, {a.id for a in part.actions})

    @staticmethod
    def _touched_and_left(rest: Plan, done: set[str]) -> set[str]:
        """Entities that actions in ``done`` changed and that other actions still touch."""
        later = {entity_key(a.target) for a in rest.actions if a.id not in done}
        return {entity_key(a.target) for a in rest.actions if a.id in done} & later

    def record(
        self, client: Client, rest: Plan, outcome: Outcome, parallelism: int
    ) -> None:
        """Keep what this slice applied, and the state it left on entities still to touch."""
        applied = {a.id for a in outcome.applied}
        if not applied:
            return
        # What was applied, not what was meant to be: a run stopped part-way (SIGTERM,
        # Ctrl-C, the quota, a failure) left entities that its own later actions touch.
        wanted = {
            ref_of_key(key): rest.read_relations.get(key, ())
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
