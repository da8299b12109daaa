"""plan, check and apply of a current set, through the CLI, against the current sandbox.

Every request goes over HTTP with the real client to the sandbox, which validates
each document against the real schema. ``converge`` (planning.py) brings an account
to a set without the batched apply, so these tests stand on the planner alone; the
apply tests at the end need apply.py's ``apply_actions`` (another change).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from beeplan.platforms.current.client import CurrentClient
from beeplan.platforms.current.plan import make_plan
from beeplan.platforms.current.reader import read_account
from beeplan.platforms.current.sandbox import CurrentSandboxServer

from .planning import converge, desired_of

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "current"


def _copy(tmp_path: Path) -> Path:
    path = tmp_path / "set"
    shutil.copytree(EXAMPLE, path)
    return path


def _converged(server: CurrentSandboxServer, path: Path) -> None:
    desired = desired_of(path)
    xid_field = desired.settings.xid_field
    with CurrentClient(server.url, server.token) as client:
        converge(client, make_plan(desired, read_account(client, xid_field=xid_field)),
                 xid_field)


def test_plan_of_the_example_on_an_empty_account_lists_the_creates(crun, current) -> None:
    current.app.reset_counts()
    status, out, err = crun("plan", EXAMPLE)
    assert status == 0, err
    assert current.app.requests == 1  # one read document, nothing else
    assert "project acme (ACME Corp)" in out and "+ create (addProject)" in out
    assert "person rosa (Rosa Parks)" in out and "+ create (addPerson)" in out
    assert "> managers += person jane (makeManagerOfPerson)" in out
    assert "customField External ID (External ID)" in out  # the xid field comes first
    assert out.index("addCustomField") < out.index("addProject")
    assert "Plan: 51 to create" in out
    # no daily quota: what is counted is requests and bytes, said as such
    assert re.search(r"API requests: 1 spent reading \(\d+\.\d KB\); 133 mutations to apply "
                     r"in about \d+ requests; no daily quota on this platform\.", out), out
    status, out, err = crun("plan", EXAMPLE, "--format", "json")
    calls = json.loads(out)["calls"]
    assert calls["read"] == 1 and calls["apply"] == 133
    assert calls["read_bytes"] > 1000  # the empty account's read: a few KB
    assert 6 <= calls["apply_requests"] <= 10  # 133 mutations, 50 a document, by layer


def test_a_plan_creates_parents_before_children_by_ref(current) -> None:
    desired = desired_of(EXAMPLE)
    with CurrentClient(current.url, current.token) as client:
        plan = make_plan(desired, read_account(client))
    by_id = {a.id: a for a in plan.actions}
    dev = next(a for a in plan.actions if a.op == "create" and a.target.xid == "acme-dev")
    parent = by_id[dev.payload["parentId"]["$ref"]]
    assert parent.target.xid == "acme" and parent.id in dev.depends_on
    seen: set[str] = set()
    for action in plan.actions:  # plan order is a valid order: dependencies first
        assert set(action.depends_on) <= seen, action.id
        seen.add(action.id)
    assert len(by_id) == len(plan.actions)  # action ids are unique


def test_the_example_converges_and_then_plans_no_changes_in_one_request(
        crun, current) -> None:
    _converged(current, EXAMPLE)
    current.app.reset_counts()
    status, out, err = crun("plan", EXAMPLE)
    assert status == 0, err
    assert "No changes. The account matches the manifests." in out
    assert current.app.requests == 1
    status, out, err = crun("check", EXAMPLE)
    assert (status, out) == (0, ""), err


def test_check_exits_2_after_a_rename_made_through_graphql(crun, current, tmp_path) -> None:
    _converged(current, EXAMPLE)
    with CurrentClient(current.url, current.token) as client:
        acme = read_account(client).by_xid("project")["acme"]
    from .conftest import Gql  # the plain GraphQL poster: an out-of-band change

    Gql(current, {})('mutation($id: BeeboleId!) { editProjectName(id: $id, name: "Acme") '
                     "{ id } }", id=acme.id)
    status, out, err = crun("check", EXAMPLE)
    assert status == 2, err
    assert "project acme (ACME Corp)" in out and "update (editProjectName)" in out
    assert 'name: "Acme" -> "ACME Corp"' in out
    status, out, _ = crun("check", EXAMPLE, "--format", "json")
    assert status == 2
    [action] = json.loads(out)["actions"]
    assert (action["service"], action["payload"]) == ("editProjectName",
                                                      {"id": acme.id, "name": "ACME Corp"})


def test_plan_renders_as_json_and_markdown(crun) -> None:
    status, out, err = crun("plan", EXAMPLE, "--format", "json")
    assert status == 0, err
    doc = json.loads(out)
    services = {a["service"] for a in doc["actions"]}
    assert {"addProject", "addPerson", "tagPerson", "assignTaskToProject"} <= services
    assert doc["manifests"]["path"] == str(EXAMPLE)
    status, out, err = crun("plan", EXAMPLE, "--format", "markdown")
    assert status == 0, err
    assert "addProject" in out and "acme" in out


def _write(tmp_path: Path, files: dict[str, str]) -> Path:
    path = tmp_path / "bad"
    path.mkdir()
    (path / "settings.yaml").write_text("settings:\n  platform: current\n")
    for name, text in files.items():
        (path / name).write_text(text)
    return path


def test_unknown_references_and_duplicates_are_all_reported_with_no_request(
        crun, current, tmp_path) -> None:
    path = _write(tmp_path, {"people.yaml": """\
