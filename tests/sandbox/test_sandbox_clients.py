"""What public v2 clients that ran against the real API rely on (issue #23, point 5).

Each test replays a client's request or reading: the export column keys of
PipedreamHQ/pipedream's "Run report", the ``show`` values and quota keys of
sbordeyne/beebole, a job polled once after a few seconds (NeoNexAI/beebole-mcp
waits 2.5 s), entries sorted by ``stime`` and read as ``entry.task.name``
(ruben-conmag/beebole-resumer), and a company's name read from project.list.
"""

from __future__ import annotations

from typing import Any

import pytest

from beeplan.errors import ApiError
from beeplan.platforms.v2.client import BeeboleClient
from beeplan.platforms.v2.sandbox.server import SandboxServer

DAY = "2017-08-05"
SPAN = {"from": "2017-08-01", "to": "2017-08-31"}

# The "Columns" options of pipedream's beebole_app run-report action, in its order.
PIPEDREAM_KEYS = [
    "absence", "absenceId", "activity", "billing", "billingPercent", "billingRatio",
    "billableSplit", "billability", "budget", "workDays", "remWorkDays", "workHours",
    "remWorkHours", "comment", "company", "companyId", "cost", "costsPercent", "date",
    "dailyCost", "dailyRate", "inDays", "eventId", "hourlyCost", "hourlyRate", "hours",
    "hoursPercent", "isAtWork", "month", "overtime", "weeklyOvertime", "person", "personId",
    "profit", "profitPercent", "profitRatio", "project", "projectId", "status", "task",
    "taskId", "etime", "stime", "subproject", "subprojectId", "week",
]


@pytest.fixture
def acme(client: BeeboleClient) -> dict[str, int]:
    """ACME: project dev (subproject proto), project ops, tasks admin and meet, an absence
    type, person rosa; Solo: a company without projects or tasks."""
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
    return dict(client.call("time_entry.create", date=date, hours=hours, **where)["timeEntry"])


def result(client: BeeboleClient, sandbox: SandboxServer, **params: Any) -> Any:
    """Export, then poll once after the sandbox's clock moved 2.5 s on, as beebole-mcp does."""
    job = client.call("time_entry.export", **SPAN, outputFormat="array", **params)["job"]
    assert job["status"] == "running"
    sandbox.advance_clock(2.5)
    info = client.call("time_entry.get_job_info", id=job["id"], outputFormat="array")["job"]
    assert info["status"] == "done", info
    return info["result"]


def test_export_takes_the_46_keys_and_gid_columns_real_clients_send(
    client: BeeboleClient, sandbox: SandboxServer, acme: dict[str, int]
) -> None:
    assert len(PIPEDREAM_KEYS) == len(set(PIPEDREAM_KEYS)) == 46
    country = int(client.call("group.create", group={"name": "Country"})["id"])
    us = int(client.call("group.create", group={"name": "US", "parent": {"id": country}})["id"])
    client.call("person.add_group", xid="rosa", group={"id": us})
    client.call("project.set_custom_field_value", xid="dev",
                customField={"id": 4879, "value": "Paris"})
    log(client, subproject={"xid": "proto"}, task={"xid": "admin"}, hours=6,
        date="2017-08-07", person={"xid": "rosa"}, stime="09:00", etime="15:00")
    log(client, absence={"xid": "vacation"}, hours=2, date="2017-08-08")
    keys = [*PIPEDREAM_KEYS, f"gid{country}", "gid4879"]
    header, work, off = result(client, sandbox, keys=keys)
    assert header == keys
    row = dict(zip(keys, work, strict=True))
    assert (row["subproject"], row["task"], row["person"], row["personId"]) == (
        "Proto", "Admin", "Rosa", acme["rosa"])
    assert (row["stime"], row["etime"], row["hours"], row["inDays"]) == ("09:00", "15:00",
                                                                          6.0, 0.75)
    assert (row["month"], row["week"], row["activity"], row["isAtWork"]) == (
        "2017-08", "2017-W32", "work", True)
    assert row["hoursPercent"] == 75.0 and row["eventId"] > 0
    assert (row["workDays"], row["workHours"]) == (23, 184.0)  # August 2017: 23 weekdays
    assert row["remWorkDays"] == 0  # the period is over by the sandbox's clock
    assert row["cost"] == row["billing"] == row["overtime"] == 0  # no rates in the sandbox
    assert (row[f"gid{country}"], row["gid4879"]) == ("US", "Paris")
    other = dict(zip(keys, off, strict=True))
    assert (other["absence"], other["activity"], other["isAtWork"]) == ("Vacation", "absence",
                                                                        False)
    assert (other["stime"], other["task"], other[f"gid{country}"], other["gid4879"]) == (
        "", "", "", None)
    # CSV, the default format, writes booleans as JSON does.
    job = client.call("time_entry.export", **SPAN, keys=["isAtWork", "hours"])["job"]
    sandbox.advance_clock(2.5)
    csv = client.call("time_entry.get_job_info", id=job["id"])["job"]["result"]
    assert csv == "isAtWork,hours\ntrue,6.00\nfalse,2.00\n"
    with pytest.raises(ApiError, match=r'field keys: "gid999999" names no group and no '
                                       r"custom field"):
        client.call("time_entry.export", **SPAN, keys=["gid999999"])
    with pytest.raises(ApiError, match=r'unknown key "colour"'):
        client.call("time_entry.export", **SPAN, keys=["colour"])


