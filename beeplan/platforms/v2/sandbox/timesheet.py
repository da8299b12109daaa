"""The time_entry services: entries on the leaves of company > project >
subproject (or on absences), their approval states, and the export job.

Entries belong to the token's own user unless a ``person`` is named (an
extension of the reference: an admin acting for someone, which tests and
exports need).
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import re
import sqlite3
from collections.abc import Callable
from typing import Any

from .request import Req, json_type, show
from .services import Answer, count, linked, register, short

ENTRY_KINDS = ("company", "project", "subproject", "absence")
STATUSES = ("d", "s", "a", "r", "l")
MAX_HOURS_PER_DAY = 24.0

# service -> (statuses it applies to, status it sets); unlock restores the locked one.
TRANSITIONS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "submit": (("d", "r"), "s"),
    "approve": (("s",), "a"),
    "reject": (("s", "a"), "r"),
    "lock": (("d", "s", "a", "r"), "l"),
    "unlock": (("l",), None),
}
STATUS_NAMES = {"d": "draft", "s": "submitted", "a": "approved", "r": "rejected", "l": "locked"}


# -- entities and tasks ------------------------------------------------------------


def chain(db: sqlite3.Connection, row: sqlite3.Row) -> list[sqlite3.Row]:
    """The entity and its ancestors: subproject, project, company."""
    out = [row]
    while out[-1]["kind"] in ("project", "subproject"):
        out.append(db.execute("SELECT * FROM entity WHERE id = ?", (out[-1]["parent"],)
                              ).fetchone())
    return out


def active_children(db: sqlite3.Connection, row: sqlite3.Row) -> int:
    child = {"company": "project", "project": "subproject"}.get(row["kind"])
    if child is None:
        return 0
    return count(db, "SELECT COUNT(*) FROM entity WHERE kind = ? AND parent = ? AND active = 1",
                 child, row["id"])


def available_tasks(db: sqlite3.Connection, row: sqlite3.Row) -> list[sqlite3.Row]:
    """The tasks time on this entity can use.

    The nearest entity (itself, then its ancestors) with specific tasks
    enabled and attached decides; otherwise every active task of the company.
    """
    if row["kind"] == "absence":
        return []
    entities = chain(db, row)
    for entity in entities:
        if not entity["tasks_disabled"]:
            tasks = [t for t in linked(db, "task", entity["id"], "task") if t["active"]]
            if tasks:
                return tasks
    return db.execute(
        "SELECT * FROM entity WHERE kind = 'task' AND parent = ? AND active = 1 ORDER BY id",
        (entities[-1]["id"],),
    ).fetchall()


def one_of(req: Req, keys: tuple[str, ...], what: str, *, required: bool) -> str | None:
    present = [k for k in keys if k in req.doc]
    if len(present) > 1:
        req.fail(f"give only one of the fields {', '.join(keys)} ({what}), "
                 f"got {' and '.join(present)}")
    if not present:
        if required:
            req.fail(f"missing field: one of {', '.join(keys)} ({what})")
        return None
    return present[0]


def entry_entity(req: Req, key: str) -> sqlite3.Row:
    """The entity hours go to: active, with active ancestors, and a leaf."""
    row = req.ref(req.doc, key, key)
    assert row is not None
    for entity in chain(req.db, row):
        if not entity["active"]:
            req.fail(f"{entity['kind']} {entity['id']} is inactive: no time can be logged on it")
    if active_children(req.db, row):
        child = {"company": "projects", "project": "subprojects"}[row["kind"]]
        req.fail(f"{row['kind']} {row['id']} has {child}: hours go on the leaves of "
                 "company > project > subproject (see time_entry.get_entities)")
    return row


def entry_task(req: Req, entity: sqlite3.Row) -> sqlite3.Row | None:
    if entity["kind"] == "absence":
        return None  # "tasks don't matter" on absences: a task sent along is ignored
    tasks = available_tasks(req.db, entity)
    task = req.ref(req.doc, "task", "task", required=False)
    if tasks and task is None:
        req.fail(f"missing field task: it is mandatory because {entity['kind']} "
                 f"{entity['id']} has tasks (see time_entry.get_tasks)")
    if task is not None and task["id"] not in {t["id"] for t in tasks}:
        req.fail(f"field task: task {task['id']} cannot be used on {entity['kind']} "
                 f"{entity['id']} (see time_entry.get_tasks)")
    return task


def person_of(req: Req) -> int | None:
    """The ``person`` named in the request, else None: the token's own user."""
    row = req.ref(req.doc, "person", "person", required=False)
    return None if row is None else int(row["id"])


