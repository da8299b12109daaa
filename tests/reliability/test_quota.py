"""Quota: the API's daily limit reached mid-apply, and beeplan's own ledger.

- The sandbox's quota runs out mid-apply: scheduling stops, the output says
  what was applied, failed and skipped, the exit status is 1; the next day
  a re-run converges.
- A plan that needs more calls than today's quota has left (by beeplan's
  ledger, kept per token under BEEPLAN_CACHE_DIR) is refused before any
  write, unless ``--ignore-quota``; the ledger counts every call made.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from beeplan.platforms.v2.client import DAILY_REQUESTS, cache_dir, is_read, token_key, utc_today
from beeplan.platforms.v2.sandbox.server import SandboxServer

from .conftest import Run, figure
from .orgs import entity_count, medium_org, write_docs

REPORT = re.compile(r"Apply: (\d+) applied, (\d+) failed, (\d+) skipped")
PARALLELISM = 4


def small_org(tmp_path: Path) -> tuple[Path, int]:
    docs = medium_org(200, companies=2, people=30)
    return write_docs(tmp_path / "org", docs), entity_count(docs)


@contextmanager
def raw_session(sandbox: SandboxServer) -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.auth = (sandbox.token, "x")
        yield session


def spend(sandbox: SandboxServer, requests: int = 0, kb: int = 0) -> None:
    """Use up part of today's quota with raw requests, as another API client would."""
    with raw_session(sandbox) as session:
        for _ in range(requests):
            session.post(sandbox.url, data=b'{"service": "company.list"}', timeout=10)
        if kb:
            # An error answer still counts: the request body is what costs here.
            body = json.dumps({"service": "company.list", "padding": "x" * (kb * 1024)})
            answer = session.post(sandbox.url, data=body, timeout=10).json()
            assert answer["status"] == "error"


def writes_at(sandbox: SandboxServer) -> int:
    return sum(n for service, n in sandbox.calls.items() if not is_read(service))


@pytest.mark.parametrize("limit", ["requests", "kb"])
def test_quota_reached_mid_apply_stops_cleanly_then_converges_next_day(
    limit: str, beeplan: Run, tmp_path: Path
) -> None:
    manifests, _ = small_org(tmp_path)
    with SandboxServer(":memory:", seed=3) as sandbox:
        code, out, err = beeplan("plan", manifests, "--format", "json",
                                 "--endpoint", sandbox.url, token=sandbox.token)
        assert code == 0, err
        planned = len(json.loads(out)["actions"])
        reads = sum(sandbox.calls.values())
        # Another tool spent most of today's quota already.
        if limit == "requests":
            sandbox.quota_requests = 300
            spend(sandbox, requests=150)
        else:
            sandbox.quota_kb = 80
            spend(sandbox, kb=65)
        sandbox.reset_calls()

        code, out, err = beeplan("apply", manifests, "--auto-approve",
                                 "--parallelism", PARALLELISM, "--endpoint", sandbox.url)
        assert code == 1, out + err
        match = REPORT.search(err)
        assert match, err[-2000:]
        applied, failed, skipped = map(int, match.groups())
        assert applied + failed + skipped == planned
        assert 0 < applied < planned
        # Scheduling stopped at the first refusal: only the calls in flight were refused.
        assert 1 <= failed <= PARALLELISM
        assert writes_at(sandbox) == applied + failed
        assert "daily API quota reached" in err
        assert "reached (daily API quota reached" not in err  # said once, not twice
        assert "Re-run 'beeplan apply'" in err
        if limit == "requests":
            # Every request the server accepted was a read of this run or an applied write.
            assert applied == 300 - 150 - 2 * reads
        assert "Traceback" not in err

        # Still today: even reading is refused, with the same clear message.
        code, out, err = beeplan("plan", manifests, "--endpoint", sandbox.url)
        assert code == 1 and "daily API quota reached" in err and "Traceback" not in err

        sandbox.advance_day()
        code, out, err = beeplan("apply", manifests, "--auto-approve", "--endpoint", sandbox.url)
        assert code == 0, out + err
        sandbox.quota_requests, sandbox.quota_kb = 10**6, 10**6  # to check, not to test quotas
        code, out, err = beeplan("check", manifests, "--endpoint", sandbox.url)
        assert (code, out) == (0, ""), out + err
    figure(f"quota ({limit}): stopped after {applied} of {planned} applied, {failed} refused, "
           f"{skipped} skipped; converged the next day")


def ledger_path(token: str) -> Path:
    return cache_dir() / "quota" / f"{token_key(token)}.json"


def test_a_plan_beyond_todays_quota_is_refused_unless_ignore_quota(
    beeplan: Run, sandbox: SandboxServer, tmp_path: Path
) -> None:
    manifests, _ = small_org(tmp_path)
    spent = DAILY_REQUESTS - 50
    path = ledger_path(sandbox.token)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"day": utc_today(), "requests": spent, "bytes": 0}))

    code, out, err = beeplan("apply", manifests, "--auto-approve", "--endpoint", sandbox.url,
                             token=sandbox.token)
    assert code == 1
    assert re.search(r"the plan needs \d+ API calls but only \d+ are left in today's quota", err)
    assert "--ignore-quota" in err
    assert writes_at(sandbox) == 0  # refused before any write

    # The ledger is per token: another token's spend does not count against this one.
    other = ledger_path(sandbox.token + "-other")
    assert not other.exists()

    code, out, err = beeplan("apply", manifests, "--auto-approve", "--ignore-quota",
                             "--endpoint", sandbox.url)
    assert code == 0, out + err
    # The ledger counted every call beeplan made, reads and writes, refused run included.
    ledger = json.loads(path.read_text())
    assert ledger["day"] == utc_today()
    assert ledger["requests"] == spent + sum(sandbox.calls.values())
    assert sandbox.token not in path.read_text()

    # Over the quota now: the reads stop before they spend past it, with a clear message ...
    reads_before = sum(sandbox.calls.values())
    for command in (["plan"], ["apply", "--auto-approve"]):
        code, out, err = beeplan(*command, manifests, "--endpoint", sandbox.url)
        assert code == 1
        assert re.search(r"reading the account: \d+ more read calls are needed, about \d+ KB "
                         r".*only 0 of today's 4000 calls are left .*stopped before the first "
                         r"of them\. Re-run after 00:00 UTC", err)
        assert "Traceback" not in err
    assert sum(sandbox.calls.values()) == reads_before
    # ... unless --ignore-quota: then an empty plan needs no write.
    code, out, err = beeplan("apply", manifests, "--auto-approve", "--ignore-quota",
                             "--endpoint", sandbox.url)
    assert code == 0 and "No changes" in out
