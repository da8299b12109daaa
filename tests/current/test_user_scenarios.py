"""A user's session on the current platform: what running the documented commands found.

Each test is a scenario a user ran (import, edit, plan, apply, plan) against the
current-platform sandbox over HTTP, with the real client and the CLI; each one held a
bug once (a plan that did not converge, an error that did not say what to do).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from beeplan.platforms.current.sandbox import CurrentSandboxServer

from .conftest import Gql


def _gql(server: CurrentSandboxServer) -> Gql:
    return Gql(server, {})


def _write(path: Path, text: str) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "set.yaml").write_text(text)
    return path


_TREE = """\
settings: {{platform: current}}
projectCategories:
  - name: Clients
    projects:
      - xid: beta
        name: Beta
        archived: {archived}
        projects:
          - xid: web
            name: Web
            projects:
              - {{xid: home, name: Home}}
          - {{xid: old, name: Old, archived: true}}
"""


def _archived(gql: Gql) -> dict[str, bool]:
    data = gql("{ p: getProjects(archived: true) { name archived } }")
    return {p["name"]: p["archived"] for p in data["p"]}


def test_archiving_a_parent_keeps_the_subprojects_the_manifests_keep_active(
        crun, current, tmp_path) -> None:
    """archiveProject archives the whole subtree: the subprojects the manifests keep
    active are unarchived after it, in the same apply, so the next plan is empty."""
    path = _write(tmp_path / "set", _TREE.format(archived="false"))
    status, out, err = crun("apply", path, "--auto-approve")
    assert status == 0, err
    _write(path, _TREE.format(archived="true"))
    status, out, err = crun("plan", path, "--no-authors")
    assert status == 0, err
    assert "unarchiveProject" in out and "archiving Beta archives its subtree" in out, out
    status, out, err = crun("plan", path)  # with authors: the unarchives are not drift
    assert status == 0, err
    assert "looked up in 2 requests for 1 entity" in out, out
    status, out, err = crun("apply", path, "--auto-approve")
    assert status == 0, err
    assert "3 applied, 0 failed, 0 skipped" in out, out + err
    assert _archived(_gql(current)) == {"Beta": True, "Web": False, "Home": False,
                                        "Old": True}
    status, out, err = crun("plan", path, "--no-authors", "--detailed-exitcode")
    assert status == 0, out + err
    assert "No changes" in out


def test_a_new_subproject_under_a_new_archived_parent_stays_active(
        crun, current, tmp_path) -> None:
    """The same cascade on creation: the parent is created, its children under it, the
    parent archived last, then the children the manifests keep active unarchived."""
    path = _write(tmp_path / "set", _TREE.format(archived="true"))
    status, out, err = crun("apply", path, "--auto-approve")
    assert status == 0, err
    assert _archived(_gql(current)) == {"Beta": True, "Web": False, "Home": False,
                                        "Old": True}
    status, out, err = crun("plan", path, "--no-authors", "--detailed-exitcode")
    assert status == 0, out + err


def test_a_saved_plan_that_archives_a_parent_keeps_its_subprojects_active(
        crun, current, tmp_path) -> None:
    """``plan -o`` then ``apply FILE``: the unarchives after the archive are not taken for
    work already done because the account shows the subprojects active before it ran."""
    path = _write(tmp_path / "set", _TREE.format(archived="false"))
    status, out, err = crun("apply", path, "--auto-approve")
    assert status == 0, err
    _write(path, _TREE.format(archived="true"))
    saved = tmp_path / "plan.json"
    status, out, err = crun("plan", path, "-o", saved, "--no-authors")
    assert status == 0, err
    status, out, err = crun("apply", saved, "--auto-approve")
    assert status == 0, out + err
    assert _archived(_gql(current)) == {"Beta": True, "Web": False, "Home": False,
                                        "Old": True}


# -- the endpoint a user types ---------------------------------------------------------


@pytest.mark.parametrize("given", ["", "/", "/api/v2"])
def test_a_current_set_against_the_servers_root_says_the_graphql_url_to_use(
        current, cli_main, tmp_path, monkeypatch, given: str) -> None:
    """``beeplan sandbox serve`` prints one port for both platforms: a user who passes
    the bare ``http://127.0.0.1:PORT`` gets the URL to use, not just a platform's name;
    zero requests, one line, no traceback."""
    monkeypatch.setenv("BEEBOLE_TOKEN", current.token)
    root = current.url.removesuffix("/graphql")
    path = _write(tmp_path / "set", _TREE.format(archived="false"))
    status, out, err = cli_main("plan", path, "--endpoint", root + given)
    assert status == 1
    assert f"{path / 'set.yaml'}:1: these manifests are written for platform 'current'" in err
    assert f"use an endpoint of 'current': --endpoint {root}/graphql" in err, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert current.token not in out + err
    assert current.app.requests == 0


def test_a_v2_set_against_a_graphql_url_says_the_v2_url_to_use(
        current, cli_main, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("BEEBOLE_TOKEN", current.token)
    path = tmp_path / "v2.yaml"
    path.write_text("companies:\n  - {xid: acme, name: ACME}\n")
    status, out, err = cli_main("plan", path, "--endpoint", current.url)
    assert status == 1
    root = current.url.removesuffix("/graphql")
    assert f"use an API v2 endpoint (--endpoint {root}/api/v2)" in err, err
    assert current.app.requests == 0


def test_the_suggested_endpoint_never_echoes_what_the_url_carried_besides_its_host() -> None:
    """A URL with a user name, password or query (a token pasted there by mistake): the
    error names the host and path only."""
    from beeplan.platforms import endpoint_like, shown_endpoint

    url = "http://me:s3cret@127.0.0.1:8080/api/v2?apikey=s3cret#x"
    assert shown_endpoint(url) == "http://127.0.0.1:8080/api/v2"
    assert endpoint_like("current", url) == "http://127.0.0.1:8080/graphql"
    assert endpoint_like("current", "https://beebole-apps.com/api/v2") == \
        "https://app.beebole.com/graphql"
    assert endpoint_like("v2", "sandbox:x.db") == "https://beebole-apps.com/api/v2"
    assert endpoint_like("current", "http://[::1]:9/") == "http://[::1]:9/graphql"


def test_an_unreachable_graphql_endpoint_says_what_failed_and_where_never_the_key(
        cli_main, tmp_path, monkeypatch) -> None:
    """No server at the URL (no network, a stopped sandbox): one line naming the read and
    the URL tried, exit 1, no traceback, and the key nowhere in what is printed."""
    key = "k3y-that-must-not-show"
    monkeypatch.setenv("BEEBOLE_TOKEN", key)
    path = _write(tmp_path / "set", _TREE.format(archived="false"))
    status, out, err = cli_main("plan", path, "--endpoint", "http://127.0.0.1:1/graphql")
    assert status == 1
    assert "ReadAccount: no answer from the API (" in err, err
    assert "tried http://127.0.0.1:1/graphql" in err, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert key not in out + err


# -- bad input: one line with file and line, no request -----------------------------------


@pytest.mark.parametrize("date, words", [
    ("2024-13-45", "'2024-13-45' is not a real date: write YYYY-MM-DD"),
    ('"2024-02-30"', "'2024-02-30' is not a real date: write YYYY-MM-DD"),
    ('"2024-2-3"', "'2024-2-3' is not a date: write YYYY-MM-DD"),
])
def test_a_start_date_that_is_no_calendar_day_is_refused_by_validate_and_plan(
        crun, current, tmp_path, date: str, words: str) -> None:
    """It passed validate and crashed plan with a traceback (month must be in 1..12)."""
    path = _write(tmp_path / "set", "settings: {platform: current}\nroles: [{name: Staff}]\n"
                  "people:\n  - xid: ann\n    name: Ann\n    email: ann@example.com\n"
                  f"    role: Staff\n    startDate: {date}\n")
    for command in ("validate", "plan"):
        status, out, err = crun(command, path)
        assert status == 1, (command, out, err)
        assert f"{path / 'set.yaml'}:8: people[0].startDate: {words}" in err, err
        assert err.count("\n") == 2 and "Traceback" not in err, err  # the count, the line
    assert current.app.requests == 0


def test_a_misspelt_platform_is_one_line_not_the_v2_schemas_dozens(
        crun, current, tmp_path) -> None:
    """``platform: curent`` sent the whole current set through the v2 schema: one error
    per key. Now one line, with the name meant."""
    path = _write(tmp_path / "set", "settings: {platform: curent}\nroles: [{name: Staff}]\n"
                  "projectCategories:\n  - name: Clients\n    projects:\n"
                  "      - {xid: acme, name: Acme}\n")
    for command in ("validate", "plan", "check", "apply"):
        status, out, err = crun(command, path)
        assert status == 1, (command, out, err)
        assert (f"{path / 'set.yaml'}:1: settings.platform: 'curent' is not a platform "
                "beeplan knows; did you mean 'current'? write one of: current, v2") in err, err
        assert err.count("\n") == 2 and "Traceback" not in err, err
    assert current.app.requests == 0


# -- --help: the current platform where it applies -------------------------------------


@pytest.mark.parametrize("command", ["plan", "apply", "check", "usage", "import"])
def test_the_help_of_each_account_command_shows_the_current_platforms_endpoint(
        cli_main, command: str) -> None:
    """A user with a current set reads --help for the URL: the endpoint option says it,
    and the examples run a current set."""
    status, out, err = cli_main(command, "--help")
    assert status == 0, err
    text = " ".join(out.split())
    assert "https://app.beebole.com/graphql" in text, out
    assert "/graphql of 'beeplan sandbox serve'" in text, out
    if command != "import":
        assert f"beeplan {command} examples/current --endpoint" in out, out


def test_import_platform_current_at_the_servers_root_says_the_graphql_url(
        current, cli_main, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("BEEBOLE_TOKEN", current.token)
    root = current.url.removesuffix("/graphql")
    status, out, err = cli_main("import", "--endpoint", root, "--platform", "current",
                                "-o", tmp_path / "out")
    assert status == 1
    assert f"give an endpoint of 'current' (--endpoint {root}/graphql)" in err, err
    assert not (tmp_path / "out").exists() and current.app.requests == 0


@pytest.mark.parametrize("typo, meant, line", [
    ("emial", "email", 6), ("nmae", "name", 5), ("rol", "role", 7)])
def test_a_misspelt_required_key_is_one_line_not_two(
        cli_main, tmp_path, typo: str, meant: str, line: int) -> None:
    """``emial:`` said "missing required key 'email'" too, on another line: one typo,
    one line, with the key meant."""
    text = ("settings: {platform: current}\nroles: [{name: Staff}]\npeople:\n"
            "  - xid: ann\n    name: Ann\n    email: ann@example.com\n    role: Staff\n")
    path = _write(tmp_path / "set", text.replace(f"    {meant}:", f"    {typo}:"))
    status, out, err = cli_main("validate", path)
    assert status == 1
    assert err.splitlines() == [
        "Error: 1 error in the manifests:",
        f"  {path / 'set.yaml'}:{line}: people[0].{typo}: unknown key '{typo}'; "
        f"did you mean '{meant}'?"], err


_PEOPLE = """\
settings: {{platform: current}}
roles: [{{name: Staff}}]
customFields:
  - {{name: Tier, type: text, options: [Gold, Silver], appliesTo: [people]}}
