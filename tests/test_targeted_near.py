"""Issue 24: a targeted plan gives the planner only the stubs its lookups reach, and
keeps only the email holders of the people it lists; the plan is the one every stub
gives (``plan_changes(every_stub=True)``, the path before), on generated orgs with
changes of every kind, against the sandbox."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from beeplan import platforms
from beeplan.changed import diff_manifests, plan_changes
from beeplan.manifest import load
from beeplan.model import State
from beeplan.planner import Plan, plan_digest
from beeplan.platforms.v2.client import BeeboleClient
from beeplan.platforms.v2.sandbox.server import SandboxServer
from beeplan.usage import deactivated, targets_in
from benchmarks.generate import Org, OrgSpec, generate
from benchmarks.quota import five_entity_change
from benchmarks.sandbox_host import BENCH_TOKEN, UNLIMITED
from benchmarks.seeding import seed_account

SPEC = OrgSpec(companies=3, projects=9, tasks=4, groups=12, people=45, absences=3,
               leaders_per_company=2, managers_per_company=2)
Doc = dict[str, Any]


def write(org: Org, where: Path, settings: Doc) -> Path:
    where.mkdir(parents=True, exist_ok=True)
    doc = {"settings": settings, "groups": org.groups, "companies": org.companies,
           "tasks": org.tasks, "people": org.people, "absences": org.absences}
    (where / "org.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return where


def person(org: Org, xid: str) -> Doc:
    return next(p for p in org.people if p["xid"] == xid)


def referenced(org: Org) -> set[str]:
    """The people some entry names (a leader, manager or member): not removable alone."""
    out = {x for p in org.people for x in p.get("leaders", [])}
    for project in org.projects():
        out |= set(project.get("managers", [])) | set(project.get("members", {}).get("people", []))
    return out


def _people(org: Org, base: Org, client: BeeboleClient) -> None:
    """Removed, deactivated (a leader), moved, new with leaders, renamed."""
    named = referenced(org)
    free = [p for p in org.people if p["xid"] not in named]
    org.people.remove(free[0])
    leader = next(p for p in org.people if p["xid"] in {x for q in org.people
                                                        for x in q.get("leaders", [])})
    leader["active"] = False
    free[1]["company"] = next(c["xid"] for c in org.companies if c["xid"] != free[1]["company"])
    org.people.append({"xid": "newbie", "name": "New Bie", "company": "c01",
                       "userGroup": "employee", "leaders": [leader["xid"]],
                       "groups": ["g1-1"]})
    free[2]["name"] = free[3]["name"]  # two people of one name


def _emails(org: Org, base: Org, client: BeeboleClient) -> None:
    """Taken from live people the manifests do not name (one spelled otherwise), swapped,
    freed by another change, and a new person's."""
    for name in ("Stray One", "Stray Two"):
        client.call("person.create", person={
            "name": name, "company": {"xid": "c01"},
            "email": name.replace(" ", "-") + "@Example.com"})
    a, c, d, e, f = org.people[4:9]
    a["email"] = "STRAY-ONE@example.com"
    c["email"], d["email"] = d["email"], c["email"]
    e["email"], f["email"] = f["email"], "f-new@example.com"
    org.people.append({"xid": "hire", "name": "Hire", "company": "c02", "userGroup": "employee",
                       "email": "stray-two@example.com"})


def _groups(org: Org, base: Org, client: BeeboleClient) -> None:
    """A leaf group removed (and from the people in it), a new one named like a sibling."""
    root = org.groups[0]
    leaf = root["groups"][-1]
    root["groups"].remove(leaf)
    for p in org.people:
        if leaf["xid"] in p.get("groups", []):
            p["groups"] = [g for g in p["groups"] if g != leaf["xid"]]
    for entry in [*org.tasks, *org.absences, *org.companies, *org.projects()]:
        if leaf["xid"] in entry.get("groups", []):
            entry["groups"] = [g for g in entry["groups"] if g != leaf["xid"]]
    root["groups"].append({"xid": "g-twin", "name": root["groups"][0]["name"]})
    org.groups[1]["name"] += " (renamed)"


def _projects(org: Org, base: Org, client: BeeboleClient) -> None:
    """New projects named like a declared sibling and like an unmanaged live one, a new
    subproject, a project deactivated, one renamed like its sibling."""
    company = org.companies[0]
    client.call("project.create", project={"name": "Stray Work", "company": {"xid": "c01"}})
    projects = company["projects"]
    other = org.companies[1]["projects"]  # a sibling reached only through the list read
    other.append({"xid": "pr-twin", "name": other[-1]["name"]})
    projects.append({"xid": "pr-stray", "name": "Stray Work", "managers": ["p00001"]})
    projects[0].setdefault("subprojects", []).append({"xid": "sub-new", "name": "Phase 9"})
    projects[1]["active"] = False
    projects.append({"xid": "pr-again", "name": projects[1]["name"]})
    projects[2]["name"] = projects[1]["name"]


def _inactive(org: Org, base: Org, client: BeeboleClient) -> None:
    """Under a company inactive in the account and the manifests: a new project, a new
    subproject under an inactive project, a project made active again."""
    company = org.companies[2]
    company["projects"].append({"xid": "pr-under", "name": "Under An Inactive One"})
    company["projects"][0]["subprojects"].append({"xid": "sub-under", "name": "Phase X"})
    company["projects"][1]["active"] = True


def _ancestor(org: Org, base: Org, client: BeeboleClient) -> None:
    """A subproject made active again: its company, two levels up, stays inactive."""
    org.companies[2]["projects"][2]["subprojects"][0]["active"] = True


