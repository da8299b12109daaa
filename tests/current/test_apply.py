"""The current platform's batched apply, against the sandbox over HTTP with the real client.

Actions are built by hand as the planner makes them (``apply.py`` states the
contract); the sandbox's state is read back through the reader (one request) and
counted by name and External ID, so a duplicate cannot hide.
"""

from __future__ import annotations

import math
import os
import signal
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from beeplan.applier import Outcome
from beeplan.localfiles.journal import Journal
from beeplan.model import Ref
from beeplan.planner import PHASE_DEACTIVATE, Action
from beeplan.platforms.current.apply import (
    apply_actions,
    journal_key,
    mutation_op,
    parse_journal_key,
)
from beeplan.platforms.current.client import Budget, CurrentClient, build_document
from beeplan.platforms.current.reader import LiveAccount, read_account
from beeplan.platforms.current.sandbox import CurrentSandboxServer
from beeplan.platforms.current.sandbox.schema import check_document

XID = "External ID"


def act(aid: str, service: str, payload: dict[str, Any], *, kind: str, xid: str | None = None,
        op: str = "create", deps: tuple[str, ...] = (), phase: int = 0) -> Action:
    return Action(id=aid, op=op, kind=kind, target=Ref(kind, xid or aid), name=f"{kind} {aid}",
                  service=service, payload=payload, phase=phase, depends_on=deps)


def ref(aid: str) -> dict[str, str]:
    return {"$ref": aid}


def account_actions(role: str, old_leave: str) -> list[Action]:
    """Every shape the planner makes: the External ID field, a category, a project with a
    child ($ref), a person, an assignment, a custom value, an archive."""
    return [
        act("field", "addCustomField", {"name": XID, "fieldType": "text"}, kind="customField",
            xid=XID),
        act("budget", "addCustomField", {"name": "Budget", "fieldType": "number"},
            kind="customField", xid="Budget"),
        act("clients", "addProjectCategory", {"name": "Clients"}, kind="projectCategory"),
        act("acme", "addProject", {"name": "Acme", "categoryId": ref("clients")},
            kind="project", deps=("clients",)),
        act("web", "addProject", {"name": "Website", "parentId": ref("acme")},
            kind="project", deps=("acme",)),
        act("ann", "addPerson", {"name": "Ann", "email": "ann@example.com", "roleId": role},
            kind="person"),
        act("ann-web", "assignProjectToPerson", {"personId": ref("ann"),
                                                 "projectId": ref("web")},
            kind="project", op="attach", deps=("ann", "web")),
        act("acme-budget", "addCustomFieldValue",
            {"customFieldId": ref("budget"), "entityType": "Project",
             "entityId": ref("acme"), "numberValue": 1200.0},
            kind="project", op="set", deps=("budget", "acme")),
        act("old", "archiveAbsenceType", {"id": old_leave}, kind="absenceType",
            op="deactivate", phase=PHASE_DEACTIVATE),
    ]


# Its layers with batch size 2. The labels (External ID values) of a layer's creates go
# with the next layer. 0: field, budget, clients | 1: acme, ann (labelled: after the
# field) | 2: acme's and ann's labels, web, acme-budget | 3: web's label, ann-web |
# removals: old.
LAYERS = (3, 2, 4, 2, 1)


@pytest.fixture
def server() -> Iterator[CurrentSandboxServer]:
    with CurrentSandboxServer() as srv:
        yield srv


def client_of(server: CurrentSandboxServer, **options: Any) -> CurrentClient:
    return CurrentClient(server.url, server.token, backoff=0.001, **options)


def prepare(server: CurrentSandboxServer) -> tuple[str, str]:
    """The Admin role's id and an absence type to archive ("Old leave")."""
    with client_of(server) as c:
        done = c.mutate([mutation_op("addAbsenceType", {"name": "Old leave"})])
        live = read_account(c)
    (role,) = live.of_kind("role")
    return role.id, str(done[0].data["id"])


def read(server: CurrentSandboxServer) -> LiveAccount:
    with client_of(server) as c:
        return read_account(c, xid_field=XID)


