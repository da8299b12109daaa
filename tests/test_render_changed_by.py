"""Who changed a drifted entity outside beeplan: shown beside its changes in every format.

Plain values: the renderers only show ``Plan.changed_by``; the current platform's
lookup that fills it is tested against its sandbox (tests/current/test_authors.py).
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

from beeplan.model import Entity, Ref, State
from beeplan.planner import ChangedBy, Plan, make_plan, plan_digest
from beeplan.render import render_markdown, render_text
from beeplan.render.jsonplan import plan_from_json, plan_to_json

TEXT = "renamed by Jane Clark (jane@example.com) on 2026-12-01 14:03 UTC"
OP = "2026-12-01 14:03 UTC editProjectName by Jane Clark: name=Acme Inc"
NOTE = "the audit trail was read for the last 7 days (one window)"


def _drifted() -> tuple[State, State]:
    want = State(entities=(Entity("company", Ref("company", "acme"), "ACME"),))
    live = State(entities=(Entity("company", Ref("company", "acme", 7), "Acme Inc"),))
    return want, live


def _plan(**kw: Any) -> Plan:
    want, live = _drifted()
    plan = make_plan(want, live)
    assert plan.actions, "the fixture must drift"
    return replace(plan, **kw)


def _authored() -> Plan:
    return _plan(changed_by=(ChangedBy(Ref("company", "acme", 7), TEXT, "Jane Clark",
                                       "jane@example.com", "2026-12-01T14:03:00Z", (OP,)),),
                 changed_by_notes=(NOTE,))


def test_text_shows_the_author_beside_the_change_and_the_note() -> None:
    lines = render_text(_authored()).splitlines()
    head = lines.index("  company acme (ACME)")
    assert lines[head + 1] == f"    changed outside beeplan: {TEXT}"
    assert lines[head + 2] == f"      {OP}"
    assert lines[head + 3].lstrip().startswith("~ update")
    assert f"Who changed it: {NOTE}" in lines


def test_markdown_lists_authors_in_the_head_and_beside_the_change() -> None:
    text = render_markdown(_authored())
    assert "**Changed outside beeplan**" in text
    assert f"- company acme (ACME): {TEXT}" in text
    assert f"    changed outside beeplan: {TEXT}" in text
    assert f"> **Who changed it:** {NOTE}" in text


def test_json_carries_it_and_reads_it_back_without_changing_the_digest() -> None:
    plan = _authored()
    doc = json.loads(plan_to_json(plan))
    assert doc["changed_by"] == [{
        "target": {"kind": "company", "xid": "acme", "id": 7}, "text": TEXT,
        "person": "Jane Clark", "email": "jane@example.com", "at": "2026-12-01T14:03:00Z",
        "operations": [OP]}]
    assert doc["changed_by_notes"] == [NOTE]
    again, _ = plan_from_json(plan_to_json(plan))  # validated against the plan schema
    assert again.changed_by == plan.changed_by and again.changed_by_notes == (NOTE,)
    # display only: what the plan does, and so its digest, is the same without it
    assert plan_digest(plan) == plan_digest(_plan()) == doc["plan_digest"]


def test_without_a_lookup_every_rendering_reads_as_before() -> None:
    plan = _plan()
    assert "changed outside beeplan" not in render_text(plan).lower()
    assert "Changed outside beeplan" not in render_markdown(plan)
    doc = json.loads(plan_to_json(plan))
    assert "changed_by" not in doc and "changed_by_notes" not in doc


def test_an_authors_name_cannot_bring_terminal_codes_or_markdown() -> None:
    hostile = "renamed by \x1b[31mEve\x1b[0m <img src=x> [x](http://e.test) on 2026-12-01"
    plan = _plan(changed_by=(ChangedBy(Ref("company", "acme", 7), hostile),))
    text = render_text(plan)
    assert "\x1b" not in text and "\\x1b[31mEve" in text
    head = render_markdown(plan).split("<details>")[0]  # the details are a code fence
    assert re.search(r"(?<!\\)<img", head) is None and "](http://" not in head
