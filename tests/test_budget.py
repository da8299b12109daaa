"""One client view (beeplan/budget.py): budgets, replay and retries over the real client."""

from __future__ import annotations

from typing import Any

import pytest

from beeplan.budget import BudgetSpent, ClientView
from beeplan.errors import QuotaError, TransportError
from beeplan.platforms.v2.client import BeeboleClient
from beeplan.platforms.v2.sandbox.server import SandboxServer


def test_a_budget_lets_through_exactly_its_calls_then_refuses_with_one_exception(
    client: BeeboleClient, sandbox: SandboxServer
) -> None:
    view = ClientView(client, max_calls=3)
    for _ in range(3):
        view.call("company.list")
    with pytest.raises(BudgetSpent, match="the --max-calls budget of 3 is spent") as refused:
        view.call("company.list")
    assert isinstance(refused.value, QuotaError)  # callers that stop at the quota stop here too
    assert sandbox.calls["company.list"] == 3  # the refused call never left
    assert view.spent == 3 and client.usage.total_requests == 3  # counted where the client counts
    with pytest.raises(BudgetSpent):
        view.check_reads(1)  # a fan-out that would pass it is refused before any call


def test_a_budget_counts_from_its_own_start_and_its_retries(
    client: BeeboleClient, sandbox: SandboxServer
) -> None:
    client.call("company.list")  # before the view: not its calls
    view = ClientView(client, max_calls=2)
    assert view.spent == 0
    sandbox.drop_rate = 1.0  # every read fails and is retried by the client
    with pytest.raises(TransportError):
        view.call("company.list")
    sandbox.drop_rate = 0.0
    assert view.spent == 1 + client.retries  # each attempt was a request
    with pytest.raises(BudgetSpent):
        view.call("company.list")


def test_per_use_retries_leave_the_shared_client_alone(
    client: BeeboleClient, sandbox: SandboxServer
) -> None:
    retries = client.retries
    assert retries > 0
    view = ClientView(client, retries=0)
    sandbox.drop_rate = 1.0
    with pytest.raises(TransportError):
        view.call("company.list")
    assert sandbox.calls["company.list"] == 1  # one attempt: this use's setting
    assert client.retries == retries  # never changed, not even for a while
    with pytest.raises(TransportError):
        client.call("company.list")
    sandbox.drop_rate = 0.0
    assert sandbox.calls["company.list"] == 2 + retries  # the client still retries


class _Kept:
    def __init__(self) -> None:
        self.answers: dict[str, dict[str, Any]] = {}

    def get(self, service: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        return self.answers.get(service + repr(sorted(payload.items())))

    def put(self, service: str, payload: dict[str, Any], answer: dict[str, Any]) -> None:
        self.answers[service + repr(sorted(payload.items()))] = answer


def test_replay_answers_known_calls_without_the_api_and_keeps_new_ones(
    client: BeeboleClient, sandbox: SandboxServer
) -> None:
    kept = _Kept()
    first = ClientView(client, replay=kept).call("company.list")
    again = ClientView(client, replay=kept).call("company.list")
    assert again == first
    assert sandbox.calls["company.list"] == 1  # the second run read nothing again


def test_read_to_the_quota_stops_every_later_call_after_the_first_refusal(
    client: BeeboleClient, sandbox: SandboxServer
) -> None:
    sandbox.quota_requests = 1  # the API refuses from the second call of the day
    view = ClientView(client, read_to_the_quota=True)
    view.check_reads(10_000)  # no stop before: the API is the judge of its quota
    view.call("company.list")
    with pytest.raises(QuotaError):
        view.call("task.list")
    asked = sum(sandbox.calls.values())
    with pytest.raises(QuotaError, match="an earlier call was refused"):
        view.call("person.list")
    assert sum(sandbox.calls.values()) == asked  # no call sent after the refusal
