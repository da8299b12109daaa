"""A saved plan's progress across sliced applies, on plain values (beeplan.planfile.progress).

What ``apply plan.json --max-calls N`` keeps between runs: which actions earlier
slices applied, and the fingerprints they left; and what the next run makes of
them. The runs themselves, over HTTP, are in tests/test_slices.py.
"""

from __future__ import annotations

import json
import logging
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from beeplan.applier import Outcome
from beeplan.cost import Cost, fresh_cost
from beeplan.model import Ref
from beeplan.planfile.progress import SavedProgress, ref_of_key
from beeplan.planner import Action, Plan
from beeplan.platforms.v2.client import BeeboleClient

# Nothing listens on port 9 (discard); these tests must make no call at all, and a
# call there would fail (and be logged) rather than pass unseen.
NOWHERE = "http://127.0.0.1:9/api/v2"


def action(id_: str, target: Ref, op: str = "update", relation: str = "") -> Action:
    return Action(id=id_, op=op, kind=target.kind, target=target, name=target.label,
                  service=f"{target.kind}.{op}", payload={}, phase=1, relation=relation)


DEV = Ref("project", xid="dev")
OPS = Ref("project", xid="ops")
JANE = Ref("person", id=7)
PLAN = Plan(
    actions=(action("a1", DEV), action("a2", OPS), action("a3", DEV, "attach"),
             action("a4", JANE)),
    fingerprints={"project:dev": "dev-0", "project:ops": "ops-0", "person:#7": "jane-0"},
    read_relations={"project:dev": ("managers",), "project:ops": (), "person:#7": ("groups",)},
)


@pytest.mark.parametrize(("key", "ref"), [
    ("person:jane", Ref("person", xid="jane")),
    ("person:#12", Ref("person", id=12)),
    ("project:#x1", Ref("project", xid="#x1")),  # not a number: an xid that starts with #
    ("group:a:b", Ref("group", xid="a:b")),
])
def test_ref_of_key(key: str, ref: Ref) -> None:
    assert ref_of_key(key) == ref


def test_nothing_applied_yet_leaves_the_plan_as_it_is(tmp_path: Path) -> None:
    progress = SavedProgress(tmp_path / "p.json")
    assert not progress.started
    assert progress.remaining(PLAN) is PLAN


def test_the_rest_drops_what_was_applied_and_checks_the_state_it_left(tmp_path: Path) -> None:
    progress = SavedProgress(tmp_path / "p.json", applied={"a1", "a2"},
                             fingerprints={"project:dev": "dev-1"})
    rest = progress.remaining(PLAN)
    assert [a.id for a in rest.actions] == ["a3", "a4"]
    # dev: as the earlier slice left it (not as planned); ops: nothing left to do there.
    assert rest.fingerprints == {"project:dev": "dev-1", "person:#7": "jane-0"}
    assert rest.read_relations == {"project:dev": ("managers",), "person:#7": ("groups",)}
    assert progress.started


def test_only_entities_changed_now_and_touched_later_are_re_read(tmp_path: Path) -> None:
    progress = SavedProgress(tmp_path / "p.json")
    part = Plan(actions=PLAN.actions[:2])  # a1 (dev) and a2 (ops); a3 touches dev later
    assert SavedProgress._to_reread(PLAN, part) == {"project:dev"}
    assert progress.after_cost(PLAN, part) == fresh_cost(("managers",))
    assert progress.after_cost(PLAN, Plan(actions=PLAN.actions)) == Cost()


