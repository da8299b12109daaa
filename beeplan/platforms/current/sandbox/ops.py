"""Root fields: the emulated queries and mutations, by family."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from graphql import (
    GraphQLError,
    GraphQLNonNull,
    GraphQLResolveInfo,
    GraphQLScalarType,
    get_named_type,
)

from .engine import (
    ARCHIVABLE,
    KINDS,
    TREES,
    WEEK_MS,
    Context,
    NotEmulated,
    _lower,
    _statuses,
    btime,
    empty_value,
    level_of,
    resolve_field,
)

Doc = dict[str, Any]


def _kind_of(info: GraphQLResolveInfo) -> str:
    return get_named_type(info.return_type).name.removeprefix("Beebole")


# -- filters -------------------------------------------------------------------

def _tagged_with(ctx: Context, doc: Doc) -> set[str]:
    return {i for _r, i, _s in ctx.store.related("tag", doc["id"], "Tag", "b")}


# A filter field's test: (context, document, wanted value) -> whether the document passes.
_Test = Callable[[Context, Doc, Any], bool]


def _same(key: str) -> _Test:
    return lambda _ctx, doc, want: doc.get(key) == want


def _differs(key: str) -> _Test:
    return lambda _ctx, doc, want: doc.get(key) != want


def _assigned(other: str) -> _Test:
    return lambda ctx, doc, want: want in {i for _r, i, _s in ctx.store.related(
        "assign", doc["id"], other)}


def _tags(kind: str) -> _Test:
    return lambda ctx, doc, want: want in {i for _r, i, _s in ctx.store.related(
        "tag", doc["id"], kind, "a")}


def _project_id(ctx: Context, doc: Doc, want: Any) -> bool:
    # an expense record names its project; anything else is assigned to it
    if doc["__kind"] == "ExpenseRecord":
        return doc.get("projectId") == want
    return _assigned("Project")(ctx, doc, want)


_FILTERS: dict[str, _Test] = {
    "id": lambda _ctx, doc, want: doc["id"] == want,
    "notId": lambda _ctx, doc, want: doc["id"] != want,
    "name": lambda _ctx, doc, want: str(want).lower() in str(doc.get("name", "")).lower(),
    "archived": lambda _ctx, doc, want: bool(doc.get("archived")) == want,
    "level": lambda ctx, doc, want: level_of(ctx.store, doc) == want,
    **{key: _same(key) for key in ("categoryId", "roleId", "statusId", "customFieldId",
                                   "entityId", "entityType", "personId")},
    "notPersonId": _differs("personId"),
    "notProjectId": _differs("projectId"),
    "tagIds": lambda ctx, doc, want: bool(_tagged_with(ctx, doc) & set(want)),
    "notTagIds": lambda ctx, doc, want: not _tagged_with(ctx, doc) & set(want),
    "assignedPersonId": _assigned("Person"),
    "assignedTagId": _assigned("Tag"),
    "assignedProjectId": _assigned("Project"),
    "projectId": _project_id,
    "managedById": lambda ctx, doc, want: want in {
        i for _r, i, _s in ctx.store.related("manager", doc["id"], "Person", "b")},
    "childrenOfId": lambda _ctx, doc, want: doc.get("parentId") == want,
    "taggedPersonId": _tags("Person"),
    "taggedProjectId": _tags("Project"),
    "taggedTaskId": _tags("Task"),
}


def _match_one(ctx: Context, doc: Doc, cond: dict[str, Any]) -> bool:
    for key, want in cond.items():
        if key == "following" or want is None:
            continue
        test = _FILTERS.get(key)
        if test is None:
            raise NotEmulated(f"the filter field {key!r} is not emulated by the sandbox")
        if not test(ctx, doc, want):
            return False
    return True


def _match(ctx: Context, doc: Doc, conds: list[dict[str, Any]] | None) -> bool:
    """Conditions chained left to right, each joined to the next by its ``following``."""
    if not conds:
        return True
    result = _match_one(ctx, doc, conds[0] or {})
    for prev, cond in zip(conds, conds[1:], strict=False):
        joined = str((prev or {}).get("following") or "AND").upper()
        value = _match_one(ctx, doc, cond or {})
        result = (result or value) if joined == "OR" else (result and value)
    return result


def _listing(ctx: Context, kind: str, args: dict[str, Any]) -> list[Doc]:
    for arg in ("startTime", "endTime"):  # getTasks' planning window
        if args.get(arg) is not None:
            raise NotEmulated(f"the argument {arg!r} of this query is not emulated")
    out = []
    for doc in ctx.store.all(kind):
        if doc.get("archived") and not args.get("archived"):
            continue  # the reference: archived ones only with archived: true
        if args.get("categoryId") and doc.get("categoryId") != args["categoryId"]:
            continue
        if _match(ctx, doc, args.get("filter")):
            out.append(doc)
    return out


def _under(ctx: Context, project_ids: set[str], doc_ids: list[str]) -> bool:
    """Whether any of ``doc_ids`` is one of ``project_ids`` or below one."""
    for pid in doc_ids:
        seen: set[str] = set()
        cur = ctx.store.get(pid)
        while cur is not None and cur["id"] not in seen:
            if cur["id"] in project_ids:
                return True
            seen.add(cur["id"])
            cur = ctx.store.get(cur.get("parentId"))
    return False


def _time_records(ctx: Context, args: dict[str, Any]) -> list[Doc]:
    out = []
    for rec in ctx.store.all("TimeRecord"):
        start = rec["startTime"]["ts"]
        end = rec["endTime"]["ts"] if rec.get("endTime") else start + rec["duration"]
        if args.get("startTime") is not None and start < args["startTime"]:
            continue
        if args.get("endTime") is not None and end > args["endTime"]:
            continue
        absent = bool(rec.get("absenceId"))
        if args.get("time") and absent or args.get("absence") and not absent:
            continue
        if args.get("wfh") is not None and bool(rec.get("wfh")) != args["wfh"]:
            continue
        if all(_tr_match(ctx, rec, start, end, c or {}) for c in args.get("filter") or []):
            out.append(rec)
    return out


def _tr_match(ctx: Context, rec: Doc, start: int, end: int, cond: dict[str, Any]) -> bool:
    for key, want in cond.items():
        if key == "following" or want is None:
            continue
        if key in ("id", "personId"):
            ok = rec.get(key) == want
        elif key in ("notId", "notPersonId"):
            ok = rec.get(key[3].lower() + key[4:]) != want
        elif key == "personIds":
            ok = rec.get("personId") in want
        elif key == "startTime":
            ok = start >= want
        elif key == "endTime":
            ok = end <= want
        elif key == "isAbsence":
            ok = bool(rec.get("absenceId")) == want
        elif key in ("projectIds", "notProjectIds"):
            hit = _under(ctx, set(want), rec.get("projectIds") or [])
            ok = hit if key == "projectIds" else not hit
        elif key in ("taskIds", "notTaskIds"):
            hit = rec.get("taskId") in want
            ok = hit if key == "taskIds" else not hit
        else:
            raise NotEmulated(f"the time record filter field {key!r} is not emulated")
        if not ok:
            return False
    return True


def _expense_records(ctx: Context, args: dict[str, Any]) -> list[Doc]:
    out = []
    for rec in ctx.store.all("ExpenseRecord"):
        date = rec["date"]["ts"]
        if args.get("startTime") is not None and date < args["startTime"]:
            continue
        if args.get("endTime") is not None and date > args["endTime"]:
            continue
        if _match(ctx, rec, args.get("filter")):
            out.append(rec)
    return out


def _audit_trails(ctx: Context, args: dict[str, Any]) -> list[Doc]:
    if not ctx.audit_trail:
        raise GraphQLError("AuditTrailNotAvailable: this account's plan has no audit trail")
    start = args.get("startTime")
    end = ctx.now + 1 if start is None else start + WEEK_MS
    start = end - 1 - WEEK_MS if start is None else start
    out = []
    for ts, person, op, arguments, response_id in ctx.store.audits(start, end):
        if args.get("fromPersonId") and person != args["fromPersonId"]:
            continue
        if args.get("operations") and op not in args["operations"]:
            continue
        values = json.loads(arguments)
        if not _argument_match(values, args.get("argumentMatch")):
            continue
        wanted = (args.get("responseMatch") or {}).get("id")
        if wanted is not None and response_id != wanted:
            continue
        out.append({"operationName": op, "timestamp": ts, "personId": person,
                    "responseId": response_id, "info": None,
                    "arguments": [{"name": k, "value": v if isinstance(v, str) else json.dumps(v)}
                                  for k, v in values.items()]})
    return out


def _argument_match(values: dict[str, Any], match: dict[str, Any] | None) -> bool:
    """Whether a mutation's arguments hold every value ``argumentMatch`` sets: the argument
    of that name, or that name's plural list (``id`` in ``archivePersons(ids: [...])``)."""
    for name, want in (match or {}).items():
        if want is None:
            continue
        many = values.get(name + "s")
        if values.get(name) != want and not (isinstance(many, list) and want in many):
            return False
    return True