people:
  - {xid: ann, name: Ann, email: ann@example.com, role: Employee, managers: [ghost]}
  - {xid: ann, name: Ann Two, email: ann@example.com, role: Employee}
""", "tasks.yaml": """\
taskCategories: [{name: Dev, statuses: [Open]}]
tasks:
  - {xid: t1, name: Build, category: Dev, status: Shipped, projects: [nowhere]}
"""})
    current.app.reset_counts()
    status, out, err = crun("plan", path)
    assert status == 1 and out == ""
    people, tasks = path / "people.yaml", path / "tasks.yaml"
    assert f"{people}:2:" in err and "'ghost', which no manifest declares" in err
    assert f"{people}:3:" in err and "person xid 'ann' is declared twice" in err
    assert "email 'ann@example.com' is also Ann's" in err
    assert f"{tasks}:3:" in err and "status 'Shipped' is not one of category 'Dev'" in err
    assert "project 'nowhere', which no manifest declares" in err
    assert "Traceback" not in err
    assert current.app.requests == 0


def test_a_malformed_set_is_refused_with_file_and_line_and_no_request(
        crun, current, tmp_path) -> None:
    path = _write(tmp_path, {"people.yaml": "people:\n  - {xid: a, name: A, emial: a@x.io}\n"})
    current.app.reset_counts()
    for command in ("plan", "check", "apply"):
        status, out, err = crun(command, path, *(["--auto-approve"] if command == "apply"
                                                  else []))
        assert status == 1 and out == ""
        assert f"{path / 'people.yaml'}:2:" in err and "emial" in err
        assert "Traceback" not in err
    assert current.app.requests == 0


def test_a_role_neither_declared_nor_live_is_a_problem_on_its_line(crun, tmp_path) -> None:
    path = _write(tmp_path, {"people.yaml": """\
people:
  - {xid: ann, name: Ann, email: ann@example.com, role: Wizard}
