"""What loosens safety is shown to the reviewer first (issue #19, point 9, plan part).

A pull request that turns prune on or raises settings.safety is stated in
the first lines of every rendering of the plan: text, the Markdown comment,
JSON, the saved plan that apply shows, and diff. Through the real CLI over
HTTP with the sandbox.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from beeplan.model import Loosened, Safety, Settings, Threshold

from .conftest import Run, SandboxServer

PEOPLE = [{"xid": f"p{i}", "name": f"Person {i}", "company": "acme"} for i in range(5)]


def write(folder: Path, settings: dict[str, object] | None, people: int = 5) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    doc: dict[str, object] = {"companies": [{"xid": "acme", "name": "ACME"}],
                              "people": PEOPLE[:people]}
    if settings is not None:
        doc["settings"] = settings
    (folder / "m.yaml").write_text(json.dumps(doc))
    return folder


LOOSE = {"prune": True, "safety": {"ratio": 0.9, "kinds": {"person": {"min": 20}}}}
STATED = ["settings.prune: true (default false)", "settings.safety.ratio: 0.9 (default 0.1)",
          "settings.safety.kinds.person.min: 20 (default 3)"]


@pytest.mark.parametrize(
    ("settings", "listed"),
    [
        (Settings(), []),
        (Settings(safety=Safety(refuse_in_use=False)), []),  # off is the default
        (Settings(safety=Safety(Threshold(0.05, 2), {"task": Threshold(0.01, 1)})), []),
        (Settings(prune=True), ["settings.prune"]),
        (Settings(safety=Safety(Threshold(0.2, 3))), ["settings.safety.ratio"]),
        # A kind that inherits the loosened global value is covered by the global line.
        (Settings(safety=Safety(Threshold(0.1, 9), {"person": Threshold(0.1, 9)})),
         ["settings.safety.min"]),
        (Settings(safety=Safety(Threshold(), {"group": Threshold(1.0, 3)})),
         ["settings.safety.kinds.group.ratio"]),
    ],
)
def test_what_counts_as_loosened(settings: Settings, listed: list[str]) -> None:
    assert [item.setting for item in settings.loosened()] == listed
    assert all(isinstance(item, Loosened) for item in settings.loosened())


def test_every_format_states_it_first_and_a_saved_plan_keeps_it(
    run: Run, tmp_path: Path
) -> None:
    assert run("apply", write(tmp_path / "before", None), "--auto-approve")[0] == 0
    # The pull request: prune on, the threshold raised, and 4 of 5 people dropped.
    loose = write(tmp_path / "after", LOOSE, people=1)

    code, out, err = run("plan", loose, "--usage-days", "0")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("Safety loosened by these manifests")
    assert lines[1:4] == [f"  ! {line}" for line in STATED]

    code, out, err = run("plan", loose, "--format", "markdown", "--usage-days", "0")
    assert code == 0, err
    head = out.splitlines()[:8]
    assert head[3:5] == ["> [!WARNING]",
                         "> **Safety loosened by these manifests: apply removes more, or more "
                         "readily, than by default:**"]
    assert head[5:8] == [f"> - {line}" for line in STATED]

    saved = tmp_path / "plan.json"
    code, out, err = run("plan", loose, "--format", "json", "--usage-days", "0", "-o", saved)
    assert code == 0, err
    doc = json.loads(out)
    assert list(doc)[2] == "loosened_safety"  # near the top, as in the other formats
    assert doc["loosened_safety"] == [
        {"setting": "settings.prune", "value": True, "default": False},
        {"setting": "settings.safety.ratio", "value": 0.9, "default": 0.1},
        {"setting": "settings.safety.kinds.person.min", "value": 20, "default": 3},
    ]
    # The reviewer of the saved plan sees it first too, before approving.
    code, out, err = run("apply", saved, "--manifests", tmp_path / "after", "--auto-approve")
    assert code == 0, err
    # Right after the line that says which plan and manifests are applied.
    assert out.splitlines()[0].startswith("Applying "), out
    assert out.splitlines()[1].startswith("Safety loosened by these manifests"), out
    assert "! settings.safety.kinds.person.min: 20 (default 3)" in out


def test_nothing_loosened_says_nothing(run: Run, tmp_path: Path) -> None:
    strict = write(tmp_path / "m", {"prune": False, "safety": {"ratio": 0.05,
                                                               "refuseInUse": False}})
    for fmt in ("text", "markdown", "json"):
        code, out, err = run("plan", strict, "--format", fmt, "--usage-days", "0")
        assert code == 0, err
        assert "Safety loosened" not in out and "loosened_safety" not in out


def test_diff_states_the_loosening_of_the_new_set(cli_main: Run, tmp_path: Path) -> None:
    old = write(tmp_path / "old", None)
    new = write(tmp_path / "new", LOOSE)
    code, out, err = cli_main("diff", old, new)
    assert code == 0, err
    assert all(f"  ! {line}" in out for line in STATED)
    code, out, err = cli_main("diff", old, new, "--format", "json")
    assert [item["setting"] for item in json.loads(out)["loosened_safety"]] == [
        "settings.prune", "settings.safety.ratio", "settings.safety.kinds.person.min"]


@pytest.mark.parametrize("ratio", [".nan", ".NaN", ".inf", "-.inf"])
@pytest.mark.parametrize("where", ["general", "kind"])
def test_a_ratio_that_is_not_a_finite_number_is_refused(
    run: Run, sandbox: SandboxServer, tmp_path: Path, ratio: str, where: str
) -> None:
    # A NaN compares false with every count: `ratio: .nan` switched the threshold
    # off and was not listed as loosened (7 of 8 people deactivated, no refusal).
    folder = write(tmp_path / "m", None)
    assert run("apply", folder, "--auto-approve")[0] == 0
    before = sum(sandbox.calls.values())
    rule = f"    ratio: {ratio}" if where == "general" else \
        f"    kinds:\n      person: {{ratio: {ratio}}}"
    (folder / "settings.yaml").write_text(f"settings:\n  prune: true\n  safety:\n{rule}\n")
    (folder / "m.yaml").write_text(json.dumps(
        {"companies": [{"xid": "acme", "name": "ACME"}], "people": []}))
    line = 4 if where == "general" else 5
    for argv in (("validate", folder), ("diff", folder, folder), ("plan", folder),
                 ("apply", folder, "--auto-approve")):
        code, out, err = run(*argv)
        assert code == 1, (argv, out)
        assert f"settings.yaml:{line}: " in err and "a ratio is a finite number" in err, err
        assert "Traceback" not in err
    assert sum(sandbox.calls.values()) == before  # refused before any API call


@pytest.mark.parametrize("edit", ["drop", "empty", "tighten"])
def test_a_saved_plan_edited_to_hide_its_loosening_is_refused(
    run: Run, sandbox: SandboxServer, tmp_path: Path, edit: str
) -> None:
    # `loosened_safety` is outside the plan digest: apply checks it against the
    # manifests it verifies, so an edited plan cannot prune unannounced.
    assert run("apply", write(tmp_path / "before", None), "--auto-approve")[0] == 0
    loose = write(tmp_path / "after", LOOSE, people=1)
    saved = tmp_path / "plan.json"
    assert run("plan", loose, "--usage-days", "0", "-o", saved)[0] == 0
    doc = json.loads(saved.read_text())
    if edit == "drop":
        del doc["loosened_safety"]
    elif edit == "empty":
        doc["loosened_safety"] = []
    else:
        doc["loosened_safety"] = doc["loosened_safety"][:1]
    saved.write_text(json.dumps(doc))
    before = dict(sandbox.calls)
    code, out, err = run("apply", saved, "--manifests", loose, "--auto-approve")
    assert code == 1, out
    assert "loosened safety settings it records are not the ones of the manifests" in err
    assert "Nothing was applied" in err and "Traceback" not in err
    assert not any(op.endswith(".deactivate") for op in set(sandbox.calls) - set(before))
    assert all(sandbox.calls[op] == n for op, n in before.items())
