"""Hours behind deactivations and `beeplan usage`: time entries logged over HTTP on the
sandbox, then read back through the export job by the real client."""

from __future__ import annotations

import json
import re
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from beeplan.model import Ref
from beeplan.platforms.v2.client import BeeboleClient
from beeplan.platforms.v2.hours import export_request, parse_hours, parse_rows
from beeplan.platforms.v2.sandbox.server import SandboxServer
from beeplan.render import plan_from_json, render_markdown, render_text
from beeplan.usage import (
    Job,
    PollPolicy,
    Target,
    UsageError,
    UsageOptions,
    lookup,
    plan_jobs,
)
from beeplan.usecases.steps import load_manifests, plan_with_usage

from .conftest import Run

TODAY = datetime.now(timezone.utc).date()

MANIFEST = """\
companies:
  - xid: acme
    name: ACME
    projects:
      - xid: dev
        name: Development
        subprojects:
          - {{xid: proto, name: Prototype, active: {proto}}}
          - {{xid: web, name: Website, active: {web}}}
      - {{xid: ops, name: Operations, active: {ops}}}
      - {{xid: keep, name: Kept}}
tasks:
  - {{xid: admin, name: Admin, company: acme}}
people:
  - {{xid: rosa, name: Rosa Parks, company: acme}}
  - {{xid: jane, name: Jane Clark, company: acme, active: {jane}}}
absences:
  - {{xid: vacation, name: Vacation, company: acme, active: {vacation}}}
"""


def manifest(tmp_path: Path, **inactive: bool) -> Path:
    names = ("proto", "web", "ops", "jane", "vacation")
    flags = {n: "false" if inactive.get(n) else "true" for n in names}
    path = tmp_path / "acme.yaml"
    path.write_text(MANIFEST.format(**flags))
    return path


def day(ago: int) -> str:
    return (TODAY - timedelta(days=ago)).isoformat()


def log(client: BeeboleClient, who: str, hours: float, ago: int, **where: Any) -> None:
    if "absence" not in where:
        where["task"] = {"xid": "admin"}
    client.call("time_entry.create", date=day(ago), hours=hours, person={"xid": who}, **where)


@pytest.fixture
def logged(run: Run, client: BeeboleClient, tmp_path: Path) -> Path:
    """ACME applied; hours on proto (two people), ops (long ago only), jane, vacation."""
    code, _, err = run("apply", manifest(tmp_path), "--auto-approve")
    assert code == 0, err
    log(client, "rosa", 3, 1, subproject={"xid": "proto"})
    log(client, "jane", 2.25, 5, subproject={"xid": "proto"})
    log(client, "rosa", 1.5, 200, project={"xid": "ops"})  # outside the last 90 days
    log(client, "rosa", 8, 10, absence={"xid": "vacation"})
    log(client, "rosa", 4, 3, project={"xid": "keep"})
    return manifest(tmp_path, proto=True, web=True, ops=True, jane=True, vacation=True)


def test_plan_shows_hours_people_and_last_date(
    run: Run, sandbox: SandboxServer, logged: Path
) -> None:
    sandbox.reset_calls()
    sandbox.job_seconds = None  # polls alone finish a job: the count below is exact
    code, out, err = run("plan", logged)
    assert code == 0, err
    assert f"deactivate subproject proto (Prototype): 5.25 h in the last 90 days by 2 people, " \
        f"last {day(1)}" in out
    assert f"deactivate person jane (Jane Clark): 2.25 h in the last 90 days by 1 person, " \
        f"last {day(5)}" in out
    assert f"deactivate absence vacation (Vacation): 8 h in the last 90 days by 1 person, " \
        f"last {day(10)}" in out
    # Nothing for what has no hours in the period (web never, ops only long ago).
    assert "subproject web (Website):" not in out and "project ops (Operations):" not in out
    assert out.count(" h in the last 90 days") == 6  # three in the list, three under the actions
    # proto and web share one job (their project); ops, jane and vacation one each.
    assert sandbox.calls["time_entry.export"] == 4
    # Each job answers "running" to the export and to the first job_polls polls.
    assert sandbox.calls["time_entry.get_job_info"] == 4 * (1 + sandbox.job_polls) == 8
    assert "(12 on the hours export)" in out
    reads = int(out.split(" spent reading")[0].rsplit(" ", 1)[1])
    assert reads == sum(sandbox.calls.values())


