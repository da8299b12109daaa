"""Hours behind every archive on the current platform: time records, one request, shown as on v2.

Against the current sandbox over HTTP with the real client; the period is fixed by
passing ``today``, so nothing depends on the clock or on speed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone

import pytest

from beeplan.errors import ApiError, TransportError
from beeplan.model import Ref
from beeplan.planner import Action, Plan
from beeplan.platforms.current.client import CurrentClient, build_document
from beeplan.platforms.current.hours import (
    Archive,
    archives_in,
    bounds_ms,
    hours_ops,
    look_up_hours,
)
from beeplan.platforms.current.sandbox.schema import check_document
from beeplan.render import render_markdown, render_text
from beeplan.render.jsonplan import plan_document
from beeplan.usage import with_usage

from .conftest import Gql

TODAY = datetime.now(timezone.utc).date()
HOUR = 3_600_000
ADD = """mutation($p: BeeboleId!, $s: BeeboleTimestamp!, $d: Int!, $t: BeeboleId,
                  $pr: [BeeboleId], $a: BeeboleId) {
  addTimeRecord(personId: $p, startTime: $s, duration: $d, taskId: $t, projectIds: $pr,
                absenceId: $a) { id } }"""


def _at(days_ago: int, hour: int = 9) -> int:
    day = TODAY - timedelta(days=days_ago)
    return int(datetime(day.year, day.month, day.day, hour, tzinfo=timezone.utc).timestamp()
               * 1000)


def _day(days_ago: int) -> str:
    return (TODAY - timedelta(days=days_ago)).isoformat()


@pytest.fixture
def client(gql: Gql) -> Iterator[CurrentClient]:
    with CurrentClient(gql.server.url, gql.server.token, backoff=0.01, retries=1) as c:
        yield c


@pytest.fixture
def logged(gql: Gql) -> dict[str, str]:
    """Time on the demo account: a subproject, a project, a task, an absence, and old time."""
    ids = gql.ids
    gql(ADD, p=ids["alice"], s=_at(2), d=2 * HOUR, pr=[ids["homepage"]])  # under acme
    gql(ADD, p=ids["bob"], s=_at(1), d=90 * 60_000, pr=[ids["acme"]])  # 1.5 h, in ms
    gql(ADD, p=ids["alice"], s=_at(5), d=3 * HOUR, t=ids["build"])
    gql(ADD, p=ids["bob"], s=_at(3), d=8 * HOUR, a=ids["vacation"])
    gql(ADD, p=ids["bob"], s=_at(100), d=5 * HOUR, pr=[ids["acme"]])  # before the period
    return ids


def _archive(kind: str, xid: str, name: str) -> Action:
    service = "archive" + kind[0].upper() + kind[1:]
    return Action(f"{kind}.{xid}.archive", "deactivate", kind, Ref(kind, xid), name, service,
                  {}, 10)


def _plan_and_archives(ids: dict[str, str]) -> tuple[Plan, list[Archive]]:
    actions = (_archive("project", "acme", "Acme"), _archive("person", "bob", "Bob Stone"),
               _archive("task", "build", "Build"), _archive("absenceType", "vacation", "Vacation"),
               _archive("absenceType", "sick", "Sick leave"),
               _archive("project", "globex", "Globex"))
    plan = Plan(actions=actions)
    live = {"project:acme": ids["acme"], "person:bob": ids["bob"], "task:build": ids["build"],
            "absenceType:vacation": ids["vacation"], "absenceType:sick": ids["sick"],
            "project:globex": ids["globex"]}
    return plan, archives_in(plan, live)


def test_every_archive_with_its_hours_in_one_request(gql: Gql, client: CurrentClient,
                                                     logged: dict[str, str]) -> None:
    plan, archives = _plan_and_archives(logged)
    assert len(archives) == 6
    gql.server.app.reset_counts()
    report = look_up_hours(client, archives, 90, today=TODAY)
    assert gql.server.requests == 1 and report.calls == 1
    assert report.start == _day(89) and report.end == TODAY.isoformat()
    got = {k: (u.hours, u.people, u.last) for k, u in report.entities.items()}
    assert got == {
        "project:acme": (3.5, 2, _day(1)),  # its subproject's 2 h too; not the old 5 h
        "person:bob": (9.5, 1, _day(1)),  # worked and absent: all his logged time
        "task:build": (3.0, 1, _day(5)),
        "absenceType:vacation": (8.0, 1, _day(3)),
        "absenceType:sick": (0.0, 0, None),
        "project:globex": (0.0, 0, None),
    }
    assert report.not_looked_up == () and report.notes == ()


def test_the_renderers_show_them_as_on_v2(gql: Gql, client: CurrentClient,
                                          logged: dict[str, str]) -> None:
    plan, archives = _plan_and_archives(logged)
    report = look_up_hours(client, archives, 90, today=TODAY)
    text = render_text(plan, usage=report)
    assert f"Still in use (hours logged from {_day(89)} to {TODAY.isoformat()}):" in text
    assert (f"  - deactivate project acme (Acme): 3.5 h in the last 90 days by 2 people, "
            f"last {_day(1)}") in text
    assert f"8 h in the last 90 days by 1 person, last {_day(3)}" in text
    assert "Sick leave): " not in text  # no hours: not in use
    assert "**Still in use**" in render_markdown(plan, usage=report)
    doc = plan_document(plan, usage=report)
    by_target = {a["target"]["xid"]: a.get("usage") for a in doc["actions"]}
    assert by_target["vacation"] == {"days": 90, "hours": 8.0, "people": 1, "last": _day(3)}
    assert json.dumps(doc)  # plain data
    # settings.safety.refuseInUse: every archive with hours needs --allow-destroy,
    # the current platform's absence types too
    [refusal] = with_usage(plan, report, refuse=True).destroy_violations
    assert "4 deactivated entities have hours in the last 90 days" in str(refusal)
    assert "absenceType vacation" in str(refusal)


def test_a_key_that_may_not_read_time_records_is_never_read_as_no_hours(
        gql: Gql, client: CurrentClient, logged: dict[str, str]) -> None:
    plan, archives = _plan_and_archives(logged)
    gql.server.denied = {"Query.getTimeRecords"}
    report = look_up_hours(client, archives, 90, today=TODAY)
    assert report.entities == {} and len(report.not_looked_up) == 6
    [note] = report.notes
    assert "the key may not read their time records" in note and "Query.getTimeRecords" in note
    assert "hours not looked up (see the warnings)" in render_text(plan, usage=report)
    assert with_usage(plan, report, refuse=True).destroy_violations  # unknown is not "none"
    gql.server.denied = {"BeeboleTimeRecord.duration"}
    report = look_up_hours(client, archives, 90, today=TODAY)
    assert "project:acme" in report.not_looked_up and "project:acme" not in report.entities
    with pytest.raises(ApiError, match="may not read their time records"):
        look_up_hours(client, archives, 90, today=TODAY, strict=True)


def test_a_failed_lookup_is_a_note_in_a_plan_and_an_error_when_strict(
        gql: Gql, client: CurrentClient, logged: dict[str, str]) -> None:
    _plan, archives = _plan_and_archives(logged)
    gql.server.error_rate = 1.0
    report = look_up_hours(client, archives, 90, today=TODAY)
    assert len(report.not_looked_up) == 6 and report.notes[0].startswith("hours not looked up")
    assert gql.server.token not in " ".join(report.notes)
    with pytest.raises(TransportError):
        look_up_hours(client, archives, 90, today=TODAY, strict=True)


def test_nothing_archived_costs_nothing(gql: Gql, client: CurrentClient) -> None:
    gql.server.app.reset_counts()
    report = look_up_hours(client, [], 90, today=TODAY)
    assert report.entities == {} and gql.server.requests == 0
    # an archive of a kind that carries no time (a role) is not looked up either
    plan = Plan(actions=(_archive("role", "temps", "Temps"),))
    assert archives_in(plan, {"role:temps": "a" * 24}) == []


def test_the_period_is_whole_utc_days_and_the_document_is_valid() -> None:
    start, end, start_ms, end_ms = bounds_ms(7, date(2026, 12, 6))
    assert (start, end) == ("2026-11-30", "2026-12-06")
    assert start_ms == int(datetime(2026, 11, 30, tzinfo=timezone.utc).timestamp() * 1000)
    assert end_ms == int(datetime(2026, 12, 7, tzinfo=timezone.utc).timestamp() * 1000)
    archives = [Archive(Ref(kind, "x"), "a" * 24)
                for kind in ("person", "project", "task", "absenceType")]
    ops = hours_ops(archives, start_ms, end_ms)
    assert len(ops) == 4  # one alias per entity; one for every absence type
    assert check_document(build_document("query", ops).text) == []
