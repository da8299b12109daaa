"""Renderer edges, with plain values: size caps, color rules, the provenance a plan records."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from beeplan.cli.progress import use_color
from beeplan.model import Entity, Loosened, Ref, State
from beeplan.planfile.verify import manifest_digest
from beeplan.planner import Provenance, make_plan, plan_digest
from beeplan.render import Budget, plan_from_json, plan_to_json, render_markdown, render_text
from beeplan.render.markdown import MAX_CHARS
from beeplan.usecases.steps import with_source


def big_plan(people: int) -> State:
    company = Entity("company", Ref("company", "acme"), "ACME")
    persons = tuple(
        Entity("person", Ref("person", f"person-{i:05d}"), f"Person number {i} with a long name",
               parent=Ref("company", "acme"), fields={"email": f"p{i}@example.com"})
        for i in range(people)
    )
    return State(entities=(company, *persons))


def test_markdown_is_capped_and_says_so() -> None:
    plan = make_plan(big_plan(3000), State())
    text = render_markdown(plan, Budget(3, len(plan.actions), 4000))
    assert len(text) <= MAX_CHARS
    assert "Details truncated" in text
    assert text.count("```") % 2 == 0  # fences stay balanced, so the comment renders
    assert "| 3001 |" in text  # the summary table is always complete


def test_small_markdown_is_not_truncated() -> None:
    plan = make_plan(big_plan(5), State())
    text = render_markdown(plan)
    assert "truncated" not in text
    assert "person-00004" in text
    assert text.startswith("<!-- beeplan-plan -->")  # the marker CI uses to update in place


def test_color_only_when_asked() -> None:
    plan = make_plan(big_plan(1), State())
    assert "\x1b[" in render_text(plan, color=True)
    assert "\x1b[" not in render_text(plan, color=False)


def test_no_color_env_wins_over_a_tty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert use_color(True) is True
    assert use_color(False) is False
    monkeypatch.setenv("NO_COLOR", "1")
    assert use_color(True) is False


def test_the_provenance_a_plan_records_round_trips_through_the_saved_plan(
    tmp_path: Path,
) -> None:
    """Every field of ``Plan.provenance`` is written where plans always had it and read
    back whole: apply checks the manifests at hand against what the file says."""
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text("companies:\n  - {xid: acme, name: ACME}\n")
    second.write_text("companies:\n  - {xid: beta, name: Beta}\n")
    plan = make_plan(State(entities=(Entity("company", Ref("company", "acme"), "ACME"),)), State())
    made = replace(plan, provenance=Provenance(
        variables={"ORG": "acme", "UNSET": None},
        loosened=(Loosened("settings.safety.ratio", 1, 0.1),),
    ).narrowed("origin/main", 3))
    for paths in ([first], [first, second]):
        saved = with_source(made, paths)
        recorded = saved.provenance
        assert recorded.paths == tuple(str(p) for p in paths)
        assert recorded.manifest_paths == (() if len(paths) == 1 else recorded.paths)
        assert recorded.manifest_digest == manifest_digest(paths, {"ORG": "acme", "UNSET": None})
        back, doc = plan_from_json(plan_to_json(saved))
        assert back.provenance == recorded
        assert doc["manifests"]["path"] == str(first)
        assert doc["targeted"] == {"since": "origin/main", "entries": 3}
        assert doc["variables"] == {"ORG": "acme", "UNSET": None}
        assert doc["loosened_safety"] == [
            {"setting": "settings.safety.ratio", "value": 1, "default": 0.1}]
        # The digest a reviewer compares covers the manifests' digest and their variables.
        assert plan_digest(back) == plan_digest(saved) != plan_digest(made)
