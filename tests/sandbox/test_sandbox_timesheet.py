"""Time entries: the reference's logging rules, approval states, and the export job."""

from __future__ import annotations

from typing import Any

import pytest

from beeplan.errors import ApiError
from beeplan.platforms.v2.client import BeeboleClient
from beeplan.platforms.v2.sandbox.server import SandboxServer

DAY = "2017-08-05"


@pytest.fixture
def acme(client: BeeboleClient) -> dict[str, int]:
    """ACME: project dev (subproject proto), project ops (no subprojects), tasks admin/meet;
    Solo: a company without projects or tasks; an absence type."""
    def create(kind: str, **body: Any) -> int:
        return int(client.call(f"{kind}.create", **{kind: body})["id"])

    ids = {"acme": create("company", xid="acme", name="ACME")}
    ids["dev"] = create("project", xid="dev", name="Dev", company={"xid": "acme"})
    ids["proto"] = create("subproject", xid="proto", name="Proto", project={"xid": "dev"})
    ids["ops"] = create("project", xid="ops", name="Ops", company={"xid": "acme"})
    ids["admin"] = create("task", xid="admin", name="Admin", company={"xid": "acme"})
    ids["meet"] = create("task", xid="meet", name="Meetings", company={"xid": "acme"})
    ids["solo"] = create("company", xid="solo", name="Solo")
    ids["vacation"] = create("absence", xid="vacation", name="Vacation", company={"xid": "acme"})
    ids["rosa"] = create("person", xid="rosa", name="Rosa", company={"xid": "acme"})
    return ids


def log(client: BeeboleClient, hours: float = 8, date: str = DAY, **where: Any) -> dict[str, Any]:
    answer = client.call("time_entry.create", date=date, hours=hours, **where)
    return dict(answer["timeEntry"])


def test_hours_only_on_leaves(client: BeeboleClient, acme: dict[str, int]) -> None:
    with pytest.raises(ApiError, match="company .* has projects: hours go on the leaves"):
        log(client, company={"xid": "acme"}, task={"xid": "admin"})
    with pytest.raises(ApiError, match="project .* has subprojects"):
        log(client, project={"xid": "dev"}, task={"xid": "admin"})
    assert log(client, project={"xid": "ops"}, task={"xid": "admin"})["project"]["id"] == acme[
        "ops"]
    assert log(client, company={"xid": "solo"}, hours=1)["company"]["id"] == acme["solo"]
    # Once its only subproject is inactive, the project is a leaf.
    client.call("subproject.deactivate", xid="proto")
    log(client, project={"xid": "dev"}, task={"xid": "admin"}, hours=1)


def test_no_time_on_inactive_entities(client: BeeboleClient, acme: dict[str, int]) -> None:
    client.call("project.deactivate", xid="dev")
    with pytest.raises(ApiError, match="project .* is inactive"):
        log(client, subproject={"xid": "proto"}, task={"xid": "admin"})


def test_task_rules(client: BeeboleClient, acme: dict[str, int]) -> None:
    with pytest.raises(ApiError, match="missing field task: it is mandatory"):
        log(client, subproject={"xid": "proto"})
    with pytest.raises(ApiError, match="task .* cannot be used on company"):
        log(client, company={"xid": "solo"}, task={"xid": "admin"})
    with pytest.raises(ApiError, match="give only one of the fields"):
        log(client, company={"xid": "solo"}, project={"xid": "ops"})
    # Absences take no task; one sent along is ignored.
    entry = log(client, absence={"xid": "vacation"}, task={"xid": "admin"})
    assert entry["task"] == {"active": False} and entry["absence"]["id"] == acme["vacation"]


