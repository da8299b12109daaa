"""The token never shows: not in exceptions, reprs, log records, output or cache files."""

from __future__ import annotations

import base64
import logging
from pathlib import Path

import pytest

from beeplan.errors import BeeplanError
from beeplan.platforms.v2.client import BeeboleClient
from beeplan.platforms.v2.sandbox.server import SandboxServer

SENTINEL = "SENTINEL-7c1f0e9a-token-do-not-leak"
FORMS = (SENTINEL, base64.b64encode(f"{SENTINEL}:x".encode()).decode(), SENTINEL[9:25])


def test_the_token_never_leaks(caplog: pytest.LogCaptureFixture,
                               capsys: pytest.CaptureFixture[str], _cache_dir: Path) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, urllib3's included
    caplog.set_level(logging.DEBUG, logger="beeplan")
    seen: list[str] = []

    def attempt(client: BeeboleClient, service: str, **payload: object) -> None:
        try:
            seen.append(repr(client.call(service, **payload)))
        except BeeplanError as exc:
            seen.extend([str(exc), repr(exc), repr(exc.args), repr(vars(exc))])

    with SandboxServer(token=SENTINEL, seed=1) as server, \
            BeeboleClient(server.url, SENTINEL, backoff=0.01, timeout=5) as client:
        seen.extend([repr(server), repr(client), repr(server.app), server.url])
        attempt(client, "company.create", company={"xid": "acme", "name": "ACME"})
        attempt(client, "company.get", xid="nope")  # error answer
        attempt(client, "compny.list")  # unknown service
        attempt(client, "company.create", company={"name": SENTINEL[:5]})
        server.error_rate = 1.0
        attempt(client, "company.list")  # retried reads, then TransportError
        server.error_rate = 0.0
        server.drop_rate = 1.0
        attempt(client, "company.create", company={"name": "dropped"})
        server.drop_rate = 0.0
        server.quota_requests = 1
        attempt(client, "company.list")  # QuotaError
    with SandboxServer(token="another-token") as other, \
            BeeboleClient(other.url, SENTINEL, backoff=0.01) as client:
        attempt(client, "company.list")  # AuthError (401)

    out, err = capsys.readouterr()
    texts = [*seen, out, err, caplog.text]
    for record in caplog.records:
        texts.append(record.getMessage())
        texts.append(repr(record.args))
    files = [p for p in _cache_dir.rglob("*") if p.is_file()]
    assert files, "the quota ledger should have been written under the cache dir"
    texts.extend(p.read_text(encoding="utf-8", errors="replace") for p in files)
    texts.extend(str(p) for p in files)
    assert any("AuthError" in t for t in seen) and any("TransportError" in t for t in seen)
    assert any("QuotaError" in t for t in seen)
    for text in texts:
        for form in FORMS:
            assert form not in text