def test_json_and_markdown_carry_the_usage(run: Run, sandbox: SandboxServer, logged: Path) -> None:
    code, out, err = run("plan", logged, "--format", "json", "--usage-days", "30")
    assert code == 0, err
    plan, doc = plan_from_json(out)  # valid against the plan schema
    by_target = {a["target"]["xid"]: a.get("usage") for a in doc["actions"]
                 if a["op"] == "deactivate"}
    assert by_target["proto"] == {"days": 30, "hours": 5.25, "people": 2, "last": day(1)}
    assert by_target["web"] == {"days": 30, "hours": 0.0, "people": 0, "last": None}
    assert by_target["ops"]["hours"] == 0.0
    assert doc["calls"]["usage"] == doc["usage"]["calls"] == 12
    assert doc["usage"]["from"] == day(29) and doc["usage"]["to"] == day(0)

    code, out, err = run("plan", logged, "--format", "markdown")
    assert code == 0, err
    head = out.split("<details>")[0]
    assert "**Still in use**" in head
    assert f"- deactivate person jane (Jane Clark): 2.25 h in the last 90 days by 1 person, " \
        f"last {day(5)}" in head


def test_usage_days_zero_spends_no_export_call(
    run: Run, sandbox: SandboxServer, logged: Path
) -> None:
    sandbox.reset_calls()
    code, out, err = run("plan", logged, "--usage-days", "0")
    assert code == 0, err
    assert sandbox.calls["time_entry.export"] == sandbox.calls["time_entry.get_job_info"] == 0
    assert "Still in use" not in out and "hours export" not in out


def test_prune_is_annotated_too(run: Run, client: BeeboleClient, tmp_path: Path) -> None:
    path = manifest(tmp_path)
    assert run("apply", path, "--auto-approve")[0] == 0
    client.call("project.create", project={"xid": "stray", "name": "Stray", "company": {
        "xid": "acme"}})
    log(client, "rosa", 6, 2, project={"xid": "stray"})
    path.write_text("settings: {prune: true}\n" + path.read_text())
    code, out, err = run("plan", path)
    assert code == 0, err
    assert f"deactivate project stray (Stray): 6 h in the last 90 days by 1 person, " \
        f"last {day(2)}" in out


def test_companies_and_tasks_carry_their_hours_and_one_job_answers_for_a_company(
    run: Run, sandbox: SandboxServer, client: BeeboleClient, tmp_path: Path
) -> None:
    path = tmp_path / "co.yaml"
    text = (
        "companies:\n"
        "  - {xid: a, name: A, active: yes, projects: [{xid: p1, name: P1, active: yes},"
        " {xid: p2, name: P2, active: yes}]}\n"
        "  - {xid: b, name: B, active: yes}\n"
        "tasks:\n  - {xid: t, name: T, company: a, active: yes}\n"
        "people:\n  - {xid: rosa, name: Rosa, company: a}\n  - {xid: sam, name: Sam, company: a}\n"
        "settings: {safety: {ratio: 1}}\n"
    )
    path.write_text(text.replace("yes", "true"))
    assert run("apply", path, "--auto-approve")[0] == 0
    for who, hours, ago, project in (("rosa", 2, 1, "p1"), ("sam", 1.125, 2, "p2"),
                                     ("sam", 1.125, 2, "p2")):
        client.call("time_entry.create", date=day(ago), hours=hours, person={"xid": who},
                    project={"xid": project}, task={"xid": "t"})
    client.call("time_entry.create", company={"xid": "b"}, date=day(40), hours=1,
                person={"xid": "rosa"})
    client.call("time_entry.create", company={"xid": "b"}, date=day(95), hours=6,
                person={"xid": "sam"})  # before the period
    path.write_text(text.replace("yes", "false"))
    sandbox.reset_calls()
    code, out, err = run("plan", path)
    assert code == 0, err
    # The loosened ratio comes first, then the hours behind the deactivations.
    loosened, head = out.split("beeplan will make these API calls:")[0].split("\n\n", 1)
    assert loosened.splitlines()[1:] == ["  ! settings.safety.ratio: 1 (default 0.1)"]
    assert head.splitlines()[1:] == [
        f"  - deactivate company a (A): 4.25 h in the last 90 days by 2 people, last {day(1)}",
        f"  - deactivate company b (B): 1 h in the last 90 days by 1 person, last {day(40)}",
        f"  - deactivate task t (T): 4.25 h in the last 90 days by 2 people, last {day(1)}",
        f"  - deactivate project p1 (P1): 2 h in the last 90 days by 1 person, last {day(1)}",
        f"  - deactivate project p2 (P2): 2.25 h in the last 90 days by 1 person, last {day(2)}",
        "",
    ]
    # Company a answers for p1 and p2; the task and company b have a job each.
    assert sandbox.calls["time_entry.export"] == 3
    assert "(9 on the hours export)" in out


