"""Faults, counting, audit trail, lastEdited and persistence of the current-platform sandbox."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from beeplan.platforms.current.sandbox import CurrentSandboxServer

from .conftest import Gql

ADD = 'mutation { addAbsenceType(name: "Fault test") { id } }'
COUNT = '{ countAbsenceTypes(filter: [{name: "Fault test"}]) }'


def test_error_rate_answers_500_before_doing_anything(gql: Gql) -> None:
    gql.server.error_rate = 1.0
    answer = gql.post(ADD)
    assert answer.status_code == 500
    assert "nothing was done" in answer.json()["errors"][0]["message"]
    gql.server.error_rate = 0.0
    assert gql(COUNT)["countAbsenceTypes"] == 0


def test_lost_answer_after_the_work_was_done(gql: Gql) -> None:
    gql.server.error_after_rate = 1.0
    answer = gql.post(ADD)
    assert answer.status_code == 500
    assert "the work was done" in answer.json()["errors"][0]["message"]
    gql.server.error_after_rate = 0.0
    assert gql(COUNT)["countAbsenceTypes"] == 1  # a blind retry would make a duplicate


def test_dropped_connection_does_nothing(gql: Gql) -> None:
    gql.server.drop_rate = 1.0
    gql.server.app.reset_counts()
    with pytest.raises(requests.ConnectionError):
        gql.post(ADD)
    assert gql.server.requests == 1  # received, counted, not answered
    assert gql.server.bytes == len(json.dumps({"query": ADD}))  # what requests sent
    gql.server.drop_rate = 0.0
    assert gql(COUNT)["countAbsenceTypes"] == 0


def test_latency_knob_still_answers(gql: Gql) -> None:
    gql.server.latency_ms = 20
    assert gql("{ currentPerson { id } }")["currentPerson"]["id"] == gql.server.person_id()


def test_requests_bytes_and_root_fields_are_counted(gql: Gql) -> None:
    gql.server.app.reset_counts()
    first = gql.post("{ a: getProjects { id } b: getProjects { id } currentPerson { id } }")
    second = gql.post("{ bad }")
    assert gql.server.requests == 2
    sent = len(first.request.body or b"") + len(second.request.body or b"")
    assert gql.server.bytes == sent + len(first.content) + len(second.content)
    assert gql.server.calls["getProjects"] == 2 and gql.server.calls["currentPerson"] == 1
    assert "bad" not in gql.server.calls  # invalid documents run nothing


def test_every_write_records_last_edited_by_the_keys_person(gql: Gql) -> None:
    gql.server.advance_clock(days=1)
    edited = gql("""mutation($id: BeeboleId!) { editProjectName(id: $id, name: "Acme Corp") {
      lastEdited { at { ts iso } by { id name } } } }""", id=gql.ids["acme"])
    last = edited["editProjectName"]["lastEdited"]
    assert last["by"] == {"id": gql.server.person_id(), "name": "Sandbox Admin"}
    assert last["at"]["ts"] == pytest.approx(gql.server.app.now(), abs=60_000)
    for kind in ("getPersons", "getTags", "getTasks", "getAbsenceTypes", "getRoles",
                 "getProjectCategories", "getCustomFields"):
        rows = gql(f"{{ {kind} {{ lastEdited {{ by {{ id }} }} }} }}")[kind]
        assert all(r["lastEdited"]["by"] for r in rows if r["lastEdited"]), kind


def test_audit_trail_records_every_mutation_in_seven_day_windows(gql: Gql) -> None:
    query = """query($s: BeeboleTimestamp, $ops: [String]) { getAuditTrails(startTime: $s,
      operations: $ops) { operationName timestamp responseId person { name }
      arguments { name value } } }"""
    made = gql('mutation { addAbsenceType(name: "Audit me") { id } }')["addAbsenceType"]
    trail = gql(query, ops=["addAbsenceType"])["getAuditTrails"]
    assert trail[0]["responseId"] == made["id"]
    assert trail[0]["person"] == {"name": "Sandbox Admin"}
    assert {"name": "name", "value": "Audit me"} in trail[0]["arguments"]
    seeded = len(gql(query)["getAuditTrails"])
    assert seeded > 10  # the demo account's mutations, each recorded
    start = trail[0]["timestamp"] - 1000
    gql.server.advance_clock(days=8)
    gql('mutation { addAbsenceType(name: "Later") { id } }')
    recent = gql(query)["getAuditTrails"]
    assert [t["operationName"] for t in recent] == ["addAbsenceType"]  # the last 7 days only
    window = gql(query, s=start)["getAuditTrails"]
    assert len(window) == seeded and "Later" not in str(window)
    failed = gql.post('mutation { editRoleName(id: "000000000000000000000000", name: "x") '
                      "{ id } }").json()
    assert failed["errors"]
    assert len(gql(query)["getAuditTrails"]) == 1  # a failed mutation is not recorded


def test_concurrent_clients_each_get_their_own_answers(gql: Gql) -> None:
    def work(worker: int) -> list[str]:
        made = []
        for i in range(8):
            body = gql.post("mutation($n: BeeboleName!) { addAbsenceType(name: $n) { name } }",
                            {"n": f"w{worker}-{i}"}).json()
            made.append(body["data"]["addAbsenceType"]["name"])
        return made

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(work, range(6)))
    assert results == [[f"w{w}-{i}" for i in range(8)] for w in range(6)]
    count = gql('{ countAbsenceTypes(filter: [{name: "w"}]) }')["countAbsenceTypes"]
    assert count == 48
    assert gql.server.app.internal_errors == 0


def test_plan_without_audit_trail(gql: Gql) -> None:
    gql.server.audit_trail = False
    message = gql.errors("{ getAuditTrails { operationName } }")[0]
    assert message == "AuditTrailNotAvailable: this account's plan has no audit trail"


def test_state_persists_in_a_sqlite_file(tmp_path: Path) -> None:
    db = tmp_path / "current.db"
    with CurrentSandboxServer(db, token="t1") as first:
        made = requests.post(first.url, json={"query": ADD}, headers={"apikey": "t1"},
                             timeout=10).json()["data"]["addAbsenceType"]
        person = first.person_id()
    with CurrentSandboxServer(db, token="t1") as second:
        again = requests.post(second.url, json={"query": "{ getAbsenceTypes { id } "
                                                         "currentPerson { id } }"},
                              headers={"apikey": "t1"}, timeout=10).json()["data"]
    assert again["getAbsenceTypes"] == [made]
    assert again["currentPerson"]["id"] == person


def test_one_failing_alias_fails_the_document_as_graphql_says(gql: Gql) -> None:
    """Root mutation fields are non-null: an error nulls data and stops the later aliases."""
    body = gql.post("""mutation { a: addAbsenceType(name: "First") { id }
                                  b: editRoleName(id: "000000000000000000000000", name: "x") { id }
                                  c: addAbsenceType(name: "Third") { id } }""").json()
    assert body["data"] is None
    assert body["errors"][0]["path"] == ["b"]
    names = {t["name"] for t in gql("{ getAbsenceTypes { name } }")["getAbsenceTypes"]}
    assert "First" in names and "Third" not in names


def test_another_persons_key_makes_them_the_author(gql: Gql) -> None:
    """Each person has a key of their own: whoever's key wrote is lastEdited.by and in the trail."""
    alice = gql.ids["alice"]
    key = gql.server.key_for(alice)
    assert key != gql.server.token and key not in repr(gql.server)
    body = gql.post('mutation($id: BeeboleId!) { editProjectName(id: $id, name: "Acme Inc") '
                    "{ lastEdited { by { name } } } }", {"id": gql.ids["acme"]}, key=key).json()
    assert body["data"]["editProjectName"]["lastEdited"]["by"] == {"name": "Alice Martin"}
    me = gql.post("{ currentPerson { id } }", key=key).json()["data"]["currentPerson"]
    assert me == {"id": alice}
    trail = gql("{ getAuditTrails(operations: [\"editProjectName\"]) { person { id } } }")
    assert trail["getAuditTrails"] == [{"person": {"id": alice}}]
    # the main key is still the account's first person; an unknown key is still refused
    assert gql("{ currentPerson { id } }")["currentPerson"]["id"] == gql.server.person_id()
    assert gql.post("{ currentPerson { id } }", key=key + "x").json()["errors"][0][
        "message"] == "APIKeyError:InvalidKey"
    with pytest.raises(ValueError, match="no person"):
        gql.server.key_for(gql.ids["acme"])


