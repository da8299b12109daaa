"""API v2's calls for a budgeted check (``check --max-calls``): one call per unit,
and what each is expected to cost in bytes, before it is made.

The core (``beeplan/budgeted_check.py``) decides which facts a unit verifies;
this says which API v2 service verifies them and with what payload.
"""

from __future__ import annotations

from typing import Any

from ...model import Ref
from .client import CALL_BYTES, RELATION_BYTES

# Bytes per entity a list answer shows, and the call's own bytes besides (request and
# answer envelope): measured on the benchmark org (benchmarks/generate.py) against the
# sandbox, which answers with the reference's fields. A list's answer grows with what it
# lists (a company of 500 people: about 95 KB), so a per-call average says little.
LIST_ITEM_BYTES = {
    "group.tree": 55,
    "company.list": 115,
    "project.list": 210,
    "task.list": 120,
    "person.list": 195,
    "absence.list": 160,
    "subproject.list": 140,
    "group.assignments": 110,  # per entity shown in the group
}
CALL_OVERHEAD_BYTES = 120


class CheckCalls:
    """The ``CheckCalls`` of API v2 (``platforms/base.py``)."""

    def list_call(self, kind: str, parent: Ref | None) -> tuple[str, dict[str, Any]]:
        if kind == "group":
            return "group.tree", {}  # the whole tree in one call
        if parent is None:
            return f"{kind}.list", {}
        return f"{kind}.list", {parent.kind: parent.payload()}

    def relation_call(self, kind: str, listing: str, owner: Ref) -> tuple[str, dict[str, Any]]:
        return f"{kind}.{listing}", owner.payload()

    def assignments_call(self, group: Ref) -> tuple[str, dict[str, Any]]:
        return "group.assignments", group.payload()

    def call_bytes(self, service: str, items: int) -> int:
        per_item = LIST_ITEM_BYTES.get(service)
        if per_item is None:  # a relation listing: small, and not by count
            return CALL_BYTES.get(service, RELATION_BYTES)
        return CALL_OVERHEAD_BYTES + per_item * items


CHECK_CALLS = CheckCalls()
