"""Write a valid manifest set of about N entities, the same for the same seed.

    python -m benchmarks.gen_manifests 10000 /tmp/big [--seed 1]

The mix looks like a mid-size agency: many people and subprojects, fewer
companies, tasks and absence types; every relation key is used, leaders only
point at earlier people (no cycles), and part of the group tree is attached by
``parent:`` from another file.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path
from typing import Any

import yaml

# Share of each kind in the set; the rest of the count goes to people.
SHARES = {"company": 0.02, "project": 0.10, "subproject": 0.25, "task": 0.02,
          "group": 0.04, "absence": 0.01}
USER_GROUPS = ["employee", "employee", "employee", "contractor", "pm", "leader", "admin"]
CITIES = ["Salt Lake City, UT, USA", "Austin, TX, USA", "Toronto, ON, Canada", "Remote", "Lyon"]
PER_FILE = 1000  # entities per people/ file: a realistic split, and it tests merging


def _counts(total: int) -> dict[str, int]:
    counts = {kind: max(1, int(total * share)) for kind, share in SHARES.items()}
    counts["person"] = max(1, total - sum(counts.values()))
    return counts


def generate(total: int, seed: int = 1) -> dict[str, dict[str, Any]]:
    """The manifest files of a set with about ``total`` entities: name -> document."""
    rng = random.Random(seed)
    n = _counts(total)
    files: dict[str, dict[str, Any]] = {"settings.yaml": {"settings": {"prune": False}}}

    # Groups: half as nested trees here, the rest attached by parent: in another file.
    group_ids = [f"g{i}" for i in range(n["group"])]
    roots: list[dict[str, Any]] = []
    nested = group_ids[: max(1, len(group_ids) // 2)]
    by_xid: dict[str, dict[str, Any]] = {}
    for index, xid in enumerate(nested):
        group: dict[str, Any] = {"xid": xid, "name": f"Group {index}"}
        by_xid[xid] = group
        if index < 4:
            roots.append(group)
        else:
            parent = by_xid[nested[rng.randrange(index)]]
            parent.setdefault("groups", []).append(group)
    files["groups.yaml"] = {"groups": roots}
    files["groups-split.yaml"] = {"groups": [
        {"xid": xid, "name": f"Team {index}", "parent": rng.choice(nested)}
        for index, xid in enumerate(group_ids[len(nested):])
    ]}

    company_ids = [f"c{i}" for i in range(n["company"])]
    task_ids = [f"t{i}" for i in range(n["task"])]
    person_ids = [f"p{i}" for i in range(n["person"])]
    files["tasks.yaml"] = {"tasks": [
        {"xid": xid, "name": f"Task {i}", "company": company_ids[0],
         "groups": rng.sample(group_ids, min(2, len(group_ids)))}
        for i, xid in enumerate(task_ids)
    ]}
    files["absences.yaml"] = {"absences": [
        {"xid": f"a{i}", "name": f"Absence {i}", "company": company_ids[0],
         "groups": rng.sample(group_ids, 1)}
        for i in range(n["absence"])
    ]}

    def some(ids: list[str], most: int) -> list[str]:
        return rng.sample(ids, rng.randint(0, min(most, len(ids))))

    def spread(items: int, over: int) -> list[int]:
        return [items // over + (1 if i < items % over else 0) for i in range(over)]

    sub_counts = iter(spread(n["subproject"], n["project"]))
    for c_index, (company_xid, project_count) in enumerate(
            zip(company_ids, spread(n["project"], len(company_ids)), strict=True)):
        projects = []
        for p_index in range(project_count):
            project_xid = f"{company_xid}-p{p_index}"
            start = f"20{rng.randint(10, 24)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
            projects.append({
                "xid": project_xid,
                "name": f"Project {p_index}",
                "startDate": start,
                "description": f"Work package {p_index} for {company_xid}",
                "managers": some(person_ids, 2),
                "members": {"people": some(person_ids, 5), "groups": some(group_ids, 2)},
                "customFields": {"location": rng.choice(CITIES)},
                "specificTasks": {"enabled": True, "tasks": some(task_ids, 3)},
                "groups": some(group_ids, 2),
                "subprojects": [
                    {"xid": f"{project_xid}-s{s}", "name": f"Phase {s}",
                     "active": rng.random() > 0.1, "members": {"people": some(person_ids, 3)}}
                    for s in range(next(sub_counts))
                ],
            })
        company = {
            "xid": company_xid,
            "name": f"Company {c_index}",
            "corporate": c_index == 0,
            "groups": some(group_ids, 2),
            "customFields": {"Industry": rng.choice(["Energy", "Retail", "Transportation"])},
            "projects": projects,
        }
        files[f"companies/{company_xid}.yaml"] = {"companies": [company]}

    people = []
    for index, xid in enumerate(person_ids):
        person: dict[str, Any] = {
            "xid": xid,
            "name": f"Person {index}",
            "company": company_ids[0],
            "email": f"person{index}@example.com",
            "userGroup": rng.choice(USER_GROUPS),
            "groups": some(group_ids, 2),
            "customFields": {"location": rng.choice(CITIES)},
        }
        if index:
            person["leaders"] = rng.sample(person_ids[:index], min(index, rng.randint(0, 2)))
        people.append(person)
    for start in range(0, len(people), PER_FILE):
        chunk = people[start:start + PER_FILE]
        files[f"people/people-{start // PER_FILE:03d}.yaml"] = {"people": chunk}
    return files


def write(total: int, directory: Path, seed: int = 1) -> int:
    """Write the set under ``directory``; returns the number of entities written."""
    for name, document in generate(total, seed).items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(document, sort_keys=False, width=120), encoding="utf-8")
    return sum(_counts(total).values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("entities", type=int)
    parser.add_argument("directory", type=Path)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    written = write(args.entities, args.directory, args.seed)
    print(f"wrote {written} entities to {args.directory}")


if __name__ == "__main__":
    main()
