"""The unavoidable reads: the fewest calls any reconciler needs to diff an account exactly.

Computed from the sandbox database itself (read-only SQL), not from beeplan's
reader, with the services of the Beebole API reference as the only means:

1. ``company.list`` when the manifests declare anything that hangs under a
   company (every kind but groups): it is the only way to find live companies;
2. ``group.tree`` when the manifests declare groups;
3. ``custom_field.list`` when they manage custom field values (names -> ids);
4. under each live company: ``project.list`` when projects or subprojects are
   declared and the company's ``projects.count`` is not 0; ``task.list``,
   ``person.list``, ``absence.list`` when that kind is declared (company
   answers carry no count of those, so no list can be skipped);
5. ``subproject.list`` under each live project whose ``subprojects.count`` is
   not 0, when subprojects are declared;
6. for each declared entity that already exists, one listing per relation its
   manifest manages: ``X.members``, ``project.managers``, ``X.custom_fields``,
   ``X.specific_tasks``, and ``person.leaders`` unless ``leaders.count`` is 0
   (the reference has no bulk service for these); for group assignments the
   cheaper of one ``group.assignments`` per live group or one ``X.groups`` per
   entity.

Entities that do not exist yet need no read. Writes are never avoidable: the
minimal cost of a scenario is these reads plus one call per action.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from pathlib import Path

from beeplan.model import State

ALL_RELATIONS = {
    "company": {"groups", "members.people", "customFields", "specificTasks.tasks"},
    "project": {"groups", "members.people", "managers", "customFields", "specificTasks.tasks"},
    "subproject": {"groups", "members.people", "customFields", "specificTasks.tasks"},
    "task": {"groups"},
    "person": {"groups", "leaders", "customFields"},
    "absence": {"groups"},
    "group": set(),
}


def unavoidable_reads(desired: State | None, db: Path) -> dict[str, int]:
    """Per service, the reads no exact reconciler can avoid (see the module doc).

    ``desired=None`` stands for an import: every entity, every relation.
    """
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT id, kind, xid, parent FROM entity").fetchall()
        leader_counts = Counter(
            owner for (owner,) in conn.execute("SELECT owner FROM link WHERE rel = 'leader'")
        )
    finally:
        conn.close()
    children: Counter[tuple[str, int]] = Counter()  # (child kind, parent id)
    live_ids: dict[tuple[str, str], int] = {}
    companies: list[int] = []
    projects: list[int] = []
    groups = 0
    for eid, kind, xid, parent in rows:
        if parent is not None:
            children[(kind, parent)] += 1
        if xid is not None:
            live_ids[(kind, xid)] = eid
        if kind == "company":
            companies.append(eid)
        elif kind == "project":
            projects.append(eid)
        elif kind == "group":
            groups += 1

    # (kind, live id) -> the relations managed on it; entities not live yet need no read.
    wanted: dict[tuple[str, int], set[str]] = {}
    if desired is None:
        wanted = {(kind, eid): ALL_RELATIONS[kind] for eid, kind, _xid, _parent in rows}
        kinds = set(ALL_RELATIONS)
        managed = {rel for rels in ALL_RELATIONS.values() for rel in rels}
    else:
        for e in desired.entities:
            eid = live_ids.get((e.kind, e.ref.xid)) if e.ref.xid is not None else e.ref.id
            if eid is not None:
                wanted[(e.kind, eid)] = set(e.relations)
        kinds = {e.kind for e in desired.entities}
        managed = {rel for e in desired.entities for rel in e.relations}
    out: Counter[str] = Counter()
    if kinds - {"group"}:
        out["company.list"] += 1
    if "group" in kinds:
        out["group.tree"] += 1
    if "customFields" in managed:
        out["custom_field.list"] += 1
    for company in companies:
        if kinds & {"project", "subproject"} and children[("project", company)]:
            out["project.list"] += 1
        for kind in ("task", "person", "absence"):
            if kind in kinds:
                out[f"{kind}.list"] += 1
    if "subproject" in kinds:
        with_subprojects = sum(1 for p in projects if children[("subproject", p)])
        if with_subprojects:
            out["subproject.list"] += with_subprojects

    by_entity: Counter[str] = Counter()
    managing_groups = 0
    for (kind, eid), rels in wanted.items():
        if "groups" in rels:
            managing_groups += 1
            by_entity[f"{kind}.groups"] += 1
        if rels & {"members.people", "members.groups"}:
            out[f"{kind}.members"] += 1
        if "managers" in rels:
            out[f"{kind}.managers"] += 1
        if "leaders" in rels and leader_counts[eid]:
            out[f"{kind}.leaders"] += 1
        if "customFields" in rels:
            out[f"{kind}.custom_fields"] += 1
        if rels & {"specificTasks.enabled", "specificTasks.tasks"}:
            out[f"{kind}.specific_tasks"] += 1
    if managing_groups:
        if groups < managing_groups:
            out["group.assignments"] += groups
        else:
            out.update(by_entity)
    return dict(sorted(out.items()))
