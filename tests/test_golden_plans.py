"""Golden cases for the planner and renderers: one folder, one test.

Each folder of tests/data/cases holds desired.yaml (manifests), live.json
(the account, see tests/livestate.py) and the expected plan.txt, plan.json
and plan.md. Regenerate after an intended change with
``BEEPLAN_UPDATE_GOLDEN=1 pytest tests/test_golden_plans.py`` and review
the diff like code.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from beeplan.manifest import load
from beeplan.planner import Plan, make_plan
from beeplan.render import Budget, plan_from_json, plan_to_json, render_markdown, render_text
from beeplan.render.jsonplan import validate_plan_document

from .livestate import state_from_json

CASES = Path(__file__).parent / "data" / "cases"
UPDATE = os.environ.get("BEEPLAN_UPDATE_GOLDEN") == "1"


def make(case: Path) -> Plan:
    # Relative paths: the sources quoted in plans must not depend on where the clone is.
    return make_plan(load("desired.yaml"), state_from_json(case / "live.json"), read_calls=7)


def outputs(plan: Plan) -> dict[str, str]:
    budget = Budget(read_calls=7, apply_calls=len(plan.actions), left_today=3900)
    return {
        "plan.txt": render_text(plan, budget),
        "plan.json": plan_to_json(plan, budget, endpoint="sandbox:golden.db"),
        "plan.md": render_markdown(plan, budget),
    }


@pytest.mark.parametrize("case", sorted(p.name for p in CASES.iterdir() if p.is_dir()))
def test_golden_case(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = CASES / case
    monkeypatch.chdir(folder)
    plan = make(folder)
    produced = outputs(plan)
    for name, text in produced.items():
        expected_file = folder / name
        if UPDATE or not expected_file.exists():
            expected_file.write_text(text)
            if not UPDATE:
                pytest.fail(f"{expected_file} was missing; written now, review it")
        assert text == expected_file.read_text(), f"{case}/{name} differs from the golden file"
    validate_plan_document(json.loads(produced["plan.json"]))
    reparsed, _ = plan_from_json(produced["plan.json"])
    assert reparsed.actions == plan.actions  # a saved plan applies exactly what was shown
    assert reparsed.fingerprints == plan.fingerprints
    # apply of a saved plan states the loosened settings too
    assert reparsed.provenance.loosened == plan.provenance.loosened