def duplicates(live: LiveAccount) -> dict[str, int]:
    """Names (kind:name) and External IDs held more than once: must stay empty."""
    names = Counter(f"{n.kind}:{n.name}" for n in live.nodes)
    names.update(f"projectCategory:{c.name}" for c in live.project_categories)
    names.update(f"customField:{f.name}" for f in live.custom_fields)
    names.update(f"xid {n.kind}:{n.xid}" for n in live.nodes if n.xid)
    return {k: v for k, v in names.items() if v > 1}


def assert_applied_state(live: LiveAccount, role: str) -> None:
    assert live.xid_field is not None
    projects = {n.name: n for n in live.of_kind("project")}
    acme, web = projects["Acme"], projects["Website"]
    (clients,) = live.project_categories
    assert (acme.xid, acme.category, acme.parent) == ("acme", clients.id, None)
    assert (web.xid, web.parent, web.level) == ("web", acme.id, 1)
    budget = next(f for f in live.custom_fields if f.name == "Budget")
    assert acme.custom == ((budget.id, 1200),)
    people = {n.name: n for n in live.of_kind("person")}
    ann = people["Ann"]
    assert (ann.xid, ann.field("email")) == ("ann", "ann@example.com")
    assert web.related("assigned.people") == (ann.id,)
    old = {n.name: n for n in live.of_kind("absenceType")}["Old leave"]
    assert old.archived
    assert duplicates(live) == {}


def test_a_plan_applies_layer_by_layer_in_batches(server: CurrentSandboxServer) -> None:
    role, old = prepare(server)
    actions = account_actions(role, old)
    seen: list[tuple[str, str]] = []
    with client_of(server) as c:
        live = read_account(c, xid_field=XID)
        server.app.reset_counts()
        before = c.usage.total_requests
        outcome = apply_actions(c, actions, xid_field=XID, batch_size=2, live=live,
                                progress=lambda a, s, m, n, t: seen.append((a.id, s)))
        sent = c.usage.total_requests - before
    assert outcome.ok, (outcome.failed, outcome.skipped)
    assert sorted(a.id for a in outcome.applied) == sorted(a.id for a in actions)
    # depth x ceil(layer size / batch size), counted by the client and by the sandbox
    expected = sum(math.ceil(n / 2) for n in LAYERS)
    assert sent == server.requests == expected == 7
    assert server.calls["addCustomFieldValue"] == 4  # 3 labels and the budget
    assert sorted(seen) == sorted((a.id, "applied") for a in actions)
    assert [a for a, _ in seen].index("old") == len(actions) - 1  # removals last
    assert_applied_state(read(server), role)


def test_one_document_per_layer_with_a_large_batch(server: CurrentSandboxServer) -> None:
    role, old = prepare(server)
    with client_of(server) as c:
        live = read_account(c, xid_field=XID)
        server.app.reset_counts()
        outcome = apply_actions(c, account_actions(role, old), xid_field=XID, batch_size=50,
                                live=live)
    assert outcome.ok
    assert server.requests == len(LAYERS)


def test_without_the_read_it_reads_once_first(server: CurrentSandboxServer) -> None:
    role, old = prepare(server)
    server.app.reset_counts()
    with client_of(server) as c:
        outcome = apply_actions(c, account_actions(role, old), xid_field=XID, batch_size=50)
    assert outcome.ok
    assert server.requests == len(LAYERS) + 1
    assert_applied_state(read(server), role)


