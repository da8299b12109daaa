"""The steps the use cases share: reading, saved-plan checks, safety and quota guards, slices.

`cli` modules only parse arguments and print; every decision about a plan
(reading, the saved-plan checks, the safety and quota guards, applying)
lives here, so it can be called and tested without click.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import platforms
from ..applier import Applier, Outcome, ProgressCallback
from ..budget import ClientView
from ..changed import Base as Base
from ..changed import TargetedPlan, diff_manifests, plan_changes
from ..changed import label as targeted_label
from ..changed import load_base as load_base
from ..changed import read_base as read_base
from ..cost import Cost, Slice, days_needed, parent_key, plan_cost, select_slice
from ..errors import ConfigError, PlanError, Problem, StalePlan, warning_lines
from ..hours import UsageReport
from ..localfiles.journal import Journal
from ..model import Entity, Ref, State, entity_key
from ..planfile.hours import saved_report
from ..planfile.progress import SavedProgress, ref_of_key
from ..planfile.verify import (
    check_account,
    check_document,
    check_manifests,
    check_seal,
    manifest_digest,
)
from ..planner import Plan, fingerprint, make_plan, with_safety
from ..platforms.base import Client, Engine, Platform, Progress
from ..render import Budget, plan_from_json
from ..safetext import capped, printable
from ..usage import (
    UsageOptions,
    lookup_deactivated,
    unchecked_usage,
    with_usage,
)

if TYPE_CHECKING:  # imported where used: a plain plan checks no budget
    from ..budgeted_check import CheckRun


def load_manifests(path: Path | Sequence[Path], keep: bool = True) -> State:
    """The manifests at ``path``; several paths are merged in order (``manifest._overlay``).

    From the cache dir when loaded before (``manifest._cache``); ``keep``: kept
    there for the next run (0.1 s at 10,000 people, wasted when none will come).
    """
    from ..manifest import PlanNote
    from ..manifest._cache import load_cached

    warnings: list[Problem] = []
    state = load_cached(path, warnings, keep=keep)  # the same as load(path, warnings)
    # The plan shows its notes among its warnings, on their lines: not twice.
    for line in warning_lines([w for w in warnings if not isinstance(w, PlanNote)]):
        logging.getLogger("beeplan").warning("%s", line)  # stderr; silenced by -q
    return state


def check_platform(client: Client, desired: State) -> None:
    """Refuse, before any call, manifests written for another platform than the endpoint's."""
    settings = desired.settings
    platforms.check_written_for(settings.platform, client.endpoint, settings.platform_at)


@dataclass(frozen=True)
class OtherSet:
    """A manifest set written for a platform with its own vocabulary, loaded for its engine."""

    platform: Platform
    engine: Engine
    desired: Any  # the engine's desired account
    where: str  # file:line of its settings.platform
    # The variables its ${NAME} read (None: unset), recorded in its plans as on v2.
    variables: Mapping[str, str | None] = field(default_factory=dict)


def load_offline(paths: Path | Sequence[Path]) -> State | OtherSet:
    """The manifests at ``paths`` for an offline command (diff, graph): a v2 set, or a set
    of a platform with its own vocabulary loaded by that platform's engine."""
    from ..manifest import load

    try:
        return load(paths)
    except ConfigError as exc:
        from ..manifest._written import WrittenForOther

        if not isinstance(exc, WrittenForOther):
            raise
        other = exc
        platform = platforms.get(other.declared.platform)
        if platform.engine is None:
            raise
        return OtherSet(platform, platform.engine,
                        platform.engine.load(other.files, other.problems),
                        other.declared.where, other.variables)


