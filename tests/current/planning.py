"""Test helpers for the current platform's planner: load a set, and bring an account to it.

``converge`` runs a plan's actions one at a time through the real client, over HTTP,
on the sandbox (resolving ``$ref`` and storing each create's xid, as apply.py's
contract says): the tests of the planner can then reach an account that matches
the manifests without depending on the batched apply, which has its own tests.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from beeplan.manifest import load
from beeplan.manifest._written import WrittenForOther
from beeplan.planner import Plan
from beeplan.platforms.current.client import Arg, CurrentClient, Op
from beeplan.platforms.current.desired import Desired, load_desired
from beeplan.platforms.current.kinds import BY_NAME, VALUE_ENTITY_TYPES
from beeplan.platforms.current.reader import read_account

REFERENCE = Path(__file__).resolve().parents[2] / "beeplan/platforms/current/sandbox/schema.json"


def desired_of(path: Path) -> Desired:
    try:
        load(path, [])
    except WrittenForOther as other:
        return load_desired(other.files, other.problems)
    raise AssertionError(f"{path} is not a current set")


@lru_cache(maxsize=1)
def _mutations() -> dict[str, Any]:
    data = json.loads(REFERENCE.read_text("utf-8"))
    schema = data.get("data", data)["__schema"]
    types = {t["name"]: t for t in schema["types"]}
    return {"types": types, "fields": {f["name"]: f for f in
                                       types[schema["mutationType"]["name"]]["fields"]}}


def _type(t: dict[str, Any]) -> str:
    if t["kind"] == "NON_NULL":
        return _type(t["ofType"]) + "!"
    if t["kind"] == "LIST":
        return f"[{_type(t['ofType'])}]"
    return str(t["name"])


def op_of(service: str, payload: dict[str, Any]) -> Op:
    m = _mutations()
    f = m["fields"][service]
    types = {a["name"]: _type(a["type"]) for a in f["args"]}
    ret = f["type"]
    while ret.get("ofType"):
        ret = ret["ofType"]
    has_id = ret["kind"] == "OBJECT" and any(x["name"] == "id"
                                             for x in m["types"][ret["name"]]["fields"])
    return Op(service, tuple(Arg(k, types[k], v) for k, v in payload.items()),
              "id" if has_id else "__typename")


def converge(client: CurrentClient, plan: Plan, xid_field: str = "External ID") -> None:
    """Run every action, in dependency order, one mutation each; fail on any failure."""
    ids: dict[str, str] = {}
    done: set[str] = set()
    pending = list(plan.actions)
    field_id = read_account(client, xid_field=xid_field).xid_field
    while pending:
        ready = [a for a in pending if all(d in done for d in a.depends_on)]
        assert ready, f"a dependency cycle: {[a.id for a in pending]}"
        if any(not a.is_removal for a in ready):
            ready = [a for a in ready if not a.is_removal]
        for action in ready:
            pending.remove(action)
            payload = {k: ids[v["$ref"]] if isinstance(v, dict) else v
                       for k, v in action.payload.items()}
            [out] = client.mutate([op_of(action.service, payload)])
            assert out.status == "done", (action.id, out.error)
            data = out.data[0] if isinstance(out.data, list) else out.data
            if isinstance(data, dict) and "id" in data:
                ids[action.id] = data["id"]
            done.add(action.id)
            if action.op == "create" and action.kind == "customField" \
                    and action.name == xid_field:
                field_id = ids[action.id]
            if action.op == "create" and BY_NAME[action.kind].xid_field and action.target.xid:
                [stored] = client.mutate([op_of("addCustomFieldValue", {
                    "customFieldId": field_id, "entityType": VALUE_ENTITY_TYPES[action.kind],
                    "entityId": ids[action.id], "textValue": action.target.xid})])
                assert stored.status == "done", stored.error
