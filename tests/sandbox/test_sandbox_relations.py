"""Relations: idempotent attach/detach, leaders, counts, group deletion, custom fields."""

from __future__ import annotations

from typing import Any

import pytest

from beeplan.errors import ApiError
from beeplan.platforms.v2.client import BeeboleClient


@pytest.fixture
def acme(client: BeeboleClient) -> dict[str, Any]:
    ids: dict[str, Any] = {}
    ids["acme"] = client.call("company.create", company={"xid": "acme", "name": "ACME"})["id"]
    for xid, name, email in (("jane", "Jane Clark", "jane.clark@example.com"),
                             ("john", "John Doe", "john@example.com"),
                             ("rosa", "Rosa Parks", None)):
        person: dict[str, Any] = {"xid": xid, "name": name, "company": {"xid": "acme"}}
        if email:
            person["email"] = email
        ids[xid] = client.call("person.create", person=person)["id"]
    ids["eng"] = client.call("group.create", group={"xid": "eng", "name": "Engineering"})["id"]
    return ids


def test_attach_and_detach_are_idempotent(client: BeeboleClient, acme: dict[str, Any]) -> None:
    for _ in range(2):
        client.call("company.attach_member", xid="acme", person={"xid": "rosa"})
        client.call("company.add_group", xid="acme", group={"xid": "eng"})
    assert len(client.call("company.members", xid="acme")["members"]) == 1
    assert len(client.call("company.groups", xid="acme")["groups"]) == 1
    for _ in range(2):
        client.call("company.detach_member", xid="acme", person={"xid": "rosa"})
        client.call("company.remove_group", xid="acme", group={"xid": "eng"})
        client.call("company.detach_specific_task", xid="acme",
                    task={"id": client.call("task.create", task={
                        "name": "t", "company": {"xid": "acme"}})["id"]})
    assert client.call("company.members", xid="acme") == {"status": "ok", "members": [],
                                                          "groups": []}


def test_leaders_resolve_by_id_xid_email_name(client: BeeboleClient,
                                              acme: dict[str, Any]) -> None:
    client.call("person.update", person={"xid": "rosa", "leaders": [
        {"id": acme["jane"], "name": "ignored: the id wins"},
        {"xid": "john"},
    ]})
    leaders = client.call("person.leaders", xid="rosa")["leaders"]
    assert [p["id"] for p in leaders] == [acme["jane"], acme["john"]]
    assert client.call("person.get", xid="rosa")["person"]["leaders"] == {"count": 2}
    # An update with leaders replaces the set.
    client.call("person.update", person={"xid": "rosa", "leaders": [{"email": "JOHN@example.com"}]})
    assert [p["xid"] for p in client.call("person.leaders", xid="rosa")["leaders"]] == ["john"]
    client.call("person.update", person={"xid": "rosa", "leaders": []})
    assert client.call("person.get", xid="rosa")["person"]["leaders"] == {"count": 0}
    # An update without leaders leaves them alone.
    client.call("person.update", person={"xid": "rosa", "leaders": [{"name": "Jane Clark"}]})
    client.call("person.update", person={"xid": "rosa", "name": "Rosa L. Parks"})
    assert client.call("person.get", xid="rosa")["person"]["leaders"] == {"count": 1}


def test_leader_errors(client: BeeboleClient, acme: dict[str, Any]) -> None:
    client.call("person.create", person={"name": "Jane Clark", "company": {"xid": "acme"}})
    with pytest.raises(ApiError, match='2 people are named "Jane Clark"'):
        client.call("person.update", person={"xid": "rosa", "leaders": [{"name": "Jane Clark"}]})
    with pytest.raises(ApiError, match="cannot be their own leader"):
        client.call("person.update", person={"xid": "rosa", "leaders": [{"xid": "rosa"}]})
    with pytest.raises(ApiError, match="no person with email"):
        client.call("person.update", person={"xid": "rosa", "leaders": [{"email": "x@y.z"}]})


def test_emails_are_unique_logins(client: BeeboleClient, acme: dict[str, Any]) -> None:
    with pytest.raises(ApiError, match="already the email of person"):
        client.call("person.create", person={"name": "Imposter", "company": {"xid": "acme"},
                                             "email": "Jane.Clark@example.com"})
    with pytest.raises(ApiError, match="invite needs"):
        client.call("person.create", person={"name": "N", "company": {"xid": "acme"},
                                             "invite": True})
    client.call("person.update", person={"xid": "jane", "email": "jane.clark@example.com"})


