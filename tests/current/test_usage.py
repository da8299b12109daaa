"""``beeplan usage`` of a set written for the current platform: hours per managed entity.

Over HTTP against the current sandbox: the example set applied, time logged through the
GraphQL API (durations in milliseconds), then the command as a user runs it.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests

from beeplan.platforms.current.sandbox import CurrentSandboxServer

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "current"
HOUR = 3_600_000
ADD = """mutation($p: BeeboleId!, $s: BeeboleTimestamp!, $d: Int!, $pr: [BeeboleId],
                  $a: BeeboleId) {
  addTimeRecord(personId: $p, startTime: $s, duration: $d, projectIds: $pr, absenceId: $a)
  { id } }"""


def _gql(server: CurrentSandboxServer, query: str, **variables: object) -> dict:
    answer = requests.post(server.url, headers={"apikey": server.token}, timeout=10,
                           json={"query": query, "variables": variables}).json()
    assert not answer.get("errors"), answer
    return answer["data"]


def _days_ago(days: int) -> int:
    day = datetime.now(timezone.utc) - timedelta(days=days)
    return int(day.replace(hour=9, minute=0, second=0, microsecond=0).timestamp() * 1000)


def test_usage_shows_the_hours_on_each_managed_entity_in_two_requests(
        current: CurrentSandboxServer, cli_main, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BEEBOLE_TOKEN", current.token)
    monkeypatch.setenv("BEEBOLE_ENDPOINT", current.url)
    status, _out, err = cli_main("apply", EXAMPLE, "--auto-approve")
    assert status == 0, err
    data = _gql(current, "{ getPersons { id email } getProjects { id name } "
                         "getAbsenceTypes { id name } }")
    rosa = next(p["id"] for p in data["getPersons"] if p["email"] == "rosa.parks@example.com")
    dev = next(p["id"] for p in data["getProjects"] if p["name"] == "Development")
    vacation = next(a["id"] for a in data["getAbsenceTypes"] if a["name"] == "Vacation")
    _gql(current, ADD, p=rosa, s=_days_ago(2), d=2 * HOUR + 30 * 60_000, pr=[dev])  # 2.5 h
    _gql(current, ADD, p=rosa, s=_days_ago(3), d=8 * HOUR, a=vacation)
    _gql(current, ADD, p=rosa, s=_days_ago(200), d=5 * HOUR, pr=[dev])  # outside 30 days

    current.app.reset_counts()
    status, out, err = cli_main("usage", EXAMPLE, "--days", "30", "--format", "json")
    assert status == 0, err
    assert current.app.requests == 2  # the account, then every entity's time records
    report = json.loads(out)
    by_key = {f"{e['kind']}:{e['xid']}": e for e in report["entities"]}
    assert by_key["project:acme-dev"]["hours"] == 2.5
    assert by_key["absenceType:vacation"]["hours"] == 8
    assert by_key["person:rosa"]["hours"] == 10.5  # her project time and her absence
    assert by_key["person:noah"]["hours"] == 0
    status, out, err = cli_main("usage", EXAMPLE, "--days", "30")
    assert status == 0, err
    assert "project acme-dev (Development)" in out and "2.5 h" in out
