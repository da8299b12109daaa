"""Drift with its author: who changed each drifted entity outside beeplan, and when.

The current platform records it twice: every entity carries ``lastEdited {at, by}``
(the last write and its person), and accounts whose subscription includes it keep an
audit trail (``getAuditTrails``: operation, person, time, submitted values, over
seven-day windows). Given the live entities a check or plan found drifted, this
module asks both, for all of them at once, and words one line per entity that the
core renderers show beside its changes (``planner.ChangedBy``).

Cost, stated: nothing when nothing drifted; otherwise one request for ``lastEdited``
(one alias per kind, the ids in an OR-chained filter, so never one request per
entity) and one for the audit trail (three aliases per entity: its id as the
mutation's ``id``, as its kind's ``<kind>Id`` argument, and as the answer), for up to
``PER_REQUEST`` entities; more entities take one more pair per ``PER_REQUEST``.

How far back: the audit trail is read in its default window, the last seven days
(one window; the API answers seven days per query), and entries before ``since``
(the last apply or check of the account recorded on this machine,
``localfiles/lastrun.py``; ``since_last`` says which bound applied) are left out. A
field the key may not read is never read as empty: the line says the author is
unknown and why.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ...errors import ApiError, AuthError, TransportError
from ...model import Ref
from ...planner import ChangedBy
from ...safetext import capped
from .client import Arg, CurrentClient, Op

PER_REQUEST = 200  # drifted entities per document pair: a few thousand fields at most
AUDIT_DAYS = 7  # the API's window: getAuditTrails answers seven days per query
# How the notes of a lookup that could not list the operations begin (lookups.py: a
# check that did not list them is not the start of the next one's listing).
NOT_LISTED = ("who changed the drifted entities was not looked up",
              "the audit trail could not be read", "not looked up:")

MAX_SHOWN = 10  # audit entries listed per entity; the rest are counted
# How the notes of a lookup whose audit trail was not read begin (no trail on the
# account's plan, a key that may not read it, a refused request).
AUDIT_UNREAD = ("the account's plan", "the key may not", "the audit trail could not")
# Operations that log time or expenses name a person or project too (``personId``) but
# change no configuration: they are not the drift, so they are left out.
_NOT_CONFIGURATION = re.compile(r"TimeRecord|ExpenseRecord|Timesheet|Approval")

_WHO = "id name email"
_LAST = f"id lastEdited {{ at {{ ts iso }} by {{ {_WHO} }} }}"
_AUDIT = f"operationName timestamp person {{ {_WHO} }} arguments {{ name value }}"

# kind -> (listing, its filter's GraphQL type, whether it takes archived:, the kind's
# argument name in mutations and in BeeboleArgumentMatch). Categories have no filter:
# their listing is read whole (an account has a handful).
_KINDS: dict[str, tuple[str, str | None, bool, str | None]] = {
    "person": ("getPersons", "[BeebolePersonFilter]", True, "personId"),
    "project": ("getProjects", "[BeeboleProjectFilter]", True, "projectId"),
    "tag": ("getTags", "[BeeboleTagFilter]", True, "tagId"),
    "task": ("getTasks", "[BeeboleTaskFilter]", True, "taskId"),
    "absenceType": ("getAbsenceTypes", "[BeeboleAbsenceFilter]", True, "absenceTypeId"),
    "role": ("getRoles", "[BeeboleRoleFilter]", True, "roleId"),
    "customField": ("getCustomFields", "[BeeboleCustomFieldFilter]", False, "customFieldId"),
    "projectCategory": ("getProjectCategories", None, False, None),
    "tagCategory": ("getTagCategories", None, False, None),
    "taskCategory": ("getTaskCategories", None, False, None),
}
AUTHOR_KINDS = frozenset(_KINDS)  # the kinds whose author can be looked up
_PLURAL = {"person": "people", "project": "projects", "tag": "tags", "task": "tasks",
           "absenceType": "absence types", "role": "roles", "customField": "custom fields",
           "projectCategory": "project categories", "tagCategory": "tag categories",
           "taskCategory": "task categories"}


@dataclass(frozen=True)
class Drifted:
    """A live entity a check or plan found drifted: its kind (kinds.py) and live id."""

    kind: str
    id: str


@dataclass(frozen=True)
class Person:
    id: str | None
    name: str | None  # None: withheld or not given
    email: str | None = None


@dataclass(frozen=True)
class Entry:
    """One audit trail entry on an entity."""

    operation: str
    at_ms: int
    person: Person | None
    arguments: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Author:
    """What the account says about who last changed one entity."""

    entity: Drifted
    person: Person | None = None
    at_ms: int | None = None
    operation: str | None = None  # the audit trail's latest operation on it, if any
    entries: tuple[Entry, ...] = ()  # newest first
    unknown: str = ""  # why no author can be named ("the key may not read lastEdited")
    own_key: bool = False  # the person of the key beeplan itself uses

    @property
    def text(self) -> str:
        """``renamed by Jane Clark (jane@x.com) on 2026-12-01 14:03 UTC``."""
        if self.at_ms is None:
            return f"author unknown ({self.unknown or 'not looked up'})"
        when = f"on {utc(self.at_ms)}"
        verb = verb_of(self.operation) if self.operation else "last edited"
        if self.person is None:
            return f"{verb} {when} by a person the account does not name"
        return f"{verb} by {who(self.person, self.own_key)} {when}"


@dataclass(frozen=True)
class Authors:
    """The lookup's answer: an ``Author`` per drifted entity, notes, and what it cost."""

    found: Mapping[Drifted, Author]
    notes: tuple[str, ...] = ()
    requests: int = 0

    def changed_by(self, targets: Mapping[Drifted, Ref]) -> tuple[ChangedBy, ...]:
        """The core's display values (``Plan.changed_by``), each on the plan's own target."""
        out = []
        for entity, ref in targets.items():
            author = self.found.get(entity)
            if author is None:
                continue
            person = author.person
            out.append(ChangedBy(
                ref, author.text,
                person.name if person else None, person.email if person else None,
                iso(author.at_ms) if author.at_ms is not None else None,
                entry_lines(author.entries)))
        return tuple(out)