def query(ctx: Context, info: GraphQLResolveInfo, args: dict[str, Any]) -> Any:
    name = info.field_name
    if name == "currentPerson":
        return ctx.need(ctx.person_id, "Person")
    if name == "currentOrganisation":
        return ctx.store.get(ctx.store.meta("org"))
    if name == "getAuditTrails":
        return _audit_trails(ctx, args)
    if name == "getExpenseRecords":
        return _expense_records(ctx, args)
    if name == "getPotentialProjectOwners":
        ctx.need(args["projectId"], "Project")
        # who may own a project depends on roles the sandbox does not model: anyone active
        return [p for p in ctx.store.all("Person") if not p.get("archived")]
    if name in ("getApprovalEvents", "getPersonApprovalEvents"):
        person = ctx.need(args["personId"], "Person")
        return [e for e in ctx.store.all("ApprovalEvent") if e["personId"] == person["id"]
                and (name == "getPersonApprovalEvents"
                     or (e["startTime"]["ts"] <= args["endTime"]
                         and e["endTime"]["ts"] >= args["startTime"]))]
    if name == "getApprovalEventById":
        return ctx.need(args["id"], "ApprovalEvent")
    if name in ("getTimeRecords", "countTimeRecords"):
        found = _time_records(ctx, args)
        return found if name.startswith("get") else len(found)
    m = re.fullmatch(r"get(\w+)Categories", name)
    if m and m.group(1) in ("Project", "Task", "Tag"):
        return list(ctx.store.all(m.group(1) + "Category"))
    m = re.fullmatch(r"(get|count|filter)(\w+?)(s|Ids)?", name)
    if m:
        verb, kind, plural = m.groups()
        if kind in KINDS and plural is None and verb == "get" and "id" in args:
            return ctx.need(args["id"], kind)
        if kind in KINDS and (plural or verb != "get"):
            found = _listing(ctx, kind, args)
            if verb == "count":
                return len(found)
            return [d["id"] for d in found] if verb == "filter" else found
    raise NotEmulated(f"the query {name} is not emulated by the sandbox")


