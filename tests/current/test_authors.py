"""Drift with its author: who changed each drifted entity, from lastEdited and the audit trail.

Against the current sandbox over HTTP with the real client. The out-of-band changes are
made by another person of the account with their own key (``server.key_for``), as a
colleague editing in Beebole would.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from beeplan.model import Ref
from beeplan.platforms.current.authors import (
    Drifted,
    audit_ops,
    last_edited_ops,
    look_up_authors,
    parse_last_edited,
    utc,
    verb_of,
)
from beeplan.platforms.current.client import CurrentClient, build_document
from beeplan.platforms.current.sandbox.schema import check_document

from .conftest import Gql

RENAME = 'mutation($id: BeeboleId!, $n: BeeboleName!) { editProjectName(id: $id, name: $n) ' \
         '{ lastEdited { at { ts } } } }'


@pytest.fixture
def client(gql: Gql) -> Iterator[CurrentClient]:
    with CurrentClient(gql.server.url, gql.server.token, backoff=0.01, retries=1) as c:
        yield c


def _as(gql: Gql, person: str, query: str, **variables: object) -> dict[str, Any]:
    """Run ``query`` with ``person``'s own key: they are its author."""
    body = gql.post(query, dict(variables), key=gql.server.key_for(gql.ids[person])).json()
    assert "errors" not in body, body
    return dict(body["data"])


def test_a_rename_by_a_colleague_names_them_and_when(gql: Gql, client: CurrentClient) -> None:
    made = _as(gql, "alice", RENAME, id=gql.ids["acme"], n="Acme Inc")
    at = made["editProjectName"]["lastEdited"]["at"]["ts"]
    gql.server.app.reset_counts()
    found = look_up_authors(client, [Drifted("project", gql.ids["acme"])])
    author = found.found[Drifted("project", gql.ids["acme"])]
    assert author.text == f"renamed by Alice Martin (alice@example.com) on {utc(at)}"
    assert author.entries[0].operation == "editProjectName"
    assert ("name", "Acme Inc") in author.entries[0].arguments
    assert found.requests == 2 and gql.server.requests == 2
    assert any("last 7 days" in note for note in found.notes)
    # the core's display value, on the plan's own target
    [shown] = found.changed_by({Drifted("project", gql.ids["acme"]): Ref("project", "acme")})
    assert shown.target == Ref("project", "acme") and shown.text == author.text
    assert shown.person == "Alice Martin" and shown.email == "alice@example.com"
    assert shown.operations[0].endswith("editProjectName by Alice Martin (alice@example.com): "
                                        "name=Acme Inc")


def test_every_kind_at_once_costs_two_requests_never_one_per_entity(
        gql: Gql, client: CurrentClient) -> None:
    ids = gql.ids
    drifted = [Drifted("project", ids["acme"]), Drifted("project", ids["website"]),
               Drifted("project", ids["globex"]),  # archived: read with archived: true
               Drifted("person", ids["bob"]), Drifted("tag", ids["backend"]),
               Drifted("task", ids["build"]), Drifted("absenceType", ids["vacation"]),
               Drifted("role", ids["employee"]), Drifted("customField", ids["xid"]),
               Drifted("projectCategory", ids["clients"]),
               Drifted("tagCategory", ids["depts"]), Drifted("taskCategory", ids["dev"])]
    _as(gql, "bob", 'mutation($id: BeeboleId!) { editAbsenceTypeName(id: $id, name: "Leave") '
        "{ id } }", id=ids["vacation"])
    gql.server.app.reset_counts()
    found = look_up_authors(client, drifted)
    assert gql.server.requests == 2 and found.requests == 2
    assert set(found.found) == set(drifted)
    assert all(a.at_ms is not None for a in found.found.values()), found.found
    assert found.found[Drifted("absenceType", ids["vacation"])].text.startswith(
        "renamed by Bob Stone (bob@example.com) on ")
    # the seeded ones were made with the main key: beeplan's own, said so
    assert "with beeplan's own key" in found.found[Drifted("project", ids["globex"])].text
    assert found.found[Drifted("project", ids["globex"])].text.startswith("archived by ")


def test_no_drift_costs_nothing(client: CurrentClient, gql: Gql) -> None:
    gql.server.app.reset_counts()
    assert look_up_authors(client, []).found == {}
    assert gql.server.requests == 0