def test_export_show_abs_work_and_quota_with_their_keys(
    client: BeeboleClient, sandbox: SandboxServer, acme: dict[str, int]
) -> None:
    log(client, project={"xid": "ops"}, task={"xid": "meet"}, hours=3, date="2017-08-02")
    log(client, absence={"xid": "vacation"}, hours=8, date="2017-08-03", person={"xid": "rosa"})
    log(client, absence={"xid": "vacation"}, hours=4, date="2017-08-04", person={"xid": "rosa"})
    keys = ["date", "hours", "activity"]
    assert result(client, sandbox, show="work", keys=keys)[1:] == [["2017-08-02", 3.0, "work"]]
    assert result(client, sandbox, show="abs", keys=keys)[1:] == [
        ["2017-08-03", 8.0, "absence"], ["2017-08-04", 4.0, "absence"]]
    assert len(result(client, sandbox, show="all", keys=keys)) == 4
    quota_keys = ["person", "personId", "absence", "available", "taken", "balance",
                  "availableInDays", "takenInDays", "balanceInDays", "inDays", "fromTo"]
    assert result(client, sandbox, show="quota", keys=quota_keys)[1:] == [
        ["Rosa", acme["rosa"], "Vacation", 0.0, 12.0, -12.0, 0.0, 1.5, -1.5, 1.5,
         "2017-08-01 - 2017-08-31"]]
    assert result(client, sandbox, show="quota")[0] == ["person", "absence", "available",
                                                        "taken", "balance"]
    with pytest.raises(ApiError, match=r'"hours" does not go with show "quota"'):
        client.call("time_entry.export", **SPAN, show="quota", keys=["hours"])
    with pytest.raises(ApiError, match=r'"taken" does not go with show "work"'):
        client.call("time_entry.export", **SPAN, show="work", keys=["taken"])
    with pytest.raises(ApiError, match=r"field show must be one of all, abs, quota, work"):
        client.call("time_entry.export", **SPAN, show="everything")


def test_a_job_polled_once_after_a_few_seconds_is_done(
    client: BeeboleClient, sandbox: SandboxServer, acme: dict[str, int]
) -> None:
    log(client, absence={"xid": "vacation"}, hours=8, date="2017-08-03")
    sandbox.job_polls = 10**9  # polls alone would never finish it
    job = client.call("time_entry.export", **SPAN, keys=["hours"])["job"]
    sandbox.job_seconds = None  # without the clock rule, one poll is not enough
    assert client.call("time_entry.get_job_info", id=job["id"])["job"]["status"] == "running"
    sandbox.job_seconds = 2.0
    sandbox.advance_clock(2.5)
    done = client.call("time_entry.get_job_info", id=job["id"])["job"]
    assert done == {"status": "done", "id": job["id"], "result": "hours\n8.00\n"}
    # A new job is as young as the clock says: its own 2 s start when it starts.
    young = client.call("time_entry.export", **SPAN, keys=["hours"])["job"]
    sandbox.advance_clock(1.0)
    sandbox.job_seconds = 60.0  # far more than this test can take, however slow
    assert client.call("time_entry.get_job_info", id=young["id"])["job"]["status"] == "running"


