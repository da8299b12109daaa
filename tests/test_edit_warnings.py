"""Edits that do nothing useful, or lose something, are warnings (issue #23, point 4).

Each is a warning with the manifest file and line, in the text, Markdown and
JSON plans; the custom-field ones in ``validate`` too (it knows them offline).
A warning never makes a plan fail: the plan still applies.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from beeplan.platforms.v2.client import BeeboleClient
from beeplan.platforms.v2.sandbox.server import SandboxServer

from .conftest import Run


def account(client: BeeboleClient) -> dict[str, int]:
    """ACME (inactive) with project dev (inactive, subproject proto inactive); jane leads
    rosa and manages project ops of company Beta."""
    def create(kind: str, **body: object) -> int:
        return int(client.call(f"{kind}.create", **{kind: body})["id"])

    ids = {"acme": create("company", xid="acme", name="ACME")}
    ids["dev"] = create("project", xid="dev", name="Dev", company={"xid": "acme"})
    ids["proto"] = create("subproject", xid="proto", name="Proto", project={"xid": "dev"})
    ids["beta"] = create("company", xid="beta", name="Beta")
    ids["ops"] = create("project", xid="ops", name="Ops", company={"xid": "beta"})
    ids["web"] = create("project", xid="web", name="Web", company={"xid": "beta"})
    ids["jane"] = create("person", xid="jane", name="Jane Clark", company={"xid": "beta"})
    ids["rosa"] = create("person", xid="rosa", name="Rosa Parks", company={"xid": "beta"},
                         leaders=[{"xid": "jane"}])
    client.call("project.attach_manager", xid="ops", person={"xid": "jane"})
    for service, xid in (("subproject.deactivate", "proto"), ("project.deactivate", "dev"),
                         ("company.deactivate", "acme")):
        client.call(service, xid=xid)
    return ids


def plans(run: Run, path: Path) -> tuple[str, str, dict[str, object]]:
    """The plan as text, Markdown and JSON; each must exit 0 (warnings never fail a plan).

    The Markdown is given as the text it reads as: manifest text in it is escaped
    (backslashes, a word joiner in links and mentions), which a reader never sees.
    """
    outs = []
    for fmt in ("text", "markdown", "json"):
        code, out, err = run("plan", path, "--format", fmt)
        assert code == 0, out + err
        outs.append(out)
    shown = re.sub(r"\\(.)", r"\1", outs[1]).replace("\u2060", "")
    return outs[0], shown, json.loads(outs[2])


REACTIVATE = """\
companies:
  - xid: acme
    name: ACME
    active: false
    projects:
      - xid: dev
        name: Dev
        subprojects:
          - {xid: proto, name: Proto}
"""


def test_reactivating_a_project_under_a_company_that_stays_inactive_warns(
    run: Run, client: BeeboleClient, tmp_path: Path
) -> None:
    ids = account(client)
    path = tmp_path / "m.yaml"
    path.write_text(REACTIVATE)
    text, md, doc = plans(run, path)
    project = (f"project dev ({path}:6) is reactivated under company #{ids['acme']} 'ACME' "
               f"(xid 'acme'), which stays inactive, declared with active: false at "
               f"{path}:2: nobody can log time on it while its company is inactive")
    assert project in text and project in md
    assert any(project in w for w in doc["warnings"])  # type: ignore[union-attr]
    # A subproject's ancestors count too: its project is fine now, its company is not.
    assert (f"subproject proto ({path}:9) is reactivated under company #{ids['acme']}"
            in text)
    assert "Declare that company with active: true too, or keep this project inactive" in text
    # Activating the company as well: no warning.
    path.write_text(REACTIVATE.replace("    active: false\n", ""))
    text = run("plan", path)[1]
    assert "is reactivated under" not in text
    # A subproject under a project that stays inactive (its company active now).
    path.write_text("companies:\n  - {xid: acme, name: ACME, projects: [{xid: dev, name: Dev, "
                    "active: false, subprojects: [{xid: proto, name: Proto}]}]}\n")
    text = run("plan", path)[1]
    assert (f"subproject proto ({path}:2) is reactivated under project #{ids['dev']} 'Dev' "
            f"(xid 'dev'), which stays inactive") in text
    assert "project dev" not in text.split("Warning:", 1)[1]
    # A subproject created under an active project of a company that stays inactive:
    # the API accepts it (its own parent is active), and nobody can log time on it.
    client.call("company.activate", xid="acme")
    client.call("project.activate", xid="dev")
    client.call("company.deactivate", xid="acme")
    path.write_text("companies:\n  - {xid: acme, name: ACME, active: false, projects: [{xid: dev, "
                    "name: Dev, subprojects: [{xid: proto, name: Proto, active: false}, "
                    "{xid: fresh, name: Fresh}]}]}\n")
    code, text, err = run("plan", path)
    assert code == 0, text + err
    assert (f"subproject fresh ({path}:2) is created active under company #{ids['acme']} "
            "'ACME' (xid 'acme'), which stays inactive") in text


def test_a_project_created_under_a_company_this_plan_deactivates_warns(
    run: Run, client: BeeboleClient, tmp_path: Path
) -> None:
    account(client)
    path = tmp_path / "m.yaml"
    path.write_text("companies:\n  - xid: beta\n    name: Beta\n    active: false\n"
                    "    projects:\n      - {xid: new, name: New}\n")
    code, out, err = run("plan", path)
    assert code == 0, out + err
    assert f"project new ({path}:6) is created active under company #" in out
    assert "which ends inactive, declared with active: false at" in out


LEADERS = """\
companies:
  - {xid: beta, name: Beta, projects: [{xid: ops, name: Ops, managers: [jane]}]}
