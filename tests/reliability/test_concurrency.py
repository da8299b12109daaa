"""Concurrency: two teams apply different manifests to one account at the same time.

Team A and team B each own an organisation (prefixed ``a-`` / ``b-``) and
declare a few shared entities:
- ``boss`` (a person) and ``shared-co`` (a company) in identical terms: both
  applies race to create them; B's people name ``boss`` as their leader;
- ``shared-co``: A manages its custom fields, B its groups (no conflict);
- genuine conflicts: group ``ops`` is "Operations" for A and "Ops" for B;
  project ``shared-pr`` is managed by ``boss`` for A, by ``boss`` and
  ``b-p0`` for B.

Whatever the interleaving, no entity is duplicated, and after one re-run of A
then one of B, B's plan is empty and A's plan is exactly the genuine conflict.
A saved plan made stale by the other team's apply is refused; one the other
team's apply did not touch is applied.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from beeplan.platforms.v2.client import BeeboleClient, is_read
from beeplan.platforms.v2.sandbox.server import SandboxServer

from .conftest import Run, figure
from .orgs import Docs, duplicates, entity_count, inventory, medium_org, write_docs
from .procs import beeplan_process, output_of, wait_until

SHARED_A: dict[str, Any] = {
    "groups": [{"xid": "ops", "name": "Operations"}],
    "companies": [
        {
            "xid": "shared-co",
            "name": "Shared Co",
            "customFields": {"Industry": "Energy"},
            "projects": [{"xid": "shared-pr", "name": "Shared project", "managers": ["boss"]}],
        }
    ],
    "people": [{"xid": "boss", "name": "The Boss", "company": "shared-co", "userGroup": "leader"}],
}
SHARED_B: dict[str, Any] = {
    "groups": [{"xid": "ops", "name": "Ops"}],
    "companies": [
        {
            "xid": "shared-co",
            "name": "Shared Co",
            "groups": ["ops"],
            "projects": [
                {"xid": "shared-pr", "name": "Shared project", "managers": ["boss", "b-p0"]}
            ],
        }
    ],
    "people": [{"xid": "boss", "name": "The Boss", "company": "shared-co", "userGroup": "leader"}],
}
# Exactly what A still wants once B has applied last: the two genuine conflicts.
CONFLICT = [
    ("group.update", "ops", {"name": ("Ops", "Operations")}),
    ("project.detach_manager", "shared-pr", None),
]


def team(tmp_path: Path, name: str, seed: int, shared: dict[str, Any]) -> tuple[Path, Docs]:
    docs = medium_org(seed, companies=2, people=25, prefix=f"{name}-")
    if name == "b":
        for person in docs["people.yaml"]["people"][:5]:
            person["leaders"] = ["boss"]  # references an entity both teams create
    docs["shared.yaml"] = shared
    return write_docs(tmp_path / name, docs), docs


def writes(sandbox: SandboxServer) -> int:
    return sum(n for service, n in sandbox.calls.items() if not is_read(service))


def plan_actions(beeplan: Run, manifests: Path, url: str) -> list[tuple[str, str, Any]]:
    code, out, err = beeplan("plan", manifests, "--format", "json", "--endpoint", url)
    assert code == 0, err
    actions = []
    for action in json.loads(out)["actions"]:
        target = action["target"].get("xid")
        changes = None
        if action["service"].endswith(".update"):
            changes = {c["field"]: (c["before"], c["after"]) for c in action["changes"]}
        actions.append((action["service"], target, changes))
    return actions


@pytest.mark.slow
@pytest.mark.parametrize("head_start", [0, 10, 30])
def test_two_applies_at_once_converge_to_the_genuine_conflict(
    head_start: int, beeplan: Run, tmp_path: Path
) -> None:
    a_dir, a_docs = team(tmp_path, "a", 11, SHARED_A)
    b_dir, b_docs = team(tmp_path, "b", 12, SHARED_B)
    shared = 4  # ops, shared-co, shared-pr, boss: declared by both teams
    declared = entity_count(a_docs) + entity_count(b_docs) - shared
    with SandboxServer(":memory:", seed=5, latency_ms=10) as sandbox:
        env = {"BEEBOLE_TOKEN": sandbox.token}

        def b_progress() -> str:
            return (tmp_path / "run-b" / "err.txt").read_text(errors="replace")

        args = ["--auto-approve", "--parallelism", 2, "--endpoint", sandbox.url]
        with beeplan_process(["apply", a_dir, *args], tmp_path / "run-a", env) as run_a:
            # B starts once A has made head_start writes (about 260 in all).
            assert wait_until(lambda: writes(sandbox) >= head_start, 30)
            with beeplan_process(["apply", b_dir, *args], tmp_path / "run-b", env) as run_b:
                # They really run at once: B reports writes while A is still running. A
                # slower API while B starts keeps A's rest of the work longer than B's
                # start-up on a loaded machine (which once took longer than all of A's).
                sandbox.latency_ms = 60
                overlap = wait_until(
                    lambda: run_a.poll() is None and "] applied" in b_progress(), 60, 0.005
                )
                sandbox.latency_ms = 10
                codes = run_a.wait(timeout=120), run_b.wait(timeout=120)
        assert overlap or head_start == 0 and codes[1] == 1  # (B may fail before any write)
        outputs = [output_of(tmp_path / "run-a"), output_of(tmp_path / "run-b")]
        for code, (_out, err) in zip(codes, outputs, strict=True):
            # Each finished, or failed saying what was applied: never a crash.
            assert code in (0, 1), err[-3000:]
            assert "Traceback" not in err
            if code == 1:
                assert "Apply: " in err and "Re-run 'beeplan apply'" in err, err[-3000:]
        lost_races = sum("already exists" in err for _, err in outputs)

        with BeeboleClient(sandbox.url, sandbox.token, ledger=False) as client:
            assert duplicates(inventory(client)) == []

        sandbox.latency_ms = 0
        code, out, err = beeplan("apply", a_dir, "--auto-approve", "--endpoint", sandbox.url,
                                 token=sandbox.token)
        assert code == 0, err[-3000:]
        code, out, err = beeplan("apply", b_dir, "--auto-approve", "--endpoint", sandbox.url)
        assert code == 0, err[-3000:]

        assert plan_actions(beeplan, b_dir, sandbox.url) == []
        assert plan_actions(beeplan, a_dir, sandbox.url) == CONFLICT
        with BeeboleClient(sandbox.url, sandbox.token, ledger=False) as client:
            live = inventory(client)
            # The agreed parts of the shared entities hold both teams' wishes.
            fields = client.call("company.custom_fields", xid="shared-co")["customFields"]
            assert {f["name"]: f.get("value") for f in fields}["Industry"] == "Energy"
            groups = client.call("company.groups", xid="shared-co")["groups"]
            assert [g["xid"] for g in groups] == ["ops"]
            leaders = client.call("person.leaders", xid="b-p0")["leaders"]
            assert [p["xid"] for p in leaders] == ["boss"]
        assert duplicates(live) == []
        assert len(live) == declared
        assert sandbox.internal_errors == 0
    figure(
        f"concurrency (B started after {head_start} writes of A): exits {codes}, "
        f"{lost_races} lost create race(s); "
        f"after a re-run of each: B's plan empty, A's plan = the 2 genuine conflicts; "
        f"{declared} entities, 0 duplicates"
    )


@pytest.mark.slow  # two teams, each a process
def test_a_saved_plan_made_stale_by_the_other_team_is_refused(
    beeplan: Run, sandbox: SandboxServer, tmp_path: Path
) -> None:
    """Staleness is per entity the plan touches: refused when the other team changed
    one of them since the plan was made, applied when it changed others."""
    # This time the teams agree on the shared entities.
    agreed = json.loads(json.dumps(SHARED_B))
    agreed["groups"][0]["name"] = "Operations"
    agreed["companies"][0]["projects"][0]["managers"] = ["boss"]
    a_dir, a_docs = team(tmp_path, "a", 11, SHARED_A)
    b_dir, b_docs = team(tmp_path, "b", 12, agreed)
    url = sandbox.url
    for manifests in (a_dir, b_dir):
        code, out, err = beeplan("apply", manifests, "--auto-approve", "--endpoint", url,
                                 token=sandbox.token)
        assert code == 0, err[-3000:]
    assert plan_actions(beeplan, a_dir, url) == []

    # A renames the shared group and one of its people, and saves the plan.
    a_docs["shared.yaml"]["groups"][0]["name"] = "Operations dept"
    a_docs["people.yaml"]["people"][0]["name"] = "Renamed by A"
    write_docs(a_dir, a_docs)
    plan_file = tmp_path / "a-plan.json"
    assert beeplan("plan", a_dir, "-o", plan_file, "--endpoint", url)[0] == 0
    # Meanwhile B renames the shared group too.
    b_docs["shared.yaml"]["groups"][0]["name"] = "Ops team"
    write_docs(b_dir, b_docs)
    assert beeplan("apply", b_dir, "--auto-approve", "--endpoint", url)[0] == 0

    sandbox.reset_calls()
    code, out, err = beeplan("apply", plan_file, "--auto-approve", "--endpoint", url)
    assert code == 1
    assert "stale: 1 entity changed" in err and "group:ops" in err
    assert [s for s in sandbox.calls if not is_read(s)] == []  # nothing written
    with BeeboleClient(url, sandbox.token, ledger=False) as client:
        assert client.call("group.get", xid="ops")["group"]["name"] == "Ops team"

    # A plans again; B now changes only its own people: A's saved plan is still good.
    assert beeplan("plan", a_dir, "-o", plan_file, "--endpoint", url)[0] == 0
    b_docs["people.yaml"]["people"][0]["name"] = "Renamed by B"
    write_docs(b_dir, b_docs)
    code, out, err = beeplan("apply", b_dir, "--auto-approve", "--endpoint", url)
    assert code == 0 and "1 applied" in out, out + err
    code, out, err = beeplan("apply", plan_file, "--auto-approve", "--endpoint", url)
    assert code == 0, err
    assert "2 applied" in out
    with BeeboleClient(url, sandbox.token, ledger=False) as client:
        assert client.call("group.get", xid="ops")["group"]["name"] == "Operations dept"
        assert client.call("person.get", xid="a-p0")["person"]["name"] == "Renamed by A"
        assert client.call("person.get", xid="b-p0")["person"]["name"] == "Renamed by B"

