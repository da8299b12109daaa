"""The current platform's manifest schema: valid itself, accepts the example set, rejects typos."""

from __future__ import annotations

from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from beeplan.errors import Problem
from beeplan.manifest._yaml import parse
from beeplan.platforms.current.manifest import check, manifest_schema, platform_of

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "current"
FILES = sorted(EXAMPLES.glob("*.yaml"))


def _problems(text: str, file: str = "m.yaml") -> list[Problem]:
    problems: list[Problem] = []
    root = parse(text, file, problems)
    assert problems == []
    return check(root, file)


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    Draft202012Validator.check_schema(manifest_schema())


def test_the_example_set_exists_and_covers_every_top_level_key() -> None:
    keys: set[str] = set()
    for f in FILES:
        problems: list[Problem] = []
        keys |= set(parse(f.read_text("utf-8"), str(f), problems))
    assert keys == set(manifest_schema()["properties"])


@pytest.mark.parametrize("path", FILES, ids=[f.name for f in FILES])
def test_the_example_set_is_valid(path: Path) -> None:
    assert _problems(path.read_text("utf-8"), str(path)) == []


def test_the_example_set_says_it_is_for_the_current_platform() -> None:
    problems: list[Problem] = []
    root = parse((EXAMPLES / "settings.yaml").read_text("utf-8"), "settings.yaml", problems)
    assert platform_of(root["settings"]) == "current"
    assert platform_of(None) == "v2" and platform_of({"prune": True}) == "v2"


@pytest.mark.parametrize("text, line, path, words", [
    ("people:\n  - xid: a\n    name: A\n    role: Admin\n    emial: a@x.io\n", 5,
     "people[0].emial", "did you mean 'email'"),
    ("people:\n  - xid: a\n    name: A\n    email: a@x.io\n", 2, "people[0]",
     "missing required key 'role'"),
    ("projectCategories:\n  - name: C\n    projects:\n      - xid: p\n        name: P\n"
     "        projects:\n          - xid: q\n            name: Q\n            archvied: true\n",
     9, "projectCategories[0].projects[0].projects[0].archvied", "did you mean 'archived'"),
    ("projectCategories:\n  - name: C\n    projects:\n      - xid: p\n        name: P\n"
     "        active: false\n", 6, "projectCategories[0].projects[0].active", "unknown key"),
    ("tasks:\n  - xid: t\n    name: T\n    assigned: {people: [a], groups: [g]}\n", 4,
     "tasks[0].assigned.groups", "allowed: people, tags"),
    ("settings:\n  platform: curent\n", 2, "settings.platform", "did you mean 'current'"),
    ("customFields:\n  - name: F\n    type: txt\n", 3, "customFields[0].type",
     "did you mean 'text'"),
    ("tagCategories:\n  - name: C\n    tags:\n      - name: No xid\n", 4,
     "tagCategories[0].tags[0]", "missing 'xid'"),
    ("absenceTypes:\n  - {xid: \"bad\\nxid\", name: A}\n", 2, "absenceTypes[0].xid",
     "no control characters"),
    ("tasks:\n  - xid: t\n    name: T\n    projects: [\"  \"]\n", 4, "tasks[0].projects[0]",
     "not only spaces"),
    ("people:\n  - id: \"a b\"\n    name: A\n    role: R\n    email: a@x.io\n", 2,
     "people[0].id", "opaque text"),
    ("roles:\n  - name: \"   \"\n", 2, "roles[0].name", "only spaces"),
    ("people:\n  - xid: a\n    name: A\n    role: R\n    email: a@x.io\n"
     "    startDate: 2024-13\n", 6, "people[0].startDate", "not a date"),
])
def test_a_typo_is_rejected_with_its_line_and_path(text: str, line: int, path: str,
                                                   words: str) -> None:
    problems = _problems(text)
    assert any(p.line == line and p.path == path and words in p.message for p in problems), \
        problems


def test_options_only_on_text_fields() -> None:
    problems = _problems("customFields:\n  - name: N\n    type: number\n    options: [a]\n")
    assert [(p.line, p.path) for p in problems] == [(3, "customFields[0].type")]
    assert "text fields only" in problems[0].message


def test_names_follow_the_apis_rules_160_characters_no_url_or_html() -> None:
    # BeeboleName in the real schema; the sandbox refuses the same (sandbox/schema.py)
    long = "x" * 161
    text = ("roles:\n  - name: Admin\n"
            "absenceTypes:\n"
            f"  - {{xid: a, name: {long}}}\n"
            "  - {xid: b, name: See www.example.com}\n"
            "  - {xid: c, name: '<b>Bold</b>'}\n"
            "  - {xid: d, name: 'Rate: http://x.io'}\n"
            f"  - {{xid: e, name: {'y' * 160}}}\n")
    problems = _problems(text)
    assert [(p.line, p.path) for p in problems] == [
        (4, "absenceTypes[0].name"), (5, "absenceTypes[1].name"),
        (6, "absenceTypes[2].name"), (7, "absenceTypes[3].name")]
    assert "at most 160" in problems[0].message
    assert all("no URL or HTML" in p.message for p in problems[1:])


def test_a_root_task_needs_a_category_a_subtask_does_not() -> None:
    (problem,) = _problems("tasks:\n  - {xid: t, name: T}\n")
    assert (problem.path, problem.message) == ("tasks[0]", "missing required key 'category'")
    assert _problems("tasks:\n  - {xid: t, name: T, parent: p}\n") == []
    assert _problems("tasks:\n  - {id: abc, name: T}\n") == []


def test_a_reference_listed_twice_is_named() -> None:
    (problem,) = _problems("people:\n  - {xid: a, name: A, role: R, email: a@x.io, "
                           "tags: [x, y, x]}\n")
    assert problem.path == "people[0].tags" and "'x' is listed more than once" in problem.message


def _keys(node: object) -> set[str]:
    """Every property name anywhere in the schema."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict):
                found |= set(value)
            found |= _keys(value)
    elif isinstance(node, list):
        for item in node:
            found |= _keys(item)
    return found


def test_every_key_of_the_schema_is_documented() -> None:
    doc = (EXAMPLES.parents[1] / "docs" / "manifest-current.md").read_text("utf-8")
    missing = sorted(k for k in _keys(manifest_schema()) if f"`{k}" not in doc)
    assert missing == []


def test_the_docs_example_is_valid() -> None:
    doc = (EXAMPLES.parents[1] / "docs" / "manifest-current.md").read_text("utf-8")
    example = doc.split("## Example\n\n```yaml\n", 1)[1].split("```", 1)[0]
    assert _problems(example) == []