def test_counts_include_inactive_children(client: BeeboleClient, acme: dict[str, Any]) -> None:
    project = client.call("project.create", project={"name": "P", "company": {"xid": "acme"}})
    client.call("project.deactivate", id=project["id"])
    assert client.call("company.get", xid="acme")["company"]["projects"] == {"count": 1}
    child = client.call("group.create", group={"name": "Child", "parent": {"xid": "eng"}})
    client.call("group.create", group={"name": "Grandchild", "parent": {"id": child["id"]}})
    client.call("person.add_group", xid="rosa", group={"xid": "eng"})
    assert client.call("person.groups", xid="rosa")["groups"][0]["groups"] == {"count": 1}


def test_group_delete_refuses_then_forces(client: BeeboleClient, acme: dict[str, Any]) -> None:
    child = client.call("group.create", group={"name": "Child", "parent": {"xid": "eng"}})["id"]
    client.call("project.create", project={"xid": "p", "name": "P", "company": {"xid": "acme"}})
    client.call("project.attach_member", xid="p", group={"id": child})
    client.call("person.add_group", xid="rosa", group={"xid": "eng"})
    with pytest.raises(ApiError, match="is assigned to 1 entity and has 1 child group"):
        client.call("group.delete", xid="eng")
    with pytest.raises(ApiError, match="is assigned to 1 entity; send force: true"):
        client.call("group.delete", id=child)
    client.call("group.delete", xid="eng", force=True)
    assert client.call("group.tree")["groups"] == []
    assert client.call("person.groups", xid="rosa")["groups"] == []
    assert client.call("project.members", xid="p")["groups"] == []
    with pytest.raises(ApiError, match="no group with id"):
        client.call("group.get", id=child)
    # An unused leaf group goes without force.
    leaf = client.call("group.create", group={"name": "Leaf"})["id"]
    client.call("group.delete", id=leaf, force=False)


def test_group_cannot_be_moved(client: BeeboleClient, acme: dict[str, Any]) -> None:
    other = client.call("group.create", group={"name": "Other"})["id"]
    child = client.call("group.create", group={"name": "C", "parent": {"xid": "eng"}})["id"]
    client.call("group.update", group={"id": child, "parent": {"xid": "eng"}, "name": "C2"})
    with pytest.raises(ApiError, match="cannot be moved"):
        client.call("group.update", group={"id": child, "parent": {"id": other}})


def test_custom_fields_follow_availability(client: BeeboleClient,
                                           acme: dict[str, Any]) -> None:
    fields = {f["name"]: f["id"] for f in client.call("custom_field.list")["customFields"]}
    # ACME is a customer company: "Company address" (Company - Customer) applies.
    listed = client.call("company.custom_fields", xid="acme")["customFields"]
    assert [f["name"] for f in listed] == ["Company address", "Industry"]
    client.call("company.set_custom_field_value", xid="acme",
                customField={"id": fields["Company address"], "value": "1 Main St"})
    corp = client.call("company.create", company={"name": "Corp", "corporate": True})["id"]
    with pytest.raises(ApiError, match="not available for company"):
        client.call("company.set_custom_field_value", id=corp,
                    customField={"id": fields["Company address"], "value": "x"})
    client.call("company.set_custom_field_value", id=corp,
                customField={"id": fields["Industry"], "value": 42})
    assert client.call("company.custom_fields", id=corp)["customFields"] == [
        {"id": fields["Industry"], "name": "Industry", "value": 42}]
    with pytest.raises(ApiError, match="not available for person"):
        client.call("person.set_custom_field_value", xid="rosa",
                    customField={"id": fields["Industry"], "value": "x"})
    # Clearing an unset value is fine.
    client.call("person.clear_custom_field_value", xid="rosa",
                customField={"id": fields["location"]})


def test_specific_tasks_and_managers_reject_wrong_kinds(client: BeeboleClient,
                                                        acme: dict[str, Any]) -> None:
    with pytest.raises(ApiError, match="no task with id"):
        client.call("company.attach_specific_task", xid="acme", task={"id": acme["jane"]})
    project = client.call("project.create", project={"name": "P", "company": {"xid": "acme"}})
    with pytest.raises(ApiError, match="no person with id"):
        client.call("project.attach_manager", id=project["id"], person={"id": acme["eng"]})
    with pytest.raises(ApiError, match="give only one of the fields person and group"):
        client.call("project.attach_member", id=project["id"], person={"xid": "jane"},
                    group={"xid": "eng"})