@dataclass(frozen=True)
class Since:
    """How far back the audit trail is listed: entries before ``at_ms`` are left out
    (None: the whole window), and the words saying which bound applied."""

    at_ms: int | None
    words: str  # "since the last check at 2026-12-05 14:00 UTC (recorded on this machine)"


WINDOW_MS = AUDIT_DAYS * 86_400_000


def since_last(command: str | None, at_ms: int | None, now_ms: int) -> Since:
    """The bound of the audit trail's listing: since the last apply or check recorded on
    this machine (``command`` at ``at_ms``, on the API's clock) when that is within the
    window the API answers (``now_ms`` back ``AUDIT_DAYS`` days), else the window. Pure."""
    window = f"over its last {AUDIT_DAYS} days (one window of the API)"
    if command is None or at_ms is None:
        return Since(None, f"{window}: no apply or check of this account is recorded on this "
                           "machine (a CI runner remembers none between runs)")
    if at_ms > now_ms:
        return Since(None, f"{window}: the last {command} recorded on this machine, at "
                           f"{utc(at_ms)}, is later than the API's clock")
    if at_ms < now_ms - WINDOW_MS:
        return Since(None, f"{window}: the last {command} recorded on this machine, at "
                           f"{utc(at_ms)}, was longer ago")
    return Since(at_ms, f"since the last {command} at {utc(at_ms)} (recorded on this machine)")


# -- words ---------------------------------------------------------------------------

def utc(ms: int) -> str:
    """``2026-12-01 14:03 UTC``."""
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def who(person: Person, own_key: bool = False) -> str:
    """``Jane Clark (jane@x.com)``; what the key may not read is said, never left blank."""
    name = person.name if person.name is not None else "a person whose name the key may not read"
    email = f" ({person.email})" if person.email else ""
    return name + email + (" with beeplan's own key" if own_key else "")


_FIELD_WORDS = {"Name": "renamed", "Parent": "moved", "ParentId": "moved"}


