"""`plan --changed-since BASE`: a targeted plan gives the changed entries exactly the
actions of a full plan, reading only what they need (counted by the sandbox)."""

from __future__ import annotations

import copy
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from beeplan.changed import diff_manifests, load_base
from beeplan.errors import ConfigError
from beeplan.model import State
from beeplan.planner import Action, Plan
from beeplan.platforms.v2.client import BeeboleClient
from beeplan.platforms.v2.sandbox.server import SandboxServer
from beeplan.usecases import steps as workflow

ORG: dict[str, Any] = {
    "groups": [
        {"xid": "country", "name": "Country", "groups": [{"xid": "us", "name": "US"}]},
        {"xid": "eu", "name": "EU"},
    ],
    "companies": [
        {
            "xid": "acme",
            "name": "ACME Corp",
            "customFields": {"Industry": "Transportation"},
            "projects": [
                {
                    "xid": "acme-dev",
                    "name": "Development",
                    "members": {"people": ["rosa"]},
                    "managers": ["jane"],
                    "subprojects": [{"xid": "proto", "name": "Prototype"}],
                },
                {"xid": "acme-ops", "name": "Operations", "managers": ["jane"]},
            ],
        },
        {"xid": "globex", "name": "Globex"},
    ],
    "tasks": [{"xid": "admin", "name": "Administration", "company": "acme"}],
    "people": [
        {"xid": "jane", "name": "Jane Clark", "company": "acme", "userGroup": "leader"},
        {"xid": "rosa", "name": "Rosa Parks", "company": "acme", "leaders": ["jane"],
         "groups": ["us"]},
        {"xid": "li", "name": "Li Wei", "company": "acme", "groups": ["eu"]},
        {"xid": "ann", "name": "Ann Lee", "company": "globex"},
        {"xid": "bo", "name": "Bo Diaz", "company": "globex"},
        {"xid": "cy", "name": "Cy Ford", "company": "globex"},
    ],
    "absences": [{"xid": "vacation", "name": "Vacation", "company": "acme"}],
}


