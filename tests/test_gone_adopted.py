"""An entity adopted by ``id:`` and deleted outside beeplan (issue #23, point 4).

``check`` reports it as drift (exit 2), not as an error (exit 1), with the way
to recreate it; ``plan`` reports the same words as a problem (nothing can be
written for it: the API creates no entity with a given id), so ``apply`` makes
no call.
"""

from __future__ import annotations

import json
from pathlib import Path

from beeplan.platforms.v2.client import BeeboleClient
from beeplan.platforms.v2.sandbox.server import SandboxServer

from .conftest import Run

READS = {"list", "get", "tree", "groups", "members", "managers", "leaders", "custom_fields",
         "specific_tasks", "assignments", "count"}


def writes(sandbox: SandboxServer) -> int:
    return sum(n for service, n in sandbox.calls.items() if service.split(".")[-1] not in READS)


def adopted(client: BeeboleClient, tmp_path: Path) -> tuple[int, Path]:
    """A group and a company made without xids (as in the web app), adopted by id."""
    team = int(client.call("group.create", group={"name": "Sales Team"})["id"])
    acme = int(client.call("company.create", company={"name": "ACME"})["id"])
    client.call("company.add_group", id=acme, group={"id": team})
    path = tmp_path / "m.yaml"
    path.write_text(f"groups:\n  - {{id: {team}, name: Sales Team}}\n"
                    f"companies:\n  - {{id: {acme}, name: ACME, groups: [{{id: {team}}}]}}\n")
    return team, path


def test_check_reports_a_deleted_adopted_entity_as_drift_with_the_way_back(
    run: Run, client: BeeboleClient, sandbox: SandboxServer, tmp_path: Path
) -> None:
    team, path = adopted(client, tmp_path)
    assert run("check", path)[0] == 0
    client.call("group.delete", id=team, force=True)  # someone deletes it in the web app
    code, out, err = run("check", path)
    assert code == 2, out + err
    said = (f"group #{team} ({path}:2) is adopted by id, but the account has no group with "
            f"id {team}: it was deleted outside beeplan (or the id is wrong). To recreate it, "
            f"replace `id: {team}` with an xid (e.g. `xid: sales-team`), and name it by that "
            f"xid where {{id: {team}}} refers to it ({path}:4); to stop managing it, remove "
            "the entry")
    assert said in out
    assert "Error" not in err
    code, out, err = run("check", path, "--format", "json")
    assert code == 2 and said in json.loads(out)["problems"]
    # Budgeted: group.tree reads every group, so the run that reads it says the same.
    code, out, err = run("check", path, "--max-calls", "50")
    assert code == 2, out + err
    assert said in out
    # plan: the same words, as a problem: the plan is refused and apply writes nothing.
    code, out, err = run("plan", path)
    assert code == 1 and said in out
    sandbox.reset_calls()
    assert run("apply", path, "--auto-approve")[0] == 1
    assert writes(sandbox) == 0
    # Following the advice converges: the group is created again, by its xid.
    path.write_text(path.read_text().replace(f"{{id: {team}, name: Sales Team}}",
                                             "{xid: sales-team, name: Sales Team}")
                    .replace(f"[{{id: {team}}}]", "[sales-team]"))
    assert run("apply", path, "--auto-approve")[0] == 0
    assert run("check", path)[0] == 0


def test_a_gone_entity_beside_a_real_problem_is_still_an_error(
    run: Run, client: BeeboleClient, tmp_path: Path
) -> None:
    team, path = adopted(client, tmp_path)
    client.call("company.create", company={"xid": "beta", "name": "Beta"})
    client.call("project.create", project={"xid": "web", "name": "Web",
                                           "company": {"xid": "beta"}})
    client.call("group.delete", id=team, force=True)
    # A project moved to another company: impossible in place, an error whatever else.
    path.write_text(path.read_text() + "  - {xid: gamma, name: Gamma, projects: "
                                       "[{xid: web, name: Web}]}\n")
    code, out, err = run("check", path)
    assert code == 1, out + err
    assert "is adopted by id, but the account has no group" in out
    assert "is impossible in place" in out