def test_record_keeps_what_was_applied_not_what_was_meant(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "slices" / "acct-plan.json"
    progress = SavedProgress(path)
    stopped = Outcome(applied=[PLAN.actions[1]], skipped=[(PLAN.actions[3], "quota")])
    with BeeboleClient(NOWHERE, "t0k3n", retries=0, ledger=False) as client, \
            caplog.at_level(logging.WARNING):
        progress.record(client, PLAN, stopped, parallelism=1)
    assert caplog.text == ""  # nothing to re-read, so no call was tried
    assert json.loads(path.read_text()) == {"applied": ["a2"], "fingerprints": {}}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_record_of_a_slice_that_applied_nothing_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    with BeeboleClient(NOWHERE, "t0k3n", retries=0, ledger=False) as client:
        SavedProgress(path).record(client, PLAN, Outcome(), parallelism=1)
    assert not path.exists()


def test_progress_is_per_account_and_plan_content(tmp_path: Path, _cache_dir: Path) -> None:
    plan_file = tmp_path / "plan.json"
    plan_file.write_text('{"plan": 1}')
    with BeeboleClient(NOWHERE, "token-a", ledger=False) as a, \
            BeeboleClient(NOWHERE, "token-b", ledger=False) as b:
        first = SavedProgress.of(a, plan_file)
        assert first.path.parent == _cache_dir / "slices"
        assert "token-a" not in first.path.name  # named by a hash, never the token
        assert SavedProgress.of(b, plan_file).path != first.path
        plan_file.write_text('{"plan": 2}')
        assert SavedProgress.of(a, plan_file).path != first.path


def test_progress_read_back_and_an_unreadable_one_starts_over(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    plan_file = tmp_path / "plan.json"
    plan_file.write_text("{}")
    with BeeboleClient(NOWHERE, "t0k3n", ledger=False) as client:
        path = SavedProgress.of(client, plan_file).path
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps({"applied": ["a1"], "fingerprints": {"project:dev": "d"}}))
        again = SavedProgress.of(client, plan_file)
        assert (again.applied, again.fingerprints) == ({"a1"}, {"project:dev": "d"})
        for junk in ("{", "[]", '{"applied": ["a1"]}', '{"fingerprints": 3}'):
            path.write_text(junk)
            with caplog.at_level(logging.WARNING, logger="beeplan.apply"):
                fresh = SavedProgress.of(client, plan_file)
            assert (fresh.applied, fresh.fingerprints) == (set(), {}), junk
            assert "ignoring unreadable slice progress" in caplog.text
            caplog.clear()


# An adoption: the plan creates ``web`` and then links it (attach) and sets a custom
# field value (set) on it; ``dev`` exists already and only gets a manager attached.
WEB = Ref("project", xid="web")
ADOPT = Plan(
    actions=(action("c1", WEB, "create"), action("l1", WEB, "attach", "managers"),
             action("f1", WEB, "set", "customFields"), action("l2", DEV, "attach", "managers")),
    fingerprints={"project:web": "absent", "project:dev": "dev-0"},
    read_relations={"project:web": ("managers", "customFields"), "project:dev": ("managers",)},
)

def test_an_entity_the_plan_created_is_re_read_without_its_attach_only_relations(
    tmp_path: Path,
) -> None:
    progress = SavedProgress(tmp_path / "p.json", applied={"c1"},
                             fingerprints={"project:web": "web-1"})
    rest = progress.remaining(ADOPT)
    # web: beeplan made it, and only an attach (adds one link, never takes one away) and
    # the set of one custom field value (writes the value the plan shows, nothing else)
    # are left on it: it is not re-read at all. dev existed before the plan: every
    # relation its actions change is checked.
    assert rest.read_relations == {"project:dev": ("managers",)}
    assert rest.fingerprints == {"project:dev": "dev-0"}
    assert [a.id for a in rest.actions] == ["l1", "f1", "l2"]
    # A clear of a value is not one of those: what it changes is re-read.
    cleared = replace(ADOPT, actions=(*ADOPT.actions, action("x1", WEB, "clear", "customFields")))
    assert SavedProgress(tmp_path / "q.json", applied={"c1"}).remaining(cleared).read_relations \
        == {"project:web": ("customFields",), "project:dev": ("managers",)}
    # Nothing created yet: the plan's own relations, as before.
    assert SavedProgress(tmp_path / "r.json", applied={"l2"}).remaining(ADOPT).read_relations \
        == {"project:web": ("managers", "customFields")}


def test_the_re_read_after_a_create_skips_the_attach_only_relations(tmp_path: Path) -> None:
    progress = SavedProgress(tmp_path / "p.json")
    # Created, with only an attach and a set left: nothing is re-read after it.
    created = Plan(actions=ADOPT.actions[:1])
    assert SavedProgress._to_reread(ADOPT, created) == set()
    assert progress.after_cost(ADOPT, created) == Cost()
    # With a clear left on it, the relation it changes is re-read after the create.
    cleared = replace(ADOPT, actions=(*ADOPT.actions, action("x1", WEB, "clear", "customFields")))
    assert progress.after_cost(cleared, created) == fresh_cost(("customFields",))
    # An update of an entity the plan did not create re-reads what its actions change.
    assert progress.after_cost(PLAN, Plan(actions=PLAN.actions[:1])) == fresh_cost(("managers",))
