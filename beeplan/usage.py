"""Hours logged on entities, read with the platform's export job.

An export job answers what time entities carry (API v2: ``time_entry.export``
starts a job, ``time_entry.get_job_info`` is polled until it is done; how
each call is written and read is the platform's ``hours_export``,
``platforms/v2/hours.py``). One entity filter per job,
so each job is filtered to the narrowest entity that answers for several
targets at once: a company deactivated with its projects is one job, so are
projects (or subprojects) deactivated under one parent. Hours on a
subproject are logged under its project and company, so those groupings lose
nothing. Tasks, people and absence types are exported one job each: a task
may be used on another company's projects, a person logs time on customer
companies, so no parent filter is known to hold all their entries.

Only the columns needed are asked for (date, hours, person id, and the id
column of each grouped kind), with every status (drafts are hours people
logged too). This is the live-reading side of the export, next to ``live``;
it makes API calls and nothing else.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone
from typing import Any, Protocol

from .errors import ApiError, TransportError, UsageError
from .hours import (
    UNUSED,
    AccountUsage,
    EntityUsage,
    Line,
    UsageReport,
    last_days,
)
from .model import Index, Located, Ref, State, entity_key
from .planner import Plan
from .platforms import for_endpoint, reader_for
from .platforms.base import Client, HoursExport

log = logging.getLogger("beeplan.usage")

TIME_KINDS = ("company", "project", "subproject", "task", "absence", "person")
# A kind whose every entry is also an entry of its parent: siblings share one job.
GROUPABLE = frozenset({"project", "subproject"})
# Kinds whose entries may lie on companies other than their own.
APART = frozenset({"person", "task"})
MAX_JOBS = 20
DEFAULT_DAYS = 90

ProgressFn = Callable[[int, int, float], None]  # (jobs done, jobs, seconds waited)


class PollBudgetSpent(UsageError):
    """Polling again would pass the calls ``run_jobs`` was allowed: nothing more was spent."""

    def __init__(self, spent: int, running: int, polls: int) -> None:
        super().__init__(f"the time export was still running after {polls} poll(s) "
                         f"({running} job(s)), and polling again would pass the call budget")
        self.spent, self.running, self.polls = spent, running, polls


@dataclass(frozen=True)
class PollPolicy:
    """How to wait for a job: start fast, back off, never slower than ``longest``.

    The reference polls every 5 s; an export of a few entities is often done
    in well under a second, so the first polls come sooner.
    """

    first: float = 0.2
    factor: float = 2.0
    longest: float = 5.0
    limit: float = 120.0  # seconds of waiting before giving up
    # The wait before the only poll a call budget has left: real clients poll once after
    # a few seconds and get the result (issue #23), so that poll is not spent early.
    settle: float = 3.0

    def delays(self) -> Iterable[float]:
        delay = self.first
        while True:
            yield min(delay, self.longest)
            delay = min(delay * self.factor, self.longest)


@dataclass(frozen=True)
class Target:
    """An entity to look up: its live ref (with id), name, and live ancestors (nearest first)."""

    ref: Ref
    name: str
    ancestors: tuple[Ref, ...] = ()


@dataclass(frozen=True)
class Job:
    """One export: filtered to one entity, answering for its members."""

    kind: str
    id: int
    members: tuple[Target, ...]

    @property
    def keys(self) -> list[str]:
        keys = ["date", "hours"]
        if self.kind != "person":
            keys.append("personId")
        for kind in TIME_KINDS:
            if any(self.needs_column(m) and m.ref.kind == kind for m in self.members):
                keys.append(f"{kind}Id")
        return keys

    def needs_column(self, member: Target) -> bool:
        return not (member.ref.kind == self.kind and member.ref.id == self.id)

    @property
    def where(self) -> tuple[str, int] | None:
        """The one entity the export is filtered to."""
        return (self.kind, self.id)


def period(days: int, today: date | None = None) -> tuple[str, str]:
    """The last ``days`` days, today included (UTC, as the quota day)."""
    end = today or datetime.now(timezone.utc).date()
    start = end - timedelta(days=max(days, 1) - 1)
    return start.isoformat(), end.isoformat()


# ---------------------------------------------------------------------------
# Which jobs


def plan_jobs(
    targets: Sequence[Target], max_jobs: int = MAX_JOBS
) -> tuple[list[Job], list[Target]]:
    """The fewest filtered jobs that answer for every target; those past the cap are returned."""
    by_token = {_token(t): t for t in targets if t.ref.id is not None}
    covered_by: dict[tuple[str, int], tuple[str, int]] = {}
    tops: list[Target] = []
    for token, target in by_token.items():
        anchor = None
        if target.ref.kind in GROUPABLE:
            # The farthest ancestor also being looked up answers for this one.
            for ancestor in target.ancestors:
                if ancestor.id is not None and (ancestor.kind, ancestor.id) in by_token:
                    anchor = (ancestor.kind, ancestor.id)
        if anchor is None:
            tops.append(target)
        else:
            covered_by[token] = anchor
    descendants: dict[tuple[str, int], list[Target]] = {}
    for token, anchor in covered_by.items():
        descendants.setdefault(anchor, []).append(by_token[token])

    siblings: dict[tuple[str, int], list[Target]] = {}
    singles: list[Target] = []
    for target in tops:
        parent = target.ancestors[0] if target.ancestors else None
        if target.ref.kind in GROUPABLE and parent is not None and parent.id is not None:
            siblings.setdefault((parent.kind, parent.id), []).append(target)
        else:
            singles.append(target)
    jobs: list[Job] = []
    for (kind, parent_id), group in siblings.items():
        if len(group) == 1:
            singles.append(group[0])
            continue
        members = [m for t in group for m in (t, *descendants.get(_token(t), []))]
        jobs.append(Job(kind, parent_id, tuple(members)))
    for target in singles:
        members = [target, *descendants.get(_token(target), [])]
        jobs.append(Job(target.ref.kind, int(target.ref.id or 0), tuple(members)))
    # Big jobs first: when capped, the cap drops the fewest entities.
    jobs.sort(key=lambda j: (-len(j.members), TIME_KINDS.index(j.kind), j.id))
    kept, dropped = jobs[:max_jobs], jobs[max_jobs:]
    return kept, [m for job in dropped for m in job.members]


def _token(target: Target) -> tuple[str, int]:
    return (target.ref.kind, int(target.ref.id or 0))


def targets_in(state: State, refs: Iterable[Ref]) -> list[Target]:
    """Targets for these refs, with ids and ancestors from the live state (unknown: left out)."""
    index = Index(state)
    out = []
    for ref in refs:
        entity = index.find(ref)
        if entity is None or entity.ref.id is None or entity.kind not in TIME_KINDS:
            continue
        ancestors: list[Ref] = []
        parent = entity.parent
        while parent is not None and len(ancestors) < 3:
            found = index.find(parent)
            ancestors.append(found.ref if found is not None else parent)
            parent = found.parent if found is not None else None
        out.append(Target(ref, entity.name, tuple(ancestors)))
    return out


# ---------------------------------------------------------------------------
# Running them


def estimate_calls(jobs: int, policy: PollPolicy) -> tuple[int, int]:
    """(expected, at most) calls for ``jobs`` exports: one export and one poll each, at best."""
    polls = 1
    waited = 0.0
    for delay in policy.delays():
        if waited + delay > policy.limit:
            break
        waited += delay
        polls += 1
    return 2 * jobs, jobs * (1 + polls)


class ExportRequest(Protocol):
    @property
    def keys(self) -> list[str]: ...

    @property
    def where(self) -> tuple[str, int] | None: ...  # (kind, id) filtered to; None: all


def run_jobs(
    client: Client,
    jobs: Sequence[ExportRequest],
    start: str,
    end: str,
    policy: PollPolicy = PollPolicy(),
    progress: ProgressFn | None = None,
    sleep: Callable[[float], None] = time.sleep,
    max_calls: int | None = None,
) -> list[list[dict[str, Any]]]:
    """Start every job, poll the unfinished ones together, return each job's rows.

    ``max_calls`` (exports and polls) is never passed: the last poll round it allows
    comes after ``policy.settle`` seconds, and a job still running then raises
    ``PollBudgetSpent`` instead of polling on.
    """
    export = hours_export(client)
    results: list[list[dict[str, Any]] | None] = [None] * len(jobs)
    pending: dict[int, int] = {}  # job index -> API job id
    for i, job in enumerate(jobs):
        job_id, rows = export.start(client, job.where, job.keys, start, end)
        if rows is not None:
            results[i] = rows
        else:
            pending[i] = job_id
    done = len(jobs) - len(pending)
    waited = 0.0
    polls = 0
    polls_made = 0  # get_job_info calls, one per pending job per round
    if progress is not None:
        progress(done, len(jobs), waited)
    delays = iter(policy.delays())
    while pending:
        delay = next(delays)
        if max_calls is not None:
            rounds = (max_calls - len(jobs) - polls_made) // len(pending)
            if rounds < 1:
                raise PollBudgetSpent(len(jobs) + polls_made, len(pending), polls)
            if rounds == 1:
                delay = max(delay, min(policy.settle, policy.limit) - waited)
        if waited + delay > policy.limit:
            ids = ", ".join(str(j) for j in pending.values())
            raise UsageError(
                f"the time export did not finish within {policy.limit:g} s "
                f"({len(pending)} of {len(jobs)} job(s) still running after {polls} poll(s): "
                f"job {ids}); Beebole may be busy, try again later"
            )
        sleep(delay)
        waited += delay
        polls += 1
        for i, job_id in list(pending.items()):
            polls_made += 1
            rows = export.poll(client, job_id, jobs[i].keys)
            if rows is not None:
                results[i] = rows
                del pending[i]
        if progress is not None:
            progress(len(jobs) - len(pending), len(jobs), waited)
    return [r if r is not None else [] for r in results]


def hours_export(client: Client) -> HoursExport:
    """The client's platform's export of logged hours."""
    platform = for_endpoint(client.endpoint)
    if platform.hours_export is None:
        raise UsageError(f"the {platform.name} platform has no export of logged hours here")
    return platform.hours_export


def _id_of(value: Any) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def aggregate(job: Job, rows: Iterable[Mapping[str, Any]]) -> dict[str, EntityUsage]:
    """Hours, people and last date per member of a job."""
    totals: dict[str, list[Any]] = {
        entity_key(m.ref): [0.0, set(), None] for m in job.members
    }
    for row in rows:
        for member in job.members:
            if job.needs_column(member):
                if _id_of(row.get(f"{member.ref.kind}Id")) != member.ref.id:
                    continue
            total = totals[entity_key(member.ref)]
            total[0] += row["hours"]
            # The token's own user has no person id in some answers: still one person.
            total[1].add(_id_of(row.get("personId")) if job.kind != "person" else job.id)
            day = str(row.get("date") or "")[:10] or None
            if day is not None and (total[2] is None or day > total[2]):
                total[2] = day
    return {
        key: EntityUsage(round(hours, 2), len(people) if hours > 0 else 0, last)
        for key, (hours, people, last) in totals.items()
    }


def lookup(
    client: Client,
    targets: Sequence[Target],
    days: int,
    *,
    max_jobs: int = MAX_JOBS,
    policy: PollPolicy = PollPolicy(),
    progress: ProgressFn | None = None,
    today: date | None = None,
    strict: bool = False,
    reserve: int = 0,
) -> UsageReport:
    """Hours on ``targets`` over the last ``days`` days.

    Not strict (plan): an export that fails or times out, or a quota too low
    to start, becomes a note and the entities are listed as not looked up;
    the plan is still made. Strict (``beeplan usage``): it raises. ``reserve``:
    calls of today's quota the export must leave (those applying the plan takes).
    """
    start, end = period(days, today)
    report = UsageReport(days, start, end)
    if days <= 0 or not targets:
        return report
    jobs, dropped = plan_jobs(targets, max_jobs)
    notes: list[str] = []
    if dropped:
        notes.append(
            f"{len(dropped)} deactivated entit{'y' if len(dropped) == 1 else 'ies'} not looked "
            f"up (more than {max_jobs} export jobs): "
            + ", ".join(str(t.ref) for t in dropped[:10])
            + (" ..." if len(dropped) > 10 else "")
        )
    expected, _ = estimate_calls(len(jobs), policy)
    left = client.remaining_today()
    looked_up = [m for job in jobs for m in job.members]
    if expected > left - reserve:
        kept = f" and {reserve} are kept to apply the plan" if reserve else ""
        message = (
            f"hours not looked up: the export needs about {expected} API calls, "
            f"{left} are left today{kept}"
        )
        if strict:
            raise UsageError(message)
        return UsageReport(days, start, end, not_looked_up=_keys([*looked_up, *dropped]),
                           notes=(*notes, message))
    before = client.usage.total_requests
    try:
        results = run_jobs(client, jobs, start, end, policy, progress)
    except (UsageError, ApiError, TransportError) as exc:
        if strict:
            raise
        notes.append(f"hours not looked up: {exc}")
        return UsageReport(
            days, start, end, calls=client.usage.total_requests - before, jobs=len(jobs),
            not_looked_up=_keys([*looked_up, *dropped]), notes=tuple(notes),
        )
    entities: dict[str, EntityUsage] = {}
    for job, rows in zip(jobs, results, strict=True):
        entities.update(aggregate(job, rows))
    return UsageReport(
        days, start, end, entities, calls=client.usage.total_requests - before, jobs=len(jobs),
        not_looked_up=_keys(dropped), notes=tuple(notes),
    )


def _keys(targets: Iterable[Target]) -> tuple[str, ...]:
    return tuple(entity_key(t.ref) for t in targets)


# ---------------------------------------------------------------------------
# Words


# ---------------------------------------------------------------------------
# The plan's side


@dataclass(frozen=True)
class UsageOptions:
    max_jobs: int = MAX_JOBS
    policy: PollPolicy = PollPolicy()
    progress: ProgressFn | None = None


def deactivated(plan: Plan) -> list[Ref]:
    """The existing entities of the kinds that carry time that the plan deactivates."""
    return [
        a.target
        for a in plan.actions
        if a.op == "deactivate" and a.kind in TIME_KINDS and a.target.id is not None
    ]


def lookup_deactivated(
    client: Client,
    plan: Plan,
    live: State | None,
    days: int,
    options: UsageOptions | None = None,
) -> UsageReport:
    """Hours on what the plan deactivates. Without the live state (a saved plan), the
    targets' ids come from the actions and each is one job: no parent is known to group by."""
    options = options or UsageOptions()
    if live is not None:
        targets = targets_in(live, deactivated(plan))
    else:
        names = {entity_key(a.target): a.name for a in plan.actions}
        targets = [Target(ref, names[entity_key(ref)]) for ref in deactivated(plan)]
    return lookup(
        client,
        targets,
        days,
        max_jobs=options.max_jobs,
        policy=options.policy,
        progress=options.progress,
        # Hours are worth knowing, not worth a plan that can no longer be applied today.
        reserve=len(plan.actions),
    )