@pytest.mark.wall_clock  # gives up after so many real seconds
def test_a_job_that_never_finishes_ends_with_a_clear_message(
    client: BeeboleClient, sandbox: SandboxServer, logged: Path
) -> None:
    sandbox.job_polls, sandbox.job_seconds = 10**9, None  # it keeps answering "running"
    policy = PollPolicy(first=0.05, longest=0.2, limit=0.6)
    started = time.monotonic()
    plan, usage = plan_with_usage(client, load_manifests(logged), 2, None, 90,
                                  UsageOptions(policy=policy))
    assert time.monotonic() - started < 10  # reading included; the polls gave up after 0.6 s
    assert usage is not None and not usage.entities
    assert "subproject:proto" in usage.not_looked_up
    assert any("did not finish within 0.6 s" in w for w in plan.warnings)
    with pytest.raises(UsageError, match=r"did not finish within 0.6 s .*still running"):
        jane = int(client.call("person.get", xid="jane")["person"]["id"])
        lookup(client, [Target(Ref("person", "jane", jane), "Jane")], 90, policy=policy,
               strict=True)


def test_apply_of_a_saved_plan_shows_the_hours_it_recorded(
    run: Run, sandbox: SandboxServer, logged: Path, tmp_path: Path
) -> None:
    saved = tmp_path / "plan.json"
    assert run("plan", logged, "-o", saved)[0] == 0
    sandbox.reset_calls()
    code, out, err = run("apply", saved, "--auto-approve", "--allow-destroy")
    assert code == 0, out + err
    proto = f"5.25 h in the last 90 days by 2 people, last {day(1)}"
    assert f"Still in use (hours logged from {day(89)} to {day(0)}):" in out
    assert f"  - deactivate subproject proto (Prototype): {proto}" in out
    assert f"    - deactivate (subproject.deactivate)\n        {proto}" in out
    assert "(12 on the hours export)" in out  # what the plan spent, as the file says
    # Shown from the file (no refuseInUse): apply itself exports nothing.
    assert sandbox.calls["time_entry.export"] == 0
    assert "5 applied, 0 failed" in out


def test_a_saved_plan_with_bad_hours_shows_none_of_them(
    run: Run, logged: Path, tmp_path: Path
) -> None:
    saved = tmp_path / "plan.json"
    assert run("plan", logged, "-o", saved)[0] == 0
    doc = json.loads(saved.read_text())
    for action in doc["actions"]:
        if "usage" in action:
            action["usage"]["last"] = "\x1b[31mnot a date"
    saved.write_text(json.dumps(doc))
    code, out, err = run("apply", saved, "--auto-approve", "--allow-destroy")
    assert code == 0, out + err
    assert "Still in use" not in out and "not a date" not in out


def test_deactivations_past_the_job_cap_say_their_hours_are_unknown(
    client: BeeboleClient, logged: Path
) -> None:
    plan, usage = plan_with_usage(client, load_manifests(logged), 2, None, 90,
                                  UsageOptions(max_jobs=2))
    # Four jobs (proto and web share their project's); the biggest two are kept.
    assert usage is not None and usage.jobs == 2
    assert sorted(usage.not_looked_up) == ["absence:vacation", "person:jane"]
    text = render_text(plan, usage=usage)
    assert "person jane (Jane Clark)\n    - deactivate (person.deactivate)\n" \
        "        hours not looked up (see the warnings)\n" in text
    assert text.count("hours not looked up (see the warnings)") == 2
    assert "Warning: usage: 2 deactivated entities not looked up (more than 2 export jobs)" in text
    markdown = render_markdown(plan, usage=usage)
    assert markdown.count("hours not looked up (see the warnings)") == 2
    assert markdown.count("not looked up (more than 2 export jobs)") == 1  # said once


