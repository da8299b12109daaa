"""The current-platform sandbox's protocol: key, 402, answers, validation, limits."""

from __future__ import annotations

import json
import socket
import time

import requests

from beeplan.platforms.current.sandbox import CurrentSandboxServer
from beeplan.platforms.current.sandbox.schema import SCHEMA_FILE, check_document, load_schema

from .conftest import Gql


def test_missing_and_wrong_key_answer_invalid_key_and_do_nothing(gql: Gql) -> None:
    for headers in ({}, {"apikey": "wrong"}, {"apikey": ""}, {"Authorization": gql.server.token}):
        answer = requests.post(gql.url, json={"query": 'mutation { addAbsenceType(name: "X") '
                                                       "{ id } }"}, headers=headers, timeout=10)
        body = answer.json()
        assert body["errors"] == [{"message": "APIKeyError:InvalidKey"}]
        assert body["data"] is None
        assert gql.server.token not in answer.text
    assert gql.server.token not in repr(gql.server) + repr(gql.server.app)
    names = [t["name"] for t in gql("{ getAbsenceTypes { name } }")["getAbsenceTypes"]]
    assert "X" not in names


def test_inactive_account_is_402_account_is_inactive(gql: Gql) -> None:
    gql.server.inactive = True
    answer = gql.post("{ currentPerson { id } }")
    assert answer.status_code == 402
    assert answer.json()["errors"] == [{"message": "AccountIsInactive"}]
    gql.server.inactive = False
    assert gql("{ currentPerson { id } }")["currentPerson"]["id"] == gql.server.person_id()


def test_several_operations_in_one_document_via_aliases(gql: Gql) -> None:
    data = gql("""{ active: getProjects { name } all: getProjects(archived: true) { name }
                    n: countProjects p: getPersons { email } me: currentPerson { name } }""")
    assert len(data["all"]) == len(data["active"]) + 1  # Globex is archived
    assert data["n"] == len(data["active"])
    assert {"alice@example.com", "bob@example.com"} <= {p["email"] for p in data["p"]}
    made = gql("""mutation { a: addAbsenceType(name: "Training") { id name }
                             b: addAbsenceType(name: "Parental") { id name } }""")
    assert made["a"]["name"] == "Training" and made["b"]["name"] == "Parental"
    assert made["a"]["id"] != made["b"]["id"]


def test_operation_name_selects_one_operation(gql: Gql) -> None:
    doc = "query A { currentPerson { name } } query B { getTags { name } }"
    body = gql.post(doc, operationName="B").json()
    assert set(body["data"]) == {"getTags"}
    assert gql.post(doc).json()["errors"]  # two operations and no name: GraphQL refuses


def test_ids_are_opaque_strings_and_archived_not_active(gql: Gql) -> None:
    project = gql("{ getProjects { id archived } }")["getProjects"][0]
    assert isinstance(project["id"], str) and len(project["id"]) == 24
    assert project["archived"] is False
    assert "Cannot query field 'active'" in gql.errors("{ getProjects { active } }")[0]


def test_documents_that_do_not_match_the_schema_are_refused_before_running(gql: Gql) -> None:
    bad = [
        ("{ getProjects { nope } }", {}, "Cannot query field 'nope'"),
        ('mutation { addProject(name: "X", categoryId: 5, bogus: 1) { id } }', {},
         "Unknown argument 'bogus'"),
        ("mutation($n: BeeboleName!) { addAbsenceType(name: $n) { id } }", {},
         "Variable '$n'"),
        ("{ getProject { id } }", {}, "of type 'BeeboleId!' is required"),
        ("mutation { addAbsenceType(name: \"X\") }", {}, "must have a selection"),
        ("{ getProjects { id ", {}, "Syntax Error"),
    ]
    before = len(gql("{ getAuditTrails { operationName } }")["getAuditTrails"])
    for query, variables, message in bad:
        body = gql.post(query, variables).json()
        assert body["data"] is None, query
        assert any(message in e["message"] for e in body["errors"]), (query, body)
    trail = gql("{ getAuditTrails { operationName } }")["getAuditTrails"]
    assert len(trail) == before  # nothing ran
    names = {t["name"] for t in gql("{ getAbsenceTypes { name } }")["getAbsenceTypes"]}
    assert "X" not in names


