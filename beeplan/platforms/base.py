"""What a platform (one Beebole API) gives the core: the boundary of beeplan.

The core (manifests, model, plan, preflight, safety, saved plans, apply
scheduling, rendering, CI) is written against this interface only; a
platform is one folder under ``beeplan/platforms/`` that fills it in, and
the registry (``beeplan/platforms/__init__.py``) is the one module that
names the folders. See docs/architecture.md, "Adding a platform".
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from ..applier import Outcome, ProgressCallback
    from ..errors import Problem
    from ..hours import AccountUsage, UsageReport
    from ..localfiles.ledger import Ledger, Quota, Usage
    from ..model import Entity, Ref, State
    from ..planner import Action, Change, Plan
    from ..setdiff import SetDiff

T = TypeVar("T")
R = TypeVar("R")

# A reader's progress lines ("reading 120 projects..."), for the user's terminal.
Progress = Callable[[str], None]


class Client(Protocol):
    """A platform's API client as the core uses it: calls, counted, within a daily quota.

    The core types every client it is handed with this, never with a
    platform's class; ``budget.ClientView`` is one too.
    """

    endpoint: str
    account_key: str  # names per-token files (ledger, journal); never the token
    usage: Usage  # this client's calls and bytes
    ledger: Ledger  # today's calls of this token on this machine
    quota: Quota
    ignore_quota: bool  # apply --ignore-quota: reads may pass the quota too

    def call(self, service: str, **payload: Any) -> dict[str, Any]: ...

    def request(
        self, service: str, payload: Mapping[str, Any], *, retries: int | None = None
    ) -> dict[str, Any]: ...

    def check_reads(
        self, count: int, services: Sequence[str] | None = None, basis: str = "",
        kb: float | None = None,
    ) -> None: ...

    def remaining_today(self) -> int: ...

    def expected_bytes(self, service: str) -> int:
        """What one call of ``service`` is expected to cost (request + answer bytes)."""
        ...

    def token_fingerprint(self, salt: str, sealed: str = "") -> str: ...


class Reader(Protocol):
    """A platform's reader of the live account into the model, as the core uses it.

    Made by ``Platform.reader(client, parallelism, progress)``; every read goes
    through ``client`` (counted, within the quota).
    """

    client: Client

    def pmap(
        self, fn: Callable[[T], R], items: Iterable[T], services: Sequence[str] | None = None
    ) -> list[R]:
        """``fn`` over ``items`` in parallel, stopping before a fan-out passes the quota."""
        ...

    def read(self, desired: State) -> State:
        """What the account holds of the kinds and relations ``desired`` manages."""
        ...

    def read_entities(self, wanted: Mapping[Ref, Iterable[str]]) -> dict[Ref, Entity | None]:
        """Each entity (with the named relations) as it is now; None: gone."""
        ...

    def read_kinds(
        self, kinds: frozenset[str], guard: Callable[[int, int], None] | None = None,
        desired: State | None = None,
    ) -> State:
        """The lists of ``kinds`` (no relations); ``guard(count, later)`` before each fan-out;
        ``desired`` prices a first read of the account."""
        ...

    def listed(self, kind: str, answer: Mapping[str, Any], owner: Ref | None) -> list[Entity]:
        """The entities a list answer (of a call made by the caller) shows."""
        ...

    def relations_in(self, what: str, answer: Mapping[str, Any]) -> dict[str, Any]:
        """The relation values a relation listing's answer shows."""
        ...

    def assigned_in(self, answer: Mapping[str, Any]) -> list[Ref]:
        """Every entity a group's assignments answer shows in the group."""
        ...

    def list_top(self, kind: str) -> list[Entity]:
        """Every live group ("group") or every company (any other kind): one call."""
        ...

    def list_under(self, kind: str, parent: Ref) -> list[Entity]:
        """The live entities of ``kind`` under ``parent`` (by its xid, else its id): one call."""
        ...

    def people_with_emails(self, company: Ref, emails: frozenset[str]) -> list[Entity]:
        """The live people of ``company`` whose email, stripped and case-folded, is one
        of ``emails``: the same one call as ``list_under("person", company)``."""
        ...

    def read_everything_lists(self, relations: Iterable[str]) -> State:
        """Every entity of every kind (import), without relations."""
        ...

    def everything_needs(self, live: State, relations: Iterable[str]) -> dict[Ref, set[str]]:
        """Which relations of which entities ``read_everything_relations`` still reads."""
        ...

    def relation_calls(self, live: State, needs: Mapping[Ref, set[str]]) -> int:
        """How many calls reading ``needs`` takes (for the quota, before reading)."""
        ...

    def read_everything_relations(self, live: State, relations: Iterable[str]) -> State:
        """``live`` with the relations read in (import)."""
        ...


