"""The diff of two manifest sets on plain values (beeplan.setdiff): no CLI, no HTTP.

OLD and NEW are built as the loader builds them (State values); the CLI's
rendering of the same results is in tests/data/cli_cases/diff and test_diff.py.
"""

from __future__ import annotations

from typing import Any

from beeplan.model import Entity, Ref, Safety, Settings, State, Threshold
from beeplan.setdiff import diff_sets, diff_states, released, settings_lines

ACME = Ref("company", xid="acme")


def company(**kw: Any) -> Entity:
    return Entity(kind="company", ref=ACME, name="ACME", **kw)


def project(xid: str, name: str, **kw: Any) -> Entity:
    return Entity(kind="project", ref=Ref("project", xid=xid), name=name, parent=ACME, **kw)


def state(*entities: Entity, prune: bool = False, safety: Safety | None = None,
          declared: tuple[str, ...] = ()) -> State:
    settings = Settings(prune=prune, safety=safety or Safety())
    kinds = frozenset({e.kind for e in entities} | set(declared))
    return State(entities=entities, settings=settings, declared_kinds=kinds)


def ops(old: State, new: State) -> list[tuple[str, str, str]]:
    return [(a.op, a.kind, a.target.label) for a in diff_states(old, new).actions]


def test_identical_sets_change_nothing() -> None:
    same = state(company(), project("dev", "Dev"))
    result = diff_sets(same, same)
    assert not result.changed
    assert result.plan.empty and result.settings == () and result.released == ()


def test_a_new_entry_is_a_create_and_a_rename_an_update() -> None:
    old = state(company(), project("dev", "Dev"))
    new = state(company(), project("dev", "Development"), project("ops", "Ops"))
    assert sorted(ops(old, new)) == [("create", "project", "ops"), ("update", "project", "dev")]
    [update] = [a for a in diff_states(old, new).actions if a.op == "update"]
    changes = [(c.field, c.before, c.after) for c in update.changes]
    assert changes == [("name", "Dev", "Development")]


def test_an_entry_dropped_without_prune_is_listed_as_left_alone_not_deactivated() -> None:
    old = state(company(), project("dev", "Dev"), project("ops", "Ops"))
    new = state(company(), project("dev", "Dev"))
    plan = diff_states(old, new)
    assert plan.actions == ()
    assert [(u.ref.label, u.name) for u in plan.unmanaged] == [("ops", "Ops")]
    assert plan.unmanaged_kinds == {}  # counts need the account, which diff cannot see


def test_an_entry_going_inactive_is_a_deactivate() -> None:
    old = state(company(), project("dev", "Dev"))
    new = state(company(), project("dev", "Dev", active=False))
    assert ops(old, new) == [("deactivate", "project", "dev")]


def test_custom_fields_compare_by_name_offline() -> None:
    old = state(company(relations={"customFields": {"Industry": "Rail"}}))
    new = state(company(relations={"customFields": {"Industry": "Energy"}}))
    [action] = diff_states(old, new).actions
    assert action.kind == "company" and action.relation == "customFields"


def test_adopting_by_id_with_an_xid_shows_one_set_xid_then_nothing() -> None:
    by_id = Entity(kind="project", ref=Ref("project", id=42), name="Dev", parent=ACME)
    adopting = Entity(kind="project", ref=Ref("project", id=42), name="Dev", parent=ACME,
                      new_xid="dev")
    first = diff_states(state(company(), by_id), state(company(), adopting))
    [action] = first.actions
    assert (action.op, action.target, action.payload) == (
        "set_xid", Ref("project", id=42), {"project": {"id": 42, "xid": "dev", "name": "Dev"}})
    # Once OLD holds the id-and-xid entry, an account that matches it has the xid.
    assert diff_states(state(company(), adopting), state(company(), adopting)).actions == ()


def test_prune_turned_on_says_what_apply_will_do_to_entities_diff_cannot_see() -> None:
    old = state(company())
    new = state(company(), prune=True)
    lines = settings_lines(old, new)
    assert lines[0] == "~ settings.prune: false -> true"
    assert "apply will deactivate every live entity of a managed kind" in lines[1]
    assert "Managed kinds: companies." in lines[1]
    assert "Run 'beeplan plan' on the new set to see them." in lines[2]
    assert lines[3].startswith("  Not managed (no key in the new set), left alone: ")
    assert "people" in lines[3] and "companies" not in lines[3]
    assert diff_sets(old, new).changed  # a settings change alone is a change


def test_prune_turned_off_says_entities_are_only_reported() -> None:
    lines = settings_lines(state(company(), prune=True), state(company()))
    assert lines == (
        "~ settings.prune: true -> false",
        "  apply will leave live entities the manifests do not name alone (it only reports "
        "them).",
    )


def test_under_prune_a_kind_newly_managed_or_dropped_is_said() -> None:
    old = state(company(), prune=True)
    new = state(company(), prune=True, declared=("group",))
    [gained] = settings_lines(old, new)
    assert gained.startswith("~ under settings.prune: true, now managed: groups;")
    [lost] = settings_lines(new, old)
    assert lost == "~ under settings.prune: true, no longer managed: groups."


def test_a_safety_change_is_shown_before_and_after() -> None:
    strict = Safety()
    loose = Safety(default=Threshold(ratio=0.5, min=10), kinds={"person": Threshold(0.2, 4)},
                   refuse_in_use=True)
    lines = settings_lines(state(company(), safety=strict), state(company(), safety=loose))
    assert lines == (
        "~ settings.safety: ratio 0.1, min 3 -> ratio 0.5, min 10; person: ratio 0.2, min 4; "
        "refuseInUse",
        "  (the share and count of removals apply refuses without --allow-destroy)",
    )


def test_keys_new_stops_managing_are_released_by_their_manifest_names() -> None:
    jane = Ref("person", xid="jane")
    old = state(company(), project(
        "dev", "Dev", fields={"startDate": "2020-01-01", "description": "x"},
        relations={"managers": frozenset({jane}), "members.people": frozenset({jane}),
                   "specificTasks.enabled": True}))
    new = state(company(), project("dev", "Dev", fields={"description": "x"}))
    [rel] = released(old, new)
    assert rel.keys == ("managers", "members", "specificTasks", "startDate")
    assert rel.line() == "project dev (Dev): managers, members, specificTasks, startDate"
    # Releasing is not an API call: the plan shows none, the diff still counts as a change.
    result = diff_sets(old, new)
    assert result.plan.empty and result.changed