def _deactivations(plan: Plan, report: UsageReport) -> list[Ref]:
    """``deactivated(plan)``, and every other deactivation the report answers for: another
    platform's kinds (the current platform's ``absenceType``) and targets named by xid."""
    refs = deactivated(plan)
    keys = {entity_key(ref) for ref in refs}
    for action in plan.actions:
        key = entity_key(action.target)
        if action.op == "deactivate" and key not in keys and (
                key in report.entities or key in report.not_looked_up):
            refs.append(action.target)
            keys.add(key)
    return refs


def with_usage(
    plan: Plan, report: UsageReport, refuse: bool = False, declared: State | None = None
) -> Plan:
    """The plan with the lookup's calls in its reading cost, and its warnings or refusals.

    ``refuse`` (``settings.safety.refuseInUse``): deactivating an entity with
    hours in the period, or one whose hours could not be looked up, needs
    ``--allow-destroy``. Otherwise it is a warning. ``declared`` (the
    manifests): the message sits on the line of the first such entity declared
    there, for annotations in a pull request.
    """
    looked_up = _deactivations(plan, report)
    used = [ref for ref in looked_up if (u := report.of(ref)) is not None and u.used]
    unknown = [ref for ref in looked_up if entity_key(ref) in report.not_looked_up]
    warnings = list(plan.warnings) + [f"usage: {note}" for note in report.notes]
    violations = list(plan.destroy_violations)
    if used:
        what = (
            f"{len(used)} deactivated entit{'y has' if len(used) == 1 else 'ies have'} hours "
            f"in {last_days(report.days)} ({', '.join(str(r) for r in used[:5])}"
            f"{' ...' if len(used) > 5 else ''})"
        )
        sources = {entity_key(e.ref): e.source for e in declared.entities} if declared else {}
        source = next((s for ref in used if (s := sources.get(entity_key(ref)))), None)
        if refuse:
            violations.append(Located(f"{what}; settings.safety.refuseInUse is on", source))
        else:
            warnings.append(
                Located(f"{what}: time can no longer be logged there once deactivated", source)
            )
    if unknown and refuse:
        violations.append(
            f"the hours of {len(unknown)} deactivated entit{'y' if len(unknown) == 1 else 'ies'} "
            "could not be looked up, and settings.safety.refuseInUse is on"
        )
    return replace(
        plan,
        read_calls=plan.read_calls + report.calls,
        warnings=tuple(warnings),
        destroy_violations=tuple(violations),
    )