def load_set(paths: Sequence[Path], endpoint: str, keep: bool = True) -> State | OtherSet:
    """The manifests at ``paths``: a v2 set as ``load_manifests`` reads it (``keep``:
    see there), or a set written for a platform with its own vocabulary, loaded by that
    platform's engine. Refuses, before any call, an endpoint of another platform than
    the set's (naming both) and a set with problems (every one, with file:line)."""
    from ..manifest._written import WrittenForOther

    try:
        state = load_manifests(paths, keep)
    except WrittenForOther as other:
        where = other.declared.where
        platform = platforms.check_written_for(other.declared.platform, endpoint, where)
        if platform.engine is None:
            raise
        return OtherSet(platform, platform.engine,
                        platform.engine.load(other.files, other.problems), where,
                        other.variables)
    written = state.settings.platform
    platform = platforms.for_endpoint(endpoint, written)
    if written is None and platform.engine is not None:
        # A set that does not say is a v2 set: the model's kinds, not that platform's.
        raise ConfigError(
            f"these manifests are written for API v2 (no settings.platform in them), but the "
            f"endpoint {platforms.shown_endpoint(endpoint)} speaks {platform.name!r}; use an "
            f"API v2 endpoint (--endpoint {platforms.endpoint_like(platforms.DEFAULT, endpoint)}"
            f"), or write the set for {platform.name} ('beeplan convert PATH -o DIR' converts "
            "it)")
    return state


@dataclass(frozen=True)
class OtherBase:
    """BASE of ``--changed-since`` for a set of a platform with its own engine, loaded
    offline: its desired account (None: no manifests there), or why it cannot be used."""

    desired: Any
    label: str
    unusable: str = ""


def load_other_set(where: Path, other: OtherSet) -> Any:
    """The engine's desired account of the set at ``where`` (None: it holds no manifests).
    Raises ManifestError for an invalid set, ConfigError for a set of another platform."""
    from ..changed import holds_manifests
    from ..manifest._written import WrittenForOther

    if not holds_manifests(where):
        return None
    try:
        load_manifests(where)
    except WrittenForOther as found:
        if found.declared.platform != other.platform.name:
            raise ConfigError(f"{found.declared.where}: this set is written for "
                              f"{found.declared.platform!r}, the other for "
                              f"{other.platform.name!r} ({other.where})") from None
        return other.engine.load(found.files, found.problems)
    raise ConfigError(f"{where} is written for API v2 (no settings.platform: "
                      f"{other.platform.name} in it), the other set for "
                      f"{other.platform.name} ({other.where})")


def read_other_base(base: str, path: Path, other: OtherSet) -> OtherBase:
    """BASE loaded for ``other``'s engine: its desired account, or why it is unusable (an
    invalid set, one of another platform: the plan is then a full one, saying why)."""
    from ..changed import base_manifests
    from ..errors import ManifestError

    with base_manifests(base, path) as found:
        if found is None:
            return OtherBase(None, base)
        where, name = found
        try:
            return OtherBase(load_other_set(where, other), base)
        except (ManifestError, ConfigError) as exc:
            text = str(exc).replace(str(where), name).splitlines()
            shown = "; ".join(line.strip() for line in text[:3])
            return OtherBase(None, base, f"the manifests at {base} cannot be compared with "
                                         f"({capped(shown, 300)})")


def refuse_for_other(other: OtherSet, what: str, instead: str) -> None:
    """An option or command not (yet) available for that platform's sets: one clear line."""
    raise ConfigError(
        f"{other.where}: {what} is not available for sets written for Beebole's "
        f"{other.platform.name} platform yet; nothing was sent. {instead}")


def compute_plan(
    client: Client,
    desired: State,
    parallelism: int,
    progress: Progress | None = None,
) -> Plan:
    """Read what the manifests manage and diff it against them."""
    return plan_and_live(client, desired, parallelism, progress)[0]


def with_source(plan: Plan, source: Path | Sequence[Path]) -> Plan:
    """The plan with the manifest path(s) it was made from and their digest.

    A saved plan carries both, so ``apply`` can tell whether the manifests at
    hand are still the ones reviewed (see ``beeplan.planfile``).
    """
    paths = [source] if isinstance(source, Path) else list(source)
    digest = manifest_digest(paths, plan.provenance.variables)  # covers what ${NAME} read
    return replace(plan, provenance=plan.provenance.from_files([str(p) for p in paths], digest))


def with_variables(plan: Plan, variables: Mapping[str, str | None]) -> Plan:
    """The plan recording the ``${NAME}`` its manifests read (the digest covers them)."""
    return replace(plan, provenance=replace(plan.provenance, variables=dict(variables)))