def test_a_failing_alias_fails_only_its_action_and_dependents(
        server: CurrentSandboxServer) -> None:
    role, old = prepare(server)
    actions = account_actions(role, old)
    missing = "0" * 24
    actions += [
        # an id the API does not know: refused while running (errors[].path names it)
        act("lost", "addProject", {"name": "Lost", "parentId": missing}, kind="project"),
        act("lost-child", "addProject", {"name": "Lost child", "parentId": ref("lost")},
            kind="project", deps=("lost",)),
        # a value the API's scalar refuses: the whole document is refused before running
        act("bad", "addAbsenceType", {"name": "<b>bold</b>"}, kind="absenceType"),
        act("bad-value", "addCustomFieldValue",
            {"customFieldId": ref("budget"), "entityType": "AbsenceType",
             "entityId": ref("bad"), "numberValue": 1.0},
            kind="absenceType", op="set", deps=("bad", "budget")),
    ]
    with client_of(server) as c:
        outcome = apply_actions(c, actions, xid_field=XID, batch_size=3,
                                live=read_account(c, xid_field=XID))
    failed = {a.id: why for a, why in outcome.failed}
    skipped = {a.id: why for a, why in outcome.skipped}
    assert set(failed) == {"lost", "bad"}
    assert "NotFound" in failed["lost"] and "a0" not in failed["lost"].split(":")[0]
    assert failed["bad"].startswith("the API refused it: ") and "\n" not in failed["bad"]
    assert "argument 'name' has invalid value" in failed["bad"] and "$a" not in failed["bad"]
    assert skipped["lost-child"] == "depends on project lost, which failed"
    assert skipped["bad-value"] == "depends on absenceType bad, which failed"
    # every additive action of the same batches ran; the removal waits for a clean run
    assert {a.id for a in outcome.applied} == {a.id for a in actions} - {
        "lost", "lost-child", "bad", "bad-value", "old"}
    assert skipped["old"].startswith("removals run only when every create and update")
    live = read(server)
    assert {n.name for n in live.of_kind("project")} == {"Acme", "Website"}
    assert duplicates(live) == {}


def test_the_planners_shapes_statuses_links_and_archives_of_new_entities(
        server: CurrentSandboxServer) -> None:
    """As the planner makes them: a status added by an update that a task refers to with
    $ref, a link in a phase numbered after the core's removals (it is additive: by op),
    the archive of a role this plan creates (runs even though another create failed)."""
    with client_of(server) as c:
        live = read_account(c, xid_field=XID)
    actions = [
        act("field", "addCustomField", {"name": XID, "fieldType": "text"}, kind="customField",
            xid=XID),
        act("dev", "addTaskCategory", {"name": "Dev"}, kind="taskCategory", phase=2),
        act("doing", "addTaskCategoryStatus", {"categoryId": ref("dev"), "name": "Doing"},
            kind="taskCategory", xid="Dev", op="update", deps=("dev",), phase=2),
        act("build", "addTask", {"name": "Build", "categoryId": ref("dev"),
                                 "statusId": ref("doing")},
            kind="task", deps=("dev", "doing"), phase=7),
        act("temp", "addRole", {"name": "Temp", "authorisations": []}, kind="role", phase=3),
        act("temp-gone", "archiveRole", {"id": ref("temp")}, kind="role", xid="temp",
            op="deactivate", deps=("temp",), phase=12),
        act("bad", "addAbsenceType", {"name": "<b>x</b>"}, kind="absenceType", phase=8),
        act("mine", "assignTaskToPerson", {"taskId": ref("build"),
                                           "personId": server.person_id()},
            kind="task", xid="build", op="attach", deps=("build",), phase=10),
    ]
    with client_of(server) as c:
        outcome = apply_actions(c, actions, xid_field=XID, batch_size=50, live=live)
    assert [a.id for a, _ in outcome.failed] == ["bad"] and not outcome.skipped
    after = read(server)
    (dev,) = after.task_categories
    ((doing_id, doing),) = [s for s in dev.statuses if s[1] == "Doing"]
    (build,) = after.of_kind("task")
    assert (build.xid, build.category, build.field("status")) == ("build", dev.id, doing_id)
    assert build.related("assigned.people") == (server.person_id(),)
    temp = next(n for n in after.of_kind("role") if n.name == "Temp")
    assert temp.archived


def test_a_lost_create_answer_is_looked_up_not_sent_again(
        server: CurrentSandboxServer) -> None:
    """The work is done, the answer lost (HTTP 500 after it): one re-read finds it."""
    fields = {"field": act("field", "addCustomField", {"name": XID, "fieldType": "text"},
                           kind="customField", xid=XID)}
    with client_of(server) as c:
        apply_actions(c, list(fields.values()), xid_field=XID, batch_size=5)
    sent: list[str] = []

    def lose_the_first_mutation(name: str, size: int) -> None:
        sent.append(name)
        server.error_after_rate = 1.0 if len(sent) == 1 else 0.0

    actions = [act("hol", "addAbsenceType", {"name": "Holiday"}, kind="absenceType"),
               act("sick", "addAbsenceType", {"name": "Sick"}, kind="absenceType")]
    with client_of(server) as c:
        live = read_account(c, xid_field=XID)
        c.before_request = lose_the_first_mutation
        outcome = apply_actions(c, actions, xid_field=XID, batch_size=5, live=live)
    assert outcome.ok, outcome.failed
    # the lost document, the re-read, the labels: nothing sent twice
    assert sent == ["AddAbsenceType", "ReadAccount", "AddCustomFieldValue"]
    live = read(server)
    assert sorted((n.name, n.xid) for n in live.of_kind("absenceType")) == [
        ("Holiday", "hol"), ("Sick", "sick")]