class ActionFactory(Protocol):
    """One difference (an operation on an entity) to the one API call it means.

    Raises ``planner.ActionError`` for a meaning the platform never plans, so
    that a saved plan cannot carry a call outside its vocabulary.
    """

    def __call__(
        self,
        op: str,
        kind: str,
        target: Ref,
        name: str,
        *,
        relation: str = "",
        detail: str = "",
        changes: Iterable[Change] = (),
        depends_on: Iterable[str] = (),
        custom_field_ids: Mapping[str, int] | None = None,
    ) -> Action: ...


class CheckCalls(Protocol):
    """The one call that verifies each unit of a budgeted check (``check --max-calls``)."""

    def list_call(self, kind: str, parent: Ref | None) -> tuple[str, dict[str, Any]]:
        """(service, payload) listing ``kind`` under ``parent`` (None: the whole kind)."""
        ...

    def relation_call(self, kind: str, listing: str, owner: Ref) -> tuple[str, dict[str, Any]]:
        """(service, payload) listing a relation of ``owner`` (``listing``: a value of
        ``Platform.listing_service``)."""
        ...

    def assignments_call(self, group: Ref) -> tuple[str, dict[str, Any]]:
        """(service, payload) showing every entity in ``group``."""
        ...

    def call_bytes(self, service: str, items: int) -> int:
        """Bytes (request + answer) one call of ``service`` is expected to cost, its
        answer showing about ``items`` entities: the KB guards' estimate before it."""
        ...


class HoursExport(Protocol):
    """A platform's export of logged hours: a job filtered to one entity, polled till done.

    Rows are dicts by the ``keys`` asked for (``date``, ``hours`` as a number,
    ``personId``, ``<kind>Id``); an export that fails or answers nonsense raises
    ``errors.UsageError``.
    """

    def start(
        self, client: Client, where: tuple[str, int] | None, keys: Sequence[str],
        start: str, end: str,
    ) -> tuple[int, list[dict[str, Any]] | None]:
        """Start one export (``where``: (kind, id) filtered to, None: all); (job id, rows
        if it is done already, else None)."""
        ...

    def poll(
        self, client: Client, job_id: int, keys: Sequence[str]
    ) -> list[dict[str, Any]] | None:
        """One poll of a job: its rows once done, else None."""
        ...


@dataclass(frozen=True)
class EngineOptions:
    """What a plan of an engine's set may look up beyond the plan itself, and its limits."""

    authors: bool = False  # who changed each drifted entity (when the platform records it)
    usage_days: int = 0  # the hours behind each archive over the last N days (0: none)
    # --changed-since: the engine's desired account at BASE (None: no targeted plan), BASE
    # as given, and why BASE cannot be used (then the plan is a full one, saying why).
    since: Any = None
    since_label: str = ""
    since_unusable: str = ""
    max_calls: int | None = None  # --max-calls: the requests this run may spend at most
    # The command whose success the engine records as the account's last run (the current
    # platform lists the audit trail since it): "check", "apply"; "" for plan (read only).
    record_as: str = ""


@dataclass(frozen=True)
class EnginePlan:
    """An engine's plan, and the hours it looked up behind its archives (None: not asked)."""

    plan: Plan
    usage: UsageReport | None = None


