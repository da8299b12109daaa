"""A live account written as plain JSON, for golden planner cases.

{"custom_fields": [{"id": 7206, "name": "Industry"}],
 "entities": [{"kind": "project", "id": 3, "xid": "dev", "name": "Dev",
               "parent": {"id": 1, "xid": "acme"}, "active": true,
               "fields": {"startDate": "2017-10-13"},
               "relations": {"managers": [{"id": 9, "xid": "jane"}]}}]}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from beeplan.model import KINDS, RELATION_TARGET, CustomField, Entity, Ref, State


def _ref(kind: str, obj: dict[str, Any]) -> Ref:
    return Ref(kind, xid=obj.get("xid"), id=obj.get("id"))


def state_from_json(path: Path) -> State:
    doc = json.loads(path.read_text())
    entities = []
    for e in doc.get("entities", []):
        kind = e["kind"]
        relations: dict[str, Any] = {}
        for rel, value in e.get("relations", {}).items():
            target = RELATION_TARGET[rel]
            relations[rel] = value if target is None else frozenset(_ref(target, r) for r in value)
        parent = e.get("parent")
        entities.append(
            Entity(
                kind=kind,
                ref=_ref(kind, e),
                name=e["name"],
                parent=_ref(KINDS[kind].parent_kind or kind, parent) if parent else None,
                active=e.get("active", True),
                fields=e.get("fields", {}),
                relations=relations,
            )
        )
    fields = tuple(CustomField(cf["id"], cf["name"]) for cf in doc.get("custom_fields", []))
    # The file is the whole account, unless it says which kinds it lists whole.
    complete = frozenset(doc.get("complete_kinds", KINDS))
    return State(entities=tuple(entities), custom_fields=fields, complete_kinds=complete)