def test_scalar_rules_of_the_real_api_are_enforced_in_literals_and_variables(gql: Gql) -> None:
    role = gql.ids["employee"]
    person = """mutation($n: BeeboleName!, $e: BeeboleEmail!, $r: BeeboleId!, $c: BeeboleColor) {
      addPerson(name: $n, email: $e, roleId: $r, color: $c) { id } }"""
    cases = [
        ({"n": "Dan", "e": "dan@example.com", "r": "nope"}, "24 hexadecimal characters"),
        ({"n": "Dan", "e": "not-an-email", "r": role}, "a valid email address"),
        ({"n": "Dan", "e": "dan@example.com", "r": role, "c": 72}, "from 0 to 71"),
        ({"n": "", "e": "dan@example.com", "r": role}, "1 to 160 characters"),
        ({"n": "x" * 161, "e": "dan@example.com", "r": role}, "1 to 160 characters"),
        ({"n": "see https://evil.example", "e": "dan@example.com", "r": role}, "without URLs"),
        ({"n": "<b>Dan</b>", "e": "dan@example.com", "r": role}, "without URLs or HTML"),
    ]
    for variables, message in cases:
        assert message in gql.errors(person, **variables)[0], variables
    # a timestamp in seconds, the usual slip, is refused rather than read as 1970
    assert "over 1e10" in gql.errors("{ countTimeRecords(startTime: 1750000000) }")[0]
    assert "is one of day, hour" in gql.errors(
        'mutation($id: BeeboleId!) { editAbsenceTypeUnit(id: $id, unit: "week") { id } }',
        id=gql.ids["vacation"])[0]
    assert "is one of OR, AND" in gql.errors(
        '{ getProjects(filter: [{name: "a", following: "XOR"}]) { id } }')[0]
    assert "Dan" not in str(gql("{ getPersons { name } }"))


def test_operations_not_emulated_say_so(gql: Gql) -> None:
    assert gql.errors("{ getReports { id } }") == [
        "the query getReports is not emulated by the sandbox"]
    message = gql.errors('mutation { editOrganisationLocalisationTimeZone(timeZone: '
                         '"Europe/Paris") { id } }')[0]
    assert message == ("the mutation editOrganisationLocalisationTimeZone is not emulated "
                       "by the sandbox")
    # an argument it cannot honour is refused, never ignored into a wider answer
    assert "'startTime' of this query is not emulated" in gql.errors(
        "{ getTasks(startTime: 1750000000000) { id } }")[0]
    assert "'scheduleTypeId' is not emulated" in gql.errors(
        '{ getPersons(filter: [{scheduleTypeId: "bbbbbbbbbbbbbbbbbbbbbbbb"}]) { id } }')[0]


def test_permission_errors_omit_fields_and_list_them(gql: Gql) -> None:
    gql.server.denied = {"BeebolePerson.email", "Query.getTags"}
    body = gql.post("{ getPersons { name email } getTags { id } getProjects { id } }").json()
    assert body["permissionsErrors"] == ["BeebolePerson.email", "Query.getTags"]
    assert "getTags" not in body["data"]  # omitted, never answered as empty
    assert all(set(p) == {"name"} for p in body["data"]["getPersons"])
    assert body["data"]["getProjects"]
    gql.server.denied = {"Query.currentPerson", "BeebolePerson.*"}
    body = gql.post("{ currentPerson { name } }").json()
    assert body == {"data": {}, "permissionsErrors": ["Query.currentPerson"]}
    body = gql.post("{ getProjects { name managedBy { name } } }").json()
    assert body["permissionsErrors"] == ["BeebolePerson.*"]
    assert all("managedBy" not in p for p in body["data"]["getProjects"])