def test_specific_tasks_narrow_the_choice(client: BeeboleClient, acme: dict[str, int]) -> None:
    def usable(**where: Any) -> list[str]:
        return [t["xid"] for t in client.call("time_entry.get_tasks", **where)["tasks"]]

    assert usable(subproject={"xid": "proto"}) == ["admin", "meet"]
    client.call("project.attach_specific_task", xid="dev", task={"xid": "meet"})
    assert usable(subproject={"xid": "proto"}) == ["meet"]  # inherited from the project
    assert usable(project={"xid": "ops"}) == ["admin", "meet"]
    with pytest.raises(ApiError, match="cannot be used on subproject"):
        log(client, subproject={"xid": "proto"}, task={"xid": "admin"})
    client.call("project.disable_specific_tasks", xid="dev")
    assert usable(subproject={"xid": "proto"}) == ["admin", "meet"]
    assert usable(absence={"xid": "vacation"}) == []


def test_hours_are_bounded(client: BeeboleClient, acme: dict[str, int]) -> None:
    for hours in (0, -1, 25):
        with pytest.raises(ApiError, match="more than 0 and at most 24"):
            log(client, company={"xid": "solo"}, hours=hours)
    with pytest.raises(ApiError, match="must be a number"):
        log(client, company={"xid": "solo"}, hours="8")
    log(client, company={"xid": "solo"}, hours=20)
    with pytest.raises(ApiError, match="more than 24 in a day"):
        log(client, absence={"xid": "vacation"}, hours=5)


def test_states(client: BeeboleClient, acme: dict[str, int]) -> None:
    entry = log(client, company={"xid": "solo"})
    one = {"id": entry["id"], "date": DAY}

    def status() -> str:
        return str(client.call("time_entry.get", **one)["timeEntry"]["status"])

    with pytest.raises(ApiError, match="is draft: approve applies to submitted entries"):
        client.call("time_entry.approve", **one)
    client.call("time_entry.submit", **one)
    assert status() == "s"
    with pytest.raises(ApiError, match="is submitted: only draft or rejected entries"):
        client.call("time_entry.update", id=entry["id"], hours=2)
    with pytest.raises(ApiError, match="is submitted"):
        client.call("time_entry.delete", **one)
    client.call("time_entry.reject", memo="too many hours", **one)
    assert status() == "r"
    client.call("time_entry.update", id=entry["id"], hours=2)  # rejected: editable
    client.call("time_entry.submit", **one)
    client.call("time_entry.approve", **one)
    client.call("time_entry.lock", **one)
    assert status() == "l"
    client.call("time_entry.unlock", **one)
    assert status() == "a"


def test_a_range_leaves_entries_in_other_states_alone(client: BeeboleClient,
                                                      acme: dict[str, int]) -> None:
    first = log(client, company={"xid": "solo"}, date="2017-10-02")
    log(client, company={"xid": "solo"}, date="2017-10-03")
    client.call("time_entry.submit", id=first["id"], date="2017-10-02")
    client.call("time_entry.approve", person={"xid": "rosa"},
                **{"from": "2017-10-01", "to": "2017-10-31"})  # Rosa has none: no-op
    client.call("time_entry.approve", **{"from": "2017-10-01", "to": "2017-10-31"})
    listed = client.call("time_entry.list", **{"from": "2017-10-01", "to": "2017-10-31"})
    assert [e["status"] for e in listed["timeEntries"]] == ["a", "d"]


def test_get_and_delete_need_the_right_date(client: BeeboleClient,
                                            acme: dict[str, int]) -> None:
    entry = log(client, company={"xid": "solo"})
    with pytest.raises(ApiError, match="is not on 2017-08-06"):
        client.call("time_entry.get", id=entry["id"], date="2017-08-06")
    with pytest.raises(ApiError, match="missing field date"):
        client.call("time_entry.delete", id=entry["id"])
    client.call("time_entry.delete", id=entry["id"], date=DAY)
    with pytest.raises(ApiError, match="no time entry with id"):
        client.call("time_entry.get", id=entry["id"], date=DAY)


