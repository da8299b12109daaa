"""Preflight on plain values: hand-built desired and live states and actions, no HTTP.

Each check is called directly with the smallest states that trigger it (and the
nearest variant that must not), so a change in one check shows here, apart from
the planner that calls them all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from beeplan.model import Entity, Index, Ref, State
from beeplan.preflight import (
    booleans_for_text,
    check,
    email_clashes,
    inactive_ancestors,
    inactive_parents,
    leaders_deactivated,
    replacements,
    unknown_ids,
)


@dataclass(frozen=True)
class Act:
    """What preflight reads of a planned action (preflight.PlannedAction)."""

    id: str
    op: str
    kind: str
    target: Ref


def live(kind: str, id_: int, name: str, xid: str | None = None, **kw: Any) -> Entity:
    return Entity(kind=kind, ref=Ref(kind, xid=xid, id=id_), name=name, **kw)


def want(kind: str, xid: str, name: str, **kw: Any) -> Entity:
    return Entity(kind=kind, ref=Ref(kind, xid=xid), name=name, **kw)


def person(ref: Ref, name: str, email: str, **kw: Any) -> Entity:
    return Entity(kind="person", ref=ref, name=name, fields={"email": email}, **kw)


def states(desired: list[Entity], have: list[Entity], complete: bool = True
           ) -> tuple[State, State, Index, Index]:
    d = State(entities=tuple(desired))
    live_state = State(entities=tuple(have),
                       complete_kinds=frozenset(e.kind for e in have) if complete else frozenset())
    return d, live_state, Index(live_state), Index(State(entities=tuple(desired)))


ACME_LIVE = live("company", 1, "ACME", xid="acme")


# ------------------------------------------------------------------ unknown ids


def test_a_reference_by_an_id_the_account_lacks_is_a_problem() -> None:
    proj = want("project", "dev", "Dev", parent=Ref("company", xid="acme"),
                relations={"managers": frozenset({Ref("person", id=99)})})
    jane = live("person", 5, "Jane", xid="jane")
    d, lv, idx, didx = states([proj], [ACME_LIVE, jane])
    [problem] = unknown_ids(d, lv, idx, didx)
    assert "project dev: managers refers to person #99, which the account does not have" in problem
    assert "beeplan import lists them" in problem


def test_an_id_is_not_doubted_where_the_kind_was_not_read_whole() -> None:
    proj = want("project", "dev", "Dev", parent=Ref("company", xid="acme"),
                relations={"managers": frozenset({Ref("person", id=99)})})
    d, lv, idx, didx = states([proj], [ACME_LIVE], complete=False)  # diff: offline
    assert unknown_ids(d, lv, idx, didx) == []
    jane = live("person", 99, "Jane")
    d, lv, idx, didx = states([proj], [ACME_LIVE, jane])
    assert unknown_ids(d, lv, idx, didx) == []


# ------------------------------------------------------------------ inactive parents


def test_a_create_under_a_parent_that_stays_inactive_is_a_problem() -> None:
    old = live("company", 1, "Old Co", xid="old", active=False)
    proj = want("project", "p", "P", parent=Ref("company", xid="old"))
    _, _, idx, didx = states([proj], [old])
    [problem] = inactive_parents(idx, didx, [proj])
    assert "project p: cannot be created under company #1 'Old Co' (xid 'old')" in problem
    assert "Declare that company with active: true" in problem
    # The manifests reactivate it: the plan activates it first, no problem.
    _, _, idx, didx = states([proj, want("company", "old", "Old Co")], [old])
    assert inactive_parents(idx, didx, [proj]) == []


# ------------------------------------------------------------------ emails


def test_a_new_person_with_a_live_persons_email_is_refused_with_the_way_out() -> None:
    holder = person(Ref("person", xid="jane", id=5), "Jane", "Jane@Example.com")
    new = person(Ref("person", xid="jane2"), "Jane", "jane@example.com ")
    d, lv, idx, _ = states([new], [holder])
    found = email_clashes(d, lv, idx, [Act("a1", "create", "person", new.ref)])
    [problem] = found.problems
    assert "email 'jane@example.com ' belongs to live person #5 'Jane' (xid 'jane')" in problem
    assert "declare it with `id: 5` (or its xid 'jane') instead of xid 'jane2'" in problem


def test_an_email_given_away_first_is_a_dependency_not_a_problem() -> None:
    holder_live = person(Ref("person", xid="a", id=1), "A", "x@example.com")
    holder_new = person(Ref("person", xid="a"), "A", "a@example.com")
    taker = person(Ref("person", xid="b"), "B", "x@example.com")
    d, lv, idx, _ = states([holder_new, taker], [holder_live])
    actions = [Act("take", "create", "person", taker.ref),
               Act("free", "update", "person", Ref("person", xid="a", id=1))]
    found = email_clashes(d, lv, idx, actions)
    assert found.problems == []
    assert found.depends == {"take": ["free"]}


def test_emails_swapped_between_two_people_is_a_cycle_no_order_solves() -> None:
    a_live = person(Ref("person", xid="a", id=1), "A", "a@x.com")
    b_live = person(Ref("person", xid="b", id=2), "B", "b@x.com")
    a_new = person(Ref("person", xid="a"), "A", "b@x.com")
    b_new = person(Ref("person", xid="b"), "B", "a@x.com")
    d, lv, idx, _ = states([a_new, b_new], [a_live, b_live])
    actions = [Act("ua", "update", "person", Ref("person", xid="a", id=1)),
               Act("ub", "update", "person", Ref("person", xid="b", id=2))]
    found = email_clashes(d, lv, idx, actions)
    [problem] = found.problems
    assert "emails go round in a cycle" in problem
    assert "person a takes 'b@x.com'" in problem and "person b takes 'a@x.com'" in problem
    assert "Apply a temporary email for one of them first" in problem


# ------------------------------------------------------------------ replacements


def test_a_new_xid_for_a_deactivated_entity_of_the_same_name_is_a_replacement() -> None:
    old = live("project", 3, "Web  Site", xid="web", parent=Ref("company", xid="acme", id=1))
    new = want("project", "website", "web site", parent=Ref("company", xid="acme", id=1))
    _, _, idx, didx = states([new], [ACME_LIVE, old])
    actions = [Act("c", "create", "project", new.ref),
               Act("d", "deactivate", "project", old.ref)]
    [warning] = replacements(idx, didx, actions)
    assert "project website replaces project #3 'Web  Site' (xid 'web')" in warning
    assert "declare it with xid 'web' to keep the entity and its history" in warning


def test_a_create_next_to_an_unmanaged_twin_warns_that_the_account_will_hold_two() -> None:
    twin = live("group", 8, "Sales")
    new = want("group", "sales", "Sales")
    _, _, idx, didx = states([new], [twin])
    [warning] = replacements(idx, didx, [Act("c", "create", "group", new.ref)])
    assert "is created next to live group #8 'Sales'" in warning
    assert "declare it with `id: 8` instead" in warning
    # Another name, or a twin that is declared: nothing to say.
    other = want("group", "sales", "Sales EU")
    _, _, idx, didx = states([other], [twin])
    assert replacements(idx, didx, [Act("c", "create", "group", other.ref)]) == []


# ------------------------------------------------------------------ inactive ancestors


def test_a_project_created_active_under_a_company_declared_inactive_warns() -> None:
    company = want("company", "acme", "ACME", active=False)
    proj = want("project", "dev", "Dev", parent=Ref("company", xid="acme"))
    _, _, idx, didx = states([company, proj], [ACME_LIVE])
    [warning] = inactive_ancestors(idx, didx, [Act("c", "create", "project", proj.ref)])
    assert "project dev is created active under company #1 'ACME' (xid 'acme'), which ends " \
        "inactive" in warning
    assert "nobody can log time on it" in warning


def test_its_own_inactive_parent_is_left_to_the_problem_not_warned_twice() -> None:
    old = live("company", 1, "Old", xid="old", active=False)
    proj = want("project", "p", "P", parent=Ref("company", xid="old"))
    _, _, idx, didx = states([proj], [old])
    assert inactive_ancestors(idx, didx, [Act("c", "create", "project", proj.ref)]) == []
    assert inactive_parents(idx, didx, [proj])  # reported there instead


# ------------------------------------------------------------------ leaders


def test_deactivating_a_leader_the_manifests_still_name_warns() -> None:
    jane_ref = Ref("person", xid="jane", id=5)
    jane = live("person", 5, "Jane", xid="jane")
    rosa = want("person", "rosa", "Rosa", relations={"leaders": frozenset({jane_ref})})
    jane_off = want("person", "jane", "Jane", active=False)
    d, _, idx, _ = states([rosa, jane_off], [jane])
    [warning] = leaders_deactivated(d, idx, [Act("d", "deactivate", "person", jane_ref)])
    assert "person jane 'Jane' is deactivated, but the manifests still name them the leader " \
        "of person rosa" in warning
    # Rosa going inactive too keeps nobody waiting.
    rosa_off = want("person", "rosa", "Rosa", active=False,
                    relations={"leaders": frozenset({jane_ref})})
    d, _, idx, _ = states([rosa_off, jane_off], [jane])
    assert leaders_deactivated(d, idx, [Act("d", "deactivate", "person", jane_ref)]) == []


# ------------------------------------------------------------------ booleans for text


def test_a_boolean_for_a_field_that_holds_text_warns_with_the_fix() -> None:
    have = live("project", 3, "Dev", xid="dev", relations={"customFields": {"Remote": "yes"}})
    new = want("project", "dev", "Dev", relations={"customFields": {"Remote": True}})
    d, lv, idx, _ = states([new], [have])
    [warning] = booleans_for_text(d, lv, idx)
    assert "customFields.Remote: YAML reads true as a boolean, but its value now is the text " \
        "'yes'; to send the text, quote it (Remote: 'true')" in warning
    # A boolean where the account holds no text anywhere is just a boolean.
    plain = live("project", 3, "Dev", xid="dev")
    d, lv, idx, _ = states([new], [plain])
    assert booleans_for_text(d, lv, idx) == []


# ------------------------------------------------------------------ all at once


def test_check_gathers_problems_and_warnings_and_repeats_the_manifest_notes() -> None:
    old = live("company", 1, "Old", xid="old", active=False)
    proj = want("project", "p", "P", parent=Ref("company", xid="old"))
    twin = live("group", 8, "Sales")
    group = want("group", "sales", "Sales")
    desired = State(entities=(proj, group), notes=("a note from the loader",))
    live_state = State(entities=(old, twin), complete_kinds=frozenset({"company", "group"}))
    actions = [Act("c1", "create", "project", proj.ref), Act("c2", "create", "group", group.ref)]
    found = check(desired, live_state, Index(live_state), actions)
    assert len(found.problems) == 1 and "cannot be created under" in found.problems[0]
    assert [w for w in found.warnings if "created next to live group #8" in w]
    assert "a note from the loader" in found.warnings
    assert found.depends == {}
