"""Import: live account -> manifests, and back to an empty plan."""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import pytest

from beeplan.platforms.v2.client import BeeboleClient
from beeplan.platforms.v2.sandbox.server import SandboxServer

from .conftest import Run
from .test_cli_e2e import ACME
from .test_reconcile import build_base, custom_field_id


def read_dir(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.iterdir())}


def build_varied(client: BeeboleClient) -> None:
    """BASE plus what import must take care with: no xids, inactive, deep groups."""
    build_base(client)
    call = client.call
    legacy = call("company.create", company={"name": "Legacy (no xid)", "corporate": True})["id"]
    proj = call(
        "project.create",
        project={
            "name": "Old project",
            "company": {"id": legacy},
            "description": "line one\nline two: with colon",
        },
    )["id"]
    call("subproject.create", subproject={"name": "Old sub", "project": {"id": proj}})
    nx = call(
        "person.create",
        person={"name": "No Xid", "company": {"id": legacy}, "email": "no.xid@example.com"},
    )["id"]
    call("project.attach_manager", id=proj, person={"id": nx})
    call("person.update", person={"xid": "li", "name": "Li Wei", "leaders": [{"id": nx}]})
    deep = call("group.create", group={"name": "Texas", "parent": {"xid": "us"}})["id"]
    call("group.create", group={"xid": "austin", "name": "Austin", "parent": {"id": deep}})
    call("person.add_group", id=nx, group={"id": deep})
    gone = call(
        "person.create", person={"xid": "gone", "name": "Gone", "company": {"xid": "acme"}}
    )["id"]
    call("project.attach_member", xid="acme-dev", person={"id": gone})
    call("person.deactivate", id=gone)
    call(
        "project.create",
        project={"xid": "archived", "name": "Archived", "company": {"xid": "globex"}},
    )
    call("project.deactivate", xid="archived")
    call("company.disable_specific_tasks", xid="globex")
    call(
        "person.set_custom_field_value",
        xid="rosa",
        customField={"id": custom_field_id(client, "location"), "value": 'Quote "this", yes'},
    )
    call("absence.create", absence={"name": "Unicode ☃ – naïve", "company": {"id": legacy}})


def build_random(client: BeeboleClient, seed: int) -> None:
    """A seeded random account, built with raw calls, every kind and relation."""
    rng = random.Random(seed)
    call = client.call
    location = custom_field_id(client, "location")
    industry = custom_field_id(client, "Industry")

    def maybe_xid(prefix: str, n: int) -> dict[str, Any]:
        return {"xid": f"{prefix}{n}"} if rng.random() < 0.7 else {}

    groups: list[int] = []
    for n in range(rng.randint(2, 8)):
        parent = {"parent": {"id": rng.choice(groups)}} if groups and rng.random() < 0.6 else {}
        groups.append(
            call("group.create", group={"name": f"G{n}", **maybe_xid("g", n), **parent})["id"]
        )
    companies, projects, people, tasks = [], [], [], []
    for c in range(rng.randint(1, 4)):
        cid = call(
            "company.create",
            company={"name": f"Company {c}", **maybe_xid("c", c), "corporate": rng.random() < 0.5},
        )["id"]
        companies.append(cid)
        if rng.random() < 0.5:
            call(
                "company.set_custom_field_value",
                id=cid,
                customField={"id": industry, "value": rng.choice(["Energy", "Retail"])},
            )
        for t in range(rng.randint(0, 3)):
            tasks.append(
                call(
                    "task.create",
                    task={
                        "name": f"Task {c}.{t}",
                        "company": {"id": cid},
                        **maybe_xid(f"t{c}.", t),
                    },
                )["id"]
            )
        for p in range(rng.randint(0, 4)):
            pid = call(
                "project.create",
                project={
                    "name": f"Project {c}.{p}",
                    "company": {"id": cid},
                    **maybe_xid(f"p{c}.", p),
                },
            )["id"]
            projects.append(pid)
            for s in range(rng.randint(0, 3)):
                call(
                    "subproject.create",
                    subproject={
                        "name": f"Sub {s}",
                        "project": {"id": pid},
                        **maybe_xid(f"s{c}.{p}.", s),
                    },
                )
        for n in range(rng.randint(1, 6)):
            leaders = [{"id": rng.choice(people)}] if people and rng.random() < 0.5 else []
            pid = call(
                "person.create",
                person={
                    "name": f"Person {c}.{n}",
                    "company": {"id": cid},
                    **maybe_xid(f"u{c}.", n),
                    "userGroup": rng.choice(["employee", "pm", "leader", "admin", "contractor"]),
                    "leaders": leaders,
                },
            )["id"]
            people.append(pid)
            if rng.random() < 0.5:
                call(
                    "person.set_custom_field_value",
                    id=pid,
                    customField={"id": location, "value": rng.choice(["Paris", "Remote"])},
                )
            if rng.random() < 0.15:
                call("person.deactivate", id=pid)
        call(
            "absence.create",
            absence={"name": f"Leave {c}", "company": {"id": cid}, **maybe_xid("a", c)},
        )
    for pid in projects:
        if people and rng.random() < 0.6:
            call("project.attach_manager", id=pid, person={"id": rng.choice(people)})
        if people and rng.random() < 0.3:
            call("project.attach_member", id=pid, person={"id": rng.choice(people)})
        if groups and rng.random() < 0.3:
            call("project.attach_member", id=pid, group={"id": rng.choice(groups)})
        if tasks and rng.random() < 0.3:
            call("project.attach_specific_task", id=pid, task={"id": rng.choice(tasks)})
        if rng.random() < 0.2:
            call("project.disable_specific_tasks", id=pid)
        if rng.random() < 0.15:
            call("project.deactivate", id=pid)
    for pid in people:
        for gid in rng.sample(groups, k=min(len(groups), rng.randint(0, 2))):
            call("person.add_group", id=pid, group={"id": gid})


