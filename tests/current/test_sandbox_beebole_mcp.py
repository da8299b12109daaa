"""A client written for the real API works against the sandbox.

``data/beebole_mcp_operations.json`` holds, as data, the GraphQL documents
that the public client NeoNexAI/beebole-mcp (commit 219d52a, verified by its
author against the real API) sends for its curated tools on projects, tasks,
people, tags, absence types and time records, generated with that client's
own selection builder over its bundled schema. Each is sent as that client
sends it, and the answer is checked for what the client reads: no ``errors``
(it throws on any), ``data`` not empty, and every field it selected present.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from graphql import (
    FieldNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    parse,
)

from .conftest import Gql

DATA = json.loads((Path(__file__).parent / "data" / "beebole_mcp_operations.json")
                  .read_text("utf-8"))


def _fill(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str) and value.startswith("@"):
        return ids[value[1:]]
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


def _check_shape(selection: SelectionSetNode, value: Any, where: str) -> int:
    """Every selected field is in the answer, objects where a selection asked for one."""
    if isinstance(value, list):
        return sum(_check_shape(selection, v, f"{where}[{i}]") for i, v in enumerate(value))
    if value is None:
        return 0
    assert isinstance(value, dict), f"{where}: expected an object, got {value!r}"
    checked = 0
    for node in selection.selections:
        if isinstance(node, InlineFragmentNode):
            checked += _check_shape(node.selection_set, value, where)
            continue
        assert isinstance(node, FieldNode)
        key = (node.alias or node.name).value
        assert key in value, f"{where}.{key} is missing"
        checked += 1
        if node.selection_set is not None:
            checked += _check_shape(node.selection_set, value[key], f"{where}.{key}")
    return checked


def test_the_curated_operations_of_beebole_mcp_answer_in_the_shapes_it_reads(gql: Gql) -> None:
    ids = dict(gql.ids)
    tools = set()
    for op in DATA["operations"]:
        variables = _fill(op["variables"], ids)
        answer = gql.post(op["query"], variables)
        assert answer.status_code == 200, op["tool"]
        body = answer.json()
        assert not body.get("errors"), (op["tool"], body.get("errors"))
        data = body["data"]
        assert data and any(v is not None for v in data.values()), op["tool"]
        assert data[op["reads"]] is not None, op["tool"]  # what the tool returns
        document = parse(op["query"])
        operation = document.definitions[0]
        assert isinstance(operation, OperationDefinitionNode)
        assert _check_shape(operation.selection_set, data, op["tool"]) > 0
        if op["reads"] == "addTimeRecord":
            ids["record"] = data["addTimeRecord"]["id"]
        tools.add(op["tool"])
    assert {"beebole_list_projects", "beebole_get_task", "beebole_list_persons",
            "beebole_list_tags", "beebole_list_absence_types", "beebole_add_time_record",
            "beebole_edit_time_record", "beebole_count_time_records"} <= tools


def test_beebole_mcp_reads_are_the_accounts_own_answers(gql: Gql) -> None:
    """Not just shapes: the filters the client sends select what they say."""
    by_tool = {(op["tool"], json.dumps(op["variables"])): op for op in DATA["operations"]}
    op = by_tool[("beebole_list_projects", json.dumps({"filter": [{"assignedPersonId": "@bob"}],
                                                       "categoryId": "@clients"}))]
    data = gql.post(op["query"], _fill(op["variables"], gql.ids)).json()["data"]
    assert [p["name"] for p in data["getProjects"]] == ["Website"]
    assert data["getProjects"][0]["parent"]["name"] == "Acme"
    edit = next(o for o in DATA["operations"] if o["tool"] == "beebole_edit_time_record")
    add = next(o for o in DATA["operations"] if o["reads"] == "addTimeRecord")
    record = gql.post(add["query"], _fill(add["variables"], gql.ids)).json()["data"]
    ids = {**gql.ids, "record": record["addTimeRecord"]["id"]}
    edited = gql.post(edit["query"], _fill(edit["variables"], ids)).json()["data"]["a2"]
    assert (edited["comment"], edited["duration"], edited["wfh"]) == ("pairing", 5400000, True)
    assert edited["person"]["name"] == "Alice Martin"