def plan_and_live(
    client: Client,
    desired: State,
    parallelism: int,
    progress: Progress | None = None,
) -> tuple[Plan, State]:
    """The plan, and the live state it was made from (for lookups that need live ids)."""
    check_platform(client, desired)
    before = client.usage.total_requests
    live = platforms.reader_for(client, parallelism, progress).read(desired)
    owed = Journal.for_client(client).owed()
    return make_plan(desired, live, client.usage.total_requests - before, owed), live


def compute_targeted_plan(
    client: Client,
    desired: State,
    base: State,
    base_label: str,
    parallelism: int,
    progress: Progress | None = None,
    unusable: str = "",
) -> TargetedPlan:
    """Plan only the entries changed since BASE (``--changed-since``), reading only those.

    A change to the settings (prune, safety) or to the kinds managed changes
    what happens to entries no diff names, a BASE without manifests makes
    every entry new (a get each would cost more than the lists), and invalid
    manifests at BASE (``unusable`` says why) leave nothing to compare: each
    falls back to a full plan and says why.
    """
    check_platform(client, desired)
    diff = diff_manifests(base, desired)
    why = ""
    if unusable:
        why = unusable
    elif not base.entities:
        why = f"there are no manifests at {base_label}"
    elif diff.full_reasons:
        why = f"since {base_label}, " + "; ".join(diff.full_reasons)
    if why:
        plan, live = plan_and_live(client, desired, parallelism, progress)
        note = f"{why}: this is a full plan, not a targeted one"
        plan = replace(plan, warnings=(*plan.warnings, note))
        return TargetedPlan(plan, live, len(diff.changes), True)
    owed = Journal.for_client(client).owed()
    reader = platforms.reader_for(client, parallelism, progress)
    plan, live, checks = plan_changes(reader, desired, diff, owed)
    note = targeted_label(len(diff.changes), base_label, checks.note())
    plan = replace(
        plan, warnings=(*plan.warnings, note),
        provenance=plan.provenance.narrowed(base_label, len(diff.changes)),
    )
    return TargetedPlan(plan, live, len(diff.changes), False)


def budgeted_check(
    client: Client,
    desired: State,
    manifests: Path,
    max_calls: int,
    state_path: Path | None = None,
    parallelism: int = 4,
    now: datetime | None = None,
    max_kb: float | None = None,
) -> CheckRun:
    """``check --max-calls N``: verify the least recently verified part that fits in N calls.

    The state file (default: under the cache dir, per account and manifest
    set) only decides what to read; drift is what the API answered now.
    """
    from ..budgeted_check import default_state_path, run_check

    check_platform(client, desired)
    path = state_path or default_state_path(client, manifests)
    return run_check(client, desired, max_calls, path, parallelism, now, max_kb)


def plan_with_usage(
    client: Client,
    desired: State,
    parallelism: int,
    progress: Progress | None = None,
    usage_days: int = 0,
    usage_options: UsageOptions | None = None,
    since: Base | None = None,
) -> tuple[Plan, UsageReport | None]:
    """The plan, and the hours logged on what it deactivates (none when ``usage_days`` is 0).

    ``since`` (BASE, loaded) makes it the targeted plan of ``--changed-since``.
    """
    if since is None:
        plan, live = plan_and_live(client, desired, parallelism, progress)
    else:
        targeted = compute_targeted_plan(
            client, desired, since.state, since.label, parallelism, progress, since.unusable
        )
        plan, live = targeted.plan, targeted.live
    refuse = desired.settings.safety.refuse_in_use
    if usage_days <= 0:
        return (unchecked_usage(plan) if refuse else plan), None
    report = lookup_deactivated(client, plan, live, usage_days, usage_options)
    return with_usage(plan, report, refuse, desired), report


def budget_of(client: Client, plan: Plan, usage: UsageReport | None = None) -> Budget:
    return Budget(
        read_calls=plan.read_calls,
        apply_calls=len(plan.actions),
        left_today=client.remaining_today(),
        daily=client.quota.requests,
        usage_calls=usage.calls if usage is not None else 0,
    )


