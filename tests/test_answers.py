"""The shapes the client believes (beeplan/platforms/v2/answers.py), service by service."""

from __future__ import annotations

from typing import Any

import pytest

from beeplan.platforms.v2.answers import problem

BELIEVED: list[tuple[str, Any]] = [
    ("company.create", {"status": "ok", "id": 233}),
    ("absence.create", {"status": "ok", "xid": "56478"}),
    ("person.create", {"status": "ok", "id": "455"}),  # numeric strings are ids
    ("company.update", {"status": "ok"}),
    ("company.get", {"status": "ok", "company": {"id": 233, "name": "x",
                                                 "projects": {"count": 2}}}),
    ("company.list", {"status": "ok", "companies": []}),
    ("company.list", {"status": "ok", "companies": [{"id": 1, "xid": None, "name": "a",
                                                     "active": False}, {"id": 2, "xid": 56478}]}),
    ("person.list", {"status": "ok", "people": [{"id": "77", "company": {"id": 1}}]}),
    ("group.tree", {"groups": [{"id": 1, "name": "a", "groups": [{"id": 2, "name": "b"}]}]}),
    ("custom_field.list", {"customFields": [{"id": 4641, "name": "Company address"}]}),
    ("project.managers", {"status": "ok", "members": [{"id": 1, "name": "x"}]}),
    ("group.assignments", {"status": "ok", "people": [{"id": 455}]}),
    ("company.specific_tasks", {"status": "ok", "disabled": False, "specificTasks": []}),
    ("time_entry.export", {"status": "ok", "job": {"status": "running", "id": 1148}}),
    ("company.create", {"status": "error", "message": "name is required"}),
    ("time_entry.delete", {"status": "ok"}),
]

REFUSED: list[tuple[str, Any, str]] = [
    ("company.list", [], "expected a JSON object, got a list"),
    ("company.list", "ok", "expected a JSON object, got a string"),
    ("company.create", {"status": "ok"}, "missing"),
    ("company.create", {"status": "ok", "id": True}, "not an id"),
    ("company.create", {"status": "ok", "id": -4}, "not an id"),
    ("company.create", {"status": "ok", "id": "12a"}, "not an id"),
    ("company.update", {}, 'no "status": "ok"'),
    ("company.update", {"status": "OK!"}, "unknown"),
    ("company.update", {"status": "error"}, "without a message"),
    ("company.get", {"status": "ok"}, '"company" is missing'),
    ("company.get", {"status": "ok", "company": []}, "not an object"),
    ("company.get", {"status": "ok", "company": {"id": "x"}}, "not an id"),
    ("company.list", {"status": "ok"}, '"companies" is missing'),
    ("company.list", {"status": "ok", "companies": {}}, "not a list"),
    ("company.list", {"status": "ok", "companies": [7]}, "not an object"),
    ("company.list", {"status": "ok", "companies": [{"name": "x"}]}, 'no "id"'),
    ("company.list", {"status": "ok", "companies": [{"id": 1, "projects": {"count": "many"}}]},
     "not a count"),
    ("group.tree", {"groups": [{"id": 1, "groups": [{"id": None}]}]}, "not an id"),
    ("company.list", {"status": "ok", "companies": [{"id": 1, "name": 5}]}, "name is not a string"),
    ("company.get", {"status": "ok", "company": {"id": 1, "name": None}}, "not a string"),
    ("person.list", {"status": "ok", "people": [{"id": 1, "company": {"id": 2, "name": []}}]},
     "people[0].company.name is not a string"),
    ("company.list", {"status": "ok", "companies": [{"id": 1, "active": "false"}]},
     "active is not true or false"),
    ("project.list", {"status": "ok", "projects": [{"id": 1, "active": 0}]}, "not true or false"),
    ("company.list", {"status": "ok", "companies": [{"id": 1, "xid": {}}]}, "xid is not an xid"),
    ("company.list", {"status": "ok", "companies": [{"id": 1, "xid": True}]}, "not an xid"),
    ("person.leaders", {"status": "ok"}, '"leaders" is missing'),
    ("time_entry.get_job_info", {"status": "ok"}, '"job" is missing'),
]


@pytest.mark.parametrize(("service", "answer"), BELIEVED)
def test_answers_of_the_reference_shapes_are_believed(service: str, answer: Any) -> None:
    assert problem(service, answer) is None


@pytest.mark.parametrize(("service", "answer", "why"), REFUSED)
def test_anything_else_is_refused_saying_why(service: str, answer: Any, why: str) -> None:
    found = problem(service, answer)
    assert found is not None and why in found, found