def write(directory: Path, doc: dict[str, Any]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "org.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return directory


def load(directory: Path) -> State:
    return workflow.load_manifests(directory)


def apply_org(client: BeeboleClient, doc: dict[str, Any], where: Path) -> None:
    plan = workflow.compute_plan(client, load(write(where, doc)), 4)
    outcome = workflow.apply_plan(client, plan, 4, None)
    assert outcome.ok, outcome.failed


def shape(action: Action, kept: set[str]) -> tuple[Any, ...]:
    deps = tuple(sorted(d for d in action.depends_on if d in kept))
    payload = json.dumps(action.payload, sort_keys=True)
    changes = json.dumps([vars(c) for c in action.changes], sort_keys=True, default=str)
    return (action.id, action.service, payload, deps, action.detail, changes)


def compare(full: Plan, targeted: Plan, changed: set[str]) -> None:
    """The targeted plan's actions are the full plan's actions on the changed entries."""
    mine = [a for a in full.actions if f"{a.kind}:{a.target.label}" in changed]
    kept = {a.id for a in mine}
    assert {shape(a, kept) for a in targeted.actions} == {shape(a, kept) for a in mine}
    assert [a.id for a in targeted.actions] == [a.id for a in mine]  # same order
    assert targeted.destroy_violations == full.destroy_violations


def mutate_mixed(doc: dict[str, Any]) -> set[str]:
    """A field change, a new entity under a new parent, a relation change, a removal."""
    doc["companies"][0]["projects"][1]["name"] = "Ops"  # field change
    doc["companies"][0]["projects"][0]["members"] = {"people": ["rosa", "li"]}  # relation
    doc["companies"][0]["projects"][0]["managers"] = ["li"]  # relation
    doc["companies"].append({"xid": "initech", "name": "Initech",
                             "projects": [{"xid": "tps", "name": "TPS",
                                           "subprojects": [{"xid": "tps-1", "name": "Covers"}]}]})
    doc["people"][1]["leaders"] = ["li"]  # relation (person.update leaders)
    doc["people"][1]["customFields"] = {"location": "Utah"}  # relation, new key
    doc["people"].append({"xid": "dee", "name": "Dee Park", "company": "initech",
                          "leaders": ["jane"], "groups": ["us"]})
    del doc["people"][3]  # ann removed
    doc["tasks"].append({"xid": "review", "name": "Review", "company": "globex"})  # old parent
    return {"project:acme-ops", "project:acme-dev", "company:initech", "project:tps",
            "subproject:tps-1", "person:rosa", "person:dee", "person:ann", "task:review"}


@pytest.mark.parametrize("prune", [False, True])
def test_targeted_plan_equals_full_plan_for_changed_entries(
    client: BeeboleClient, sandbox: SandboxServer, tmp_path: Path, prune: bool
) -> None:
    base_doc = copy.deepcopy(ORG)
    if prune:
        base_doc["settings"] = {"prune": True}
    apply_org(client, base_doc, tmp_path / "base")
    new_doc = copy.deepcopy(base_doc)
    changed = mutate_mixed(new_doc)
    desired = load(write(tmp_path / "new", new_doc))
    base = load(tmp_path / "base")

    full = workflow.compute_plan(client, desired, 4)
    sandbox.reset_calls()
    result = workflow.compute_targeted_plan(client, desired, base, "base", 4)
    calls = sum(sandbox.calls.values())

    assert not result.full and result.changed == len(changed)
    compare(full, result.plan, changed)
    # Reading is proportional to the change: at most 2 calls per changed entity + 3.
    assert calls <= 2 * len(changed) + 3, sandbox.calls
    assert result.plan.read_calls == calls
    assert any("9 entries changed since base" in w for w in result.plan.warnings)
    assert sandbox.calls["company.get"] == 2  # initech (new) and globex (parent of a new task)
    if prune:
        assert any(a.service == "person.deactivate" and a.target.xid == "ann"
                   for a in result.plan.actions)
    else:
        assert [u.ref.xid for u in result.plan.unmanaged] == ["ann"]


def test_targeted_saved_plan_applies_and_converges(
    client: BeeboleClient, tmp_path: Path, run: Any
) -> None:
    apply_org(client, ORG, tmp_path / "base")
    new_doc = copy.deepcopy(ORG)
    mutate_mixed(new_doc)
    write(tmp_path / "new", new_doc)
    plan_file = tmp_path / "plan.json"
    status, out, err = run("plan", tmp_path / "new", "--changed-since", tmp_path / "base",
                           "-o", plan_file)
    assert status == 0, err
    assert "entries changed since" in out and "not checked" in out
    saved = json.loads(plan_file.read_text())
    assert saved["targeted"] == {"since": str(tmp_path / "base"), "entries": 9}
    assert saved["complete"] is False
    status, out, err = run("apply", plan_file, "--auto-approve")
    assert status == 0, err + out
    status, out, err = run("plan", tmp_path / "new", "--detailed-exitcode")
    assert status == 0, out  # the full plan finds nothing left to do


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
                   cwd=repo, check=True, capture_output=True)


def test_changed_since_a_git_revision(
    client: BeeboleClient, sandbox: SandboxServer, tmp_path: Path, run: Any
) -> None:
    repo = tmp_path / "repo"
    manifests = repo / "manifests"
    apply_org(client, ORG, manifests)
    (manifests / ".github").mkdir()
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "base")
    new_doc = copy.deepcopy(ORG)
    changed = mutate_mixed(new_doc)
    write(manifests, new_doc)
    desired = load(manifests)
    base = load_base("HEAD", manifests)
    assert {c.key for c in diff_manifests(base, desired).changes} == changed
    result = workflow.compute_targeted_plan(client, desired, base, "HEAD", 4)
    compare(workflow.compute_plan(client, desired, 4), result.plan, changed)

    # A later commit changes one person: the CLI, with the revision as BASE.
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "change")
    assert workflow.apply_plan(client, workflow.compute_plan(client, desired, 4), 4, None).ok
    new_doc["people"][2]["name"] = "Li Wei-Chen"  # one field change
    new_doc["people"][2]["groups"] = ["eu", "us"]  # and one relation change
    write(manifests, new_doc)
    sandbox.reset_calls()
    status, out, err = run("plan", manifests, "--changed-since", "HEAD", "--detailed-exitcode")
    assert status == 2, err
    assert "person.update" in out and "person.add_group" in out
    assert "1 entry changed since HEAD" in out
    # one get and one person.groups
    assert sum(sandbox.calls.values()) == 2, sandbox.calls
    status, out, err = run("check", manifests, "--changed-since", "HEAD~0")
    assert status == 2 and "person.add_group" in out