def is_plan_file(path: Path) -> bool:
    """Whether ``apply`` was given a saved plan rather than manifests.

    The content decides first: a JSON object with ``format_version`` is a
    plan whatever its name (``plan -o plan.yaml`` writes one), since no
    manifest may hold that key. Other .yaml/.yml files are manifests (JSON
    syntax is YAML too). Otherwise a JSON object with the manifests'
    top-level keys is a manifest; what is neither is a plan if named .json
    (apply then says what is wrong with it), else manifests.
    """
    if not path.is_file():
        return False
    suffix = path.suffix.lower()
    try:
        document = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError):  # hostile nesting: the plan loader says so
        return suffix == ".json"
    if isinstance(document, dict) and "format_version" in document:
        return True
    if suffix in (".yaml", ".yml"):
        return False
    if isinstance(document, dict) and document.keys() & _MANIFEST_KEYS:
        return False
    return suffix == ".json"


_MANIFEST_KEYS = frozenset({"companies", "tasks", "groups", "people", "absences", "settings"})


@dataclass(frozen=True)
class SavedPlan:
    plan: Plan
    document: dict[str, Any]
    desired: State | None = None  # the manifests it was made from, when at hand and unchanged


def parse_saved_plan(path: Path) -> tuple[Plan, dict[str, Any]]:
    """A plan file parsed and checked against its schema (no token, no call needed)."""
    return plan_from_json(path.read_text(encoding="utf-8"), str(path))


def load_saved_plan(
    path: Path,
    endpoint: str,
    manifests: Sequence[Path] = (),
    client: Client | None = None,
    parsed: tuple[Plan, dict[str, Any]] | None = None,
) -> SavedPlan:
    """A saved plan that passed every check needing no API call (see ``beeplan.planfile``).

    With ``client``, the account first: a plan made for another account says
    so, whatever else differs (the endpoint of a sandbox, say).

    Its problems and safety violations are not taken from the file: they are
    recomputed by ``recheck_saved`` once the live account was read.
    """
    plan, doc = parsed if parsed is not None else parse_saved_plan(path)
    if client is not None:
        check_account(doc, client, str(path))
    check_document(plan, doc, endpoint, str(path))
    if plan.problems:  # a plan made with impossible changes stays refused
        raise PlanError(
            f"{path} lists {len(plan.problems)} impossible change(s); fix the manifests "
            "and make a new plan:\n" + "\n".join(f"  - {p}" for p in plan.problems)
        )
    desired = check_manifests(plan, manifests, str(path))
    if client is not None:
        check_seal(doc, plan, client, str(path))
    return SavedPlan(replace(plan, problems=(), destroy_violations=()), doc, desired)


def check_fresh(
    client: Client, plan: Plan, parallelism: int, listed: Mapping[str, int] | None = None
) -> dict[str, Entity | None]:
    """Refuse a saved plan whose touched entities changed since it was made.

    Returns what was re-read, per entity key, for ``recheck_saved``. An entity to
    create is checked absent as ``cost.AbsenceChecks`` prices it: not at all under a
    parent this run creates, by one listing of a parent in ``listed``, else by a get.
    """
    wanted: dict[Ref, tuple[str, ...]] = {}
    keys: dict[Ref, str] = {}
    creates = {entity_key(a.target): a for a in plan.actions if a.is_create}
    under: dict[tuple[str, str], list[Ref]] = {}  # (listed parent, kind) -> what to create
    current: dict[Ref, Entity | None] = {}
    for key, relations in plan.read_relations.items():
        ref = ref_of_key(key)
        keys[ref] = key
        create = creates.get(key)
        parent = parent_key(create) if create is not None else None
        if parent is not None and parent in creates:
            current[ref] = None  # its parent does not exist yet: nothing is under it
        elif parent is not None and listed and parent in listed:
            under.setdefault((parent, ref.kind), []).append(ref)
        else:
            # An entity to create was absent: found now, it is stale whatever its
            # relations, so they are not listed (the slice was priced for a get alone).
            wanted[ref] = () if create is not None else tuple(relations)
    reader = platforms.reader_for(client, parallelism)
    for (parent, kind), refs in under.items():
        children = {e.ref.xid: e for e in reader.list_under(kind, ref_of_key(parent))}
        for ref in refs:
            current[ref] = children.get(ref.xid)
    current.update(reader.read_entities(wanted))
    stale = [
        keys[ref]
        for ref, entity in current.items()
        if fingerprint(entity, wanted.get(ref, ())) != plan.fingerprints.get(keys[ref])
    ]
    if stale:
        shown = ", ".join(sorted(stale)[:10]) + (" ..." if len(stale) > 10 else "")
        raise StalePlan(
            f"the saved plan is stale: {len(stale)} entit{'y' if len(stale) == 1 else 'ies'} "
            f"changed since it was made ({shown}). Make a new plan."
        )
    return {keys[ref]: entity for ref, entity in current.items()}