"""})
    status, out, err = crun("plan", path)
    assert status == 1
    assert "role 'Wizard' is neither in roles nor in the account" in out
    assert f"{path / 'people.yaml'}:2" in out


def test_a_current_set_against_a_v2_endpoint_is_refused_naming_both(run, sandbox) -> None:
    sandbox.calls.clear()
    for command in ("plan", "check", "apply"):
        status, out, err = run(command, EXAMPLE)
        assert status == 1 and out == ""
        assert "written for platform 'current'" in err and "speaks 'v2'" in err
        assert "settings.yaml:8" in err and "Traceback" not in err
    assert sum(sandbox.calls.values()) == 0


def test_a_v2_set_against_a_current_endpoint_is_refused_naming_both(crun, current) -> None:
    v2 = Path(__file__).resolve().parents[2] / "examples" / "acme"
    current.app.reset_counts()
    for command in ("plan", "check"):
        status, out, err = crun(command, v2)
        assert status == 1 and out == ""
        assert "written for API v2" in err and "speaks 'current'" in err
        assert "Traceback" not in err
    assert current.app.requests == 0


# --changed-since, check --max-calls and --graph work on current sets (test_commands.py),
# and saved plans too (test_saved_plan.py): no option is refused for them any more.


def test_prune_archives_what_no_manifest_names_under_the_safety_threshold(
        crun, current, tmp_path) -> None:
    path = _copy(tmp_path)
    _converged(current, path)
    (path / "absences.yaml").write_text("absenceTypes: []\n")  # every absence type goes
    settings = path / "settings.yaml"
    settings.write_text(settings.read_text().replace("prune: false", "prune: true"))
    status, out, err = crun("plan", path)
    assert status == 0, err
    assert "absenceType sick (Sick leave)" in out and "- deactivate (archiveAbsenceType)" in out
    assert "Refused without --allow-destroy: 3 of 3 absenceType entities would be archived" in out
    assert "Safety loosened by these manifests" in out  # prune: true is said first
    current.app.reset_counts()
    status, out, err = crun("apply", path, "--auto-approve")
    assert status == 1
    assert "refused by the safety threshold" in err and "--allow-destroy" in err
    assert current.app.requests == 2  # the read and the hours behind the archives; no write


def test_prune_never_archives_the_person_the_api_key_belongs_to(
        crun, current, tmp_path) -> None:
    path = _copy(tmp_path)
    _converged(current, path)
    settings = path / "settings.yaml"
    settings.write_text(settings.read_text().replace("prune: false", "prune: true"))
    status, out, err = crun("plan", path)
    assert status == 0, err
    # the sandbox's key belongs to "Sandbox Admin", whom no manifest names
    assert "archivePerson" not in out
    assert "is the person the API key belongs to: not archived" in out
    assert f"? person #{current.person_id()} (Sandbox Admin)" in out  # left alone, and said


def test_archiving_the_api_keys_own_person_is_refused_on_its_line(
        crun, current, tmp_path) -> None:
    me = current.person_id()
    path = _write(tmp_path, {"people.yaml": "roles:\n  - name: Admin\npeople:\n"
                                            f"  - {{id: \"{me}\", name: Sandbox Admin, "
                                            "email: admin@sandbox.invalid, role: Admin, "
                                            "archived: true}\n"})
    current.app.reset_counts()
    status, out, err = crun("plan", path)
    assert status == 1
    assert re.search(r"people\.yaml:\d+", err + out) and "lock the key out" in err + out
    assert "archivePerson" not in out
    status, out, err = crun("apply", path, "--auto-approve")
    assert status == 1 and "lock the key out" in err + out
    run = set(current.app.calls)  # root fields run, by name
    assert run and all(name.startswith(("get", "current")) for name in run), run  # no mutation


def test_adoption_by_id_gives_the_live_entity_its_xid(crun, current, tmp_path) -> None:
    from .conftest import Gql

    gql = Gql(current, {})
    cat = gql('mutation { c: addAbsenceType(name: "Parental leave") { id } }')["c"]["id"]
    path = _write(tmp_path, {"absences.yaml": f"absenceTypes:\n  - {{id: \"{cat}\", xid: "
                                              "parental, name: Parental leave}\n"})
    status, out, err = crun("plan", path)
    assert status == 0, err
    assert "absenceType #" + cat in out or "absenceType parental" in out
    assert "set xid (addCustomFieldValue)" in out
    assert 'xid: (none) -> "parental"' in out


def test_an_adopted_id_deleted_outside_beeplan_is_drift_for_check(crun, tmp_path) -> None:
    path = _write(tmp_path, {"absences.yaml": 'absenceTypes:\n  - {id: "0123456789abcdef01234567"'
                                              ", name: Gone}\n"})
    status, out, err = crun("check", path)
    assert status == 2, err
    assert "deleted outside beeplan" in out and f"{path / 'absences.yaml'}:2" in out


def test_an_xid_held_twice_in_the_account_refuses_the_plan(crun, current, tmp_path) -> None:
    path = _write(tmp_path, {"absences.yaml": "absenceTypes:\n  - {xid: vac, name: Vacation}\n"})
    _converged(current, path)
    from .conftest import Gql

    gql = Gql(current, {})
    with CurrentClient(current.url, current.token) as client:
        field = read_account(client).xid_field
    twin = gql('mutation { t: addAbsenceType(name: "Vacation 2") { id } }')["t"]["id"]
    gql('mutation($f: BeeboleId!, $e: BeeboleId!) { addCustomFieldValue(customFieldId: $f, '
        'entityType: "AbsenceType", entityId: $e, textValue: "vac") { id } }', f=field, e=twin)
    status, out, err = crun("plan", path)
    assert status == 1
    assert "absenceType 'vac' is held by 2 entities" in out
    assert "+ create" not in out  # neither is taken, and no third one is made
    assert f"{path / 'absences.yaml'}:2" in out


def test_the_embedded_sandbox_speaks_the_platform_the_set_is_written_for(
        cli_main, tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("BEEBOLE_ENDPOINT", raising=False)
    status, out, err = cli_main("plan", EXAMPLE, "--endpoint", f"sandbox:{tmp_path / 'c.db'}")
    assert status == 0, err
    assert "+ create (addProject)" in out and "Plan: 51 to create" in out


def test_apply_without_a_terminal_or_auto_approve_writes_nothing(crun, current) -> None:
    current.app.reset_counts()
    status, out, err = crun("apply", EXAMPLE)
    assert status == 1
    assert "+ create (addProject)" in out  # the plan is shown first
    assert "refusing to apply without confirmation" in err and "--auto-approve" in err
    assert current.app.requests == 1  # the read only


def test_the_key_never_appears_in_any_output(crun, current) -> None:
    for fmt in ("text", "json", "markdown", "github"):
        status, out, err = crun("-vv", "plan", EXAMPLE, "--format", fmt)
        assert status == 0, err
        assert current.token not in out + err


# -- apply: needs platforms/current/apply.py's apply_actions (another change) ----------


def test_apply_of_the_example_then_check_is_in_sync(crun, current) -> None:
    status, out, err = crun("apply", EXAMPLE, "--auto-approve")
    assert status == 0, err
    assert "Apply: " in out and "applied" in out
    status, out, err = crun("check", EXAMPLE)
    assert (status, out) == (0, ""), err



VARIANTS = """\
settings:
  platform: current
  xidField: Beeplan key