# -- mutations ---------------------------------------------------------------

REF_KIND = {"categoryId": None, "parentId": None, "roleId": "Role", "statusId": "Status",
            "personId": "Person", "taskId": "Task", "absenceId": "AbsenceType",
            "customFieldId": "CustomField", "expenseTypeId": "ExpenseType",
            "projectId": "Project"}


def _check_refs(ctx: Context, kind: str, values: dict[str, Any]) -> None:
    for key, value in values.items():
        if value is None:
            continue
        if key == "projectIds":
            for pid in value:
                ctx.need(pid, "Project")
        elif key == "categoryId":
            ctx.need(value, kind + "Category" if kind in TREES else "TaskCategory")
        elif key == "parentId":
            ctx.need(value, kind)
        elif key in REF_KIND and REF_KIND[key]:
            ctx.need(value, str(REF_KIND[key]))


def _set_field(doc: Doc, info: GraphQLResolveInfo, field: str, value: Any) -> None:
    gql_type = info.schema.get_type("Beebole" + doc["__kind"])
    fields = getattr(gql_type, "fields", {})
    target = fields.get(field)
    if target is not None and get_named_type(target.type).name == "BeeboleTime":
        value = None if value is None else btime(int(value))
    if value is None and target is not None and isinstance(target.type, GraphQLNonNull):
        value = empty_value(target.type)  # e.g. levelNames: null clears the list
    doc[field] = value


# addCustomFieldValue's entityType -> the kind of entity it names
VALUE_HOLDERS = ("Person", "Project", "Task", "Tag", "TimeRecord", "AbsenceType")


# a custom field's type -> the argument that carries its values
FIELD_TYPES = {"text": "textValue", "number": "numberValue", "date": "dateValue",
               "datetime": "dateTimeValue", "url": "urlValue", "boolean": "booleanValue"}


def _check_value(definition: Doc, values: dict[str, Any]) -> None:
    """A value is saved only if it fits its field (the reference: "not saved until corrected")."""
    name, ftype = definition["name"], definition.get("fieldType")
    given = {k: v for k, v in values.items() if k in FIELD_TYPES.values() and v is not None}
    wrong = set(given) - {FIELD_TYPES.get(str(ftype), "")}
    if wrong:
        raise GraphQLError(f"InvalidValue: {name!r} is a {ftype} field; "
                           f"{sorted(wrong)[0]} does not fit it")
    text = given.get("textValue")
    options = definition.get("textOptions") or {}
    if text is not None:
        if options.get("useAllowedValues") and text not in options.get("allowedValues", []):
            raise GraphQLError(f"InvalidValue: {text!r} is not an allowed value of {name!r}")
        if not options.get("minLength", 0) <= len(text) <= options.get("maxLength", 255):
            raise GraphQLError(f"InvalidValue: {name!r} takes {options.get('minLength', 0)} to "
                               f"{options.get('maxLength', 255)} characters")
        pattern = options.get("validationRegex")
        if pattern and re.fullmatch(pattern, text) is None:
            raise GraphQLError(f"InvalidValue: {text!r} does not match the pattern of {name!r}")
    number = given.get("numberValue")
    numbers = definition.get("numberOptions") or {}
    if number is not None:
        low, high = numbers.get("min"), numbers.get("max")
        if (low is not None and number < low) or (high is not None and number > high):
            raise GraphQLError(f"InvalidValue: {number} is outside the range of {name!r}")


# A kind's step of _add: (context, the new document, its arguments) -> None; it may set
# fields of the document, take arguments out, or refuse (GraphQLError).
_Step = Callable[[Context, Doc, dict[str, Any]], None]


def _new_value(ctx: Context, doc: Doc, args: dict[str, Any]) -> None:
    if args["entityType"] not in VALUE_HOLDERS:
        raise GraphQLError(f"InvalidArgument: entityType must be one of "
                           f"{', '.join(VALUE_HOLDERS)}")
    ctx.need(args["entityId"], args["entityType"])
    definition = ctx.need(args["customFieldId"], "CustomField")
    for other in ctx.store.all("CustomFieldValue"):
        if (other["customFieldId"], other["entityId"]) == (definition["id"],
                                                            args["entityId"]):
            raise GraphQLError(f"AlreadySet: {definition['name']!r} already has a value "
                               f"on this {args['entityType']} ({other['id']}); edit it "
                               "with editCustomFieldValue*")
    _check_value(definition, args)


def _new_field(ctx: Context, doc: Doc, args: dict[str, Any]) -> None:
    if args["fieldType"] not in FIELD_TYPES:
        raise GraphQLError(f"InvalidArgument: fieldType must be one of "
                           f"{', '.join(FIELD_TYPES)}")
    doc["visibility"] = {"persons": False, "absenceTypes": False, "projects": None,
                         "tasks": None, "timeRecords": None}
    doc["textOptions"] = {"maxLength": 255, "minLength": 0, "allowedValues": [],
                          "useAllowedValues": False}