def entry_json(db: sqlite3.Connection, row: sqlite3.Row) -> Answer:
    entity = db.execute("SELECT * FROM entity WHERE id = ?", (row["entity"],)).fetchone()
    out: Answer = {"hours": float(row["hours"]), "status": row["status"],
                   entity["kind"]: short(entity, "active")}
    if row["task"] is not None:
        task = db.execute("SELECT * FROM entity WHERE id = ?", (row["task"],)).fetchone()
        out["task"] = short(task, "active")
    else:
        # Real answers carry a task object even without a task, and clients read
        # entry.task.name unguarded (ruben-conmag/beebole-resumer).
        out["task"] = {"active": False}
    out["id"] = row["id"]
    out["date"] = row["date"]
    # Strings always: clients sort entries with stime.localeCompare (beebole-resumer).
    out["stime"] = row["stime"]
    out["etime"] = row["etime"]
    out["comment"] = row["comment"]
    if row["person"] is not None:
        out["person"] = {"id": row["person"]}
    return out


def find_entry(req: Req) -> sqlite3.Row:
    if "id" not in req.doc:
        req.fail("missing field id (the time entry id)")
    entry_id = req.id_value(req.doc["id"], "id")
    day = req.day(req.doc, "date", required=True)
    row = req.db.execute("SELECT * FROM time_entry WHERE id = ?", (entry_id,)).fetchone()
    if row is None:
        req.fail(f"no time entry with id {entry_id}")
    if row["date"] != day:
        req.fail(f"time entry {entry_id} is not on {day} (it is on {row['date']})")
    return row


_CLOCK = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]\Z|24:00\Z")


def entry_times(req: Req, stime: str, etime: str) -> tuple[str, str]:
    """The entry's start and end times ('HH:MM', '' when not given), checked."""
    for key in ("stime", "etime"):
        value = req.text(req.doc, key)
        if value is None:
            continue
        if value and not _CLOCK.match(value):
            req.fail(f'field {key} must be a time "HH:MM" (00:00 to 24:00) or "", '
                     f"got {show(value)}")
        if key == "stime":
            stime = value
        else:
            etime = value
    if stime == "24:00":
        req.fail('field stime cannot be "24:00" (a day starts at 00:00)')
    if stime and etime and etime <= stime:
        req.fail(f"field etime ({etime}) must be after field stime ({stime})")
    return stime, etime


def check_hours(req: Req, person: int | None, day: str, hours: float,
                entry_id: int | None = None) -> None:
    if not 0 < hours <= MAX_HOURS_PER_DAY:
        req.fail(f"field hours must be more than 0 and at most 24, got {show(hours)}")
    logged = req.db.execute(
        "SELECT COALESCE(SUM(hours), 0) FROM time_entry WHERE person IS ? AND date = ? "
        "AND id IS NOT ?", (person, day, entry_id)).fetchone()[0]
    if logged + hours > MAX_HOURS_PER_DAY:
        req.fail(f"field hours: {hours:g} more hours on {day} would make {logged + hours:g}, "
                 "more than 24 in a day")


def check_editable(req: Req, row: sqlite3.Row) -> None:
    if row["status"] not in ("d", "r"):
        req.fail(f"time entry {row['id']} is {STATUS_NAMES[row['status']]}: only draft or "
                 "rejected entries can be changed")


# -- services ------------------------------------------------------------------------