# -- the pure parts --------------------------------------------------------------------


def test_jobs_group_under_a_common_parent_and_respect_the_cap() -> None:
    acme, dev = Ref("company", "acme", 1), Ref("project", "dev", 2)
    targets = [
        Target(Ref("subproject", "a", 3), "A", (dev, acme)),
        Target(Ref("subproject", "b", 4), "B", (dev, acme)),
        Target(Ref("project", "ops", 5), "Ops", (acme,)),
        Target(Ref("task", "t", 6), "T", (acme,)),
        Target(Ref("person", "p", 7), "P", (acme,)),
    ]
    jobs, dropped = plan_jobs(targets)
    assert [(j.kind, j.id, len(j.members)) for j in jobs] == [
        ("project", 2, 2), ("project", 5, 1), ("task", 6, 1), ("person", 7, 1)]
    assert jobs[0].keys == ["date", "hours", "personId", "subprojectId"]
    assert jobs[3].keys == ["date", "hours"]
    # The company itself deactivated: one job answers for everything under it.
    jobs, _ = plan_jobs([*targets[:3], Target(acme, "ACME")])
    assert [(j.kind, j.id) for j in jobs] == [("company", 1)]
    assert jobs[0].keys == ["date", "hours", "personId", "project" "Id", "subprojectId"]
    jobs, dropped = plan_jobs(targets, max_jobs=2)
    assert len(jobs) == 2 and [t.ref.xid for t in dropped] == ["t", "p"]


def test_results_in_every_shape_the_api_may_answer() -> None:
    keys = ["date", "hours", "personId"]
    assert parse_rows('Date,Heures,Personne\n2026-11-27,"7,500",12\n', keys) == [
        {"date": "2026-11-27", "hours": 7.5, "personId": "12"}]
    assert parse_rows([keys, ["2026-11-27", 8, 12]], keys)[0]["hours"] == 8.0
    assert [parse_hours(v) for v in ("1,234.5", "7:30", 3, "")] == [1234.5, 7.5, 3.0, 0.0]
    with pytest.raises(UsageError, match="2 columns, 3 asked for"):
        parse_rows([["2026-11-27", 1]], keys)
    job = Job("project", 2, ())
    asked = export_request(job.where, job.keys, "a", "b")
    assert asked["outputFormat"] == "array" and asked["project"] == {"id": 2}


def test_usage_json_schema_copy_is_identical() -> None:
    root = Path(__file__).resolve().parent.parent
    shipped = json.loads((root / "beeplan" / "schemas" / "plan.schema.json").read_text())
    assert shipped == json.loads((root / "schemas" / "plan.schema.json").read_text())


# -- beeplan usage ---------------------------------------------------------------------