def _new_tree_node(ctx: Context, doc: Doc, args: dict[str, Any]) -> None:
    kind = doc["__kind"]
    if args.get("parentId"):
        parent = ctx.need(args["parentId"], kind)
        if args.get("categoryId") and args["categoryId"] != parent.get("categoryId"):
            raise GraphQLError("InvalidArgument: a child's category is its parent's")
        doc["categoryId"] = parent.get("categoryId")
    elif not args.get("categoryId") and kind == "Task":
        # a task always has a category: without one it goes to the account's first
        first = next(iter(ctx.store.all("TaskCategory")), None)
        if first is None:
            raise GraphQLError("InvalidArgument: addTask needs a categoryId, and this "
                               "account has no task category yet")
        doc["categoryId"] = first["id"]
    elif not args.get("categoryId"):
        raise GraphQLError(f"InvalidArgument: add{kind} needs a categoryId or a parentId")


def _new_person(ctx: Context, doc: Doc, args: dict[str, Any]) -> None:
    _unique_email(ctx, args["email"], None)
    doc.update(lang="en", hasJoined=False, hasBeenInvited=False, hasPasskey=False)
    doc["startDate"] = btime(ctx.now)


def _new_expense_record(ctx: Context, doc: Doc, args: dict[str, Any]) -> None:
    # the amount is one object
    doc["amount"] = {"value": args.pop("value"), "currency": args.pop("currency", None)
                     or "EUR"}
    doc["comment"] = args.pop("comment", None) or ""
    if not args.get("personId") and not args.get("projectId"):
        raise GraphQLError("InvalidArgument: an expense record needs a personId or a "
                           "projectId")


# Before the arguments are set: a kind's checks and defaults
_BEFORE: dict[str, _Step] = {
    "CustomFieldValue": _new_value,
    "CustomField": _new_field,
    **{kind: _new_tree_node for kind in sorted(TREES)},
    "Person": _new_person,
    "AbsenceType": lambda _ctx, doc, _args: doc.update(unit="day"),
    **{kind: lambda _ctx, doc, _args: doc.update(levelNames=[])
       for kind in ("ProjectCategory", "TagCategory", "TaskCategory")},
    "ExpenseType": lambda _ctx, doc, _args: doc.update(isCurrency=True, markup=0,
                                                        isInBudget=True),
    "ExpenseRecord": _new_expense_record,
}


def _first_status(ctx: Context, doc: Doc, args: dict[str, Any]) -> None:
    if not args.get("statusId"):
        category = ctx.store.get(doc.get("categoryId") or args.get("categoryId"))
        first = next(iter(_statuses(ctx, category)), None) if category else None
        if first is None:
            # BeeboleTask.status is non-null: a task without one would make every read of
            # tasks fail. The sandbox refuses it (the reference does not say).
            raise GraphQLError("InvalidArgument: the task's category has no status yet, and a "
                               "task always has one: add one (addTaskCategoryStatus) first")
        doc["statusId"] = first["id"]  # the category's first status


def _auto_color(ctx: Context, doc: Doc, args: dict[str, Any]) -> None:
    if args.get("color") is None and not args.get("parentId"):
        # "auto-assigned if omitted": the next palette index (the sandbox's rule)
        doc["color"] = sum(1 for _ in ctx.store.all(doc["__kind"])) % 72


def _time_record_defaults(ctx: Context, doc: Doc, args: dict[str, Any]) -> None:
    doc.update(comment="", nonBillable=False, wfh=False, projectIds=args.get("projectIds")
               or [])
    if args.get("endTime") is None:  # the end of the start's day (UTC here)
        doc["endTime"] = btime(args["startTime"] - args["startTime"] % 86400000
                               + 86400000 - 1)
    if not args.get("taskId") and not args.get("absenceId") and not args.get("projectIds"):
        raise GraphQLError("InvalidArgument: a time record needs a task, projects or an "
                           "absence type")


# After the arguments are set: what a kind derives from them
_AFTER: dict[str, _Step] = {
    "Task": _first_status,
    "Person": _auto_color,
    "Project": _auto_color,
    "TimeRecord": _time_record_defaults,
}


def _add(ctx: Context, info: GraphQLResolveInfo, kind: str, args: dict[str, Any]) -> Doc:
    _check_refs(ctx, kind, args)
    doc: Doc = {"__kind": kind, "archived": False}
    args = dict(args)  # a kind's step may take arguments out (an expense record's amount)
    before = _BEFORE.get(kind)
    if before is not None:
        before(ctx, doc, args)
    for key, value in args.items():
        if value is None and key in doc:
            continue  # a default set above stays
        if key == "authorisations":
            value = list(value or [])
        if key not in ("check",):
            _set_field(doc, info, key, value)
    after = _AFTER.get(kind)
    if after is not None:
        after(ctx, doc, args)
    return ctx.save(doc)


def _descendants(ctx: Context, doc: Doc) -> list[Doc]:
    out, todo = [doc], [doc]
    while todo:
        cur = todo.pop()
        for child in ctx.store.all(doc["__kind"]):
            if child.get("parentId") == cur["id"] and child not in out:
                out.append(child)
                todo.append(child)
    return out