customFields:
  - {name: Budget, type: number, appliesTo: [projects]}
  - {name: Since, type: date, appliesTo: [people]}
  - {name: Remote, type: boolean, appliesTo: [people]}
  - {name: Tier, type: text, options: [gold, silver], appliesTo: [projects]}
  - {name: Old, type: text, archived: true}
roles:
  - {name: Dev}
  - {name: Retired, archived: true}
tagCategories:
  - name: Teams
    levelNames: [Team, Squad]
    tags:
      - {xid: core, name: Core, description: The core team, managers: [ann],
         tags: [{xid: core-a, name: Squad A}]}
projectCategories:
  - name: Work
    projects:
      - xid: p1
        name: One
        description: first
        customFields: {Budget: 1200.5, Tier: gold}
        assigned: {people: [ann], tags: [core]}
        projects:
          - {xid: p1a, name: One A, archived: true}
          - {xid: p1b, name: One B, assigned: {people: [bob]}, managers: [ann]}
people:
  - {xid: ann, name: Ann, email: ann@example.com, role: Dev, startDate: "2024-03-01", lang: fr,
     customFields: {Since: "2020-01-02", Remote: true}, tags: [core-a]}
  - {xid: bob, name: Bob, email: bob@example.com, role: Dev, managers: [ann],
     customFields: {Remote: false}}
