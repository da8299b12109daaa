"""`beeplan diff`: manifest vs manifest, offline, for pull-request review."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from .conftest import Run

ACME = Path(__file__).resolve().parent.parent / "examples" / "acme"


@pytest.fixture
def run(cli_main: Run) -> Run:
    """diff is offline: no sandbox, unlike the suite-wide ``run``."""
    return cli_main


@pytest.fixture
def changed(tmp_path: Path) -> Path:
    new = tmp_path / "new"
    shutil.copytree(ACME, new)
    acme = new / "acme.yaml"
    text = acme.read_text()
    assert "name: Development" in text and "managers: [jane]" in text
    text = text.replace("name: Development", "name: Product Development", 1)
    text = text.replace("managers: [jane]", "managers: [jane, marc]", 1)
    acme.write_text(text)
    people = new / "people.yaml"
    people.write_text(people.read_text() + "  - {xid: zoe, name: Zoe Newcomer, company: acme}\n")
    return new


def test_equal_sets_exit_0(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BEEBOLE_TOKEN", raising=False)
    code, out, _ = run("diff", ACME, ACME, "--detailed-exitcode")
    assert code == 0
    assert "No changes between the two sets." in out


def test_changes_field_by_field_and_exit_2(
    run: Run, changed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No token and an unreachable endpoint: diff must not need either.
    monkeypatch.delenv("BEEBOLE_TOKEN", raising=False)
    monkeypatch.setenv("BEEBOLE_ENDPOINT", "https://127.0.0.1:9/api/v2")
    code, out, _ = run("diff", ACME, changed, "--detailed-exitcode")
    assert code == 2
    assert '"Development" -> "Product Development"' in out
    assert "managers += person marc" in out
    assert "person zoe" in out and "+ create (person.create)" in out
    assert "Plan: 1 to create, 1 to update, 1 to attach/detach, 0 to deactivate." in out
    code, out, _ = run("diff", ACME, changed)
    assert code == 0  # without --detailed-exitcode, differences are not an error


def test_removed_entities_are_named(run: Run, tmp_path: Path) -> None:
    new = tmp_path / "new"
    shutil.copytree(ACME, new)
    (new / "absences.yaml").unlink()
    code, out, _ = run("diff", ACME, new)
    assert code == 0
    assert f"entities are in {ACME} only; apply leaves them alone" in out
    assert "absence vacation" in out


def test_json_and_markdown(run: Run, changed: Path) -> None:
    code, out, _ = run("diff", ACME, changed, "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert sorted(a["service"] for a in doc["actions"]) == [
        "person.create",
        "project.attach_manager",
        "project.update",
    ]
    assert "fingerprints" not in doc  # nothing live was read
    code, out, _ = run("diff", ACME, changed, "--format", "markdown")
    assert code == 0
    assert out.startswith("<!-- beeplan-plan -->")
    assert "| 1 | 1 | 1 | 0 | 0 |" in out


def test_a_diff_shows_no_plan_digest(run: Run, changed: Path) -> None:
    """A PR comment from diff holding a digest that no apply prints would make a
    reviewer matching digests see tampering where there is none."""
    for fmt in ("text", "markdown", "json"):
        code, out, _ = run("diff", ACME, changed, "--format", fmt)
        assert code == 0
        assert "person.create" in out  # the changes themselves are shown
        assert "Plan digest" not in out and "plan_digest" not in out, fmt
    code, out, _ = run("diff", ACME, changed, "--format", "markdown")
    assert "\n\n\n" not in out  # no blank line left where the digest was


def test_invalid_side_is_a_manifest_error(run: Run, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("companies:\n  - xid: x\n    nmae: typo\n")
    code, _, err = run("diff", ACME, bad)
    assert code == 1
    assert "bad.yaml:3" in err and "Traceback" not in err


# -- issue 11 item 3: diff hides nothing from the reviewer --------------------------


def _copy(tmp_path: Path) -> Path:
    new = tmp_path / "new"
    shutil.copytree(ACME, new)
    return new


def test_turning_prune_on_is_a_change_and_says_what_it_does(run: Run, tmp_path: Path) -> None:
    new = _copy(tmp_path)
    settings = new / "settings.yaml"
    settings.write_text(settings.read_text().replace("prune: false", "prune: true"))
    (new / "absences.yaml").unlink()
    code, out, _ = run("diff", ACME, new, "--detailed-exitcode")
    assert code == 2, out
    assert "settings.prune: false -> true" in out
    assert "diff cannot see the account" in out
    assert "Not managed (no key in the new set), left alone: absences." in out
    # The absences left with their key are not deactivated: their kind is not managed.
    assert "(their kind is not managed)" in out and "(settings.prune: false)" not in out
    assert "No entity changes between the two sets." in out
    doc = json.loads(run("diff", ACME, new, "--format", "json")[1])
    assert doc["settings_changes"][0] == "~ settings.prune: false -> true"
    assert doc["changes_present"] is True  # as --detailed-exitcode says
    md = run("diff", ACME, new, "--format", "markdown")[1]
    assert "**Settings change**" in md
    # diff sees no account: it never claims the account matches.
    assert "account matches" not in md and "**No entity changes between the two sets.**" in md
    assert f"entities are in {ACME} only; apply leaves them alone" in md
    assert "live entities are not in the manifests" not in md
    same = run("diff", ACME, ACME, "--format", "markdown")[1]
    assert "**No changes between the two sets.**" in same and "account matches" not in same
    assert json.loads(run("diff", ACME, ACME, "--format", "json")[1])["changes_present"] is False


def test_settings_safety_change_is_a_change(run: Run, tmp_path: Path) -> None:
    new = _copy(tmp_path)
    settings = new / "settings.yaml"
    settings.write_text(settings.read_text() + "  safety: {kinds: {person: {ratio: 0.5}}}\n")
    code, out, _ = run("diff", ACME, new, "--detailed-exitcode")
    assert code == 2, out
    assert "settings.safety: ratio 0.1, min 3 -> ratio 0.1, min 3; person: ratio 0.5, min 3" in out
    settings.write_text(settings.read_text() + "  safety: {refuseInUse: true}\n")
    settings.write_text(settings.read_text().replace(
        "  safety: {kinds: {person: {ratio: 0.5}}}\n", ""))
    code, out, _ = run("diff", ACME, new, "--detailed-exitcode")
    assert code == 2 and "-> ratio 0.1, min 3; refuseInUse" in out, out


def test_turning_refuse_in_use_off_is_said_on_its_own_line(run: Run, tmp_path: Path) -> None:
    """A pull request that sets refuseInUse: false is visible to the reviewer as such."""
    old, new = _copy(tmp_path / "old"), _copy(tmp_path / "new")
    for folder, value in ((old, "true"), (new, "false")):
        settings = folder / "settings.yaml"
        settings.write_text(settings.read_text() + f"  safety: {{refuseInUse: {value}}}\n")
    for fmt in ("text", "markdown"):
        code, out, _ = run("diff", old, new, "--detailed-exitcode", "--format", fmt)
        assert code == 2, out
        shown = re.sub(r"\\(.)", r"\1", out)  # as Markdown renders its escapes
        assert "refuseInUse: true -> false: apply no longer refuses to deactivate" in shown, out
    # Turned on: no such line (it tightens).
    code, out, _ = run("diff", new, old, "--detailed-exitcode")
    assert "apply no longer refuses" not in out, out


def test_removing_a_relation_key_is_shown_as_no_longer_managed(run: Run, tmp_path: Path) -> None:
    new = _copy(tmp_path)
    acme = new / "acme.yaml"
    text = acme.read_text()
    assert "        managers: [jane]\n" in text
    acme.write_text(text.replace("        managers: [jane]\n", "", 1))
    code, out, _ = run("diff", ACME, new, "--detailed-exitcode")
    assert code == 2, out
    assert "No longer managed by beeplan" in out
    assert "project acme-dev (Development): managers" in out
    doc = json.loads(run("diff", ACME, new, "--format", "json")[1])
    assert doc["no_longer_managed"] == [
        {"kind": "project", "entity": "acme-dev", "name": "Development", "keys": ["managers"]}
    ]


def test_an_impossible_move_in_the_new_set_exits_1(run: Run, tmp_path: Path) -> None:
    new = _copy(tmp_path)
    people = new / "people.yaml"
    text = people.read_text()
    assert "xid: rosa" in text
    # rosa moves to another company: no API service does that.
    lines = text.splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if "xid: rosa" in line)
    lines[at] = lines[at].replace("company: acme", "company: globex")
    if lines[at] == text.splitlines(keepends=True)[at]:  # block style: company on its own line
        for i in range(at, len(lines)):
            if "company: acme" in lines[i]:
                lines[i] = lines[i].replace("company: acme", "company: globex")
                break
    people.write_text("".join(lines))
    for args in ((), ("--detailed-exitcode",)):
        code, out, _ = run("diff", ACME, new, *args)
        assert code == 1, out
        assert "impossible in place" in out