def te_create(req: Req) -> Answer:
    key = one_of(req, ENTRY_KINDS, "the entity the hours go to", required=True)
    assert key is not None
    entity = entry_entity(req, key)
    task = entry_task(req, entity)
    day = req.day(req.doc, "date", required=True)
    hours = req.number(req.doc, "hours", required=True)
    comment = req.text(req.doc, "comment") or ""
    person = person_of(req)
    stime, etime = entry_times(req, "", "")
    assert day is not None and hours is not None
    check_hours(req, person, day, hours)
    cur = req.db.execute(
        "INSERT INTO time_entry (person, entity, task, date, hours, comment, stime, etime) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (person, entity["id"], task["id"] if task is not None else None, day, hours, comment,
         stime, etime),
    )
    row = req.db.execute("SELECT * FROM time_entry WHERE id = ?", (cur.lastrowid,)).fetchone()
    return {"timeEntry": entry_json(req.db, row)}


def te_update(req: Req) -> Answer:
    if "id" not in req.doc:
        req.fail("missing field id (the time entry id)")
    entry_id = req.id_value(req.doc["id"], "id")
    row = req.db.execute("SELECT * FROM time_entry WHERE id = ?", (entry_id,)).fetchone()
    if row is None:
        req.fail(f"no time entry with id {entry_id}")
    check_editable(req, row)
    key = one_of(req, ENTRY_KINDS, "the entity the hours go to", required=False)
    if key is None and "task" not in req.doc:
        # Neither entity nor task named: both stay as they are.
        entity = req.db.execute("SELECT * FROM entity WHERE id = ?", (row["entity"],)).fetchone()
        task = req.db.execute("SELECT * FROM entity WHERE id = ?", (row["task"],)).fetchone()
    else:
        if key is not None:
            entity = entry_entity(req, key)
        else:
            entity = req.db.execute("SELECT * FROM entity WHERE id = ?",
                                    (row["entity"],)).fetchone()
        task = entry_task(req, entity)
    day = req.day(req.doc, "date") or row["date"]
    hours = req.number(req.doc, "hours")
    hours = row["hours"] if hours is None else hours
    comment = req.text(req.doc, "comment")
    comment = row["comment"] if comment is None else comment
    stime, etime = entry_times(req, row["stime"], row["etime"])
    check_hours(req, row["person"], day, hours, entry_id)
    req.db.execute(
        "UPDATE time_entry SET entity = ?, task = ?, date = ?, hours = ?, comment = ?, "
        "stime = ?, etime = ? WHERE id = ?",
        (entity["id"], task["id"] if task is not None else None, day, hours, comment,
         stime, etime, entry_id),
    )
    row = req.db.execute("SELECT * FROM time_entry WHERE id = ?", (entry_id,)).fetchone()
    return {"timeEntry": entry_json(req.db, row)}


def te_get(req: Req) -> Answer:
    return {"timeEntry": entry_json(req.db, find_entry(req))}


def te_delete(req: Req) -> Answer:
    row = find_entry(req)
    check_editable(req, row)
    req.db.execute("DELETE FROM time_entry WHERE id = ?", (row["id"],))
    return {}


def date_range(req: Req) -> tuple[str, str]:
    start = req.day(req.doc, "from", required=True)
    end = req.day(req.doc, "to", required=True)
    assert start is not None and end is not None
    if start > end:
        req.fail(f"field from ({start}) is after field to ({end})")
    return start, end


def te_list(req: Req) -> Answer:
    person = person_of(req)
    start, end = date_range(req)
    rows = req.db.execute(
        "SELECT * FROM time_entry WHERE person IS ? AND date BETWEEN ? AND ? ORDER BY date, id",
        (person, start, end),
    ).fetchall()
    return {"timeEntries": [entry_json(req.db, r) for r in rows]}


def make_transition(action: str) -> Callable[[Req], Answer]:
    sources, target = TRANSITIONS[action]

    def transition(req: Req) -> Answer:
        if "id" in req.doc:
            if "from" in req.doc or "to" in req.doc:
                req.fail("give either id and date, or from and to, not both")
            row = find_entry(req)
            if row["status"] not in sources:
                allowed = " or ".join(STATUS_NAMES[s] for s in sources)
                req.fail(f"time entry {row['id']} is {STATUS_NAMES[row['status']]}: "
                         f"{action} applies to {allowed} entries")
            rows = [row]
        else:
            if "from" not in req.doc and "to" not in req.doc:
                req.fail("missing fields from and to (or id and date for one entry)")
            person = person_of(req)
            start, end = date_range(req)
            # A range acts on the entries it applies to and leaves the others be.
            rows = req.db.execute(
                f"SELECT * FROM time_entry WHERE person IS ? AND date BETWEEN ? AND ? "
                f"AND status IN ({','.join('?' * len(sources))})",
                (person, start, end, *sources),
            ).fetchall()
        if action == "reject":
            req.text(req.doc, "memo")
        for row in rows:
            if action == "lock":
                req.db.execute("UPDATE time_entry SET status = 'l', locked_from = ? WHERE id = ?",
                               (row["status"], row["id"]))
            elif action == "unlock":
                req.db.execute("UPDATE time_entry SET status = COALESCE(locked_from, 'a'), "
                               "locked_from = NULL WHERE id = ?", (row["id"],))
            else:
                req.db.execute("UPDATE time_entry SET status = ? WHERE id = ?",
                               (target, row["id"]))
        return {}

    return transition


