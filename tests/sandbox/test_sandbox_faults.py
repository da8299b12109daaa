"""Authentication, quotas, injected faults and call counters, seen by the real client."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
import requests

from beeplan.errors import AuthError, QuotaError, TransportError
from beeplan.platforms.v2.client import BeeboleClient
from beeplan.platforms.v2.sandbox.server import SandboxServer


def companies(client: BeeboleClient) -> list[str]:
    return [c["name"] for c in client.call("company.list")["companies"]]


# -- authentication -------------------------------------------------------------------


def test_bad_token_is_401_and_not_retried(sandbox: SandboxServer) -> None:
    with BeeboleClient(sandbox.url, "not-the-token", backoff=0.01, ledger=False) as bad:
        with pytest.raises(AuthError) as caught:
            bad.call("company.list")
    assert caught.value.http_status == 401
    assert sandbox.calls["company.list"] == 1


@pytest.mark.parametrize("auth", [None, ("", "x"), ("x", "")])
def test_missing_or_empty_token_is_401_with_a_json_body(sandbox: SandboxServer,
                                                        auth: tuple[str, str] | None) -> None:
    response = requests.post(sandbox.url, data='{"service": "company.list"}', auth=auth,
                             timeout=10)
    assert response.status_code == 401
    assert response.json()["status"] == "error"


def test_garbled_authorization_header_is_401(sandbox: SandboxServer) -> None:
    for header in ("Basic !!!", "Bearer abc", "Basic", ""):
        response = requests.post(sandbox.url, data='{"service": "company.list"}',
                                 headers={"Authorization": header}, timeout=10)
        assert response.status_code == 401


def test_a_given_token_replaces_the_stored_one() -> None:
    with SandboxServer(token="chosen-token") as server:
        assert server.token == "chosen-token"
        with BeeboleClient(server.url, "chosen-token", ledger=False) as client:
            assert client.call("company.list")["companies"] == []


# -- quotas ------------------------------------------------------------------------------


def test_request_quota_then_a_new_day(sandbox: SandboxServer, client: BeeboleClient) -> None:
    sandbox.quota_requests = 3
    for _ in range(3):
        client.call("company.list")
    with pytest.raises(QuotaError, match="quota reached") as caught:
        client.call("company.list")
    assert caught.value.http_status == 429
    assert "4000" not in str(caught.value) and "3 requests per day" in str(caught.value)
    # Writes are refused too, and the refusal itself is not counted.
    with pytest.raises(QuotaError):
        client.call("company.create", company={"name": "late"})
    sandbox.advance_day()
    assert companies(client) == []


def test_transfer_quota(sandbox: SandboxServer, client: BeeboleClient) -> None:
    sandbox.quota_kb = 4
    name = "n" * 200
    with pytest.raises(QuotaError, match="4 KB transferred per day"):
        for i in range(100):
            client.call("company.create", company={"name": f"{name}{i}"})
    # Request + answer bytes: about 250 per create, so the quota stopped it near 4 KB.
    assert 10 <= sandbox.calls["company.create"] <= 20


def test_quota_usage_survives_a_restart(tmp_path: Path) -> None:
    db = str(tmp_path / "quota.db")
    with SandboxServer(db, quota_requests=2) as server:
        with BeeboleClient(server.url, server.token, ledger=False) as client:
            client.call("company.list")
            client.call("company.list")
    with SandboxServer(db, quota_requests=2) as server:
        with BeeboleClient(server.url, server.token, ledger=False) as client:
            with pytest.raises(QuotaError):
                client.call("company.list")


# -- injected faults -----------------------------------------------------------------------


def test_injected_500_on_reads_is_retried_then_raised(sandbox: SandboxServer,
                                                      client: BeeboleClient) -> None:
    sandbox.error_rate = 1.0
    with pytest.raises(TransportError, match="HTTP 500"):
        client.call("company.list")
    assert sandbox.calls["company.list"] == 1 + client.retries


def seed_failing_first_only(rate: float) -> int:
    """A seed whose first draw injects the fault and whose second does not."""
    for seed in range(10_000):
        rng = random.Random(seed)
        if rng.random() < rate <= rng.random():
            return seed
    raise AssertionError("no such seed")


def test_injected_500_on_a_read_is_retried_and_succeeds() -> None:
    with SandboxServer(error_rate=0.5, seed=seed_failing_first_only(0.5)) as server:
        with BeeboleClient(server.url, server.token, backoff=0.01, ledger=False) as client:
            assert client.call("company.list")["companies"] == []
        assert server.calls["company.list"] == 2


def test_injected_500_on_a_write_is_surfaced_at_once_and_nothing_is_done(
        sandbox: SandboxServer, client: BeeboleClient) -> None:
    sandbox.error_rate = 1.0
    with pytest.raises(TransportError, match="HTTP 500"):
        client.call("company.create", company={"name": "ACME"})
    assert sandbox.calls["company.create"] == 1
    sandbox.error_rate = 0.0
    assert companies(client) == []


def test_lost_answer_the_write_happened(sandbox: SandboxServer, client: BeeboleClient) -> None:
    sandbox.error_after_rate = 1.0
    with pytest.raises(TransportError):
        client.call("company.create", company={"xid": "acme", "name": "ACME"})
    assert sandbox.calls["company.create"] == 1
    sandbox.error_after_rate = 0.0
    # What an applier must do before retrying a create: check by xid.
    assert client.call("company.get", xid="acme")["company"]["name"] == "ACME"


def test_dropped_connection_is_a_transport_error_not_a_hang(sandbox: SandboxServer) -> None:
    with BeeboleClient(sandbox.url, sandbox.token, backoff=0.01, timeout=5,
                       ledger=False) as client:
        sandbox.drop_rate = 1.0
        started = time.monotonic()
        with pytest.raises(TransportError, match="connection failed or dropped"):
            client.call("company.list")
        assert sandbox.calls["company.list"] == 1 + client.retries  # reads are retried
        with pytest.raises(TransportError):
            client.call("company.create", company={"name": "ACME"})
        assert sandbox.calls["company.create"] == 1  # writes are not
        assert time.monotonic() - started < 3
        sandbox.drop_rate = 0.0
        assert companies(client) == []  # dropped before the work


def test_dropped_connection_seen_by_raw_requests(sandbox: SandboxServer) -> None:
    sandbox.drop_rate = 1.0
    with pytest.raises(requests.ConnectionError):
        requests.post(sandbox.url, data='{"service": "company.list"}',
                      auth=(sandbox.token, "x"), timeout=5)


def test_latency(sandbox: SandboxServer, client: BeeboleClient) -> None:
    sandbox.latency_ms = 150
    started = time.monotonic()
    client.call("company.list")
    assert time.monotonic() - started >= 0.15


def test_knobs_from_the_constructor() -> None:
    server = SandboxServer(latency_ms=5, error_rate=0.1, drop_rate=0.2, quota_requests=7,
                           quota_kb=9, seed=3)
    try:
        knobs = server.knobs
        assert (knobs.latency_ms, knobs.error_rate, knobs.drop_rate) == (5, 0.1, 0.2)
        assert (server.quota_requests, server.quota_kb) == (7, 9)
        server.error_rate = 0.4
        assert knobs.error_rate == 0.4
    finally:
        server.stop()


# -- counters ----------------------------------------------------------------------------------


def test_calls_count_every_request_including_errors(sandbox: SandboxServer,
                                                    client: BeeboleClient) -> None:
    client.call("company.list")
    with pytest.raises(Exception):  # noqa: B017 - any error answer
        client.call("company.get", id=42)
    requests.post(sandbox.url, data="{oops", auth=(sandbox.token, "x"), timeout=10)
    assert sandbox.calls == {"company.list": 1, "company.get": 1, "(invalid)": 1}
    sandbox.reset_calls()
    assert sandbox.calls == {}
    client.call("group.tree")
    assert sandbox.calls == {"group.tree": 1}


def test_the_client_and_the_sandbox_agree_on_counts(sandbox: SandboxServer,
                                                    client: BeeboleClient) -> None:
    for _ in range(3):
        client.call("company.list")
    client.call("group.tree")
    assert client.usage.requests == sandbox.calls