def test_links_to_existing_entities_come_in_the_full_plans_order(
    client: BeeboleClient, tmp_path: Path, run: Any
) -> None:
    """Live ids in another order than the xids: the targeted plan (which reads no ids
    for unchanged entities) lists the links, and so its digest, as the full plan does."""
    base_doc = copy.deepcopy(ORG)
    base_doc["tasks"] += [{"xid": "zeta", "name": "Zeta", "company": "acme"},
                          {"xid": "beta", "name": "Beta", "company": "acme"}]
    base_doc["groups"].append({"xid": "ops", "name": "Ops"})
    apply_org(client, base_doc, tmp_path / "base")
    new_doc = copy.deepcopy(base_doc)
    new_doc["companies"][0]["projects"][0]["subprojects"].append(
        {"xid": "web", "name": "Web", "specificTasks": {"enabled": True,
                                                       "tasks": ["zeta", "beta", "admin"]}})
    new_doc["people"][2]["groups"] = ["ops", "eu", "us"]
    write(tmp_path / "new", new_doc)
    changed = {"subproject:web", "person:li"}
    desired = load(tmp_path / "new")
    result = workflow.compute_targeted_plan(client, desired, load(tmp_path / "base"), "b", 4)
    compare(workflow.compute_plan(client, desired, 4), result.plan, changed)
    status, targeted, err = run("plan", tmp_path / "new", "--changed-since", tmp_path / "base")
    assert status == 0, err
    status, full, err = run("plan", tmp_path / "new")
    digest = [line for line in full.splitlines() if line.startswith("Plan digest:")]
    assert digest and digest[0] in targeted.splitlines()


def test_no_changes_in_a_targeted_plan_claims_no_more_than_it_read(
    client: BeeboleClient, tmp_path: Path, run: Any
) -> None:
    apply_org(client, ORG, tmp_path / "base")
    new_doc = copy.deepcopy(ORG)
    new_doc["people"][2]["name"] = "Li Wei-Chen"
    apply_org(client, new_doc, tmp_path / "new")  # already applied: nothing to do
    client.call("project.detach_manager", xid="acme-ops", person={"xid": "jane"})  # elsewhere
    for fmt in ("text", "markdown"):
        status, out, err = run("plan", tmp_path / "new", "--changed-since", tmp_path / "base",
                               "--format", fmt)
        assert status == 0, err
        assert "matches the manifests" not in out, out
        assert "changed since" in out and "not checked" in out
    # Under prune with a kind left unmanaged too, it still speaks only of the changed entries.
    for where in ("base", "new"):
        doc = yaml.safe_load((tmp_path / where / "org.yaml").read_text())
        doc["settings"] = {"prune": True}
        del doc["absences"]
        write(tmp_path / where, doc)
    status, out, err = run("plan", tmp_path / "new", "--changed-since", tmp_path / "base")
    assert status == 0, err
    assert "No changes for the entries changed since" in out, out
    assert "No changes to the kinds" not in out


def test_changed_since_errors_are_clear_and_cost_nothing(
    sandbox: SandboxServer, tmp_path: Path, run: Any
) -> None:
    manifests = write(tmp_path / "m", ORG)
    status, _, err = run("plan", manifests, "--changed-since", "origin/main")
    assert status == 1 and "not in a git repository" in err and "Traceback" not in err
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "x")
    status, _, err = run("plan", manifests, "--changed-since", "no-such-rev")
    assert status == 1 and "no-such-rev" in err and "revision" in err
    assert sum(sandbox.calls.values()) == 0
    with pytest.raises(ConfigError):
        load_base("nope", manifests)


def test_settings_change_falls_back_to_a_full_plan(
    client: BeeboleClient, tmp_path: Path
) -> None:
    apply_org(client, ORG, tmp_path / "base")
    new_doc = {**copy.deepcopy(ORG), "settings": {"prune": True}}
    desired = load(write(tmp_path / "new", new_doc))
    result = workflow.compute_targeted_plan(client, desired, load(tmp_path / "base"), "b", 4)
    assert result.full
    assert any("since b, settings.prune changed (false -> true): this is a full plan" in w
               for w in result.plan.warnings), result.plan.warnings
    full = workflow.compute_plan(client, desired, 4)
    assert [a.id for a in result.plan.actions] == [a.id for a in full.actions]


def test_no_manifests_at_base_plans_in_full(client: BeeboleClient, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write(repo / "other", {"groups": [{"xid": "g", "name": "G"}]})
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "before the manifests")
    manifests = write(repo / "manifests", ORG)
    base = load_base("HEAD", manifests)
    assert base.entities == ()
    result = workflow.compute_targeted_plan(client, load(manifests), base, "HEAD", 4)
    assert result.full and any("no manifests at HEAD" in w for w in result.plan.warnings)
    assert any(a.service == "company.create" for a in result.plan.actions)