def verb_of(operation: str) -> str:
    """What an operation did, in words: ``editProjectName`` -> ``renamed``."""
    if operation.startswith(("editCustomFieldValue", "addCustomFieldValue")):
        return "changed a custom field value"
    m = re.fullmatch(r"edit(?:Project|Person|Tag|Task|AbsenceType|Role|CustomField|"
                     r"ProjectCategory|TagCategory|TaskCategory)(\w+)", operation)
    if m:
        field = m.group(1)
        words = re.sub(r"(?<!^)([A-Z])", r" \1", field).lower()
        return _FIELD_WORDS.get(field, f"changed ({words})")
    for prefix, verb in (("unarchive", "unarchived"), ("archive", "archived"),
                         ("add", "created"), ("delete", "deleted"), ("duplicate", "copied"),
                         ("untag", "untagged"), ("tag", "tagged"),
                         ("unassign", "unassigned"), ("assign", "assigned"),
                         ("makeManagerOf", "given a manager"),
                         ("removeManagerOf", "lost a manager")):
        if operation.startswith(prefix):
            return verb
    return f"changed ({operation})"


def entry_lines(entries: Sequence[Entry]) -> tuple[str, ...]:
    """The first ``MAX_SHOWN`` entries, one line each, then how many more there are."""
    lines = [entry_line(e) for e in entries[:MAX_SHOWN]]
    if len(entries) > MAX_SHOWN:
        lines.append(f"... and {len(entries) - MAX_SHOWN} earlier operations")
    return tuple(lines)


def entry_line(entry: Entry) -> str:
    """``2026-12-01 14:03 UTC editProjectName by Jane Clark: name=Acme Inc``."""
    who_ = who(entry.person) if entry.person else "a person the account does not name"
    values = ", ".join(f"{k}={capped(v, 60)}" for k, v in entry.arguments if k != "id")
    return capped(f"{utc(entry.at_ms)} {entry.operation} by {who_}"
                  + (f": {values}" if values else ""), 300)


# -- the documents -------------------------------------------------------------------

def last_edited_ops(entities: Sequence[Drifted]) -> list[Op]:
    """One document's ops: per kind, its listing filtered to the drifted ids (OR-chained),
    without and with ``archived: true``; then ``currentPerson`` (whose key this is)."""
    ops: list[Op] = []
    for kind in _kinds_of(entities):
        listing, filter_type, archivable, _arg = _KINDS[kind]
        if filter_type is None:
            ops.append(Op(listing, select=_LAST))
            continue
        ids = sorted({e.id for e in entities if e.kind == kind})
        chain = [{"id": i, "following": "OR"} for i in ids[:-1]] + [{"id": ids[-1]}]
        ops.append(Op(listing, (Arg("filter", filter_type, chain),), _LAST))
        if archivable:
            ops.append(Op(listing, (Arg("filter", filter_type, chain),
                                    Arg("archived", "Boolean", True)), _LAST))
    ops.append(Op("currentPerson", select="id"))
    return ops


def audit_ops(entities: Sequence[Drifted]) -> list[Op]:
    """Three aliases per entity (its id as ``id``, as ``<kind>Id``, as the answer)."""
    ops: list[Op] = []
    for entity in entities:
        arg = _KINDS[entity.kind][3]
        for match in ({"id": entity.id}, {arg: entity.id} if arg else None):
            if match is not None:
                ops.append(Op("getAuditTrails",
                              (Arg("argumentMatch", "BeeboleArgumentMatch", match),), _AUDIT))
        ops.append(Op("getAuditTrails",
                      (Arg("responseMatch", "BeeboleResponseMatch", {"id": entity.id}),),
                      _AUDIT))
    return ops


def _kinds_of(entities: Iterable[Drifted]) -> list[str]:
    kinds = []
    for entity in entities:
        if entity.kind not in _KINDS:
            raise ValueError(f"no author lookup for the kind {entity.kind!r}")
        if entity.kind not in kinds:
            kinds.append(entity.kind)
    return kinds


# -- reading the answers (pure) ------------------------------------------------------

def _person(value: Any, path: str, denied: Sequence[str]) -> Person | None:
    if not isinstance(value, Mapping):
        return None
    name = value.get("name") if f"{path}.name" not in denied else None
    email = value.get("email") if f"{path}.email" not in denied else None
    return Person(str(value["id"]) if value.get("id") else None,
                  str(name) if isinstance(name, str) else None,
                  str(email) if isinstance(email, str) and email else None)


