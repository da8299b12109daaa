"""Issue 24: a budgeted check compares only what its run read (the rest of the
account is not run through the planner), and finds exactly the drift a full plan finds.

Its comparison used to put every declared entity through the planner, as stub
pairs where unread: at 10,000 people that cost a full plan's comparison (1.4 s)
for 100 calls. Now only the entities a run read, and stubs of those they refer
to, are compared; these tests hold it to the full plan's verdict.
"""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from beeplan.model import entity_key
from beeplan.planner import Action
from beeplan.platforms.v2.client import BeeboleClient
from beeplan.usecases import steps as workflow
from tests.test_targeted import ORG, apply_org, load, write

START = datetime(2026, 1, 5, 0, 0, tzinfo=timezone.utc)


def drifted(doc: dict[str, Any], grouped: bool) -> dict[str, Any]:
    """The manifests after changes the account does not have: each kind of drift once."""
    doc = copy.deepcopy(doc)
    acme = doc["companies"][0]
    doc["tasks"][0]["name"] = "Admin work"  # a field, read by a list
    acme["projects"][0]["managers"] = ["li"]  # a relation naming a person not read with it
    acme["projects"][0]["subprojects"].append({"xid": "beta", "name": "Beta"})  # missing
    people = {p["xid"]: p for p in doc["people"]}
    people["rosa"]["leaders"] = ["li"]  # a leader in another list than rosa's relation
    people["li"]["groups"] = ["us"] if not grouped else ["eu"]  # a group moved
    people["bo"]["active"] = False  # a deactivation
    doc["people"].append({"xid": "dee", "name": "Dee Ray", "company": "globex"})
    # Missing under a project that stays inactive: a problem only its (unread) parent shows.
    acme["projects"][1]["subprojects"] = [{"xid": "late", "name": "Late"}]
    return doc


def about(problem: str) -> str:
    """What a problem is about: the entry it names (its wording may name live details)."""
    return problem.split(":", 1)[0] if ".yaml" not in problem else problem.split(")", 1)[0]


def key(action: Action) -> tuple[str, str, str]:
    return (action.op, entity_key(action.target), action.relation or "")


@pytest.mark.parametrize("grouped", [False, True], ids=["by-entity", "by-assignments"])
def test_rotating_checks_find_the_full_plans_drift_and_no_other(
    client: BeeboleClient, tmp_path: Path, grouped: bool
) -> None:
    doc = copy.deepcopy(ORG)
    doc["companies"][0]["projects"][1]["active"] = False
    del doc["companies"][0]["projects"][1]["managers"]  # no unit of its own but its list
    if grouped:  # more entities manage groups than there are groups: group.assignments
        for person in doc["people"][3:]:
            person["groups"] = ["us"]
    apply_org(client, doc, tmp_path / "m")
    write(tmp_path / "m", drifted(doc, grouped))
    desired = load(tmp_path / "m")
    plan = workflow.compute_plan(client, desired, 4)
    full = {key(a) for a in plan.actions}
    assert len(full) >= 6
    problems = {about(p) for p in plan.problems}
    assert problems  # the subproject under the inactive project
    found: set[tuple[str, str, str]] = set()
    state = tmp_path / "state.json"
    # Small runs, each comparing a few units against stubs. (A drifted unit is read again
    # first in every run: the budget leaves room for the rotation to go on past them.)
    for hour in range(40):
        run = workflow.budgeted_check(client, desired, tmp_path / "m", 8, state,
                                      now=START + timedelta(hours=hour))
        assert not run.errors, run.errors
        seen = {key(a) for a in run.plan.actions}
        assert seen <= full, seen - full  # never a drift the account does not have
        # Each run that reads the missing subproject's list says why it cannot be created,
        # even without reading its parent's list: the parent's declaration (a stub) says
        # the parent stays inactive.
        said = {about(p) for p in run.plan.problems}
        assert said == (problems if ("create", "subproject:late", "") in seen else set()), (
            hour, run.plan.problems)
        found |= seen
        if found == full:
            break
    assert found == full  # every drift, found by some run


def test_list_digests_keep_the_order_they_were_made_with() -> None:
    """The state file's digests of list units sort members by ``str`` of their declared
    facts; the faster sort by key must give that order for any xid (quotes, spaces,
    '#', non-ASCII), or every state file would restart its rotation."""
    from beeplan.budgeted_check import _by_str_of_declared, _declared
    from beeplan.model import Entity, Ref

    xids = ["p1", "p10", "p1 x", "p1!", "o'x", 'o"x', "#13", "p1'", "é", "p\\1", "P1", "p"]
    members = [Entity("person", Ref("person", xid=x), f"N {x}") for x in xids]
    members += [Entity("person", Ref("person", id=n), f"I {n}") for n in (12, 2, 120)]
    # Keys all different (the sort by key), then two alike (an xid "#12" and the id 12).
    for group in (members, [*members, Entity("person", Ref("person", xid="#12"), "N #12")]):
        fast = [_declared(e) for e in _by_str_of_declared(group)]
        assert fast == sorted((_declared(e) for e in group), key=str)
