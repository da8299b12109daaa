"""What a believable answer looks like, per service (the shapes of the API reference).

An HTTP 200 proves nothing: a captive portal, a proxy's error page, a
truncated body or a bare ``{"status": "ok"}`` all come with one. The client
counts an answer only when it has the shape the reference shows for the
service called; anything else is reported, never guessed around.

Only what beeplan reads is checked in depth: the keys it uses and the ids and
counts it turns into numbers. A service beeplan does not know by shape (the
time services) still needs a JSON object with a ``status``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...model import KINDS

# The reference shows these two answers without a "status" key; the payload
# key alone then has to be right.
STATUS_OPTIONAL = frozenset({"group.tree", "custom_field.list"})

# Relation listings: service suffix -> the key that must hold the list.
RELATION_KEYS = {
    "groups": "groups",
    "members": "members",
    "managers": "members",  # the reference answers project.managers under "members"
    "leaders": "leaders",
    "custom_fields": "customFields",
    "specific_tasks": "specificTasks",
}
ENTITY_KINDS = frozenset(KINDS) | {"custom_field"}
# The export job: started, then polled; both answer a "job" object.
JOB_SERVICES = frozenset({"time_entry.export", "time_entry.get_job_info"})


def is_id(value: Any) -> bool:
    """An API id: an integer, or a string of ASCII digits (public clients send both)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value >= 0
    return isinstance(value, str) and value.isascii() and value.isdigit()


def problem(service: str, answer: Any) -> str | None:
    """What is wrong with a decoded answer to ``service``; None when it can be believed."""
    if not isinstance(answer, Mapping):
        return f"expected a JSON object, got {_json_type(answer)}"
    status = answer.get("status")
    if status == "error":
        return _error_problem(answer)
    if status != "ok" and not (status is None and service in STATUS_OPTIONAL):
        return 'no "status": "ok" in the answer' if status is None else (
            f'unknown "status" {_short(status)}'
        )
    return _payload_problem(service, answer)


def _error_problem(answer: Mapping[str, Any]) -> str | None:
    message = answer.get("message")
    if not isinstance(message, str) or not message.strip():
        return 'an error answer ("status": "error") without a message'
    return None


def _payload_problem(service: str, answer: Mapping[str, Any]) -> str | None:
    """What is wrong with an ``ok`` answer's payload, by the service's shape."""
    kind, _, verb = service.rpartition(".")
    if service in JOB_SERVICES:
        return _object(answer, "job")
    if kind not in ENTITY_KINDS:
        return None
    if verb == "create":
        return _created_problem(answer)
    if verb == "get":
        return _object(answer, kind)
    if service == "custom_field.list":
        return _list(answer, "customFields", required=True)
    if service == "group.tree":
        return _list(answer, "groups", required=True, nested="groups")
    if verb == "list":
        return _list(answer, KINDS[kind].plural, required=True)
    if service == "group.assignments":
        return _assignments_problem(answer)
    if verb in RELATION_KEYS:
        found = _list(answer, RELATION_KEYS[verb], required=True)
        if found is None and verb == "members":
            found = _list(answer, "groups", required=False)
        return found
    return None


def _created_problem(answer: Mapping[str, Any]) -> str | None:
    if "id" in answer:
        return None if is_id(answer["id"]) else f'"id" is not an id: {_short(answer["id"])}'
    xid = answer.get("xid")
    if isinstance(xid, (str, int)) and not isinstance(xid, bool) and str(xid):
        return None
    return 'the "id" (or "xid") of the created entity is missing'


def _assignments_problem(answer: Mapping[str, Any]) -> str | None:
    """group.assignments lists each kind under its plural; any may be absent."""
    for spec in KINDS.values():
        found = _list(answer, spec.plural, required=False)
        if found:
            return found
    return None


def _object(answer: Mapping[str, Any], key: str) -> str | None:
    obj = answer.get(key)
    if not isinstance(obj, Mapping):
        return f'"{key}" is missing or not an object' if obj is None else (
            f'"{key}" is {_json_type(obj)}, not an object'
        )
    return _numbers(obj, key)


def _list(
    answer: Mapping[str, Any], key: str, *, required: bool, nested: str | None = None
) -> str | None:
    items = answer.get(key)
    if items is None:
        return f'"{key}" is missing' if required else None
    if not isinstance(items, list):
        return f'"{key}" is {_json_type(items)}, not a list'
    for i, item in enumerate(items):
        where = f"{key}[{i}]"
        if not isinstance(item, Mapping):
            return f"{where} is {_json_type(item)}, not an object"
        if "id" not in item:
            return f'{where} has no "id"'
        found = _numbers(item, where)
        if found:
            return found
        if nested is not None and isinstance(item.get(nested), list):
            found = _list(item, nested, required=False, nested=nested)
            if found:
                return f"{where}.{found}"
    return None


def _numbers(obj: Mapping[str, Any], where: str, depth: int = 0) -> str | None:
    """Every ``id`` and ``count`` beeplan turns into a number, at any depth, is one;
    every ``name`` a string, ``active`` a boolean, ``xid`` a string or number."""
    if depth > 64:
        return f"{where} is nested too deeply"
    if "id" in obj and not is_id(obj["id"]):
        return f'{where}.id is not an id: {_short(obj["id"])}'
    if "count" in obj and not is_id(obj["count"]):
        return f'{where}.count is not a count: {_short(obj["count"])}'
    # The fields a plan compares: a name of 5 or an "active" of "false" would
    # otherwise be read as "5" and as active, and planned against.
    if "name" in obj and not isinstance(obj["name"], str):
        return f'{where}.name is not a string: {_short(obj["name"])}'
    if "active" in obj and not isinstance(obj["active"], bool):
        return f'{where}.active is not true or false: {_short(obj["active"])}'
    xid = obj.get("xid")
    if xid is not None and (isinstance(xid, bool) or not isinstance(xid, (str, int))):
        return f"{where}.xid is not an xid: {_short(xid)}"
    for name, value in obj.items():
        if isinstance(value, Mapping):
            found = _numbers(value, f"{where}.{name}", depth + 1)
            if found:
                return found
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, Mapping):
                    found = _numbers(item, f"{where}.{name}[{i}]", depth + 1)
                    if found:
                        return found
    return None


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