people:
  - {xid: jane, name: Jane Clark, company: beta, active: false}
  - {xid: rosa, name: Rosa Parks, company: beta, leaders: [jane]}
"""


def test_deactivating_a_person_who_still_leads_or_manages_warns(
    run: Run, client: BeeboleClient, sandbox: SandboxServer, tmp_path: Path
) -> None:
    account(client)
    path = tmp_path / "m.yaml"
    path.write_text(LEADERS)
    text, md, doc = plans(run, path)
    line = (f"person jane 'Jane Clark' ({path}:4) is deactivated, but the manifests still name "
            f"them a manager of project ops ({path}:2), the leader of person rosa ({path}:5): "
            "an inactive person cannot approve that time")
    assert line in text and line in md
    assert any(line in w for w in doc["warnings"])  # type: ignore[union-attr]
    assert "Remove jane from those lists (or name who replaces them), or keep jane active" in text
    # It is a warning: the plan applies.
    assert run("apply", path, "--auto-approve")[0] == 0
    # Rosa going inactive too, and ops no longer managed by jane: nothing to say.
    client.call("person.activate", xid="jane")
    path.write_text(LEADERS.replace("managers: [jane]", "managers: []").replace(
        "leaders: [jane]}", "leaders: [jane], active: false}"))
    text = run("plan", path)[1]
    assert "is deactivated, but" not in text


def test_prune_deactivating_a_leader_named_by_id_warns(
    run: Run, client: BeeboleClient, tmp_path: Path
) -> None:
    ids = account(client)
    path = tmp_path / "m.yaml"
    path.write_text("settings: {prune: true}\ncompanies:\n  - {xid: beta, name: Beta}\n"
                    f"people:\n  - {{xid: rosa, name: Rosa Parks, company: beta, leaders: "
                    f"[{{id: {ids['jane']}}}]}}\n")
    out = run("plan", path)[1]
    assert (f"person jane 'Jane Clark' is deactivated, but the manifests still name "
            f"them the leader of person rosa ({path}:5)") in out


CUSTOM = """\
companies:
  - xid: acme
    name: ACME
    customFields:
      Industry: 0200
      Company address: yes
  - xid: beta
    name: Beta
    customFields: {Industry: Transport, Company address: 1:30}
  - xid: gamma
    name: Gamma
    customFields: {Industry: true, Company address: 0x1F}
"""


def test_custom_values_yaml_reads_otherwise_than_written_warn(
    run: Run, cli_main: Run, tmp_path: Path
) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(CUSTOM)
    expected = [
        (5, "Industry", "YAML reads 0200 as the number 200 (YAML 1.1 tools: the octal number "
                        "128), losing the leading zero; to keep it as written, quote it "
                        "(Industry: '0200')"),
        (6, "Company address", "YAML 1.1 tools read yes as the boolean true; beeplan sends "
                               "the text 'yes'. For text, quote it (Company address: 'yes'); "
                               "for a yes/no field, write true or false"),
        (9, "Company address", "YAML 1.1 tools read 1:30 as the sexagesimal (base 60) number "
                               "90; beeplan sends the text '1:30'. Quote it (Company address: "
                               "'1:30') so that every tool reads the same"),
        (12, "Industry", f"YAML reads true as a boolean, but custom field 'Industry' holds text "
                         f"at {path}:9; to send the text, quote it (Industry: 'true')"),
        (12, "Company address", "YAML 1.1 tools read 0x1F as the number 31; beeplan sends the "
                                "text '0x1F'. Quote it (Company address: '0x1F') so that every "
                                "tool reads the same"),
    ]
    # validate: offline, with file and line, exit 0.
    code, out, err = cli_main("validate", path)
    assert code == 0, err
    for line, name, message in expected:
        assert f"{path}:{line}: " in err and f".customFields.{name}: {message}" in err
    doc = json.loads(cli_main("validate", path, "--format", "json")[1])
    assert len(doc["warnings"]) == 5
    # plan: among its own warnings, once (not again on stderr), in every format.
    code, out, err = run("plan", path)
    assert code == 0, out + err
    for line, name, message in expected:
        assert f"({path}:{line}): customFields.{name}: {message}" in out
    assert "0200" not in err
    text, md, plan = plans(run, path)
    assert "losing the leading zero" in md
    assert sum("customFields." in w for w in plan["warnings"]) == 5  # type: ignore[union-attr]
    # Quoted, every value is text as written: nothing to say.
    for old, new in (("0200", "'0200'"), ("yes", "'yes'"), ("1:30", "'1:30'"),
                     ("true", "'true'"), ("0x1F", "'0x1F'")):
        path.write_text(path.read_text().replace(f": {old}", f": {new}"))
    code, out, err = cli_main("validate", path)
    assert code == 0 and "Warning" not in err, err


def test_true_for_a_field_the_account_holds_text_in_warns_at_plan_time(
    run: Run, client: BeeboleClient, tmp_path: Path
) -> None:
    client.call("company.create", company={"xid": "acme", "name": "ACME"})
    client.call("company.set_custom_field_value", xid="acme",
                customField={"id": 7206, "value": "Transport"})
    path = tmp_path / "m.yaml"
    path.write_text("companies:\n  - {xid: acme, name: ACME, customFields: {Industry: true}}\n")
    assert "Warning" not in run("validate", path)[2]  # offline nothing says it is text
    code, out, err = run("plan", path)
    assert code == 0, out + err
    assert (f"company acme ({path}:2): customFields.Industry: YAML reads true as a boolean, but "
            "its value now is the text 'Transport'; to send the text, quote it "
            "(Industry: 'true')") in out
    # A boolean where the account holds a boolean is what was meant.
    client.call("company.set_custom_field_value", xid="acme",
                customField={"id": 7206, "value": False})
    assert "YAML reads true" not in run("plan", path)[1]
