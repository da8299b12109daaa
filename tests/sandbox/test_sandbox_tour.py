"""Every one of the 116 services, on its success path, over HTTP with the real client.

One scenario walks an account the way the reference's examples do and
checks each answer's shape; at the end it checks that it called every
service of the reference list (services.txt) successfully.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from beeplan.platforms.v2.client import BeeboleClient, is_read
from beeplan.platforms.v2.sandbox.app import SERVICES
from beeplan.platforms.v2.sandbox.server import SandboxServer

SERVICES_FILE = Path(__file__).with_name("services.txt")


def reference_services() -> set[str]:
    lines = SERVICES_FILE.read_text(encoding="utf-8").splitlines()
    return {line.strip() for line in lines if line.strip() and not line.startswith("#")}


def test_the_sandbox_registers_exactly_the_reference_services() -> None:
    expected = reference_services()
    assert len(expected) == 116
    assert set(SERVICES) == expected


class Tour:
    """The client, remembering which services answered ok."""

    def __init__(self, client: BeeboleClient):
        self.client = client
        self.ok: set[str] = set()

    def __call__(self, service: str, **payload: Any) -> dict[str, Any]:
        answer = self.client.call(service, **payload)
        assert answer["status"] == "ok", answer
        self.ok.add(service)
        return answer


def test_every_service_answers_ok(client: BeeboleClient, sandbox: SandboxServer) -> None:
    call = Tour(client)
    sandbox.job_polls = 1

    # -- groups --------------------------------------------------------------------
    country = call("group.create", group={"xid": "country", "name": "Country"})["id"]
    us = call("group.create", group={"xid": "us", "name": "US", "parent": {"id": country}})["id"]
    tx = call("group.create", group={"name": "Texas", "parent": {"xid": "us"}})["id"]
    call("group.update", group={"id": tx, "name": "Texas - Austin"})
    assert call("group.get", id=tx)["group"] == {"id": tx, "name": "Texas - Austin",
                                                  "parent": {"id": us, "xid": "us"}}
    tree = call("group.tree")["groups"]
    assert tree == [{"id": country, "xid": "country", "name": "Country", "groups": [
        {"id": us, "xid": "us", "name": "US", "groups": [{"id": tx, "name": "Texas - Austin"}]}]}]

    # -- companies, tasks, projects, subprojects, people, absences -------------------
    acme = call("company.create", company={"xid": "acme", "name": "ACME", "corporate": True})
    assert acme == {"status": "ok", "id": acme["id"], "xid": "acme"}
    acme_id = acme["id"]
    call("company.update", company={"id": acme_id, "name": "ACME Corp"})
    assert call("company.get", xid="acme")["company"]["name"] == "ACME Corp"
    assert [c["xid"] for c in call("company.list")["companies"]] == ["acme"]

    admin = call("task.create", task={"xid": "admin", "name": "Administration",
                                      "company": {"xid": "acme"}})["id"]
    meeting = call("task.create", task={"name": "Meeting", "company": {"id": acme_id}})["id"]
    call("task.update", task={"id": meeting, "name": "Meetings"})
    assert call("task.get", id=meeting)["task"] == {
        "id": meeting, "name": "Meetings", "company": {"id": acme_id, "xid": "acme"},
        "active": True}
    assert len(call("task.list", company={"id": acme_id})["tasks"]) == 2

    dev = call("project.create", project={"xid": "dev", "name": "Development",
                                          "startDate": "2017-10-13", "company": {"xid": "acme"},
                                          "description": "some description ..."})["id"]
    call("project.update", project={"id": dev, "name": "Dev", "startDate": "2017-10-14",
                                    "description": "product"})
    project = call("project.get", id=dev)["project"]
    assert (project["name"], project["startDate"], project["description"]) == (
        "Dev", "2017-10-14", "product")
    assert call("project.list", company={"xid": "acme"})["projects"][0]["id"] == dev

    proto = call("subproject.create", subproject={"xid": "proto", "name": "Prototype",
                                                  "project": {"id": dev}})["id"]
    call("subproject.update", subproject={"xid": "proto", "name": "Proto"})
    assert call("subproject.get", id=proto)["subproject"]["project"] == {"id": dev, "xid": "dev"}
    assert [s["name"] for s in call("subproject.list", project={"id": dev})["subprojects"]] == [
        "Proto"]
    assert call("project.get", id=dev)["project"]["subprojects"] == {"count": 1}
    assert call("company.get", id=acme_id)["company"]["projects"] == {"count": 1}

    jane = call("person.create", person={"xid": "jane", "name": "Jane Clark",
                                         "company": {"id": acme_id}, "userGroup": "leader",
                                         "email": "jane.clark@example.com"})["id"]
    rosa = call("person.create", person={
        "xid": "rosa", "name": "Rosa Parks", "company": {"xid": "acme"},
        "email": "rosa.parks@example.com", "invite": True, "userGroup": "employee",
        "leaders": [{"name": "Jane Clark"}]})["id"]
    call("person.update", person={"id": rosa, "name": "Rosa L. Parks",
                                  "leaders": [{"email": "jane.clark@example.com"}]})
    person = call("person.get", id=rosa)["person"]
    assert person == {"id": rosa, "xid": "rosa", "name": "Rosa L. Parks",
                      "company": {"id": acme_id, "xid": "acme"}, "active": True,
                      "email": "rosa.parks@example.com", "userGroup": "employee",
                      "leaders": {"count": 1}}
    assert {p["id"] for p in call("person.list", company={"id": acme_id})["people"]} == {
        jane, rosa}
    [leader] = call("person.leaders", id=rosa)["leaders"]
    assert leader["id"] == jane and leader["userGroup"] == "leader"

    vacation = call("absence.create", absence={"name": "Vacation",
                                               "company": {"id": acme_id}})["id"]
    call("absence.update", absence={"id": vacation, "name": "Holidays"})
    assert call("absence.get", id=vacation)["absence"]["name"] == "Holidays"
    assert call("absence.list", company={"id": acme_id})["absences"][0]["id"] == vacation

    # -- activate / deactivate ----------------------------------------------------
    for kind, ident in (("company", acme_id), ("project", dev), ("subproject", proto),
                        ("task", meeting), ("person", jane), ("absence", vacation)):
        call(f"{kind}.deactivate", id=ident)
        assert call(f"{kind}.get", id=ident)[kind]["active"] is False
        call(f"{kind}.activate", id=ident)
        assert call(f"{kind}.get", id=ident)[kind]["active"] is True

    # -- groups of every kind, and group.list / group.assignments -------------------
    for kind, ident in (("company", acme_id), ("project", dev), ("subproject", proto),
                        ("task", admin), ("person", rosa), ("absence", vacation)):
        call(f"{kind}.add_group", id=ident, group={"id": tx})
        call(f"{kind}.add_group", id=ident, group={"xid": "us"})
        call(f"{kind}.remove_group", id=ident, group={"xid": "us"})
        assert call(f"{kind}.groups", id=ident)["groups"] == [
            {"id": tx, "name": "Texas - Austin", "groups": {"count": 0}}]
        assert call("group.list", **{kind: {"id": ident}})["groups"][0]["id"] == tx
    assignments = call("group.assignments", id=tx)
    assert {k: [e["id"] for e in v] for k, v in assignments.items() if k != "status"} == {
        "companies": [acme_id], "projects": [dev], "subprojects": [proto], "tasks": [admin],
        "people": [rosa], "absences": [vacation]}
    assert assignments["people"][0] == {"id": rosa, "xid": "rosa", "name": "Rosa L. Parks",
                                        "active": True, "email": "rosa.parks@example.com"}

    # -- exclusive members and specific tasks --------------------------------------
    for kind, ident in (("company", acme_id), ("project", dev), ("subproject", proto)):
        call(f"{kind}.attach_member", id=ident, person={"id": rosa})
        call(f"{kind}.attach_member", id=ident, group={"id": us})
        call(f"{kind}.attach_member", id=ident, person={"xid": "jane"})
        call(f"{kind}.detach_member", id=ident, person={"xid": "jane"})
        members = call(f"{kind}.members", id=ident)
        assert members["members"] == [{"id": rosa, "xid": "rosa", "name": "Rosa L. Parks"}]
        assert members["groups"] == [{"id": us, "xid": "us", "name": "US"}]

        call(f"{kind}.attach_specific_task", id=ident, task={"id": admin})
        call(f"{kind}.attach_specific_task", id=ident, task={"id": meeting})
        call(f"{kind}.detach_specific_task", id=ident, task={"id": meeting})
        call(f"{kind}.disable_specific_tasks", id=ident)
        assert call(f"{kind}.specific_tasks", id=ident) == {
            "status": "ok", "disabled": True,
            "specificTasks": [{"id": admin, "xid": "admin", "name": "Administration",
                               "active": True}]}
        call(f"{kind}.enable_specific_tasks", id=ident)
        assert call(f"{kind}.specific_tasks", id=ident)["disabled"] is False

    # -- project managers ------------------------------------------------------------
    call("project.attach_manager", id=dev, person={"id": jane})
    call("project.attach_manager", id=dev, person={"id": rosa})
    call("project.detach_manager", id=dev, person={"id": rosa})
    assert call("project.managers", id=dev)["members"] == [
        {"id": jane, "xid": "jane", "name": "Jane Clark", "email": "jane.clark@example.com",
         "active": True}]

    # -- custom fields ---------------------------------------------------------------
    fields = {f["name"]: f for f in call("custom_field.list")["customFields"]}
    assert set(fields) == {"Industry", "location", "Company address"}
    assert fields["Company address"]["availableFor"] == "Company - Customer"
    industry, location = fields["Industry"]["id"], fields["location"]["id"]
    call("company.set_custom_field_value", id=acme_id,
         customField={"id": industry, "value": "Transportation"})
    assert call("company.custom_fields", id=acme_id)["customFields"] == [
        {"id": industry, "name": "Industry", "value": "Transportation"}]
    call("company.clear_custom_field_value", id=acme_id, customField={"id": industry})
    assert call("company.custom_fields", id=acme_id)["customFields"] == [
        {"id": industry, "name": "Industry"}]
    for kind, ident in (("person", rosa), ("project", dev), ("subproject", proto)):
        call(f"{kind}.set_custom_field_value", id=ident,
             customField={"id": location, "value": "Salt Lake City, UT, USA"})
        assert call(f"{kind}.custom_fields", id=ident)["customFields"] == [
            {"id": location, "name": "location", "value": "Salt Lake City, UT, USA"}]
        call(f"{kind}.clear_custom_field_value", id=ident, customField={"id": location})
        assert "value" not in call(f"{kind}.custom_fields", id=ident)["customFields"][0]

    # -- time entries ------------------------------------------------------------------
    entities = call("time_entry.get_entities", company={"id": acme_id}, date="2017-06-16")
    assert entities["projects"] == [{"id": dev, "xid": "dev", "name": "Dev", "active": True,
                                     "subprojects": {"count": 1}}]
    branch = call("time_entry.get_entities", project={"id": dev}, date="2017-06-16")
    assert [s["id"] for s in branch["subprojects"]] == [proto]
    tasks = call("time_entry.get_tasks", subproject={"id": proto}, date="2017-07-16")["tasks"]
    assert [t["id"] for t in tasks] == [admin]  # the subproject's specific task

    entry = call("time_entry.create", subproject={"id": proto}, task={"id": admin},
                 date="2017-09-29", hours=8, comment="some comment")["timeEntry"]
    assert entry == {"hours": 8.0, "status": "d",
                     "subproject": {"id": proto, "xid": "proto", "name": "Proto", "active": True},
                     "task": {"id": admin, "xid": "admin", "name": "Administration",
                              "active": True},
                     "id": entry["id"], "date": "2017-09-29", "stime": "", "etime": "",
                     "comment": "some comment"}
    updated = call("time_entry.update", id=entry["id"], subproject={"id": proto},
                   task={"id": admin}, date="2017-09-29", hours=7,
                   comment="updated comment")["timeEntry"]
    assert (updated["hours"], updated["comment"]) == (7.0, "updated comment")
    assert call("time_entry.get", id=entry["id"], date="2017-09-29")["timeEntry"] == updated
    listed = call("time_entry.list", **{"from": "2017-09-01", "to": "2017-09-30"})
    assert listed["timeEntries"] == [updated]

    span = {"from": "2017-09-01", "to": "2017-09-30"}
    call("time_entry.submit", **span)
    call("time_entry.reject", memo="Rejection reason", **span)
    call("time_entry.submit", id=entry["id"], date="2017-09-29")
    call("time_entry.approve", **span)
    call("time_entry.lock", **span)
    assert call("time_entry.get", id=entry["id"], date="2017-09-29")["timeEntry"]["status"] == "l"
    call("time_entry.unlock", **span)
    assert call("time_entry.get", id=entry["id"], date="2017-09-29")["timeEntry"]["status"] == "a"

    job = call("time_entry.export", **span, keys=["company", "companyId", "hours"],
               statusFilters=["a", "l"], company={"id": acme_id}, gids=[country])["job"]
    assert job["status"] == "running"
    first = call("time_entry.get_job_info", id=job["id"])["job"]
    assert first == {"status": "running", "id": job["id"]}
    done = call("time_entry.get_job_info", id=job["id"])["job"]
    assert done == {"status": "done", "id": job["id"],
                    "result": f"company,companyId,hours\nACME Corp,{acme_id},7.00\n"}
    rows = call("time_entry.get_job_info", id=job["id"], outputFormat="array")["job"]["result"]
    assert rows == [["company", "companyId", "hours"], ["ACME Corp", acme_id, 7.0]]

    other = call("time_entry.create", absence={"id": vacation}, date="2017-09-28",
                 hours=4)["timeEntry"]
    call("time_entry.delete", id=other["id"], date="2017-09-28")

    # -- group.delete last: it takes the assignments with it --------------------------
    call("group.delete", id=country, force=True)
    assert call("group.tree")["groups"] == []

    assert call.ok == reference_services()
    assert set(sandbox.calls) == reference_services()


def test_the_client_retries_exactly_the_services_that_only_read() -> None:
    # A write the client took for a read would be retried blindly after a lost answer.
    assert {name for name, spec in SERVICES.items() if is_read(name) == spec.writes} == set()
