"""The setup services (absence, company, person, project, subproject, task,
group, custom_field), built from one table of kinds.

Most services are the same pattern across kinds (create/get/update/list,
activate/deactivate, add/remove_group, attach/detach_member, specific tasks,
custom field values), so they are written once here and registered for each
kind whose ``features`` include them.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from .request import EMAIL_RE, Req, json_type, show

Answer = dict[str, Any]
Handler = Callable[[Req], Answer]

USER_GROUPS = ("admin", "contractor", "employee", "pm", "leader")


@dataclass(frozen=True)
class Service:
    name: str
    fields: frozenset[str]  # top-level keys accepted besides "service"
    handler: Handler
    writes: bool


SERVICES: dict[str, Service] = {}


def register(name: str, fields: Iterable[str], handler: Handler, *, writes: bool) -> None:
    assert name not in SERVICES, name
    SERVICES[name] = Service(name, frozenset(fields), handler, writes)


@dataclass(frozen=True)
class Kind:
    name: str
    plural: str
    parent: str | None  # the key (and kind) of the entity it hangs under
    attrs: tuple[str, ...]  # scalar fields beyond name
    features: frozenset[str]
    required_parent: bool = True


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind("absence", "absences", "company", (), frozenset({"groups"})),
        Kind(
            "company",
            "companies",
            None,
            ("corporate",),
            frozenset({"groups", "specific", "members", "custom"}),
        ),
        Kind(
            "person",
            "people",
            "company",
            ("email", "userGroup"),
            frozenset({"groups", "custom", "leaders"}),
        ),
        Kind(
            "project",
            "projects",
            "company",
            ("startDate", "description"),
            frozenset({"groups", "specific", "members", "custom", "managers"}),
        ),
        Kind(
            "subproject",
            "subprojects",
            "project",
            (),
            frozenset({"groups", "specific", "members", "custom"}),
        ),
        Kind("task", "tasks", "company", (), frozenset({"groups"})),
    )
}

# The parent's kind differs from its key only for groups ("parent").
COLUMNS = {
    "corporate": "corporate",
    "startDate": "start_date",
    "description": "description",
    "email": "email",
    "userGroup": "user_group",
}

# Custom-field availability labels, as custom_field.list shows them.
CF_LABELS = ("Company", "Company - Customer", "Company - Corporate", "Person", "Project",
             "Subproject")


# -- JSON views of rows --------------------------------------------------------


def ident(row: sqlite3.Row) -> Answer:
    """``{"id": N}`` plus the xid when the entity has one: both, so clients may key on either."""
    out: Answer = {"id": row["id"]}
    if row["xid"] is not None:
        out["xid"] = row["xid"]
    return out


def ref_json(db: sqlite3.Connection, entity_id: int | None) -> Answer | None:
    if entity_id is None:
        return None
    row = db.execute("SELECT id, xid FROM entity WHERE id = ?", (entity_id,)).fetchone()
    return ident(row) if row is not None else {"id": entity_id}


def count(db: sqlite3.Connection, sql: str, *args: Any) -> int:
    return int(db.execute(sql, args).fetchone()[0])


def entity_json(db: sqlite3.Connection, row: sqlite3.Row) -> Answer:
    kind = row["kind"]
    out = ident(row)
    out["name"] = row["name"]
    if kind == "company":
        out["corporate"] = bool(row["corporate"])
        n = count(db, "SELECT COUNT(*) FROM entity WHERE kind = 'project' AND parent = ?",
                  row["id"])
        out["projects"] = {"count": n}
    elif kind == "project":
        out["startDate"] = row["start_date"]
        if row["description"] is not None:
            out["description"] = row["description"]
        out["company"] = ref_json(db, row["parent"])
        n = count(db, "SELECT COUNT(*) FROM entity WHERE kind = 'subproject' AND parent = ?",
                  row["id"])
        out["subprojects"] = {"count": n}
    elif kind == "subproject":
        out["project"] = ref_json(db, row["parent"])
    elif kind == "person":
        out["company"] = ref_json(db, row["parent"])
    else:  # task, absence
        out["company"] = ref_json(db, row["parent"])
    out["active"] = bool(row["active"])
    if kind == "person":
        if row["email"] is not None:
            out["email"] = row["email"]
        out["userGroup"] = row["user_group"]
        n = count(db, "SELECT COUNT(*) FROM link WHERE rel = 'leader' AND owner = ?", row["id"])
        out["leaders"] = {"count": n}
    return out


def group_item(db: sqlite3.Connection, row: sqlite3.Row) -> Answer:
    """A group as lists show it: with the count of its child groups."""
    out = ident(row)
    out["name"] = row["name"]
    n = count(db, "SELECT COUNT(*) FROM entity WHERE kind = 'group' AND parent = ?", row["id"])
    out["groups"] = {"count": n}
    return out


def group_json(db: sqlite3.Connection, row: sqlite3.Row) -> Answer:
    out = ident(row)
    out["name"] = row["name"]
    if row["parent"] is not None:
        out["parent"] = ref_json(db, row["parent"])
    return out


def short(row: sqlite3.Row, *extra: str) -> Answer:
    out = ident(row)
    out["name"] = row["name"]
    for key in extra:
        if key == "active":
            out["active"] = bool(row["active"])
        elif key == "email" and row["email"] is not None:
            out["email"] = row["email"]
    return out


def linked(db: sqlite3.Connection, rel: str, owner: int, kind: str) -> list[sqlite3.Row]:
    return db.execute(
        "SELECT e.* FROM link l JOIN entity e ON e.id = l.target "
        "WHERE l.rel = ? AND l.owner = ? AND e.kind = ? ORDER BY e.id",
        (rel, owner, kind),
    ).fetchall()


def link(db: sqlite3.Connection, rel: str, owner: int, target: int) -> None:
    db.execute("INSERT OR IGNORE INTO link (rel, owner, target) VALUES (?, ?, ?)",
               (rel, owner, target))


def unlink(db: sqlite3.Connection, rel: str, owner: int, target: int) -> None:
    db.execute("DELETE FROM link WHERE rel = ? AND owner = ? AND target = ?", (rel, owner, target))


# -- scalar fields ---------------------------------------------------------------


def first_of_month() -> str:
    return date.today().replace(day=1).isoformat()


def parse_attr(req: Req, body: Mapping[str, Any], attr: str, path: str,
               self_id: int | None = None) -> Any:
    """The column value for ``body[attr]`` (the attribute is known to be present)."""
    if attr == "corporate":
        return int(bool(req.flag(body, attr, path)))
    if attr == "startDate":
        return req.day(body, attr, path)
    if attr == "description":
        return req.text(body, attr, path)
    if attr == "userGroup":
        value = body[attr]
        if value not in USER_GROUPS:
            req.fail(f"field {path}.userGroup must be one of {', '.join(USER_GROUPS)}, "
                     f"got {show(value)}")
        return value
    if attr == "email":
        email = req.text(body, attr, path, empty=False, limit=254)
        assert email is not None
        # The manifest schema's rule, so a set that validates is never refused for it.
        if not EMAIL_RE.fullmatch(email):
            req.fail(f"field {path}.email is not an email address: {show(email)}")
        # The email is the user's login: two people cannot share one.
        clash = req.db.execute(
            "SELECT id FROM entity WHERE kind = 'person' AND lower(email) = lower(?) "
            "AND id IS NOT ?",
            (email, self_id),
        ).fetchone()
        if clash is not None:
            req.fail(f"field {path}.email: {show(email)} is already the email of person "
                     f"{clash['id']}")
        return email
    raise AssertionError(attr)


def check_new_xid(req: Req, kind: str, xid: str, path: str) -> None:
    row = req.db.execute("SELECT id FROM entity WHERE kind = ? AND xid = ?", (kind, xid)).fetchone()
    if row is not None:
        req.fail(f"field {path}.xid: a {kind} with xid {show(xid)} already exists "
                 f"(id {row['id']})")


def resolve_leaders(req: Req, body: Mapping[str, Any], path: str,
                    self_id: int | None) -> list[int]:
    """The ``leaders`` list of person.create/update; each found by id > xid > email > name."""
    where = f"{path}.leaders"
    items = body["leaders"]
    if not isinstance(items, list):
        req.fail(f"field {where} must be an array of person references, got {json_type(items)}")
    found: list[int] = []
    for i, item in enumerate(items):
        at = f"{where}[{i}]"
        if not isinstance(item, dict):
            req.fail(f"field {at} must be an object with id, xid, email or name, "
                     f"got {json_type(item)}")
        req.only(item, ("id", "xid", "email", "name"), at)
        ident_, xid = req.identity(item, at)
        if ident_ is not None or xid is not None:
            row = req.find("person", ident_, xid)
        elif "email" in item:
            email = req.text(item, "email", at, empty=False)
            row = req.db.execute(
                "SELECT * FROM entity WHERE kind = 'person' AND lower(email) = lower(?)", (email,)
            ).fetchone()
            if row is None:
                req.fail(f"field {at}.email: no person with email {show(email)}")
        elif "name" in item:
            name = req.text(item, "name", at, empty=False)
            rows = req.db.execute(
                "SELECT * FROM entity WHERE kind = 'person' AND name = ?", (name,)
            ).fetchall()
            if not rows:
                req.fail(f"field {at}.name: no person named {show(name)}")
            if len(rows) > 1:
                req.fail(f"field {at}.name: {len(rows)} people are named {show(name)}; "
                         "use id, xid or email")
            row = rows[0]
        else:
            req.fail(f"field {at} must have an id, xid, email or name")
        if row["id"] == self_id:
            req.fail(f"field {at}: a person cannot be their own leader")
        if row["id"] not in found:
            found.append(row["id"])
    return found


# -- create / get / update / list / activate / deactivate -----------------------


def make_create(kind: Kind) -> Handler:
    def create(req: Req) -> Answer:
        path = kind.name
        body = req.obj(req.doc, path, hint=f"the new {kind.name}")
        assert body is not None
        extra = ("invite", "leaders") if kind.name == "person" else ()
        parent_key = (kind.parent,) if kind.parent else ()
        req.only(body, ("name", "xid", *parent_key, *kind.attrs, *extra), path)
        name = req.name(body, path, required=True)
        xid = req.xid_value(body["xid"], f"{path}.xid") if "xid" in body else None
        if xid is not None:
            check_new_xid(req, kind.name, xid, path)
        parent = req.ref(body, kind.parent, kind.parent, path) if kind.parent else None
        if parent is not None and "active" in parent.keys() and not parent["active"]:
            # Nothing new goes under an archived parent; activate it first.
            req.fail(f"{kind.parent} {parent['id']} is inactive: activate it before adding "
                     f"a {kind.name} to it (field {path}.{kind.parent})")
        values: dict[str, Any] = {
            "corporate": 0 if kind.name == "company" else None,
            "start_date": first_of_month() if kind.name == "project" else None,
            "user_group": "employee" if kind.name == "person" else None,
        }
        for attr in kind.attrs:
            if attr in body:
                values[COLUMNS[attr]] = parse_attr(req, body, attr, path)
        if kind.name == "person":
            invite = req.flag(body, "invite", path)
            if invite and values.get("email") is None:
                req.fail(f"field {path}.invite needs {path}.email (the invitation goes there)")
        cur = req.db.execute(
            "INSERT INTO entity (kind, xid, name, parent, corporate, start_date, description, "
            "email, user_group) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (kind.name, xid, name, parent["id"] if parent is not None else None,
             values["corporate"], values["start_date"], values.get("description"),
             values.get("email"), values["user_group"]),
        )
        new_id = int(cur.lastrowid or 0)
        if kind.name == "person" and "leaders" in body:
            for leader in resolve_leaders(req, body, path, new_id):
                link(req.db, "leader", new_id, leader)
        answer: Answer = {"id": new_id}
        if xid is not None:
            answer["xid"] = xid
        return answer

    return create


def body_subject(req: Req, kind: str, body: Mapping[str, Any]) -> sqlite3.Row:
    """The entity an update names inside its body: by id, else by xid.

    With both, the id names the entity and the xid is its new external id:
    that is how an entity created without an xid gets one (adoption).
    """
    ident_, xid = req.identity(body, kind)
    if ident_ is None and xid is None:
        req.fail(f"missing field {kind}.id (or {kind}.xid)")
    row = req.find(kind, ident_, xid)
    if ident_ is not None and xid is not None and xid != row["xid"]:
        check_new_xid(req, kind, xid, kind)
        req.db.execute("UPDATE entity SET xid = ? WHERE id = ?", (xid, row["id"]))
    return row


def check_same_parent(req: Req, row: sqlite3.Row, key: str, parent_kind: str,
                      body: Mapping[str, Any], path: str) -> None:
    """A parent may be repeated, never changed: the API has no service to move an entity."""
    parent = req.ref(body, key, parent_kind, path, required=False)
    if parent is not None and parent["id"] != row["parent"]:
        req.fail(f"field {path}.{key}: a {row['kind']} cannot be moved to another "
                 f"{parent_kind} (it belongs to {parent_kind} {row['parent']})")


def make_update(kind: Kind) -> Handler:
    def update(req: Req) -> Answer:
        path = kind.name
        body = req.obj(req.doc, path, hint=f"the {kind.name} with its id and the changed fields")
        assert body is not None
        extra = ("invite", "leaders") if kind.name == "person" else ()
        parent_key = (kind.parent,) if kind.parent else ()
        req.only(body, ("id", "xid", "name", *parent_key, *kind.attrs, *extra), path)
        row = body_subject(req, kind.name, body)
        if kind.parent:
            check_same_parent(req, row, kind.parent, kind.parent, body, path)
        name = req.name(body, path, required=False)
        if name is not None:
            req.db.execute("UPDATE entity SET name = ? WHERE id = ?", (name, row["id"]))
        for attr in kind.attrs:
            if attr in body:
                value = parse_attr(req, body, attr, path, row["id"])
                req.db.execute(f"UPDATE entity SET {COLUMNS[attr]} = ? WHERE id = ?",
                               (value, row["id"]))
        if kind.name == "person":
            invite = req.flag(body, "invite", path)
            email = req.db.execute("SELECT email FROM entity WHERE id = ?", (row["id"],)
                                   ).fetchone()[0]
            if invite and email is None:
                req.fail(f"field {path}.invite needs an email (the invitation goes there)")
            if "leaders" in body:
                # The list replaces the leaders: what is not named is unlinked.
                leaders = resolve_leaders(req, body, path, row["id"])
                req.db.execute("DELETE FROM link WHERE rel = 'leader' AND owner = ?", (row["id"],))
                for leader in leaders:
                    link(req.db, "leader", row["id"], leader)
        return {}

    return update


def make_get(kind: Kind) -> Handler:
    def get(req: Req) -> Answer:
        return {kind.name: entity_json(req.db, req.subject(kind.name))}

    return get


def make_list(kind: Kind) -> Handler:
    def list_(req: Req) -> Answer:
        if kind.parent:
            parent = req.ref(req.doc, kind.parent, kind.parent)
            assert parent is not None
            rows = req.db.execute(
                "SELECT * FROM entity WHERE kind = ? AND parent = ? ORDER BY id",
                (kind.name, parent["id"]),
            ).fetchall()
        else:
            rows = req.db.execute(
                "SELECT * FROM entity WHERE kind = ? ORDER BY id", (kind.name,)
            ).fetchall()
        items = [entity_json(req.db, row) for row in rows]
        if kind.name == "project" and rows:
            # Clients that ran against the real API read the company's name from
            # project.list (the replayed v2 clients of issue #23); project.get
            # keeps the reference's shape.
            name = req.db.execute("SELECT name FROM entity WHERE id = ?",
                                  (rows[0]["parent"],)).fetchone()[0]
            for item in items:
                item["company"]["name"] = name
        return {kind.plural: items}

    return list_


def make_set_active(kind: Kind, active: bool) -> Handler:
    def set_active(req: Req) -> Answer:
        row = req.subject(kind.name)
        req.db.execute("UPDATE entity SET active = ? WHERE id = ?", (int(active), row["id"]))
        return {}

    return set_active


# -- relations -----------------------------------------------------------------
# attach/detach/add/remove are idempotent: attaching what is attached, or
# detaching what is not, answers ok. A plan re-run after a lost answer must
# converge, not fail on its own earlier success.


def make_link(kind: Kind, rel: str, key: str, target_kind: str, attach: bool) -> Handler:
    def change(req: Req) -> Answer:
        row = req.subject(kind.name)
        target = req.ref(req.doc, key, target_kind)
        assert target is not None
        (link if attach else unlink)(req.db, rel, row["id"], target["id"])
        return {}

    return change


def make_groups(kind: Kind) -> Handler:
    def groups(req: Req) -> Answer:
        row = req.subject(kind.name)
        return {"groups": [group_item(req.db, g) for g in linked(req.db, "group", row["id"],
                                                                  "group")]}

    return groups


def member_target(req: Req) -> sqlite3.Row:
    """The ``person`` or ``group`` of attach/detach_member: exactly one of them."""
    keys = [k for k in ("person", "group") if k in req.doc]
    if len(keys) != 1:
        req.fail("give exactly one of the fields person or group (the member)" if not keys
                 else "give only one of the fields person and group, not both")
    target = req.ref(req.doc, keys[0], keys[0])
    assert target is not None
    return target


def make_member(kind: Kind, attach: bool) -> Handler:
    def change(req: Req) -> Answer:
        row = req.subject(kind.name)
        target = member_target(req)
        (link if attach else unlink)(req.db, "member", row["id"], target["id"])
        return {}

    return change


def make_members(kind: Kind) -> Handler:
    def members(req: Req) -> Answer:
        row = req.subject(kind.name)
        return {
            "members": [short(p) for p in linked(req.db, "member", row["id"], "person")],
            "groups": [short(g) for g in linked(req.db, "member", row["id"], "group")],
        }

    return members


def make_managers(kind: Kind) -> Handler:
    def managers(req: Req) -> Answer:
        row = req.subject(kind.name)
        people = linked(req.db, "manager", row["id"], "person")
        return {"members": [short(p, "email", "active") for p in people]}

    return managers


def make_specific_tasks(kind: Kind) -> Handler:
    def specific_tasks(req: Req) -> Answer:
        row = req.subject(kind.name)
        tasks = linked(req.db, "task", row["id"], "task")
        return {
            "disabled": bool(row["tasks_disabled"]),
            "specificTasks": [short(t, "active") for t in tasks],
        }

    return specific_tasks


def make_specific_switch(kind: Kind, enable: bool) -> Handler:
    def switch(req: Req) -> Answer:
        row = req.subject(kind.name)
        req.db.execute("UPDATE entity SET tasks_disabled = ? WHERE id = ?",
                       (int(not enable), row["id"]))
        return {}

    return switch


def leaders(req: Req) -> Answer:
    row = req.subject("person")
    return {"leaders": [entity_json(req.db, p) for p in linked(req.db, "leader", row["id"],
                                                               "person")]}


# -- custom fields -------------------------------------------------------------


def labels_of(row: sqlite3.Row) -> set[str]:
    kind = row["kind"]
    if kind == "company":
        return {"Company", "Company - Corporate" if row["corporate"] else "Company - Customer"}
    return {kind.capitalize()}


def fields_for(req: Req, row: sqlite3.Row) -> list[sqlite3.Row]:
    labels = labels_of(row)
    return [f for f in req.db.execute("SELECT * FROM custom_field ORDER BY id")
            if labels & set(json.loads(f["available_for"]))]


def custom_field_ref(req: Req) -> tuple[sqlite3.Row, dict[str, Any]]:
    body = req.obj(req.doc, "customField", hint='{"id": N, "value": ...}')
    assert body is not None
    if "id" not in body:
        req.fail("missing field customField.id (see custom_field.list)")
    field_id = req.id_value(body["id"], "customField.id")
    field = req.db.execute("SELECT * FROM custom_field WHERE id = ?", (field_id,)).fetchone()
    if field is None:
        req.fail(f"no custom field with id {field_id} (see custom_field.list)")
    return field, body


def check_available(req: Req, row: sqlite3.Row, field: sqlite3.Row) -> None:
    labels = json.loads(field["available_for"])
    if not labels_of(row) & set(labels):
        req.fail(f"custom field {field['id']} ({show(field['name'])}) is not available for "
                 f"{row['kind']} {row['id']} (it is available for: {', '.join(labels)})")


def make_set_custom(kind: Kind) -> Handler:
    def set_value(req: Req) -> Answer:
        row = req.subject(kind.name)
        field, body = custom_field_ref(req)
        req.only(body, ("id", "value"), "customField")
        if "value" not in body:
            req.fail("missing field customField.value (to remove a value, use "
                     f"{kind.name}.clear_custom_field_value)")
        value = body["value"]
        if isinstance(value, str):
            req.text(body, "value", "customField")
        elif value is None or not isinstance(value, (int, float, bool)):
            req.fail(f"field customField.value must be a string, number or boolean, "
                     f"got {json_type(value)}")
        check_available(req, row, field)
        req.db.execute(
            "INSERT INTO custom_value (entity, field, value) VALUES (?, ?, ?) "
            "ON CONFLICT (entity, field) DO UPDATE SET value = excluded.value",
            (row["id"], field["id"], json.dumps(value, ensure_ascii=False)),
        )
        return {}

    return set_value


def make_clear_custom(kind: Kind) -> Handler:
    def clear_value(req: Req) -> Answer:
        row = req.subject(kind.name)
        field, body = custom_field_ref(req)
        req.only(body, ("id",), "customField")
        check_available(req, row, field)
        req.db.execute("DELETE FROM custom_value WHERE entity = ? AND field = ?",
                       (row["id"], field["id"]))
        return {}

    return clear_value


def make_custom_fields(kind: Kind) -> Handler:
    def custom_fields(req: Req) -> Answer:
        row = req.subject(kind.name)
        out = []
        for field in fields_for(req, row):
            item: Answer = {"id": field["id"], "name": field["name"]}
            value = req.db.execute(
                "SELECT value FROM custom_value WHERE entity = ? AND field = ?",
                (row["id"], field["id"]),
            ).fetchone()
            if value is not None:
                item["value"] = json.loads(value[0])
            out.append(item)
        return {"customFields": out}

    return custom_fields


def custom_field_list(req: Req) -> Answer:
    return {
        "customFields": [
            {"id": f["id"], "name": f["name"],
             "availableFor": ", ".join(json.loads(f["available_for"]))}
            for f in req.db.execute("SELECT * FROM custom_field ORDER BY id")
        ]
    }


# -- groups ----------------------------------------------------------------------


def group_create(req: Req) -> Answer:
    body = req.obj(req.doc, "group", hint="the new group")
    assert body is not None
    req.only(body, ("name", "xid", "parent"), "group")
    name = req.name(body, "group", required=True)
    xid = req.xid_value(body["xid"], "group.xid") if "xid" in body else None
    if xid is not None:
        check_new_xid(req, "group", xid, "group")
    parent = req.ref(body, "parent", "group", "group", required=False)
    cur = req.db.execute(
        "INSERT INTO entity (kind, xid, name, parent) VALUES ('group', ?, ?, ?)",
        (xid, name, parent["id"] if parent is not None else None),
    )
    answer: Answer = {"id": int(cur.lastrowid or 0)}
    if xid is not None:
        answer["xid"] = xid
    return answer


def group_get(req: Req) -> Answer:
    return {"group": group_json(req.db, req.subject("group"))}


def group_update(req: Req) -> Answer:
    body = req.obj(req.doc, "group", hint="the group with its id and the changed fields")
    assert body is not None
    req.only(body, ("id", "xid", "name", "parent"), "group")
    row = body_subject(req, "group", body)
    check_same_parent(req, row, "parent", "group", body, "group")
    name = req.name(body, "group", required=False)
    if name is not None:
        req.db.execute("UPDATE entity SET name = ? WHERE id = ?", (name, row["id"]))
    return {}


def subtree(db: sqlite3.Connection, group_id: int) -> list[int]:
    """The group and its descendants, children after parents."""
    out, todo = [], [group_id]
    while todo:
        current = todo.pop(0)
        out.append(current)
        todo.extend(r[0] for r in db.execute(
            "SELECT id FROM entity WHERE kind = 'group' AND parent = ? ORDER BY id", (current,)))
    return out


def group_delete(req: Req) -> Answer:
    row = req.subject("group")
    force = bool(req.flag(req.doc, "force"))
    children = count(req.db, "SELECT COUNT(*) FROM entity WHERE kind = 'group' AND parent = ?",
                     row["id"])
    uses = count(req.db, "SELECT COUNT(*) FROM link WHERE rel IN ('group', 'member') "
                 "AND target = ?", row["id"])
    if not force and (children or uses):
        why = []
        if uses:
            why.append(f"is assigned to {uses} entit{'y' if uses == 1 else 'ies'}")
        if children:
            why.append(f"has {children} child group{'s' if children != 1 else ''}")
        req.fail(f"group {row['id']} {' and '.join(why)}; "
                 "send force: true to delete it anyway")
    for gid in reversed(subtree(req.db, row["id"])):
        req.db.execute("DELETE FROM link WHERE target = ? OR owner = ?", (gid, gid))
        req.db.execute("DELETE FROM entity WHERE id = ?", (gid,))
    return {}


GROUP_OWNER_KINDS = ("absence", "company", "project", "subproject", "task", "person")


def group_list(req: Req) -> Answer:
    keys = [k for k in GROUP_OWNER_KINDS if k in req.doc]
    if len(keys) != 1:
        req.fail(f"give exactly one entity: one of the fields {', '.join(GROUP_OWNER_KINDS)}")
    row = req.ref(req.doc, keys[0], keys[0])
    assert row is not None
    return {"groups": [group_item(req.db, g) for g in linked(req.db, "group", row["id"],
                                                              "group")]}


def group_assignments(req: Req) -> Answer:
    group = req.subject("group")
    rows = req.db.execute(
        "SELECT e.* FROM link l JOIN entity e ON e.id = l.owner "
        "WHERE l.rel = 'group' AND l.target = ? ORDER BY e.id", (group["id"],)
    ).fetchall()
    out: Answer = {}
    for kind in ("companies", "projects", "subprojects", "tasks", "people", "absences"):
        out[kind] = []
    for row in rows:
        extra = ("active", "email") if row["kind"] == "person" else ("active",)
        out[KINDS[row["kind"]].plural].append(short(row, *extra))
    return out


def group_tree(req: Req) -> Answer:
    rows = req.db.execute("SELECT * FROM entity WHERE kind = 'group' ORDER BY id").fetchall()
    children: dict[int | None, list[sqlite3.Row]] = {}
    for row in rows:
        children.setdefault(row["parent"], []).append(row)

    def node(row: sqlite3.Row) -> Answer:
        out = ident(row)
        out["name"] = row["name"]
        kids = children.get(row["id"], [])
        if kids:
            out["groups"] = [node(k) for k in kids]
        return out

    return {"groups": [node(r) for r in children.get(None, [])]}


# -- the table -------------------------------------------------------------------

SUBJECT = ("id", "xid")


def _register_setup() -> None:
    for kind in KINDS.values():
        k = kind.name
        register(f"{k}.create", (k,), make_create(kind), writes=True)
        register(f"{k}.get", SUBJECT, make_get(kind), writes=False)
        register(f"{k}.update", (k,), make_update(kind), writes=True)
        register(f"{k}.list", (kind.parent,) if kind.parent else (), make_list(kind),
                 writes=False)
        register(f"{k}.activate", SUBJECT, make_set_active(kind, True), writes=True)
        register(f"{k}.deactivate", SUBJECT, make_set_active(kind, False), writes=True)
        if "groups" in kind.features:
            register(f"{k}.add_group", (*SUBJECT, "group"),
                     make_link(kind, "group", "group", "group", True), writes=True)
            register(f"{k}.remove_group", (*SUBJECT, "group"),
                     make_link(kind, "group", "group", "group", False), writes=True)
            register(f"{k}.groups", SUBJECT, make_groups(kind), writes=False)
        if "specific" in kind.features:
            register(f"{k}.attach_specific_task", (*SUBJECT, "task"),
                     make_link(kind, "task", "task", "task", True), writes=True)
            register(f"{k}.detach_specific_task", (*SUBJECT, "task"),
                     make_link(kind, "task", "task", "task", False), writes=True)
            register(f"{k}.specific_tasks", SUBJECT, make_specific_tasks(kind), writes=False)
            register(f"{k}.enable_specific_tasks", SUBJECT,
                     make_specific_switch(kind, True), writes=True)
            register(f"{k}.disable_specific_tasks", SUBJECT,
                     make_specific_switch(kind, False), writes=True)
        if "members" in kind.features:
            register(f"{k}.attach_member", (*SUBJECT, "person", "group"),
                     make_member(kind, True), writes=True)
            register(f"{k}.detach_member", (*SUBJECT, "person", "group"),
                     make_member(kind, False), writes=True)
            register(f"{k}.members", SUBJECT, make_members(kind), writes=False)
        if "managers" in kind.features:
            register(f"{k}.attach_manager", (*SUBJECT, "person"),
                     make_link(kind, "manager", "person", "person", True), writes=True)
            register(f"{k}.detach_manager", (*SUBJECT, "person"),
                     make_link(kind, "manager", "person", "person", False), writes=True)
            register(f"{k}.managers", SUBJECT, make_managers(kind), writes=False)
        if "custom" in kind.features:
            register(f"{k}.set_custom_field_value", (*SUBJECT, "customField"),
                     make_set_custom(kind), writes=True)
            register(f"{k}.clear_custom_field_value", (*SUBJECT, "customField"),
                     make_clear_custom(kind), writes=True)
            register(f"{k}.custom_fields", SUBJECT, make_custom_fields(kind), writes=False)
        if "leaders" in kind.features:
            register(f"{k}.leaders", SUBJECT, leaders, writes=False)
    register("group.create", ("group",), group_create, writes=True)
    register("group.get", SUBJECT, group_get, writes=False)
    register("group.update", ("group",), group_update, writes=True)
    register("group.delete", (*SUBJECT, "force"), group_delete, writes=True)
    register("group.list", GROUP_OWNER_KINDS, group_list, writes=False)
    register("group.assignments", SUBJECT, group_assignments, writes=False)
    register("group.tree", (), group_tree, writes=False)
    register("custom_field.list", (), custom_field_list, writes=False)


_register_setup()
