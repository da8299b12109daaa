"""Apply on the current platform: a plan's actions as aliased mutation batches, layer by layer.

The contract between the current platform's planner (``plan.py``) and this module:

- An ``Action`` (``beeplan.planner.Action``) is one mutation: ``service`` is the
  mutation field (``addProject``, ``archivePerson``...), ``payload`` its arguments.
  A payload value ``{"$ref": ACTION_ID}`` stands for the id the create action
  ACTION_ID returns (known only once that layer ran); ``depends_on`` names it.
- ``target`` is ``Ref(kind, xid, id)`` with the platform's kind names
  (``kinds.py``) and its opaque text ids.
- A create (``op == "create"``) also stores the entity's xid in the External ID
  custom field (``addCustomFieldValue``), in this same apply; before re-creating
  after an unknown outcome or an interrupted run, the entity is looked up (by the
  field, or as the one entity that appeared since with that name and parent and no
  External ID), so a retry never duplicates.
- Removals archive (``op == "deactivate"``: ``archiveProject``...), last.

Actions whose dependencies have all run form a layer; a layer's mutations go out
in documents of ``batch_size`` aliases (``client.mutate``), at most
``parallelism`` documents at a time. A failed alias fails its action and skips
what depends on it, never the rest of its batch.

How a retry never duplicates:

- The xid of a create goes out in the next layer (its id is known only then),
  with that layer's own mutations: no extra request unless it is the last layer.
- An alias whose outcome is ``unknown`` (lost answer, or after a failing alias),
  or a create ``done`` whose id went with the answer, is settled by ONE re-read of
  the account (``reader.read_account``): a create is found by its External ID, or
  as the entity of that kind, name and parent, without an External ID, that was not
  in the account before this apply and that no other action of this apply took.
  Only what the re-read shows not done is sent again (at most
  ``LOST_ANSWER_RETRIES`` times).
- Before a create is sent, the journal records it (kind, xid, and the look-alikes
  that already existed); the entry is settled once its External ID is set. A run
  killed in between leaves the entry, so the next apply adopts the entity it made
  instead of creating it again.
- Work the account already shows done (a create whose xid is live, a value already
  set, a relation already there, an entity already archived) is not sent: a stale
  or re-applied plan converges instead of duplicating.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import signal
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...applier import Outcome, ProgressCallback, catch_stop_signals
from ...errors import (
    ApiError,
    AuthError,
    EndpointError,
    Terminated,
    TransportError,
)
from ...localfiles.journal import Journal
from ...model import entity_key
from ...planner import Action
from .client import (
    DONE,
    FAILED,
    Arg,
    BudgetError,
    CurrentClient,
    DocumentError,
    InactiveAccountError,
    Op,
)
from .kinds import BY_NAME, VALUE_ENTITY_TYPES
from .reader import LiveAccount, Node, read_account

log = logging.getLogger("beeplan.apply.current")

# How many times an alias whose answer was lost is sent again (after a re-read showed
# it not done) before it is reported failed.
LOST_ANSWER_RETRIES = 3

# The introspection result of the real API (shipped with the sandbox, read as data):
# each mutation's argument types and return type come from it, so a variable is
# declared with the type the API states and the selection fits what it returns.
_SCHEMA_FILE = Path(__file__).with_name("sandbox") / "schema.json"

JOURNAL_PREFIX = "pending-create "  # journal keys of creates whose xid is not set yet

# The create mutations whose entity a re-read can find, and the kind it is listed as.
CREATED_KIND: dict[str, str] = {
    "addProjectCategory": "projectCategory", "addProject": "project",
    "addTagCategory": "tagCategory", "addTag": "tag", "addRole": "role",
    "addPerson": "person", "addTaskCategory": "taskCategory", "addTask": "task",
    "addAbsenceType": "absenceType", "addCustomField": "customField",
    "addTaskCategoryStatus": "taskStatus",
}
_TREE = frozenset({"project", "tag", "task"})

# Relation mutations (add form, remove form) -> (the argument naming the entity the
# reader lists the link on, its relation key, the other end's argument): a re-read
# shows whether the link is there.
_LINK_PAIRS: dict[tuple[str, str], tuple[str, str, str]] = {
    ("assignProjectToPerson", "unassignProjectFromPerson"):
        ("projectId", "assigned.people", "personId"),
    ("assignSubProjectToPerson", "unassignSubProjectFromPerson"):
        ("subProjectId", "assigned.people", "personId"),
    ("assignProjectToTag", "unassignProjectFromTag"): ("projectId", "assigned.tags", "tagId"),
    ("assignSubProjectToTag", "unassignSubProjectFromTag"):
        ("subProjectId", "assigned.tags", "tagId"),
    ("assignTaskToProject", "unassignTaskFromProject"): ("taskId", "projects", "projectId"),
    ("assignTaskToPerson", "unassignTaskFromPerson"): ("taskId", "assigned.people", "personId"),
    ("assignTaskToTag", "unassignTaskFromTag"): ("taskId", "assigned.tags", "tagId"),
    ("makeManagerOfProject", "removeManagerOfProject"): ("projectId", "managers", "managerId"),
    ("makeManagerOfTag", "removeManagerOfTag"): ("tagId", "managers", "managerId"),
    ("makeManagerOfPerson", "removeManagerOfPerson"): ("personId", "managers", "managerId"),
    ("makeManagerOfTask", "removeManagerOfTask"): ("taskId", "managers", "managerId"),
    ("tagProject", "untagProject"): ("projectId", "tags", "tagId"),
    ("tagPerson", "untagPerson"): ("personId", "tags", "tagId"),
    ("tagTask", "untagTask"): ("taskId", "tags", "tagId"),
}
# service -> (owner argument, relation key, other argument, whether done means present)
_LINKS: dict[str, tuple[str, str, str, bool]] = {
    service: (*where, adds)
    for pair, where in _LINK_PAIRS.items()
    for service, adds in zip(pair, (True, False), strict=True)
}
_ARCHIVE_SERVICE = re.compile(r"(?P<verb>archive|unarchive)(?P<kind>[A-Z]\w*)\Z")
_VALUE_ARGS = ("textValue", "numberValue", "dateValue", "dateTimeValue", "urlValue",
               "booleanValue")


# -- mutations as the real schema states them (pure) ----------------------------------


@functools.cache
def _schema() -> tuple[dict[str, Any], dict[str, Any]]:
    """(mutation fields by name, types by name) of the real API's introspection result."""
    root = json.loads(_SCHEMA_FILE.read_text(encoding="utf-8"))["__schema"]
    types = {t["name"]: t for t in root["types"]}
    mutation = types[root["mutationType"]["name"]]
    return {f["name"]: f for f in mutation["fields"]}, types