def test_relation_items_named_by_id_only_get_their_xid(
    client: BeeboleClient, sandbox: SandboxServer, tmp_path: Path
) -> None:
    """An answer naming a manager by id alone must still match the manifests' xid."""
    from beeplan.changed import _with_xids
    from beeplan.model import Entity, Ref
    from beeplan.platforms.v2.live import LiveReader

    apply_org(client, ORG, tmp_path / "m")
    jane = client.call("person.get", xid="jane")["person"]["id"]
    project = Ref("project", xid="acme-dev", id=1)
    read = {project: Entity("project", project, "Development",
                            relations={"managers": frozenset({Ref("person", id=jane)})})}
    sandbox.reset_calls()
    fixed = _with_xids(LiveReader(client), read, load(tmp_path / "m"))
    entity = fixed[project]
    assert entity is not None
    assert entity.relations["managers"] == frozenset({Ref("person", xid="jane", id=jane)})
    assert dict(sandbox.calls) == {"person.get": 1}


def test_targeted_plan_reports_the_full_plans_problems_and_warnings(
    client: BeeboleClient, sandbox: SandboxServer, tmp_path: Path, run: Any
) -> None:
    """Emails another live person holds and names of live unmanaged siblings are seen by
    the checks of the full plan; the targeted plan reads what they need, and says so."""
    base_doc = copy.deepcopy(ORG)
    apply_org(client, base_doc, tmp_path / "base")
    # Emails the manifests do not manage, so no offline check sees them.
    for xid in ("jane", "rosa"):
        client.call("person.update", person={"xid": xid, "email": f"{xid}@acme.example"})
    # Outside the manifests: a company with a person, and a project under acme.
    umbrella = client.call("company.create", company={"name": "Umbrella"})["id"]
    client.call("person.create", person={"name": "Zed", "company": {"id": umbrella},
                                         "email": "zed@umbrella.example"})
    acme = client.call("company.get", xid="acme")["company"]["id"]
    client.call("project.create", project={"name": "Research", "company": {"id": acme}})
    client.call("group.create", group={"name": "EU", "parent": {"xid": "country"}})
    dev = client.call("project.get", xid="acme-dev")["project"]["id"]
    client.call("subproject.create", subproject={"name": "Beta", "project": {"id": dev}})

    new_doc = copy.deepcopy(base_doc)
    new_doc["people"] += [
        {"xid": "jclark", "name": "J. Clark", "company": "acme", "email": "jane@acme.example"},
        {"xid": "zed2", "name": "Zed Two", "company": "globex", "email": "ZED@umbrella.example"},
    ]
    new_doc["people"][2]["email"] = "rosa@acme.example"  # li: an update takes it
    new_doc["companies"][0]["projects"].append({"xid": "research", "name": "Research"})
    new_doc["companies"].append({"xid": "umbrella-2", "name": "Umbrella"})
    new_doc["tasks"].append({"xid": "review", "name": "Review", "company": "globex"})
    new_doc["groups"][0]["groups"].append({"xid": "eu-2", "name": "EU"})  # not the top EU
    new_doc["companies"][0]["projects"][0]["subprojects"].append({"xid": "b", "name": "beta"})
    desired = load(write(tmp_path / "new", new_doc))

    full = workflow.compute_plan(client, desired, 4)
    sandbox.reset_calls()
    result = workflow.compute_targeted_plan(client, desired, load(tmp_path / "base"), "b", 4)
    calls = dict(sandbox.calls)
    targeted = result.plan
    assert not result.full
    assert len(full.problems) == 3, full.problems  # jclark, zed2, li
    assert set(targeted.problems) == set(full.problems)
    twins = [w for w in full.warnings if "is created next to live" in w]
    assert len(twins) == 4, full.warnings  # project, company, group and subproject
    note = [w for w in targeted.warnings if w.startswith("targeted plan:")]
    assert set(targeted.warnings) - set(note) == set(full.warnings)
    # The cost, said and counted: the company list, the people of each of the 3
    # companies, the projects of acme, the tasks of globex, the group tree and the
    # subprojects of acme-dev (each new entry's siblings).
    assert calls["company.list"] == 1 and calls["person.list"] == 3, calls
    assert calls["project.list"] == 1 and calls["task.list"] == 1, calls
    assert calls["group.tree"] == 1 and calls["subproject.list"] == 1, calls
    assert "8 calls of them for the full plan's checks" in note[0], note
    assert "for email uniqueness" in note[0] and "projects of company 'ACME Corp'" in note[0]
    assert targeted.read_calls == sum(calls.values())

    for args in ((), ("--changed-since", tmp_path / "base")):
        status, out, err = run("plan", tmp_path / "new", *args)
        assert status == 1, out + err  # apply would fail at the API: refused before
        assert out.count("belongs to live") == 3 and out.count("is created next to live") == 4