def test_a_removal_whose_lost_answer_had_succeeded_is_applied_not_failed(
        server: CurrentSandboxServer) -> None:
    """A value's delete (which no read shows by id) is sent again after its answer was
    lost; the API's NotFound then means the lost one did it."""
    with client_of(server) as c:
        made = c.mutate([mutation_op("addCustomField", {"name": "Note", "fieldType": "text"}),
                         mutation_op("addAbsenceType", {"name": "Holiday"})])
        field, holiday = (str(o.data["id"]) for o in made)
        (value,) = c.mutate([mutation_op("addCustomFieldValue", {
            "customFieldId": field, "entityType": "AbsenceType", "entityId": holiday,
            "textValue": "x"})])
        live = read_account(c, xid_field=XID)
    sent: list[str] = []

    def lose_the_first(name: str, size: int) -> None:
        sent.append(name)
        server.error_after_rate = 1.0 if len(sent) == 1 else 0.0

    clear = act("clear", "deleteCustomFieldValue", {"id": str(value.data["id"])},
                kind="absenceType", xid="holiday", op="clear")
    with client_of(server) as c:
        c.before_request = lose_the_first
        outcome = apply_actions(c, [clear], xid_field=XID, batch_size=5, live=live)
    assert sent == ["DeleteCustomFieldValue", "ReadAccount", "DeleteCustomFieldValue"]
    assert outcome.ok and outcome.applied == [clear]
    assert read(server).of_kind("absenceType")[0].custom == ()


def test_an_unlabelled_lookalike_that_existed_before_is_never_adopted(
        server: CurrentSandboxServer) -> None:
    with client_of(server) as c:
        c.mutate([mutation_op("addCustomField", {"name": XID, "fieldType": "text"}),
                  mutation_op("addAbsenceType", {"name": "Holiday"})])
        live = read_account(c, xid_field=XID)
    (before,) = live.of_kind("absenceType")
    sent: list[str] = []

    def lose_the_first(name: str, size: int) -> None:
        sent.append(name)
        server.error_after_rate = 1.0 if len(sent) == 1 else 0.0

    with client_of(server) as c:
        c.before_request = lose_the_first
        outcome = apply_actions(c, [act("hol", "addAbsenceType", {"name": "Holiday"},
                                        kind="absenceType")],
                                xid_field=XID, batch_size=5, live=live)
    assert outcome.ok
    types = read(server).of_kind("absenceType")
    assert len(types) == 2
    assert {n.id: n.xid for n in types}[before.id] is None  # the old one kept no label


def test_a_run_stopped_after_a_create_is_adopted_by_the_next(
        server: CurrentSandboxServer, tmp_path: Path) -> None:
    """A kill between a create and its label: the journal makes the re-run adopt it."""
    with client_of(server) as c:
        c.mutate([mutation_op("addCustomField", {"name": XID, "fieldType": "text"}),
                  mutation_op("addAbsenceType", {"name": "Holiday"})])  # a look-alike
    journal = Journal(tmp_path / "journal.json")
    actions = [act("hol", "addAbsenceType", {"name": "Holiday"}, kind="absenceType")]
    with client_of(server, budget=Budget(requests=2)) as c:  # the read, then the create
        first = apply_actions(c, actions, xid_field=XID, batch_size=5, journal=journal)
    assert first.applied == [] and first.stopped and "budget" in first.stopped
    ((action, why),) = first.failed
    assert "created (id" in why and "re-run apply" in why
    (entry,) = Journal(tmp_path / "journal.json").owed()
    assert parse_journal_key(entry) is not None
    server.app.reset_counts()
    with client_of(server) as c:
        again = apply_actions(c, actions, xid_field=XID, batch_size=5,
                              journal=Journal(tmp_path / "journal.json"))
    assert again.ok and again.applied == actions
    assert server.calls["addAbsenceType"] == 0  # adopted, not created again
    types = read(server).of_kind("absenceType")
    assert sorted((n.name, str(n.xid)) for n in types) == [("Holiday", "None"),
                                                           ("Holiday", "hol")]
    assert Journal(tmp_path / "journal.json").owed() == frozenset()