class Engine(Protocol):
    """Plan and apply for a platform with its own manifest vocabulary (not the model's kinds).

    The core hands it what the manifest loader read (``WrittenForOther.files``) and a
    client of the platform; it gives back the core's ``Plan`` (rendered, guarded and
    exited on as any plan) and the core's apply ``Outcome``.
    """

    def load(self, files: Sequence[tuple[str, Any]], problems: Sequence[Problem]) -> Any:
        """The desired account of a set's parsed files, or ManifestError (no call made)."""
        ...

    def plan(self, client: Any, desired: Any) -> Plan:
        """Read the account (counted in ``Plan.read_calls``) and diff it: the plan."""
        ...

    def plan_with(self, client: Any, desired: Any, options: EngineOptions) -> EnginePlan:
        """``plan`` with the lookups and limits of ``options`` (authors, hours, BASE)."""
        ...

    def apply(self, client: Any, plan: Plan, desired: Any, parallelism: int,
              progress: ProgressCallback | None) -> Outcome:
        """Run the plan's actions; what was applied, failed and skipped."""
        ...

    def apply_requests(self, plan: Plan, desired: Any) -> tuple[int, str]:
        """The requests applying ``plan`` sends, and how they add up, for ``--max-calls``."""
        ...

    def usage(self, client: Any, desired: Any, days: int,
              max_calls: int | None = None) -> AccountUsage:
        """``beeplan usage``: the hours logged on each managed entity over ``days`` days,
        refused before any request when it takes more than ``max_calls``."""
        ...

    def diff(self, old: Any, new: Any) -> SetDiff:
        """``beeplan diff``: what ``new`` changes against ``old`` (None: no manifests). Pure."""
        ...

    def graph(self, desired: Any, fmt: str, *, only: Collection[Ref] | None = None,
              max_nodes: int = 300, leaders: bool = False) -> str:
        """``beeplan graph`` (and ``plan --graph``, ``only`` the plan's targets). Pure."""
        ...

    def verify_saved(self, client: Any, saved: Plan, desired: Any, source: str) -> Plan:
        """What is left to run of a saved plan (``plan -o``) made from ``desired``'s
        manifests, as the platform's planner makes it now; PlanError for a plan file
        that was edited or is stale (``source`` names it). No mutation."""
        ...


@dataclass(frozen=True)
class Cost:
    """What a platform's account may spend per period, as the quota ledger counts it."""

    requests: int  # calls per day
    kilobytes: int  # answer KB per day (0: not limited)


@dataclass(frozen=True)
class ImportedAccount:
    """What a platform's own import makes of a live account, for the core to write.

    The core writes ``files`` as it writes v2's (``beeplan.importer.write_set``:
    only files an earlier import wrote are ever replaced), so each text starts
    with ``beeplan.importer.HEADER``.
    """

    files: Mapping[str, str]  # file name -> YAML text
    summary: str  # what was written, for the user: "1 project category, 7 projects"
    notes: tuple[str, ...] = ()  # what the user should know (entities adopted by id...)


@dataclass(frozen=True)
class Platform:
    """One Beebole API, as the core sees it.

    Each field is a value or a factory, never a module, so the core never
    imports a platform folder: it asks the registry for a ``Platform``.
    """

    name: str  # what a manifest set's ``settings.platform`` would say, e.g. "v2"
    default_endpoint: str
    # Entity kinds and relations are the model's (beeplan/model.py: KINDS);
    # the manifest schema that declares them for this platform:
    manifest_schema: Path
    # How an entity is identified across runs: the field holding beeplan's id.
    identity_field: str
    # The account's budget (v2: the daily quota of requests and KB).
    cost: Cost
    # client(endpoint, token) -> a client (context manager) that counts calls.
    client: Callable[[str, str], Any]
    # reader(client, parallelism, progress) -> reads the live account into a model State.
    reader: Callable[[Client, int, Progress | None], Reader]
    # relation -> the listing service a re-read of it calls (for cost estimates).
    listing_service: Mapping[str, str]
    # The action factory (difference -> API call with dependencies).
    build_action: ActionFactory
    # problem(service, answer) -> why an answer is not what the client believes, or None.
    answer_problem: Callable[[str, Any], str | None]
    # sandbox(db_path, **options) -> a local emulator (context manager with .url, .token).
    sandbox: Callable[..., Any]
    # Does this endpoint belong to the platform (e.g. a URL path of /api/v2)?
    serves: Callable[[str], bool]
    # import_account(client) -> ImportedAccount: the platform's own ``beeplan import``
    # (one read, manifests in its vocabulary). None: the core's import (API v2's).
    import_account: Callable[[Any], ImportedAccount] | None = None
    # Plan and apply of a platform whose manifests are its own vocabulary (the loader
    # raises WrittenForOther for them); None: the model's kinds, planned by the core.
    engine: Engine | None = None
    # The calls of a budgeted check (None: the platform has none).
    check_calls: CheckCalls | None = None
    # The export of logged hours (usage, hours behind deactivations; None: none).
    hours_export: HoursExport | None = None
