"""The naive baseline: a reconciler that reads every relation of every entity.

It lists everything (``company.list``, ``group.tree``, ``custom_field.list``,
then ``project.list``, ``task.list``, ``person.list``, ``absence.list`` under
every company and ``subproject.list`` under every project, without looking at
any count), then makes one listing call per relation kind per entity:

============  =========================================================
kind          relation listings
============  =========================================================
company       groups, members, custom_fields, specific_tasks
project       groups, members, managers, custom_fields, specific_tasks
subproject    groups, members, custom_fields, specific_tasks
task          groups
person        groups, leaders, custom_fields
absence       groups
============  =========================================================

Its cost is measured, not computed: it runs against the sandbox with the real
client and the benchmark reads the sandbox's call counter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from beeplan.platforms.v2.client import BeeboleClient

T = TypeVar("T")
R = TypeVar("R")

RELATION_LISTINGS: dict[str, tuple[str, ...]] = {
    "company": ("groups", "members", "custom_fields", "specific_tasks"),
    "project": ("groups", "members", "managers", "custom_fields", "specific_tasks"),
    "subproject": ("groups", "members", "custom_fields", "specific_tasks"),
    "task": ("groups",),
    "person": ("groups", "leaders", "custom_fields"),
    "absence": ("groups",),
}
UNDER_COMPANY = {"project": "projects", "task": "tasks", "person": "people",
                 "absence": "absences"}


def _pmap(parallelism: int, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
    with ThreadPoolExecutor(max_workers=parallelism) as pool:
        return list(pool.map(fn, items))


def naive_read(client: BeeboleClient, parallelism: int = 4) -> dict[str, int]:
    """Read the whole account the naive way; return how many entities of each kind it saw."""
    companies, _tree, _fields = _pmap(parallelism, lambda s: client.call(s),
                                      ["company.list", "group.tree", "custom_field.list"])
    entities: list[tuple[str, int]] = [("company", int(c["id"]))
                                       for c in companies.get("companies", [])]
    company_ids = [cid for _, cid in entities]
    jobs = [(kind, cid) for cid in company_ids for kind in UNDER_COMPANY]

    def list_under(job: tuple[str, int]) -> list[tuple[str, int]]:
        kind, cid = job
        answer: dict[str, Any] = client.call(f"{kind}.list", company={"id": cid})
        return [(kind, int(o["id"])) for o in answer.get(UNDER_COMPANY[kind], [])]

    for found in _pmap(parallelism, list_under, jobs):
        entities += found
    projects = [eid for kind, eid in entities if kind == "project"]

    def subprojects(pid: int) -> list[tuple[str, int]]:
        answer = client.call("subproject.list", project={"id": pid})
        return [("subproject", int(o["id"])) for o in answer.get("subprojects", [])]

    for found in _pmap(parallelism, subprojects, projects):
        entities += found

    reads = [(kind, eid, what) for kind, eid in entities for what in RELATION_LISTINGS[kind]]
    _pmap(parallelism, lambda r: client.call(f"{r[0]}.{r[2]}", id=r[1]), reads)
    seen: dict[str, int] = {}
    for kind, _ in entities:
        seen[kind] = seen.get(kind, 0) + 1
    return seen
