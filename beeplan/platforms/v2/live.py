"""Read the live account into model types, spending as few API calls as possible.

Only what the manifests manage is read (docs/architecture.md, Quota):
- a kind's list calls only when the manifests declare that kind; under every
  live parent, so an xid is found wherever it lives and never duplicated;
- no list call under a parent whose count is zero (``projects.count``,
  ``subprojects.count``), no ``person.leaders`` when ``leaders.count`` is 0;
- a relation only for the entities whose manifest entry manages it;
- group assignments with one ``group.assignments`` per group when that is
  fewer calls than one ``X.groups`` per entity.
Independent reads run in parallel.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from ...errors import ApiError, AuthError, QuotaError, QuotaStop
from ...model import KINDS, CustomField, CustomValue, Entity, Index, Ref, State
from ..base import Client

log = logging.getLogger("beeplan.live")

T = TypeVar("T")
R = TypeVar("R")

Progress = Callable[[str], None]

# The answer key of each relation-listing service, and the kind of its items.
MEMBER_KEYS = {"members.people": ("members", "person"), "members.groups": ("groups", "group")}

# The listing service (``<kind>.<service>``) that reads each relation key; the
# drift check and the slicer price their re-reads with it.
LISTING_SERVICE = {
    "groups": "groups",
    "members.people": "members",
    "members.groups": "members",
    "managers": "managers",
    "leaders": "leaders",
    "customFields": "custom_fields",
    "specificTasks.enabled": "specific_tasks",
    "specificTasks.tasks": "specific_tasks",
}
FIRST_STAGE = {
    "company": "company.list",
    "group": "group.tree",
    "custom_field": "custom_field.list",
}
ASSIGNMENT_KEYS = {spec.plural: spec.kind for spec in KINDS.values() if spec.kind != "group"}
# Bytes of one entry of a list answer, measured on the sandbox (the benchmark org at x0.5,
# benchmarks/generate.py: 500 people, 100 projects, 300 subprojects, 1050 assignments):
# a list grows by these; LIST_CALL_BYTES is its request and the answer's envelope. They
# price the rest of a read no run on this machine measured yet (``rest_of_read``).
ENTRY_BYTES = {
    "person.list": 190,
    "project.list": 200,
    "task.list": 96,
    "absence.list": 90,
    "subproject.list": 105,
    "group.assignments": 106,
}
LIST_CALL_BYTES = 100
# Fields the reference shows in get/list answers: absent means unset. Others
# (corporate) the reference never shows, so absent means unknown: not compared.
REPORTED_FIELDS = {"startDate", "description", "email", "userGroup"}


def _id(value: Any) -> int:
    return int(value)


def ref_of(kind: str, obj: Mapping[str, Any]) -> Ref:
    xid = obj.get("xid")
    raw_id = obj.get("id")
    return Ref(
        kind,
        xid=str(xid) if xid not in (None, "") else None,
        id=_id(raw_id) if raw_id is not None else None,
    )


def entity_of(kind: str, obj: Mapping[str, Any], parent: Ref | None = None) -> Entity:
    """One live entity from a get/list answer object."""
    spec = KINDS[kind]
    if parent is None and spec.parent_field and isinstance(obj.get(spec.parent_field), Mapping):
        parent = ref_of(spec.parent_kind or kind, obj[spec.parent_field])
    fields = {}
    for name in spec.fields:
        if name in obj:
            fields[name] = obj[name]
        elif name in REPORTED_FIELDS:
            fields[name] = None
    return Entity(
        kind=kind,
        ref=ref_of(kind, obj),
        name=str(obj.get("name", "")),
        parent=parent,
        active=bool(obj.get("active", True)),
        fields=fields,
    )


def _count(obj: Mapping[str, Any], key: str) -> int | None:
    value = obj.get(key)
    if isinstance(value, Mapping) and "count" in value:
        return int(value["count"])
    return None


@dataclass
class Scope:
    """What the manifests manage, and so what must be read."""

    kinds: frozenset[str]
    groups_needed: bool
    custom_fields_needed: bool

    @classmethod
    def of(cls, desired: State) -> Scope:
        kinds = desired.managed_kinds()
        if desired.settings.prune:
            # The plan says how many entities prune leaves alone in the kinds it
            # does not manage: one list per company each (subprojects, a list
            # per project, stay uncounted).
            kinds |= ALL_KINDS - {"subproject"}
        relations = {rel for e in desired.entities for rel in e.relations}
        # A reference {id: N} is checked against the account: its kind is read.
        kinds |= {
            ref.kind
            for e in desired.entities
            for ref in (e.parent, *_refs_in(e.relations))
            if ref is not None and ref.xid is None
        }
        return cls(
            kinds=kinds,
            groups_needed="group" in kinds or bool(relations & {"groups", "members.groups"}),
            custom_fields_needed="customFields" in relations,
        )


ALL_KINDS = frozenset(KINDS)


def _refs_in(relations: Mapping[str, Any]) -> Iterator[Ref]:
    for value in relations.values():
        if isinstance(value, frozenset):
            yield from value


class LiveReader:
    def __init__(
        self, client: Client, parallelism: int = 4, progress: Progress | None = None
    ):
        self.client = client
        self.parallelism = parallelism
        self.progress = progress or (lambda message: None)
        # person.list answers carry leaders.count: a zero spares a person.leaders call.
        self.people_objs: dict[Ref, Mapping[str, Any]] = {}
        self.asked: Counter[str] = Counter()  # the calls each fan-out asked for, per service
        # After the first stage of a read no run measured: the rest of it, estimated.
        self._estimate_rest: tuple[Scope, State, bool] | None = None
        # Lists read ahead of their stage (the people sampled by ``_people_share``), by
        # (kind, company id): the stage takes them instead of calling again.
        self._read_ahead: dict[tuple[str, int], dict[str, Any]] = {}

    def pmap(
        self, fn: Callable[[T], R], items: Iterable[T], services: Sequence[str] | None = None
    ) -> list[R]:
        """``fn`` over ``items`` in parallel; ``services``: the service each item calls
        (for the KB estimate that stops a fan-out before it passes today's quota)."""
        items = list(items)
        self.asked.update(services or ())
        self.client.check_reads(len(items), services)  # stop before passing today's quota
        if len(items) <= 1 or self.parallelism <= 1:
            return [fn(item) for item in items]
        pool = ThreadPoolExecutor(max_workers=self.parallelism)
        try:
            return list(pool.map(fn, items))
        finally:
            # After an error or Ctrl-C, the reads not started yet are dropped, not waited for
            # (an interrupted import would otherwise read on to the end before stopping).
            pool.shutdown(wait=True, cancel_futures=True)

    # -- the account ----------------------------------------------------------

    def read(self, desired: State) -> State:
        """The live account, as far as the desired state manages it.

        Refused before its first call when the last read of this kind on this account
        (measured, ``localfiles/sizes.py``) would not fit what is left today; what this
        one asks for is kept for the next.
        """
        scope = Scope.of(desired)
        key = "read " + ",".join(sorted(scope.kinds)) + (
            " +groups" if scope.groups_needed else "") + (
            " +custom fields" if scope.custom_fields_needed else "")

        def read() -> State:
            if not self._measured(key):
                # Never read on this machine: after the first stage, the rest is priced
                # from the account's counts and the manifests (``rest_of_read``).
                self._estimate_rest = (scope, desired, True)
            live = self.read_lists(scope)
            index = Index(live)
            needs: dict[Ref, set[str]] = {}
            for want in desired.entities:
                have = index.find(want.ref)
                if have is not None and want.relations:
                    needs.setdefault(have.ref, set()).update(want.relations)
            return _with_known_xids(self.read_relations(live, needs))

        return self._whole_read(key, self, read)

    def _whole_read(self, key: str, reader: LiveReader, read: Callable[[], State]) -> State:
        """``read()``, refused before its first call when the last read of kind ``key``
        says it cannot fit today; what ``reader``'s fan-outs ask for is kept for the next
        (as a lower bound when it stops part-way)."""
        self._refuse_before_reading(key)
        reader.asked = Counter()
        complete = False
        try:
            found = read()
            complete = True
            return found
        finally:
            keep = getattr(self.client, "record_read", None)
            if keep is not None and reader.asked:
                keep(key, reader.asked, complete)

    def _measured(self, key: str) -> bool:
        """Whether a whole read of kind ``key`` was measured on this account (sizes.py).

        One that stopped part-way is not: it is a lower bound, refused up front only
        when even that does not fit, so the rest is estimated again after its first stage.
        """
        last = getattr(self.client, "read_estimate", lambda key: None)(key)
        return last is not None and last.complete and bool(last.total)

    def _refuse_the_rest(self, first: Mapping[str, Any]) -> None:
        """After the first stage of a read never measured: refuse the rest, before its
        first call, when its estimate (``rest_of_read``) does not fit what is left.

        The account counts its projects, not its people: the manifests' people are taken
        to be in each company it holds. When only they make the read too large (an
        adoption stopped part-way: the companies made, few people yet), one people list
        says what share of them is there, and the estimate is made again with it.
        """
        if self._estimate_rest is None:
            return
        scope, desired, relations = self._estimate_rest
        self._estimate_rest = None

        def estimate(share: float) -> RestOfRead:
            return rest_of_read(scope, desired, first, self.client.expected_bytes, share,
                                relations=relations)

        def refusal(rest: RestOfRead) -> QuotaStop | None:
            try:
                self.client.check_reads(rest.calls, None, rest.basis, kb=rest.kb)
            except QuotaStop as stop:
                return stop
            return None

        rest = estimate(1.0)
        stop = refusal(rest) if rest.calls else None
        if stop is not None and rest.sample is not None and refusal(estimate(0.0)) is None:
            share = self._people_share(rest.sample)
            rest = estimate(share)
            stop = refusal(rest)
        if stop is not None:
            # Kept as what this read asked for (sizes.py, a lower bound as it stopped):
            # the next run refuses it before its first call while it still cannot fit.
            self.asked.update(rest.services)
            raise stop

    def _people_share(self, sample: tuple[int, frozenset[str]]) -> float:
        """The share of the people the manifests declare under one company (``sample``:
        its id, their xids) that its people list shows (read once: the stage reuses it)."""
        company, xids = sample
        self.client.check_reads(1, ["person.list"])
        answer = self.client.call("person.list", company={"id": company})
        self._read_ahead[("person", company)] = answer
        listed = {str(p.get("xid")) for p in answer.get("people", []) if isinstance(p, Mapping)}
        return len(xids & listed) / len(xids) if xids else 1.0

    def _refuse_before_reading(self, key: str) -> None:
        """Refuse a whole read, spending nothing, that the last one of its kind says
        would pass what is left today (or the run's --max-calls / --max-kb)."""
        last = getattr(self.client, "read_estimate", lambda key: None)(key)
        if last is None or not last.total:
            return
        services = [s for s, n in sorted(last.calls.items()) for _ in range(n)]
        stopped = "" if last.complete else (
            ", which stopped part-way, so at least that many")
        kept = getattr(self.client, "sizes_path", None)
        again = f"; if the account is smaller since, delete {kept} to measure it again" if (
            kept is not None) else ""
        self.client.check_reads(
            len(services), services,
            f"; the calls are those the read of this account on {last.day} asked for{stopped}"
            + again,
        )

    def read_everything_lists(self, relations: Iterable[str]) -> State:
        """Import's first stage: every entity, no relations yet."""
        wanted = set(relations)
        return self.read_lists(
            Scope(ALL_KINDS, groups_needed=True, custom_fields_needed="customFields" in wanted)
        )

    @staticmethod
    def everything_needs(live: State, relations: Iterable[str]) -> dict[Ref, set[str]]:
        wanted = set(relations)
        needs = {e.ref: set(e.spec.relations) & wanted for e in live.entities if e.spec.relations}
        return {ref: rels for ref, rels in needs.items() if rels}

    def read_everything_relations(self, live: State, relations: Iterable[str]) -> State:
        """Import's second stage: the given relations of every entity of ``live``."""
        return _with_known_xids(self.read_relations(live, self.everything_needs(live, relations)))

    def read_lists(self, scope: Scope) -> State:
        """The entities of the kinds in scope (no relations yet).

        Three stages, each one fan-out (``pmap``): the first-stage lists
        (companies, the group tree, custom fields), the lists under each
        company, then the subprojects of the projects that have some.
        """
        extras = self._first_stage(scope)
        self._refuse_the_rest(extras)
        company_objs = extras.get("company", [])
        companies = [entity_of("company", c) for c in company_objs]
        entities: list[Entity] = []
        if scope.groups_needed:
            entities += _flatten_tree(extras["group"])
        entities += companies
        self.progress(f"read {len(companies)} companies, {len(entities) - len(companies)} groups")
        under, project_objs = self._under_companies(scope, company_objs, companies)
        entities += under
        if "subproject" in scope.kinds:
            entities += self._subprojects(project_objs)
        custom_fields = tuple(
            CustomField(_id(cf["id"]), str(cf.get("name", "")), str(cf.get("availableFor", "")))
            for cf in extras.get("custom_field", [])
        )
        return State(
            entities=tuple(entities),
            custom_fields=custom_fields,
            complete_kinds=_complete_kinds(scope, "company" in extras),
            kind_counts=_subproject_count(scope, project_objs),
        )

    def _first_stage(self, scope: Scope) -> dict[str, Any]:
        """First stage: "company", "group", "custom_field" -> the list answered, as needed."""

        def first_stage(name: str) -> Any:
            if name == "company":
                return self.client.call("company.list").get("companies", [])
            if name == "group":
                return self.client.call("group.tree").get("groups", [])
            return self.client.call("custom_field.list").get("customFields", [])

        wanted = []
        if scope.kinds - {"group"}:
            wanted.append("company")
        if scope.groups_needed:
            wanted.append("group")
        if scope.custom_fields_needed:
            wanted.append("custom_field")
        answers = self.pmap(first_stage, wanted, [FIRST_STAGE[n] for n in wanted])
        return dict(zip(wanted, answers, strict=True))

    def _under_companies(
        self, scope: Scope, company_objs: list[Any], companies: list[Entity]
    ) -> tuple[list[Entity], list[tuple[Mapping[str, Any], Entity]]]:
        """Second stage: the lists under each company; and the projects' answer objects."""
        calls: list[tuple[str, Ref]] = []
        for obj, company in zip(company_objs, companies, strict=True):
            if {"project", "subproject"} & scope.kinds and _count(obj, "projects") != 0:
                calls.append(("project", company.ref))
            for kind in ("task", "person", "absence"):
                if kind in scope.kinds:
                    calls.append((kind, company.ref))

        def list_under(call: tuple[str, Ref]) -> list[tuple[Mapping[str, Any], Entity]]:
            kind, parent = call
            answer = self._read_ahead.pop((kind, parent.id or 0), None) or self.client.call(
                f"{kind}.list", company={"id": parent.id})
            return [
                (obj, entity_of(kind, obj, parent)) for obj in answer.get(KINDS[kind].plural, [])
            ]

        entities: list[Entity] = []
        project_objs: list[tuple[Mapping[str, Any], Entity]] = []
        for (kind, _), rows in zip(
            calls, self.pmap(list_under, calls, [f"{k}.list" for k, _ in calls]), strict=True
        ):
            for obj, entity in rows:
                entities.append(entity)
                if kind == "person":
                    self.people_objs[entity.ref] = obj
                elif kind == "project":
                    project_objs.append((obj, entity))
        self.progress(f"read {len(calls)} lists under companies")
        return entities, project_objs

    def _subprojects(self, project_objs: list[tuple[Mapping[str, Any], Entity]]) -> list[Entity]:
        """Third stage: the subprojects under the projects that have some."""
        parents = [p for obj, p in project_objs if _count(obj, "subprojects") != 0]

        def subprojects(project: Entity) -> list[Entity]:
            answer = self.client.call("subproject.list", project={"id": project.ref.id})
            return [
                entity_of("subproject", o, project.ref) for o in answer.get("subprojects", [])
            ]

        entities: list[Entity] = []
        for found_subprojects in self.pmap(
            subprojects, parents, ["subproject.list"] * len(parents)
        ):
            entities += found_subprojects
        self.progress(f"read subprojects of {len(parents)} projects")
        return entities

    # -- relations ------------------------------------------------------------

    def relation_calls(self, live: State, needs: Mapping[Ref, set[str]]) -> int:
        """How many calls ``read_relations(live, needs)`` will make (after ``read_lists``)."""
        by_assignments, live_groups, jobs, _ = self._relation_jobs(live, needs)
        return len(jobs) + (len(live_groups) if by_assignments else 0)

    def _relation_jobs(
        self, live: State, needs: Mapping[Ref, set[str]]
    ) -> tuple[bool, list[Ref], list[tuple[Ref, str]], set[Ref]]:
        group_entities = [ref for ref, rels in needs.items() if "groups" in rels]
        live_groups = [e.ref for e in live.entities if e.kind == "group"]
        by_assignments = bool(group_entities) and len(live_groups) < len(group_entities)
        leaders_known_empty = {
            ref for ref, obj in self.people_objs.items() if _count(obj, "leaders") == 0
        }
        jobs: list[tuple[Ref, str]] = []
        for ref, rels in needs.items():
            if "groups" in rels and not by_assignments:
                jobs.append((ref, "groups"))
            if rels & set(MEMBER_KEYS):
                jobs.append((ref, "members"))
            if "managers" in rels:
                jobs.append((ref, "managers"))
            if "leaders" in rels and ref not in leaders_known_empty:
                jobs.append((ref, "leaders"))
            if "customFields" in rels:
                jobs.append((ref, "custom_fields"))
            if rels & {"specificTasks.enabled", "specificTasks.tasks"}:
                jobs.append((ref, "specific_tasks"))
        return by_assignments, live_groups, jobs, leaders_known_empty

    def read_relations(self, live: State, needs: Mapping[Ref, set[str]]) -> State:
        """Fill in the relations each entity of ``needs`` manages, in as few calls as possible."""
        by_assignments, live_groups, jobs, leaders_known_empty = self._relation_jobs(live, needs)
        assigned: dict[tuple[str, int], set[Ref]] = {}
        if by_assignments:
            for group, answer in zip(
                live_groups,
                self.pmap(
                    lambda g: self.client.call("group.assignments", id=g.id),
                    live_groups,
                    ["group.assignments"] * len(live_groups),
                ),
                strict=True,
            ):
                for key, kind in ASSIGNMENT_KEYS.items():
                    for obj in answer.get(key, []):
                        assigned.setdefault((kind, _id(obj["id"])), set()).add(group)

        def run(job: tuple[Ref, str]) -> dict[str, Any]:
            ref, what = job
            return self.client.call(f"{ref.kind}.{what}", id=ref.id)

        found: dict[Ref, dict[str, Any]] = {ref: {} for ref in needs}
        for (ref, what), answer in zip(
            jobs, self.pmap(run, jobs, [f"{r.kind}.{w}" for r, w in jobs]), strict=True
        ):
            found[ref].update(relations_of(what, answer))
        for ref, rels in needs.items():
            if "groups" in rels and by_assignments:
                found[ref]["groups"] = frozenset(assigned.get((ref.kind, ref.id or 0), set()))
            if "leaders" in rels and ref in leaders_known_empty:
                found[ref]["leaders"] = frozenset()
        if jobs or by_assignments:
            self.progress(
                f"read {len(jobs) + (len(live_groups) if by_assignments else 0)} relation lists"
            )

        entities = tuple(
            e.with_relations(**{k: v for k, v in found[e.ref].items() if k in needs[e.ref]})
            if e.ref in found
            else e
            for e in live.entities
        )
        return replace(live, entities=entities)

    # -- single entities, for checking a saved plan ------------------------------

    def read_entities(self, wanted: Mapping[Ref, Iterable[str]]) -> dict[Ref, Entity | None]:
        """Re-read the given entities (and relations) by id or xid; None where absent."""

        def one(item: tuple[Ref, tuple[str, ...]]) -> tuple[Ref, Entity | None]:
            ref, rels = item
            try:
                answer = self.client.call(f"{ref.kind}.get", **ref_arg(ref))
            except (AuthError, QuotaError):
                raise  # not an answer about the entity: it must not read as "absent"
            except ApiError:
                return ref, None
            obj = answer.get(ref.kind, {})
            entity = entity_of(ref.kind, obj)
            if entity.ref.id is None:
                return ref, None
            values: dict[str, Any] = {}
            if "leaders" in rels and _count(obj, "leaders") == 0:
                values["leaders"] = frozenset()  # the get says so: no person.leaders call
                rels = tuple(r for r in rels if r != "leaders")
            services = []
            if "groups" in rels:
                services.append("groups")
            if set(rels) & set(MEMBER_KEYS):
                services.append("members")
            for rel, what in (
                ("managers", "managers"),
                ("leaders", "leaders"),
                ("customFields", "custom_fields"),
            ):
                if rel in rels:
                    services.append(what)
            if set(rels) & {"specificTasks.enabled", "specificTasks.tasks"}:
                services.append("specific_tasks")
            for what in services:
                values.update(
                    relations_of(what, self.client.call(f"{ref.kind}.{what}", id=entity.ref.id))
                )
            kept = set(rels) | ({"leaders"} if "leaders" in values else set())
            return ref, entity.with_relations(**{k: v for k, v in values.items() if k in kept})

        items = [(ref, tuple(rels)) for ref, rels in wanted.items()]
        return dict(self.pmap(one, items))

    def read_kinds(
        self, kinds: frozenset[str], guard: Callable[[int, int], None] | None = None,
        desired: State | None = None,
    ) -> State:
        """The lists of ``kinds`` (no relations), for the hours export.

        ``guard(count, later)`` runs before each fan-out of reads: ``count`` reads
        are about to start and at most ``later`` may follow (see ``_GuardedReader``).
        ``desired``: the manifests, which price the lists of a first read of the account
        (``rest_of_read``).
        """
        reader: LiveReader = self
        if guard is not None:
            reader = _GuardedReader(
                self.client, self.parallelism, self.progress, guard, "subproject" in kinds
            )
        key = "lists " + ",".join(sorted(kinds))
        if desired is not None and not self._measured(key):
            reader._estimate_rest = (Scope(kinds, False, False), desired, False)
        return self._whole_read(key, reader, lambda: reader.read_lists(Scope(kinds, False, False)))

    # -- single lists, for a targeted plan's checks ------------------------------

    def list_top(self, kind: str) -> list[Entity]:
        """Every live group (the tree, flattened) or, for any other kind, every company."""
        if kind == "group":
            return _flatten_tree(self.client.call("group.tree").get("groups", []))
        companies = self.client.call("company.list").get("companies", [])
        return [entity_of("company", c) for c in companies]

    def list_under(self, kind: str, parent: Ref) -> list[Entity]:
        """The live entities of ``kind`` listed under ``parent`` (one call, by its xid or id)."""
        answer = self.client.call(f"{kind}.list", **{parent.kind: ref_arg(parent)})
        return [entity_of(kind, o, parent) for o in answer.get(KINDS[kind].plural, [])]

    def people_with_emails(self, company: Ref, emails: frozenset[str]) -> list[Entity]:
        """The people of ``company`` holding one of ``emails`` (stripped, case-folded).

        Only those become entities: the email check of a targeted plan lists every
        company's people (10,000 at 10,000 people) to find the few holders.
        """
        answer = self.client.call("person.list", company=ref_arg(company))
        return [
            entity_of("person", o, company)
            for o in answer.get("people", [])
            if isinstance(o.get("email"), str) and o["email"].strip().casefold() in emails
        ]


    # -- answers to calls the caller made, for the budgeted check ----------------

    def listed(
        self, kind: str, answer: Mapping[str, Any], owner: Ref | None
    ) -> list[Entity]:
        """The entities a list answer shows (``owner``: the parent it was listed under)."""
        if kind == "group":
            return _flatten_tree(answer.get("groups", []))
        field_name = KINDS[kind].parent_field
        return [
            entity_of(
                kind, obj,
                # An object naming its own parent keeps it: a subproject under another.
                None if field_name and isinstance(obj.get(field_name), Mapping) else owner,
            )
            for obj in answer.get(KINDS[kind].plural, [])
        ]

    def relations_in(self, what: str, answer: Mapping[str, Any]) -> dict[str, Any]:
        """The relation values a relation listing (``person.leaders``: "leaders") shows."""
        return relations_of(what, answer)

    def assigned_in(self, answer: Mapping[str, Any]) -> list[Ref]:
        """Every entity a ``group.assignments`` answer shows in the group."""
        return [
            ref_of(kind, obj)
            for key, kind in ASSIGNMENT_KEYS.items()
            for obj in answer.get(key, [])
        ]


class _GuardedReader(LiveReader):
    """The lists reader, asking ``guard`` before each fan-out of reads.

    ``guard(count, later)``: ``count`` reads are about to start, and at most ``later``
    more may follow them (the subproject lists: one per project at most, known from
    the companies' project counts once company.list is read).
    """

    def __init__(self, client: Client, parallelism: int, progress: Progress | None,
                 guard: Callable[[int, int], None], subprojects: bool):
        super().__init__(client, parallelism, progress)
        self.guard = guard
        self.subprojects = subprojects
        self.stage = 0
        self.later = 0

    def pmap(
        self, fn: Callable[[T], R], items: Iterable[T], services: Sequence[str] | None = None
    ) -> list[R]:
        items = list(items)
        self.guard(len(items), self.later)
        results = super().pmap(fn, items, services)
        where = [i for i, item in enumerate(items) if item == "company"]
        if self.stage == 0 and self.subprojects and where:
            companies: Any = results[where[0]]  # the first stage's company.list answer
            self.later = sum(
                _count_of(c, "projects") for c in companies if isinstance(c, Mapping)
            ) if isinstance(companies, list) else 0
        elif self.stage >= 1:
            self.later = 0
        self.stage += 1
        return results


@dataclass(frozen=True)
class RestOfRead:
    """The estimate of what a read has left after its first stage."""

    calls: int
    kb: float
    basis: str  # where the estimate comes from, for the message
    services: Mapping[str, int]  # the calls per service
    # A company with people declared (its id, their xids): the one people list that
    # says how many of them are in the account (None: no people to list).
    sample: tuple[int, frozenset[str]] | None = None


def rest_of_read(
    scope: Scope, desired: State, first: Mapping[str, Any], call_bytes: Callable[[str], int],
    people_share: float = 1.0, *, relations: bool = True,
) -> RestOfRead:
    """The calls and KB the rest of ``LiveReader.read(desired)`` will take, from its first
    stage's answers (``first``: "company", "group" -> the list answered).

    For a first read of an account, whose list sizes no run measured: the account's own
    counts where it gives them (``projects.count`` of each company; the share of the
    declared projects it holds is the share of their subprojects taken to be there),
    else what the manifests declare under each company the account holds (people, tasks,
    absences, and the relations of all these), priced per entry (ENTRY_BYTES) and, for a
    relation listing, at ``call_bytes(service)``. ``people_share``: the share of the
    declared people taken to be in the account (the account gives no count of them);
    ``relations``: whether the read goes on to their relations (``read_kinds`` does not).
    A company the account does not hold has nothing to list, so an adoption into an
    empty account estimates nothing. Entities in the account that the manifests do not
    name are not counted: a lower bound, and the reader's own stops still guard the rest.
    """
    companies = [c for c in first.get("company", []) if isinstance(c, Mapping)]
    live = State(entities=tuple(entity_of("company", c) for c in companies)
                 + tuple(_flatten_tree(first.get("group", []) or [])))
    index = Index(live)
    by_ref = {e.ref: e for e in desired.entities}

    def company_of(entity: Entity) -> Ref | None:
        """The live company ``entity`` is declared under (None: none the account holds)."""
        for _ in range(8):  # company <- project <- subproject: never that deep
            if entity.kind == "company" or entity.parent is None:
                break
            parent = by_ref.get(entity.parent)
            if parent is None:  # a reference to a live entity ({id: N})
                found = index.find(entity.parent)
                return found.ref if found is not None and found.kind == "company" else None
            entity = parent
        found = index.find(entity.ref) if entity.kind == "company" else None
        return found.ref if found is not None else None

    per_company: dict[Ref, dict[str, list[Entity]]] = {}
    for entity in desired.entities:
        company = company_of(entity) if entity.kind != "group" else None
        if company is not None:
            per_company.setdefault(company, {}).setdefault(entity.kind, []).append(entity)
    calls: Counter[str] = Counter()
    nbytes = 0
    existing: list[Entity] = []  # the declared entities taken to be in the account
    sample: tuple[int, frozenset[str]] | None = None
    people = 0
    for obj in companies:
        company = entity_of("company", obj).ref
        mine = per_company.get(company, {})
        declared = {kind: mine.get(kind, []) for kind in KINDS}
        projects = _count(obj, "projects")
        listed = len(declared["project"]) if projects is None else projects
        share = min(1.0, listed / len(declared["project"])) if declared["project"] else 1.0
        kept = {kind: round(len(found) * (people_share if kind == "person" else share
                                          if kind in ("project", "subproject") else 1.0))
                for kind, found in declared.items()}
        if {"project", "subproject"} & scope.kinds and projects != 0:
            calls["project.list"] += 1
            nbytes += LIST_CALL_BYTES + ENTRY_BYTES["project.list"] * listed
        for kind in ("task", "person", "absence"):
            if kind in scope.kinds:
                calls[f"{kind}.list"] += 1
                nbytes += LIST_CALL_BYTES + ENTRY_BYTES[f"{kind}.list"] * kept[kind]
        if "subproject" in scope.kinds:
            with_subs = {e.parent for e in declared["subproject"]}
            lists = min(listed, round(len(with_subs) * share))
            calls["subproject.list"] += lists
            nbytes += lists * LIST_CALL_BYTES + ENTRY_BYTES["subproject.list"] * kept[
                "subproject"]
        # The projects the account lacks (by its count) have no relations to read yet.
        existing += [e for kind, found in declared.items() for e in found[:kept[kind]]]
        people += kept["person"]
        xids = frozenset(p.ref.xid for p in declared["person"] if p.ref.xid)
        if "person" in scope.kinds and xids and company.id is not None and (
                sample is None or _better_sample(len(xids), len(sample[1]))):
            sample = (company.id, xids)
    existing += [e for e in desired.entities if e.kind == "group" and index.find(e.ref)]
    if relations:
        relation_calls, relation_bytes = _relations_estimate(
            existing, len(live.entities) - len(companies), call_bytes)
        calls.update(relation_calls)
        nbytes += relation_bytes
    of_people = "" if people_share == 1.0 else (
        f" ({people_share:.0%} of those declared: the share one company's people list shows)")
    basis = (
        f"; this account was never read on this machine: estimated from its "
        f"{len(companies)} companies and "
        f"{sum(_count_of(c, 'projects') for c in companies)} projects (company.list) and "
        f"the {people} people{of_people} and {len(existing)} entities in all the manifests "
        f"declare under them, at about {ENTRY_BYTES['person.list']} bytes a person listed "
        "(sizes measured on the sandbox)"
    )
    return RestOfRead(sum(calls.values()), nbytes / 1024, basis, dict(calls), sample)


def _better_sample(people: int, than: int) -> bool:
    """The company whose people list to read: the smallest of at least SAMPLE_PEOPLE
    declared (a share of a handful says little; a larger list costs more KB)."""
    if (people >= SAMPLE_PEOPLE) != (than >= SAMPLE_PEOPLE):
        return people >= SAMPLE_PEOPLE
    return people < than if people >= SAMPLE_PEOPLE else people > than


SAMPLE_PEOPLE = 20


def _relations_estimate(
    existing: Sequence[Entity], live_groups: int, call_bytes: Callable[[str], int]
) -> tuple[Counter[str], int]:
    """The relation listings ``read_relations`` makes for ``existing``, as it chooses them
    (``_relation_jobs``): one group.assignments per live group when that is fewer calls;
    no person.leaders where the manifests want none (the list's count may spare it)."""
    calls: Counter[str] = Counter()
    in_groups = [e for e in existing if "groups" in e.relations]
    if in_groups and live_groups < len(in_groups):
        calls["group.assignments"] = live_groups
        entries = sum(len(e.relations["groups"]) for e in in_groups)
        nbytes = live_groups * LIST_CALL_BYTES + ENTRY_BYTES["group.assignments"] * entries
    else:
        calls.update(f"{e.kind}.groups" for e in in_groups)
        nbytes = 0
    for entity in existing:
        rels = set(entity.relations)
        wanted = [what for what, keys in (
            ("members", set(MEMBER_KEYS)), ("managers", {"managers"}),
            ("custom_fields", {"customFields"}),
            ("specific_tasks", {"specificTasks.enabled", "specificTasks.tasks"}),
        ) if rels & keys]
        if entity.relations.get("leaders"):
            wanted.append("leaders")
        calls.update(f"{entity.kind}.{what}" for what in wanted)
    nbytes += sum(call_bytes(s) * n for s, n in calls.items() if s != "group.assignments")
    return calls, nbytes


def _count_of(obj: Mapping[str, Any], key: str) -> int:
    """``obj[key].count`` as the API gives it; unknown counts as 0 (a bound, not a fact)."""
    value = obj.get(key)
    count = value.get("count") if isinstance(value, Mapping) else None
    return count if isinstance(count, int) and count > 0 else 0


def _complete_kinds(scope: Scope, companies_listed: bool) -> frozenset[str]:
    """The kinds ``read_lists`` read whole: every live entity of them is in its State."""
    complete = set(scope.kinds & {"task", "person", "absence", "subproject"})
    if companies_listed:
        complete.add("company")
    if {"project", "subproject"} & scope.kinds:
        complete.add("project")
    if scope.groups_needed:
        complete.add("group")
    return frozenset(complete)


def _subproject_count(
    scope: Scope, project_objs: list[tuple[Mapping[str, Any], Entity]]
) -> dict[str, int]:
    """Projects were listed but not their subprojects: their answers count those, for free."""
    sub_counts = [_count(obj, "subprojects") for obj, _ in project_objs]
    if "project" in scope.kinds and "subproject" not in scope.kinds and None not in sub_counts:
        return {"subproject": sum(n or 0 for n in sub_counts)}
    return {}


def ref_arg(ref: Ref) -> dict[str, Any]:
    """How a get/activate/... call names its entity: ``id`` or ``xid`` at the top level."""
    return {"xid": ref.xid} if ref.xid is not None else {"id": ref.id}


def relations_of(what: str, answer: Mapping[str, Any]) -> dict[str, Any]:
    """Relation values from the answer of an ``X.<what>`` listing service."""
    if what == "groups":
        return {"groups": frozenset(ref_of("group", g) for g in answer.get("groups", []))}
    if what == "members":
        return {
            rel: frozenset(ref_of(kind, o) for o in answer.get(key, []))
            for rel, (key, kind) in MEMBER_KEYS.items()
        }
    if what == "managers":  # the reference answers project.managers under "members"
        return {"managers": frozenset(ref_of("person", o) for o in answer.get("members", []))}
    if what == "leaders":
        return {"leaders": frozenset(ref_of("person", o) for o in answer.get("leaders", []))}
    if what == "custom_fields":
        return {
            "customFields": {
                str(cf["name"]): _custom_value(cf["value"])
                for cf in answer.get("customFields", [])
                if cf.get("value") not in (None, "")
            }
        }
    if what == "specific_tasks":
        return {
            "specificTasks.enabled": not bool(answer.get("disabled", False)),
            "specificTasks.tasks": frozenset(
                ref_of("task", t) for t in answer.get("specificTasks", [])
            ),
        }
    raise ValueError(f"unknown relation listing {what!r}")


def _custom_value(value: Any) -> CustomValue:
    """A live custom field value with its JSON type: false stays false, 1.5 stays 1.5."""
    if isinstance(value, (str, bool, int, float)):
        return value
    return json.dumps(value, ensure_ascii=False)  # not a scalar: compared as its text


def _flatten_tree(nodes: Iterable[Mapping[str, Any]], parent: Ref | None = None) -> list[Entity]:
    out: list[Entity] = []
    for node in nodes:
        entity = entity_of("group", node, parent)
        out.append(entity)
        children = node.get("groups")
        if isinstance(children, list):
            out += _flatten_tree(children, entity.ref)
    return out


def _with_known_xids(live: State) -> State:
    """Fill in the xid of every reference whose target's xid is known from the lists."""
    xids = {(e.kind, e.ref.id): e.ref.xid for e in live.entities if e.ref.xid is not None}

    def fix(ref: Ref | None) -> Ref | None:
        if ref is None or ref.xid is not None:
            return ref
        xid = xids.get((ref.kind, ref.id))
        return replace(ref, xid=xid) if xid is not None else ref

    def fix_value(value: Any) -> Any:
        if isinstance(value, frozenset):
            return frozenset(fix(r) for r in value)
        return value

    entities = tuple(
        replace(
            e,
            parent=fix(e.parent),
            relations={k: fix_value(v) for k, v in e.relations.items()},
        )
        for e in live.entities
    )
    return replace(live, entities=entities)