taskCategories:
  - {name: Flow, statuses: [Todo, Doing, Done]}
tasks:
  - {xid: t1, name: Parent task, category: Flow, status: Doing, description: big,
     projects: [p1, p1b], assigned: {people: [bob], tags: [core]}, managers: [ann], tags: [core]}
  - {xid: t2, name: Child task, parent: t1, status: Done}
absenceTypes:
  - {xid: vac, name: Vacation}
"""


def test_every_kind_and_field_converges_and_an_edit_plans_exactly_its_mutations(
        crun, current, tmp_path) -> None:
    path = tmp_path / "variants"
    path.mkdir()
    (path / "all.yaml").write_text(VARIANTS)
    _converged(current, path)  # an xid field of another name, created first
    status, out, err = crun("check", path)
    assert (status, out) == (0, ""), out + err
    text = (VARIANTS.replace("Budget: 1200.5", "Budget: 99")
            .replace("Remote: false", "Remote: true")
            .replace('Since: "2020-01-02", ', "")
            .replace("status: Doing", "status: Todo")
            .replace("lang: fr", "lang: es")
            .replace("managers: [ann], tags: [core]}", "managers: [], tags: [core]}"))
    (path / "all.yaml").write_text(text)
    status, out, err = crun("plan", path, "--format", "json")
    assert status == 0, err
    got = sorted((a["service"], a["target"]["xid"]) for a in json.loads(out)["actions"])
    assert got == [("deleteCustomFieldValue", "ann"), ("editCustomFieldValueBoolean", "bob"),
                   ("editCustomFieldValueNumber", "p1"), ("editPersonLang", "ann"),
                   ("editTaskStatus", "t1"), ("removeManagerOfTask", "t1")]
    status, out, err = crun("plan", path)
    assert 'customFields.Since: "2020-01-02" -> (none)' in out  # a date, not milliseconds
    assert 'status: "Doing" -> "Todo"' in out
    _converged(current, path)
    status, out, err = crun("check", path)
    assert (status, out) == (0, ""), out + err


def test_no_xid_field_is_created_when_nothing_stores_an_xid(crun, tmp_path) -> None:
    path = _write(tmp_path, {"tasks.yaml": "taskCategories: [{name: Dev, statuses: [Open]}]\n"})
    status, out, err = crun("plan", path)
    assert status == 0, err
    assert "addTaskCategory" in out and "External ID" not in out
    (tmp_path / "more").mkdir()
    path = _write(tmp_path / "more", {"absences.yaml": "absenceTypes: [{xid: v, name: V}]\n"})
    status, out, err = crun("plan", path)
    assert "customField External ID (External ID)" in out  # a create stores its xid there


def test_under_prune_keys_the_set_lacks_are_named_and_left_alone(crun, tmp_path) -> None:
    path = _write(tmp_path, {"absences.yaml": "absenceTypes: [{xid: v, name: V}]\n"})
    settings = path / "settings.yaml"
    settings.write_text(settings.read_text() + "  prune: true\n")
    status, out, err = crun("plan", path)
    assert status == 0, err
    assert "no key for roles (1 live), people (1 live)" in out  # the key's own person, Admin
    assert "declare its key, even empty: `roles: []`, `people: []`" in out
    assert "archivePerson" not in out and "archiveRole" not in out