def saved_safety(
    client: Client, saved: SavedPlan, parallelism: int, *, allow_destroy: bool
) -> Plan:
    """The saved plan with its safety-threshold violations recomputed, never trusted from the file.

    Pessimistic first, with no API call: with no live entity counted, every
    removal weighs the most. Only a plan that fails that, without
    --allow-destroy, reads the account to count exactly, and only when its
    manifests are at hand (they say which kinds and relations are managed,
    and the thresholds). Violations the file states are kept too: honouring
    them can only refuse more.
    """
    plan = saved.plan
    owed = Journal.for_client(client).owed()
    desired = saved.desired
    checked = with_safety(plan, State(), desired or State(), owed)
    # The no-read count is only a gate: with --allow-destroy there is nothing to
    # gate, and its "N of 0" figures would be shown as if they were the account's.
    violations = [] if allow_destroy else list(checked.destroy_violations)
    if violations:
        if desired is not None:
            live = platforms.reader_for(client, parallelism).read(desired)
            violations = list(with_safety(plan, live, desired, owed).destroy_violations)
        else:
            violations = [
                "the plan removes enough that the safety threshold must count the account, "
                "and the manifests it was made from are not at hand to say what is managed "
                "(pass --manifests PATH)"
            ]
    stated = saved.document.get("destroy_violations")
    if isinstance(stated, list):
        violations += [printable(str(v)) for v in stated]
    return replace(checked, destroy_violations=tuple(dict.fromkeys(violations)))


def saved_usage_safety(
    client: Client, saved: SavedPlan, plan: Plan, usage_days: int, *, allow_destroy: bool
) -> tuple[Plan, UsageReport | None]:
    """``settings.safety.refuseInUse`` for a saved plan: its hours looked up again, now.

    Only when its manifests are at hand (they hold the setting) and the refusal
    could matter; the hours in the file are never trusted for it. Also returns
    the hours to show: those looked up now, else those the file recorded.
    """
    recorded = saved_report(saved.document, saved.plan) if usage_days > 0 else None
    if saved.desired is None or allow_destroy or not saved.desired.settings.safety.refuse_in_use:
        return plan, recorded
    if usage_days <= 0:
        return unchecked_usage(plan), None
    report = lookup_deactivated(client, plan, None, usage_days)
    return with_usage(plan, report, refuse=True, declared=saved.desired), report


def live_problems(client: Client, plan: Plan, current: dict[str, Entity | None]) -> Plan:
    """The impossible changes of a saved plan, recomputed from its actions and the account.

    ``current``: what ``check_fresh`` re-read. A file that empties its
    ``problems`` changes nothing here.
    """
    problems = _live_problems(plan, current) + _custom_field_problems(client, plan)
    return replace(plan, problems=tuple(printable(p) for p in problems))


def _live_problems(plan: Plan, current: dict[str, Entity | None]) -> list[str]:
    created = {entity_key(a.target) for a in plan.actions if a.op == "create"}
    # The names each entity ends up with: the live one, or the one an update renames it to.
    renamed = {
        (entity_key(a.target), c.after)
        for a in plan.actions
        for c in a.changes
        if c.field == "name"
    }
    problems: list[str] = []
    for action in plan.actions:
        key = entity_key(action.target)
        if key not in current:
            # Not re-read: an entity an earlier slice of this plan created, with only
            # attaches left (planfile/progress.py); an attach sends references alone.
            continue
        live = current.get(key)
        if action.op == "create":
            if live is not None:
                problems.append(f"{action.id}: {key} already exists")
            continue
        if live is None:
            if key not in created:
                problems.append(f"{action.id}: {key} does not exist")
            continue
        if action.target.id is not None and live.ref.id != action.target.id:
            problems.append(f"{action.id}: {key} has id {live.ref.id}, not {action.target.id}")
        if action.op not in ("update", "leaders", "set_xid"):
            continue
        # These calls send the name: one the plan does not show as changed must be the live one.
        names = [c for c in action.changes if c.field == "name"]
        if names and names[0].before != live.name:
            problems.append(f"{action.id}: {key} is named {live.name!r}, not {names[0].before!r}")
        elif not names and action.name != live.name and (key, action.name) not in renamed:
            problems.append(f"{action.id}: it would rename {key} ({live.name!r}) unshown")
        for change in action.changes:
            if change.field in live.fields and change.before != live.fields[change.field]:
                problems.append(f"{action.id}: {key} {change.field} is not {change.before!r}")
    return problems