def parse_last_edited(entities: Sequence[Drifted], data: Mapping[str, Any],
                      denied: Sequence[str]) -> tuple[dict[Drifted, Author], str | None]:
    """The answer to ``last_edited_ops(entities)`` -> an Author per entity, and the id of
    the key's own person (None when withheld). Pure."""
    ops = last_edited_ops(entities)
    alias = 0
    found: dict[Drifted, Author] = {}
    for kind in _kinds_of(entities):
        listing, filter_type, archivable, _arg = _KINDS[kind]
        aliases = [f"a{alias}"] + ([f"a{alias + 1}"] if filter_type and archivable else [])
        alias += len(aliases)
        withheld = [a for a in aliases if a in denied]
        rows: dict[str, tuple[str, Mapping[str, Any]]] = {}
        for name in aliases:
            for i, row in enumerate(data.get(name) or ()):
                rows.setdefault(str(row["id"]), (f"{name}[{i}]", row))
        for entity in (e for e in entities if e.kind == kind):
            if entity.id not in rows:
                why = (f"the key may not read {_PLURAL[kind]}" if withheld else
                       "not in the account any more: deleted since it was read?")
                found[entity] = Author(entity, unknown=why)
                continue
            path, row = rows[entity.id]
            found[entity] = _from_row(entity, path, row, denied)
    me = data.get(f"a{len(ops) - 1}")
    own = str(me["id"]) if isinstance(me, Mapping) and me.get("id") else None
    return found, own


def _from_row(entity: Drifted, path: str, row: Mapping[str, Any],
              denied: Sequence[str]) -> Author:
    last = row.get("lastEdited")
    if f"{path}.lastEdited" in denied or (isinstance(last, Mapping)
                                          and f"{path}.lastEdited.at" in denied):
        return Author(entity, unknown="the key may not read lastEdited")
    if not isinstance(last, Mapping):
        return Author(entity, unknown="the account records no last edit for it")
    at = last.get("at") or {}
    ts = at.get("ts") if isinstance(at, Mapping) else None
    if not isinstance(ts, int) or isinstance(ts, bool):
        return Author(entity, unknown="the key may not read when it was last edited")
    if f"{path}.lastEdited.by" in denied:
        return Author(entity, Person(None, None), ts)
    return Author(entity, _person(last.get("by"), f"{path}.lastEdited.by", denied), ts)


def parse_audit(entities: Sequence[Drifted], data: Mapping[str, Any],
                denied: Sequence[str], since_ms: int | None) -> dict[Drifted, tuple[Entry, ...]]:
    """The answer to ``audit_ops(entities)`` -> each entity's entries since ``since_ms``,
    newest first, each once. Pure."""
    out: dict[Drifted, tuple[Entry, ...]] = {}
    alias = 0
    for entity in entities:
        count = 3 if _KINDS[entity.kind][3] else 2
        seen: dict[tuple[int, str, str | None], Entry] = {}
        for name in (f"a{alias + i}" for i in range(count)):
            for i, row in enumerate(data.get(name) or ()):
                ts = row.get("timestamp")
                if not isinstance(ts, int) or (since_ms is not None and ts < since_ms):
                    continue
                if _NOT_CONFIGURATION.search(str(row.get("operationName"))):
                    continue
                person = _person(row.get("person"), f"{name}[{i}].person", denied)
                args = tuple((str(a["name"]), str(a["value"]))
                             for a in row.get("arguments") or () if isinstance(a, Mapping))
                entry = Entry(str(row.get("operationName")), ts, person, args)
                seen.setdefault((ts, entry.operation, person.id if person else None), entry)
        alias += count
        out[entity] = tuple(sorted(seen.values(), key=lambda e: -e.at_ms))
    return out