# ---------------------------------------------------------------------------
# `beeplan usage`: every managed entity


@dataclass(frozen=True)
class AccountJob:
    """An export for the usage report: one company, the whole account (``company`` None),
    or one person's or task's entries on every company (``alone``: kind and id)."""

    company: int | None
    kinds: tuple[str, ...]
    alone: tuple[str, int] | None = None

    @property
    def keys(self) -> list[str]:
        if self.alone is not None:
            return ["date", "hours", "personId"]
        return ["date", "hours", "personId", *(f"{k}Id" for k in self.kinds if k != "person")]

    @property
    def label(self) -> str:
        if self.alone is not None:
            return f"{self.alone[0]} #{self.alone[1]}"
        return "the whole account" if self.company is None else f"company #{self.company}"

    @property
    def where(self) -> tuple[str, int] | None:
        """The entity the export is filtered to; None: the whole account."""
        if self.alone is not None:
            return self.alone
        return None if self.company is None else ("company", self.company)


@dataclass(frozen=True)
class ExportCost:
    jobs: int
    expected: int
    at_most: int
    left_today: int
    read_calls: int = 0  # already spent reading the lists

    def __str__(self) -> str:
        return (
            f"{self.jobs} export job(s), about {self.expected} API calls "
            f"(at most {self.at_most}); with the {self.read_calls} spent reading, about "
            f"{self.read_calls + self.expected} in all; {self.left_today} left today"
        )


