"""Error answers: every bad request gets HTTP 200 + status error + a message naming
the service and the field; nothing ever answers a traceback."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from beeplan.errors import ApiError
from beeplan.platforms.v2.client import BeeboleClient
from beeplan.platforms.v2.sandbox.server import SandboxServer


def post(sandbox: SandboxServer, body: bytes | str, *, method: str = "POST",
         auth: tuple[str, str] | None = None) -> requests.Response:
    """A raw HTTP request, for what the client would never send."""
    data = body.encode("utf-8") if isinstance(body, str) else body
    return requests.request(method, sandbox.url, data=data, timeout=10,
                            auth=auth or (sandbox.token, "x"))


def error_of(response: requests.Response) -> str:
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["status"] == "error"
    return str(answer["message"])


@pytest.fixture
def acme(client: BeeboleClient) -> int:
    return int(client.call("company.create", company={"xid": "acme", "name": "ACME"})["id"])


@pytest.mark.parametrize(
    ("service", "payload", "message"),
    [
        ("compny.list", {}, 'unknown service "compny.list" (did you mean "company.list"?)'),
        ("company.get", {}, "company.get: missing field id"),
        ("project.list", {}, "project.list: missing field company"),
        ("subproject.list", {}, "subproject.list: missing field project"),
        ("subproject.list", {"company": {"id": 1}},
         "subproject.list: unknown field company (expected: project)"),
        ("company.create", {"company": {}}, "company.create: missing field company.name"),
        ("company.create", {"name": "flat"}, "company.create: missing field company: send the "
         "fields wrapped"),
        ("company.create", {"company": {"name": 7}},
         "company.create: field company.name must be a string, got a number"),
        ("company.create", {"company": "ACME"},
         "company.create: field company must be an object"),
        ("company.create", {"company": {"name": "x", "corporate": "yes"}},
         "company.create: field company.corporate must be true or false, got a string"),
        ("company.create", {"company": {"name": "x", "colour": "red"}},
         "company.create: unknown field company.colour"),
        ("company.list", {"company": {"id": 1}},
         "company.list: unknown field company (expected: none)"),
        ("company.get", {"id": 999}, "company.get: no company with id 999"),
        ("company.get", {"xid": "nope"}, 'company.get: no company with xid "nope"'),
        ("company.get", {"id": "abc"},
         'company.get: field id must be a positive integer id, got "abc"'),
        ("company.get", {"id": -3}, "company.get: field id must be a positive integer id, got -3"),
        ("company.get", {"id": True},
         "company.get: field id must be a positive integer id, got a boolean"),
        ("company.get", {"id": 2**70}, "company.get: field id is not a valid id"),
        ("company.get", {"xid": 12}, "company.get: field xid must be a string"),
        ("project.create", {"project": {"name": "p", "company": {"xid": "nope"}}},
         'project.create: no company with xid "nope"'),
        ("project.create", {"project": {"name": "p", "company": {}}},
         "project.create: field project.company must have an id or an xid"),
        ("project.create", {"project": {"name": "p", "company": {"xid": "acme"},
                                        "startDate": "2017-02-30"}},
         "project.create: field project.startDate must be a date YYYY-MM-DD"),
        ("person.create", {"person": {"name": "p", "company": {"xid": "acme"},
                                      "userGroup": "boss"}},
         "person.create: field person.userGroup must be one of admin, contractor, employee"),
        ("person.create", {"person": {"name": "p", "company": {"xid": "acme"},
                                      "leaders": [{"name": "Nobody"}]}},
         'person.create: field person.leaders[0].name: no person named "Nobody"'),
        ("company.attach_member", {"xid": "acme"},
         "company.attach_member: give exactly one of the fields person or group"),
        ("group.list", {}, "group.list: give exactly one entity"),
        ("company.set_custom_field_value", {"xid": "acme", "customField": {"id": 1}},
         "company.set_custom_field_value: no custom field with id 1"),
        ("company.set_custom_field_value", {"xid": "acme", "customField": {"id": 4879,
                                                                           "value": "x"}},
         'custom field 4879 ("location") is not available for company'),
        ("company.set_custom_field_value", {"xid": "acme", "customField": {"id": 7206,
                                                                           "value": None}},
         "field customField.value must be a string, number or boolean, got null"),
        ("time_entry.create", {"company": {"xid": "acme"}, "date": "2017-01-01"},
         "time_entry.create: missing field hours"),
        ("time_entry.list", {"from": "2017-02-01", "to": "2017-01-01"},
         "time_entry.list: field from (2017-02-01) is after field to (2017-01-01)"),
        ("time_entry.get_job_info", {"id": 5},
         "time_entry.get_job_info: no export job with id 5"),
    ],
)
def test_error_answers_name_the_service_and_the_field(
    client: BeeboleClient, acme: int, service: str, payload: dict[str, Any], message: str
) -> None:
    with pytest.raises(ApiError) as caught:
        client.call(service, **payload)
    assert caught.value.http_status == 200
    assert message in str(caught.value)
    assert str(caught.value).startswith(f"{service}: ")  # named once, not twice


def test_duplicate_xid_on_create(client: BeeboleClient, acme: int) -> None:
    with pytest.raises(ApiError, match=r'a company with xid "acme" already exists \(id \d+\)'):
        client.call("company.create", company={"xid": "acme", "name": "Again"})
    # Per kind: a group may reuse a company's xid.
    client.call("group.create", group={"xid": "acme", "name": "ACME people"})


def test_an_id_of_another_kind_is_unknown(client: BeeboleClient, acme: int) -> None:
    with pytest.raises(ApiError, match=f"no project with id {acme}"):
        client.call("project.get", id=acme)


def test_a_failed_request_changes_nothing(client: BeeboleClient, acme: int) -> None:
    # The leader lookup fails after the person row was written: the transaction rolls back.
    with pytest.raises(ApiError):
        client.call("person.create", person={"xid": "p", "name": "P", "company": {"id": acme},
                                             "leaders": [{"xid": "missing"}]})
    assert client.call("person.list", company={"id": acme})["people"] == []


def test_numeric_string_ids_are_accepted_everywhere(client: BeeboleClient, acme: int) -> None:
    project = client.call("project.create", project={"name": "P", "company": {"id": str(acme)}})
    got = client.call("project.get", id=str(project["id"]))["project"]
    assert got["company"]["id"] == acme


def test_moving_an_entity_is_refused(client: BeeboleClient, acme: int) -> None:
    other = client.call("company.create", company={"name": "Other"})["id"]
    project = client.call("project.create", project={"name": "P", "company": {"id": acme}})["id"]
    client.call("project.update", project={"id": project, "company": {"id": acme}})  # same: ok
    with pytest.raises(ApiError, match="cannot be moved to another company"):
        client.call("project.update", project={"id": project, "company": {"id": other}})


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("{not json", "malformed JSON"),
        ("", "empty request"),
        ("[1, 2]", "the request must be a JSON object"),
        ('"company.list"', "the request must be a JSON object"),
        ("null", "the request must be a JSON object"),
        ("{}", "missing field service"),
        ('{"service": 12}', "field service must be a string"),
        ('{"service": "company.get", "id": NaN}', "malformed JSON"),
        ('{"service": "company.get", "id": 1e400}', "malformed JSON: the number 1e400 is out"),
        ("[" * 100_000 + "]" * 100_000, "malformed JSON: nested too deeply"),
        (b"\xff\xfe{}", "not UTF-8"),
    ],
)
def test_malformed_bodies(sandbox: SandboxServer, body: str | bytes, message: str) -> None:
    assert message in error_of(post(sandbox, body))


def test_wrong_method(sandbox: SandboxServer) -> None:
    assert "HTTP GET is not supported" in error_of(post(sandbox, "", method="GET"))
    assert "HTTP PUT is not supported" in error_of(
        post(sandbox, '{"service": "company.list"}', method="PUT"))


def test_huge_body_is_refused_clearly(sandbox: SandboxServer) -> None:
    body = json.dumps({"service": "company.create", "company": {"name": "x" * 2_000_000}})
    assert "larger than 1048576 bytes" in error_of(post(sandbox, body))


def test_unknown_path_is_404(sandbox: SandboxServer) -> None:
    response = requests.post(sandbox.url.replace("/api/v2", "/api/v1"), data="{}", timeout=10,
                             auth=(sandbox.token, "x"))
    assert response.status_code == 404 and response.json()["status"] == "error"


def test_unicode_round_trips(client: BeeboleClient) -> None:
    name = "Société Générale — 東京 🐝"
    ident = client.call("company.create", company={"name": name, "xid": "sg-東京"})["id"]
    assert client.call("company.get", xid="sg-東京")["company"]["name"] == name
    assert client.call("company.get", id=ident)["company"]["xid"] == "sg-東京"


def test_hostile_values_get_bounded_messages(client: BeeboleClient, acme: int) -> None:
    with pytest.raises(ApiError) as caught:
        client.call("company.get", xid="x" * 5000)
    assert len(str(caught.value)) < 300
    with pytest.raises(ApiError, match="NUL"):
        client.call("company.create", company={"name": "a\x00b"})
    with pytest.raises(ApiError, match="must be an array of person references"):
        client.call("person.create", person={"name": "p", "company": {"id": acme},
                                             "leaders": {"deep": [[[[{}]]]]}})