def _refuse_if_used(ctx: Context, doc: Doc, going: set[str] | None = None) -> None:
    """Deleting what others still point at would leave them dangling: refused (chosen).

    ``going``: ids deleted together with ``doc`` (its descendants), which may point at it.
    """
    kind = doc["__kind"]
    going = going or set()
    users: list[tuple[str, str]] = []
    if kind.endswith("Category"):
        users.append((kind.removesuffix("Category"), "categoryId"))
    users += {"Role": [("Person", "roleId")], "Task": [("TimeRecord", "taskId")],
              "AbsenceType": [("TimeRecord", "absenceId")],
              "Person": [("TimeRecord", "personId")],
              "CustomField": [("CustomFieldValue", "customFieldId")],
              "ExpenseType": [("ExpenseRecord", "expenseTypeId")]}.get(kind, [])
    for user_kind, key in users:
        if any(other.get(key) == doc["id"] and other["id"] not in going
               for other in ctx.store.all(user_kind)):
            raise GraphQLError(f"InUse: {user_kind} entities still refer to this {kind}; "
                               "archive it instead, or move them first")
    if kind == "Project" and any(doc["id"] in (r.get("projectIds") or [])
                                 for r in ctx.store.all("TimeRecord")):
        raise GraphQLError("InUse: time records are logged on this Project; archive it instead")


def _archive(ctx: Context, kind: str, ids: list[str], archived: bool) -> list[Doc]:
    docs = [ctx.need(i, kind) for i in ids]
    out: list[Doc] = []
    for doc in docs:
        # Archiving a tree node archives what is under it (the real mutation answers a list);
        # unarchiving brings back only the node itself (the sandbox's choice).
        for node in (_descendants(ctx, doc) if archived and kind in TREES else [doc]):
            node["archived"] = archived
            out.append(ctx.save(node))
    return out


RELATION_RULES: list[tuple[str, str, str, str]] = [
    # (mutation regex, relation kind, a argument, b argument)
    (r"(un)?assign(Project|Task)(?:To|From)(Person|Tag)", "assign", "{2}Id", "{1}Id"),
    (r"(un)?assignTask(?:To|From)Project", "assign", "projectId", "taskId"),
    (r"(un)?assign(CustomField)(?:To|From)(Tag|Person|Project|Task|TimeRecord)", "customField",
     "customFieldId", "{2}Id"),
    (r"(un)?assign(AbsenceType)(?:To|From)(Tag|Person)", "absenceType", "absenceTypeId",
     "{2}Id"),
    (r"(make|remove)ManagerOf(Tag|Person|Project|Task)", "manager", "managerId", "{1}Id"),
    (r"(un)?tag(Person|Project|Task)", "tag", "tagId", "{1}Id"),
]
_ARG_KIND = {"managerId": "Person", "tagId": "Tag", "personId": "Person", "projectId": "Project",
             "taskId": "Task", "customFieldId": "CustomField", "absenceTypeId": "AbsenceType",
             "timerecordId": "TimeRecord"}


def _relation(ctx: Context, name: str, args: dict[str, Any]) -> Doc | None:
    for pattern, kind, a_arg, b_arg in RELATION_RULES:
        m = re.fullmatch(pattern, name)
        if not m:
            continue
        groups = [g or "" for g in m.groups()]
        a_name = _lower(a_arg.format(*groups)).replace("timeRecordId", "timerecordId")
        b_name = _lower(b_arg.format(*groups)).replace("timeRecordId", "timerecordId")
        a = ctx.need(args[a_name], _ARG_KIND[a_name])
        b = ctx.need(args[b_name], _ARG_KIND[b_name])
        removing = groups[0] in ("un", "remove")
        if removing:
            rel_id = ctx.store.unrelate(kind, a["id"], b["id"])
            if rel_id is None:
                raise GraphQLError(f"NotFound: {name}: no such relation")
            start = None
        else:
            rel = ctx.store.relate(kind, a, b, args.get("startTime"))
            rel_id, start = rel["id"], rel["start_time"]
        return {"id": rel_id, "sourceId": a["id"], "sourceKey": _lower(a["__kind"]),
                "targetId": b["id"], "targetKey": _lower(b["__kind"]),
                "signature": f"{kind}:{a['id']}:{b['id']}",
                "startTime": None if start is None else btime(start)}
    return None


_OPTION = re.compile(r"editCustomField(Text|Date|Number|Url|Datetime|Boolean)Option(\w+)")


def mutation(ctx: Context, info: GraphQLResolveInfo, args: dict[str, Any]) -> Any:
    name = info.field_name
    kind = _kind_of(info)
    if name.startswith("add") and name[3:] == kind and kind in KINDS:
        return _add(ctx, info, kind, args)
    special = _SPECIAL.get(name)
    if special is not None:
        return special(ctx, info, args)
    relation = _relation(ctx, name, args)  # its names match none of the patterns below
    if relation is not None:
        return relation
    for pattern, handler in _BY_PATTERN:
        m = pattern.fullmatch(name)
        if m:
            answer = handler(ctx, info, m, args)
            if answer is not _NOT_THIS:
                return answer
    raise NotEmulated(f"the mutation {name} is not emulated by the sandbox")


def _add_status(ctx: Context, info: GraphQLResolveInfo, args: dict[str, Any]) -> Doc:
    cat = ctx.need(args["categoryId"], "TaskCategory")
    status = ctx.store.put({"__kind": "Status", "name": args["name"], "category": cat["id"]})
    cat["statusOrder"] = [*cat.get("statusOrder", []), status["id"]]
    ctx.save(cat)
    return status