MIN_EXPORT = 2  # one job: its export call and one poll, at best


def least_read_calls(desired: State, kinds: frozenset[str]) -> tuple[int, int]:
    """(read calls, companies) that ``read_lists`` makes at least, from the manifests alone.

    It lists under every live company; the companies the manifests declare or name
    as a parent are among them once they exist (a company not created yet costs
    nothing, so for a manifest set not applied yet this is an overestimate).
    """
    if not kinds:
        return 0, 0
    index = Index(desired)

    def same(ref: Ref) -> Ref:  # one ref per entity, however each entry names it
        found = index.find(ref)
        return found.ref if found is not None else ref

    parents = [(e, same(e.parent)) for e in desired.entities if e.parent is not None]
    companies = {e.ref for e in desired.entities if e.kind == "company"}
    companies |= {parent for _, parent in parents if parent.kind == "company"}
    with_projects = {parent for e, parent in parents if e.kind == "project"}
    with_subprojects = {parent for e, parent in parents if e.kind == "subproject"}
    calls = 1  # company.list
    for company in companies:
        calls += len(kinds & {"task", "person", "absence"})
        calls += 1 if {"project", "subproject"} & kinds and company in with_projects else 0
    if "subproject" in kinds:
        calls += len(with_subprojects)
    return calls, len(companies)