def test_without_an_audit_trail_it_says_so_in_one_line_and_names_the_last_editor(
        gql: Gql, client: CurrentClient) -> None:
    gql.server.audit_trail = False
    made = _as(gql, "alice", RENAME, id=gql.ids["website"], n="Web")
    at = made["editProjectName"]["lastEdited"]["at"]["ts"]
    found = look_up_authors(client, [Drifted("project", gql.ids["website"])])
    author = found.found[Drifted("project", gql.ids["website"])]
    assert author.text == f"last edited by Alice Martin (alice@example.com) on {utc(at)}"
    assert author.entries == ()
    [note] = found.notes
    assert note.startswith("the account's plan has no audit trail")


def test_a_relation_change_leaves_last_edited_but_the_trail_names_it(
        gql: Gql, client: CurrentClient) -> None:
    """Tagging changes no lastEdited (sandbox: chosen); the audit trail still says who."""
    _as(gql, "bob", 'mutation($t: BeeboleId!, $p: BeeboleId!) { tagProject(tagId: $t, '
        "projectId: $p) { id } }", t=gql.ids["backend"], p=gql.ids["globex"])
    author = look_up_authors(client, [Drifted("project", gql.ids["globex"])]).found[
        Drifted("project", gql.ids["globex"])]
    assert author.text.startswith("tagged by Bob Stone (bob@example.com) on ")
    assert [e.operation for e in author.entries][:2] == ["tagProject", "archiveProject"]


@pytest.mark.parametrize(("denied", "want"), [
    ({"Query.getAuditTrails"}, "the key may not read the audit trail"),
    ({"BeeboleAuditTrail.*"}, "the key may not read the audit trail"),
])
def test_an_audit_trail_the_key_may_not_read_is_said_never_read_as_empty(
        gql: Gql, client: CurrentClient, denied: set[str], want: str) -> None:
    _as(gql, "alice", RENAME, id=gql.ids["acme"], n="Acme Inc")
    gql.server.denied = denied
    found = look_up_authors(client, [Drifted("project", gql.ids["acme"])])
    assert any(n.startswith(want) for n in found.notes), found.notes
    author = found.found[Drifted("project", gql.ids["acme"])]
    assert author.text.startswith("last edited by Alice Martin")  # lastEdited still read


def test_nothing_readable_says_author_unknown_and_why(gql: Gql, client: CurrentClient) -> None:
    _as(gql, "alice", RENAME, id=gql.ids["acme"], n="Acme Inc")
    gql.server.denied = {"BeeboleProject.lastEdited", "Query.getAuditTrails"}
    author = look_up_authors(client, [Drifted("project", gql.ids["acme"])]).found[
        Drifted("project", gql.ids["acme"])]
    assert author.text == ("author unknown (the key may not read lastEdited; the key may not "
                           "read the audit trail)")
    gql.server.denied = {"Query.getProjects", "Query.getAuditTrails"}
    author = look_up_authors(client, [Drifted("project", gql.ids["acme"])]).found[
        Drifted("project", gql.ids["acme"])]
    assert author.text == ("author unknown (the key may not read projects; the key may not "
                           "read the audit trail)")


def test_a_withheld_email_or_name_is_said_not_left_blank(gql: Gql, client: CurrentClient) -> None:
    _as(gql, "alice", RENAME, id=gql.ids["acme"], n="Acme Inc")
    gql.server.denied = {"BeebolePerson.email"}
    text = look_up_authors(client, [Drifted("project", gql.ids["acme"])]).found[
        Drifted("project", gql.ids["acme"])].text
    assert text.startswith("renamed by Alice Martin on ") and "()" not in text
    gql.server.denied = {"BeebolePerson.name", "BeebolePerson.email"}
    gql.server.audit_trail = False
    text = look_up_authors(client, [Drifted("project", gql.ids["acme"])]).found[
        Drifted("project", gql.ids["acme"])].text
    assert text.startswith("last edited by a person whose name the key may not read on ")


def test_an_entity_deleted_since_it_was_read(gql: Gql, client: CurrentClient) -> None:
    sick = gql.ids["sick"]
    _as(gql, "alice", "mutation($id: BeeboleId!) { deleteAbsenceType(id: $id) { id } }",
        id=sick)
    author = look_up_authors(client, [Drifted("absenceType", sick)]).found[
        Drifted("absenceType", sick)]
    assert author.text.startswith("deleted by Alice Martin (alice@example.com) on ")
    gql.server.audit_trail = False
    author = look_up_authors(client, [Drifted("absenceType", sick)]).found[
        Drifted("absenceType", sick)]
    assert author.text == ("author unknown (not in the account any more: deleted since it "
                           "was read?; the account's plan has no audit trail)")