def _custom_field_problems(client: Client, plan: Plan) -> list[str]:
    """Custom field ids a plan file sends must be the account's ids for the names it shows."""
    actions = [a for a in plan.actions if a.op in ("set", "clear")]
    if not actions:
        return []
    answer = client.call("custom_field.list").get("customFields", [])
    ids = {str(cf.get("name", "")): cf.get("id") for cf in answer if isinstance(cf, dict)}
    problems = []
    for action in actions:
        name = action.changes[0].field.partition(".")[2]
        sent = action.payload["customField"]["id"]
        if name not in ids:
            problems.append(f"{action.id}: the account has no custom field {name!r}")
        elif str(ids[name]) != str(sent):
            problems.append(f"{action.id}: custom field {name!r} is #{ids[name]}, not #{sent}")
    return problems


def guard_safety(plan: Plan, *, allow_destroy: bool) -> None:
    if plan.destroy_violations and not allow_destroy:
        # Name the removals too: a saved plan's file may have hidden them from its own fields.
        removals = [a.id for a in plan.actions if a.is_removal]
        named = ", ".join(removals[:5]) + (f", ... ({len(removals)} in all)"
                                           if len(removals) > 5 else "")
        raise PlanError(
            "refused by the safety threshold (pass --allow-destroy if this is intended): "
            + "; ".join(plan.destroy_violations)
            + (f" (removals: {named})" if removals else "")
        )


def _reads_refusal(max_calls: int, made: int, more: int) -> str:
    return (
        f"--max-calls {max_calls} does not cover reading the account: that took "
        f"{made} call(s) so far and needs at least {more} more, so "
        "the run stopped there and applied nothing. Raise --max-calls (the reads grow "
        "with the account)"
    )


def _reads_kb_refusal(max_kb: float, spent: float, more: float) -> str:
    return (
        f"--max-kb {max_kb:g} does not cover reading the account: that took {spent:.0f} KB "
        f"so far and needs about {more:.1f} KB more, so the run stopped there and applied "
        "nothing. Raise --max-kb (the reads grow with the account)"
    )


def read_budget(client: Client, max_calls: int, max_kb: float | None = None) -> Client:
    """The client for the reads of ``apply --max-calls N [--max-kb K]``: a read that would
    pass N calls (or, by its estimate, K KB) is refused before it starts, so a run whose
    reads alone exceed N stops there instead of spending past N (an hours lookup it cuts
    short leaves the hours unknown, as at the quota).
    """
    return ClientView(client, max_calls=max_calls, refusal=_reads_refusal, max_kb=max_kb,
                      kb_refusal=_reads_kb_refusal)


class QuotaShortfall(PlanError):
    """The plan needs more than today's quota has left; a slice would fit."""

    def __init__(self, message: str, fits: Slice):
        super().__init__(message)
        self.fits = fits


def quota_left(client: Client) -> Cost:
    """Requests and bytes left today, as counted by beeplan's ledger."""
    return Cost(
        client.remaining_today(), max(0, client.quota.kb * 1024 - client.ledger.bytes)
    )


def daily_quota(client: Client) -> Cost:
    return Cost(client.quota.requests, client.quota.kb * 1024)