def te_get_entities(req: Req) -> Answer:
    req.day(req.doc, "date")
    key = one_of(req, ("company", "project"), "the branch to expand", required=False)
    if key is None:
        companies = req.db.execute(
            "SELECT * FROM entity WHERE kind = 'company' AND active = 1 ORDER BY id").fetchall()
        absences = req.db.execute(
            "SELECT * FROM entity WHERE kind = 'absence' AND active = 1 ORDER BY id").fetchall()
        return {
            "companies": [short(c, "active") | {"projects": {"count": active_children(req.db, c)}}
                          for c in companies],
            "absences": [short(a, "active") for a in absences],
        }
    parent = req.ref(req.doc, key, key)
    assert parent is not None
    child = {"company": "project", "project": "subproject"}[key]
    rows = req.db.execute(
        "SELECT * FROM entity WHERE kind = ? AND parent = ? AND active = 1 ORDER BY id",
        (child, parent["id"]),
    ).fetchall()
    if key == "company":
        return {"projects": [short(p, "active") | {"subprojects": {
            "count": active_children(req.db, p)}} for p in rows]}
    return {"subprojects": [short(s, "active") for s in rows]}


def te_get_tasks(req: Req) -> Answer:
    req.day(req.doc, "date")
    key = one_of(req, ENTRY_KINDS, "the entity the hours go to", required=True)
    assert key is not None
    row = req.ref(req.doc, key, key)
    assert row is not None
    return {"tasks": [short(t, "active") for t in available_tasks(req.db, row)]}


# -- export --------------------------------------------------------------------------

# The column keys real clients send: the 46 of PipedreamHQ/pipedream's "Run report"
# (components/beebole_app/actions/run-report/run-report.mjs), plus the quota keys
# of sbordeyne/beebole (beebole/services/time.py), which also says which keys go
# with which ``show``. ``gid<id>`` columns (a group or a custom field) come on top.
ENTRY_KEYS = (
    "absence", "absenceId", "activity", "billing", "billingPercent", "billingRatio",
    "billableSplit", "billability", "budget", "workDays", "remWorkDays", "workHours",
    "remWorkHours", "comment", "company", "companyId", "cost", "costsPercent", "date",
    "dailyCost", "dailyRate", "inDays", "eventId", "hourlyCost", "hourlyRate", "hours",
    "hoursPercent", "isAtWork", "month", "overtime", "weeklyOvertime", "person", "personId",
    "profit", "profitPercent", "profitRatio", "project", "projectId", "status", "task",
    "taskId", "etime", "stime", "subproject", "subprojectId", "week",
)
QUOTA_KEYS = ("available", "balance", "taken", "availableInDays", "balanceInDays",
              "takenInDays", "fromTo")
# Keys every show accepts; the other entry keys go with all, abs and work.
ANY_SHOW_KEYS = frozenset({"company", "companyId", "person", "personId", "absence",
                           "absenceId", "inDays"})
EXPORT_KEYS = ENTRY_KEYS + QUOTA_KEYS
SHOWS = ("all", "abs", "quota", "work")
DEFAULT_EXPORT_KEYS = ("date", "person", "company", "project", "subproject", "task", "absence",
                       "hours", "status", "comment")