def test_a_lost_answer_that_cannot_be_checked_is_adopted_by_the_next_run(
        server: CurrentSandboxServer, tmp_path: Path) -> None:
    """The create's answer is lost and so is the re-read: the create is reported failed,
    its journal entry stays, and the next apply adopts the entity it made."""
    with client_of(server) as c:
        c.mutate([mutation_op("addCustomField", {"name": XID, "fieldType": "text"})])
        live = read_account(c, xid_field=XID)
    sent: list[str] = []

    def lose_both(name: str, size: int) -> None:
        sent.append(name)
        server.error_after_rate = 1.0 if len(sent) == 1 else 0.0
        server.error_rate = 1.0 if len(sent) == 2 else 0.0

    actions = [act("hol", "addAbsenceType", {"name": "Holiday"}, kind="absenceType")]
    with client_of(server, retries=0) as c:
        c.before_request = lose_both
        first = apply_actions(c, actions, xid_field=XID, batch_size=5, live=live,
                              journal=Journal(tmp_path / "j.json"))
    ((_, why),) = first.failed
    assert "could not be re-read" in why and first.stopped and first.applied == []
    assert len(Journal(tmp_path / "j.json").owed()) == 1
    server.error_rate = 0.0
    server.app.reset_counts()
    with client_of(server) as c:
        again = apply_actions(c, actions, xid_field=XID, batch_size=5,
                              journal=Journal(tmp_path / "j.json"))
    assert again.ok and server.calls["addAbsenceType"] == 0
    assert [(n.name, n.xid) for n in read(server).of_kind("absenceType")] == [
        ("Holiday", "hol")]
    assert Journal(tmp_path / "j.json").owed() == frozenset()


def test_journal_keys_round_trip() -> None:
    key = journal_key("project", "a b:\"c\"", ["2", "1"])
    assert parse_journal_key(key) == ("project", "a b:\"c\"", frozenset({"1", "2"}))
    assert parse_journal_key("project:acme") is None
    assert parse_journal_key("pending-create not json") is None


def test_an_inactive_account_stops_the_run_with_nothing_claimed(
        server: CurrentSandboxServer) -> None:
    role, old = prepare(server)
    sent: list[str] = []

    def inactive_from_the_third(name: str, size: int) -> None:
        sent.append(name)
        server.inactive = len(sent) >= 3

    with client_of(server) as c:
        live = read_account(c, xid_field=XID)
        c.before_request = inactive_from_the_third
        outcome = apply_actions(c, account_actions(role, old), xid_field=XID, batch_size=50,
                                live=live)
    assert outcome.stopped is not None and "AccountIsInactive" in outcome.stopped
    assert "\n" not in outcome.stopped
    server.inactive = False
    live = read(server)
    # layer 0 is applied; layer 1 made Acme and Ann, whose labels the 402 stopped: failed
    assert {a.id for a in outcome.applied} == {"field", "budget", "clients"}
    assert [(n.name, n.xid) for n in live.of_kind("project")] == [("Acme", None)]
    created = {f"{a.kind}:{a.id}" for a, _ in outcome.failed}
    assert created == {"project:acme", "person:ann"}  # made, but the run stopped before labels
    assert all(why.startswith("not started: ") for _, why in outcome.skipped)
    assert len(outcome.applied) + len(outcome.failed) + len(outcome.skipped) == 9


