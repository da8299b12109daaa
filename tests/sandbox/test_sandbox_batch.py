"""The batch form a production integration sends: {"services": [...]} answered by an array."""

from __future__ import annotations

import json
from typing import Any

import requests

from beeplan.platforms.v2.client import BeeboleClient
from beeplan.platforms.v2.sandbox.server import SandboxServer


def post(sandbox: SandboxServer, doc: Any) -> requests.Response:
    return requests.post(sandbox.url, data=json.dumps(doc), auth=(sandbox.token, "x"),
                         headers={"Content-Type": "application/json"}, timeout=10)


def test_batch_answers_in_order_like_single_calls(
    sandbox: SandboxServer, client: BeeboleClient
) -> None:
    client.call("group.create", group={"name": "Eng", "xid": "eng"})
    single = [client.call("group.tree"), client.call("custom_field.list")]
    sandbox.reset_calls()
    response = post(sandbox, {"services": [{"service": "group.tree"},
                                           {"service": "custom_field.list"}]})
    assert response.status_code == 200
    answers = response.json()
    assert answers == single  # the same answers, in the order asked
    assert sandbox.calls == {"group.tree": 1, "custom_field.list": 1}


def test_each_element_counts_against_the_quota(sandbox: SandboxServer) -> None:
    sandbox.quota_requests = 3
    response = post(sandbox, {"services": [{"service": "company.list"}] * 2})
    assert response.status_code == 200 and len(response.json()) == 2
    # One request left: the first element is answered, the second gets the quota's error.
    response = post(sandbox, {"services": [{"service": "company.list"}] * 2})
    first, second = response.json()
    assert first["status"] == "ok"
    assert second["status"] == "error" and "quota reached" in second["message"]
    # Nothing left: the whole batch is refused like a single request.
    response = post(sandbox, {"services": [{"service": "company.list"}]})
    assert response.status_code == 429


def test_an_element_error_does_not_stop_the_others(sandbox: SandboxServer) -> None:
    response = post(sandbox, {"services": [
        {"service": "company.get", "id": 999},
        "not an object",
        {"service": "company.create", "company": {"name": "Acme", "xid": "acme"}},
        {"service": "company.get", "xid": "acme"},
    ]})
    missing, bad, created, got = response.json()
    assert missing["status"] == "error" and "999" in missing["message"]
    assert bad["status"] == "error" and "services[1]" in bad["message"]
    assert created["status"] == "ok"
    assert got["company"]["name"] == "Acme"  # elements run in order


def test_malformed_batches_are_one_error_answer(sandbox: SandboxServer) -> None:
    for doc in ({"services": []}, {"services": "group.tree"},
                {"services": [{"service": "group.tree"}], "extra": 1}):
        response = post(sandbox, doc)
        assert response.status_code == 200
        assert response.json()["status"] == "error"
    bad_token = requests.post(sandbox.url, data=json.dumps({"services": []}),
                              auth=("wrong", "x"), timeout=10)
    assert bad_token.status_code == 401
