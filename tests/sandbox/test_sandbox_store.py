"""The store: persistence, seed files, concurrency, and bugs answered without tracebacks."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest
import requests

from beeplan.errors import ConfigError, TransportError
from beeplan.platforms.v2.client import BeeboleClient
from beeplan.platforms.v2.sandbox.app import SERVICES
from beeplan.platforms.v2.sandbox.request import Req
from beeplan.platforms.v2.sandbox.server import SandboxServer
from beeplan.platforms.v2.sandbox.services import Service

SEED = """\
customFields:
  - {id: 11, name: Region, availableFor: [Company, Person]}
  - {name: Cost center, availableFor: "Project, Subproject"}
calls:
  - {service: company.create, company: {xid: acme, name: ACME Corp}}
  - {service: project.create, project: {xid: dev, name: Dev, company: {xid: acme}}}
  - {service: group.create, group: {xid: eng, name: Engineering}}
  - {service: project.add_group, xid: dev, group: {xid: eng}}
"""


def test_a_file_database_persists_with_its_token(tmp_path: Path) -> None:
    db = tmp_path / "persist.db"
    with SandboxServer(db) as server:
        token = server.token
        with BeeboleClient(server.url, server.token, ledger=False) as client:
            client.call("company.create", company={"xid": "acme", "name": "ACME"})
    with SandboxServer(db) as server:
        assert server.token == token
        with BeeboleClient(server.url, server.token, ledger=False) as client:
            assert client.call("company.get", xid="acme")["company"]["name"] == "ACME"


def test_new_databases_differ_in_token() -> None:
    with SandboxServer() as one, SandboxServer() as two:
        assert one.token != two.token and len(one.token) == 40


def test_seed_file(tmp_path: Path) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text(SEED)
    with SandboxServer(tmp_path / "seeded.db", seed_file=seed) as server, \
            BeeboleClient(server.url, server.token, ledger=False) as client:
        fields = client.call("custom_field.list")["customFields"]
        assert fields == [
            {"id": 11, "name": "Region", "availableFor": "Company, Person"},
            {"id": 12, "name": "Cost center", "availableFor": "Project, Subproject"},
        ]
        assert client.call("project.groups", xid="dev")["groups"][0]["xid"] == "eng"
        client.call("project.set_custom_field_value", xid="dev",
                    customField={"id": 12, "value": "R&D"})


def test_a_seed_is_applied_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text(SEED)
    db = tmp_path / "once.db"
    SandboxServer(db, seed_file=seed).stop()
    with caplog.at_level(logging.WARNING, logger="beeplan.sandbox"):
        with SandboxServer(db, seed_file=seed) as server, \
                BeeboleClient(server.url, server.token, ledger=False) as client:
            assert len(client.call("company.list")["companies"]) == 1
    assert "is not applied again" in caplog.text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("calls:\n  - {service: project.create, project: {name: P, company: {xid: nope}}}\n",
         'calls[0] failed: project.create: no company with xid "nope"'),
        ("customFields:\n  - {name: X, availableFor: [Planet]}\n", "unknown availableFor"),
        ("tokens: []\n", "unknown key 'tokens'"),
        ("[1, 2]\n", "must be a mapping"),
        ("customFields: [{name: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_seed_files(tmp_path: Path, text: str, message: str) -> None:
    seed = tmp_path / "bad.yaml"
    seed.write_text(text)
    db = tmp_path / "bad.db"
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("(", r"\(")):
        SandboxServer(db, seed_file=seed)
    assert not db.exists()  # no half-seeded database to be reused later


def test_concurrent_writes(sandbox: SandboxServer) -> None:
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            with BeeboleClient(sandbox.url, sandbox.token, ledger=False) as client:
                for i in range(10):
                    client.call("company.create", company={"xid": f"c{n}-{i}", "name": "C"})
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with BeeboleClient(sandbox.url, sandbox.token, ledger=False) as client:
        ids = [c["id"] for c in client.call("company.list")["companies"]]
    assert len(ids) == len(set(ids)) == 60


def test_a_sandbox_bug_is_a_json_500_without_traceback(monkeypatch: pytest.MonkeyPatch,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    def broken(req: Req) -> dict[str, object]:
        raise KeyError("a bug")

    monkeypatch.setitem(SERVICES, "company.list", Service("company.list", frozenset(), broken,
                                                          writes=False))
    with SandboxServer() as server:
        response = requests.post(server.url, data='{"service": "company.list"}',
                                 auth=(server.token, "x"), timeout=10)
        assert response.status_code == 500
        assert response.json()["status"] == "error"
        assert "Traceback" not in response.text and "KeyError" not in response.text
        with BeeboleClient(server.url, server.token, backoff=0.01, ledger=False) as client:
            with pytest.raises(TransportError):
                client.call("company.list")
        assert server.internal_errors == 1 + 1 + client.retries
    assert "internal error" in caplog.text  # logged server-side, for whoever runs it


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.txt"
    bogus.write_text("these are not the tables you are looking for\n" * 100)
    with pytest.raises(ConfigError, match="is not a usable sandbox database"):
        SandboxServer(bogus)