def test_usage_lists_hours_per_entity_and_the_unused(
    run: Run, sandbox: SandboxServer, logged: Path
) -> None:
    sandbox.reset_calls()
    code, out, err = run("usage", logged, "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    got = {e["xid"]: (e["hours"], e["people"], e["last"]) for e in doc["entities"]}
    assert got == {
        "acme": (17.25, 2, day(1)),  # everything but ops' entry of 200 days ago
        "dev": (5.25, 2, day(1)),
        "proto": (5.25, 2, day(1)),
        "web": (0.0, 0, None),
        "ops": (0.0, 0, None),
        "keep": (4.0, 1, day(3)),
        "admin": (9.25, 2, day(1)),  # vacation carries no task
        "rosa": (15.0, 1, day(1)),
        "jane": (2.25, 1, day(5)),
        "vacation": (8.0, 1, day(10)),
    }
    assert sorted(e["xid"] for e in doc["unused"]) == ["ops", "web"]
    # One company holds everything: one export job, polled until done.
    assert sandbox.calls["time_entry.export"] == 1
    assert doc["calls"]["export"] == 1 + sandbox.calls["time_entry.get_job_info"] == 3
    assert doc["calls"]["read"] + doc["calls"]["export"] == sum(sandbox.calls.values())
    assert "Hours export: 1 export job(s), about 2 API calls" in err

    code, out, err = run("usage", logged, "--days", "2")
    assert code == 0, err
    assert "candidates to deactivate" in out
    assert "  - project keep (Kept)" in out and "  - subproject proto" not in out
    code, out, _ = run("usage", logged, "--format", "csv")
    assert "subproject,web," in out and out.splitlines()[0].startswith("kind,xid,id,name")
    code, out, _ = run("usage", logged, "--format", "markdown")
    assert "**No hours in the last 90 days**" in out and "| `project keep` | Kept | 4 h |" in out


def test_usage_with_nothing_to_report_or_not_yet_created(
    run: Run, sandbox: SandboxServer, logged: Path, tmp_path: Path
) -> None:
    empty = tmp_path / "groups.yaml"
    empty.write_text("groups: [{xid: g, name: G}]\n")
    code, out, err = run("usage", empty)
    assert code == 0, err
    assert "declare no company, project, subproject, task, absence type or person" in out
    assert "Every managed" not in out and "Hours export" not in err
    logged.write_text(logged.read_text().replace(
        "absences:", "  - {xid: newbie, name: New Person, company: acme}\nabsences:"))
    code, out, err = run("usage", logged, "--days", "1")
    assert code == 0, err
    assert "(1 day):" in out and "in the last 1 day (candidates" in out
    assert "  -  not in the account\n" in out and "last not in" not in out


def test_usage_refuses_past_todays_quota(
    run: Run, sandbox: SandboxServer, logged: Path
) -> None:
    # The same token's ledger, nearly spent (beeplan counts; the sandbox would still answer).
    with BeeboleClient(sandbox.url, sandbox.token) as filler:
        filler.ledger.add(filler.remaining_today() - 7, 0)  # reading the lists takes 6
    sandbox.reset_calls()
    code, _, err = run("usage", logged)
    assert code == 1
    assert "the hours export needs about 2 API calls" in err
    assert "only 1 are left today" in err and "--max-calls" in err
    assert sandbox.calls["time_entry.export"] == 0


def test_plan_keeps_the_calls_its_apply_needs(
    run: Run, sandbox: SandboxServer, logged: Path
) -> None:
    sandbox.reset_calls()
    assert run("plan", logged, "--usage-days", "0")[0] == 0
    reads = sum(sandbox.calls.values())
    # After reading, 10 left: the export (4 jobs, about 8 calls) would fit, but not with
    # the 5 deactivations applied after it.
    with BeeboleClient(sandbox.url, sandbox.token) as filler:
        filler.ledger.add(filler.remaining_today() - reads - 10, 0)
    sandbox.reset_calls()
    code, out, err = run("plan", logged)
    assert code == 0, err
    assert "Warning: usage: hours not looked up: the export needs about 8 API calls, 10 are " \
        "left today and 5 are kept to apply the plan" in out
    assert sandbox.calls["time_entry.export"] == 0
    assert "10 of 4000 left today" in out


def test_a_failed_export_job_is_said_plainly(
    run: Run, sandbox: SandboxServer, logged: Path
) -> None:
    sandbox.job_error = True
    code, out, err = run("usage", logged)
    assert code == 1 and out == ""
    assert "Error: the time export job 1 failed: the export failed" in err
    code, out, err = run("plan", logged)  # the plan is still made, and says why no hours
    assert code == 0, err
    assert "Warning: usage: hours not looked up: the time export job" in out
    assert "Still in use" not in out


def test_refuse_in_use_needs_allow_destroy(
    run: Run, sandbox: SandboxServer, client: BeeboleClient, logged: Path
) -> None:
    logged.write_text("settings: {safety: {refuseInUse: true}}\n" + logged.read_text())
    code, out, err = run("plan", logged)
    assert code == 0, err
    assert "Refused without --allow-destroy: 3 deactivated entities have hours in the last " \
        "90 days (subproject proto, person jane, absence vacation); " \
        "settings.safety.refuseInUse is on." in out
    sandbox.reset_calls()
    code, out, err = run("apply", logged, "--auto-approve")
    assert code == 1 and "refused" in err and "refuseInUse" in err
    assert not [s for s in sandbox.calls if s.endswith(".deactivate")]
    # Without the lookup nothing can be checked: refused as well.
    code, out, err = run("apply", logged, "--auto-approve", "--usage-days", "0")
    assert code == 1 and "5 deactivations not checked for hours (--usage-days 0)" in err
    code, out, err = run("apply", logged, "--auto-approve", "--allow-destroy")
    assert code == 0, err
    assert client.call("subproject.get", xid="proto")["subproject"]["active"] is False


def test_in_use_warning_and_refusal_sit_on_a_manifest_line(
    run: Run, logged: Path
) -> None:
    code, out, err = run("plan", logged, "--format", "github")
    assert code == 0, err
    # proto, the first deactivation with hours, is declared on line 8.
    assert f"::warning file={logged},line=8,title=beeplan::3 deactivated entities have " \
        "hours in the last 90 days" in out
    logged.write_text("settings: {safety: {refuseInUse: true}}\n" + logged.read_text())
    code, out, err = run("plan", logged, "--format", "github")
    assert code == 0, err
    assert f"::error file={logged},line=9,title=beeplan::refused without --allow-destroy: " \
        "3 deactivated entities have hours" in out


def test_refuse_in_use_is_a_boolean(cli_main: Run, tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("settings:\n  safety:\n    refuseInUse: maybe\n")
    code, _, err = cli_main("validate", path)
    assert code == 1 and f"{path}:3" in err and "settings.safety.refuseInUse" in err


def test_a_saved_plan_is_refused_from_fresh_hours_not_from_the_file(
    run: Run, sandbox: SandboxServer, logged: Path, tmp_path: Path
) -> None:
    logged.write_text("settings: {safety: {refuseInUse: true}}\n" + logged.read_text())
    saved = tmp_path / "plan.json"
    code, out, err = run("plan", logged, "-o", saved, "--format", "json")
    assert code == 0, err
    doc = json.loads(saved.read_text())
    assert any("refuseInUse" in v for v in doc["destroy_violations"])
    # Emptying the file's refusals and hours changes nothing: the hours are looked up again.
    doc["destroy_violations"] = []
    for action in doc["actions"]:
        action.pop("usage", None)
    saved.write_text(json.dumps(doc))
    sandbox.reset_calls()
    code, out, err = run("apply", saved, "--auto-approve")
    assert code == 1 and "refuseInUse" in err, out + err
    assert sandbox.calls["time_entry.export"] == 5  # one job each: no parents in a plan file
    assert not [s for s in sandbox.calls if s.endswith(".deactivate")]
    code, out, err = run("plan", logged, "-o", saved)  # usage objects and all
    assert code == 0, err
    code, out, err = run("apply", saved, "--auto-approve", "--allow-destroy")
    assert code == 0, out + err
    assert "5 applied, 0 failed" in out


def test_usage_max_calls_exports_the_companies_that_fit(
    run: Run, sandbox: SandboxServer, client: BeeboleClient, tmp_path: Path
) -> None:
    path = tmp_path / "two.yaml"
    path.write_text(
        "companies:\n  - {xid: a, name: A}\n  - {xid: b, name: B}\n"
    )
    assert run("apply", path, "--auto-approve")[0] == 0
    client.call("time_entry.create", company={"xid": "a"}, date=day(1), hours=2)
    client.call("time_entry.create", company={"xid": "b"}, date=day(2), hours=3)
    code, out, err = run("usage", path, "--format", "json")
    assert code == 0, err
    assert json.loads(out)["calls"]["jobs"] == 1  # every company involved: one unfiltered job
    for n in range(3):  # unmanaged: exporting the whole account would carry their hours too
        client.call("company.create", company={"name": f"Other {n}"})
    code, out, err = run("usage", path, "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert [(e["xid"], e["hours"]) for e in doc["entities"]] == [("a", 2.0), ("b", 3.0)]
    assert doc["calls"]["jobs"] == 2  # one per company involved, not the whole account

    code, out, err = run("usage", path, "--format", "json", "--max-calls",
                         doc["calls"]["read"] + 2)
    assert code == 0, err
    doc = json.loads(out)
    # Created in parallel, either company may have the lower id and be exported first.
    hours = [(e["xid"], e["hours"]) for e in doc["entities"]]
    assert hours in ([("a", 2.0), ("b", None)], [("a", None), ("b", 3.0)])
    assert "1 of 2 export job(s) left out to stay within --max-calls" in doc["notes"][0]
    sandbox.reset_calls()
    code, _, err = run("usage", path, "--max-calls", 1)
    assert code == 1 and "--max-calls 1 is not enough, nothing was read" in err
    assert sum(sandbox.calls.values()) == 0


ORG_FOR_BUDGET = """\
companies:
  - xid: a
    name: A
    projects:
      - {xid: a1, name: A1, subprojects: [{xid: a1s, name: A1 sub}]}
  - {xid: b, name: B, projects: [{xid: b1, name: B1}]}
  - {xid: c, name: C}
tasks:
  - {xid: ta, name: TA, company: a}
people:
  - {xid: pa, name: PA, company: a}
  - {xid: pb, name: PB, company: b}
absences:
  - {xid: va, name: VA, company: c}
"""


@pytest.mark.parametrize("unmanaged", [0, 4])
def test_usage_max_calls_too_low_is_refused_before_reading_and_says_what_is_enough(
    unmanaged: int, run: Run, sandbox: SandboxServer, client: BeeboleClient, tmp_path: Path
) -> None:
    """It read the whole account (21 calls), then said "raise it". Now: refused with the
    whole cost stated and a value that is enough; the reads alone never spend the budget."""
    path = tmp_path / "org.yaml"
    path.write_text(ORG_FOR_BUDGET)
    assert run("apply", path, "--auto-approve")[0] == 0
    for n in range(unmanaged):  # companies no manifest names: each adds lists to read
        client.call("company.create", company={"name": f"Other {n}"})
    sandbox.reset_calls()
    code, out, err = run("usage", path, "--format", "json")
    assert code == 0, err
    reads = json.loads(out)["calls"]["read"]
    assert f"with the {reads} spent reading, about " in err and " in all" in err
    for too_few in (1, 5, reads + 1):
        # Follow what each refusal says until the run goes through: the manifests
        # cannot tell of companies they do not name, so that may take one more step.
        asked, refusals = too_few, 0
        while True:
            sandbox.reset_calls()
            code, _, err = run("usage", path, "--max-calls", asked)
            spent = sum(sandbox.calls.values())
            if code == 0:
                assert spent <= asked
                break
            refusals += 1
            assert code == 1 and "Traceback" not in err, err
            assert f"--max-calls {asked} is not enough" in err
            # Nothing read, or only company.list when the account has more companies.
            assert (spent, "nothing was read") == (0, "nothing was read") or (
                spent == 1 and "1 spent reading so far" in err), (spent, err)
            named = re.search(r"Pass (?:at least )?--max-calls (\d+)", err)
            assert named, err
            assert int(named.group(1)) > asked
            asked = int(named.group(1))
            assert refusals <= 2, err
        assert refusals == (1 if not unmanaged or too_few == reads + 1 else 2) or (
            too_few == reads + 1 and not unmanaged and refusals == 0)


def test_usage_counts_the_hours_people_log_on_other_companies(
    run: Run, client: BeeboleClient, tmp_path: Path
) -> None:
    path = tmp_path / "one.yaml"
    path.write_text(
        "companies:\n  - {xid: a, name: A}\ntasks:\n  - {xid: audit, name: Audit, company: a}\n"
        "people:\n  - {xid: rosa, name: Rosa, company: a}\n  - {xid: sam, name: Sam, company: a}\n"
    )
    assert run("apply", path, "--auto-approve")[0] == 0
    for n in range(3):  # customers no manifest manages: a's export alone would miss them
        client.call("company.create", company={"xid": f"c{n}", "name": f"Customer {n}"})
    # a's task, attached to a customer (the sandbox, like Beebole, allows it)
    c2 = client.call("company.get", xid="c2")["company"]["id"]
    audit = client.call("task.get", xid="audit")["task"]["id"]
    client.call("company.attach_specific_task", id=c2, task={"id": audit})
    client.call("time_entry.create", company={"xid": "a"}, date=day(1), hours=2,
                person={"xid": "rosa"}, task={"xid": "audit"})
    client.call("time_entry.create", company={"xid": "c0"}, date=day(3), hours=5,
                person={"xid": "rosa"})
    client.call("time_entry.create", company={"xid": "c1"}, date=day(4), hours=1.5,
                person={"xid": "sam"})
    client.call("time_entry.create", company={"xid": "c2"}, date=day(6), hours=4,
                person={"xid": "sam"}, task={"xid": "audit"})
    code, out, err = run("usage", path, "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    got = {e["xid"]: (e["hours"], e["people"], e["last"]) for e in doc["entities"]}
    assert got == {
        "a": (2.0, 1, day(1)),
        "audit": (6.0, 2, day(1)),
        "rosa": (7.0, 1, day(1)),
        "sam": (5.5, 1, day(4)),
    }
    assert doc["unused"] == []  # sam works, for customers
    assert doc["calls"]["jobs"] == 4  # company a, then audit, rosa and sam each
    # An entity whose own job does not fit shows no figure, never a partial one.
    code, out, err = run("usage", path, "--format", "json", "--max-calls",
                         doc["calls"]["read"] + 2)
    assert code == 0, err
    doc = json.loads(out)
    assert [(e["xid"], e["hours"]) for e in doc["entities"]] == [
        ("a", 2.0), ("audit", None), ("rosa", None), ("sam", None)]
    assert doc["unused"] == []


@pytest.mark.wall_clock  # gives up after so many real seconds
def test_usage_gives_up_on_a_job_that_never_finishes(
    run: Run, sandbox: SandboxServer, logged: Path
) -> None:
    sandbox.job_polls, sandbox.job_seconds = 10**9, None
    started = time.monotonic()
    code, out, err = run("usage", logged, "--timeout", "0.5")
    assert time.monotonic() - started < 10
    assert code == 1 and out == ""
    assert "Error: the time export did not finish within 0.5 s (1 of 1 job(s) still running" in err


def test_usage_max_calls_is_never_passed_by_the_polls(
    run: Run, sandbox: SandboxServer, client: BeeboleClient, tmp_path: Path
) -> None:
    """--max-calls 6 spent 7: the budget counted one poll per job, then polled until done.
    Now the last poll the budget allows waits a few seconds (a job polled once after a few
    seconds is done), and a job still running then stops the run with what is enough."""
    path = tmp_path / "one.yaml"
    path.write_text("companies:\n  - {xid: a, name: A}\n")
    assert run("apply", path, "--auto-approve")[0] == 0
    client.call("time_entry.create", company={"xid": "a"}, date=day(1), hours=2)
    sandbox.reset_calls()
    code, out, err = run("usage", path, "--format", "json")
    assert code == 0, err
    reads = json.loads(out)["calls"]["read"]

    # The default sandbox: running at the first poll, done once the job is 2 s old.
    sandbox.reset_calls()
    code, out, err = run("usage", path, "--format", "json", "--max-calls", reads + 2)
    assert code == 0, err
    assert sum(sandbox.calls.values()) <= reads + 2
    assert [(e["xid"], e["hours"]) for e in json.loads(out)["entities"]] == [("a", 2.0)]

    # A job that never finishes: the run stops at the budget, says so and what to pass.
    sandbox.job_polls, sandbox.job_seconds = 10**9, None
    sandbox.reset_calls()
    code, out, err = run("usage", path, "--max-calls", reads + 3)
    assert code == 1 and out == "" and "Traceback" not in err
    assert sum(sandbox.calls.values()) == reads + 3
    assert f"--max-calls {reads + 3} was spent" in err
    assert "still running" in err and "Pass --max-calls" in err


def test_usage_max_calls_refusal_names_one_value_when_one_is_enough(
    run: Run, sandbox: SandboxServer, tmp_path: Path
) -> None:
    """One company: the whole export and the least that exports part of it are the same
    number, which the refusal said twice ("Pass --max-calls 6 (at least 6 exports...")."""
    path = tmp_path / "one.yaml"
    path.write_text("companies:\n  - {xid: a, name: A}\n")
    assert run("apply", path, "--auto-approve")[0] == 0
    sandbox.reset_calls()
    code, _, err = run("usage", path, "--max-calls", 1)
    assert code == 1 and "nothing was read" in err and sum(sandbox.calls.values()) == 0
    named = re.search(r"Pass --max-calls (\d+)", err)
    assert named, err
    assert f"at least {named.group(1)} exports part of it" not in err, err