def choose_slice(
    client: Client,
    plan: Plan,
    *,
    max_calls: int | None,
    ignore_quota: bool,
    fresh: bool = False,
    max_kb: float | None = None,
    listed: Mapping[str, int] | None = None,
) -> Slice:
    """The part of ``plan`` this run applies; checked before any write or re-read.

    Without ``max_calls`` that is the whole plan, refused (QuotaShortfall)
    when its requests or KB exceed what is left today, unless
    ``ignore_quota``. With ``max_calls`` it is the dependency-closed part
    that fits both N calls (and ``max_kb`` KB) for this whole command (the reads
    it made already included) and, unless ``ignore_quota``, today's quota.
    ``fresh``: a saved plan, whose touched entities are re-read first (``listed``:
    the parents its earlier slices created, see ``cost.AbsenceChecks``).
    """
    whole = plan_cost(plan, fresh, listed)
    left = quota_left(client)
    if max_calls is None:
        if ignore_quota or (whole.calls <= left.calls and whole.bytes <= left.bytes):
            return Slice(plan, whole, ())
        fits = select_slice(plan, left, fresh, listed)
        raise QuotaShortfall(shortfall_message(client, plan, whole, left, fits), fits)
    budget = Cost(
        max(0, max_calls - client.usage.total_requests),
        1 << 62 if max_kb is None else max(0, int(max_kb * 1024) - client.usage.total_bytes),
    )
    if not ignore_quota:
        budget = Cost(min(budget.calls, left.calls), min(budget.bytes, left.bytes))
    part = select_slice(plan, budget, fresh, listed)
    if plan.actions and not part.plan.actions:
        spent = client.usage.total_requests
        if ignore_quota or select_slice(plan, left, fresh, listed).plan.actions:
            rereads = " (and a saved plan re-reads what it touches)" if fresh else ""
            if max_kb is not None and select_slice(
                plan, Cost(budget.calls, 1 << 62), fresh, listed
            ).plan.actions:  # the calls would do: the KB do not
                raise PlanError(
                    f"--max-kb {max_kb:g} leaves room for no action: this run spent "
                    f"{client.usage.total_bytes / 1024:.0f} KB reading the account{rereads}. "
                    "Raise --max-kb (the reads grow with the account)"
                )
            raise PlanError(
                f"--max-calls {max_calls} leaves room for no action: this run spent {spent} "
                f"call(s) reading the account{rereads}. Raise --max-calls (the reads grow "
                "with the account)"
            )
        raise PlanError(
            f"nothing of the plan fits what is left of today's quota ({left.calls} calls, "
            f"{left.bytes / 1024:.0f} KB, as counted by beeplan); re-run tomorrow to continue"
        )
    return part


def shortfall_message(
    client: Client, plan: Plan, whole: Cost, left: Cost, fits: Slice
) -> str:
    days = days_needed(whole, daily_quota(client), run_reads(client, plan), left)
    first = (
        f"'--max-calls {left.calls + client.usage.total_requests}' applies "
        f"{len(fits.plan.actions)} of its {len(plan.actions)} actions now"
        if fits.plan.actions
        else "nothing fits today"
    )
    need = (
        f"the plan needs {whole.calls} API calls but only {left.calls} are left in today's "
        f"quota, and about {whole.kb:.0f} KB of the {left.bytes / 1024:.0f} KB left"
        if whole.calls > left.calls
        else f"the plan needs about {whole.kb:.0f} KB but only {left.bytes / 1024:.0f} KB "
        f"are left in today's quota (its {whole.calls} API calls would fit)"
    )
    return (
        f"{need} (as counted by beeplan); the whole plan needs about {days} day(s) of quota. "
        f"Apply it in slices: {first}, and re-running continues where it stopped "
        "(run it again on the following days); or pass --ignore-quota"
    )


def run_reads(client: Client, plan: Plan) -> Cost:
    """What each later run spends reading before it writes (this run's reads, about)."""
    if client.usage.total_requests:
        return Cost(client.usage.total_requests, client.usage.total_bytes)
    return Cost(plan.read_calls, plan.read_calls * 260)


