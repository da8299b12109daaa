"""Fixtures: the current-platform sandbox over real HTTP, and a plain GraphQL poster.

No beeplan client exists yet for this platform: the tests talk to it with
``requests`` as any client of the real API would.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from beeplan.platforms.current.sandbox import CurrentSandboxServer
from beeplan.platforms.current.sandbox.seed import seed_demo


class Gql:
    """POSTs documents to one sandbox with its key; ``ids`` are the demo account's."""

    def __init__(self, server: CurrentSandboxServer, ids: dict[str, str]):
        self.server = server
        self.url = server.url
        self.ids = ids

    def post(self, query: str, variables: dict[str, Any] | None = None, *,
             key: str | None = None, **extra: Any) -> requests.Response:
        headers = {"apikey": self.server.token if key is None else key}
        body: dict[str, Any] = {"query": query, **extra}
        if variables is not None:
            body["variables"] = variables
        return requests.post(self.url, json=body, headers=headers, timeout=10)

    def __call__(self, query: str, **variables: Any) -> dict[str, Any]:
        """The answer's data; fails the test on any error."""
        answer = self.post(query, variables or None)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert "errors" not in body, body["errors"]
        return dict(body["data"])

    def errors(self, query: str, **variables: Any) -> list[str]:
        body = self.post(query, variables or None).json()
        assert body.get("errors"), body
        return [e["message"] for e in body["errors"]]


@pytest.fixture
def server() -> Iterator[CurrentSandboxServer]:
    with CurrentSandboxServer() as srv:
        yield srv


@pytest.fixture
def gql(server: CurrentSandboxServer) -> Gql:
    """A sandbox holding the demo account (every kind, nested trees, an archived project)."""
    return Gql(server, seed_demo(server.app))


@pytest.fixture
def current() -> Iterator[CurrentSandboxServer]:
    """An empty current-platform sandbox of its own (one per test)."""
    with CurrentSandboxServer() as server:
        yield server


@pytest.fixture
def crun(current: CurrentSandboxServer, monkeypatch: pytest.MonkeyPatch, cli_main):
    """``beeplan ARGS`` with the endpoint and key of this test's current sandbox."""
    monkeypatch.setenv("BEEBOLE_TOKEN", current.token)
    monkeypatch.setenv("BEEBOLE_ENDPOINT", current.url)
    return cli_main