def _removals(org: Org, base: Org, client: BeeboleClient) -> None:
    """Under prune: enough removals and stripped links for the safety threshold."""
    named = referenced(org)
    for p in [p for p in org.people if p["xid"] not in named][:6]:
        org.people.remove(p)
    for p in org.people[:8]:
        p["groups"] = []
    org.tasks.pop()


def _ids(org: Org, base: Org, client: BeeboleClient) -> None:
    """References by id, one the account lacks; an unchanged entry with id: and xid:; a
    custom field given a boolean where only other people hold text in it."""
    pid = client.call("person.get", xid="p00002")["person"]["id"]
    adopted = client.call("person.create", person={"name": "Adopted", "company": {"xid": "c01"}})
    for each in (org, base):
        each.people.append({"id": adopted["id"], "name": "Adopted", "company": "c01"})
    project = next(iter(org.projects()))
    project["managers"] = [*project.get("managers", []), {"id": pid}, {"id": 987654},
                           {"id": adopted["id"]}]
    created = client.call("project.create", project={"name": "Adopted", "company": {"xid": "c01"}})
    for each in (org, base):
        each.companies[0]["projects"].append(
            {"id": created["id"], "xid": "adopted", "name": "Adopted"})
    plain = next(p for p in org.people if "customFields" not in p)
    plain["customFields"] = {"location": True}


def _five(org: Org, base: Org, client: BeeboleClient) -> None:
    new, _ = five_entity_change(org)
    org.people[:] = new.people
    org.companies[:] = new.companies


SCENARIOS: dict[str, tuple[Callable[[Org, Org, BeeboleClient], None], Doc]] = {
    "five": (_five, {"prune": False}),
    "people": (_people, {"prune": False}),
    "emails": (_emails, {"prune": False}),
    "groups": (_groups, {"prune": True}),
    "projects": (_projects, {"prune": True}),
    "inactive": (_inactive, {"prune": False}),
    "ancestor": (_ancestor, {"prune": False}),
    "removals": (_removals, {"prune": True}),
    "ids": (_ids, {"prune": False}),
}


@pytest.fixture
def account(tmp_path: Path) -> Iterator[tuple[Org, Path, BeeboleClient, SandboxServer]]:
    """The generated org, seeded into a sandbox of its own (an inactive third company)."""
    org = generate(SPEC, seed=7)
    org.companies[2]["active"] = False
    org.companies[2]["projects"][0]["active"] = False
    org.companies[2]["projects"][1]["active"] = False
    org.companies[2]["projects"][2]["subprojects"][0]["active"] = False
    base = write(org, tmp_path / "base", {"prune": False})
    seed_account(tmp_path / "account.db", load(base))
    server = SandboxServer(tmp_path / "account.db", token=BENCH_TOKEN,
                           quota_requests=UNLIMITED, quota_kb=UNLIMITED)
    server.start()
    try:
        with BeeboleClient(server.url, server.token, backoff=0.01, timeout=10) as client:
            yield org, tmp_path, client, server
    finally:
        server.stop()


def plan_both(client: BeeboleClient, server: SandboxServer, base: State, head: State
              ) -> tuple[tuple[Plan, State, dict[str, int]], tuple[Plan, State, dict[str, int]]]:
    out = []
    diff = diff_manifests(base, head)
    for every in (False, True):
        server.reset_calls()
        reader = platforms.reader_for(client, 4)
        plan, live, _ = plan_changes(reader, head, diff, every_stub=every)
        out.append((plan, live, dict(server.calls)))
    return out[0], out[1]


def same_plan(near: Plan, every: Plan) -> None:
    assert near.actions == every.actions
    assert near.problems == every.problems
    assert near.warnings == every.warnings
    assert near.destroy_violations == every.destroy_violations
    assert near.fingerprints == every.fingerprints
    assert near.read_relations == every.read_relations
    assert near.unmanaged == every.unmanaged
    assert near.unmanaged_kinds == every.unmanaged_kinds
    assert near.read_calls == every.read_calls
    assert plan_digest(near) == plan_digest(every)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_the_near_stubs_plan_as_every_stub_does(
    name: str, account: tuple[Org, Path, BeeboleClient, SandboxServer]
) -> None:
    org, tmp_path, client, server = account
    change, settings = SCENARIOS[name]
    new = copy.deepcopy(org)
    change(new, org, client)
    base = load(write(org, tmp_path / "b", settings))
    head = load(write(new, tmp_path / "h", settings))

    (near, near_live, near_calls), (every, every_live, every_calls) = \
        plan_both(client, server, base, head)

    same_plan(near, every)
    assert near_calls == every_calls  # the same reads: only what is kept of them differs
    # The hours lookup finds each deactivated entity and its ancestors in the live state.
    assert targets_in(near_live, deactivated(near)) == targets_in(every_live, deactivated(every))
    # The restriction happened: the planner saw a fraction of the account.
    assert len(near_live.entities) < len(every_live.entities) / 2
    assert near.actions  # each scenario changes something
    if name in ("removals", "projects"):
        assert targets_in(near_live, deactivated(near))  # (so the comparison above says something)
    said = near.problems + near.warnings + near.destroy_violations
    expected = {
        "people": ["moving it from", "is deactivated, but the manifests still name them"],
        "emails": ["the API refuses a second person with the same email",
                   "emails go round in a cycle"],
        "projects": ["is created next to live project", "replaces"],
        "inactive": ["cannot be created under", "nobody can log time on it"],
        "removals": ["people would be deactivated", "person group assignments would be"],
        "ids": ["which the account does not have", "YAML reads true as a boolean"],
    }
    for phrase in expected.get(name, []):
        assert any(phrase in text for text in said), (phrase, said)
    if name == "ancestor":  # the company two levels up: found by walking up from a stub
        assert any(text.startswith("subproject ") and "is reactivated under company" in text
                   for text in said), said
