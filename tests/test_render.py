"""Renderer edges, with plain values: size caps and color rules."""

from __future__ import annotations

import pytest

from beeplan.cli.progress import use_color
from beeplan.model import Entity, Ref, State
from beeplan.planner import make_plan
from beeplan.render import Budget, render_markdown, render_text
from beeplan.render.markdown import MAX_CHARS


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
