"""Issue 24: the planner's shortcuts give what the code they skip gave. Fields of plain
values (texts, booleans, whole numbers, null: one type each side) are compared without
DeepDiff, and must name the same changed keys DeepDiff names; anything else still goes
through DeepDiff."""

from __future__ import annotations

from typing import Any

from deepdiff import DeepDiff
from hypothesis import given, settings
from hypothesis import strategies as st

from beeplan.model import Entity, Ref
from beeplan.planner import _field_changes

PLAIN = st.one_of(st.text(max_size=4), st.booleans(), st.integers(-3, 3), st.none())
KEYS = ("email", "userGroup", "startDate", "description")


def deepdiff_keys(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    diff = DeepDiff(before, after, ignore_order=True, view="tree")
    return sorted({level.path(output_format="list")[0] for levels in diff.values()
                   for level in levels})


def person(name: str, fields: dict[str, Any]) -> Entity:
    return Entity(kind="person", ref=Ref("person", xid="p"), name=name, fields=fields)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=3), st.text(max_size=3),
       st.dictionaries(st.sampled_from(KEYS), st.tuples(PLAIN, PLAIN)))
def test_plain_fields_change_as_deepdiff_says(
    have_name: str, want_name: str, pairs: dict[str, tuple[Any, Any]]
) -> None:
    have = person(have_name, {k: v[0] for k, v in pairs.items()})
    want = person(want_name, {k: v[1] for k, v in pairs.items()})
    changes = _field_changes(want, have)
    before = {"name": have_name, **{k: v[0] for k, v in pairs.items()}}
    after = {"name": want_name, **{k: v[1] for k, v in pairs.items()}}
    expected = [] if before == after else deepdiff_keys(before, after)
    assert [c.field for c in changes] == expected
    for change in changes:
        assert (change.before, change.after) == (before[change.field], after[change.field])


def test_values_of_another_type_or_shape_still_go_through_deepdiff() -> None:
    """1 and 1.0, True and 1, lists in another order: DeepDiff's answer, as before."""
    have = person("A", {"email": 1, "userGroup": True, "description": ["a", "b"]})
    want = person("B", {"email": 1.0, "userGroup": 1, "description": ["b", "a"]})
    assert [c.field for c in _field_changes(want, have)] == deepdiff_keys(
        {"name": "A", "email": 1, "userGroup": True, "description": ["a", "b"]},
        {"name": "B", "email": 1.0, "userGroup": 1, "description": ["b", "a"]})
