"""Seeded organisations written as manifest sets, and a raw inventory of the live account.

``medium_org(seed)`` builds an account of a few hundred entities with every
kind of relation beeplan manages (group tree, companies with projects and
subprojects, tasks, people with leaders, groups and a ``location`` custom
field, exclusive members, managers, specific tasks). Names are unique under
their parent, so a duplicate entity shows up as a repeated name as well as
a repeated xid.

``inventory(client)`` reads what the account holds with plain list calls
(no beeplan reader involved) and ``duplicates()`` names every xid or
(kind, parent, name) that appears more than once.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from beeplan.platforms.v2.client import BeeboleClient

Docs = dict[str, dict[str, list[dict[str, Any]]]]

CITIES = ("Salt Lake City, UT, USA", "Zürich", "Montréal, QC", "東京", "Remote", "São Paulo")
FIRST = ("Ana", "Bo", "Chloé", "Dmitri", "Eun-ji", "Farid", "Greta", "Hiro", "Iñes", "Jonas",
         "Kofi", "Lena", "Mateo", "Nour", "Olu", "Priya", "Quinn", "Rosa", "Sven", "Tomás")
LAST = ("Abara", "Berg", "Chen", "Diallo", "Eriksen", "Fontaine", "García", "Haddad", "Ivanova",
        "Jensen", "Kowalski", "Lefèvre", "Moreau", "Nakamura", "Okafor", "Park", "Rossi")


def medium_org(seed: int, *, companies: int = 6, people: int = 175, prefix: str = "") -> Docs:
    """A seeded organisation as manifest documents (file name -> YAML mapping).

    ``prefix`` goes before every xid and every root name, so that two
    organisations can share an account without sharing anything.
    """
    rng = random.Random(seed)
    p = prefix

    # The group tree: roots with children, some with grandchildren.
    groups: list[dict[str, Any]] = []
    leaf_groups: list[str] = []
    all_groups: list[str] = []
    for r in range(3):
        root: dict[str, Any] = {"xid": f"{p}g{r}", "name": f"{p}Group {r}", "groups": []}
        all_groups.append(root["xid"])
        for c in range(rng.randint(3, 4)):
            child: dict[str, Any] = {"xid": f"{p}g{r}-{c}", "name": f"{p}Group {r}.{c}"}
            all_groups.append(child["xid"])
            if rng.random() < 0.4:
                child["groups"] = [
                    {"xid": f"{p}g{r}-{c}-{g}", "name": f"{p}Group {r}.{c}.{g}"}
                    for g in range(rng.randint(1, 3))
                ]
                all_groups += [g["xid"] for g in child["groups"]]
                leaf_groups += [g["xid"] for g in child["groups"]]
            else:
                leaf_groups.append(child["xid"])
            root["groups"].append(child)
        groups.append(root)

    company_xids = [f"{p}co{c}" for c in range(companies)]
    # People first (by xid), so projects can name managers and members.
    person_company = {f"{p}p{i}": rng.choice(company_xids) for i in range(people)}
    person_xids = list(person_company)
    leaders_pool = person_xids[: max(4, people // 10)]

    tasks: list[dict[str, Any]] = []
    tasks_of: dict[str, list[str]] = {}
    for c, co in enumerate(company_xids):
        for t in range(rng.randint(2, 4)):
            task: dict[str, Any] = {"xid": f"{co}-t{t}", "name": f"Task {c}.{t}", "company": co}
            if rng.random() < 0.5:
                task["groups"] = rng.sample(all_groups, rng.randint(1, 2))
            tasks.append(task)
            tasks_of.setdefault(co, []).append(task["xid"])

    company_docs: list[dict[str, Any]] = []
    for c, co in enumerate(company_xids):
        company: dict[str, Any] = {
            "xid": co,
            "name": f"{p}Company {c} — {rng.choice(LAST)}",
            "corporate": c == 0,
            "groups": rng.sample(all_groups, rng.randint(0, 2)),
            "customFields": {"Industry": rng.choice(("Energy", "Transport", "Software"))},
            "projects": [],
        }
        if rng.random() < 0.5:
            company["members"] = {"groups": rng.sample(leaf_groups, 1)}
        if rng.random() < 0.5:
            company["specificTasks"] = {"enabled": True, "tasks": tasks_of[co][:2]}
        for j in range(rng.randint(4, 6)):
            project: dict[str, Any] = {
                "xid": f"{co}-pr{j}",
                "name": f"Project {c}.{j}",
                "startDate": f"20{rng.randint(15, 24)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}",
                "managers": rng.sample(person_xids, rng.randint(0, 2)),
                "members": {
                    "people": rng.sample(person_xids, rng.randint(0, 4)),
                    "groups": rng.sample(all_groups, rng.randint(0, 1)),
                },
                "customFields": {"location": rng.choice(CITIES)},
                "subprojects": [],
            }
            if rng.random() < 0.3:
                project["description"] = f"Project {c}.{j}: «{rng.choice(CITIES)}»"
            if rng.random() < 0.3:
                project["specificTasks"] = {"enabled": True, "tasks": tasks_of[co][-1:]}
            for s in range(rng.randint(0, 3)):
                sub: dict[str, Any] = {"xid": f"{co}-pr{j}-s{s}", "name": f"Sub {c}.{j}.{s}"}
                if rng.random() < 0.4:
                    sub["members"] = {"people": rng.sample(person_xids, rng.randint(1, 2))}
                if rng.random() < 0.3:
                    sub["groups"] = rng.sample(all_groups, 1)
                if rng.random() < 0.1:
                    sub["active"] = False
                project["subprojects"].append(sub)
            company["projects"].append(project)
        company_docs.append(company)

    people_docs: list[dict[str, Any]] = []
    for i, (xid, co) in enumerate(person_company.items()):
        person: dict[str, Any] = {
            "xid": xid,
            "name": f"{rng.choice(FIRST)} {rng.choice(LAST)} {i}",
            "company": co,
            "groups": rng.sample(leaf_groups, rng.randint(1, 2)),
            "customFields": {"location": rng.choice(CITIES)},
        }
        if xid in leaders_pool:
            person["userGroup"] = "leader"
        else:
            person["userGroup"] = rng.choice(("employee", "employee", "pm", "contractor"))
            person["leaders"] = rng.sample(leaders_pool, rng.randint(1, 2))
        if rng.random() < 0.5:
            person["email"] = f"{xid}.{seed}@example.com"
        people_docs.append(person)

    absences = [
        {"xid": f"{co}-abs{a}", "name": name, "company": co,
         **({"groups": rng.sample(all_groups, 1)} if rng.random() < 0.5 else {})}
        for co in company_xids
        for a, name in enumerate(("Vacation", "Sick leave"))
    ]

    return {
        "groups.yaml": {"groups": groups},
        "companies.yaml": {"companies": company_docs},
        "tasks.yaml": {"tasks": tasks},
        "people.yaml": {"people": people_docs},
        "absences.yaml": {"absences": absences},
    }


CHILD_KEYS = {"groups": ("groups",), "companies": ("projects", "subprojects")}


def entity_count(docs: Docs) -> int:
    """How many entities the manifest documents declare."""
    count = 0

    def walk(items: list[dict[str, Any]], child_keys: tuple[str, ...]) -> None:
        nonlocal count
        for item in items:
            count += 1
            for key in child_keys:
                walk(item.get(key, []), child_keys)

    for doc in docs.values():
        for key, items in doc.items():
            walk(items, CHILD_KEYS.get(key, ()))
    return count


def write_docs(directory: Path, docs: Docs) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, doc in docs.items():
        (directory / name).write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False),
                                      encoding="utf-8")
    return directory


@dataclass(frozen=True)
class LiveEntity:
    kind: str
    id: int
    xid: str | None
    name: str
    parent: tuple[str, int] | None


def inventory(client: BeeboleClient) -> list[LiveEntity]:
    """Every entity of the account, read with raw list calls."""
    found: list[LiveEntity] = []

    def walk(nodes: list[dict[str, Any]], parent: int | None) -> None:
        for node in nodes:
            found.append(LiveEntity("group", int(node["id"]), node.get("xid"), node["name"],
                                    ("group", parent) if parent else None))
            walk(node.get("groups") or [], int(node["id"]))

    walk(client.call("group.tree").get("groups", []), None)
    for company in client.call("company.list")["companies"]:
        cid = int(company["id"])
        found.append(LiveEntity("company", cid, company.get("xid"), company["name"], None))
        for kind, plural in (("task", "tasks"), ("person", "people"), ("absence", "absences"),
                             ("project", "projects")):
            for obj in client.call(f"{kind}.list", company={"id": cid})[plural]:
                found.append(LiveEntity(kind, int(obj["id"]), obj.get("xid"), obj["name"],
                                        ("company", cid)))
                if kind == "project":
                    for sub in client.call("subproject.list", project={"id": obj["id"]})[
                        "subprojects"
                    ]:
                        found.append(LiveEntity("subproject", int(sub["id"]), sub.get("xid"),
                                                sub["name"], ("project", int(obj["id"]))))
    return found


def duplicates(entities: list[LiveEntity]) -> list[str]:
    """Each xid shared by two entities of a kind, and each name repeated under one parent."""
    by_xid = Counter((e.kind, e.xid) for e in entities if e.xid is not None)
    by_name = Counter((e.kind, e.parent, e.name) for e in entities)
    return [f"{kind} xid {xid!r} x{n}" for (kind, xid), n in by_xid.items() if n > 1] + [
        f"{kind} name {name!r} under {parent} x{n}"
        for (kind, parent, name), n in by_name.items()
        if n > 1
    ]