def _rename_status(ctx: Context, info: GraphQLResolveInfo, args: dict[str, Any]) -> Doc:
    status = ctx.need(args["statusId"], "Status")
    status["name"] = args["name"]
    return ctx.store.put(status)


def _order_statuses(ctx: Context, info: GraphQLResolveInfo, args: dict[str, Any]) -> Doc:
    cat = ctx.need(args["id"], "TaskCategory")
    cat["statusOrder"] = list(args["statusIds"])
    return ctx.save(cat)


def _delete_status(ctx: Context, info: GraphQLResolveInfo, args: dict[str, Any]) -> Doc:
    status = ctx.need(args["statusId"], "Status")
    if any(t.get("statusId") == status["id"] for t in ctx.store.all("Task")):
        raise GraphQLError("InUse: tasks still have this status")
    ctx.store.delete(status["id"])
    return status


def _allowed_value(ctx: Context, info: GraphQLResolveInfo, args: dict[str, Any]) -> Doc:
    """add/removeCustomFieldTextOptionAllowedValue."""
    doc = ctx.need(args["id"], "CustomField")
    values = [v for v in doc["textOptions"]["allowedValues"] if v != args["value"]]
    doc["textOptions"]["allowedValues"] = (values + [args["value"]]
                                           if info.field_name.startswith("add") else values)
    return ctx.save(doc)


# What a pattern's handler answers when the name matched but is not its (the next is tried)
_NOT_THIS = object()


def _edit_status(ctx: Context, info: GraphQLResolveInfo, m: re.Match[str],
                 args: dict[str, Any]) -> Any:
    status = ctx.need(args["statusId"], "Status")
    status.update({k: v for k, v in args.items() if k != "statusId"})
    return ctx.store.put(status)


def _edit_amount(ctx: Context, info: GraphQLResolveInfo, m: re.Match[str],
                 args: dict[str, Any]) -> Any:
    record = ctx.need(args["id"], "ExpenseRecord")
    record["amount"][_lower(m.group(1))] = args[_lower(m.group(1))]
    return ctx.save(record)


def _edit_organisation(ctx: Context, info: GraphQLResolveInfo, m: re.Match[str],
                       args: dict[str, Any]) -> Any:
    org = ctx.need(ctx.store.meta("org"), "Organisation")
    org[_lower(m.group(1))] = args[_lower(m.group(1))]
    return ctx.save(org)


def _archive_named(ctx: Context, info: GraphQLResolveInfo, m: re.Match[str],
                   args: dict[str, Any]) -> Any:
    if m.group(2) not in ARCHIVABLE:
        return _NOT_THIS
    ids = args["ids"] if m.group(3) else [args["id"]]
    docs = _archive(ctx, m.group(2), ids, not m.group(1))
    many = m.group(3) or (not m.group(1) and m.group(2) in TREES)
    return docs if many else docs[0]


def _delete_named(ctx: Context, info: GraphQLResolveInfo, m: re.Match[str],
                  args: dict[str, Any]) -> Any:
    if m.group(1) not in KINDS:
        return _NOT_THIS
    ids = args["ids"] if m.group(2) else [args["id"]]
    docs = [ctx.need(i, m.group(1)) for i in ids]
    for doc in docs:
        # a project, task or tag goes with all its descendants (the real API's own
        # description); what else still points at them is checked first
        doomed = _descendants(ctx, doc) if m.group(1) in TREES else [doc]
        gone = {d["id"] for d in doomed}
        for node in doomed:
            _refuse_if_used(ctx, node, gone)
        if not args.get("check"):  # check: true only checks
            for node in doomed:
                ctx.store.delete(node["id"])
    return docs if m.group(2) else docs[0]


def _edit_options(ctx: Context, info: GraphQLResolveInfo, m: re.Match[str],
                  args: dict[str, Any]) -> Any:
    doc = ctx.need(args["id"], "CustomField")
    group = _lower(m.group(1)) + "Options"
    options = dict(doc.get(group) or {})
    options.update({k: v for k, v in args.items() if k != "id"})
    doc[group] = options
    return ctx.save(doc)


def _edit_named(ctx: Context, info: GraphQLResolveInfo, m: re.Match[str],
                args: dict[str, Any]) -> Any:
    kind = _kind_of(info)
    if not (kind in KINDS and m.group(1).startswith(kind) and "id" in args):
        return _NOT_THIS
    return _edit(ctx, info, kind, m.group(1)[len(kind):], args)


# Mutations by the pattern of their name, tried in this order (editX last: it matches most)
_BY_PATTERN: list[tuple[re.Pattern[str], Callable[[Context, GraphQLResolveInfo,
                                                    re.Match[str], dict[str, Any]], Any]]] = [
    (re.compile(r"editTaskCategoryStatus(Color|MaxConcurrentTasks)"), _edit_status),
    (re.compile(r"editExpenseRecordAmount(Value|Currency)"), _edit_amount),
    (re.compile(r"editOrganisation(Name|Color)"), _edit_organisation),
    (re.compile(r"(un)?archive(\w+?)(s)?"), _archive_named),
    (re.compile(r"delete(\w+?)(s)?"), _delete_named),
    (_OPTION, _edit_options),
    (re.compile(r"(edit|add|remove|set)CustomFieldVisibility(\w+)"),
     lambda ctx, _info, m, args: _visibility(ctx, m.group(1), m.group(2), args)),
    (re.compile(r"edit(\w+)"), _edit_named),
]