def _type_text(ref: Mapping[str, Any]) -> str:
    if ref["kind"] == "NON_NULL":
        return _type_text(ref["ofType"]) + "!"
    if ref["kind"] == "LIST":
        return "[" + _type_text(ref["ofType"]) + "]"
    return str(ref["name"])


def _selection(ref: Mapping[str, Any]) -> str:
    """What to select of a mutation's answer: its ``id`` when it has one (a create's id is
    what dependents need), else its first scalar field; nothing for a scalar answer."""
    while ref.get("ofType"):
        ref = ref["ofType"]
    kind = _schema()[1][ref["name"]]
    if kind["kind"] != "OBJECT":
        return ""
    names = [f["name"] for f in kind["fields"]]
    if "id" in names:
        return "id"
    scalar = [f["name"] for f in kind["fields"] if _leaf(f["type"])]
    return scalar[0] if scalar else names[0]


def _leaf(ref: Mapping[str, Any]) -> bool:
    while ref.get("ofType"):
        ref = ref["ofType"]
    return ref["kind"] in ("SCALAR", "ENUM")


def mutation_op(service: str, payload: Mapping[str, Any]) -> Op:
    """The ``Op`` that runs ``service(payload)``, its variables typed as the API states.

    Raises ``ValueError`` (a plan beeplan made wrong: said plainly) for a mutation the
    API does not have or an argument it does not take.
    """
    fields, _types = _schema()
    field = fields.get(service)
    if field is None:
        raise ValueError(f"{service} is not a mutation of the API: a bug in the plan, "
                         "please report it")
    types = {a["name"]: _type_text(a["type"]) for a in field["args"]}
    unknown = sorted(set(payload) - set(types))
    if unknown:
        raise ValueError(f"{service} takes no argument {unknown[0]!r}: a bug in the plan, "
                         "please report it")
    return Op(service, tuple(Arg(k, types[k], v) for k, v in payload.items()),
              _selection(field["type"]))


class _Unresolved(Exception):
    """A ``$ref`` to an action whose id is not known."""