def account_jobs(
    live: State, managed: Sequence[Line], max_jobs: int = MAX_JOBS
) -> list[AccountJob]:
    """One job per company that holds a managed entity, or one for the whole account
    when that is fewer calls for about as many bytes (most companies are involved).

    People log time on other companies (their customers) too, and a task may
    be attached to another company's projects: when some company is not
    exported, each managed person and task gets a job of its own, or the whole
    account is exported when that makes fewer jobs than the cap.
    """
    index = Index(live)
    kinds = tuple(k for k in TIME_KINDS if any(m.ref.kind == k for m in managed))
    companies: set[int] = set()
    for line in managed:
        entity = index.find(line.ref)
        while entity is not None and entity.kind != "company" and entity.parent is not None:
            entity = index.find(entity.parent)
        if entity is not None and entity.kind == "company" and entity.ref.id is not None:
            companies.add(entity.ref.id)
    if not companies:
        return []
    live_companies = sum(1 for e in live.entities if e.kind == "company")
    if len(companies) > 1 and (2 * len(companies) >= live_companies or len(companies) > max_jobs):
        return [AccountJob(None, kinds)]
    jobs = [AccountJob(c, kinds) for c in sorted(companies)]
    alone = sorted({(m.ref.kind, m.ref.id) for m in managed if m.ref.kind in APART and m.ref.id})
    if not alone or len(companies) >= live_companies:
        return jobs
    if len(jobs) + len(alone) > max_jobs:
        return [AccountJob(None, kinds)]
    return jobs + [AccountJob(None, (kind,), alone=(kind, id_)) for kind, id_ in alone]