def _visibility(ctx: Context, verb: str, what: str, args: dict[str, Any]) -> Doc:
    doc = ctx.need(args["id"], "CustomField")
    vis = doc["visibility"]
    if verb == "edit" and what in ("Persons", "AbsenceTypes"):
        vis[_lower(what)] = args["enabled"]
    elif verb == "edit" and what in ("Projects", "Tasks"):
        vis[_lower(what)] = (vis.get(_lower(what)) or []) if args["enabled"] else None
    elif what in ("Project", "Task"):
        key = _lower(what) + "s"
        ctx.need(args["categoryId"], what + "Category")
        rows = [r for r in (vis.get(key) or []) if r["categoryId"] != args["categoryId"]]
        if verb != "remove":
            rows.append({"categoryId": args["categoryId"], "levels": list(args["levels"])})
        vis[key] = rows
    elif what == "TimeRecords":
        vis["timeRecords"] = ({"projectCategories": None, "taskCategories": None,
                               "absences": False} if args["enabled"] else None)
    elif what in ("TimeRecordProjectCategories", "TimeRecordTaskCategories", "TimeRecordAbsences"):
        tr = vis.get("timeRecords") or {"projectCategories": None, "taskCategories": None,
                                        "absences": False}
        key = _lower(what[len("TimeRecord"):])
        tr[key] = args.get("enabled") if key == "absences" else args.get("categoryIds")
        vis["timeRecords"] = tr
    else:
        raise NotEmulated(f"the mutation {verb}CustomFieldVisibility{what} is not emulated")
    return ctx.save(doc)


# editX<Field> where the field name differs from the argument's field
_EDIT_FIELD = {"Role": "roleId", "Parent": "parentId", "Status": "statusId", "Task": "taskId",
               "Projects": "projectIds", "Absence": "absenceId"}


def _edit(ctx: Context, info: GraphQLResolveInfo, kind: str, what: str,
          args: dict[str, Any]) -> Doc:
    doc = ctx.need(args["id"], kind)
    values = {k: v for k, v in args.items() if k != "id"}
    if what == "Period":  # editTaskPeriod(id, startTime, endTime, effort): each one given
        for key, value in values.items():
            _set_field(doc, info, key, value)
        return ctx.save(doc)
    if len(values) != 1:
        raise NotEmulated(f"the mutation edit{kind}{what} is not emulated by the sandbox")
    (arg, value), = values.items()
    fields = getattr(info.schema.get_type("Beebole" + kind), "fields", {})
    field = _EDIT_FIELD.get(what, _lower(what) if _lower(what) in fields else arg)
    if what == "Expense":
        field = "expenseTypeId"
    if kind == "CustomFieldValue":  # editCustomFieldValueText(id, textValue)
        field = arg
        _check_value(ctx.need(doc["customFieldId"], "CustomField"), values)
    # Only what a reader can see back: a field of the type holding a value of its kind, or
    # a reference. Anything else (accrual settings, availability objects...) is not kept.
    target = fields.get(field)
    leaf = target is not None and isinstance(get_named_type(target.type), GraphQLScalarType)
    kept = (leaf or field in REF_KIND or field == "projectIds"
            or (target is not None and get_named_type(target.type).name == "BeeboleTime"))
    if not kept:
        raise NotEmulated(f"the mutation edit{kind}{what} is not emulated by the sandbox")
    _check_refs(ctx, kind, {field: value})
    if field == "parentId" and value is not None:
        if any(d["id"] == value for d in _descendants(ctx, doc)):
            raise GraphQLError("InvalidArgument: a node cannot move under itself")
    if field == "email":
        _unique_email(ctx, value, doc["id"])
    _set_field(doc, info, field, value)
    return ctx.save(doc)


def _clone_time_records(ctx: Context, info: GraphQLResolveInfo, args: dict[str, Any]) -> Any:
    person = ctx.need(args["personId"], "Person")
    shift = args["targetStartTime"] - args["sourceStartTime"]

    def starting_in(start: int, end: int) -> list[Doc]:  # a record belongs to its start's day
        return [r for r in ctx.store.all("TimeRecord") if r["personId"] == person["id"]
                and start <= r["startTime"]["ts"] <= end]

    source = starting_in(args["sourceStartTime"], args["sourceEndTime"])
    if args.get("replaceExisting"):
        for old in starting_in(args["targetStartTime"], args["targetEndTime"]):
            ctx.store.delete(old["id"])
    out = []
    for rec in source:
        copy = {k: v for k, v in rec.items() if k != "id"}
        copy["startTime"] = btime(rec["startTime"]["ts"] + shift)
        if rec.get("endTime"):
            copy["endTime"] = btime(rec["endTime"]["ts"] + shift)
        if copy["startTime"]["ts"] <= args["targetEndTime"]:
            out.append(ctx.save(copy))
    return out