DEFAULT_QUOTA_KEYS = ("person", "absence", "available", "taken", "balance")
EXPORT_FILTERS = ("company", "project", "subproject", "person", "task", "absence")
# The sandbox defines no rates, budgets, costs or work schedules (the API has no
# service to set them), so these columns are 0 on every row.
ZERO_KEYS = frozenset({"billing", "billingPercent", "billingRatio", "billability", "budget",
                       "cost", "costsPercent", "dailyCost", "dailyRate", "hourlyCost",
                       "hourlyRate", "profit", "profitPercent", "profitRatio", "overtime",
                       "weeklyOvertime"})
HOURS_PER_DAY = 8.0  # a working day, for the *InDays and workHours columns
_GID = re.compile(r"gid([1-9][0-9]{0,17})\Z")


def _show_allows(show_: str, key: str) -> bool:
    if key in QUOTA_KEYS:
        return show_ == "quota"
    return key in ANY_SHOW_KEYS or show_ != "quota"


def _days(hours: float) -> float:
    return round(hours / HOURS_PER_DAY, 2)


def business_days(start: str, end: str) -> int:
    """Monday to Friday between two dates, both included (0 when start > end)."""
    day, last = datetime.date.fromisoformat(start), datetime.date.fromisoformat(end)
    out = 0
    while day <= last:
        out += day.weekday() < 5
        day += datetime.timedelta(days=1)
    return out


def check_keys(req: Req, show_: str, keys: list[str]) -> dict[str, sqlite3.Row]:
    """Refuse a key unknown or not for this show; the rows ``gid<id>`` keys name."""
    gids: dict[str, sqlite3.Row] = {}
    for key in keys:
        match = _GID.match(key)
        if match is not None:
            if show_ == "quota":
                req.fail(f'field keys: {show(key)} does not go with show "quota"')
            gid = int(match.group(1))
            row = req.db.execute("SELECT id, kind, name FROM entity WHERE id = ? AND kind = "
                                 "'group'", (gid,)).fetchone()
            if row is None:
                row = req.db.execute("SELECT id, 'custom_field' AS kind, name FROM custom_field "
                                     "WHERE id = ?", (gid,)).fetchone()
            if row is None:
                req.fail(f"field keys: {show(key)} names no group and no custom field "
                         f"(gid<id>: a group's id from group.tree or a custom field's from "
                         "custom_field.list)")
            gids[key] = row
        elif key not in EXPORT_KEYS:
            req.fail(f"field keys: unknown key {show(key)} (known: {', '.join(EXPORT_KEYS)}, "
                     "and gid<id> for a group or a custom field)")
        elif not _show_allows(show_, key):
            goes = "quota" if key in QUOTA_KEYS else "all, abs or work"
            req.fail(f"field keys: {show(key)} does not go with show {show(show_)} "
                     f"(it goes with show {goes})")
    return gids


def entry_rows(db: sqlite3.Connection, entry: sqlite3.Row) -> dict[str, sqlite3.Row | None]:
    """The entry's entity, its ancestors, task and person, by kind."""
    entity = db.execute("SELECT * FROM entity WHERE id = ?", (entry["entity"],)).fetchone()
    named: dict[str, sqlite3.Row | None] = {k: None for k in ENTRY_KINDS}
    for row in chain(db, entity):
        named[row["kind"]] = row
    if entity["kind"] == "absence":
        named["company"] = db.execute("SELECT * FROM entity WHERE id = ?",
                                      (entity["parent"],)).fetchone()
    named["task"] = (db.execute("SELECT * FROM entity WHERE id = ?", (entry["task"],)).fetchone()
                     if entry["task"] is not None else None)
    named["person"] = (db.execute("SELECT * FROM entity WHERE id = ?",
                                  (entry["person"],)).fetchone()
                       if entry["person"] is not None else None)
    return named