people:
  - {{xid: ann, name: Ann, email: ann@example.com, role: Staff}}
  - {{xid: {bo}, name: Bo, email: bo@example.com, role: Staff, managers: [{boss}],
     customFields: {{Tier: {tier}}}}}
"""


@pytest.mark.parametrize("fields, words", [
    ({"boss": "janet"}, "bo: managers names person 'janet', which no manifest declares"),
    ({"bo": "ann"}, "person xid 'ann' is declared twice"),
    ({"tier": "Bronze"}, "customFields.Tier: 'Bronze' is not one of the field's options"),
])
def test_validate_reports_what_plan_refuses_offline(
        crun, current, tmp_path, fields: dict[str, str], words: str) -> None:
    """An unknown reference, a duplicate xid, a value the field refuses: validate said
    "valid" (it ran the schema only) and plan refused the set. Both say it now, with the
    file and line, before any request."""
    values = {"bo": "bo", "boss": "ann", "tier": "Gold", **fields}
    path = _write(tmp_path / "set", _PEOPLE.format(**values))
    for command in ("validate", "plan"):
        status, out, err = crun(command, path)
        assert status == 1, (command, out, err)
        assert f"{path / 'set.yaml'}:" in err and words in err, (command, err)
        assert "valid for" not in out and "Traceback" not in err
    assert current.app.requests == 0
    path = _write(tmp_path / "set", _PEOPLE.format(bo="bo", boss="ann", tier="Gold"))
    status, out, err = crun("validate", path)
    assert status == 0 and "valid for Beebole's current platform" in out, out + err


# -- "changed outside beeplan" only when it was ------------------------------------------


def _projects(gql: Gql) -> dict[str, str]:
    return {p["name"]: p["id"] for p in gql("{ p: getProjects { id name } }")["p"]}


def test_a_manifest_edit_after_apply_is_not_called_a_change_outside_beeplan(
        crun, current, tmp_path) -> None:
    """apply, then rename in the YAML: the plan said "changed outside beeplan: renamed by
    <the key's person> with beeplan's own key": false, beeplan made that edit. A change
    made through the API after the apply still gets its line."""
    path = _write(tmp_path / "set", _TREE.format(archived="false"))
    status, out, err = crun("apply", path, "--auto-approve")
    assert status == 0, err
    _write(path, _TREE.format(archived="false").replace("name: Beta", "name: Beta 2")
           .replace("name: Home", "name: Homepage"))
    status, out, err = crun("plan", path)
    assert status == 0, err
    assert 'name: "Beta" -> "Beta 2"' in out and 'name: "Home" -> "Homepage"' in out, out
    assert "changed outside beeplan" not in out, out
    assert "2 of them were last changed by beeplan's own apply from this machine" in out, out
    gql = _gql(current)
    gql('mutation($id: BeeboleId!) { editProjectName(id: $id, name: "Webb") { id } }',
        id=_projects(gql)["Web"])
    status, out, err = crun("check", path)
    assert status == 2, err
    web = out.split("project web (Web)", 1)[1]
    assert web.lstrip().startswith("changed outside beeplan: renamed by"), out
    assert out.count("changed outside beeplan") == 1, out
    assert "2 of them were last changed by beeplan's own apply" in out, out
    # its operations since beeplan's apply: the rename, not beeplan's own create
    assert "editProjectName by" in web and "name=Webb" in web, out
    assert "addProject by" not in web.split("~ update", 1)[0], out
    assert "the operations listed are those since beeplan's last apply" in out, out


def test_without_an_audit_trail_beeplans_own_edit_keeps_its_line(
        crun, current, tmp_path) -> None:
    """No audit trail (tagging leaves lastEdited alone): beeplan cannot be sure nothing
    changed since its apply, so the line stays, as before."""
    current.audit_trail = False
    path = _write(tmp_path / "set", _TREE.format(archived="false"))
    status, out, err = crun("apply", path, "--auto-approve")
    assert status == 0, err
    _write(path, _TREE.format(archived="false").replace("name: Beta", "name: Beta 2"))
    status, out, err = crun("plan", path)
    assert status == 0, err
    assert "changed outside beeplan: last edited by" in out, out
    assert "beeplan's own apply" not in out, out


def test_a_saved_plan_of_the_embedded_sandbox_applies_in_the_next_run(
        cli_main, tmp_path) -> None:
    """``plan -o`` then ``apply FILE`` with ``--endpoint sandbox:FILE``: each run opened the
    file with a new random key, so the plan was refused as "made for another account"."""
    endpoint = f"sandbox:{tmp_path / 'demo.db'}"
    path = _write(tmp_path / "set", _TREE.format(archived="false"))
    saved = tmp_path / "plan.json"
    status, out, err = cli_main("plan", path, "--endpoint", endpoint, "-o", saved)
    assert status == 0, err
    status, out, err = cli_main("apply", saved, "--endpoint", endpoint, "--auto-approve")
    assert status == 0, out + err
    assert "made for another account" not in err
    assert "Apply: 7 applied, 0 failed, 0 skipped" in out, out + err
    status, out, err = cli_main("plan", path, "--endpoint", endpoint, "--detailed-exitcode")
    assert status == 0 and "No changes" in out, out + err


@pytest.mark.parametrize("line, words", [
    ("    userGroup: leader\n", "unknown key 'userGroup' (allowed: archived, customFields, "
     "email, id, lang, managers, name, role, startDate, tags, xid): an API v2 key; on the "
     "current platform a person's user group is their role"),
    ("    leaders: [ann]\n", "unknown key 'leaders' (allowed: archived, customFields, email, "
     "id, lang, managers, name, role, startDate, tags, xid): an API v2 key; on the current "
     "platform leaders are managers"),
    ("    active: false\n", "unknown key 'active': an API v2 key; on the current platform "
     "write 'archived: true' instead of 'active: false'"),
    ("    company: acme\n", "unknown key 'company' (allowed: "),
])
def test_a_v2_key_in_a_current_set_says_what_to_write_instead(
        crun, current, tmp_path, line: str, words: str) -> None:
    """A v2 habit (or a half-converted set): the error says this platform's word for it,
    on the key's own line, before any request. 'active' got "did you mean 'archived'?",
    which means its opposite."""
    text = ("settings: {platform: current}\nroles: [{name: Staff}]\npeople:\n"
            "  - xid: ann\n    name: Ann\n    email: ann@example.com\n    role: Staff\n")
    path = _write(tmp_path / "set", text + line)
    for command in ("validate", "plan"):
        status, out, err = crun(command, path)
        assert status == 1
        assert f"{path / 'set.yaml'}:8: people[0]." in err and words in err, err
        assert "'beeplan convert' rewrites a v2 set" in err and "did you mean" not in err
        assert err.count("\n") == 2, err
    assert current.app.requests == 0


def test_a_current_set_that_forgot_its_platform_is_told_to_say_it(
        crun, current, tmp_path) -> None:
    """No ``settings.platform``: the set was read as v2, one error per key ("unknown key
    'projectCategories'..."). One line now, with the setting to add; a v2 set is not
    affected (its keys are v2's)."""
    path = _write(tmp_path / "set", _TREE.format(archived="false").replace(
        "settings: {platform: current}\n", ""))
    for command in ("validate", "plan"):
        status, out, err = crun(command, path)
        assert status == 1
        assert (f"{path / 'set.yaml'}:1: projectCategories: a key of Beebole's current "
                "platform, in a set that does not say which platform it is written for") in err
        assert "add 'settings: {platform: current}'" in err and err.count("\n") == 2, err
    assert current.app.requests == 0


# -- usage ------------------------------------------------------------------------------


def test_usage_max_calls_below_its_two_requests_is_refused_before_any(
        crun, current, tmp_path) -> None:
    """``usage --max-calls 1`` spent 2 requests anyway on a current set."""
    path = _write(tmp_path / "set", _TREE.format(archived="false"))
    status, out, err = crun("apply", path, "--auto-approve")
    assert status == 0, err
    before = current.app.requests
    status, out, err = crun("usage", path, "--max-calls", "1")
    assert status == 1
    assert ("usage of a current-platform set takes 2 requests (the account, then its time "
            "records), more than --max-calls 1: raise it to 2") in err, err
    assert current.app.requests == before
    status, out, err = crun("usage", path, "--max-calls", "2")
    assert status == 0, err
    assert "API calls: 2 (1 reading, 1 reading the time records)." in out, out
    assert current.app.requests == before + 2


def test_one_call_is_said_in_the_singular(crun, tmp_path) -> None:
    path = _write(tmp_path / "set", _TREE.format(archived="false"))
    status, out, err = crun("apply", path, "--auto-approve")
    assert status == 0, err
    _write(path, _TREE.format(archived="false").replace("name: Beta", "name: Beta 2"))
    status, out, err = crun("apply", path, "--auto-approve")
    assert status == 0, err
    assert "Apply: 1 applied, 0 failed, 0 skipped (1 API call, " in out, out
    status, out, err = crun("import", "-o", tmp_path / "imported")
    assert status == 0, err
    assert "files; 1 API call, " in out, out


def test_convert_ends_with_the_next_step_that_works_today(cli_main, tmp_path) -> None:
    """convert said "plan/apply on the current platform are being connected": they work;
    it says what to run next."""
    acme = Path(__file__).resolve().parents[2] / "examples" / "acme"
    status, out, err = cli_main("convert", acme, "-o", tmp_path / "current")
    assert status == 0, err
    last = out.strip().splitlines()[-1]
    assert "being connected" not in out, last
    assert f"Review them, then: beeplan plan {tmp_path / 'current'} --endpoint URL/graphql" \
        in last, last
    assert "1 value assumed" in last, last


# -- a task category without statuses ----------------------------------------------------

_TASKS = """\
settings: {{platform: current}}
taskCategories:
  - name: Dev{statuses}
tasks:
  - xid: k1
    name: K1
    category: Dev
  - {{xid: k11, name: K11, parent: k1}}
"""


def test_a_task_in_a_category_without_statuses_is_refused_before_any_write(
        crun, current, tmp_path) -> None:
    """A task always has a status (BeeboleTask.status is non-null). The sandbox made one
    without, and every later read of the account failed ("Cannot return null for
    non-nullable field BeeboleTask.status"): the account could no longer be planned."""
    path = _write(tmp_path / "set", _TASKS.format(statuses=""))
    status, out, err = crun("apply", path, "--auto-approve")
    assert status == 1
    assert (f"task k1: its task category has no status, and a task on this platform always "
            f"has one: give the category statuses (statuses: [Open, Done]) "
            f"({path / 'set.yaml'}:5)") in err, err
    assert "Traceback" not in err
    _write(path, _TASKS.format(statuses="\n    statuses: [Open, Done]"))
    status, out, err = crun("apply", path, "--auto-approve")
    assert status == 0, err
    status, out, err = crun("plan", path, "--detailed-exitcode")
    assert status == 0 and "No changes" in out, out + err


def test_the_sandbox_refuses_a_task_that_would_have_no_status(current) -> None:
    gql = _gql(current)
    cat = gql('mutation { c: addTaskCategory(name: "Dev") { id } }')["c"]["id"]
    errors = gql.errors('mutation($c: BeeboleId) { addTask(name: "K", categoryId: $c) { id } }',
                        c=cat)
    assert errors == ["InvalidArgument: the task's category has no status yet, and a task "
                      "always has one: add one (addTaskCategoryStatus) first"]
    assert gql("{ t: getTasks { id status { id } } }")["t"] == []  # reads still work
