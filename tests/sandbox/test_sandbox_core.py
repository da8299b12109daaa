"""Core setup services over real HTTP: create, get, update, list, activate, deactivate, xid."""

from __future__ import annotations

import pytest

from beeplan.errors import ApiError
from beeplan.platforms.v2.client import BeeboleClient


def make_tree(client: BeeboleClient) -> dict[str, int]:
    ids = {}
    ids["acme"] = client.call("company.create",
                              company={"xid": "acme", "name": "ACME", "corporate": True})["id"]
    ids["dev"] = client.call("project.create", project={
        "xid": "dev", "name": "Development", "company": {"xid": "acme"},
        "startDate": "2017-10-13", "description": "Product development"})["id"]
    ids["proto"] = client.call("subproject.create", subproject={
        "xid": "proto", "name": "Prototype", "project": {"id": ids["dev"]}})["id"]
    ids["admin"] = client.call("task.create", task={
        "xid": "admin", "name": "Admin", "company": {"xid": "acme"}})["id"]
    ids["vacation"] = client.call("absence.create", absence={
        "xid": "vacation", "name": "Vacation", "company": {"xid": "acme"}})["id"]
    ids["jane"] = client.call("person.create", person={
        "xid": "jane", "name": "Jane Clark", "company": {"xid": "acme"},
        "email": "jane.clark@example.com", "userGroup": "leader"})["id"]
    ids["us"] = client.call("group.create", group={"xid": "us", "name": "US"})["id"]
    return ids


def test_create_returns_id_and_xid(client: BeeboleClient) -> None:
    answer = client.call("company.create", company={"xid": "56478", "name": "myCompany"})
    assert answer["status"] == "ok"
    assert answer["xid"] == "56478" and isinstance(answer["id"], int)
    got = client.call("company.get", xid="56478")["company"]
    assert got == {"id": answer["id"], "xid": "56478", "name": "myCompany", "corporate": False,
                   "projects": {"count": 0}, "active": True}


def test_get_shapes_follow_the_reference(client: BeeboleClient) -> None:
    ids = make_tree(client)
    project = client.call("project.get", id=ids["dev"])["project"]
    assert project == {
        "id": ids["dev"], "xid": "dev", "name": "Development", "startDate": "2017-10-13",
        "description": "Product development", "company": {"id": ids["acme"], "xid": "acme"},
        "subprojects": {"count": 1}, "active": True,
    }
    assert client.call("company.get", id=ids["acme"])["company"]["projects"] == {"count": 1}
    sub = client.call("subproject.get", xid="proto")["subproject"]
    assert sub["project"] == {"id": ids["dev"], "xid": "dev"} and sub["active"] is True
    person = client.call("person.get", id=str(ids["jane"]))["person"]
    assert person["userGroup"] == "leader" and person["leaders"] == {"count": 0}
    assert person["email"] == "jane.clark@example.com"
    assert client.call("task.get", xid="admin")["task"]["company"]["id"] == ids["acme"]
    assert client.call("absence.get", xid="vacation")["absence"]["name"] == "Vacation"
    assert client.call("group.get", xid="us")["group"] == {"id": ids["us"], "xid": "us",
                                                           "name": "US"}


@pytest.mark.parametrize(
    ("kind", "plural", "parent"),
    [
        ("company", "companies", None),
        ("project", "projects", ("company", "acme")),
        ("subproject", "subprojects", ("project", "dev")),
        ("task", "tasks", ("company", "acme")),
        ("absence", "absences", ("company", "acme")),
        ("person", "people", ("company", "acme")),
    ],
)
def test_update_activate_deactivate_and_list(client: BeeboleClient, kind: str, plural: str,
                                             parent: tuple[str, str] | None) -> None:
    make_tree(client)
    xid = {"company": "acme", "project": "dev", "subproject": "proto", "task": "admin",
           "absence": "vacation", "person": "jane"}[kind]
    client.call(f"{kind}.update", **{kind: {"xid": xid, "name": "Renamed"}})
    assert client.call(f"{kind}.get", xid=xid)[kind]["name"] == "Renamed"
    client.call(f"{kind}.deactivate", xid=xid)
    assert client.call(f"{kind}.get", xid=xid)[kind]["active"] is False
    listing = client.call(f"{kind}.list", **({parent[0]: {"xid": parent[1]}} if parent else {}))
    # Inactive entities are listed, flagged: clients filter them themselves.
    [item] = [e for e in listing[plural] if e.get("xid") == xid]
    assert item["active"] is False and item["name"] == "Renamed"
    client.call(f"{kind}.activate", xid=xid)
    assert client.call(f"{kind}.get", xid=xid)[kind]["active"] is True


def test_group_update_and_parent(client: BeeboleClient) -> None:
    parent = client.call("group.create", group={"xid": "country", "name": "Country"})["id"]
    child = client.call("group.create", group={"name": "Texas", "parent": {"xid": "country"}})["id"]
    client.call("group.update", group={"id": child, "name": "Texas - Austin"})
    assert client.call("group.get", id=child)["group"] == {
        "id": child, "name": "Texas - Austin", "parent": {"id": parent, "xid": "country"}}


def test_update_with_id_and_new_xid_adopts_the_entity(client: BeeboleClient) -> None:
    cid = client.call("company.create", company={"name": "Legacy"})["id"]
    assert "xid" not in client.call("company.get", id=cid)["company"]
    client.call("company.update", company={"id": cid, "xid": "legacy"})
    assert client.call("company.get", xid="legacy")["company"]["id"] == cid


def test_unknown_and_duplicate_xid(client: BeeboleClient) -> None:
    make_tree(client)
    with pytest.raises(ApiError, match='no company with xid "nope"'):
        client.call("company.get", xid="nope")
    with pytest.raises(ApiError, match='a project with xid "dev" already exists'):
        client.call("project.create", project={"xid": "dev", "name": "x",
                                               "company": {"xid": "acme"}})