def resolve(value: Any, ids: Mapping[str, str]) -> Any:
    """``value`` with every ``{"$ref": ACTION_ID}`` replaced by the id that create returned."""
    if isinstance(value, Mapping):
        if set(value) == {"$ref"}:
            ref = value["$ref"]
            if ref not in ids:
                raise _Unresolved(str(ref))
            return ids[ref]
        return {k: resolve(v, ids) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [resolve(v, ids) for v in value]
    return value


def refs(value: Any) -> Iterator[str]:
    """The action ids ``value`` refers to with ``$ref``."""
    if isinstance(value, Mapping):
        if set(value) == {"$ref"}:
            yield str(value["$ref"])
            return
        for v in value.values():
            yield from refs(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from refs(v)


# -- what a read shows (pure) ----------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    """An entity of a read, as far as finding a create's result needs."""

    kind: str
    id: str
    name: str
    parent: str | None = None
    category: str | None = None
    xid: str | None = None
    email: str | None = None
    archived: bool = False


def seen_in(live: LiveAccount) -> tuple[Seen, ...]:
    """Every entity of ``live`` a create can make, categories, fields and statuses included."""
    out = [Seen(n.kind, n.id, n.name, n.parent, n.category, n.xid,
                n.field("email") if n.kind == "person" else None, n.archived)
           for n in live.nodes]
    for kind, cats in (("projectCategory", live.project_categories),
                       ("tagCategory", live.tag_categories),
                       ("taskCategory", live.task_categories)):
        out.extend(Seen(kind, c.id, c.name) for c in cats)
    out.extend(Seen("taskStatus", sid, name, category=c.id)
               for c in live.task_categories for sid, name in c.statuses)
    out.extend(Seen("customField", f.id, f.name, archived=f.archived)
               for f in live.custom_fields)
    return tuple(out)


@dataclass(frozen=True)
class Shown:
    """One read, indexed once (an apply looks thousands of entities up in it)."""

    live: LiveAccount
    by_id: Mapping[str, Seen]
    named: Mapping[tuple[str, str], tuple[Seen, ...]]  # (kind, name) -> entities
    xids: Mapping[tuple[str, str], tuple[Seen, ...]]  # (kind, xid) -> entities
    nodes: Mapping[str, Node]

    def like(self, kind: str, payload: Mapping[str, Any]) -> list[Seen]:
        """The entities that ``add<kind>(payload)`` would make (``fits``), in read order."""
        return [s for s in self.named.get((kind, str(payload.get("name"))), ())
                if fits(s, kind, payload)]


def shown(live: LiveAccount) -> Shown:
    seen = seen_in(live)
    named: dict[tuple[str, str], list[Seen]] = {}
    xids: dict[tuple[str, str], list[Seen]] = {}
    for s in seen:
        named.setdefault((s.kind, s.name), []).append(s)
        if s.xid is not None:
            xids.setdefault((s.kind, s.xid), []).append(s)
    return Shown(live, {s.id: s for s in seen}, {k: tuple(v) for k, v in named.items()},
                 {k: tuple(v) for k, v in xids.items()}, {n.id: n for n in live.nodes})


def fits(seen: Seen, kind: str, payload: Mapping[str, Any]) -> bool:
    """Whether ``seen`` is what ``add<kind>(payload)`` makes: same name, same place.

    People are told apart by email (unique in an account), tree nodes by parent (or,
    at the top, category), statuses by category; the other kinds by name alone.
    """
    if seen.kind != kind or seen.name != payload.get("name"):
        return False
    if kind == "person":
        return (seen.email or "").casefold() == str(payload.get("email") or "").casefold()
    if kind == "taskStatus":
        return seen.category == payload.get("categoryId")
    if kind in _TREE:
        parent, category = payload.get("parentId"), payload.get("categoryId")
        if parent:
            return seen.parent == parent
        return seen.parent is None and (not category or seen.category == category)
    return True


def shows_done(service: str, payload: Mapping[str, Any], account: Shown) -> bool:
    """Whether the read already shows the effect of ``service(payload)`` (not a create).

    Known for custom field values, relations and archiving; False otherwise (edits are
    sent again: setting a value twice leaves it set).
    """
    nodes, live = account.nodes, account.live
    if service == "addCustomFieldValue":
        node = nodes.get(str(payload.get("entityId")))
        value = next((payload[k] for k in _VALUE_ARGS if payload.get(k) is not None), None)
        if node is None or value is None:
            return False
        if live.xid_field is not None and payload.get("customFieldId") == live.xid_field:
            return node.xid == value
        return dict(node.custom).get(str(payload.get("customFieldId"))) == value
    if service in _LINKS:
        owner, key, other, adds = _LINKS[service]
        node = nodes.get(str(payload.get(owner)))
        if node is None:
            return False
        return (str(payload.get(other)) in node.related(key)) == adds
    archive = _ARCHIVE_SERVICE.match(service)
    if archive and "id" in payload:
        found = account.by_id.get(str(payload["id"]))
        return found is not None and found.archived == (archive["verb"] == "archive")
    return False


def journal_key(kind: str, xid: str, lookalikes: Sequence[str]) -> str:
    """The journal entry of a create sent but not yet labelled with its xid.

    ``lookalikes``: ids that already looked like it (same kind, name, place, no
    External ID) before it was sent; a later apply never adopts those.
    """
    return JOURNAL_PREFIX + json.dumps([kind, xid, sorted(lookalikes)], ensure_ascii=True)


def parse_journal_key(key: str) -> tuple[str, str, frozenset[str]] | None:
    if not key.startswith(JOURNAL_PREFIX):
        return None
    try:
        kind, xid, lookalikes = json.loads(key[len(JOURNAL_PREFIX):])
        return str(kind), str(xid), frozenset(str(i) for i in lookalikes)
    except (ValueError, TypeError):
        return None


# -- the run ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Item:
    """One alias to send: an action's mutation, or the xid set that completes a create."""

    action: Action
    op: Op
    payload: Mapping[str, Any]  # resolved
    labels: bool = False  # True: the External ID set of the create ``action``


@dataclass(frozen=True)
class _Answer:
    """What became of one item in one round."""

    item: _Item
    status: str  # client statuses, or "stopped" (not sent: the run stopped)
    data: Any = None
    error: str = ""


_STOPPING = (AuthError, InactiveAccountError, BudgetError, EndpointError)
_WITHHELD = re.compile(r"permissionsErrors: ([^)]*)\)")
_ALIAS = re.compile(r"\Aa\d+(?=[.:])\.?")


def _reason(error: str) -> str:
    """The API's message without the alias beeplan chose (``a3: NotFound...``)."""
    return _ALIAS.sub("", error, count=1).lstrip(": ").strip() or "failed"


_VARIABLE = re.compile(r"Variable '\$a\d+_(\w+)'")


def _refusal(message: str) -> str:
    """A refused one-alias document, in the action's terms: its argument, not our variable."""
    message = _VARIABLE.sub(lambda m: f"argument {m[1]!r}", message)
    return message.replace("the API refused the document: ", "the API refused it: ", 1)


class _Run:
    """One apply: each action's state (applied, failed, skipped, or created and waiting
    for its label), the ids creates returned, and the read it started from."""

    def __init__(self, client: CurrentClient, actions: Sequence[Action], *, xid_field: str,
                 batch_size: int, parallelism: int, journal: Journal | None,
                 progress: ProgressCallback | None, live: LiveAccount | None):
        self.client = client
        self.actions = {a.id: a for a in actions}
        self.order = list(self.actions)
        self.xid_field = xid_field
        self.batch_size = max(1, batch_size)
        self.parallelism = max(1, parallelism)
        self.journal = journal
        self.progress = progress
        # The read this apply starts from: what existed before it (indexed once).
        self.before: Shown | None = shown(live) if live is not None else None
        self.outcome = Outcome()
        self.state: dict[str, str] = {}  # action id -> applied, failed, skipped, created
        self.ids: dict[str, str] = {}  # create action id -> the entity's id
        self.claimed: set[str] = set()  # entity ids a create of this apply made or adopted
        self.to_label: list[Action] = []  # creates whose xid goes out in the next layer
        self.jkeys: dict[str, set[str]] = {}  # create action id -> its journal entries
        self.stop = threading.Event()
        self.signal: int | None = None
        self.in_flight: set[str] = set()  # actions of the layer being sent
        self.resent: set[int] = set()  # items of that layer sent again after a lost answer
        self.known: frozenset[str] = frozenset()
        self.settled = 0  # actions applied, failed or skipped (for progress)
        # Creates an earlier apply sent and never labelled: (kind, xid) -> (journal key,
        # ids of the look-alikes that existed before it).
        self.pending: dict[tuple[str, str], list[tuple[str, frozenset[str]]]] = {}
        for key in journal.owed() if journal is not None else ():
            entry = parse_journal_key(key)
            if entry is not None:
                self.pending.setdefault(entry[:2], []).append((key, entry[2]))
        self._deps = {a.id: self._find_deps(a) for a in actions}
        self.dependents: dict[str, list[str]] = {a: [] for a in self.actions}
        for a in actions:
            for dep in self.deps(a):
                self.dependents[dep].append(a.id)

    # -- dependencies -------------------------------------------------------------

    @functools.cached_property
    def field_action(self) -> Action | None:
        """The plan's create of the External ID field, when it has one."""
        return next((a for a in self.actions.values() if a.is_create
                     and a.service == "addCustomField"
                     and a.payload.get("name") == self.xid_field), None)

    @staticmethod
    def makes(action: Action) -> bool:
        """Whether ``action`` makes an entity whose id others may need: a create, or an
        ``add...`` of something that is not a kind of its own (a task status)."""
        return action.is_create or action.service in CREATED_KIND

    def labelled(self, action: Action) -> bool:
        """Whether the create ``action`` stores its xid in the External ID field."""
        kind = BY_NAME.get(action.kind)
        return (action.is_create and kind is not None and kind.xid_field
                and action.kind in VALUE_ENTITY_TYPES and action.target.xid is not None)

    def deps(self, action: Action) -> list[str]:
        return self._deps[action.id]

    def _find_deps(self, action: Action) -> list[str]:
        """What must run first: ``depends_on``, the ``$ref``s, and for a labelled create
        the External ID field's create (never an entity without its label)."""
        found = [d for d in (*action.depends_on, *refs(action.payload)) if d in self.actions]
        field = self.field_action
        if field is not None and field.id != action.id and self.labelled(action):
            found.append(field.id)
        return list(dict.fromkeys(found))

    def ready(self, action: Action) -> bool:
        return all(d in self.ids or self.state.get(d) == "applied" for d in self.deps(action))

    def blocker(self, action: Action) -> str | None:
        for dep in self.deps(action):
            if dep not in self.ids and self.state.get(dep) in ("failed", "skipped"):
                return f"depends on {self.actions[dep].name or dep}, which " + (
                    "failed" if self.state[dep] == "failed" else "was skipped")
        return None

    # -- settling -----------------------------------------------------------------

    def settle(self, action: Action, status: str, message: str = "") -> None:
        self.state[action.id] = status
        if status == "applied":
            self.outcome.applied.append(action)
        elif status == "failed":
            self.outcome.failed.append((action, message))
        else:
            self.outcome.skipped.append((action, message))
        if status == "applied":
            self.forget(action)  # labelled: nothing left to adopt
        self.settled += 1
        if self.progress is not None:
            self.progress(action, status, message, self.settled, len(self.actions))

    def created(self, action: Action, entity_id: str, note: str = "") -> None:
        """A create ran (or was found): its id is known; its label goes in the next layer."""
        self.ids[action.id] = entity_id
        self.claimed.add(entity_id)
        if self.labelled(action) and not self.has_label(action, entity_id):
            self.state[action.id] = "created"
            self.to_label.append(action)
        else:
            self.settle(action, "applied", note)

    def has_label(self, action: Action, entity_id: str) -> bool:
        found = self.before.by_id.get(entity_id) if self.before is not None else None
        return found is not None and found.xid == action.target.xid

    def remember(self, items: Sequence[_Item]) -> None:
        """Journal the creates about to be sent, before they are (a kill right after the
        request must still find the entry)."""
        if self.journal is None or self.before is None:
            return
        keys = []
        for item in items:
            a = item.action
            if item.labels or not self.labelled(a) or a.service not in CREATED_KIND:
                continue
            kind = CREATED_KIND[a.service]
            lookalikes = [s.id for s in self.before.like(kind, item.payload) if s.xid is None]
            key = journal_key(a.kind, str(a.target.xid), lookalikes)
            self.jkeys.setdefault(a.id, set()).add(key)
            keys.append(key)
        if keys:
            self.journal.add(keys)

    def forget(self, action: Action) -> None:
        keys = self.jkeys.pop(action.id, set())
        if keys and self.journal is not None:
            self.journal.settle(keys)

    # -- the phases ---------------------------------------------------------------

    def run(self) -> Outcome:
        # By op, not phase: the planner numbers its own phases (links after entities).
        removal = [a for a in self.actions.values() if a.is_removal]
        removal_ids = {a.id for a in removal}
        # An unarchive that follows an archive (a subproject the manifests keep active
        # under an archived parent, which the archive took with it) runs after removals.
        after = [a for a in self.actions.values()
                 if a.id not in removal_ids and removal_ids.intersection(a.depends_on)]
        additive = [a for a in self.actions.values()
                    if a.id not in removal_ids and a not in after]
        if self.before is None and self.actions and not self.stop.is_set():
            # The ids known before this apply: what a lost create's answer is told apart from.
            self.before = self.read("reading the account before applying")
        if self.before is not None:
            self.known = frozenset(self.before.by_id)
        self.run_phase(additive)
        if removal and not self.stop.is_set():
            if all(self.state.get(a.id) == "applied" for a in additive):
                self.run_phase(removal)
            else:
                allowed = [a for a in removal if self.completes_a_create(a)]
                for a in removal:
                    if a not in allowed:
                        self.settle(a, "skipped", "removals run only when every create and "
                                    "update succeeded: fix the failures above and re-run")
                self.run_phase(allowed)
        if after and not self.stop.is_set():
            self.run_phase(after)  # those whose archive did not run are skipped, saying why
        return self.finish()

    def completes_a_create(self, action: Action) -> bool:
        """An archive of an entity this plan created, once all that refers to it applied."""
        key = entity_key(action.target)
        for dep in action.depends_on:
            create = self.actions.get(dep)
            if (create is not None and create.is_create and entity_key(create.target) == key
                    and self.state.get(dep) == "applied"):
                return all(self.state.get(o) == "applied" for o in self.dependents[dep]
                           if o != action.id and not self.actions[o].is_removal)
        return False

    def run_phase(self, actions: Sequence[Action]) -> None:
        while not self.stop.is_set():
            self.skip_blocked(actions)
            ready = [a for a in actions if a.id not in self.state and self.ready(a)]
            labels, self.to_label = self.to_label, []
            if not ready and not labels:
                return
            self.run_layer(ready, labels)

    def skip_blocked(self, actions: Sequence[Action]) -> None:
        changed = True
        while changed:
            changed = False
            for a in actions:
                if a.id not in self.state:
                    why = self.blocker(a)
                    if why is not None:
                        self.settle(a, "skipped", why)
                        changed = True

    def finish(self) -> Outcome:
        outcome = self.outcome
        if self.signal is not None:
            outcome.interrupted = True
            outcome.terminated = self.signal == signal.SIGTERM
            outcome.stopped = outcome.stopped or "interrupted"
        for action_id in self.order:
            action = self.actions[action_id]
            status = self.state.get(action_id)
            if status == "created":
                self.settle(action, "failed", (
                    f"created (id {self.ids[action_id]}), but the run stopped before its "
                    "External ID was set: re-run apply, which finds it instead of creating "
                    "it again"))
            elif status is None and action_id in self.in_flight:
                # Only when Ctrl-C could not be caught (not the main thread): the layer was
                # cut short, so whether it ran is not known.
                self.settle(action, "failed", (
                    "interrupted while it was being sent, so whether it ran is unknown: re-run "
                    "apply (it looks the work up before sending it again)"))
            elif status is None:
                self.settle(action, "skipped", f"not started: {outcome.stopped}"
                            if outcome.stopped else "its dependencies never ran")
        return outcome

    def halt(self, reason: str) -> None:
        if self.outcome.stopped is None:
            self.outcome.stopped = reason
        self.stop.set()

    def read(self, why: str) -> Shown | None:
        """One read of the account; None (and the run stopped) when it fails."""
        try:
            return shown(read_account(self.client, xid_field=self.xid_field))
        except (ApiError, TransportError) as exc:
            self.halt(f"{why} failed: {exc}")
            return None

    # -- one layer ----------------------------------------------------------------

    def run_layer(self, ready: Sequence[Action], labels: Sequence[Action]) -> None:
        items: list[_Item] = []
        for action in ready:
            try:
                payload = resolve(action.payload, self.ids)
            except _Unresolved as exc:  # a ref outside depends_on whose create never ran
                self.settle(action, "skipped", f"refers to {exc}, which never ran")
                continue
            if self.already(action, payload):
                continue
            try:
                items.append(_Item(action, mutation_op(action.service, payload), payload))
            except ValueError as exc:
                self.settle(action, "failed", str(exc))
        for action in labels:
            label = self.label_item(action)
            if label is not None:
                items.append(label)
        if items:
            self.remember(items)
            self.send(items)

    def label_item(self, action: Action) -> _Item | None:
        """The xid set of the create ``action`` (its id is known by now)."""
        field_id = self.before.live.xid_field if self.before is not None else None
        if field_id is None and self.field_action is not None:
            field_id = self.ids.get(self.field_action.id)
        if field_id is None:
            self.settle(action, "failed", (
                f"created (id {self.ids[action.id]}), but the account has no text custom "
                f"field {self.xid_field!r} to store its xid in and the plan does not create "
                "it: plan again (the plan creates the field), then apply"))
            return None
        payload = {"customFieldId": field_id, "entityType": VALUE_ENTITY_TYPES[action.kind],
                   "entityId": self.ids[action.id], "textValue": action.target.xid}
        return _Item(action, mutation_op("addCustomFieldValue", payload), payload, labels=True)

    def already(self, action: Action, payload: Mapping[str, Any]) -> bool:
        """Settle ``action`` without sending it when the account shows it done."""
        live = self.before
        if live is None:
            return False
        if self.makes(action):
            found = self.find_existing(action, payload, live)
            if found is not None:
                self.created(action, found, "already existed: found in the account, not "
                             "created again")
                return True
            return action.id in self.state  # find_existing settled it (ambiguous)
        if any(self.actions[d].is_removal for d in action.depends_on if d in self.actions):
            return False  # the read predates the archive it follows: it cannot show this
        if shows_done(action.service, payload, live):
            self.settle(action, "applied", "already done: the account showed it")
            return True
        return False

    def find_existing(self, action: Action, payload: Mapping[str, Any],
                      live: Shown) -> str | None:
        """Before a create is sent: its entity, if the account already holds it.

        By xid (a plan made before an earlier apply labelled it); for the kinds that
        hold no External ID, by name (that is how they are matched); and, when the
        journal says an earlier apply sent this create and stopped before labelling
        it, as the one unlabelled look-alike that was not there before that apply.
        """
        kind = CREATED_KIND.get(action.service)
        if kind is None:
            return None
        entries = self.pending.get((action.kind, str(action.target.xid)), [])
        # Settled once the entity is labelled, however it is found.
        self.jkeys.setdefault(action.id, set()).update(key for key, _ in entries)
        like = [s for s in live.like(kind, payload) if s.id not in self.claimed]
        if not self.labelled(action):
            # Kinds without an External ID are matched by name (trees need their xid).
            return like[0].id if like and kind not in _TREE else None
        by_xid = [s.id for s in live.xids.get((kind, str(action.target.xid)), ())
                  if s.id not in self.claimed]
        if by_xid:
            return by_xid[0]
        for _key, before in entries:
            found = [s.id for s in like if s.xid is None and s.id not in before]
            if len(found) > 1:
                self.settle(action, "failed", (
                    f"an earlier apply sent this create and stopped before labelling it, and "
                    f"{len(found)} {kind}s named {payload.get('name')!r} without an External "
                    f"ID match it: set {self.xid_field!r} to {action.target.xid!r} on the one "
                    "to keep (archive the others), then plan again"))
                return None
            if found:
                return found[0]
        return None

    # -- sending, with lost answers settled by a re-read --------------------------

    def send(self, items: Sequence[_Item]) -> None:
        self.in_flight = {i.action.id for i in items}  # kept if an exception cuts it short
        self._send(items)
        self.in_flight = set()

    def _send(self, items: Sequence[_Item]) -> None:
        pending = list(items)
        ran: set[int] = set()  # items known to have run (done, answer lost with the data)
        self.resent = set()
        for attempt in range(1 + LOST_ANSWER_RETRIES):
            uncertain: list[_Answer] = []
            for answer in self.mutate_all(pending):
                if self.record(answer):
                    uncertain.append(answer)
                    if answer.status == DONE:
                        ran.add(id(answer.item))
            if not uncertain:
                return
            if self.stop.is_set():
                self.lost(uncertain, "the run stopped before it could be checked")
                return
            live = self.read("re-reading the account after a lost answer")
            if live is None:
                self.lost(uncertain, "the account could not be re-read to tell whether it ran")
                return
            again = self.still_to_send(uncertain, live, ran)
            if attempt == LOST_ANSWER_RETRIES:
                self.lost(again, f"its answer was lost {1 + LOST_ANSWER_RETRIES} times")
                return
            pending = [a.item for a in again]
            if not pending:
                return
            log.info("%d lost answer(s) not done per the re-read: sending them again",
                     len(pending))
            self.resent.update(id(i) for i in pending)

    def lost(self, answers: Sequence[_Answer], why: str) -> None:
        for answer in answers:
            action = answer.item.action
            if self.state.get(action.id) in ("applied", "failed", "skipped"):
                continue
            last = f" (last: {_reason(answer.error)})" if answer.error else ""
            self.settle(action, "failed", (
                f"{why}{last}; re-run apply: it looks the work up before sending it again, "
                "so nothing is made twice"))

    def record(self, answer: _Answer) -> bool:
        """Settle what the answer tells; True when it must be looked up in a re-read."""
        item, action = answer.item, answer.item.action
        if answer.status == "stopped":
            if item.labels:
                return False  # reported at the end: created, not labelled
            self.forget(action)  # never sent: nothing to adopt later
            self.settle(action, "skipped", f"not started: {answer.error}")
            return False
        if answer.status == FAILED:
            if item.labels:
                self.settle(action, "failed", (
                    f"created (id {self.ids[action.id]}), but its External ID could not be "
                    f"set: {_reason(answer.error)}"))
            elif (action.is_removal and id(item) in self.resent
                  and _reason(answer.error).startswith("NotFound")):
                # A removal sent again after a lost answer finds nothing to remove: the
                # re-read could not show it (a value, a status), but the lost one did it.
                self.settle(action, "applied", "already removed: the lost answer had "
                            "succeeded")
            else:
                self.forget(action)  # the API ran none of it: nothing to adopt later
                self.settle(action, "failed", _reason(answer.error))
            return False
        if answer.status == DONE:
            if item.labels:
                self.settle(action, "applied")
                return False
            if self.makes(action):
                entity_id = answer.data.get("id") if isinstance(answer.data, Mapping) else None
                if not entity_id:
                    return True  # ran, but its id went with the lost data: look it up
                self.created(action, str(entity_id))
                return False
            self.settle(action, "applied", answer.error)
            return False
        return True  # unknown or not sent

    def still_to_send(self, answers: Sequence[_Answer], live: Shown,
                      ran: set[int]) -> list[_Answer]:
        """Of aliases whose outcome is unknown: settle what ``live`` shows done; the rest.

        An alias withheld by ``permissionsErrors`` and not done is not sent again (the
        key's role lacks the right: it would be withheld again): it fails, saying so.
        """
        resend: list[_Answer] = []
        creates: list[_Answer] = []
        for answer in answers:
            item = answer.item
            if item.labels:
                entity = live.by_id.get(self.ids[item.action.id])
                if entity is not None and entity.xid == item.action.target.xid:
                    self.settle(item.action, "applied", "its External ID was set (the lost "
                                "answer had succeeded)")
                    continue
            elif self.makes(item.action):
                creates.append(answer)
                continue
            elif shows_done(item.action.service, item.payload, live):
                self.settle(item.action, "applied", "the lost answer had succeeded")
                continue
            resend.append(answer)
        found = self.find_made([a.item for a in creates], live)
        for answer in creates:
            item = answer.item
            if item.action.id in self.state:
                continue  # settled as ambiguous
            made = found.get(id(item))
            if made is not None:
                self.created(item.action, made, "the lost answer had succeeded: found, "
                             "not created again")
            elif id(item) in ran or item.action.service not in CREATED_KIND:
                # It ran (or cannot be looked up): sending it again could make a second one.
                self.settle(item.action, "failed", (
                    "its answer was lost and the entity it made cannot be told apart in the "
                    "account: plan again (nothing was created twice)"))
            else:
                resend.append(answer)
        again = []
        for answer in resend:
            if "permissionsErrors" not in answer.error:
                again.append(answer)
                continue
            action, field = answer.item.action, answer.item.op.field
            named = _WITHHELD.search(answer.error)
            why = (f"the API withheld {field} (permissionsErrors: "
                   f"{named[1] if named else '?'}): give the API key's role the right to it, "
                   "then re-run apply")
            if answer.item.labels:
                self.settle(action, "failed", f"created (id {self.ids[action.id]}), but its "
                            f"External ID could not be set: {why}")
            else:
                self.forget(action)  # the re-read shows it not done: nothing to adopt
                self.settle(action, "failed", why)
        return again

    def find_made(self, creates: Sequence[_Item], live: Shown) -> dict[int, str]:
        """The entities lost creates made: by xid, else new unlabelled look-alikes.

        Creates with the same kind, name and place share their look-alikes in order
        (they are alike but for the xid each gets next); more look-alikes than such
        creates means someone else made one too: those creates fail rather than guess.
        """
        found: dict[int, str] = {}
        groups: dict[tuple[str, str], list[_Item]] = {}
        for item in creates:
            kind = CREATED_KIND.get(item.action.service)
            if kind is None:
                continue
            by_xid = [s.id for s in live.xids.get((kind, str(item.action.target.xid)), ())
                      if self.labelled(item.action) and s.id not in self.claimed
                      and s.id not in found.values()]
            if by_xid:
                found[id(item)] = by_xid[0]
                continue
            look = json.dumps([kind, {k: item.payload.get(k) for k in
                                      ("name", "parentId", "categoryId", "email")}],
                              sort_keys=True, default=str)
            groups.setdefault((kind, look), []).append(item)
        for (kind, _look), group in groups.items():
            payload = group[0].payload
            new = [s.id for s in live.like(kind, payload) if s.xid is None
                   and s.id not in self.known and s.id not in self.claimed
                   and s.id not in found.values()]
            if len(new) > len(group):
                for item in group:
                    self.settle(item.action, "failed", (
                        f"its answer was lost and {len(new)} new {kind}s named "
                        f"{payload.get('name')!r} appeared meanwhile: beeplan cannot tell "
                        f"which is its own; set {self.xid_field!r} on the right one (archive "
                        "the others), then plan again"))
                continue
            for item, entity in zip(group, new, strict=False):
                found[id(item)] = entity
        return found

    def mutate_all(self, items: Sequence[_Item]) -> list[_Answer]:
        """Send ``items`` in documents of ``batch_size``, ``parallelism`` at a time."""
        chunks = [items[i:i + self.batch_size] for i in range(0, len(items), self.batch_size)]
        if len(chunks) == 1 or self.parallelism == 1:
            return [a for chunk in chunks for a in self.send_chunk(chunk)]
        with ThreadPoolExecutor(max_workers=min(self.parallelism, len(chunks)),
                                thread_name_prefix="apply") as pool:
            try:
                return [a for answers in pool.map(self.send_chunk, chunks) for a in answers]
            except BaseException:
                self.stop.set()  # Ctrl-C not caught as a flag: the queued documents stay
                raise

    def send_chunk(self, chunk: Sequence[_Item]) -> list[_Answer]:
        """One document; a document the API refuses whole is split to find the bad alias."""
        if self.stop.is_set():
            return [_Answer(i, "stopped", error=self.outcome.stopped or "interrupted")
                    for i in chunk]
        try:
            outcomes = self.client.mutate([i.op for i in chunk])
        except _STOPPING as exc:
            self.halt(str(exc))
            return [_Answer(i, "stopped", error=str(exc)) for i in chunk]
        except ApiError as exc:
            if not isinstance(exc, DocumentError) and exc.http_status not in (400, 413):
                self.halt(str(exc))
                return [_Answer(i, "stopped", error=str(exc)) for i in chunk]
            # Nothing of it ran (the API refused the document before running any alias):
            # halves find the one alias it refuses, so only that action fails.
            if len(chunk) == 1:
                return [_Answer(chunk[0], FAILED, error=_refusal(exc.api_message))]
            half = len(chunk) // 2
            return self.send_chunk(chunk[:half]) + self.send_chunk(chunk[half:])
        return [_Answer(i, o.status, o.data, o.error)
                for i, o in zip(chunk, outcomes, strict=True)]

    # -- signals ------------------------------------------------------------------

    def catch_signals(self) -> Callable[[], None]:
        """Until the returned function is called, Ctrl-C or SIGTERM stops the run after
        the documents in flight (as the v2 applier does: no request goes unrecorded)."""
        def first(signum: int) -> None:
            self.signal = signum
            self.halt("interrupted")

        return catch_stop_signals(first, lambda: self.signal is not None)


def apply_actions(
    client: CurrentClient,
    actions: Sequence[Action],
    *,
    xid_field: str,
    batch_size: int,
    parallelism: int = 4,
    journal: Journal | None = None,
    progress: ProgressCallback | None = None,
    live: LiveAccount | None = None,
) -> Outcome:
    """Run ``actions`` (a plan's, in any order) and say what was applied, failed, skipped.

    ``xid_field`` is the name of the External ID text field. ``live`` is the read the
    plan was made from (read with that field name): the ids it holds are those that
    existed before this apply; without it, the account is read once first.
    """
    run = _Run(client, actions, xid_field=xid_field, batch_size=batch_size,
               parallelism=parallelism, journal=journal, progress=progress, live=live)
    restore = run.catch_signals()
    try:
        return run.run()
    except KeyboardInterrupt as exc:  # Terminated (SIGTERM) too, when not caught as a flag
        run.signal = signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT
        run.halt("interrupted")
        return run.finish()
    finally:
        restore()