def build_acme(run: Run) -> None:
    code, _, err = run("apply", ACME, "--auto-approve")
    assert code == 0, err


def imported_calls(out: str) -> int:
    match = re.search(r"(\d+) API calls", out)
    assert match, out
    return int(match.group(1))


@pytest.mark.parametrize("shape", ["varied", "acme", "random-1", "random-2", "random-3"])
@pytest.mark.parametrize("inactive", [False, True], ids=["active-only", "include-inactive"])
def test_round_trip(
    shape: str,
    inactive: bool,
    run: Run,
    client: BeeboleClient,
    sandbox: SandboxServer,
    tmp_path: Path,
) -> None:
    if shape == "varied":
        build_varied(client)
    elif shape == "acme":
        build_acme(run)
    else:
        build_random(client, seed=int(shape.split("-")[1]))
    first, second = tmp_path / "first", tmp_path / "second"
    extra = ["--include-inactive"] if inactive else []

    sandbox.reset_calls()
    code, out, err = run("import", "-o", first, *extra)
    assert code == 0, err
    assert imported_calls(out) == sum(sandbox.calls.values())
    assert run("import", "-o", second, *extra)[0] == 0
    assert read_dir(first) == read_dir(second)  # byte-identical

    code, out, err = run("validate", first)
    assert code == 0, out + err
    code, out, err = run("plan", first, "--detailed-exitcode")
    assert code == 0, out + err
    assert "No changes" in out


@pytest.mark.parametrize("relations", ["none", "groups,leaders", "members,managers"])
def test_partial_relations_round_trip(
    relations: str,
    run: Run,
    client: BeeboleClient,
    tmp_path: Path,
) -> None:
    build_varied(client)
    code, _, err = run("import", "-o", tmp_path / "m", "--relations", relations)
    assert code == 0, err
    text = "\n".join(p.read_text() for p in (tmp_path / "m").iterdir())
    for key in ("groups", "members", "managers", "leaders", "customFields", "specificTasks"):
        present = re.search(rf"^\s+{key}:", text, re.M) is not None
        if key == "groups":  # also the group tree's children key in groups.yaml
            continue
        assert present == (key in relations.split(",")), key
    assert run("plan", tmp_path / "m", "--detailed-exitcode")[0] == 0


def test_refuses_non_empty_dir_unless_forced(
    run: Run,
    client: BeeboleClient,
    tmp_path: Path,
) -> None:
    build_base(client)
    target = tmp_path / "m"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    (target / "stale.yaml").write_text("companies: []\n")
    code, _, err = run("import", "-o", target)
    assert code == 1
    assert "not empty" in err
    assert (target / "stale.yaml").exists()
    code, out, err = run("import", "-o", target, "--force")
    assert code == 0, err
    assert (target / "stale.yaml").read_text() == "companies: []\n"  # import did not write it
    assert "stale.yaml" in out
    assert (target / "notes.txt").read_text() == "mine"
    assert "acme.yaml" in {p.name for p in target.iterdir()}


def test_entities_without_xid_are_adopted_by_id(
    run: Run,
    client: BeeboleClient,
    tmp_path: Path,
) -> None:
    build_varied(client)
    assert run("import", "-o", tmp_path / "m")[0] == 0
    legacy = tmp_path / "m" / "legacy-no-xid.yaml"  # named after the company, not its id
    text = legacy.read_text()
    assert re.search(r"^  - id: \d+$", text, re.M)
    assert "adopted by its live id" in text
    assert "(to give it one: 'xid: X' beside the id, or import --assign-xids)" in text
    companies_before = len(client.call("company.list")["companies"])
    assert run("apply", tmp_path / "m", "--auto-approve")[0] == 0
    assert len(client.call("company.list")["companies"]) == companies_before