def _duplicate(kind: str) -> Callable[[Context, GraphQLResolveInfo, dict[str, Any]], Doc]:
    def duplicate(ctx: Context, info: GraphQLResolveInfo, args: dict[str, Any]) -> Doc:
        original = ctx.need(args["id"], kind)
        changes = {k: v for k, v in args.items() if k != "id" and v is not None}
        _check_refs(ctx, kind, changes)
        if kind == "Person":
            if "email" not in changes:
                raise GraphQLError("InvalidArgument: a duplicated person needs its own email")
            _unique_email(ctx, changes["email"], None)
        if kind == "Project" and changes.get("parentId"):
            parent = ctx.need(changes["parentId"], "Project")
            if any(d["id"] == parent["id"] for d in _descendants(ctx, original)):
                raise GraphQLError("InvalidArgument: a copy cannot go under its own original")
            changes["categoryId"] = parent.get("categoryId")
        # a project comes with its subprojects; each copy keeps its original's relations
        nodes = _descendants(ctx, original) if kind == "Project" else [original]
        new_ids: dict[str, str] = {}
        for node in nodes:  # parents before children
            copy = {k: v for k, v in node.items() if k != "id"}
            if node is original:
                copy.update(changes)
            else:
                copy["parentId"] = new_ids[node["parentId"]]
            copy["archived"] = False if node is original else node.get("archived", False)
            new_ids[node["id"]] = ctx.save(copy)["id"]
            ctx.store.copy_relations(node["id"], new_ids[node["id"]])
        return ctx.need(new_ids[original["id"]], kind)
    return duplicate


def _unique_email(ctx: Context, email: str, own_id: str | None) -> None:
    for other in ctx.store.all("Person"):
        if other["id"] != own_id and other["email"].lower() == str(email).lower():
            raise GraphQLError(f"DuplicateEmail: {email} is already in this account")


def _task_move(ctx: Context, info: GraphQLResolveInfo, args: dict[str, Any]) -> Doc:
    category = ctx.need(args["categoryId"], "TaskCategory")
    category["taskMove"] = args["taskMove"]
    ctx.save(category)
    statuses = [s for s in ctx.store.all("Status") if s["category"] == category["id"]]
    if not statuses:  # the mutation answers a status; a category without one has none
        raise GraphQLError("InvalidArgument: this task category has no status yet")
    return statuses[0]


def _move_tasks(ctx: Context, info: GraphQLResolveInfo, args: dict[str, Any]) -> Doc:
    status = ctx.need(args["targetStatusId"], "Status")
    for task_id in args["taskIds"]:
        task = ctx.need(task_id, "Task")
        if task.get("categoryId") != status["category"]:
            raise GraphQLError("InvalidArgument: a task moves only to a status of its category")
        task["statusId"] = status["id"]
        ctx.save(task)
    status["taskOrder"] = list(args["orderedTaskIds"])
    return ctx.store.put(status)


def _timesheet(status: str) -> Callable[[Context, GraphQLResolveInfo, dict[str, Any]], Doc]:
    def change(ctx: Context, info: GraphQLResolveInfo, args: dict[str, Any]) -> Doc:
        if status == "s":
            person = ctx.need(args["personId"], "Person")
            event: Doc = {"__kind": "ApprovalEvent", "personId": person["id"], "stage": 0,
                          "startTime": btime(args["startTime"]),
                          "endTime": btime(args["endTime"])}
        else:
            event = ctx.need(args["id"], "ApprovalEvent")
            if event["status"] != "s":
                raise GraphQLError("InvalidState: only a submitted timesheet can be "
                                   "approved or rejected")
            if status == "r":
                event.update(rejectedStage=args["stage"], comment=args["comment"])
        event.update(status=status, ts=btime(ctx.now))
        return ctx.save(event)
    return change


def _reminder(ctx: Context, info: GraphQLResolveInfo, args: dict[str, Any]) -> bool:
    for person_id in args["personIds"]:
        ctx.need(person_id, "Person")
    return True  # the sandbox sends no email


_SPECIAL: dict[str, Callable[[Context, GraphQLResolveInfo, dict[str, Any]], Any]] = {
    "addTaskCategoryStatus": _add_status,
    "editTaskCategoryStatusName": _rename_status,
    "editTaskCategoryStatusOrder": _order_statuses,
    "deleteTaskCategoryStatus": _delete_status,
    "addCustomFieldTextOptionAllowedValue": _allowed_value,
    "removeCustomFieldTextOptionAllowedValue": _allowed_value,
    "cloneTimeRecords": _clone_time_records,
    "duplicatePerson": _duplicate("Person"),
    "duplicateProject": _duplicate("Project"),
    "editCategoryTaskMove": _task_move,
    "moveTasksToStatus": _move_tasks,
    "submitTimesheet": _timesheet("s"),
    "approveTimesheet": _timesheet("a"),
    "rejectTimesheet": _timesheet("r"),
    "sendTimesheetReminder": _reminder,
}


def root_resolver(audit: Callable[[Context, str, dict[str, Any], Any], None]) -> Any:
    """The field resolver: root fields dispatch to the families, the rest read documents."""

    def resolve(src: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
        parent = info.parent_type.name
        if parent == "Query":
            return query(info.context, info, args)
        if parent == "Mutation":
            ctx: Context = info.context
            ctx.store.begin()
            try:
                result = mutation(ctx, info, args)
                audit(ctx, info.field_name, args, result)
            except BaseException:
                ctx.store.rollback()
                raise
            ctx.store.commit()
            return result
        return resolve_field(src, info, **args)

    return resolve
