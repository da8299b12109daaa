"""Both platforms' sandboxes on one port (`beeplan sandbox serve`), over one database file,
and the current platform's embedded sandbox (`--endpoint sandbox:FILE`).

Everything goes over real HTTP with the real clients: ``BeeboleClient`` for
/api/v2, ``CurrentClient`` for /graphql.
"""

from __future__ import annotations

import http.client
import json
import re
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from beeplan import platforms
from beeplan.cli.options import open_client
from beeplan.errors import AuthError, ConfigError
from beeplan.platforms.current.client import Arg, CurrentClient, Op
from beeplan.platforms.current.sandbox import CurrentSandboxServer
from beeplan.platforms.v2.client import BeeboleClient

ME = Op("currentPerson", select="id name")
ABSENCES = Op("getAbsenceTypes", select="name")
SENTINEL = "SENTINEL-joint-token-8c1e"


def add_absence(name: str) -> Op:
    return Op("addAbsenceType", (Arg("name", "BeeboleName!", name),), "id name")


@pytest.fixture
def serving(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[str, str, str]]:
    """`beeplan sandbox serve` as a real process: (API v2 URL, GraphQL URL, whole banner)."""
    args = getattr(request, "param", ("--db", "demo.db"))
    proc = subprocess.Popen([sys.executable, "-u", "-m", "beeplan", "sandbox", "serve", *args],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None
    banner = ""
    try:
        while not banner.endswith("Press Ctrl-C to stop.\n"):
            line = proc.stdout.readline()
            if not line:  # it exited: show why
                raise AssertionError(banner + proc.communicate(timeout=30)[1])
            banner += line
        v2 = re.search(r"http://127\.0\.0\.1:\d+/api/v2", banner)
        gql = re.search(r"http://127\.0\.0\.1:\d+/graphql", banner)
        assert v2 and gql, banner
        yield v2.group(0), gql.group(0), banner
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0 and "Sandbox stopped." in out, err
        assert "Traceback" not in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_serve_answers_both_platforms_on_one_port_with_one_token(
        serving: tuple[str, str, str], tmp_path: Path) -> None:
    v2_url, gql_url, banner = serving
    assert v2_url.rsplit("/", 2)[0] == gql_url.rsplit("/", 1)[0]  # one host and port
    assert banner.index(v2_url) < banner.index(gql_url)  # v2 first: scripts take the first
    token = (tmp_path / "demo.db.token").read_text().strip()
    assert token not in banner
    with BeeboleClient(v2_url, token, ledger=False) as v2:
        made = v2.call("company.create", company={"name": "Acme"})
        assert v2.call("company.get", id=made["id"])["company"]["name"] == "Acme"
    with CurrentClient(gql_url, token) as current:
        assert current.query([ME]).data["a0"]["name"] == "Sandbox Admin"
        [outcome] = current.mutate([add_absence("Vacation")])
        assert outcome.status == "done"
        assert current.query([ABSENCES]).data["a0"] == [{"name": "Vacation"}]
    # The same token on both; any other is refused on both, and named on neither.
    wrong = "f" * 40
    with BeeboleClient(v2_url, wrong, ledger=False) as v2, pytest.raises(AuthError) as v2_no:
        v2.call("company.list")
    with CurrentClient(gql_url, wrong) as current, pytest.raises(AuthError) as gql_no:
        current.query([ME])
    assert "APIKeyError:InvalidKey" in str(gql_no.value)
    assert wrong not in str(v2_no.value) + str(gql_no.value)
    # One file holds both accounts, side by side.
    db = sqlite3.connect(tmp_path / "demo.db")
    try:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master "
                                               "WHERE type = 'table'")}
    finally:
        db.close()
    assert {"entity", "current_entities", "sandbox_platforms"} <= tables


@pytest.mark.parametrize("serving", [("--db", ":memory:", "--token", SENTINEL,
                                      "--error-rate", "1", "--seed", "5")], indirect=True)
def test_serve_applies_the_given_token_and_the_fault_knobs_to_both(
        serving: tuple[str, str, str], tmp_path: Path) -> None:
    v2_url, gql_url, banner = serving
    assert SENTINEL not in banner
    v2 = requests.post(v2_url, data='{"service": "company.list"}', auth=(SENTINEL, "x"),
                       timeout=10)
    gql = requests.post(gql_url, json={"query": "{ currentPerson { id } }"},
                        headers={"apikey": SENTINEL}, timeout=10)
    # --error-rate 1: each, let in by the token, answers the injected 500 without the work.
    assert (v2.status_code, gql.status_code) == (500, 500)
    assert "injected fault" in v2.json()["message"]
    assert "injected fault" in gql.json()["errors"][0]["message"]
    # A wrong token is refused before any fault, on both.
    assert requests.post(v2_url, data='{"service": "company.list"}', auth=("no", "x"),
                         timeout=10).status_code == 401
    refused = requests.post(gql_url, json={"query": "{ currentPerson { id } }"},
                            headers={"apikey": "no"}, timeout=10).json()
    assert refused["errors"] == [{"message": "APIKeyError:InvalidKey"}]
    assert not list(tmp_path.iterdir())  # :memory: and --token: nothing written


