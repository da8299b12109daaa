"""The commands end to end: the real entry point, the real client, the sandbox over HTTP."""

from __future__ import annotations

import json
import re
from pathlib import Path

from beeplan.platforms.v2.client import BeeboleClient
from beeplan.platforms.v2.sandbox.server import SandboxServer

from .conftest import Run

ROOT = Path(__file__).resolve().parent.parent
ACME = ROOT / "examples" / "acme"


def calls_in(text: str, label: str) -> int:
    match = re.search(rf"(\d+) {label}", text)
    assert match, f"no '{label}' count in: {text}"
    return int(match.group(1))


def test_quick_start_converges(run: Run, sandbox: SandboxServer) -> None:
    code, out, err = run("apply", ACME, "--auto-approve")
    assert code == 0, err
    assert "0 failed, 0 skipped" in out

    code, out, err = run("plan", ACME, "--detailed-exitcode")
    assert code == 0, out + err
    assert "No changes" in out
    code, out, _ = run("check", ACME)
    assert (code, out) == (0, "")


def test_printed_call_counts_equal_the_sandbox_count(run: Run, sandbox: SandboxServer) -> None:
    sandbox.reset_calls()
    code, out, err = run("plan", ACME)
    assert code == 0, err
    planned_reads = sum(sandbox.calls.values())
    assert calls_in(out, "spent reading") == planned_reads
    apply_calls = calls_in(out, "to apply")

    sandbox.reset_calls()
    code, out, err = run("apply", ACME, "--auto-approve")
    assert code == 0, err
    reads = calls_in(out, "spent reading")
    applied = calls_in(out, "API calls, ")
    assert applied == apply_calls
    assert reads + applied == sum(sandbox.calls.values())


def test_drift_behind_beeplans_back(run: Run, client: BeeboleClient) -> None:
    assert run("apply", ACME, "--auto-approve")[0] == 0
    client.call("project.update", project={"xid": "acme-dev", "name": "Renamed by hand"})
    client.call("project.detach_manager", xid="acme-dev", person={"xid": "jane"})

    code, out, _ = run("check", ACME)
    assert code == 2
    assert '"Renamed by hand" -> "Development"' in out
    assert "project.attach_manager" in out
    code, out, _ = run("plan", ACME, "--detailed-exitcode", "--format", "json")
    assert code == 2
    services = sorted(a["service"] for a in json.loads(out)["actions"])
    assert services == ["project.attach_manager", "project.update"]


def test_adoption_by_id_updates_in_place(run: Run, client: BeeboleClient, tmp_path: Path) -> None:
    company_id = client.call("company.create", company={"name": "Legacy Co"})["id"]
    person_id = client.call(
        "person.create", person={"name": "Old Timer", "company": {"id": company_id}}
    )["id"]
    manifest = tmp_path / "m.yaml"
    manifest.write_text(
        f"companies:\n  - id: {company_id}\n    name: Legacy Company\n"
        f"people:\n  - id: {person_id}\n    name: Old Timer\n    company: {{id: {company_id}}}\n"
        "    userGroup: pm\n"
    )
    code, out, err = run("apply", manifest, "--auto-approve")
    assert code == 0, err
    companies = client.call("company.list")["companies"]
    assert [(c["id"], c["name"]) for c in companies] == [(company_id, "Legacy Company")]
    people = client.call("person.list", company={"id": company_id})["people"]
    assert [(p["id"], p["userGroup"]) for p in people] == [(person_id, "pm")]
    assert run("plan", manifest, "--detailed-exitcode")[0] == 0


FAILING = """\
companies:
  - xid: acme
    name: ACME
    projects:
      - xid: p2
        name: Blocked
        managers: [rosa]
        subprojects:
          - {xid: s2, name: Child of blocked}
  - xid: globex
    name: Globex
people:
  - {xid: rosa, name: Rosa, company: globex}
  - {xid: gone, name: Gone, company: globex, active: false}
"""


