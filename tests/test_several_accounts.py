"""docs/several-accounts.md runs as written, against two sandboxes standing for two accounts.

The page's YAML blocks that start with ``# common/...`` or ``# envs/...`` are
its files; its ``sh`` blocks are run line by line, ``BEEBOLE_TOKEN="$X_TOKEN"``
choosing the account (the sandbox's token and URL). A line followed by a
``# Error: ...`` comment must fail with that error and make no API call.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest

from beeplan.platforms.v2.client import BeeboleClient
from beeplan.platforms.v2.sandbox.server import SandboxServer

from .conftest import Run

PAGE = Path(__file__).resolve().parent.parent / "docs" / "several-accounts.md"
BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)


def blocks(kind: str) -> list[str]:
    return [m.group(2) for m in BLOCK.finditer(PAGE.read_text()) if m.group(1) == kind]


def steps() -> list[tuple[str, str]]:
    """(command line, expected error or '') in page order."""
    found: list[tuple[str, str]] = []
    for block in blocks("sh"):
        for line in block.splitlines():
            if line.startswith("# Error: "):
                command, _ = found[-1]
                found[-1] = (command, line[len("# Error: "):])
            elif line.strip():
                found.append((line, ""))
    return found


@pytest.fixture
def accounts() -> Iterator[dict[str, SandboxServer]]:
    with SandboxServer(":memory:", seed=1) as staging, SandboxServer(":memory:", seed=2) as prod:
        yield {"STAGING_TOKEN": staging, "PROD_TOKEN": prod}
        assert staging.internal_errors == 0 and prod.internal_errors == 0


def test_the_page_runs_as_written_and_a_staging_plan_is_refused_on_production(
    cli_main: Run, accounts: dict[str, SandboxServer], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BEEBOLE_TOKEN", raising=False)
    for block in blocks("yaml"):
        first = block.splitlines()[0]
        if first.startswith("# common/") or first.startswith("# envs/"):
            path = tmp_path / first[2:]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(block)
    assert (tmp_path / "envs" / "prod" / "acme.yaml").exists()
    ran = refused = 0
    for line, error in steps():
        argv = shlex.split(line)
        if argv[0] == "mkdir":
            (tmp_path / argv[-1]).mkdir(parents=True, exist_ok=True)
            continue
        account = None
        if argv[0].startswith("BEEBOLE_TOKEN="):
            account = accounts[argv.pop(0).split("=", 1)[1].strip("$")]
            monkeypatch.setenv("BEEBOLE_TOKEN", account.token)
            monkeypatch.setenv("BEEBOLE_ENDPOINT", account.url)
        assert argv[0] == "beeplan"
        before = {name: sum(s.calls.values()) for name, s in accounts.items()}
        code, out, err = cli_main(*argv[1:])
        ran += 1
        if error:
            refused += 1
            assert code == 1, f"{line}: expected a refusal, got {code}\n{out}{err}"
            assert f"Error: {error}" in err, line
            assert {n: sum(s.calls.values()) for n, s in accounts.items()} == before, line
        else:
            assert code == 0, f"{line}\n{out}{err}"
        monkeypatch.delenv("BEEBOLE_TOKEN", raising=False)
        monkeypatch.delenv("BEEBOLE_ENDPOINT", raising=False)
    assert ran == 9 and refused == 2
    staging, prod = accounts["STAGING_TOKEN"], accounts["PROD_TOKEN"]
    with BeeboleClient(staging.url, staging.token) as client:
        company = client.call("company.get", xid="acme")["company"]
        assert company["name"] == "ACME (staging)"
        projects = client.call("project.list", company={"xid": "acme"})["projects"]
        assert {p["xid"] for p in projects} == {"website", "internal", "load-tests"}
    with BeeboleClient(prod.url, prod.token) as client:
        company = client.call("company.get", xid="acme")["company"]
        assert company["name"] == "ACME"  # kept from common: prod does not write it
        projects = {p["xid"]: p for p in
                    client.call("project.list", company={"xid": "acme"})["projects"]}
        assert set(projects) == {"website", "internal"}  # no staging project on production
        assert projects["website"]["description"] == "The public site, production"
