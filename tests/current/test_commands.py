"""The commands once refused on current sets: diff, graph, --changed-since, --max-calls.

diff and graph are offline (no token, no request). --changed-since and --max-calls run
against the current sandbox over HTTP with the real client; BASE is a manifest folder,
so no test depends on git.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from beeplan.model import Ref
from beeplan.planner import Action
from beeplan.platforms.current.client import CurrentClient
from beeplan.platforms.current.lookups import apply_cost
from beeplan.platforms.current.plan import make_plan
from beeplan.platforms.current.reader import read_account
from beeplan.platforms.current.sandbox import CurrentSandboxServer

from .conftest import Gql
from .planning import converge, desired_of

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "current"


def _copy(tmp_path: Path, name: str = "set") -> Path:
    path = tmp_path / name
    shutil.copytree(EXAMPLE, path)
    return path


def _edit(path: Path, file: str, old: str, new: str) -> None:
    target = path / file
    text = target.read_text()
    assert old in text, (file, old)
    target.write_text(text.replace(old, new, 1))


def _converged(server: CurrentSandboxServer, path: Path) -> dict[tuple[str, str], str]:
    desired = desired_of(path)
    xid_field = desired.settings.xid_field
    with CurrentClient(server.url, server.token) as client:
        converge(client, make_plan(desired, read_account(client, xid_field=xid_field)),
                 xid_field)
        live = read_account(client, xid_field=xid_field)
    return {(n.kind, n.xid): n.id for n in live.nodes if n.xid is not None}


# -- diff: offline, entry by entry ------------------------------------------------------


def test_diff_of_two_current_sets_shows_each_change_field_by_field(
        cli_main, tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("BEEBOLE_TOKEN", raising=False)  # offline: no token needed
    old, new = _copy(tmp_path, "old"), _copy(tmp_path, "new")
    _edit(new, "absences.yaml", "{xid: vacation, name: Vacation}",
          "{xid: vacation, name: Holidays}")
    _edit(new, "absences.yaml", "  - {xid: sick, name: Sick leave}\n", "")
    (new / "absences.yaml").write_text((new / "absences.yaml").read_text()
                                       + "  - {xid: parental, name: Parental leave}\n")
    status, out, err = cli_main("diff", old, new, "--detailed-exitcode")
    assert status == 2, err
    assert f"Changes from {old} to {new}:" in out
    assert "absenceType vacation (Holidays)" in out and 'name: "Vacation" -> "Holidays"' in out
    assert "absenceType parental (Parental leave)" in out and "+ create" in out
    # prune is off: the dropped entry is left alone by apply, and said so
    assert "absenceType sick (Sick leave): the whole entry (settings.prune is off" in out
    status, out, err = cli_main("diff", old, new, "--format", "json")
    doc = json.loads(out)
    assert status == 0 and doc["changes_present"] is True
    assert {a["target"]["xid"] for a in doc["actions"]} == {"vacation", "parental"}
    assert cli_main("diff", old, old, "--detailed-exitcode")[0] == 0  # no change: exit 0


def test_diff_tells_a_cleared_value_from_a_key_no_longer_managed(cli_main, tmp_path) -> None:
    old, new = _copy(tmp_path, "old"), _copy(tmp_path, "new")
    # customFields present is authoritative: {} clears; a relation key left out is released
    _edit(new, "people.yaml", '    customFields: {location: "Salt Lake City, UT, USA"}\n',
          "    customFields: {}\n")
    _edit(new, "people.yaml", "    managers: [jane]\n", "")
    status, out, err = cli_main("diff", old, new)
    assert status == 0, err
    assert "person jane (Jane Clark)" in out
    assert 'customFields.location: "Salt Lake City, UT, USA" -> (none)' in out
    assert "No longer managed by beeplan" in out and "person rosa (Rosa Parks): managers" in out


def test_diff_under_prune_archives_the_dropped_entry_and_says_the_settings_change(
        cli_main, tmp_path) -> None:
    old, new = _copy(tmp_path, "old"), _copy(tmp_path, "new")
    _edit(new, "settings.yaml", "prune: false", "prune: true")
    _edit(new, "absences.yaml", "  - {xid: sick, name: Sick leave}\n", "")
    status, out, err = cli_main("diff", old, new, "--format", "markdown")
    assert status == 0, err
    assert "sick" in out and "archiveAbsenceType" in out
    assert "settings.prune: false -\\> true" in out  # Markdown-escaped


def test_diff_refuses_sets_of_two_platforms_and_broken_sets_with_file_and_line(
        cli_main, tmp_path) -> None:
    acme = Path(__file__).resolve().parents[2] / "examples" / "acme"
    status, out, err = cli_main("diff", acme, EXAMPLE)
    assert status == 1 and "written for API v2" in err and "Traceback" not in err
    status, out, err = cli_main("diff", EXAMPLE, acme)
    assert status == 1 and "diff compares two sets of one platform" in err
    new = _copy(tmp_path)
    _edit(new, "absences.yaml", "{xid: sick, name: Sick leave}", "{xid: sick}")
    status, out, err = cli_main("diff", EXAMPLE, new)
    assert status == 1 and f"{new / 'absences.yaml'}:" in err and "Traceback" not in err
    empty = tmp_path / "empty"
    empty.mkdir()  # the first pull request: no manifests at OLD yet
    status, out, err = cli_main("diff", empty, EXAMPLE)
    assert status == 0, err
    assert "project acme (ACME Corp)" in out and "+ create" in out


# -- graph: offline, the set's own structure --------------------------------------------


@pytest.mark.parametrize("fmt", ["mermaid", "dot"])
def test_graph_draws_categories_trees_and_managers(cli_main, fmt) -> None:
    status, out, err = cli_main("graph", EXAMPLE, "--format", fmt)
    assert status == 0, err
    assert out.startswith("flowchart" if fmt == "mermaid" else "digraph")
    for name in ("Clients", "ACME Corp", "Development", "Country", "United States",
                 "Jane Clark"):
        assert name in out, name
    assert "manages" in out


def test_graph_escapes_hostile_names_and_caps_the_size(cli_main, tmp_path) -> None:
    path = _copy(tmp_path)
    _edit(path, "absences.yaml", "{xid: vacation, name: Vacation}", "{xid: vacation, name: x}")
    _edit(path, "projects.yaml", "name: ACME Corp", 'name: "A\\"]%%{init: {}}%%"')
    status, out, err = cli_main("graph", path, "--max-nodes", "3")
    assert status == 0, err
    assert "%%{init" not in out and "more not shown" in out


def test_plan_graph_draws_the_changed_part(crun, current, tmp_path) -> None:
    path = _copy(tmp_path)
    _converged(current, path)
    _edit(path, "projects.yaml", "name: Development", "name: Dev")
    status, out, err = crun("plan", path, "--format", "markdown", "--graph", "--no-authors")
    assert status == 0, err
    assert "```mermaid" in out and "Dev" in out and "ACME Corp" in out  # with its parent
    assert "Globex" not in out.split("```mermaid")[1]  # only the changed part


# -- --changed-since: the full plan restricted to what changed ---------------------------


def test_changed_since_plans_only_what_changed_and_says_drift_elsewhere_is_left_out(
        crun, current, tmp_path) -> None:
    base = _copy(tmp_path, "base")
    path = _copy(tmp_path)
    ids = _converged(current, path)
    Gql(current, {})('mutation($id: BeeboleId!) { editProjectName(id: $id, name: "Acme") '
                     "{ id } }", id=ids[("project", "acme")])  # drift, not in the change
    _edit(path, "absences.yaml", "{xid: vacation, name: Vacation}",
          "{xid: vacation, name: Holidays}")
    current.app.reset_counts()
    status, out, err = crun("plan", path, "--changed-since", str(base), "--no-authors")
    assert status == 0, err
    assert "absenceType vacation (Holidays)" in out
    assert "ACME Corp" not in out  # the drift is not part of this change
    assert "targeted plan: 1 entry changed since" in out and "left out of this plan" in out
    assert current.app.requests == 1
    status, out, _ = crun("plan", path, "--changed-since", str(base), "--format", "json",
                          "--no-authors")
    assert json.loads(out)["targeted"] == {"since": str(base), "entries": 1}
    # check --changed-since: exit 2 for the change; the full check sees the drift too
    assert crun("check", path, "--changed-since", str(base), "--no-authors")[0] == 2
    status, out, _ = crun("check", path, "--no-authors")
    assert status == 2 and "ACME Corp" in out and "Holidays" in out


def test_changed_since_falls_back_to_a_full_plan_saying_why(crun, current, tmp_path) -> None:
    base = _copy(tmp_path, "base")
    path = _copy(tmp_path)
    _edit(path, "settings.yaml", "prune: false", "prune: true")
    status, out, err = crun("plan", path, "--changed-since", str(base), "--no-authors")
    assert status == 0, err
    assert "the settings changed since" in out and "full plan, not a targeted one" in out
    assert "Plan: 51 to create" in out
    acme = Path(__file__).resolve().parents[2] / "examples" / "acme"
    status, out, err = crun("plan", path, "--changed-since", str(acme), "--no-authors")
    assert status == 0, err
    assert "written for API v2" in out and "full plan, not a targeted one" in out
    current.app.reset_counts()
    status, out, err = crun("plan", path, "--changed-since", str(tmp_path / "nowhere"))
    assert status == 1 and "no such manifest file or directory" in err
    assert current.app.requests == 0


# -- --max-calls: the read is one request; apply states its requests ----------------------


def test_check_max_calls_covers_the_whole_account_in_one_request(crun, current) -> None:
    current.app.reset_counts()
    status, out, err = crun("check", EXAMPLE, "--max-calls", "1")
    assert status == 2, err
    assert "Coverage: the whole account, verified in 1 request of the 1 --max-calls" in out
    assert current.app.requests == 1
    status, _, err = crun("check", EXAMPLE, "--max-calls", "1", "--state", "s.json")
    assert status == 1 and "drop --state" in err and "Traceback" not in err


def test_check_max_calls_skips_an_author_lookup_that_does_not_fit(crun, current) -> None:
    ids = _converged(current, EXAMPLE)
    jane = current.key_for(ids[("person", "jane")])
    Gql(current, {}).post('mutation($id: BeeboleId!) { editProjectName(id: $id, name: "A") '
                          "{ id } }", {"id": ids[("project", "acme")]}, key=jane)
    current.app.reset_counts()
    status, out, err = crun("check", EXAMPLE, "--max-calls", "2")
    assert status == 2, err
    assert "not looked up: it takes 2 requests and --max-calls 2 leaves 1" in out
    assert current.app.requests == 1  # never past N
    current.app.reset_counts()
    status, out, err = crun("check", EXAMPLE, "--max-calls", "3")
    assert status == 2 and "renamed by Jane Clark" in out and current.app.requests == 3


def test_apply_max_calls_below_what_the_plan_needs_is_refused_before_any_write(
        crun, current) -> None:
    with CurrentClient(current.url, current.token) as client:
        before = read_account(client)
    current.app.reset_counts()
    status, out, err = crun("apply", EXAMPLE, "--max-calls", "3", "--auto-approve")
    assert status == 1
    assert "--max-calls 3 does not cover this apply: it needs about" in err
    assert "nothing was applied" in err and "raise --max-calls to" in err
    assert "Traceback" not in err and err.count("\n") <= 2
    assert current.app.requests == 1  # the read; no mutation was sent
    with CurrentClient(current.url, current.token) as client:
        assert read_account(client) == before  # unchanged


def _action(id_: str, op: str = "create", deps: tuple[str, ...] = ()) -> Action:
    return Action(id_, op, "project", Ref("project", xid=id_), id_, "addProject", {}, 6, deps)


def test_apply_requests_are_layers_times_batches() -> None:
    # a parent, two children of it, a grandchild; an update; an archive
    actions = [_action("p"), _action("c1", deps=("p",)), _action("c2", deps=("p",)),
               _action("g", deps=("c1",)), _action("u", op="update"),
               _action("x", op="deactivate")]
    cost = apply_cost(actions, batch_size=1)
    # layers {p, u} {c1, c2} {g}, then {x}; each create's xid goes with the next layer:
    # 2 + (2 + 1) + (1 + 2) documents, 1 for g's xid, 1 for x; and 1 re-read, spare
    assert (cost.layers, cost.documents, cost.requests) == (4, 10, 11)
    cost = apply_cost(actions, batch_size=50)
    assert (cost.layers, cost.documents, cost.requests) == (4, 5, 6)
    assert apply_cost([], batch_size=50).requests == 0
    # an entity with an xid waits for the xid field's create: one layer more
    field = Action("f", "create", "customField", Ref("customField", xid="External ID"),
                   "External ID", "addCustomField", {"name": "External ID"}, 0)
    cost = apply_cost([field, _action("p")], batch_size=50)
    assert (cost.layers, cost.documents, cost.requests) == (2, 3, 4)