def test_the_trail_looks_back_seven_days_and_since_the_last_run(
        gql: Gql, client: CurrentClient) -> None:
    made = _as(gql, "alice", RENAME, id=gql.ids["acme"], n="Acme Inc")
    at = made["editProjectName"]["lastEdited"]["at"]["ts"]
    # since a later run: the rename is before it, so only lastEdited names it
    found = look_up_authors(client, [Drifted("project", gql.ids["acme"])], since_ms=at + 1)
    author = found.found[Drifted("project", gql.ids["acme"])]
    assert author.entries == () and author.text.startswith("last edited by Alice Martin")
    assert any(f"since {utc(at + 1)}" in n for n in found.notes)
    gql.server.advance_clock(days=8)  # out of the audit trail's window
    author = look_up_authors(client, [Drifted("project", gql.ids["acme"])]).found[
        Drifted("project", gql.ids["acme"])]
    assert author.entries == () and author.text.startswith("last edited by Alice Martin")


def test_a_failed_lookup_leaves_the_run_alone_and_says_so(gql: Gql,
                                                          client: CurrentClient) -> None:
    gql.server.error_rate = 1.0
    found = look_up_authors(client, [Drifted("project", gql.ids["acme"])])
    author = found.found[Drifted("project", gql.ids["acme"])]
    assert author.text.startswith("author unknown (not looked up: ")
    assert any(n.startswith("who changed the drifted entities was not looked up") for n in
               found.notes)
    assert gql.server.token not in str(found)


def test_the_documents_are_valid_against_the_real_schema() -> None:
    drifted = [Drifted(kind, "a" * 24) for kind in (
        "person", "project", "tag", "task", "absenceType", "role", "customField",
        "projectCategory", "tagCategory", "taskCategory")]
    for ops in (last_edited_ops(drifted), audit_ops(drifted)):
        assert check_document(build_document("query", ops).text) == []
    with pytest.raises(ValueError, match="no author lookup for the kind 'company'"):
        last_edited_ops([Drifted("company", "a" * 24)])


@pytest.mark.parametrize(("operation", "words"), [
    ("editProjectName", "renamed"), ("editPersonEmail", "changed (email)"),
    ("editTaskParent", "moved"), ("archivePersons", "archived"),
    ("unarchiveProject", "unarchived"), ("addTag", "created"), ("untagPerson", "untagged"),
    ("assignProjectToPerson", "assigned"),
    ("editCustomFieldValueText", "changed a custom field value"),
    ("cloneSomething", "changed (cloneSomething)"),
])
def test_operations_in_words(operation: str, words: str) -> None:
    assert verb_of(operation) == words


def test_time_logging_is_not_drift_and_long_histories_are_counted(
        gql: Gql, client: CurrentClient) -> None:
    """Logging time names the person (personId) but changes no configuration: left out;
    more than ten operations on one entity: the first ten, then a count."""
    bob = gql.ids["bob"]
    _as(gql, "bob", "mutation($p: BeeboleId!, $pr: [BeeboleId]) { addTimeRecord(personId: $p, "
        "startTime: 1750000000000, duration: 3600000, projectIds: $pr) { id } }",
        p=bob, pr=[gql.ids["acme"]])
    for i in range(12):
        _as(gql, "alice", "mutation($id: BeeboleId!, $n: BeeboleName!) { editPersonName(id: $id, "
            "name: $n) { id } }", id=bob, n=f"Bob {i}")
    author = look_up_authors(client, [Drifted("person", bob)]).found[Drifted("person", bob)]
    assert "addTimeRecord" not in {e.operation for e in author.entries}
    assert author.text.startswith("renamed by Alice Martin")
    [shown] = look_up_authors(client, [Drifted("person", bob)]).changed_by(
        {Drifted("person", bob): Ref("person", "bob")})
    assert len(shown.operations) == 11 and shown.operations[0].endswith("name=Bob 11")
    assert shown.operations[-1].startswith("... and ") and "earlier operations" in \
        shown.operations[-1]


def test_an_edit_the_account_names_no_person_for_is_said_so() -> None:
    """``lastEdited.by`` is nullable: a change with no person is not anyone's (pure)."""
    entity = Drifted("role", "b" * 24)
    data = {"a0": [{"id": entity.id, "lastEdited": {"at": {"ts": 1764597780000,
                                                           "iso": "2025-12-01T14:03:00Z"},
                                                    "by": None}}],
            "a1": [], "a2": {"id": "c" * 24}}
    found, own = parse_last_edited([entity], data, ())
    assert own == "c" * 24
    assert found[entity].text == ("last edited on 2025-12-01 14:03 UTC by a person the "
                                  "account does not name")