def test_a_knob_set_on_the_joint_sandbox_is_set_on_both_platforms() -> None:
    joint = platforms.joint_sandbox(":memory:", shared={"latency_ms": 0, "seed": 1})
    with joint:
        joint.drop_rate = 0.25
        joint.error_after_rate = 0.5
        assert [(p.drop_rate, p.error_after_rate) for p in joint.parts] == [(0.25, 0.5)] * 2
        assert joint.drop_rate == 0.25
        with pytest.raises(AttributeError, match="no sandbox has the knob"):
            joint.knobs.no_such_knob = 1
        # Neither API answers a path of neither, and the answer says where they are.
        other = requests.post(joint.base_url + "/api/v3", data="{}", timeout=10)
        assert other.status_code == 404
        assert "POST /api/v2 or POST /graphql" in other.json()["message"]


def test_the_current_sandbox_keeps_a_connection_alive() -> None:
    with CurrentSandboxServer() as server:
        host, port = server.base_url.removeprefix("http://").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        try:
            names = []
            for name in ("First", "Second"):  # two requests, one connection
                body = json.dumps({"query": f'mutation {{ addAbsenceType(name: "{name}") '
                                            "{ name } }"})
                conn.request("POST", "/graphql", body=body,
                             headers={"apikey": server.token,
                                      "Content-Type": "application/json"})
                answer = conn.getresponse()
                assert answer.status == 200 and answer.getheader("Connection") != "close"
                names.append(json.loads(answer.read())["data"]["addAbsenceType"]["name"])
        finally:
            conn.close()
        assert names == ["First", "Second"]
        assert server.connections == 1
        # The real client's pooled session does the same.
        with CurrentClient(server.url, server.token) as client:
            for _ in range(3):
                client.query([ME])
        assert server.connections == 2


def test_the_embedded_sandbox_speaks_the_platform_the_manifests_are_written_for(
        tmp_path: Path) -> None:
    endpoint = f"sandbox:{tmp_path / 'rehearsal.db'}"
    with open_client(endpoint, None, written_for="current") as client:
        assert isinstance(client, CurrentClient)
        assert client.url.endswith("/graphql")
        [outcome] = client.mutate([add_absence("Vacation")])
        assert outcome.status == "done"
    # The same file, again: the account is kept.
    with open_client(endpoint, None, written_for="current") as client:
        assert client.query([ABSENCES]).data["a0"] == [{"name": "Vacation"}]
    # Manifests that say nothing (or v2) get API v2's sandbox over the same file.
    with open_client(endpoint, None) as client:
        assert isinstance(client, BeeboleClient)
        assert client.call("company.list")["companies"] == []
        custom_fields = client.call("custom_field.list")["customFields"]
        assert custom_fields  # a new v2 store gets its default definitions
    with open_client(endpoint, None, written_for="current") as client:
        assert client.query([ABSENCES]).data["a0"] == [{"name": "Vacation"}]


def test_the_embedded_current_sandbox_never_writes_to_another_programs_database(
        tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
    db.commit()
    db.close()
    before = path.read_bytes()
    with pytest.raises(ConfigError, match="not a beeplan sandbox"), \
            open_client(f"sandbox:{path}", None, written_for="current"):
        pass
    assert path.read_bytes() == before


def test_a_new_sandbox_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "current.db"
    with CurrentSandboxServer(path):
        pass
    assert path.stat().st_mode & 0o077 == 0


def test_both_platforms_write_to_one_file_at_once_without_an_error(tmp_path: Path) -> None:
    """Two SQLite connections on one file: each waits for the other's write lock."""
    joint = platforms.joint_sandbox(str(tmp_path / "both.db"))
    v2_part, current_part = joint.parts
    with joint:
        v2_url, gql_url = joint.url_of(v2_part), joint.url_of(current_part)

        def v2_writes(worker: int) -> int:
            with BeeboleClient(v2_url, joint.token, ledger=False) as client:
                for i in range(6):
                    client.call("company.create", company={"name": f"v2-{worker}-{i}"})
            return worker

        def current_writes(worker: int) -> int:
            with CurrentClient(gql_url, joint.token) as client:
                outcomes = client.mutate([add_absence(f"cur-{worker}-{i}") for i in range(6)])
            assert [o.status for o in outcomes] == ["done"] * 6
            return worker

        with ThreadPoolExecutor(max_workers=4) as pool:
            futures = [pool.submit(v2_writes, w) for w in range(2)]
            futures += [pool.submit(current_writes, w) for w in range(2)]
            assert sorted(f.result() for f in futures) == [0, 0, 1, 1]
        with BeeboleClient(v2_url, joint.token, ledger=False) as client:
            assert len(client.call("company.list")["companies"]) == 12
        with CurrentClient(gql_url, joint.token) as client:
            assert len(client.query([ABSENCES]).data["a0"]) == 12
        assert v2_part.internal_errors == 0 and current_part.internal_errors == 0