def test_a_withheld_mutation_fails_alone_and_is_not_sent_again(
        server: CurrentSandboxServer) -> None:
    """permissionsErrors on one alias: that action fails saying so; the rest applies."""
    role, old = prepare(server)
    actions = [a for a in account_actions(role, old) if a.id != "old"]
    actions.append(act("gone", "archiveAbsenceType", {"id": old}, kind="absenceType",
                       op="deactivate", phase=PHASE_DEACTIVATE))
    with client_of(server) as c:
        live = read_account(c, xid_field=XID)
        server.denied = {"Mutation.archiveAbsenceType"}
        server.app.reset_counts()
        outcome = apply_actions(c, actions, xid_field=XID, batch_size=50, live=live)
    server.denied = set()
    ((action, why),) = outcome.failed
    assert action.id == "gone" and "\n" not in why
    assert why.startswith("the API withheld archiveAbsenceType (permissionsErrors: "
                          "Mutation.archiveAbsenceType): give the API key's role")
    assert server.calls["archiveAbsenceType"] == 0  # withheld: never run, never re-sent
    assert len(outcome.applied) == len(actions) - 1 and not outcome.skipped
    assert not read(server).of_kind("absenceType")[0].archived


@pytest.mark.parametrize("answer", ["portal", "redirect", "revoked"])
def test_an_answer_that_is_not_the_apis_stops_the_run_claiming_nothing(
        server: CurrentSandboxServer, answer: str) -> None:
    """From the third request on, the endpoint answers a portal page or a redirect, or
    the key is refused (revoked mid-run): the run stops with a one-line reason that never
    holds the key, and what it reports applied is in the account."""
    import requests
    from werkzeug.serving import make_server
    from werkzeug.wrappers import Request, Response

    role, old = prepare(server)
    with client_of(server) as c:
        live = read_account(c, xid_field=XID)
    seen = []

    @Request.application
    def endpoint(request: Request) -> Response:
        seen.append(1)
        if len(seen) <= 2 or answer == "revoked":  # layers 0 and 1 reach the API
            key = request.headers["apikey"] if len(seen) <= 2 else "revoked-key"
            real = requests.post(server.url, data=request.get_data(), timeout=10,
                                 headers={"apikey": key})
            return Response(real.content, status=real.status_code,
                            content_type="application/json")
        if answer == "portal":
            return Response("<html>Sign in to the Wi-Fi</html>", content_type="text/html")
        return Response("", status=307, headers={"Location": "https://example.com/login"})

    httpd = make_server("127.0.0.1", 0, endpoint, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        with CurrentClient(f"http://127.0.0.1:{httpd.server_port}", server.token,
                           backoff=0.001) as c:
            outcome = apply_actions(c, account_actions(role, old), xid_field=XID,
                                    batch_size=50, live=live)
    finally:
        httpd.shutdown()
        thread.join(timeout=5)
    assert outcome.stopped is not None and "\n" not in outcome.stopped
    assert {"portal": "not JSON (text/html", "redirect": "redirects are never followed",
            "revoked": "APIKeyError:InvalidKey"}[answer] in outcome.stopped
    said = [outcome.stopped, *(why for _, why in outcome.failed + outcome.skipped)]
    assert not any(server.token in text for text in said)
    assert {a.id for a in outcome.applied} == {"field", "budget", "clients"}
    failed = {a.id: why for a, why in outcome.failed}
    assert {"acme", "ann"} <= set(failed)  # made in layer 1, never labelled: not applied
    assert all("re-run apply" in failed[a] for a in ("acme", "ann"))
    after = read(server)
    assert {f.name for f in after.custom_fields} == {XID, "Budget"}
    assert [n.xid for n in after.of_kind("project")] == [None]
    assert len(outcome.applied) + len(outcome.failed) + len(outcome.skipped) == 9


def test_parallelism_bounds_the_documents_in_flight(server: CurrentSandboxServer) -> None:
    """Each request waits (up to 2 s) until ``parallelism`` are in flight: with 3 the
    sandbox sees exactly 3 at once, never more."""
    lock = threading.Condition()
    state = {"now": 0, "most": 0}
    app = server._server.app

    def gate(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        with lock:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
            lock.notify_all()
            lock.wait_for(lambda: state["now"] >= 3, timeout=2)
        try:
            return app(environ, start_response)
        finally:
            with lock:
                state["now"] -= 1

    actions = [act(f"t{i}", "addAbsenceType", {"name": f"Type {i}"}, kind="absenceType")
               for i in range(12)]
    with client_of(server) as c:
        c.mutate([mutation_op("addCustomField", {"name": XID, "fieldType": "text"})])
        live = read_account(c, xid_field=XID)
        server._server.app = gate
        try:
            outcome = apply_actions(c, actions, xid_field=XID, batch_size=2, parallelism=3,
                                    live=live)
        finally:
            server._server.app = app
    assert outcome.ok
    assert state["most"] == 3


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.slow
def test_faults_converge_without_duplicates(tmp_path: Path, seed: int) -> None:
    """500s after the work, dropped connections: repeated applies converge, 0 duplicates,
    and an apply after convergence sends no mutation."""
    with CurrentSandboxServer(seed=seed) as server:
        role, old = prepare(server)
        actions = account_actions(role, old)
        actions += [act(f"t{i}", "addAbsenceType", {"name": f"Type {i}"}, kind="absenceType")
                    for i in range(8)]
        server.error_after_rate, server.drop_rate = 0.3, 0.2
        outcomes: list[Outcome] = []
        notes: list[str] = []
        for _ in range(20):
            with client_of(server, retries=6) as c:
                outcomes.append(apply_actions(
                    c, actions, xid_field=XID, batch_size=3,
                    journal=Journal(tmp_path / "j.json"),
                    progress=lambda a, s, m, n, t: notes.append(m)))
            assert duplicates(_read_through(server)) == {}
            if outcomes[-1].ok:
                break
        assert outcomes[-1].ok, outcomes[-1].failed
        # the faults were met: lost answers found done, or runs that had to be repeated
        assert len(outcomes) > 1 or any("lost answer" in m for m in notes)
        server.error_after_rate = server.drop_rate = 0.0
        assert_applied_state(read(server), role)
        assert Journal(tmp_path / "j.json").owed() == frozenset()
        server.app.reset_counts()
        with client_of(server) as c:
            again = apply_actions(c, actions, xid_field=XID, batch_size=3)
        assert again.ok and len(again.applied) == len(actions)
        assert server.requests == 1  # the read; every action already done
        assert sum(server.calls.values()) == len(list(_read_fields()))


def _read_fields() -> Iterator[str]:
    from beeplan.platforms.current.reader import _ops
    return (op.field for op in _ops())


def _read_through(server: CurrentSandboxServer) -> LiveAccount:
    """A read while faults are on (queries are retried)."""
    with client_of(server, retries=20) as c:
        return read_account(c, xid_field=XID)


@pytest.mark.slow
def test_sigterm_stops_after_the_documents_in_flight(server: CurrentSandboxServer,
                                                     tmp_path: Path) -> None:
    """A cancelled CI job: the document in flight finishes, nothing after it is sent, and
    the next apply adopts the creates that were never labelled."""
    role, old = prepare(server)
    sent: list[str] = []

    def term_at_the_second(name: str, size: int) -> None:
        sent.append(name)
        if len(sent) == 2:
            os.kill(os.getpid(), signal.SIGTERM)

    with client_of(server) as c:
        live = read_account(c, xid_field=XID)
        c.before_request = term_at_the_second
        outcome = apply_actions(c, account_actions(role, old), xid_field=XID, batch_size=50,
                                live=live, journal=Journal(tmp_path / "j.json"))
    assert outcome.interrupted and outcome.terminated and outcome.stopped == "interrupted"
    assert len(sent) == 2  # the second document went out (it was already sent), no third
    assert {a.id for a in outcome.applied} == {"field", "budget", "clients"}
    assert {a.id for a, _ in outcome.failed} == {"acme", "ann"}  # made, not yet labelled
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is put back
    server.app.reset_counts()
    with client_of(server) as c:
        again = apply_actions(c, account_actions(role, old), xid_field=XID, batch_size=50,
                              journal=Journal(tmp_path / "j.json"))
    assert again.ok
    assert server.calls["addPerson"] == 0 and server.calls["addProject"] == 1  # web only
    assert_applied_state(read(server), role)


def test_ctrl_c_raised_mid_layer_reports_the_unknown_as_failed(
        server: CurrentSandboxServer) -> None:
    """Where Ctrl-C arrives as an exception (here from the progress callback, while the
    first layer's answers are being recorded): nothing more is sent, the rest of that
    layer is failed as unknown, the later layers skipped, and only what the API
    confirmed is reported applied."""
    role, old = prepare(server)

    calls: list[str] = []

    def interrupt(action: Action, *_: Any) -> None:
        calls.append(action.id)
        if len(calls) == 1:
            raise KeyboardInterrupt

    with client_of(server) as c:
        live = read_account(c, xid_field=XID)
        server.app.reset_counts()
        outcome = apply_actions(c, account_actions(role, old), xid_field=XID, batch_size=50,
                                live=live, progress=interrupt)
    assert outcome.interrupted and not outcome.terminated
    assert outcome.stopped == "interrupted"
    assert server.requests == 1
    assert [a.id for a in outcome.applied] == ["field"]
    failed = {a.id: why for a, why in outcome.failed}
    assert set(failed) == {"budget", "clients"}
    assert failed["budget"].startswith("interrupted while it was being sent")
    assert all(why == "not started: interrupted" for _, why in outcome.skipped)
    assert len(outcome.skipped) == 6


KILLED_CHILD = """
import os, signal, sys
from pathlib import Path
from beeplan.localfiles.journal import Journal
from beeplan.platforms.current.apply import apply_actions
from beeplan.platforms.current.client import CurrentClient
from tests.current.test_apply import XID, account_actions
url, role, old, journal, kill_at = sys.argv[1:6]
sent = []
def kill(name, size):
    sent.append(name)
    if len(sent) == int(kill_at):  # no cleanup runs: as a kill -9 between two requests
        os.kill(os.getpid(), signal.SIGKILL)
with CurrentClient(url, os.environ["TOKEN"], before_request=kill) as c:
    apply_actions(c, account_actions(role, old), xid_field=XID, batch_size=2,
                  journal=Journal(Path(journal)))
"""


@pytest.mark.slow
@pytest.mark.parametrize("kill_at", [3, 4, 5, 6])
def test_a_killed_apply_is_finished_by_the_next_without_duplicates(
        server: CurrentSandboxServer, tmp_path: Path, kill_at: int) -> None:
    """SIGKILL before the Nth request of an apply (its read, then batches of 2): the next
    apply, with the same journal, finishes it; nothing is made twice."""
    import subprocess
    import sys

    role, old = prepare(server)
    journal = tmp_path / "j.json"
    child = subprocess.run(
        [sys.executable, "-c", KILLED_CHILD, server.url, role, old, str(journal),
         str(kill_at)], env={**os.environ, "TOKEN": server.token}, capture_output=True,
        timeout=120, check=False)
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()
    killed = read(server)
    assert duplicates(killed) == {}
    if kill_at == 5:  # killed before the labels of layer 1: the dangerous case
        assert [(n.name, n.xid) for n in killed.of_kind("project")] == [("Acme", None)]
        # acme and ann, made; web, about to be sent (a layer is journaled before its
        # first document goes out)
        assert len(Journal(journal).owed()) == 3
    with client_of(server) as c:
        outcome = apply_actions(c, account_actions(role, old), xid_field=XID, batch_size=2,
                                journal=Journal(journal))
    assert outcome.ok, outcome.failed
    assert_applied_state(read(server), role)
    assert Journal(journal).owed() == frozenset()


def test_every_mutation_document_it_builds_is_valid() -> None:
    ops = [mutation_op(a.service, {k: ("0" * 24 if isinstance(v, dict) else v)
                                   for k, v in a.payload.items()})
           for a in account_actions("0" * 24, "1" * 24)]
    ops.append(mutation_op("addCustomFieldValue", {
        "customFieldId": "0" * 24, "entityType": "Person", "entityId": "1" * 24,
        "textValue": "ann"}))
    ops += [mutation_op(s, {"id": "0" * 24}) for s in (
        "archiveProject", "archivePerson", "archiveTag", "archiveTask", "archiveRole")]
    assert check_document(build_document("mutation", ops).text) == []


def test_a_plan_naming_an_unknown_mutation_or_argument_is_refused() -> None:
    with pytest.raises(ValueError, match="addProjet is not a mutation"):
        mutation_op("addProjet", {"name": "x"})
    with pytest.raises(ValueError, match="takes no argument 'colour'"):
        mutation_op("addProject", {"name": "x", "colour": 3})
