"""The destruction threshold, with plain values: what counts as destroying."""

from __future__ import annotations

from pathlib import Path

from beeplan.localfiles.journal import Journal
from beeplan.model import Entity, Ref, Settings, State
from beeplan.planner import make_plan

COMPANY = Entity("company", Ref("company", "acme", 1), "ACME")


def people(n: int, inactive: set[int] = frozenset(), ids: bool = False) -> tuple[Entity, ...]:
    return tuple(
        Entity(
            "person",
            Ref("person", f"p{i}", 10 + i if ids else None),
            f"P{i}",
            parent=Ref("company", "acme", 1 if ids else None),
            active=i not in inactive,
        )
        for i in range(n)
    )


def test_deactivating_live_entities_past_the_threshold_is_refused() -> None:
    desired = State(entities=(COMPANY, *people(5, inactive={0, 1, 2})))
    live = State(entities=(COMPANY, *people(5, ids=True)))
    plan = make_plan(desired, live)
    assert plan.destroy_violations == ("3 of 5 people would be deactivated",)


def test_two_are_below_the_minimum_of_three() -> None:
    desired = State(entities=(COMPANY, *people(5, inactive={0, 1})))
    live = State(entities=(COMPANY, *people(5, ids=True)))
    assert make_plan(desired, live).destroy_violations == ()


def test_finishing_what_an_interrupted_apply_owes_is_not_destruction() -> None:
    desired = State(entities=(COMPANY, *people(5, inactive={0, 1, 2})))
    live = State(entities=(COMPANY, *people(5, ids=True)))
    owed = frozenset({"person:p0", "person:p1", "person:p2"})
    plan = make_plan(desired, live, owed=owed)
    assert [a.service for a in plan.actions] == ["person.deactivate"] * 3
    assert plan.destroy_violations == ()


def test_the_journal_never_excuses_pruning() -> None:
    desired = State(entities=(COMPANY, *people(2)), settings=Settings(prune=True))
    live = State(entities=(COMPANY, *people(5, ids=True)))
    owed = frozenset({"person:p2", "person:p3", "person:p4"})
    plan = make_plan(desired, live, owed=owed)
    assert plan.destroy_violations == ("3 of 5 people would be deactivated",)


def test_journal_persists_and_settles(tmp_path: Path) -> None:
    path = tmp_path / "j.json"
    journal = Journal(path)
    journal.add(["person:a", "person:b"])
    assert Journal(path).owed() == {"person:a", "person:b"}
    journal.settle(["person:a"])
    assert Journal(path).owed() == {"person:b"}
    path.write_text("not json")
    assert Journal(path).owed() == frozenset()  # a corrupt journal never blocks work