def test_entries_for_a_person(client: BeeboleClient, acme: dict[str, int]) -> None:
    entry = log(client, company={"xid": "solo"}, person={"xid": "rosa"})
    assert entry["person"] == {"id": acme["rosa"]}
    mine = client.call("time_entry.list", **{"from": DAY, "to": DAY})["timeEntries"]
    hers = client.call("time_entry.list", person={"xid": "rosa"},
                       **{"from": DAY, "to": DAY})["timeEntries"]
    assert mine == [] and [e["id"] for e in hers] == [entry["id"]]


def test_get_entities_top_level_lists_active_companies_and_absences(
        client: BeeboleClient, acme: dict[str, int]) -> None:
    client.call("company.deactivate", xid="solo")
    top = client.call("time_entry.get_entities")
    assert [c["xid"] for c in top["companies"]] == ["acme"]
    assert top["companies"][0]["projects"] == {"count": 2}
    assert [a["xid"] for a in top["absences"]] == ["vacation"]


def export(client: BeeboleClient, sandbox: SandboxServer, **params: Any) -> Any:
    job = client.call("time_entry.export", **{"from": "2017-08-01", "to": "2017-08-31"},
                      **params)["job"]
    assert job["status"] == "running"
    seen = []
    while True:
        info = client.call("time_entry.get_job_info", id=job["id"])["job"]
        seen.append(info["status"])
        if info["status"] == "done":
            assert seen.count("running") == sandbox.job_polls
            return info["result"]


def test_export_filters_and_formats(client: BeeboleClient, sandbox: SandboxServer,
                                    acme: dict[str, int]) -> None:
    sandbox.job_polls = 0
    log(client, company={"xid": "solo"}, hours=1, date="2017-08-01")
    vac = log(client, absence={"xid": "vacation"}, hours=2, date="2017-08-02",
              person={"xid": "rosa"})
    log(client, subproject={"xid": "proto"}, task={"xid": "admin"}, hours=3, date="2017-09-01")
    client.call("time_entry.submit", id=vac["id"], date="2017-08-02")
    client.call("person.add_group", xid="rosa",
                group={"id": client.call("group.create", group={"name": "G"})["id"]})

    assert export(client, sandbox, keys=["date", "company", "hours"]) == (
        "date,company,hours\n2017-08-01,Solo,1.00\n2017-08-02,ACME,2.00\n")
    assert export(client, sandbox, keys=["absence", "personId", "status"], statusFilters=["s"],
                  outputFormat="array") == [["absence", "personId", "status"],
                                            ["Vacation", acme["rosa"], "s"]]
    assert export(client, sandbox, keys=["hours"], person={"xid": "rosa"}) == "hours\n2.00\n"
    assert export(client, sandbox, keys=["hours"], company={"xid": "acme"}) == "hours\n2.00\n"
    group = client.call("person.groups", xid="rosa")["groups"][0]["id"]
    assert export(client, sandbox, keys=["hours"], gids=[group]) == "hours\n2.00\n"
    default = export(client, sandbox)
    assert default.splitlines()[0] == (
        "date,person,company,project,subproject,task,absence,hours,status,comment")
    # Empty lists filter nothing and ask for the default columns.
    assert export(client, sandbox, keys=[], statusFilters=[], gids=[]) == default
    sandbox.job_polls, sandbox.job_seconds = 3, None  # polls alone decide: exact counts
    export(client, sandbox, keys=["hours"])


def test_export_errors(client: BeeboleClient, acme: dict[str, int]) -> None:
    span = {"from": "2017-08-01", "to": "2017-08-31"}
    with pytest.raises(ApiError, match='unknown key "colour"'):
        client.call("time_entry.export", keys=["colour"], **span)
    with pytest.raises(ApiError, match='unknown status "x"'):
        client.call("time_entry.export", statusFilters=["x"], **span)
    with pytest.raises(ApiError, match="missing field from"):
        client.call("time_entry.export", to="2017-08-31")
    with pytest.raises(ApiError, match="no group with id"):
        client.call("time_entry.export", gids=[acme["acme"]], **span)
    with pytest.raises(ApiError, match='field outputFormat must be "array"'):
        client.call("time_entry.export", outputFormat="xml", **span)


