"""Import round-trips the accounts the API allows: twins, deep trees, active under inactive."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from beeplan.importer import GROUP_NEST_LIMIT
from beeplan.platforms.v2.client import BeeboleClient

from .conftest import Run

WARNINGS = Path(__file__).parent / "data" / "warnings"
_EXPECT = re.compile(r"^(?:# )?expect: (?P<file>[^:]+):(?P<line>\d+): (?P<fragment>.+)$", re.M)


def build_edges(client: BeeboleClient, depth: int) -> None:
    call = client.call
    acme = call("company.create", company={"xid": "acme", "name": "Acme"})["id"]
    # Names are not identity: the API takes twins, with or without xids.
    call("person.create", person={"name": "John Smith", "company": {"id": acme},
                                  "email": "john1@example.com"})
    call("person.create", person={"xid": "john2", "name": "John Smith", "company": {"id": acme},
                                  "email": "john2@example.com"})
    call("project.create", project={"name": "Website", "company": {"id": acme}})
    call("project.create", project={"xid": "web2", "name": "website", "company": {"id": acme}})
    call("group.create", group={"name": "Team"})
    call("group.create", group={"xid": "team2", "name": "Team"})
    parent: int | None = None
    for level in range(depth):
        group = {"name": f"Level {level}", **({"xid": f"l{level}"} if level % 3 else {})}
        if parent is not None:
            group["parent"] = {"id": parent}
        parent = call("group.create", group=group)["id"]
    # Assigned to the deepest group: a reference the flat part of groups.yaml must resolve.
    call("person.add_group", xid="john2", group={"id": parent})
    # Active children under inactive parents.
    old = call("company.create", company={"xid": "old", "name": "Old Co"})["id"]
    live = call("project.create", project={"xid": "live-proj", "name": "Live project",
                                           "company": {"id": old}})["id"]
    call("subproject.create", subproject={"name": "Live sub", "project": {"id": live}})
    call("person.create", person={"xid": "old-guy", "name": "Old Guy", "company": {"id": old}})
    call("company.deactivate", id=old)
    shut = call("project.create", project={"xid": "shut", "name": "Shut",
                                           "company": {"id": acme}})["id"]
    call("subproject.create", subproject={"xid": "open-sub", "name": "Open sub",
                                          "project": {"id": shut}})
    call("project.deactivate", id=shut)
    archived = call("project.create", project={"xid": "archived", "name": "Archived",
                                               "company": {"id": acme}})["id"]
    call("project.deactivate", id=archived)  # left out: inactive, nothing active below


def test_twins_deep_groups_and_active_under_inactive_round_trip(
    run: Run, client: BeeboleClient, tmp_path: Path
) -> None:
    depth = 2 * GROUP_NEST_LIMIT + 5  # deeper than the loader's 64 YAML levels
    build_edges(client, depth)
    out = tmp_path / "m"
    code, text, err = run("import", "-o", out)
    assert code == 0, err
    # The summary counts what was written (not 'archived'): the inactive company
    # and project are written (active: false) because they hold active entities.
    assert (f"Imported {depth + 2} groups, 2 companies, 4 projects, 2 subprojects, 3 people "
            in text)
    files = {p.name: p.read_text() for p in out.iterdir()}
    assert "# inactive, written because it holds active projects" in files["old.yaml"]
    assert "Live sub" in files["old.yaml"] and "open-sub" in files["acme.yaml"]
    assert "archived" not in files["acme.yaml"]
    assert "parent: " in files["groups.yaml"]
    assert files["groups.yaml"].count("\n") > depth  # every level is there

    code, text, err = run("validate", out)
    assert code == 0, err
    assert "valid (2 companies, 4 projects, 2 subprojects" in text
    warnings = [line for line in err.splitlines() if line.startswith("Warning: ")]
    assert len(warnings) == 3, err
    assert any("duplicate name 'John Smith' among the people of company 'acme'" in w
               for w in warnings)
    assert any("duplicate name 'Website'" in w for w in warnings)
    assert any("duplicate name 'Team' among the root groups" in w for w in warnings)
    assert "unknown group" not in err

    code, text, err = run("plan", out, "--detailed-exitcode")
    assert code == 0, text + err
    assert "No changes. The account matches the manifests." in text


def test_force_replaces_only_what_import_wrote(
    run: Run, client: BeeboleClient, tmp_path: Path
) -> None:
    client.call("company.create", company={"xid": "acme", "name": "Acme"})
    out = tmp_path / "m"
    out.mkdir()
    settings = "settings:\n  prune: false\n"
    (out / "settings.yaml").write_text(settings)
    assert run("import", "-o", out, "--force")[0] == 0
    stale = out / "globex.yaml"  # what an earlier import wrote for a company since gone
    stale.write_text((out / "acme.yaml").read_text().replace("acme", "globex"))
    # A file in a subdirectory loads with the set too, so it is named as well.
    (out / "extra").mkdir()
    (out / "extra" / "tasks.yaml").write_text("tasks: []\n")

    code, text, err = run("import", "-o", out, "--force")
    assert code == 0, err
    assert (out / "settings.yaml").read_text() == settings
    assert not stale.exists()
    assert "Removed 1 file(s) an earlier import wrote: globex.yaml" in text
    assert ("Kept 2 YAML file(s) import did not write; they are part of the set: "
            "extra/tasks.yaml, settings.yaml") in text
    assert (out / "extra" / "tasks.yaml").exists()
    code, text, _ = run("plan", out, "--detailed-exitcode")
    assert code == 0 and "No changes" in text

    # A hand-written file where import would write is never overwritten; the
    # entity it declares is not written again (the set would declare it twice).
    mine = "companies:\n  - {xid: acme, name: Acme}  # mine\n"
    (out / "acme.yaml").write_text(mine)
    code, text, err = run("import", "-o", out, "--force")
    assert code == 0, err
    assert (out / "acme.yaml").read_text() == mine
    assert "Not written again, since the kept files declare them: 1 company." in text
    assert run("validate", out)[0] == 0
    # One that declares something else keeps its name: import takes another.
    (out / "acme.yaml").write_text("tasks: []\n")
    code, text, err = run("import", "-o", out, "--force")
    assert code == 0, err
    assert (out / "acme.yaml").read_text() == "tasks: []\n"
    assert "xid: acme" in (out / "acme-2.yaml").read_text()


def test_an_empty_account_imports_to_a_set_that_plans_no_changes(
    run: Run, client: BeeboleClient, tmp_path: Path
) -> None:
    out = tmp_path / "m"
    code, text, err = run("import", "-o", out)
    assert code == 0, err
    assert "Imported nothing" in text
    code, text, err = run("plan", out, "--detailed-exitcode")
    assert code == 0, text + err
    assert "No changes" in text
    # A company whose xid is 'settings' does not take the name of a hand-written settings.yaml.
    client.call("company.create", company={"xid": "settings", "name": "Settings Inc"})
    (out / "settings.yaml").write_text("settings:\n  prune: false\n")
    code, text, err = run("import", "-o", out, "--force")
    assert code == 0, err
    assert "Removed 1 file(s) an earlier import wrote: account.yaml" in text
    assert "xid: settings" in (out / "settings-2.yaml").read_text()
    code, text, err = run("plan", out, "--detailed-exitcode")
    assert code == 0 and "No changes" in text, text + err


@pytest.mark.parametrize("case", sorted(WARNINGS.iterdir()), ids=lambda p: p.name)
def test_duplicate_sibling_names_are_warnings(case: Path, cli_main: Run) -> None:
    header = (case / "expect.txt") if case.is_dir() else case
    expects = list(_EXPECT.finditer(header.read_text()))
    assert expects
    code, out, err = cli_main("validate", case)
    assert code == 0, err
    assert ": valid (" in out
    for m in expects:
        where = case / m["file"] if case.is_dir() else case
        rows = [r for r in err.splitlines() if r.startswith(f"Warning: {where}:{m['line']}:")]
        assert any(m["fragment"] in r for r in rows), err
    code, out, err = cli_main("-q", "validate", case)
    assert (code, out, err) == (0, "", "")


def test_mutual_leaders_apply_and_round_trip(run: Run, tmp_path: Path) -> None:
    # The API takes two people leading each other; validate warns, nothing refuses.
    case = WARNINGS / "leader-cycle.yaml"
    code, out, err = run("apply", case, "--auto-approve")
    assert code == 0, err
    assert "leader cycle: jane -> rosa -> jane" in err
    assert "No changes" in run("plan", case)[1]
    assert run("import", "-o", tmp_path / "m")[0] == 0
    code, out, err = run("validate", tmp_path / "m")
    assert code == 0 and "Warning: " in err and "leader cycle" in err
    code, out, _ = run("plan", tmp_path / "m", "--detailed-exitcode")
    assert code == 0 and "No changes" in out


NAMES = ["nel\x85x", "line\u2028sep", "para\u2029sep", "tab\there", "\x01ctl", " lead", "trail ",
         "null", "yes", "- x", "a: b", "#c", "'q'", '"dq"', "\\back", "\ufeffbom", "x" * 255]


def test_names_yaml_folds_or_types_round_trip(
    run: Run, client: BeeboleClient, tmp_path: Path
) -> None:
    acme = client.call("company.create", company={"xid": "acme", "name": "Acme"})["id"]
    for n, name in enumerate(NAMES):
        xid = {"xid": name} if name.isprintable() and n % 2 else {}
        client.call("task.create", task={"name": name, "company": {"id": acme}, **xid})
    assert run("import", "-o", tmp_path / "m")[0] == 0
    code, out, err = run("plan", tmp_path / "m", "--detailed-exitcode")
    assert code == 0, out + err
    assert "No changes" in out