def gid_value(db: sqlite3.Connection, named: dict[str, sqlite3.Row | None],
              column: sqlite3.Row) -> Any:
    """A ``gid<id>`` column: for a group, the names of its descendants the entry's
    person, entity (or ancestors) or task is assigned to; for a custom field, its
    value on the entry's subproject, project, company or person (nearest first)."""
    def ids(*kinds: str) -> list[int]:
        return [int(row["id"]) for row in (named[k] for k in kinds) if row is not None]

    if column["kind"] == "custom_field":
        for owner in ids("subproject", "project", "company", "person"):  # tasks hold none
            row = db.execute("SELECT value FROM custom_value WHERE entity = ? AND field = ?",
                             (owner, column["id"])).fetchone()
            if row is not None:
                return json.loads(row[0])
        return None
    owners = ids("subproject", "project", "company", "task", "person")
    below: set[int] = set()
    todo = [int(column["id"])]
    while todo:
        for (child,) in db.execute("SELECT id FROM entity WHERE kind = 'group' AND parent = ?",
                                   (todo.pop(),)):
            if child not in below:
                below.add(child)
                todo.append(child)
    if not below or not owners:
        return ""
    marks, inner = ",".join("?" * len(owners)), ",".join("?" * len(below))
    names = [r[0] for r in db.execute(
        f"SELECT DISTINCT e.name FROM link l JOIN entity e ON e.id = l.target WHERE "
        f"l.rel = 'group' AND l.owner IN ({marks}) AND l.target IN ({inner}) ORDER BY e.id",
        (*owners, *below))]
    return ", ".join(names)


# A row's value per key, from the entry alone: (entry, hours, absent, period) -> value.
EntryColumn = Callable[[sqlite3.Row, float, bool, dict[str, Any]], Any]


def _entry_field(name: str) -> EntryColumn:
    return lambda entry, hours, absent, period: entry[name]


def _week(day: str) -> str:
    year, week, _ = datetime.date.fromisoformat(day).isocalendar()
    return f"{year}-W{week:02d}"


def _percent(hours: float, period: dict[str, Any]) -> float:
    total = period["total"]
    return round(100 * hours / total, 2) if total else 0.0


ENTRY_COLUMNS: dict[str, EntryColumn] = {
    **{name: _entry_field(name) for name in ("date", "comment", "status", "stime", "etime")},
    "hours": lambda entry, hours, absent, period: hours,
    "inDays": lambda entry, hours, absent, period: _days(hours),
    "eventId": lambda entry, hours, absent, period: entry["id"],
    "activity": lambda entry, hours, absent, period: "absence" if absent else "work",
    "isAtWork": lambda entry, hours, absent, period: not absent,
    "month": lambda entry, hours, absent, period: entry["date"][:7],
    "week": lambda entry, hours, absent, period: _week(entry["date"]),
    "hoursPercent": lambda entry, hours, absent, period: _percent(hours, period),
    "billableSplit": lambda entry, hours, absent, period: "non-billable",
}


def _named_value(db: sqlite3.Connection, key: str, named: dict[str, sqlite3.Row | None],
                 period: dict[str, Any], gids: dict[str, sqlite3.Row]) -> Any:
    """A row's value for a key that is not the entry's own: a period figure, a custom
    field, or what the entry names (an ``...Id`` key: its id; otherwise: its name)."""
    if key in ZERO_KEYS:
        return 0
    if key in period:
        return period[key]
    if key in gids:
        return gid_value(db, named, gids[key])
    if key.endswith("Id"):
        found = named[key[:-2]]
        return found["id"] if found is not None else None
    found = named[key]
    return found["name"] if found is not None else ""


def export_row(db: sqlite3.Connection, entry: sqlite3.Row, keys: list[str],
               period: dict[str, Any], gids: dict[str, sqlite3.Row]) -> list[Any]:
    named = entry_rows(db, entry)
    hours = float(entry["hours"])
    absent = named["absence"] is not None
    values: list[Any] = []
    for key in keys:
        column = ENTRY_COLUMNS.get(key)
        if column is not None:
            values.append(column(entry, hours, absent, period))
        else:
            values.append(_named_value(db, key, named, period, gids))
    return values