def test_targeted_plan_reads_nothing_more_when_no_check_needs_it(
    client: BeeboleClient, sandbox: SandboxServer, tmp_path: Path
) -> None:
    """A person changed without email, a subproject under a new project: no list but the
    new project's siblings is read."""
    apply_org(client, ORG, tmp_path / "base")
    new_doc = copy.deepcopy(ORG)
    new_doc["companies"][1]["projects"] = [{"xid": "p", "name": "P", "subprojects": [
        {"xid": "s", "name": "S"}]}]
    new_doc["people"][2]["name"] = "Li Wei-Chen"
    desired = load(write(tmp_path / "new", new_doc))
    sandbox.reset_calls()
    result = workflow.compute_targeted_plan(client, desired, load(tmp_path / "base"), "b", 4)
    note = " ".join(result.plan.warnings)
    assert "1 call of them for the full plan's checks" in note and "email" not in note
    # A get of each changed entry and of globex (the new project's parent); the
    # projects of globex for the new project's siblings; nothing under the new project.
    assert dict(sandbox.calls) == {"company.get": 1, "person.get": 1, "project.get": 1,
                                   "subproject.get": 1, "project.list": 1}


def test_targeted_plan_finds_ids_the_account_does_not_have(
    client: BeeboleClient, sandbox: SandboxServer, tmp_path: Path, run: Any
) -> None:
    """References {id: N} and entries adopted by id: a get each, and the full plan's
    problems for the ones that do not exist (an existing one is no problem)."""
    apply_org(client, ORG, tmp_path / "base")
    jane = client.call("person.get", xid="jane")["person"]["id"]
    new_doc = copy.deepcopy(ORG)
    new_doc["companies"][0]["projects"][1]["managers"] = [{"id": jane}, {"id": 999}]
    new_doc["companies"].append({"id": 998, "name": "Ghost"})
    new_doc["people"].append({"xid": "x1", "name": "X1", "company": {"id": 997}})
    desired = load(write(tmp_path / "new", new_doc))
    full = workflow.compute_plan(client, desired, 4)
    result = workflow.compute_targeted_plan(client, desired, load(tmp_path / "base"), "b", 4)
    assert len(full.problems) == 3, full.problems
    assert set(result.plan.problems) == set(full.problems)
    assert not any(re.search(rf"#{jane}\b", p) for p in result.plan.problems)
    status, out, err = run("plan", tmp_path / "new", "--changed-since", tmp_path / "base")
    assert status == 1 and "#997, which the account does not have" in out, out + err


def test_an_entry_adopted_by_id_and_given_its_xid_is_left_alone_once_it_has_it(
    client: BeeboleClient, tmp_path: Path
) -> None:
    """An entry with both ``id: N`` and ``xid: X`` (an adoption) that BASE already
    declared: the account has had X since BASE was applied, so a targeted plan of an
    unrelated change sets no xid on it, as the full plan sets none."""
    made = client.call("company.create", company={"name": "Old Co"})
    old_id = made.get("id") or made["company"]["id"]
    base_doc = copy.deepcopy(ORG)
    base_doc["companies"].append({"id": old_id, "xid": "oldco", "name": "Old Co"})
    apply_org(client, base_doc, tmp_path / "base")
    assert client.call("company.get", xid="oldco")["company"]["id"] == old_id
    new_doc = copy.deepcopy(base_doc)
    new_doc["people"][2]["name"] = "Li Wei-Chen"  # an unrelated change
    desired = load(write(tmp_path / "new", new_doc))
    full = workflow.compute_plan(client, desired, 4)
    result = workflow.compute_targeted_plan(client, desired, load(tmp_path / "base"), "b", 4)
    assert not result.full
    assert [a.service for a in full.actions] == ["person.update"]
    assert [a.service for a in result.plan.actions] == ["person.update"]