def slice_report(client: Client, plan: Plan, part: Slice, saved: bool,
                 continued: bool = False) -> str:
    """What a slice leaves for later, and how to continue.

    ``continued``: a sliced apply of manifests kept its plan (planfile/kept.py), so
    the next run continues it, re-reading only what its part touches.
    """
    if part.complete:
        return ""
    days = days_needed(
        plan_cost(plan, fresh=saved or continued), daily_quota(client),
        run_reads(client, plan) if not continued else Cost(), Cost(),
    )
    how = (
        "re-run the same command to continue (it applies the saved plan's next part)"
        if saved and not continued
        else "re-run the same command to continue (it continues this plan, re-reading only "
        "what its next part touches)"
        if continued
        else "re-run the same command to continue (it plans again and applies the next part)"
    )
    return (
        f"Slice: {len(part.plan.actions)} of {len(plan.actions)} actions in this run; "
        f"{len(part.left)} left: {how}. The whole plan needs about {days} day(s) of quota."
    )


def choose_saved_slice(
    client: Client,
    rest: Plan,
    progress: SavedProgress,
    max_calls: int | None,
    ignore_quota: bool,
    max_kb: float | None = None,
    fresh: bool = True,
) -> Slice:
    """A slice of a saved plan whose re-reads, before and after, fit ``max_calls`` (and
    ``max_kb``) too. ``fresh=False``: a plan made by this run, kept for the next
    (planfile/kept.py): no re-read before, those after still.

    The re-reads after a slice depend on the slice, so the largest slice that fits
    is searched for (by bisection on the budget given to ``choose_slice``): cutting
    the budget by the whole overrun at once left most of it unused.
    """
    listed = progress.listed
    part = choose_slice(
        client, rest, max_calls=max_calls, ignore_quota=ignore_quota, fresh=fresh, max_kb=max_kb,
        listed=listed,
    )
    if max_calls is None or part.complete:
        return part

    def fits(candidate: Slice) -> bool:
        after = progress.after_cost(rest, candidate.plan)
        calls = client.usage.total_requests + candidate.cost.calls + after.calls
        spent = client.usage.total_bytes + candidate.cost.bytes + after.bytes
        return calls <= max_calls and (max_kb is None or spent <= max_kb * 1024)

    if fits(part):
        return part
    best: Slice | None = None
    low, high = client.usage.total_requests + 1, max_calls - 1
    while low <= high:
        limit = (low + high) // 2
        try:
            candidate = choose_slice(
                client, rest, max_calls=limit, ignore_quota=ignore_quota, fresh=fresh,
                max_kb=max_kb, listed=listed,
            )
        except PlanError:  # no action fits so small a budget
            candidate = None
        if candidate is not None and candidate.plan.actions and fits(candidate):
            best, low = candidate, limit + 1
        else:
            high = limit - 1
    if best is None:
        kb = f" and --max-kb {max_kb:g}" if max_kb is not None else ""
        raise PlanError(
            f"--max-calls {max_calls}{kb} leave room for no action of the saved plan: each "
            "needs its entity re-read before and after it is applied. Raise --max-calls"
            + (" or --max-kb" if max_kb is not None else "")
        )
    return best


def owed_by(plan: Plan) -> frozenset[str]:
    """Entities the whole plan creates and then deactivates: a slice may split the two."""
    created = {entity_key(a.target) for a in plan.actions if a.is_create}
    return frozenset(
        entity_key(a.target) for a in plan.actions if a.op == "deactivate"
    ) & frozenset(created)


def apply_plan(
    client: Client,
    plan: Plan,
    parallelism: int,
    progress: ProgressCallback | None,
    owes: frozenset[str] = frozenset(),
) -> Outcome:
    return Applier(client, parallelism, progress, Journal.for_client(client)).apply(plan, owes)


def report(outcome: Outcome, calls: int, seconds: float) -> str:
    lines = [f"Apply: {outcome.summary()} ({calls} API call{'' if calls == 1 else 's'}, "
             f"{seconds:.1f}s)."]
    # Labels come from the account and messages from the server: escaped, messages capped.
    for action, message in outcome.failed:
        label = printable(action.target.label)
        lines.append(f"  failed:  {action.service} {label}: {capped(message)}")
    for action, reason in outcome.skipped[:20]:
        label = printable(action.target.label)
        lines.append(f"  skipped: {action.service} {label}: {printable(reason)}")
    if len(outcome.skipped) > 20:
        lines.append(f"  ... and {len(outcome.skipped) - 20} more skipped")
    if not outcome.ok:
        lines.append("Re-run 'beeplan apply' once the cause is fixed: it converges from here.")
    return "\n".join(lines)