def test_export_entity_filters_and_id_keys(client: BeeboleClient, sandbox: SandboxServer,
                                          acme: dict[str, int]) -> None:
    sandbox.job_polls = 0
    log(client, subproject={"xid": "proto"}, task={"xid": "admin"}, hours=3, date="2017-08-03",
        person={"xid": "rosa"})
    log(client, project={"xid": "ops"}, task={"xid": "meet"}, hours=2, date="2017-08-04")
    log(client, absence={"xid": "vacation"}, hours=8, date="2017-08-07", person={"xid": "rosa"})
    keys = ["date", "personId", "companyId", "projectId", "subprojectId", "taskId", "absenceId",
            "hours"]

    def rows(**entity: Any) -> list[list[Any]]:
        return list(export(client, sandbox, keys=keys, outputFormat="array", **entity)[1:])

    proto = ["2017-08-03", acme["rosa"], acme["acme"], acme["dev"], acme["proto"],
             acme["admin"], None, 3.0]
    ops = ["2017-08-04", None, acme["acme"], acme["ops"], None, acme["meet"], None, 2.0]
    vacation = ["2017-08-07", acme["rosa"], acme["acme"], None, None, None, acme["vacation"], 8.0]
    assert rows(project={"xid": "dev"}) == rows(subproject={"id": acme["proto"]}) == [proto]
    assert rows(task={"xid": "meet"}) == [ops]
    assert rows(absence={"xid": "vacation"}) == [vacation]
    assert rows(person={"id": str(acme["rosa"])}) == [proto, vacation]
    assert rows(company={"xid": "acme"}) == [proto, ops, vacation]
    assert rows(company={"xid": "solo"}) == []
    with pytest.raises(ApiError, match="give only one of the fields"):
        client.call("time_entry.export", project={"xid": "dev"}, task={"xid": "admin"},
                    **{"from": "2017-08-01", "to": "2017-08-31"})
    # The format asked on the poll wins over the export's.
    job = client.call("time_entry.export", keys=["hours"], outputFormat="array",
                      absence={"xid": "vacation"}, **{"from": "2017-08-01", "to": "2017-08-31"})
    assert job["job"]["status"] == "running"
    done = client.call("time_entry.get_job_info", id=job["job"]["id"], outputFormat="csv")
    assert done["job"] == {"status": "done", "id": job["job"]["id"], "result": "hours\n8.00\n"}


def test_export_jobs_that_never_finish_or_fail(client: BeeboleClient,
                                               sandbox: SandboxServer) -> None:
    span = {"from": "2017-08-01", "to": "2017-08-31"}
    sandbox.job_polls, sandbox.job_seconds = 10**9, None
    job = client.call("time_entry.export", **span)["job"]
    for _ in range(5):
        assert client.call("time_entry.get_job_info", id=job["id"])["job"]["status"] == "running"
    sandbox.job_polls, sandbox.job_error = 0, True
    failed = client.call("time_entry.get_job_info", id=job["id"])["job"]
    assert failed["status"] == "error" and "result" not in failed


def test_update_keeps_what_it_does_not_name(client: BeeboleClient,
                                            acme: dict[str, int]) -> None:
    entry = log(client, subproject={"xid": "proto"}, task={"xid": "admin"}, comment="c")
    updated = client.call("time_entry.update", id=entry["id"], hours=3)["timeEntry"]
    assert updated == {**entry, "hours": 3.0}
    moved = client.call("time_entry.update", id=entry["id"], project={"xid": "ops"},
                        task={"xid": "meet"}, date="2017-08-07")["timeEntry"]
    assert (moved["project"]["id"], moved["task"]["id"], moved["date"], moved["comment"]) == (
        acme["ops"], acme["meet"], "2017-08-07", "c")
    with pytest.raises(ApiError, match="missing field task"):
        client.call("time_entry.update", id=entry["id"], subproject={"xid": "proto"})