def test_failed_action_skips_dependents_then_rerun_converges(
    run: Run, sandbox: SandboxServer, client: BeeboleClient, tmp_path: Path
) -> None:
    client.call("company.create", company={"xid": "acme", "name": "ACME"})
    client.call("company.create", company={"xid": "globex", "name": "Globex"})
    client.call(
        "person.create", person={"xid": "gone", "name": "Gone", "company": {"xid": "globex"}}
    )
    manifest = tmp_path / "m.yaml"
    manifest.write_text(FAILING)
    plan_file = tmp_path / "plan.json"
    assert run("plan", manifest, "-o", plan_file)[0] == 0
    # Behind the saved plan's back (the plan does not touch acme, so it is not
    # stale): a create under an inactive company is refused by the API.
    client.call("company.deactivate", xid="acme")

    sandbox.reset_calls()
    code, out, err = run("apply", plan_file, "--auto-approve")
    assert code == 1
    assert "1 failed" in err and "project.create p2" in err
    assert re.search(r"failed:\s+project\.create p2", err)
    # What depends on it is skipped, and never attempted.
    assert re.search(r"skipped: subproject\.create s2: depends on create:project:p2", err)
    assert re.search(r"skipped: project\.attach_manager p2", err)
    assert sandbox.calls["subproject.create"] == 0
    assert sandbox.calls["project.attach_manager"] == 0
    # Independent work is done; removals wait for a clean additive phase.
    assert sandbox.calls["person.create"] == 1
    assert re.search(r"skipped: person\.deactivate gone: removals run only when", err)
    assert sandbox.calls["person.deactivate"] == 0
    assert "1 applied, 1 failed, 3 skipped" in err

    code, out, err = run("apply", manifest, "--auto-approve")
    assert code == 0, err
    assert run("plan", manifest, "--detailed-exitcode")[0] == 0


def test_saved_plan_refused_when_stale_applied_when_fresh(
    run: Run, client: BeeboleClient, tmp_path: Path
) -> None:
    assert run("apply", ACME, "--auto-approve")[0] == 0
    client.call("project.update", project={"xid": "acme-dev", "name": "Hand edit"})
    plan_file = tmp_path / "plan.json"
    code, out, err = run("plan", ACME, "-o", plan_file)
    assert code == 0, err
    assert "TOKEN" not in plan_file.read_text()

    # Behind-the-back change to an entity the plan touches: the plan is stale.
    client.call("project.update", project={"xid": "acme-dev", "name": "Another hand edit"})
    code, out, err = run("apply", plan_file, "--auto-approve")
    assert code == 1
    assert "stale" in err and "project:acme-dev" in err
    assert client.call("project.get", xid="acme-dev")["project"]["name"] == "Another hand edit"

    code, out, err = run("plan", ACME, "-o", plan_file)
    assert code == 0, err
    code, out, err = run("apply", plan_file, "--auto-approve")
    assert code == 0, err
    assert client.call("project.get", xid="acme-dev")["project"]["name"] == "Development"
    assert run("check", ACME)[0] == 0


def test_apply_without_tty_or_auto_approve_refuses(run: Run, sandbox: SandboxServer) -> None:
    sandbox.reset_calls()
    code, out, err = run("apply", ACME)
    assert code == 1
    assert "--auto-approve" in err
    writes = {s for s in sandbox.calls if not s.endswith((".list", ".tree", ".get"))}
    assert not any(s.endswith((".create", ".update")) for s in writes)


def test_markdown_plan_with_graph_of_the_changed_part(run: Run, client: BeeboleClient) -> None:
    assert run("apply", ACME, "--auto-approve")[0] == 0
    client.call("project.update", project={"xid": "acme-dev", "name": "Hand edit"})
    code, out, err = run("plan", ACME, "--format", "markdown", "--graph")
    assert code == 0, err
    assert out.startswith("<!-- beeplan-plan -->")
    block = out.split("```mermaid\n", 1)[1].split("```", 1)[0]
    assert block.startswith("flowchart")
    assert '"Development"' in block  # the changed project (its desired name)
    assert '"ACME Corp"' in block  # and its ancestors, for context
    assert '"Globex Inc"' not in block  # but not the unchanged rest