def account_usage(
    client: Client,
    desired: State,
    days: int,
    *,
    parallelism: int = 4,
    max_calls: int | None = None,
    policy: PollPolicy = PollPolicy(),
    read_progress: Callable[[str], None] | None = None,
    progress: ProgressFn | None = None,
    before_export: Callable[[ExportCost], None] | None = None,
    today: date | None = None,
) -> AccountUsage:
    """Hours, people and last entry per managed entity of the kinds that carry time.

    The export covers the companies that hold managed entities (or the whole
    account): the hours of a task or absence type are those logged on them
    there; a person's or task's are all of theirs (see ``account_jobs``). Reads the
    managed kinds' lists (no relations), then exports. Refuses, before any
    export call, when the export would pass today's quota or ``max_calls``;
    ``max_calls`` lower than the whole export exports the jobs that fit and
    says which were left out.
    """
    start, end = period(days, today)
    wanted = [e for e in desired.entities if e.kind in TIME_KINDS]
    before = client.usage.total_requests
    kinds = frozenset(e.kind for e in wanted)
    if max_calls is not None:
        # Checked before any read: a budget the reads alone would spend is refused with
        # nothing spent, saying what would be enough (the whole cost, reads included).
        reads, companies = least_read_calls(desired, kinds)
        jobs_guess = max(1, companies) if wanted else 0
        whole = reads + 2 * jobs_guess
        if wanted and max_calls < reads + MIN_EXPORT:
            raise UsageError(
                f"the hours export costs about {whole} API calls here: {reads} to read the "
                f"lists of the {companies} compan{'y' if companies == 1 else 'ies'} the "
                f"manifests name, then about {2 * jobs_guess} to export; --max-calls "
                f"{max_calls} is not enough, nothing was read. Pass --max-calls {whole} "
                # "Pass 6 (at least 6 exports part of it)" said the same number twice.
                + (f"(at least {reads + MIN_EXPORT} exports part of it; " if whole >
                   reads + MIN_EXPORT else "(")
                + "companies in the account that the manifests do not name add reads)"
            )

    def guard(count: int, later: int) -> None:
        """Before each fan-out of reads: stop when the reads could leave nothing to export."""
        spent = client.usage.total_requests - before
        enough = spent + count + later + MIN_EXPORT
        if max_calls is not None and enough > max_calls:
            more = f"{count} more" + (f" and up to {later} subproject lists" if later else "")
            raise UsageError(
                f"the hours export needs up to {enough} API calls: {spent} spent reading so "
                f"far, {more} to read the lists under the account's companies, then at "
                f"least {MIN_EXPORT} to export; --max-calls {max_calls} is not enough, "
                f"stopped before reading on. Pass at least --max-calls {enough} (more "
                "exports more companies)"
            )

    live = reader_for(client, parallelism, read_progress).read_kinds(kinds, guard, desired)
    read_calls = client.usage.total_requests - before
    index = Index(live)
    lines: list[Line] = []
    for want in wanted:
        have = index.find(want.ref)
        ref = have.ref if have is not None else want.ref
        lines.append(Line(ref, want.name, have.active if have is not None else None, None))
    found = [line for line in lines if line.active is not None]
    jobs = account_jobs(live, found)
    apart = frozenset(j.alone[0] for j in jobs if j.alone)  # kinds counted by own jobs only
    notes: list[str] = []
    expected, at_most = estimate_calls(len(jobs), policy)
    left = client.remaining_today()
    budget = left if max_calls is None else min(left, max(max_calls - read_calls, 0))
    if expected > budget:
        if max_calls is None or budget < 2:
            raise UsageError(
                f"the hours export needs about {expected} API calls "
                f"({len(jobs)} job(s), after {read_calls} spent reading) but "
                + (
                    f"only {left} are left today: run it tomorrow, or pass --max-calls N "
                    "to export part of it"
                    if max_calls is None
                    else f"--max-calls {max_calls} leaves {budget}: pass --max-calls "
                    f"{read_calls + expected} for the whole export (at least "
                    f"{read_calls + MIN_EXPORT} exports part of it)"
                )
            )
        kept = jobs[: budget // 2]
        skipped = jobs[len(kept) :]
        notes.append(
            f"{len(skipped)} of {len(jobs)} export job(s) left out to stay within "
            f"--max-calls {max_calls} ("
            + ", ".join(j.label for j in skipped[:10])
            + "): their entities show no figures"
        )
        jobs = kept
        expected, at_most = estimate_calls(len(jobs), policy)
    if max_calls is not None:  # the polls stop at the budget (run_jobs)
        at_most = min(at_most, max(max_calls - read_calls, 0))
    if before_export is not None and jobs:
        before_export(ExportCost(len(jobs), expected, at_most, left, read_calls))
    before = client.usage.total_requests
    try:
        results = run_jobs(
            client, jobs, start, end, policy, progress,
            max_calls=None if max_calls is None else max_calls - read_calls,
        ) if jobs else []
    except PollBudgetSpent as exc:
        assert max_calls is not None  # only a budget makes run_jobs stop this way
        raise UsageError(
            f"the hours export was not done when --max-calls {max_calls} was spent "
            f"({read_calls} reading, {exc.spent} exporting and polling; {exc.running} job(s) "
            f"still running after {exc.polls} poll(s)), so nothing more was spent and no "
            f"hours are shown. Pass --max-calls {max_calls + 2 * exc.running} or more "
            "(each poll costs one call per running job), or run it again later"
        ) from None
    export_calls = client.usage.total_requests - before
    totals = _account_totals(jobs, results, found, apart)
    out = [
        replace(line, usage=totals.get(entity_key(line.ref), UNUSED))
        if line.active is not None and _covered(line, jobs, index, apart)
        else line
        for line in lines
    ]
    missing = [line for line in lines if line.active is None]
    if missing:
        notes.append(
            f"{len(missing)} managed entit{'y is' if len(missing) == 1 else 'ies are'} not in "
            "the account yet: " + ", ".join(str(m.ref) for m in missing[:10])
        )
    return AccountUsage(
        days, start, end, tuple(out), read_calls, export_calls, len(jobs),
        client.remaining_today(), tuple(notes),
    )


def _covered(
    line: Line, jobs: Sequence[AccountJob], index: Index, apart: frozenset[str]
) -> bool:
    if line.ref.kind in apart:
        return any(j.alone == (line.ref.kind, line.ref.id) for j in jobs)
    companies = {j.company for j in jobs if j.alone is None}
    if None in companies:
        return True
    entity = index.find(line.ref)
    while entity is not None and entity.kind != "company" and entity.parent is not None:
        entity = index.find(entity.parent)
    return entity is not None and entity.ref.id in companies


def _account_totals(
    jobs: Sequence[AccountJob],
    results: Sequence[Sequence[Mapping[str, Any]]],
    lines: Sequence[Line],
    apart: frozenset[str],
) -> dict[str, EntityUsage]:
    """``apart``: kinds whose entities have jobs of their own: their hours come from those."""
    by_id = {(line.ref.kind, line.ref.id): entity_key(line.ref) for line in lines}
    totals: dict[str, list[Any]] = {}
    for job, rows in zip(jobs, results, strict=True):
        counted = (job.alone[0],) if job.alone else tuple(k for k in TIME_KINDS if k not in apart)
        for row in rows:
            person = _id_of(row.get("personId"))
            day = str(row.get("date") or "")[:10] or None
            for kind in counted:
                if job.alone is not None:
                    entity: int | None = job.alone[1]
                else:
                    entity = person if kind == "person" else _id_of(row.get(f"{kind}Id"))
                key = by_id.get((kind, entity))
                if key is None:
                    continue
                total = totals.setdefault(key, [0.0, set(), None])
                total[0] += row["hours"]
                total[1].add(person)
                if day is not None and (total[2] is None or day > total[2]):
                    total[2] = day
    return {
        key: EntityUsage(round(hours, 2), len(people) if hours > 0 else 0, last)
        for key, (hours, people, last) in totals.items()
    }


def unchecked_usage(plan: Plan) -> Plan:
    """Under ``refuseInUse`` with the lookup turned off: what cannot be checked is refused."""
    count = len(deactivated(plan))
    if not count:
        return plan
    return replace(
        plan,
        destroy_violations=(
            *plan.destroy_violations,
            f"{count} deactivation{'' if count == 1 else 's'} not checked for hours "
            "(--usage-days 0), and settings.safety.refuseInUse is on",
        ),
    )
