"""Every action kind, end to end against the sandbox over HTTP.

Each case starts from the same account, built with raw client calls (not
by beeplan), changes one thing in the manifests, and asserts:
- the plan holds exactly the expected API calls;
- apply makes exactly those calls, as counted by the sandbox;
- the plan made afterwards is empty.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from beeplan.applier import Applier
from beeplan.manifest import load
from beeplan.planner import Plan, make_plan
from beeplan.platforms.v2.client import BeeboleClient
from beeplan.platforms.v2.live import LiveReader

BASE: dict[str, Any] = {
    "groups": [
        {"xid": "country", "name": "Country", "groups": [{"xid": "us", "name": "US"}]},
        {"xid": "eu", "name": "EU"},
    ],
    "companies": [
        {
            "xid": "acme",
            "name": "ACME Corp",
            "groups": ["us"],
            "customFields": {"Industry": "Transportation"},
            "projects": [
                {
                    "xid": "acme-dev",
                    "name": "Development",
                    "startDate": "2017-10-13",
                    "members": {"people": ["rosa"]},
                    "managers": ["jane"],
                    "specificTasks": {"enabled": True, "tasks": ["admin"]},
                    "subprojects": [{"xid": "proto", "name": "Prototype"}],
                }
            ],
        },
        {"xid": "globex", "name": "Globex"},
    ],
    "tasks": [
        {"xid": "admin", "name": "Administration", "company": "acme"},
        {"xid": "meeting", "name": "Meeting", "company": "acme"},
    ],
    "people": [
        {"xid": "jane", "name": "Jane Clark", "company": "acme", "userGroup": "leader"},
        {
            "xid": "rosa",
            "name": "Rosa Parks",
            "company": "acme",
            "leaders": ["jane"],
            "groups": ["us"],
        },
        {"xid": "li", "name": "Li Wei", "company": "acme"},
    ],
    "absences": [{"xid": "vacation", "name": "Vacation", "company": "acme"}],
}


def custom_field_id(client: BeeboleClient, name: str) -> int:
    fields = client.call("custom_field.list")["customFields"]
    return int(next(f["id"] for f in fields if f["name"] == name))


def build_base(client: BeeboleClient) -> None:
    """The account BASE describes, made with raw API calls."""
    call = client.call
    call("group.create", group={"xid": "country", "name": "Country"})
    call("group.create", group={"xid": "us", "name": "US", "parent": {"xid": "country"}})
    call("group.create", group={"xid": "eu", "name": "EU"})
    call("company.create", company={"xid": "acme", "name": "ACME Corp"})
    call("company.create", company={"xid": "globex", "name": "Globex"})
    for xid, name in (("admin", "Administration"), ("meeting", "Meeting")):
        call("task.create", task={"xid": xid, "name": name, "company": {"xid": "acme"}})
    call(
        "project.create",
        project={
            "xid": "acme-dev",
            "name": "Development",
            "startDate": "2017-10-13",
            "company": {"xid": "acme"},
        },
    )
    call(
        "subproject.create",
        subproject={"xid": "proto", "name": "Prototype", "project": {"xid": "acme-dev"}},
    )
    call(
        "person.create",
        person={
            "xid": "jane",
            "name": "Jane Clark",
            "company": {"xid": "acme"},
            "userGroup": "leader",
        },
    )
    call(
        "person.create",
        person={
            "xid": "rosa",
            "name": "Rosa Parks",
            "company": {"xid": "acme"},
            "leaders": [{"xid": "jane"}],
        },
    )
    call("person.create", person={"xid": "li", "name": "Li Wei", "company": {"xid": "acme"}})
    call(
        "absence.create",
        absence={"xid": "vacation", "name": "Vacation", "company": {"xid": "acme"}},
    )
    call("company.add_group", xid="acme", group={"xid": "us"})
    call(
        "company.set_custom_field_value",
        xid="acme",
        customField={"id": custom_field_id(client, "Industry"), "value": "Transportation"},
    )
    call("project.attach_member", xid="acme-dev", person={"xid": "rosa"})
    call("project.attach_manager", xid="acme-dev", person={"xid": "jane"})
    call("project.attach_specific_task", xid="acme-dev", task={"xid": "admin"})
    call("person.add_group", xid="rosa", group={"xid": "us"})


def find(doc: dict[str, Any], kind: str, xid: str) -> dict[str, Any]:
    """The manifest entry of an entity, wherever it is nested."""
    stack = [doc]
    while stack:
        node = stack.pop()
        for key, value in node.items():
            if isinstance(value, list):
                for item in value:
                    if isinstance(item, dict):
                        if (
                            item.get("xid") == xid
                            and key
                            == {
                                "company": "companies",
                                "project": "projects",
                                "subproject": "subprojects",
                                "task": "tasks",
                                "group": "groups",
                                "person": "people",
                                "absence": "absences",
                            }[kind]
                        ):
                            return item
                        stack.append(item)
    raise KeyError(f"{kind} {xid}")


def plan_for(client: BeeboleClient, doc: dict[str, Any], tmp_path: Path) -> Plan:
    path = tmp_path / "manifests.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    desired = load(path)
    return make_plan(desired, LiveReader(client, 4).read(desired))


Edit = Callable[[dict[str, Any]], None]
Setup = Callable[[BeeboleClient], None]


def nothing(_: Any) -> None:
    return None


def setting(kind: str, xid: str, **values: Any) -> Edit:
    def edit(doc: dict[str, Any]) -> None:
        find(doc, kind, xid).update(values)

    return edit


def adding(path: tuple[str, ...], entry: dict[str, Any]) -> Edit:
    def edit(doc: dict[str, Any]) -> None:
        node: Any = doc
        for step in path[:-1]:
            node = find(doc, *step.split(":")) if ":" in step else node[step]
        node.setdefault(path[-1], []).append(entry)

    return edit


def raw(service: str, **payload: Any) -> Setup:
    def setup(client: BeeboleClient) -> None:
        client.call(service, **payload)

    return setup


CASES: dict[str, tuple[Setup, Edit, list[str]]] = {
    # creates, one per kind
    "create company": (
        nothing,
        adding(("companies",), {"xid": "initech", "name": "Initech"}),
        ["company.create"],
    ),
    "create project": (
        nothing,
        adding(("company:globex", "projects"), {"xid": "gx-web", "name": "Web"}),
        ["project.create"],
    ),
    "create subproject": (
        nothing,
        adding(("project:acme-dev", "subprojects"), {"xid": "beta", "name": "Beta"}),
        ["subproject.create"],
    ),
    "create task": (
        nothing,
        adding(("tasks",), {"xid": "travel", "name": "Travel", "company": "acme"}),
        ["task.create"],
    ),
    "create group": (
        nothing,
        adding(("group:country", "groups"), {"xid": "fr", "name": "FR"}),
        ["group.create"],
    ),
    "create person": (
        nothing,
        adding(("people",), {"xid": "ada", "name": "Ada Lovelace", "company": "globex"}),
        ["person.create"],
    ),
    "create absence": (
        nothing,
        adding(("absences",), {"xid": "sick", "name": "Sick leave", "company": "acme"}),
        ["absence.create"],
    ),
    # updates
    "update company": (
        nothing,
        setting("company", "acme", name="ACME Corporation"),
        ["company.update"],
    ),
    "update project": (
        nothing,
        setting("project", "acme-dev", description="Product work"),
        ["project.update"],
    ),
    "update subproject": (
        nothing,
        setting("subproject", "proto", name="Proto v2"),
        ["subproject.update"],
    ),
    "update task": (nothing, setting("task", "meeting", name="Meetings"), ["task.update"]),
    "update group": (nothing, setting("group", "eu", name="Europe"), ["group.update"]),
    "update person": (
        nothing,
        setting("person", "li", email="li.wei@example.com"),
        ["person.update"],
    ),
    "update absence": (nothing, setting("absence", "vacation", name="Holiday"), ["absence.update"]),
    # activation
    "activate company": (raw("company.deactivate", xid="globex"), nothing, ["company.activate"]),
    "activate project": (raw("project.deactivate", xid="acme-dev"), nothing, ["project.activate"]),
    "activate subproject": (
        raw("subproject.deactivate", xid="proto"),
        nothing,
        ["subproject.activate"],
    ),
    "activate task": (raw("task.deactivate", xid="meeting"), nothing, ["task.activate"]),
    "activate person": (raw("person.deactivate", xid="li"), nothing, ["person.activate"]),
    "activate absence": (raw("absence.deactivate", xid="vacation"), nothing, ["absence.activate"]),
    # deactivation, and the group delete
    "deactivate company": (
        nothing,
        setting("company", "globex", active=False),
        ["company.deactivate"],
    ),
    "deactivate project": (
        nothing,
        setting("project", "acme-dev", active=False),
        ["project.deactivate"],
    ),
    "deactivate subproject": (
        nothing,
        setting("subproject", "proto", active=False),
        ["subproject.deactivate"],
    ),
    "deactivate task": (nothing, setting("task", "meeting", active=False), ["task.deactivate"]),
    "deactivate person": (nothing, setting("person", "li", active=False), ["person.deactivate"]),
    "deactivate absence": (
        nothing,
        setting("absence", "vacation", active=False),
        ["absence.deactivate"],
    ),
    "delete group (prune)": (
        raw("group.create", group={"xid": "old", "name": "Old"}),
        lambda doc: doc.update(settings={"prune": True}),
        ["group.delete"],
    ),
    # relations
    "add_group": (nothing, setting("person", "rosa", groups=["us", "eu"]), ["person.add_group"]),
    "remove_group": (nothing, setting("company", "acme", groups=[]), ["company.remove_group"]),
    "attach_member person": (
        nothing,
        setting("project", "acme-dev", members={"people": ["rosa", "li"]}),
        ["project.attach_member"],
    ),
    "attach_member group": (
        nothing,
        setting("project", "acme-dev", members={"people": ["rosa"], "groups": ["eu"]}),
        ["project.attach_member"],
    ),
    "detach_member": (
        nothing,
        setting("project", "acme-dev", members={}),
        ["project.detach_member"],
    ),
    "attach_manager": (
        nothing,
        setting("project", "acme-dev", managers=["jane", "li"]),
        ["project.attach_manager"],
    ),
    "detach_manager": (
        nothing,
        setting("project", "acme-dev", managers=[]),
        ["project.detach_manager"],
    ),
    "leaders set": (nothing, setting("person", "li", leaders=["jane"]), ["person.update"]),
    "leaders cleared": (nothing, setting("person", "rosa", leaders=[]), ["person.update"]),
    "attach_specific_task": (
        nothing,
        setting(
            "project", "acme-dev", specificTasks={"enabled": True, "tasks": ["admin", "meeting"]}
        ),
        ["project.attach_specific_task"],
    ),
    "detach_specific_task": (
        nothing,
        setting("project", "acme-dev", specificTasks={"enabled": True, "tasks": []}),
        ["project.detach_specific_task"],
    ),
    "disable_specific_tasks": (
        nothing,
        setting("project", "acme-dev", specificTasks={"enabled": False, "tasks": ["admin"]}),
        ["project.disable_specific_tasks"],
    ),
    "enable_specific_tasks": (
        raw("project.disable_specific_tasks", xid="acme-dev"),
        nothing,
        ["project.enable_specific_tasks"],
    ),
    "set_custom_field_value": (
        nothing,
        setting("company", "acme", customFields={"Industry": "Logistics"}),
        ["company.set_custom_field_value"],
    ),
    "clear_custom_field_value": (
        nothing,
        setting("company", "acme", customFields={}),
        ["company.clear_custom_field_value"],
    ),
}


@pytest.fixture
def base(client: BeeboleClient) -> BeeboleClient:
    build_base(client)
    return client


def test_base_manifest_matches_base_account(base: BeeboleClient, tmp_path: Path) -> None:
    plan = plan_for(base, BASE, tmp_path)
    assert [a.id for a in plan.actions] == []
    assert not plan.problems


@pytest.mark.parametrize("case", sorted(CASES))
def test_one_change(case: str, base: BeeboleClient, sandbox: Any, tmp_path: Path) -> None:
    setup, edit, expected = CASES[case]
    setup(base)
    doc = copy.deepcopy(BASE)
    edit(doc)

    plan = plan_for(base, doc, tmp_path)
    assert sorted(a.service for a in plan.actions) == sorted(expected)
    assert not plan.problems

    sandbox.reset_calls()
    outcome = Applier(base, parallelism=4).apply(plan)
    assert outcome.ok, outcome.failed
    assert Counter(sandbox.calls) == Counter(expected)

    assert plan_for(base, doc, tmp_path).empty