def quota_rows(db: sqlite3.Connection, entries: list[sqlite3.Row], keys: list[str],
               start: str, end: str) -> list[list[Any]]:
    """``show: "quota"``: one row per person and absence type with absences in the period.

    No quota can be defined through the API, so ``available`` is 0 and the
    balance is what was taken, negated.
    """
    taken: dict[tuple[int, int], float] = {}
    named_of: dict[tuple[int, int], dict[str, sqlite3.Row | None]] = {}
    for entry in entries:
        named = entry_rows(db, entry)
        absence = named["absence"]
        if absence is None:
            continue
        pair = (entry["person"] or 0, absence["id"])
        taken[pair] = taken.get(pair, 0.0) + float(entry["hours"])
        named_of.setdefault(pair, named)
    rows: list[list[Any]] = []
    for pair in sorted(taken):
        named, hours = named_of[pair], taken[pair]
        figures: dict[str, Any] = {
            "available": 0.0, "taken": hours, "balance": -hours, "availableInDays": 0.0,
            "takenInDays": _days(hours), "balanceInDays": -_days(hours),
            "inDays": _days(hours), "fromTo": f"{start} - {end}"}
        row: list[Any] = []
        for key in keys:
            if key in figures:
                row.append(figures[key])
            elif key.endswith("Id"):
                found = named[key[:-2]]
                row.append(found["id"] if found is not None else None)
            else:
                found = named[key]
                row.append(found["name"] if found is not None else "")
        rows.append(row)
    return rows


def in_groups(db: sqlite3.Connection, entry: sqlite3.Row, gids: set[int]) -> bool:
    owners = [r["id"] for r in chain(db, db.execute("SELECT * FROM entity WHERE id = ?",
                                                     (entry["entity"],)).fetchone())]
    owners += [x for x in (entry["person"], entry["task"]) if x is not None]
    marks = ",".join("?" * len(owners))
    assigned = {r[0] for r in db.execute(
        f"SELECT target FROM link WHERE rel = 'group' AND owner IN ({marks})", owners)}
    return bool(assigned & gids)


def expand_groups(req: Req, gids: list[int]) -> set[int]:
    out: set[int] = set()
    todo = list(gids)
    while todo:
        gid = todo.pop()
        if gid not in out:
            out.add(gid)
            todo.extend(r[0] for r in req.db.execute(
                "SELECT id FROM entity WHERE kind = 'group' AND parent = ?", (gid,)))
    return out


def output_format(req: Req) -> bool | None:
    """True for ``outputFormat: "array"``, False for CSV, None when not given."""
    value = req.doc.get("outputFormat")
    if value is None and "outputFormat" not in req.doc:
        return None
    if value not in ("array", "csv"):
        req.fail(f'field outputFormat must be "array" (or "csv", the default), got {show(value)}')
    return value == "array"


def te_export(req: Req) -> Answer:
    start, end = date_range(req)
    show_ = req.text(req.doc, "show")
    show_ = "all" if show_ is None else show_
    if show_ not in SHOWS:
        req.fail(f"field show must be one of {', '.join(SHOWS)}, got {show(show_)}")
    keys = req.strings(req.doc, "keys") or list(
        DEFAULT_QUOTA_KEYS if show_ == "quota" else DEFAULT_EXPORT_KEYS)
    gid_columns = check_keys(req, show_, keys)
    statuses = req.strings(req.doc, "statusFilters") or list(STATUSES)
    for status in statuses:
        if status not in STATUSES:
            req.fail(f"field statusFilters: unknown status {show(status)} "
                     "(d, s, a, r or l)")
    gids_raw = req.doc.get("gids", [])
    if not isinstance(gids_raw, list):
        req.fail(f"field gids must be an array of group ids, got {json_type(gids_raw)}")
    gids = [int(req.find("group", req.id_value(g, f"gids[{i}]"), None)["id"])
            for i, g in enumerate(gids_raw)]
    as_array = bool(output_format(req))
    by = one_of(req, EXPORT_FILTERS, "the entity to export", required=False)
    target = req.ref(req.doc, by, by) if by is not None else None
    marks = ",".join("?" * len(statuses))
    entries = req.db.execute(
        f"SELECT * FROM time_entry WHERE date BETWEEN ? AND ? AND status IN ({marks}) "
        "ORDER BY date, id", (start, end, *statuses)).fetchall()
    groups = expand_groups(req, gids) if gids else None
    kept = []
    for entry in entries:
        if target is not None and not matches(req.db, entry, target):
            continue
        if groups is not None and not in_groups(req.db, entry, groups):
            continue
        absent = req.db.execute("SELECT kind FROM entity WHERE id = ?",
                                (entry["entity"],)).fetchone()["kind"] == "absence"
        if (show_ == "abs" and not absent) or (show_ == "work" and absent):
            continue
        kept.append(entry)
    rows: list[list[Any]] = [list(keys)]
    if show_ == "quota":
        rows += quota_rows(req.db, kept, keys, start, end)
    else:
        today = req.app.today()
        work_days = business_days(start, end)
        rem_days = business_days(max(start, today), end)
        period = {"workDays": work_days, "remWorkDays": rem_days,
                  "workHours": work_days * HOURS_PER_DAY,
                  "remWorkHours": rem_days * HOURS_PER_DAY,
                  "total": sum(float(e["hours"]) for e in kept)}
        rows += [export_row(req.db, entry, keys, period, gid_columns) for entry in kept]
    # The export is computed now, from what the entries are when the job starts.
    cur = req.db.execute("INSERT INTO job (array, rows, started) VALUES (?, ?, ?)",
                         (int(as_array), json.dumps(rows, ensure_ascii=False),
                          req.app.clock()))
    return {"job": {"status": "running", "id": int(cur.lastrowid or 0)}}