def test_audit_trail_argument_and_response_match(gql: Gql) -> None:
    """argumentMatch keeps the entries whose arguments name the value (or list it, for the
    plural argument); responseMatch the entries whose answer was that entity."""
    acme, bob = gql.ids["acme"], gql.ids["bob"]
    gql('mutation($a: BeeboleId!) { editProjectName(id: $a, name: "Acme 2") { id } }', a=acme)
    gql('mutation($b: BeeboleId!) { archivePersons(ids: [$b]) { id } }', b=bob)
    query = """query($m: BeeboleArgumentMatch, $r: BeeboleResponseMatch) {
      getAuditTrails(argumentMatch: $m, responseMatch: $r) { operationName } }"""
    by_id = [t["operationName"] for t in gql(query, m={"id": acme})["getAuditTrails"]]
    assert by_id == ["editProjectName"]
    as_project = [t["operationName"]
                  for t in gql(query, m={"projectId": acme})["getAuditTrails"]]
    assert set(as_project) == {"makeManagerOfProject", "assignProjectToTag"}
    assert [t["operationName"] for t in gql(query, m={"id": bob})["getAuditTrails"]] == [
        "archivePersons"]
    answered = [t["operationName"] for t in gql(query, r={"id": acme})["getAuditTrails"]]
    assert answered == ["editProjectName", "addProject"]  # newest first
    assert gql(query, m={"id": "cccccccccccccccccccccccc"})["getAuditTrails"] == []
