"""Saved plans of a current set: ``plan -o FILE`` then ``apply FILE``, against the current
sandbox over HTTP with the real client.

A saved plan of the current platform is verified before any mutation: the account of
the key (before any request), the endpoint, the manifests' digest, then ONE read from
which the planner rebuilds every action of the file; an edited action is refused by
name, an account that changed under the plan as stale. The sandbox counts every root
field it runs, so "nothing was written" is counted, not assumed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from beeplan.model import entity_key
from beeplan.planfile.verify import check_digest
from beeplan.planner import plan_digest
from beeplan.platforms.current.client import CurrentClient
from beeplan.platforms.current.plan import make_plan
from beeplan.platforms.current.reader import read_account
from beeplan.platforms.current.sandbox import CurrentSandboxServer
from beeplan.platforms.current.saved import Lookup
from beeplan.render import plan_from_json

from .conftest import Gql
from .planning import _mutations, converge, desired_of
from .test_plan import VARIANTS

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "current"


def mutations(server: CurrentSandboxServer) -> int:
    """How many mutations the sandbox ran since its counts were reset."""
    names = set(_mutations()["fields"])
    return sum(n for name, n in server.app.calls.items() if name in names)


SET = {
    "settings.yaml": "settings:\n  platform: current\n  prune: false\n",
    "custom-fields.yaml": """\
customFields:
  - {name: Industry, type: text, appliesTo: [projects]}
""",
    "tags.yaml": """\
tagCategories:
  - name: Department
    tags:
      - {xid: eng, name: Engineering}
      - {xid: sales, name: Sales}
""",
    "people.yaml": """\
roles:
  - name: Employee
people:
  - {xid: rosa, name: Rosa Parks, email: rosa@example.com, role: Employee, tags: [eng]}
  - {xid: omar, name: Omar Haddad, email: omar@example.com, role: Employee}
""",
    "projects.yaml": """\
projectCategories:
  - name: Clients
    projects:
      - xid: acme
        name: ACME Corp
        tags: [eng]
        customFields: {Industry: Transportation}
        projects:
          - {xid: acme-dev, name: Development, managers: [rosa]}
