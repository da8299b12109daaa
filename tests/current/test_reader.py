"""The reader: a seeded sandbox account read in one request, into plain frozen data."""

from __future__ import annotations

from beeplan.platforms.current.client import CurrentClient
from beeplan.platforms.current.reader import read_account, read_document
from beeplan.platforms.current.sandbox.schema import check_document

from .conftest import Gql


def _seed_more(gql: Gql) -> dict[str, str]:
    """On the demo account: xids on a person and a tag, a number value, a tagged project,
    an archived tag."""
    ids = dict(gql.ids)
    d = gql("""mutation($t: BeeboleId!) {
      budget: addCustomField(name: "Budget", fieldType: "number") { id }
      old: addTag(name: "Old team", categoryId: $t) { id }
    }""", t=ids["depts"])
    ids.update({k: v["id"] for k, v in d.items()})
    gql("""mutation($xid: BeeboleId!, $alice: BeeboleId!, $backend: BeeboleId!,
                     $budget: BeeboleId!, $website: BeeboleId!, $old: BeeboleId!) {
      x1: addCustomFieldValue(customFieldId: $xid, entityType: "Person", entityId: $alice,
                              textValue: "alice") { id }
      x2: addCustomFieldValue(customFieldId: $xid, entityType: "Tag", entityId: $backend,
                              textValue: "backend") { id }
      v1: addCustomFieldValue(customFieldId: $budget, entityType: "Project",
                              entityId: $website, numberValue: 1200) { id }
      tp: tagProject(tagId: $backend, projectId: $website) { id }
      gone: archiveTag(id: $old) { id }
    }""", **{k: ids[k] for k in ("xid", "alice", "backend", "budget", "website", "old")})
    return ids


def test_the_read_document_is_valid_against_the_real_schema() -> None:
    assert check_document(read_document().text) == []


def test_a_seeded_account_reads_in_one_request(gql: Gql) -> None:
    ids = _seed_more(gql)
    gql.server.app.reset_counts()
    with CurrentClient(gql.server.url, gql.server.token) as client:
        live = read_account(client)
        assert client.usage.total_requests == 1
    assert gql.server.app.requests == 1  # counted by the sandbox too: at most 3 required

    assert live.xid_field == ids["xid"]
    projects = {n.id: n for n in live.of_kind("project")}
    acme, website, homepage = projects[ids["acme"]], projects[ids["website"]], \
        projects[ids["homepage"]]
    assert acme.xid == "acme" and website.xid is None
    assert (acme.category, acme.parent, acme.level) == (ids["clients"], None, 0)
    assert (website.parent, website.level) == (ids["acme"], 1)
    assert (homepage.parent, homepage.level) == (ids["website"], 2)
    assert acme.related("managers") == (ids["alice"],)
    assert acme.related("assigned.tags") == (ids["eng"],) and acme.related("tags") == ()
    assert website.related("assigned.people") == (ids["bob"],)
    assert website.related("tags") == (ids["backend"],)  # tagged, not assigned
    assert website.related("assigned.tags") == ()
    assert website.custom == ((ids["budget"], 1200),)
    assert projects[ids["globex"]].archived is True  # archived ones are read too
    assert not acme.archived

    tags = {n.id: n for n in live.of_kind("tag")}
    assert tags[ids["backend"]].xid == "backend"
    assert tags[ids["backend"]].parent == ids["eng"]
    assert tags[ids["old"]].archived is True

    people = {n.id: n for n in live.of_kind("person")}
    alice, bob = people[ids["alice"]], people[ids["bob"]]
    assert alice.xid == "alice" and live.by_xid("person") == {"alice": alice}
    assert alice.field("role") == "Employee" and alice.field("email") == "alice@example.com"
    assert alice.related("tags") == (ids["backend"],)
    assert bob.related("managers") == (ids["alice"],) and bob.related("tags") == ()

    (build,) = live.of_kind("task")
    assert (build.category, build.field("status")) == (ids["dev"], ids["todo"])
    assert build.related("projects") == (ids["website"],)

    (dev,) = live.task_categories
    assert dict(dev.statuses) == {ids["todo"]: "To do", ids["done"]: "Done"}
    (clients,) = live.project_categories
    assert clients.level_names == ("Client", "Project", "Subproject")
    assert {a.name for a in live.of_kind("absenceType")} == {"Vacation", "Sick leave"}
    assert {f.name: f.type for f in live.custom_fields} == {"External ID": "text",
                                                             "Budget": "number"}
    assert {r.name for r in live.of_kind("role")} >= {"Admin", "Employee"}


def test_the_xid_field_name_is_configurable(gql: Gql) -> None:
    with CurrentClient(gql.server.url, gql.server.token) as client:
        live = read_account(client, xid_field="Legacy key")
    assert live.xid_field is None  # no such field: nothing has an xid, nothing is guessed
    assert all(n.xid is None for n in live.nodes)