def test_hostile_input_gets_clear_json_errors(gql: Gql) -> None:
    key = {"apikey": gql.server.token}
    cases = [
        (b"{not json", 400, "not JSON"),
        (b"[1, 2]", 400, '"query" string'),
        (json.dumps({"query": "{ currentPerson { id } }", "variables": [1]}).encode(), 400,
         '"variables" must be'),
        (b"\xff\xfe", 400, "not JSON"),
        (b'{"query": "mutation($n: BeeboleName!) { addAbsenceType(name: $n) { id } }", '
         b'"variables": {"n": "\\ud800"}}', 400, "lone UTF-16 surrogate"),
        (b"[" * 100000 + b"]" * 100000, 400, "not JSON"),
        (b"x" * (1024 * 1024 + 10), 413, "over 1048576 bytes"),
    ]
    for raw, status, message in cases:
        answer = requests.post(gql.url, data=raw, headers=key, timeout=10)
        assert answer.status_code == status, raw[:20]
        assert message in answer.json()["errors"][0]["message"]
    assert requests.get(gql.url, headers=key, timeout=10).status_code == 405
    assert requests.post(gql.url.replace("/graphql", "/api/v2"), json={}, headers=key,
                         timeout=10).status_code == 404
    deep = "{ getProjects " + "{ parent " * 25 + "{ id }" + " }" * 25 + " }"
    assert "nested 27 levels deep" in gql.errors(deep)[0]
    chain = " ".join(f"fragment F{i} on BeeboleProject {{ parent {{ ...F{i + 1} }} }}"
                     for i in range(30)) + " fragment F30 on BeeboleProject { id }"
    assert "levels deep; the limit is 20" in gql.errors("{ getProjects { ...F0 } } " + chain)[0]
    # each fragment spreads the next twice: 2**40 fields once expanded
    bomb = " ".join(f"fragment B{i} on BeeboleProject {{ ...B{i + 1} "
                    f"... on BeeboleProject {{ ...B{i + 1} }} }}"
                    for i in range(40)) + " fragment B40 on BeeboleProject { id }"
    assert "fields; the limit is 20000" in gql.errors("{ getProjects { ...B0 } } " + bomb)[0]
    many = "{ " + " ".join(f"a{i}: currentPerson {{ id }}" for i in range(10001)) + " }"
    assert "fields; the limit is 20000" in gql.errors(many)[0]
    assert gql("{ currentPerson { id } }")["currentPerson"]["id"]  # still serving


def test_check_document_is_the_sandboxs_own_validation() -> None:
    assert check_document("{ currentPerson { id name } }") == []
    [message] = check_document("{ currentPerson { active } }")
    assert message.startswith("Cannot query field 'active' on type 'BeebolePerson'.")
    assert check_document("{ getProjects(filter: [{level: 0}]) { id } ") != []
    assert check_document('{ getProject(id: "short") { id } }') != []


def test_shipped_schema_keeps_the_structure_without_beeboles_descriptions() -> None:
    schema = load_schema()
    assert schema.query_type is not None and schema.mutation_type is not None
    assert len(schema.query_type.fields) == 87
    assert len(schema.mutation_type.fields) == 745
    raw = json.loads(SCHEMA_FILE.read_text("utf-8"))
    assert len(raw["__schema"]["types"]) == 376
    assert set(schema.type_map) >= {t["name"] for t in raw["__schema"]["types"]}
    # a field or argument may be called "description"; no description string is left
    assert "description" not in SCHEMA_FILE.read_text("utf-8").replace('"name":"description"', "")


def test_idle_connections_past_the_cap_get_503_and_a_trickle_is_cut() -> None:
    with CurrentSandboxServer(max_connections=2, request_deadline=1.0) as server:
        host, port = server.url.split("//")[1].split("/")[0].split(":")
        idle = [socket.create_connection((host, int(port)), timeout=5) for _ in range(2)]
        try:
            extra = socket.create_connection((host, int(port)), timeout=5)
            answer = extra.recv(4096)
            extra.close()
            assert answer.startswith(b"HTTP/1.1 503")
            assert b"too many connections open" in answer
            # each idle connection is closed at its deadline, never answered
            for sock in idle:
                assert sock.recv(4096) == b""
        finally:
            for sock in idle:
                sock.close()
        # The client sees the close before the server's thread has given its slot back:
        # wait for that (bounded at 20 s, no fixed sleep a loaded machine could outlast).
        deadline = time.monotonic() + 20
        while True:
            answer = requests.post(server.url, json={"query": "{ currentPerson { id } }"},
                                   headers={"apikey": server.token}, timeout=10)
            if answer.status_code != 503 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert answer.json()["data"]["currentPerson"]["id"] == server.person_id()