def matches(db: sqlite3.Connection, entry: sqlite3.Row, target: sqlite3.Row) -> bool:
    if target["kind"] == "person":
        return bool(entry["person"] == target["id"])
    if target["kind"] == "task":
        return bool(entry["task"] == target["id"])
    entity = db.execute("SELECT * FROM entity WHERE id = ?", (entry["entity"],)).fetchone()
    ids = {r["id"] for r in chain(db, entity)}
    if entity["kind"] == "absence":
        ids.add(entity["parent"])
    return target["id"] in ids


def to_csv(rows: list[list[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in rows:
        writer.writerow(["" if v is None else ("true" if v else "false") if isinstance(v, bool)
                         else f"{v:.2f}" if isinstance(v, float) else v for v in row])
    return out.getvalue()


def te_get_job_info(req: Req) -> Answer:
    if "id" not in req.doc:
        req.fail("missing field id (the job id time_entry.export answered)")
    job_id = req.id_value(req.doc["id"], "id")
    job = req.db.execute("SELECT * FROM job WHERE id = ?", (job_id,)).fetchone()
    if job is None:
        req.fail(f"no export job with id {job_id}")
    as_array = output_format(req)
    req.db.execute("UPDATE job SET polls = polls + 1 WHERE id = ?", (job_id,))
    seconds = req.app.knobs.job_seconds
    aged = seconds is not None and req.app.clock() - job["started"] >= seconds
    if job["polls"] < req.app.knobs.job_polls and not aged:
        return {"job": {"status": "running", "id": job_id}}
    if req.app.knobs.job_error:
        # The reference names the status, not its detail; a message is the sandbox's choice.
        return {"job": {"status": "error", "id": job_id, "message": "the export failed"}}
    rows = json.loads(job["rows"])
    array = bool(job["array"]) if as_array is None else as_array
    return {"job": {"status": "done", "id": job_id, "result": rows if array else to_csv(rows)}}


def _register_time() -> None:
    entity_keys = ENTRY_KINDS
    register("time_entry.get_entities", ("company", "project", "date"), te_get_entities,
             writes=False)
    register("time_entry.get_tasks", (*entity_keys, "date"), te_get_tasks, writes=False)
    register("time_entry.create", (*entity_keys, "task", "date", "hours", "comment", "person",
                                   "stime", "etime"), te_create, writes=True)
    register("time_entry.update", ("id", *entity_keys, "task", "date", "hours", "comment",
                                   "stime", "etime"), te_update, writes=True)
    register("time_entry.get", ("id", "date"), te_get, writes=False)
    register("time_entry.delete", ("id", "date"), te_delete, writes=True)
    register("time_entry.list", ("person", "from", "to"), te_list, writes=False)
    for action in TRANSITIONS:
        fields = ("person", "from", "to", "id", "date", *(("memo",) if action == "reject" else ()))
        register(f"time_entry.{action}", fields, make_transition(action), writes=True)
    register("time_entry.export", ("from", "to", "show", "keys", "statusFilters", "gids",
                                   "outputFormat", *EXPORT_FILTERS), te_export, writes=False)
    register("time_entry.get_job_info", ("id", "outputFormat"), te_get_job_info, writes=False)


_register_time()
