"""The current-platform client over real HTTP against ``CurrentSandboxServer``.

No patching: every test sends real requests to the sandbox (or to a tiny
werkzeug server on loopback standing in for a proxy or a redirecting host).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from beeplan.errors import (
    AnswerError,
    ApiError,
    AuthError,
    ConfigError,
    EndpointError,
    TransportError,
)
from beeplan.platforms.current.client import (
    DONE,
    FAILED,
    NOT_SENT,
    UNKNOWN,
    Arg,
    Budget,
    BudgetError,
    CurrentClient,
    DocumentError,
    InactiveAccountError,
    Op,
    PermissionDeniedError,
)
from beeplan.platforms.current.sandbox import CurrentSandboxServer
from beeplan.platforms.current.sandbox.seed import seed_demo

NAME = "BeeboleName!"


def add_absence(name: str) -> Op:
    return Op("addAbsenceType", (Arg("name", NAME, name),), "id name")


def bad_edit() -> Op:
    """An edit of a role that does not exist: the API answers NotFound for its alias."""
    return Op("editRoleName", (Arg("id", "BeeboleId!", "0" * 24), Arg("name", NAME, "x")), "id")


ABSENCES = Op("getAbsenceTypes", select="name")


def absence_names(client: CurrentClient) -> list[str]:
    return [t["name"] for t in client.query([ABSENCES]).data["a0"]]


@pytest.fixture
def client(server: CurrentSandboxServer) -> Iterator[CurrentClient]:
    with CurrentClient(server.url, server.token, backoff=0.001) as c:
        yield c


def serve(app: Callable[..., Any]) -> Iterator[str]:
    """A tiny werkzeug server on 127.0.0.1 running ``app``; yields its base URL."""
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        thread.join(timeout=5)


# -- transport ------------------------------------------------------------------------------


def test_a_query_answers_by_alias_and_reuses_one_session(server: CurrentSandboxServer,
                                                        client: CurrentClient) -> None:
    for _ in range(3):
        answer = client.query([Op("currentPerson", select="id name")])
        assert answer.data["a0"]["id"] == server.person_id()
    assert len(client._sessions) == 1  # one connection pool for the run, not one per call


def test_base_endpoint_and_full_url_both_reach_graphql(server: CurrentSandboxServer) -> None:
    base = server.url.removesuffix("/graphql")
    for endpoint in (base, base + "/", server.url):
        with CurrentClient(endpoint, server.token) as c:
            assert c.url == server.url
            assert c.query([Op("currentPerson", select="id")]).data["a0"]["id"]


def test_plain_http_off_loopback_is_refused_before_any_request() -> None:
    with pytest.raises(ConfigError, match="refusing plain http"):
        CurrentClient("http://beebole.example.com", "k" * 40)


def test_credentials_in_the_endpoint_are_refused() -> None:
    with pytest.raises(ConfigError, match="must not carry credentials"):
        CurrentClient("https://user:pw@app.beebole.com", "k" * 40)


def test_a_redirect_is_an_error_naming_the_url_without_its_query(
        server: CurrentSandboxServer) -> None:
    target = f"{server.url}?apikey=LEAKME"

    @Request.application
    def redirect(request: Request) -> Response:
        return Response("", status=307, headers={"Location": target})

    for base in serve(redirect):
        with CurrentClient(base, server.token) as c, pytest.raises(EndpointError) as caught:
            c.query([Op("currentPerson", select="id")])
        message = str(caught.value)
        assert "redirects are never followed" in message
        assert server.url in message and "LEAKME" not in message
        assert "\n" not in message
        assert c.usage.total_requests == 1  # not retried: a redirect is not a lost answer
    assert server.requests == 0  # the redirect was not followed to the sandbox


def test_a_portal_page_is_not_an_answer(server: CurrentSandboxServer) -> None:
    @Request.application
    def portal(request: Request) -> Response:
        return Response("<html>Sign in to the Wi-Fi</html>", content_type="text/html")

    for base in serve(portal):
        with CurrentClient(base, server.token) as c, pytest.raises(AnswerError) as caught:
            c.query([Op("currentPerson", select="id")])
        assert "not JSON (text/html" in str(caught.value)
        assert c.usage.total_requests == 1  # a page is not retried: it would come again


def test_an_answer_of_another_shape_is_not_believed(server: CurrentSandboxServer) -> None:
    @Request.application
    def liar(request: Request) -> Response:
        return Response('{"data": {"a0": {"id": "x"}}}', content_type="application/json")

    for base in serve(liar):
        with CurrentClient(base, server.token) as c, pytest.raises(AnswerError) as caught:
            c.query([Op("currentPerson", select="id name")])
        assert "a0.name is missing from the answer" in str(caught.value)


def test_an_oversized_answer_is_refused(server: CurrentSandboxServer) -> None:
    seed_demo(server.app)
    with CurrentClient(server.url, server.token, max_answer_bytes=200) as c:
        with pytest.raises(AnswerError, match="over the 200 bytes limit"):
            c.query([Op("getPersons", select="id name email")])


# -- the API's refusals ---------------------------------------------------------------------


def test_a_wrong_key_is_an_auth_error_without_the_key(server: CurrentSandboxServer) -> None:
    wrong = "wrong-key-" + "z" * 30
    with CurrentClient(server.url, wrong) as c, pytest.raises(AuthError) as caught:
        c.query([Op("currentPerson", select="id")])
    assert "APIKeyError:InvalidKey" in str(caught.value)
    assert wrong not in str(caught.value) and wrong not in repr(c)


def test_an_inactive_account_is_a_clear_402(server: CurrentSandboxServer,
                                           client: CurrentClient) -> None:
    server.inactive = True
    with pytest.raises(InactiveAccountError) as caught:
        client.mutate([add_absence("Holiday")])
    assert caught.value.http_status == 402
    assert "AccountIsInactive" in str(caught.value)
    assert server.requests == 1  # not retried: the account will not come back by itself


def test_a_withheld_field_is_never_read_as_empty(server: CurrentSandboxServer,
                                                 client: CurrentClient) -> None:
    seed_demo(server.app)
    server.denied = {"BeebolePerson.email"}
    people = Op("getPersons", select="id name email")
    with pytest.raises(PermissionDeniedError) as caught:
        client.query([people])
    assert "email" in str(caught.value) and "BeebolePerson.email" in str(caught.value)
    answer = client.query([people], allow_denied=True)
    assert answer.data["a0"] and all("email" not in p for p in answer.data["a0"])
    assert "a0[0].email" in answer.denied
    assert answer.permissions == ("BeebolePerson.email",)


def test_a_withheld_root_field_is_not_an_empty_list(server: CurrentSandboxServer,
                                                    client: CurrentClient) -> None:
    seed_demo(server.app)
    server.denied = {"Query.getPersons"}
    answer = client.query([Op("getPersons", select="id"), Op("getProjects", select="id")],
                          allow_denied=True)
    assert "a0" not in answer.data and answer.denied == ("a0",)
    assert answer.data["a1"]  # the other alias is read as usual
    with pytest.raises(PermissionDeniedError):
        client.query([Op("getPersons", select="id")])


def test_a_failing_query_alias_names_the_alias(server: CurrentSandboxServer,
                                               client: CurrentClient) -> None:
    with pytest.raises(ApiError) as caught:
        client.query([Op("getProject", (Arg("id", "BeeboleId!", "0" * 24),), "id")])
    assert str(caught.value).startswith("GetProject: a0: ")


def test_a_document_the_api_refuses_runs_nothing(server: CurrentSandboxServer,
                                                 client: CurrentClient) -> None:
    with pytest.raises(DocumentError, match="refused the document"):
        client.mutate([add_absence("Holiday"), Op("noSuchMutation", select="id")])
    assert "Holiday" not in absence_names(client)


# -- batches --------------------------------------------------------------------------------


def test_a_failing_alias_in_the_middle_of_a_batch(server: CurrentSandboxServer,
                                                  client: CurrentClient) -> None:
    outcomes = client.mutate([add_absence("First"), bad_edit(), add_absence("Third")])
    assert [o.status for o in outcomes] == [DONE, FAILED, UNKNOWN]
    assert [o.alias for o in outcomes] == ["a0", "a1", "a2"]
    assert outcomes[1].error.startswith("a1: ") and "NotFound" in outcomes[1].error
    names = absence_names(client)
    # What "done" says was done, was; what "unknown" leaves to re-read, was not.
    assert "First" in names and "Third" not in names


def test_batches_are_sent_by_batch_size_and_a_failure_stops_only_its_own(
        server: CurrentSandboxServer) -> None:
    ops = [add_absence("A"), bad_edit(), add_absence("C"), add_absence("D"), add_absence("E")]
    with CurrentClient(server.url, server.token, batch_size=2) as c:
        outcomes = c.mutate(ops)
    assert server.requests == 3  # ceil(5 / 2) documents
    assert [o.status for o in outcomes] == [DONE, FAILED, DONE, DONE, DONE]
    assert [o.alias for o in outcomes] == ["a0", "a1", "a2", "a3", "a4"]
    assert outcomes[2].data["name"] == "C"  # a result per alias
    assert c.usage.requests == {"Batch": 1, "AddAbsenceType": 2}  # named by what they run


def test_a_batch_size_below_one_is_refused() -> None:
    with pytest.raises(ConfigError, match="batch size"):
        CurrentClient("http://127.0.0.1:1", "k" * 40, batch_size=0)


# -- faults: retries only where they cannot duplicate ----------------------------------------


def test_a_lost_answer_after_the_work_is_unknown_and_never_resent(
        server: CurrentSandboxServer, client: CurrentClient) -> None:
    server.error_after_rate = 1.0
    outcomes = client.mutate([add_absence("Holiday"), add_absence("Sick")])
    assert [o.status for o in outcomes] == [UNKNOWN, UNKNOWN]
    assert "HTTP 500" in outcomes[0].error
    assert server.calls["addAbsenceType"] == 2  # sent once: no blind retry
    server.error_after_rate = 0.0
    # The work was done: a re-read finds it, once each (the caller checks before re-creating).
    assert sorted(absence_names(client)).count("Holiday") == 1


def test_a_lost_answer_stops_the_later_documents(server: CurrentSandboxServer) -> None:
    server.error_rate = 1.0
    with CurrentClient(server.url, server.token, batch_size=1) as c:
        outcomes = c.mutate([add_absence("A"), add_absence("B")])
    assert [o.status for o in outcomes] == [UNKNOWN, NOT_SENT]
    assert server.requests == 1


def test_queries_are_retried_after_a_5xx(server: CurrentSandboxServer) -> None:
    server.error_rate = 1.0
    with CurrentClient(server.url, server.token, retries=3, backoff=0.001) as c:
        with pytest.raises(TransportError, match="HTTP 500"):
            c.query([ABSENCES])
    assert server.requests == 4  # the first try and three retries


def test_queries_survive_dropped_connections() -> None:
    with CurrentSandboxServer(seed=7, drop_rate=0.5) as server:
        with CurrentClient(server.url, server.token, retries=20, backoff=0.001) as c:
            for _ in range(5):
                assert c.query([Op("currentPerson", select="id")]).data["a0"]["id"]
        assert server.requests > 5  # some were dropped and retried


def test_a_dropped_mutation_is_unknown_not_retried() -> None:
    with CurrentSandboxServer(drop_rate=1.0) as server:
        with CurrentClient(server.url, server.token) as c:
            outcomes = c.mutate([add_absence("Holiday")])
        assert outcomes[0].status == UNKNOWN
        assert "connection failed or dropped" in outcomes[0].error
        assert server.requests == 1


# -- counting and budgets ---------------------------------------------------------------------


def test_requests_and_bytes_are_counted_per_operation_name(server: CurrentSandboxServer,
                                                           client: CurrentClient) -> None:
    client.query([Op("currentPerson", select="id")])
    client.query([ABSENCES])
    client.mutate([add_absence("A"), add_absence("B")])
    assert client.usage.requests == {"CurrentPerson": 1, "GetAbsenceTypes": 1,
                                     "AddAbsenceType": 1}
    assert client.usage.total_requests == server.requests == 3
    assert client.usage.total_bytes == server.bytes  # request and answer bodies, both sides


def test_a_request_budget_stops_before_the_request(server: CurrentSandboxServer) -> None:
    with CurrentClient(server.url, server.token, budget=Budget(requests=2)) as c:
        c.query([ABSENCES])
        c.query([ABSENCES])
        with pytest.raises(BudgetError, match="budget of 2 requests"):
            c.mutate([add_absence("A")])
    assert server.requests == 2


def test_a_byte_budget_stops_before_the_request(server: CurrentSandboxServer) -> None:
    with CurrentClient(server.url, server.token, budget=Budget(bytes=300)) as c:
        with pytest.raises(BudgetError, match="would pass the run's budget of 300 bytes"):
            c.mutate([add_absence("x" * 150), add_absence("y" * 150)])
    assert server.requests == 0


def test_the_hook_sees_each_request_first_and_may_stop_it(server: CurrentSandboxServer) -> None:
    seen: list[tuple[str, int]] = []

    def hook(name: str, size: int) -> None:
        seen.append((name, size))
        if len(seen) > 1:
            raise BudgetError(name, "the caller's budget is spent")

    with CurrentClient(server.url, server.token, before_request=hook) as c:
        c.query([ABSENCES])
        with pytest.raises(BudgetError):
            c.query([ABSENCES])
    assert [n for n, _ in seen] == ["GetAbsenceTypes", "GetAbsenceTypes"]
    assert seen[0][1] > 0 and server.requests == 1


# -- the key ----------------------------------------------------------------------------------


def test_the_key_never_appears_in_errors_logs_or_repr(caplog: pytest.LogCaptureFixture) -> None:
    key = "SECRETKEY" + "q" * 31
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    with CurrentSandboxServer(token=key) as server:
        with CurrentClient(server.url, key, retries=1, backoff=0.001) as c:
            texts.append(repr(c))
            for knob, value in (("error_rate", 1.0), ("drop_rate", 1.0), ("inactive", True),
                                ("denied", {"Query.getAbsenceTypes"})):
                setattr(server, knob, value)
                for call in (lambda: c.query([ABSENCES]),
                             lambda: c.mutate([add_absence("A"), bad_edit()])):
                    try:
                        texts.append(repr(call()))
                    except Exception as exc:
                        texts.append(str(exc))
                        texts.append(repr(exc))
                setattr(server, knob, type(value)())
        with CurrentClient(server.url, key + "x") as wrong, pytest.raises(AuthError) as caught:
            wrong.query([ABSENCES])
        texts.append(str(caught.value))
    assert len(texts) > 8
    for text in [*texts, caplog.text]:
        assert "SECRETKEY" not in text


def test_a_withheld_mutation_is_never_reported_done(server: CurrentSandboxServer,
                                                    client: CurrentClient) -> None:
    server.denied = {"Mutation.addAbsenceType"}
    outcomes = client.mutate([add_absence("Holiday"), Op(
        "addTagCategory", (Arg("name", NAME, "Teams"),), "id")])
    assert [o.status for o in outcomes] == [UNKNOWN, DONE]
    assert "Mutation.addAbsenceType" in outcomes[0].error
    server.denied = set()
    assert "Holiday" not in absence_names(client)


def test_a_withheld_field_of_a_done_mutation_is_named(server: CurrentSandboxServer,
                                                      client: CurrentClient) -> None:
    server.denied = {"BeeboleAbsenceType.name"}
    outcome, = client.mutate([add_absence("Holiday")])
    assert outcome.status == DONE and "name" not in outcome.data and outcome.data["id"]
    assert "may not read a0.name" in outcome.error


def test_a_budget_stop_mid_batch_keeps_what_was_done(server: CurrentSandboxServer) -> None:
    with CurrentClient(server.url, server.token, batch_size=1, budget=Budget(requests=1)) as c:
        with pytest.raises(BudgetError) as caught:
            c.mutate([add_absence("A"), add_absence("B")])
    done = caught.value.outcomes  # type: ignore[attr-defined]
    assert [(o.alias, o.status) for o in done] == [("a0", DONE)]
    assert server.requests == 1