def test_time_entries_carry_stime_etime_and_a_task_object(
    client: BeeboleClient, acme: dict[str, int]
) -> None:
    timed = log(client, project={"xid": "ops"}, task={"xid": "meet"}, hours=2,
                stime="14:00", etime="16:00")
    plain = log(client, company={"xid": "solo"}, hours=1)
    away = log(client, absence={"xid": "vacation"}, hours=4)
    assert (timed["stime"], timed["etime"]) == ("14:00", "16:00")
    assert (plain["stime"], plain["etime"]) == ("", "")
    assert plain["task"] == away["task"] == {"active": False}
    listed = client.call("time_entry.list", **{"from": "2017-08-05", "to": "2017-08-05"})
    entries = listed["timeEntries"]
    # beebole-resumer sorts with stime.localeCompare and reads task.name: both work.
    assert all(isinstance(e["stime"], str) and isinstance(e["etime"], str) for e in entries)
    assert sorted(e["stime"] for e in entries) == ["", "", "14:00"]
    assert [e["task"].get("name", "") for e in entries] == ["Meetings", "", ""]
    moved = client.call("time_entry.update", id=timed["id"], stime="13:30")["timeEntry"]
    assert (moved["stime"], moved["etime"]) == ("13:30", "16:00")
    with pytest.raises(ApiError, match=r'field stime must be a time "HH:MM"'):
        log(client, company={"xid": "solo"}, hours=1, stime="9h")
    with pytest.raises(ApiError, match=r"field etime \(08:00\) must be after field stime"):
        client.call("time_entry.update", id=timed["id"], etime="08:00")


def test_project_list_names_the_company(client: BeeboleClient,
                                        acme: dict[str, int]) -> None:
    projects = client.call("project.list", company={"xid": "acme"})["projects"]
    assert [p["company"] for p in projects] == [
        {"id": acme["acme"], "xid": "acme", "name": "ACME"}] * 2
    # project.get keeps the reference's shape.
    assert client.call("project.get", xid="dev")["project"]["company"] == {
        "id": acme["acme"], "xid": "acme"}


def test_a_database_made_before_these_columns_gets_them(tmp_path: Any) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    with SandboxServer(path):
        pass
    with sqlite3.connect(path) as db:  # the tables as an earlier release made them
        db.executescript("""
            DROP TABLE time_entry; DROP TABLE job;
            CREATE TABLE time_entry (id INTEGER PRIMARY KEY AUTOINCREMENT, person INTEGER,
                entity INTEGER NOT NULL, task INTEGER, date TEXT NOT NULL, hours REAL NOT NULL,
                comment TEXT NOT NULL DEFAULT '', status TEXT NOT NULL DEFAULT 'd',
                locked_from TEXT);
            CREATE TABLE job (id INTEGER PRIMARY KEY AUTOINCREMENT,
                polls INTEGER NOT NULL DEFAULT 0, array INTEGER NOT NULL DEFAULT 0,
                rows TEXT NOT NULL);""")
    with SandboxServer(path) as server, BeeboleClient(server.url, server.token) as client:
        client.call("company.create", company={"xid": "solo", "name": "Solo"})
        entry = log(client, company={"xid": "solo"}, hours=1, stime="08:00")
        assert (entry["stime"], entry["etime"]) == ("08:00", "")
        job = client.call("time_entry.export", **SPAN, keys=["stime"])["job"]
        server.advance_clock(2.5)
        assert client.call("time_entry.get_job_info", id=job["id"])["job"]["result"] == (
            "stime\n08:00\n")
