"""Shared fixtures: a live sandbox over real HTTP and a real client talking to it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from beeplan.client import BeeboleClient
from beeplan.sandbox.server import SandboxServer


@pytest.fixture(autouse=True)
def _cache_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Tests never write to the user's ~/.cache (the quota ledger lives there)."""
    path = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("BEEPLAN_CACHE_DIR", str(path))
    return path


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    """A fresh, empty sandbox (default custom fields only) on a free loopback port."""
    with SandboxServer(":memory:", seed=1234) as server:
        yield server
        # An HTTP 500 that no knob injected is a sandbox bug, whatever the test checked.
        assert server.internal_errors == 0, "the sandbox hit an internal error; see the log"


@pytest.fixture
def client(sandbox: SandboxServer) -> Iterator[BeeboleClient]:
    """The real client on the sandbox, with short retry backoff to keep tests fast."""
    with BeeboleClient(sandbox.url, sandbox.token, backoff=0.01, timeout=10) as c:
        yield c
