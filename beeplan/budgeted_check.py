"""Drift checks within a call budget: ``beeplan check PATH --max-calls N``.

A full check reads the whole managed account, which for a large org costs a
third of the daily quota; run hourly it would cost several quotas. Here the
managed facts are split into *units*, each verified by exactly one API call:

- a list (``company.list``, ``group.tree``, ``<kind>.list`` under a company,
  ``subproject.list`` under a project): existence, names, fields, active
  flag and parent of every entity it lists, and the strays among them;
- a relation listing of one entity (``person.leaders``, ``project.managers``,
  ``X.members``, ``X.custom_fields``, ``X.specific_tasks``, ``X.groups``);
- or, where that is fewer calls, one ``group.assignments`` per group: that
  group's column of every managed ``groups`` relation.

Each run verifies the units verified least recently (never-verified first)
that fit in N calls, and records when each was verified in a state file.
Nothing is concluded from the state file but *what to read next*: drift is
only ever what the API answered in this run, compared with the manifests by
the planner itself (over states where everything not read this run stands
as declared, as in targeted plans). A unit whose facts drifted is not marked
verified, so the next run reads it again first.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from .budget import BudgetSpent, ClientView
from .errors import AuthError, BeeplanError, ConfigError, EndpointError, QuotaError
from .localfiles import cachefile
from .localfiles.cachefile import cache_dir
from .manifest._cache import kept_beside
from .model import CustomField, Entity, Index, Ref, Source, State, entity_key
from .planner import Plan, make_plan, with_safety
from .platforms import default as default_platform
from .platforms import for_endpoint
from .platforms.base import CheckCalls, Client, Platform, Reader

STATE_VERSION = 1

LISTED_UNDER_COMPANY = ("project", "task", "person", "absence")


@dataclass(frozen=True)
class Unit:
    """One API call and the managed facts its answer verifies."""

    key: str  # its name in the state file
    service: str
    payload: Mapping[str, Any]
    digest: str  # of the declared facts it verifies: a manifest change re-verifies them
    what: str  # "list", "relation" or "assignments"
    kind: str  # the kind listed, or the owner's kind
    owner: Ref | None = None  # the parent of a list, the entity of a relation, the group
    rels: tuple[str, ...] = ()  # the relation keys a relation unit verifies
    covers: frozenset[str] = frozenset()  # a list: the declared entities it should list
    listing: str = ""  # a relation unit: the platform's listing (reader.relations_in)
    kb: float = 0.0  # what its call is expected to cost (the platform's estimate)


# One encoder for every digest: json.dumps with options builds a new one per call, which
# was a fifth of units_of at 10,000 people. The same bytes, so the same digests.
_ENCODER = json.JSONEncoder(sort_keys=True, default=str)


def _digest(doc: Any) -> str:
    raw = _ENCODER.encode(doc).encode()
    return hashlib.sha256(raw).hexdigest()[:12]


def _declared(entity: Entity) -> dict[str, Any]:
    return {
        "ref": entity_key(entity.ref),
        "name": entity.name,
        "active": entity.active,
        "parent": entity_key(entity.parent) if entity.parent else None,
        "fields": dict(entity.fields),
    }


def _by_str_of_declared(members: list[Entity]) -> list[Entity]:
    """``members`` in the order of ``str(_declared(e))``, the order the digests were made
    with, without writing out every dict: those strings start ``{'ref': <repr of the
    key>,``, and where a list's keys differ, the keys' reprs alone decide that order.
    (They can be equal: an xid ``#12`` beside the entity of id 12.)"""
    keys = [repr(entity_key(e.ref)) for e in members]
    if len(set(keys)) < len(keys):
        return sorted(members, key=lambda e: str(_declared(e)))
    return [e for _, e in sorted(zip(keys, members, strict=True), key=lambda item: item[0])]


def _value_json(value: Any) -> Any:
    if isinstance(value, frozenset):
        return sorted(entity_key(r) for r in value)
    return value


def units_of(
    desired: State, seen_groups: Iterable[Ref] = (), platform: Platform | None = None
) -> list[Unit]:
    """Every unit of the managed account, in a stable order (lists, then relations).

    ``platform``: whose calls verify them (default: the default one's).
    """
    platform = platform or default_platform()
    calls = platform.check_calls
    if calls is None:
        raise ConfigError(
            f"check --max-calls is not available for the {platform.name} platform: "
            "run 'beeplan check' without it (a full check)"
        )
    managing_groups = [e for e in desired.entities if "groups" in e.relations]
    group_refs = _group_refs(desired, seen_groups)
    by_assignments = bool(managing_groups) and len(group_refs) < len(managing_groups)
    units = _list_units(desired, calls)
    if by_assignments:
        units += _assignment_units(group_refs, managing_groups, calls)
    return units + _relation_units(desired, by_assignments, platform.listing_service, calls)


def _list_units(desired: State, calls: CheckCalls) -> list[Unit]:
    """One unit per list: the group tree, the companies, each kind under each parent."""
    kinds = desired.managed_kinds()  # with a declared-empty kind (absences: []) under prune
    prune = desired.settings.prune
    units: list[Unit] = []

    def list_unit(kind: str, owner: Ref | None, members: list[Entity]) -> None:
        label = f"@{entity_key(owner)}" if owner is not None else ""
        service, payload = calls.list_call(kind, owner)
        units.append(
            Unit(
                key=f"list:{kind}{label}",
                service=service,
                payload=payload,
                digest=_digest([prune, [_declared(e) for e in _by_str_of_declared(members)]]),
                what="list",
                kind=kind,
                owner=owner,
                covers=frozenset(entity_key(e.ref) for e in members),
                kb=calls.call_bytes(service, len(members)) / 1024,
            )
        )

    by_kind: dict[str, list[Entity]] = {}
    for entity in desired.entities:
        by_kind.setdefault(entity.kind, []).append(entity)
    if "group" in kinds:
        list_unit("group", None, by_kind.get("group", []))
    if "company" in kinds:
        list_unit("company", None, by_kind.get("company", []))
    parent_kinds = {"subproject": "project"}
    for kind in (*LISTED_UNDER_COMPANY, "subproject"):
        if kind not in kinds:
            continue
        parent_kind = parent_kinds.get(kind, "company")
        under: dict[tuple[str, str, Any], tuple[Ref, list[Entity]]] = {}
        for entity in by_kind.get(kind, []):
            if entity.parent is not None:
                slot = under.setdefault(_ident(entity.parent), (entity.parent, []))
                slot[1].append(entity)
        if prune:  # strays may hide under any declared parent
            for parent in by_kind.get(parent_kind, []):
                under.setdefault(_ident(parent.ref), (parent.ref, []))
        for parent_ref, members in sorted(under.values(), key=lambda v: entity_key(v[0])):
            list_unit(kind, parent_ref, members)
    return units


def _assignment_units(
    group_refs: list[Ref], managing_groups: list[Entity], calls: CheckCalls
) -> list[Unit]:
    """One group.assignments per group: its column of every managed ``groups`` relation."""
    # Each entity's groups are matched to the groups once, through an index: comparing
    # every entity with every group made check --max-calls quadratic (issue 24).
    held: list[list[str]] = [[] for _ in group_refs]
    matcher = _GroupMatcher(group_refs)
    for entity in managing_groups:
        key = entity_key(entity.ref)
        for i in sorted({i for r in entity.relations["groups"] for i in matcher.find(r)}):
            held[i].append(key)
    column = sorted(entity_key(e.ref) for e in managing_groups)
    # The digest of [column, holders] with the column encoded and hashed once, not once
    # per group: the same digests as before, so a state file stays valid.
    column_hash = hashlib.sha256(b"[" + json.dumps(column, sort_keys=True).encode() + b", ")
    units: list[Unit] = []
    for group, holders in zip(group_refs, held, strict=True):
        digest = column_hash.copy()
        digest.update(json.dumps(sorted(holders), sort_keys=True).encode() + b"]")
        service, payload = calls.assignments_call(group)
        units.append(
            Unit(
                key=f"assignments:{entity_key(group)}",
                service=service,
                payload=payload,
                digest=digest.hexdigest()[:12],
                what="assignments",
                kind="group",
                owner=group,
                rels=("groups",),
                kb=calls.call_bytes(service, len(holders)) / 1024,
            )
        )
    return units


def _relation_units(
    desired: State, by_assignments: bool, listing_service: Mapping[str, str], calls: CheckCalls
) -> list[Unit]:
    """One relation listing per entity and service (``groups`` not, when read by assignments)."""
    units: list[Unit] = []
    for entity in desired.entities:
        services: dict[str, list[str]] = {}
        for rel in entity.relations:
            if rel == "groups" and by_assignments:
                continue
            services.setdefault(listing_service[rel], []).append(rel)
        for listing, rels in services.items():
            rels.sort()
            service, payload = calls.relation_call(entity.kind, listing, entity.ref)
            units.append(
                Unit(
                    key=f"rel:{entity_key(entity.ref)}:{listing}",
                    service=service,
                    payload=payload,
                    digest=_digest({r: _value_json(entity.relations[r]) for r in rels}),
                    what="relation",
                    kind=entity.kind,
                    owner=entity.ref,
                    rels=tuple(rels),
                    listing=listing,
                    kb=calls.call_bytes(service, 0) / 1024,
                )
            )
    return units


def _ident(ref: Ref) -> tuple[str, str, Any]:
    return (ref.kind, "xid", ref.xid) if ref.xid is not None else (ref.kind, "id", ref.id)


def _group_refs(desired: State, seen: Iterable[Ref]) -> list[Ref]:
    """Declared and referenced groups, and those the last ``group.tree`` showed.

    A live group no manifest names can still hold a managed entity (which the
    plan would then detach): its assignments are read too.
    """
    found: dict[tuple[str, str, Any], Ref] = {}
    for entity in desired.entities:
        if entity.kind == "group":
            found.setdefault(_ident(entity.ref), entity.ref)
        for ref in entity.relations.get("groups", ()):
            found.setdefault(_ident(ref), ref)
    matcher = _GroupMatcher(list(found.values()))
    for ref in seen:
        if not matcher.find(ref):
            found[_ident(ref)] = ref
    return sorted(found.values(), key=entity_key)


class _GroupMatcher:
    """The positions of the refs in ``refs`` that are ``_same`` as a ref, found by index."""

    def __init__(self, refs: list[Ref]):
        self.by_xid: dict[Any, list[int]] = {}
        self.by_id: dict[Any, list[int]] = {}
        self.refs = refs
        for i, ref in enumerate(refs):
            if ref.xid is not None:
                self.by_xid.setdefault((ref.kind, ref.xid), []).append(i)
            if ref.id is not None:
                self.by_id.setdefault((ref.kind, ref.id), []).append(i)

    def find(self, ref: Ref) -> list[int]:
        # _same: two xids decide alone; otherwise equal ids do.
        found = list(self.by_xid.get((ref.kind, ref.xid), ())) if ref.xid is not None else []
        if ref.id is not None:
            found += (
                i
                for i in self.by_id.get((ref.kind, ref.id), ())
                if ref.xid is None or self.refs[i].xid is None
            )
        return found


def _same(a: Ref, b: Ref) -> bool:
    """Whether two references name the same entity, as far as they tell."""
    if a.kind != b.kind:
        return False
    if a.xid is not None and b.xid is not None:
        return a.xid == b.xid
    return a.id is not None and a.id == b.id


# ---------------------------------------------------------------------------
# The state file


def default_state_path(client: Client, manifests: Path) -> Path:
    """Under the cache dir, named by account (token hash) and manifest set (its path)."""
    where = hashlib.sha256(str(manifests.resolve()).encode()).hexdigest()[:12]
    return cache_dir() / "check" / f"{client.account_key}-{where}.json"


STAMP = "%Y-%m-%dT%H:%M:%SZ"
# Clocks of two CI runners sharing a state file differ a little; more than this ahead of
# now is a wrong clock or a hand-edited file, and would keep a unit from being read again.
CLOCK_SKEW = timedelta(minutes=5)
RESTART = "the rotation restarts: every unit counts as never verified and is read again"


def _stored_group(item: Mapping[str, Any]) -> Ref:
    """A group as the state file stores it: ``{"id": N, "xid": "..."}`` (either may be
    missing). A bad id raises ValueError or TypeError: a damaged file."""
    xid, raw_id = item.get("xid"), item.get("id")
    return Ref(
        "group",
        xid=str(xid) if xid not in (None, "") else None,
        id=int(raw_id) if raw_id is not None else None,
    )


def _stamp_time(text: str) -> datetime | None:
    try:
        return datetime.strptime(text, STAMP).replace(tzinfo=timezone.utc)
    except ValueError:
        return None


@dataclass
class CheckState:
    verified: dict[str, dict[str, str]] = field(default_factory=dict)  # key -> {at, digest}
    seen_groups: list[Ref] = field(default_factory=list)
    # What was wrong with the file, said in the run's output: a damaged state only
    # costs re-verification, never a false drift, but never silently.
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path, now: datetime | None = None) -> CheckState:
        now = now or _now()
        try:
            # Not read_text: a symlink to /dev/zero or a FIFO (a --state path in a
            # checkout) would exhaust memory or hang; a planted file is not ours.
            doc = cachefile.read_json(path)
        except FileNotFoundError:
            return cls()  # the first run
        except OSError as exc:
            return cls(warnings=[f"the check state file {path} cannot be read "
                                 f"({exc.strerror or exc}); {RESTART}."])
        except ValueError as exc:
            why = "damaged?" if str(exc).startswith("not JSON") else exc
            return cls(warnings=[f"the check state file {path} is not usable ({why}); "
                                 f"{RESTART}."])
        if not isinstance(doc, dict) or doc.get("version") != STATE_VERSION:
            return cls(warnings=[f"the check state file {path} is not one this beeplan "
                                 f"writes (version {STATE_VERSION}); {RESTART}."])
        records, seen = doc.get("verified"), doc.get("seen_groups", [])
        # A record beeplan cannot have written was dropped without a word (a list for
        # "verified", a record without its time): damage too, said as such.
        if not isinstance(records, dict) or not isinstance(seen, list) or not all(
            isinstance(v, dict) and isinstance(v.get("at"), str)
            and isinstance(v.get("digest"), str) for v in records.values()
        ) or not all(isinstance(item, dict) for item in seen):
            return cls(warnings=[f"the check state file {path} has the wrong shape "
                                 f"(damaged?); {RESTART}."])
        try:
            verified = {
                str(k): {"at": str(v.get("at", "")), "digest": str(v.get("digest", ""))}
                for k, v in (doc.get("verified") or {}).items()
                if isinstance(v, dict)
            }
            groups = []
            for item in doc.get("seen_groups") or []:
                if isinstance(item, dict) and (item.get("xid") or item.get("id") is not None):
                    groups.append(_stored_group(item))
        except (AttributeError, TypeError, ValueError):
            return cls(warnings=[f"the check state file {path} has the wrong shape "
                                 f"(damaged?); {RESTART}."])
        # A time in the future would keep a unit at the back of the rotation for ever
        # (least recently verified first), while coverage said it was verified: refused.
        late = now + CLOCK_SKEW
        refused = sorted(k for k, v in verified.items()
                         if (when := _stamp_time(v["at"])) is None or when > late)
        warnings = []
        if refused:
            warnings.append(
                f"the check state file {path} dates {len(refused)} unit(s) in the future or "
                f"not as a UTC time (now is {now.strftime(STAMP)}); they count as never "
                "verified and are read again first. Is a clock wrong, or was the file "
                "edited?"
            )
            for key in refused:
                del verified[key]
        return cls(verified, groups, warnings)

    def save(self, path: Path) -> None:
        doc = {
            "version": STATE_VERSION,
            "verified": dict(sorted(self.verified.items())),
            "seen_groups": [
                {k: v for k, v in (("id", r.id), ("xid", r.xid)) if v is not None}
                for r in self.seen_groups
            ],
        }
        cachefile.write_json(path, doc, indent=1)  # 0600, new directories 0700, whole

    def last_verified(self, unit: Unit) -> str | None:
        """When the unit was last verified, unless the manifests changed its facts since."""
        entry = self.verified.get(unit.key)
        if entry is None or entry.get("digest") != unit.digest:
            return None
        return entry.get("at") or None


# ---------------------------------------------------------------------------
# A run


@dataclass(frozen=True)
class CheckRun:
    plan: Plan  # the drift found in this run (empty: none)
    total: int  # units in the account
    verified: int  # units verified in this run
    calls: int  # requests spent
    kb: float
    never: int  # units never verified, after this run
    oldest: datetime | None  # the oldest verification, after this run
    errors: tuple[str, ...]  # units the API could not answer (not verified, not drift)
    state_path: Path
    budget: int = 0  # the calls this run could spend: --max-calls, or less if today's quota
    daily_requests: int = 4000  # the account's daily request quota
    daily_kb: int = 2048  # the account's daily KB quota
    state_warnings: tuple[str, ...] = ()  # what was wrong with the state file, if anything
    max_kb: float | None = None  # --max-kb
    kb_budget: float | None = None  # the KB this run could spend: --max-kb, or today's less
    total_kb: float = 0.0  # every unit once, estimated: a whole rotation's KB
    passed_over: int = 0  # units next in turn whose estimate did not fit the KB left
    too_big: tuple[tuple[str, float], ...] = ()  # (unit, KB): units larger than --max-kb

    @property
    def drifted(self) -> bool:
        return bool(self.plan.actions or self.plan.problems)

    def runs_for_full_cover(self, budget: int) -> int:
        runs = -(-self.total // max(1, budget))
        if self.max_kb:  # the KB may bind before the calls do
            runs = max(runs, -int(-self.total_kb // self.max_kb))
        return runs

    def budget_for_runs(self, runs: int) -> int:
        """The --max-calls that verifies every unit within ``runs`` runs."""
        return max(1, -(-self.total // max(1, runs)))


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _order(units: list[Unit], state: CheckState) -> list[Unit]:
    """Never verified first (in structural order), then least recently verified."""
    position = {u.key: i for i, u in enumerate(units)}
    return sorted(units, key=lambda u: (state.last_verified(u) or "", position[u.key]))


def select(
    units: list[Unit], state: CheckState, budget: int, kb: float | None = None
) -> list[Unit]:
    """The units of this run: least recently verified first, within ``budget`` calls
    (one each) and ``kb`` KB (None: no limit) by their estimates.

    A unit whose estimate does not fit the KB left is passed over for later, smaller
    ones: a company's people list can weigh 100 KB while a relation weighs 0.3 KB.
    """
    ordered = _order(units, state)
    if kb is None:
        return ordered[:budget]
    chosen: list[Unit] = []
    for unit in ordered:
        if len(chosen) >= budget:
            break
        if unit.kb <= kb:
            chosen.append(unit)
            kb -= unit.kb
    return chosen


def _kb_refusal(max_kb: float | None) -> Callable[[float, float, float], str]:
    """Why a unit's call is refused for its KB: --max-kb, or today's quota (which binds)."""

    def refusal(kb: float, spent: float, more: float) -> str:
        which = (f"--max-kb {max_kb:g}" if max_kb is not None and kb >= max_kb
                 else f"the {kb:.0f} KB left in today's quota (as counted by beeplan)")
        return (f"about {more:.1f} KB more would pass {which} ({spent:.0f} KB spent "
                "in this run); read in a later run")

    return refusal


def kb_budget(client: Client, max_kb: float | None) -> float | None:
    """The KB a check may spend: ``--max-kb``, or less if today's quota has less left
    (None: neither limits it)."""
    left = (
        max(0.0, client.quota.kb - client.ledger.bytes / 1024)
        if client.quota.kb and not client.ignore_quota
        else None
    )
    if max_kb is None:
        return left
    return max_kb if left is None else min(max_kb, left)


def run_check(
    client: Client,
    desired: State,
    max_calls: int,
    state_path: Path,
    parallelism: int = 4,
    now: datetime | None = None,
    max_kb: float | None = None,
) -> CheckRun:
    """Verify the least recently verified part of the account that fits in ``max_calls``
    and ``max_kb`` (and in what is left of today's quota)."""
    now = now or _now()
    state = CheckState.load(state_path, now)
    platform = for_endpoint(client.endpoint)
    # An hourly check of unchanged manifests: the units kept beside their cached load.
    groups = ",".join(sorted(f"{r.id}:{r.xid}" for r in state.seen_groups))
    units = kept_beside(desired, f"check units {platform.name} seen groups {groups}",
                        lambda: units_of(desired, state.seen_groups, platform))
    budget = min(max_calls, client.remaining_today())
    kb = kb_budget(client, max_kb)
    chosen = select(units, state, budget, kb)
    # (Without a KB budget the first ``budget`` units in turn are chosen: those not
    # chosen among them were passed over for their size.)
    passed_over = min(budget, len(units)) - len(chosen) if kb is not None else 0
    too_big = sorted(
        ((u.key, u.kb) for u in units if max_kb is not None and u.kb > max_kb),
        key=lambda item: -item[1],
    )
    before_kb = client.usage.total_bytes
    # One request per unit: a retry would spend past the budget, and a unit
    # without an answer is simply not verified this run.
    capped = ClientView(client, max_calls=budget, max_kb=kb, retries=0,
                        kb_refusal=_kb_refusal(max_kb))
    reader = platform.reader(client, parallelism, None)

    def one(unit: Unit) -> tuple[Unit, dict[str, Any] | str]:
        try:
            return unit, capped.call_expecting(unit.service, unit.payload, round(unit.kb * 1024))
        except BudgetSpent as exc:  # not verified this run
            return unit, str(exc)
        except QuotaError as exc:
            if exc.http_status is None:  # beeplan's own count stopped it: not verified
                return unit, str(exc)
            raise  # the API refused: every later unit would be refused too
        except (AuthError, EndpointError):
            raise  # a refused token, a redirect or a TLS failure: every unit would fail
        except BeeplanError as exc:  # an error answer, or none: not verified this run
            return unit, str(exc)

    answers = reader.pmap(one, chosen)
    plan, verified, errors, seen = _compare(desired, answers, reader)
    if seen is not None:
        state.seen_groups = seen
    stamp = now.strftime(STAMP)
    for unit in verified:
        state.verified[unit.key] = {"at": stamp, "digest": unit.digest}
    keys = {u.key for u in units}
    state.verified = {k: v for k, v in state.verified.items() if k in keys}
    state.save(state_path)
    stamps = [state.last_verified(u) for u in units]
    known = [s for s in stamps if s]
    oldest = (
        datetime.strptime(min(known), STAMP).replace(tzinfo=timezone.utc)
        if known
        else None
    )
    return CheckRun(
        plan=replace(plan, read_calls=capped.spent),
        total=len(units),
        verified=len(verified),
        calls=capped.spent,
        kb=(client.usage.total_bytes - before_kb) / 1024,
        never=sum(1 for s in stamps if not s),
        oldest=oldest,
        errors=tuple(errors),
        state_path=state_path,
        budget=budget,
        daily_requests=client.quota.requests,
        daily_kb=client.quota.kb,
        state_warnings=tuple(state.warnings),
        max_kb=max_kb,
        kb_budget=kb,
        total_kb=sum(u.kb for u in units),
        passed_over=max(0, passed_over),
        too_big=tuple(too_big),
    )


def _compare(
    desired: State,
    answers: list[tuple[Unit, dict[str, Any] | str]],
    reader: Reader,
) -> tuple[Plan, list[Unit], list[str], list[Ref] | None]:
    """The planner's verdict on what was read: (drift plan, units verified, errors, groups)."""
    errors: list[str] = []
    listed: list[Entity] = []
    list_units: list[tuple[Unit, list[Entity]]] = []
    relation_answers: list[tuple[Unit, dict[str, Any]]] = []
    assignment_answers: list[tuple[Unit, dict[str, Any]]] = []
    seen_groups: list[Ref] | None = None
    for unit, answer in answers:
        if isinstance(answer, str):
            errors.append(
                f"{unit.service} {entity_key(unit.owner) if unit.owner else ''}: {answer}".replace(
                    "  ", " "
                )
            )
            continue
        if unit.what == "list":
            entities = reader.listed(unit.kind, answer, unit.owner)
            if unit.kind == "group":
                seen_groups = [e.ref for e in entities]
            listed += entities
            list_units.append((unit, entities))
        elif unit.what == "relation":
            relation_answers.append((unit, answer))
        else:
            assignment_answers.append((unit, answer))

    lists_read = Index(State(entities=tuple(listed)))
    scalars_read = {
        (u.kind, _ident(u.owner) if u.owner is not None else None) for u, _ in list_units
    }
    desired_ids = _IdsDeclared(desired)
    # Relation values read this run, per declared entity.
    values, conclusive = _relation_values(
        relation_answers, reader, lists_read, desired_ids, errors
    )
    # group.assignments: the columns of the groups read, for every entity managing groups.
    columns, assigned, read_columns = _assignment_columns(
        assignment_answers, reader, lists_read, desired_ids, errors
    )
    conclusive += read_columns

    # Only what this run read is compared, with the entities it refers to as stubs
    # (equal on both sides): a stub pair of an unread entity can make no action, but
    # the planner over every declared entity made each run cost as much as a full
    # plan's comparison, 10x at 10x the people (issue 24).
    by_column = _ColumnIndex(columns, assigned)
    desired_entities: list[Entity] = []
    live_entities: list[Entity] = []
    claimed: set[str] = set()
    unread: dict[str, int] = {}  # kind -> declared entities left out, unread
    for entity in desired.entities:
        parent = (
            _ident(entity.parent) if entity.parent is not None and entity.kind != "group" else None
        )
        # Wherever a list of this run showed it, it was read (even under another parent).
        have = lists_read.find(entity.ref)
        scalars = have is not None or (entity.kind, parent) in scalars_read
        read = values.get(entity_key(entity.ref))
        want: frozenset[Ref] = frozenset()
        if columns and "groups" in entity.relations:
            want = by_column.declared(entity.relations["groups"])
            idents = {_ident(entity.ref)}
            if have is not None and have.ref.id is not None:
                idents.add((entity.kind, "id", have.ref.id))
            # The declared reference stands for a group on both sides: equal tokens.
            held = frozenset(_same_as(c, want) for c in by_column.holding(idents))
            if held or want:
                read = {**(read or {}), "groups": held}
        if not scalars and not read:  # nothing of it read: at most a stub, below
            unread[entity.kind] = unread.get(entity.kind, 0) + 1
            continue
        read = dict(read or {})
        if have is not None:
            claimed.add(entity_key(have.ref))
        wanted_rels = {k: entity.relations[k] for k in read}
        if "groups" in read and columns:
            wanted_rels["groups"] = want
        if scalars:
            desired_entities.append(replace(entity, relations=wanted_rels))
            if have is not None:
                live_entities.append(replace(have, relations=read))
        else:
            stub = replace(entity, fields={}, source=None, invite=False)
            desired_entities.append(replace(stub, relations=wanted_rels))
            live_entities.append(replace(stub, relations=read))
    # Listed entities no manifest names: unmanaged, or pruned (drift) under prune.
    live_entities += [e for e in listed if entity_key(e.ref) not in claimed]

    # Custom field values are compared by name; the field ids only go in the repair
    # calls, which 'beeplan plan' makes. Not reading custom_field.list saves a call a run.
    names = sorted(
        {
            name
            for e in (*desired_entities, *live_entities)
            for name in e.relations.get("customFields", {})
        }
    )
    custom_fields = tuple(CustomField(-1 - i, name) for i, name in enumerate(names))
    # company.list and group.tree read their whole kind: an entity adopted by id that
    # they do not show was deleted outside beeplan, which the plan reports as drift.
    whole = frozenset(u.kind for u, _ in list_units if u.kind in ("company", "group"))
    stubs = _referenced_stubs(desired, desired_entities, live_entities)
    unread = {k: n - sum(1 for e in stubs if e.kind == k) for k, n in unread.items()}
    live = State(entities=(*live_entities, *stubs), custom_fields=custom_fields,
                 complete_kinds=whole)
    # The kinds stay managed even when no entity of one is compared this run (strays
    # of a listed kind are pruned under prune, not left alone as unmanaged).
    reduced = replace(desired, entities=(*desired_entities, *stubs),
                      declared_kinds=desired.managed_kinds())
    plan = make_plan(reduced, live)
    # The safety thresholds are shares of the whole live kind: the unread entities count
    # as live (as the stubs that stood for them did), never as a smaller denominator.
    counted = State(entities=(*live.entities, *_placeholders(unread)))
    plan = with_safety(plan, counted, reduced, frozenset())
    verified = _verified([u for u, _ in list_units] + conclusive, plan, list_units, reduced)
    return plan, verified, errors, seen_groups


# (group's identity, member's identity): who a group.assignments answer shows in it.
Assigned = set[tuple[tuple[str, str, Any], tuple[str, str, Any]]]


class _ColumnIndex:
    """The groups whose assignments this run read, found by index (not entity x group)."""

    def __init__(self, columns: list[Ref], assigned: Assigned):
        self.columns = columns
        self.matcher = _GroupMatcher(columns)
        self.by_member: dict[tuple[str, str, Any], list[int]] = {}
        position = {_ident(c): i for i, c in enumerate(columns)}
        for group, member in assigned:
            self.by_member.setdefault(member, []).append(position[group])

    def declared(self, groups: frozenset[Ref]) -> frozenset[Ref]:
        """The declared groups among the columns read."""
        return frozenset(r for r in groups if self.matcher.find(r))

    def holding(self, idents: set[tuple[str, str, Any]]) -> list[Ref]:
        """The columns read that show the entity known by any of ``idents``."""
        found = sorted({i for ident in idents for i in self.by_member.get(ident, ())})
        return [self.columns[i] for i in found]


def _referenced_stubs(
    desired: State, compared: list[Entity], live: list[Entity]
) -> list[Entity]:
    """Stubs of the declared entities the compared ones refer to (parents, relation
    values), and of their parents: the planner resolves those references.

    A stub is the same on both sides (no fields, no relations): it makes no action.
    """
    index = Index(desired)
    have = {entity_key(e.ref) for e in compared}
    stubs: list[Entity] = []
    todo: list[Ref] = []
    for entity in (*compared, *live):
        if entity.parent is not None:
            todo.append(entity.parent)
        for value in entity.relations.values():
            if isinstance(value, frozenset):
                todo.extend(value)
    while todo:
        found = index.find(todo.pop())
        if found is None or entity_key(found.ref) in have:
            continue
        have.add(entity_key(found.ref))
        stubs.append(replace(found, fields={}, relations={}, source=None, invite=False))
        if found.parent is not None:
            todo.append(found.parent)
    return stubs


class _IdsDeclared:
    """(kind, id) of every reference by id alone in the manifests, gathered on first
    use: a relation answer naming an entity by id only is rare, the walk is 18,000
    entries."""

    def __init__(self, desired: State) -> None:
        self.desired = desired
        self.found: set[tuple[str, int | None]] | None = None

    def __contains__(self, item: object) -> bool:
        if self.found is None:
            self.found = {
                (r.kind, r.id)
                for e in self.desired.entities
                for r in (e.ref, *(x for v in e.relations.values()
                                   if isinstance(v, frozenset) for x in v))
                if r.xid is None
            }
        return item in self.found


def _placeholders(unread: Mapping[str, int]) -> list[Entity]:
    """One stand-in per unread declared entity: only its kind is counted."""
    out: list[Entity] = []
    for kind, count in unread.items():
        out += [Entity(kind=kind, ref=Ref(kind, id=-1), name="")] * count
    return out


def _relation_values(
    answers: list[tuple[Unit, dict[str, Any]]],
    reader: Reader,
    lists_read: Index,
    desired_ids: _IdsDeclared,
    errors: list[str],
) -> tuple[dict[str, dict[str, Any]], list[Unit]]:
    """Per declared entity key, the relation values read; and the units that concluded.

    A unit whose answer names an entity this run cannot match is said in ``errors``.
    """
    values: dict[str, dict[str, Any]] = {}
    conclusive: list[Unit] = []
    for unit, answer in answers:
        assert unit.owner is not None
        found = reader.relations_in(unit.listing, answer)
        found = {k: v for k, v in found.items() if k in unit.rels}
        if not _identifiable(found, lists_read, desired_ids):
            errors.append(
                f"{unit.service} {entity_key(unit.owner)}: an answer named an "
                "entity by id only, unknown to this run: not verified"
            )
            continue
        values.setdefault(entity_key(unit.owner), {}).update(found)
        conclusive.append(unit)
    return values, conclusive


def _assignment_columns(
    answers: list[tuple[Unit, dict[str, Any]]],
    reader: Reader,
    lists_read: Index,
    desired_ids: _IdsDeclared,
    errors: list[str],
) -> tuple[list[Ref], Assigned, list[Unit]]:
    """The groups whose assignments were read (their columns), who each holds, and
    the units that concluded.

    A unit whose answer names an entity this run cannot match is said in ``errors``.
    """
    columns: list[Ref] = []
    assigned: Assigned = set()
    conclusive: list[Unit] = []
    for unit, answer in answers:
        assert unit.owner is not None
        refs = reader.assigned_in(answer)
        if not _identifiable({"groups": frozenset(refs)}, lists_read, desired_ids):
            errors.append(
                f"{unit.service} {entity_key(unit.owner)}: an answer named an "
                "entity by id only, unknown to this run: not verified"
            )
            continue
        columns.append(unit.owner)
        for ref in refs:
            if ref.xid is not None:
                assigned.add((_ident(unit.owner), (ref.kind, "xid", ref.xid)))
            if ref.id is not None:
                assigned.add((_ident(unit.owner), (ref.kind, "id", ref.id)))
        conclusive.append(unit)
    return columns, assigned, conclusive


def _same_as(group: Ref, declared: frozenset[Ref]) -> Ref:
    for ref in declared:
        if _same(ref, group):
            return ref
    return group


def _identifiable(
    found: Mapping[str, Any], lists_read: Index, desired_ids: _IdsDeclared
) -> bool:
    """False when an answer names an entity by id only, which this run cannot match.

    Matching it to a declared xid through an id remembered from an earlier
    run could report a drift the account does not have: such a unit is left
    unverified instead.
    """
    for value in found.values():
        if isinstance(value, frozenset):
            for ref in value:
                if (
                    ref.xid is None
                    and lists_read.find(ref) is None
                    and ((ref.kind, ref.id) not in desired_ids)
                ):
                    return False
    return True


def _problem_entities(plan: Plan, desired: State) -> set[str] | None:
    """The entities the plan's problems are about, found by the manifest entry each names.

    None when a problem names no entry: then no unit read in this run counts as verified.
    """
    declared_at: dict[Source, set[str]] = {}
    for entity in desired.entities:
        if entity.source is not None:
            declared_at.setdefault(entity.source, set()).add(entity_key(entity.ref))
    keys: set[str] = set()
    for problem in plan.problems:
        source = getattr(problem, "source", None)
        if source not in declared_at:
            return None
        keys |= declared_at[source]
    return keys


def _verified(
    read: list[Unit], plan: Plan, list_units: list[tuple[Unit, list[Entity]]], desired: State
) -> list[Unit]:
    """The units read whose facts showed no drift (a drifted unit is read again first).

    A problem (a live project under another company, say) only holds back the
    units of the entity it names, so a lasting one does not stop the rotation:
    the rest of the account is still verified, run after run.
    """
    blocked = _problem_entities(plan, desired)
    if blocked is None:
        return []
    drifted: dict[str, set[str]] = {}
    for action in plan.actions:
        drifted.setdefault(entity_key(action.target), set()).add(action.relation or "")
    listed = {u.key: {entity_key(e.ref) for e in entities} for u, entities in list_units}
    out = []
    for unit in read:
        if unit.what == "list":
            covered = unit.covers | listed.get(unit.key, set())
            if covered & blocked or any("" in drifted.get(key, ()) for key in covered):
                continue
        elif unit.what == "relation":
            assert unit.owner is not None
            owner = entity_key(unit.owner)
            if owner in blocked or set(unit.rels) & drifted.get(owner, set()):
                continue
        elif any("groups" in rels for rels in drifted.values()):
            continue
        out.append(unit)
    return out


def _age(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    return f"{hours // 24} days"


def _runs(count: int) -> str:
    return f"{count} run{'' if count == 1 else 's'}"


def coverage_lines(run: CheckRun, max_calls: int, now: datetime | None = None) -> list[str]:
    """What this run covered, and how fresh the whole account's verification is."""
    now = now or _now()
    share = 100.0 * run.verified / run.total if run.total else 100.0
    lines = [f"Warning: {warning}" for warning in run.state_warnings]
    kb_flag = f", --max-kb {run.max_kb:g}" if run.max_kb is not None else ""
    lines += [
        f"Coverage: verified {run.verified} of {run.total} units of the account in this run "
        f"({share:.1f}%), with {run.calls} API calls and {run.kb:.1f} KB "
        f"(--max-calls {max_calls}{kb_flag}).",
    ]
    if run.budget < max_calls:
        lines.append(
            f"Only {run.budget} calls are left in today's quota (as counted by beeplan): "
            "this run spent no more."
        )
    if run.passed_over and run.kb_budget is not None:
        which = (
            f"--max-kb {run.max_kb:g}"
            if run.max_kb is not None and run.kb_budget >= run.max_kb
            else f"the {run.kb_budget:.0f} KB left in today's quota (as counted by beeplan)"
        )
        lines.append(
            f"{run.passed_over} unit{'s' if run.passed_over != 1 else ''} next in turn did not "
            f"fit {which}, by estimated answer sizes: smaller ones were read instead; they "
            "come first in a later run."
        )
    if run.too_big:
        key, size = run.too_big[0]
        lines.append(
            f"{len(run.too_big)} unit{'s' if len(run.too_big) != 1 else ''} never fit "
            f"--max-kb {run.max_kb:g} (the largest, {key}, about {size:.0f} KB): "
            f"they are never verified at this budget; raise --max-kb to at least "
            f"{int(size) + 1}."
        )
    covered = 100.0 * (run.total - run.never) / run.total if run.total else 100.0
    lines.append(f"Covered: {covered:.1f}% of the units verified at least once.")
    if run.never:
        lines.append(
            f"Oldest verification: {run.never} unit{'s' if run.never != 1 else ''} not verified "
            f"yet; at this budget every unit is verified within about "
            f"{_runs(run.runs_for_full_cover(max_calls))}."
        )
    elif run.oldest is not None:
        lines.append(
            f"Oldest verification: {_age((now - run.oldest).total_seconds())} ago "
            f"({run.oldest:%Y-%m-%d %H:%M} UTC). Every unit is verified within about "
            f"{_runs(run.runs_for_full_cover(max_calls))} at this budget."
        )
    if run.drifted:
        lines.append(
            "The units that showed drift are not counted as verified: the next run reads "
            "them again first, so the check stays red until the drift is fixed."
        )
    lines.append(_day_line(run, max_calls))
    for error in run.errors[:10]:
        lines.append(f"Not verified (no usable answer): {error}")
    if len(run.errors) > 10:
        lines.append(f"... and {len(run.errors) - 10} more not verified")
    lines.append(f"State: {run.state_path}")
    return lines


DAY_RUNS = 24  # hourly runs: the schedule the README recommends


def _day_line(run: CheckRun, max_calls: int) -> str:
    """What hourly runs at this budget cost a day, and the budget that covers all in a day."""
    daily = max(1, run.daily_requests)
    # A run reads each unit once at most: above the unit count, --max-calls is not spent.
    spend = DAY_RUNS * min(max_calls, run.total)
    need = run.budget_for_runs(DAY_RUNS)
    most = f" (a run spends at most the {run.total} units)" if max_calls > run.total else ""
    # A day's share of a whole rotation, at the rotation's average KB per unit.
    kb = spend * run.total_kb / max(1, run.total)
    if run.max_kb:
        kb = min(kb, DAY_RUNS * run.max_kb)
    kb_share = (f", about {kb:.0f} KB ({100.0 * kb / run.daily_kb:.0f}% of the daily "
                f"{run.daily_kb} KB)" if run.daily_kb else "")
    return (
        f"Hourly at --max-calls {max_calls}: {spend} requests a day{most} "
        f"({100.0 * spend / daily:.0f}% of the daily {daily}){kb_share}. Verifying everything "
        f"within {DAY_RUNS} runs (a day) needs --max-calls {need}: {DAY_RUNS * need} requests "
        f"a day ({100.0 * DAY_RUNS * need / daily:.0f}%)."
    )


def coverage_document(run: CheckRun, max_calls: int, now: datetime | None = None) -> dict[str, Any]:
    """The coverage of a budgeted check, for ``--format json``."""
    now = now or _now()
    return {
        "max_calls": max_calls,
        "budget": run.budget,
        "max_kb": run.max_kb,
        "kb_budget": None if run.kb_budget is None else round(run.kb_budget, 1),
        "passed_over_for_kb": run.passed_over,
        "never_fit_max_kb": [{"unit": k, "kb": round(v, 1)} for k, v in run.too_big],
        "rotation_kb": round(run.total_kb, 1),
        "calls": run.calls,
        "kb": round(run.kb, 1),
        "units": run.total,
        "verified_this_run": run.verified,
        "share_this_run": round(run.verified / run.total, 4) if run.total else 1.0,
        "never_verified": run.never,
        "share_ever_verified": round((run.total - run.never) / run.total, 4) if run.total else 1.0,
        "oldest_verification": (
            None if run.never or run.oldest is None else run.oldest.strftime("%Y-%m-%dT%H:%M:%SZ")
        ),
        "oldest_age_seconds": (
            None if run.never or run.oldest is None else int((now - run.oldest).total_seconds())
        ),
        "runs_for_full_cover": run.runs_for_full_cover(max_calls),
        "max_calls_for_24_runs": run.budget_for_runs(DAY_RUNS),
        "not_verified": list(run.errors),
        "state_file": str(run.state_path),
        "state_warnings": list(run.state_warnings),
    }