""",
}


@pytest.fixture
def example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A small current set (every kind of action: creates, links, values, a subproject by
    $ref), as ``set`` under the test's directory (the cwd: a plan records relative
    paths, as a CI checkout would)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "set").mkdir()
    for name, text in SET.items():
        (tmp_path / "set" / name).write_text(text)
    return Path("set")


def _apply(crun, plan_file: str | Path) -> tuple[int, str, str]:
    """``apply PLANFILE --auto-approve``, which must succeed."""
    status, out, err = crun("apply", plan_file, "--auto-approve")
    assert status == 0, err
    return status, out, err


def _edit(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    """Edit a plan file as an attacker would, digest recomputed so only the rebuild
    (not the digest) can catch it."""
    doc = json.loads(path.read_text())
    change(doc)
    plan, _ = plan_from_json(json.dumps({**doc, "plan_digest": "0" * 12}), str(path))
    doc["plan_digest"] = plan_digest(plan)
    path.write_text(json.dumps(doc))


def _action(doc: dict[str, Any], service: str, xid: str | None = None) -> dict[str, Any]:
    return next(a for a in doc["actions"] if a["service"] == service
                and (xid is None or a["target"].get("xid") == xid))


def test_plan_o_writes_a_bound_plan_of_the_current_platform(crun, current, example) -> None:
    status, out, err = crun("plan", example, "-o", "plan.json")
    assert status == 0, err
    assert "Saved the plan to plan.json; apply it with: beeplan apply plan.json" in err
    text = Path("plan.json").read_text()
    assert current.token not in text  # the key is never in the file
    doc = json.loads(text)
    assert doc["format_version"] == "1.3" and doc["platform"] == "current"
    assert doc["endpoint"] == current.url
    assert doc["manifests"]["path"] == "set" and len(doc["manifests"]["digest"]) == 64
    assert set(doc["account"]) == {"binding", "salt", "fingerprint", "seal"}
    create = _action(doc, "addProject", "acme")
    assert create["target"] == {"kind": "project", "xid": "acme"}
    # every target is fingerprinted: apply tells an edited file from a changed account
    assert {a["target"]["kind"] + ":" + a["target"]["xid"] for a in doc["actions"]
            if "xid" in a["target"]} <= set(doc["fingerprints"])
    link = _action(doc, "makeManagerOfProject")  # a link, keyed by the member it shows
    assert (link["before"], link["after"]) == ({"managers[rosa]": False},
                                               {"managers[rosa]": True})
    plan, _ = plan_from_json(text, "plan.json")  # it reads back, schema and all
    check_digest(plan, doc, "plan.json")
    assert plan.platform == "current" and len(plan.actions) == len(doc["actions"])


def test_plan_o_then_apply_converges_and_a_rerun_has_nothing_to_do(
        crun, current, example) -> None:
    status, _, err = crun("plan", example, "-o", "plan.json")
    assert status == 0, err
    status, out, err = _apply(crun, "plan.json")
    assert "Applying plan.json, verified against the manifests it records: set" in out
    assert "Apply: " in out and "Traceback" not in err
    status, out, err = crun("plan", example, "--detailed-exitcode")
    assert status == 0, out + err
    assert "No changes" in out
    current.app.reset_counts()
    status, out, err = crun("apply", "plan.json", "--auto-approve")
    assert status == 0, err
    assert "Every action of plan.json is done already" in out
    assert mutations(current) == 0 and current.app.requests == 1  # the one read


def _saved_after(crun, example: Path) -> Path:
    status, _, err = crun("plan", example, "-o", "plan.json")
    assert status == 0, err
    return Path("plan.json")


def _refused(crun, current, *args: str, said: str = "Nothing was applied") -> str:
    current.app.reset_counts()
    status, out, err = crun("apply", *args, "--auto-approve")
    assert status == 1, out + err
    assert "Traceback" not in err and said in err
    assert mutations(current) == 0
    return err


@pytest.mark.parametrize("edit, named", [
    (lambda doc: _action(doc, "addProject", "acme")["payload"].update(name="Evil Corp"),
     "addProject:project:acme"),
    (lambda doc: _action(doc, "addProject", "acme").update(service="addTag"),
     "addProject:project:acme"),
])
def test_an_edited_action_is_refused_by_name_with_no_mutation(
        crun, current, example, edit, named) -> None:
    path = _saved_after(crun, example)
    _edit(path, edit)
    err = _refused(crun, current, str(path))
    assert f"action {named!r}" in err and "the file was edited" in err
    assert current.app.requests == 1  # the read the rebuild needs, and nothing else



def _added(doc: dict[str, Any]) -> None:
    doc["actions"].append({
        "id": "archiveProject:project:acme", "op": "deactivate",
        "target": {"kind": "project", "xid": "acme"}, "name": "ACME Corp",
        "service": "archiveProject", "payload": {"id": {"$ref": "addProject:project:acme"}},
        "phase": 12, "depends_on": ["addProject:project:acme"], "changes": []})


def test_an_added_action_is_refused_by_name_with_no_mutation(crun, current, example) -> None:
    path = _saved_after(crun, example)
    _edit(path, _added)
    err = _refused(crun, current, str(path))
    assert "action 'archiveProject:project:acme': beeplan does not plan it" in err


def test_a_duplicated_action_is_refused_by_name(crun, current, example) -> None:
    path = _saved_after(crun, example)
    _edit(path, lambda doc: doc["actions"].append(dict(_action(doc, "tagPerson", "rosa"))))
    err = _refused(crun, current, str(path))
    assert "action 'tagPerson:person:rosa:tags:eng': a second action with this id" in err


def test_an_edit_without_a_new_digest_is_refused_by_name_too(crun, current, example) -> None:
    path = _saved_after(crun, example)
    doc = json.loads(path.read_text())
    _action(doc, "addPerson", "rosa")["payload"]["email"] = "attacker@example.com"
    path.write_text(json.dumps(doc))
    err = _refused(crun, current, str(path))
    assert "action 'addPerson:person:rosa'" in err and "its arguments are not" in err


def test_an_edit_the_rebuild_does_not_compare_is_refused_by_the_seal(
        crun, current, example) -> None:
    # The detail line is display only (not compared with the planner's): the seal, an
    # HMAC under the key of the plan's digest, still refuses the re-digested file.
    path = _saved_after(crun, example)
    _edit(path, lambda doc: _action(doc, "tagProject").update(detail="nothing to see"))
    err = _refused(crun, current, str(path))
    assert "its content is not what was planned with this account's token" in err


def test_a_plan_for_another_account_is_refused_before_any_request(
        crun, current, example) -> None:
    path = _saved_after(crun, example)
    current.app.reset_counts()
    status, out, err = crun("apply", path, "--auto-approve", token="f" * 40)
    assert status == 1 and "plan.json was made for another account" in err
    assert "f" * 40 not in out + err and "Traceback" not in err
    assert current.app.requests == 0


def test_changed_manifests_are_refused_before_any_request(crun, current, example) -> None:
    path = _saved_after(crun, example)
    people = example / "people.yaml"
    people.write_text(people.read_text().replace("Omar Haddad", "Omar H."))
    err = _refused(crun, current, str(path))
    assert "the manifests at set are not the ones it was made from" in err
    assert current.app.requests == 0
    # --manifests naming another set: refused, naming both
    other = Path("other")
    other.mkdir()
    for name, text in SET.items():
        (other / name).write_text(text)
    err = _refused(crun, current, str(path), "--manifests", "other")
    assert "was made from the manifests at set, not other" in err
    assert current.app.requests == 0


def test_without_its_manifests_a_current_plan_is_refused_saying_what_to_pass(
        crun, current, example) -> None:
    path = _saved_after(crun, example)
    (example / "people.yaml").unlink()
    for name in SET:
        (example / name).unlink(missing_ok=True)
    example.rmdir()
    err = _refused(crun, current, str(path))
    assert "pass --manifests PATH" in err and current.app.requests == 0


def test_a_current_plan_against_a_v2_endpoint_is_refused_naming_both(
        crun, current, example, sandbox, cli_main, monkeypatch) -> None:
    path = _saved_after(crun, example)
    monkeypatch.setenv("BEEBOLE_ENDPOINT", sandbox.url)
    monkeypatch.setenv("BEEBOLE_TOKEN", sandbox.token)
    sandbox.calls.clear()
    status, _, err = cli_main("apply", path, "--auto-approve")
    assert status == 1 and "is a plan for Beebole's current platform" in err
    assert "speaks 'v2'" in err and sum(sandbox.calls.values()) == 0
    assert f"(it was made against {current.url})" in err


def test_a_v2_plan_against_a_current_endpoint_is_refused_naming_both(
        crun, current) -> None:
    v2 = Path(__file__).resolve().parents[1] / "data" / "cases" / "prune" / "plan.json"
    current.app.reset_counts()
    status, _, err = crun("apply", v2, "--auto-approve")
    assert status == 1 and "is a plan for API v2, but the endpoint" in err
    assert "speaks 'current'" in err and current.app.requests == 0


def _converge(current: CurrentSandboxServer, example: Path,
              only: tuple[str, ...] | None = None) -> None:
    """Bring the account to the set (or do only the actions of the services ``only``) one
    mutation at a time, as an earlier apply that stopped part-way would have."""
    desired = desired_of(example)
    xid_field = desired.settings.xid_field
    with CurrentClient(current.url, current.token) as client:
        plan = make_plan(desired, read_account(client, xid_field=xid_field))
        if only is not None:
            keep = [a for a in plan.actions if a.service in only
                    or (a.service == "addCustomField" and a.target.xid == xid_field)]
            plan = replace(plan, actions=tuple(keep))
        converge(client, plan, xid_field)


def test_a_rerun_after_a_partial_apply_continues_without_redoing(
        crun, current, example) -> None:
    path = _saved_after(crun, example)
    # an earlier run made the tags (and the xid field), then stopped
    _converge(current, example, only=("addTagCategory", "addTag"))
    current.app.reset_counts()
    status, out, err = _apply(crun, path)
    assert current.app.calls["addTag"] == 0 and current.app.calls["addTagCategory"] == 0
    assert current.app.calls["addCustomField"] == 1  # Industry; the xid field was made
    assert current.app.calls["addProject"] == 2 and current.app.calls["addPerson"] == 2
    status, out, err = crun("check", example)
    assert (status, out) == (0, ""), err


def _renamed(current: CurrentSandboxServer, name: str) -> None:
    with CurrentClient(current.url, current.token) as client:
        acme = read_account(client).by_xid("project")["acme"]
    Gql(current, {})("mutation($id: BeeboleId!, $name: BeeboleName!) "
                     "{ editProjectName(id: $id, name: $name) { id } }", id=acme.id, name=name)


def test_a_plan_whose_targets_changed_since_is_refused_as_stale(
        crun, current, example) -> None:
    _converge(current, example)
    _renamed(current, "Acme")
    path = _saved_after(crun, example)  # renames it back to ACME Corp
    assert [a["service"] for a in json.loads(path.read_text())["actions"]] == [
        "editProjectName"]
    _renamed(current, "Acme Inc")  # someone else, after the plan was reviewed
    err = _refused(crun, current, str(path))
    assert "plan.json is stale: project:acme changed since it was made" in err
    # done by hand in between: the saved plan has nothing left to do, and says so
    _renamed(current, "ACME Corp")
    current.app.reset_counts()
    status, out, err = crun("apply", path, "--auto-approve")
    assert status == 0, err
    assert "Every action of plan.json is done already" in out and mutations(current) == 0


def test_plan_for_github_annotates_summarises_and_saves_a_current_set(
        crun, current, example, monkeypatch, tmp_path) -> None:
    people = example / "people.yaml"
    people.write_text(people.read_text().replace("role: Employee}", "role: Wizard}", 1))
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    status, out, err = crun("plan", example, "--format", "github", "--summary")
    assert status == 1, err  # a problem: the role is neither declared nor live
    assert "::error file=set/people.yaml,line=5" in out and "role 'Wizard'" in out
    text = summary.read_text()
    assert "### beeplan plan" in text and "Plan digest" in text and "Wizard" in text
    status, out, err = crun("plan", example, "--format", "markdown", "-o", "plan.json")
    assert status == 1, err
    # the PR comment: the problem first, then the mutations
    assert out.startswith("<!-- beeplan") and "### beeplan plan" in out
    assert out.index("role 'Wizard'") < out.index("addProject")
    doc = json.loads(Path("plan.json").read_text())
    assert doc["applyable"] is False and doc["diagnostics"][0]["line"] == 5
    assert current.token not in Path("plan.json").read_text() + out + err + text
    err = _refused(crun, current, "plan.json", said="lists 1 impossible change(s)")
    assert "role 'Wizard'" in err and current.app.requests == 0



def test_the_safety_threshold_is_recomputed_not_read_from_the_file(
        crun, current, example) -> None:
    _converge(current, example)
    settings = example / "settings.yaml"
    # every person goes but the key's own (never archived): 2, at a threshold of 2
    settings.write_text(settings.read_text().replace("prune: false",
                                                     "prune: true\n  safety: {min: 2}"))
    people = example / "people.yaml"
    people.write_text("roles:\n  - name: Employee\npeople: []\n")
    projects = example / "projects.yaml"
    projects.write_text(projects.read_text().replace(", managers: [rosa]", ""))
    status, _, err = crun("plan", example, "-o", "plan.json")
    assert status == 0, err
    assert "goes past the safety threshold" in err
    doc = json.loads(Path("plan.json").read_text())
    assert doc["destroy_violations"] and "archivePerson" in {
        a["service"] for a in doc["actions"]}
    doc["destroy_violations"] = []  # outside the digest: a file may say anything here
    Path("plan.json").write_text(json.dumps(doc))
    err = _refused(crun, current, "plan.json", said="refused by the safety threshold")
    assert "--allow-destroy" in err
    assert "person entities would be archived" in err


def test_the_github_action_plans_comments_then_applies_a_current_set(
        current, example, tmp_path_factory, capsys) -> None:
    # The action's own entry point (beeplan-github), running beeplan as a child process:
    # plan (-o, Markdown, the comment and the job summary), then apply of that plan.
    from beeplan.github import run_action

    runner = tmp_path_factory.mktemp("runner")  # outside the checkout, as on GitHub
    summary, outputs = runner / "summary.md", runner / "outputs.txt"
    env = {"PATH": "/usr/bin:/bin", "RUNNER_TEMP": str(runner), "BEEBOLE_TOKEN": current.token,
           "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(outputs),
           "INPUT_PATH": "set", "INPUT_ENDPOINT": current.url,
           "HOME": str(runner), "BEEPLAN_CACHE_DIR": str(runner / "cache"),
           "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    assert run_action({**env, "INPUT_COMMAND": "plan"}) == 0
    said = dict(line.split("=", 1) for line in outputs.read_text().splitlines())
    assert said["result"] == "changes" and said["plan-file"].endswith("plan.json")
    comment = Path(said["comment-file"]).read_text()
    assert "### beeplan plan" in comment and "addProject" in comment
    digest = json.loads(Path(said["plan-file"]).read_text())["plan_digest"]
    assert f"Plan digest: {digest}" in comment  # the one apply prints for that file
    assert "Plan digest" in summary.read_text()
    assert current.token not in comment + summary.read_text() + Path(
        said["plan-file"]).read_text()
    outputs.unlink()
    status = run_action({**env, "INPUT_COMMAND": "apply"})
    said = dict(line.split("=", 1) for line in outputs.read_text().splitlines())
    assert status == 0, capsys.readouterr().err and said["result"] == "applied"
    with CurrentClient(current.url, current.token) as client:
        assert {"acme", "acme-dev"} <= set(read_account(client).by_xid("project"))


def test_a_plan_with_nothing_to_do_says_so_and_sends_nothing(crun, current, example) -> None:
    _converge(current, example)
    status, _, err = crun("plan", example, "-o", "plan.json")
    assert status == 0 and "it makes no changes, so there is nothing to apply" in err
    current.app.reset_counts()
    status, out, err = crun("apply", "plan.json", "--auto-approve")
    assert status == 0, err
    assert "plan.json makes no changes. Nothing to do." in out and mutations(current) == 0


def test_the_schema_holds_each_platform_to_its_own_vocabulary(crun, example) -> None:
    from beeplan.errors import PlanError

    status, _, err = crun("plan", example, "-o", "plan.json")
    assert status == 0, err
    doc = json.loads(Path("plan.json").read_text())
    plan_from_json(json.dumps(doc))  # as written: valid
    as_v2 = {k: v for k, v in doc.items() if k != "platform"}  # v2's kinds and services
    with pytest.raises(PlanError, match="is not one of"):
        plan_from_json(json.dumps(as_v2))
    _action(doc, "addProject", "acme")["target"]["id"] = 7  # current ids are text
    with pytest.raises(PlanError, match="actions/.*target"):
        plan_from_json(json.dumps(doc))


def test_a_target_that_lost_its_xid_since_is_stale_not_done(crun, current, example) -> None:
    # The plan renames acme; then someone clears its External ID: the planner would now
    # create an acme, so the rename is not "done", and the plan is refused as stale.
    _converge(current, example)
    _renamed(current, "Acme")
    path = _saved_after(crun, example)
    with CurrentClient(current.url, current.token) as client:
        live = read_account(client)
    acme = live.by_xid("project")["acme"]
    value_id = live.value_ids[(acme.id, str(live.xid_field))]
    Gql(current, {})("mutation($id: BeeboleId!) { deleteCustomFieldValue(id: $id) { id } }",
                     id=value_id)
    err = _refused(crun, current, str(path))
    assert "plan.json is stale: project:acme changed since it was made" in err
    assert "'addProject:project:acme'" in err


@pytest.mark.parametrize("scenario", ["example on an empty account", "edits of every type"])
def test_every_action_changes_its_targets_fingerprint(current, tmp_path, scenario) -> None:
    # What tells done work from an edited file: an action done changes what the read
    # shows of its target. Checked for every kind, relation, value type and archive.
    path = EXAMPLE
    if scenario == "edits of every type":
        path = tmp_path / "variants"
        path.mkdir()
        (path / "all.yaml").write_text(VARIANTS)
        _converge(current, path)
        (path / "all.yaml").write_text(
            VARIANTS.replace("Budget: 1200.5", "Budget: 99").replace("Remote: false",
                                                                     "Remote: true")
            .replace('Since: "2020-01-02", ', "").replace("status: Doing", "status: Todo")
            .replace("lang: fr", "lang: es")
            .replace("managers: [ann], tags: [core]}", "managers: [], tags: [core]}"))
    desired = desired_of(path)
    xid_field = desired.settings.xid_field
    with CurrentClient(current.url, current.token) as client:
        plan = make_plan(desired, read_account(client, xid_field=xid_field))
        assert len(plan.actions) >= 6
        converge(client, plan, xid_field)
        after = Lookup(read_account(client, xid_field=xid_field))
    unchanged = [a.id for a in plan.actions
                 if after.fingerprint(a.target) == plan.fingerprints[entity_key(a.target)]]
    assert unchanged == []


def test_max_calls_below_what_a_saved_plan_needs_is_refused_before_any_write(
        crun, current, example) -> None:
    path = _saved_after(crun, example)
    err = _refused(crun, current, str(path), "--max-calls", "2", said="--max-calls 2 does not "
                   "cover this apply")
    assert "nothing was applied" in err and current.app.requests == 1  # the read


def test_a_targeted_saved_plan_applies_its_part_and_says_the_rest_is_left(
        crun, current, example) -> None:
    _converge(current, example)
    base = Path("base")
    base.mkdir()
    for name, text in SET.items():
        (base / name).write_text(text)
    people = example / "people.yaml"
    people.write_text(people.read_text().replace("Omar Haddad", "Omar H."))
    _renamed(current, "Acme")  # drift elsewhere: not in a plan of what changed since base
    status, _, err = crun("plan", example, "--changed-since", "base", "-o", "plan.json")
    assert status == 0, err
    doc = json.loads(Path("plan.json").read_text())
    assert [a["id"] for a in doc["actions"]] == ["editPersonName:person:omar"]
    assert doc["complete"] is False
    current.app.reset_counts()
    status, out, err = _apply(crun, "plan.json")
    assert current.app.calls["editPersonName"] == 1 and mutations(current) == 1
    assert "the manifests now need 1 change(s) this saved plan does not hold" in out