def combine(author: Author, entries: tuple[Entry, ...], own: str | None,
            trail_unread: str = "") -> Author:
    """The author line from both sources: the newer of lastEdited and the latest entry
    (relation changes such as tagging leave lastEdited as it was). ``trail_unread``: why
    the audit trail could not help, added to an unknown author's reason."""
    latest = entries[0] if entries else None
    if latest is not None and (author.at_ms is None or latest.at_ms >= author.at_ms):
        person = latest.person
        return Author(author.entity, person, latest.at_ms, latest.operation, entries,
                      own_key=bool(person and own and person.id == own))
    person = author.person
    unknown = author.unknown
    if author.at_ms is None and trail_unread:
        unknown = f"{unknown}; {trail_unread}" if unknown else trail_unread
    return Author(author.entity, person, author.at_ms, author.operation, entries,
                  unknown, own_key=bool(person and own and person.id == own))


# -- the lookup ------------------------------------------------------------------------

def look_up_authors(client: CurrentClient, entities: Iterable[Drifted], *, audit: bool = True,
                    since_ms: int | None = None, since: Since | None = None) -> Authors:
    """Who last changed each of ``entities``: 0 requests for none; else 2 per
    ``PER_REQUEST`` entities (1 without ``audit``). ``since`` (``since_last``): the
    audit trail's entries from then, its words in the note; ``since_ms`` alone: from
    then, said as a time.

    Never fails the run it serves: a lookup the API refuses leaves the author
    unknown with the reason, and a note says so. A refused key is still an error.
    """
    todo = list(dict.fromkeys(entities))
    if not todo:
        return Authors({})
    if since is not None:
        since_ms = since.at_ms
    before = client.usage.total_requests
    found: dict[Drifted, Author] = {}
    notes: list[str] = []
    for start in range(0, len(todo), PER_REQUEST):
        chunk = todo[start:start + PER_REQUEST]
        part, own, note = _last_edited(client, chunk)
        if note and note not in notes:
            notes.append(note)
        trail: dict[Drifted, tuple[Entry, ...]] = {}
        unread = ""
        if audit:
            trail, note, unread = _audit(client, chunk, since_ms)
            if note and note not in notes:
                notes.append(note)
        for entity in chunk:
            found[entity] = combine(part[entity], trail.get(entity, ()), own, unread)
    if audit and not any(n.startswith(AUDIT_UNREAD) for n in notes):
        if since is not None:
            notes.append(f"the audit trail was searched {since.words}; earlier changes show "
                         "only as the last edit")
        else:
            after = f", since {utc(since_ms)}" if since_ms is not None else ""
            notes.append(f"the audit trail was searched over its last {AUDIT_DAYS} days{after} "
                         "(one window of the API); older changes show only as the last edit")
    return Authors(found, tuple(notes), client.usage.total_requests - before)


def _last_edited(client: CurrentClient,
                 chunk: Sequence[Drifted]) -> tuple[dict[Drifted, Author], str | None, str]:
    try:
        answer = client.query(last_edited_ops(chunk), allow_denied=True)
    except AuthError:
        raise
    except (ApiError, TransportError) as exc:
        why = f"not looked up: {exc}"
        return {e: Author(e, unknown=why) for e in chunk}, None, (
            f"who changed the drifted entities was not looked up ({exc}); the drift itself "
            "stands")
    found, own = parse_last_edited(chunk, answer.data, answer.denied)
    return found, own, ""


def _audit(client: CurrentClient, chunk: Sequence[Drifted], since_ms: int | None
           ) -> tuple[dict[Drifted, tuple[Entry, ...]], str, str]:
    """(entries per entity, a note for the whole lookup, why the trail could not help)."""
    try:
        answer = client.query(audit_ops(chunk), allow_denied=True)
    except AuthError:
        raise
    except (ApiError, TransportError) as exc:
        if "AuditTrailNotAvailable" in str(exc):
            return {}, ("the account's plan has no audit trail (a higher Beebole subscription "
                        "has one): each entity names its last editor only"), \
                "the account's plan has no audit trail"
        return {}, (f"the audit trail could not be read ({exc}): each entity names its last "
                    "editor only"), "the audit trail could not be read"
    if any(name.startswith("a") and "." not in name and "[" not in name
           for name in answer.denied):
        return {}, ("the key may not read the audit trail (permissionsErrors: "
                    f"{capped(', '.join(answer.permissions), 120)}): each entity names its "
                    "last editor only; give the key's role access to the audit trail"), \
            "the key may not read the audit trail"
    return parse_audit(chunk, answer.data, answer.denied, since_ms), "", ""
