"""`beeplan convert`: a v2 manifest set -> current-platform manifests, through the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import yaml

from beeplan.manifest._yaml import parse
from beeplan.platforms.current.manifest import check

ROOT = Path(__file__).resolve().parents[2]
ACME = ROOT / "examples" / "acme"
CURRENT = ROOT / "examples" / "current"


def _merged(directory: Path) -> dict[str, Any]:
    """Every top-level key of a set, across its files; custom fields in name order."""
    merged: dict[str, Any] = {}
    for file in sorted(directory.glob("*.yaml")):
        for key, value in (yaml.safe_load(file.read_text("utf-8")) or {}).items():
            assert key not in merged, f"{key} in two files"
            merged[key] = value
    merged["customFields"] = sorted(
        ({**f, "appliesTo": sorted(f["appliesTo"])} for f in merged.get("customFields", [])),
        key=lambda f: f["name"])
    return merged


def _by_xid(nodes: list[dict[str, Any]], child: str) -> dict[str, dict[str, Any]]:
    """Every entity of a tree by xid, without its children (compared one by one)."""
    found: dict[str, dict[str, Any]] = {}
    for node in nodes:
        found[node["xid"]] = {k: v for k, v in node.items() if k != child}
        found.update(_by_xid(node.get(child, []), child))
    return found


def test_acme_converts_to_examples_current_entity_for_entity(cli_main, tmp_path: Path) -> None:
    out = tmp_path / "current"
    status, stdout, stderr = cli_main("convert", ACME, "-o", out)
    assert status == 0, stderr
    for file in sorted(out.glob("*.yaml")):
        problems: list[Any] = []
        data = parse(file.read_text("utf-8"), str(file), problems)
        assert problems == [] and check(data, str(file)) == [], file
    got, want = _merged(out), _merged(CURRENT)
    assert got["settings"]["platform"] == "current"
    assert set(got) == set(want)
    # entity for entity, so a difference names the entity
    for key, child in (("projectCategories", "projects"), ("tagCategories", "tags")):
        got_tree = _by_xid([p for c in got[key] for p in c[child]], child)
        want_tree = _by_xid([p for c in want[key] for p in c[child]], child)
        assert got_tree == want_tree
        # the trees too: which entity sits under which
        assert got[key] == want[key]
    for key in ("people", "tasks", "absenceTypes"):
        assert {e["xid"]: e for e in got[key]} == {e["xid"]: e for e in want[key]}, key
    for key in ("roles", "taskCategories", "customFields", "settings"):
        assert got[key] == want[key], key
    assert "26 keys without a counterpart" in stdout


def test_the_report_names_each_key_without_a_counterpart(cli_main, tmp_path: Path) -> None:
    status, stdout, _ = cli_main("convert", ACME, "-o", tmp_path / "a")
    assert status == 0
    for line in (
        f"{ACME}/acme.yaml:5: companies[0].corporate: no counterpart",
        f"{ACME}/acme.yaml:18: companies[0].projects[0].startDate: no counterpart",
        f"{ACME}/acme.yaml:53: companies[0].projects[2].specificTasks.enabled: no counterpart",
        f"{ACME}/absences.yaml:8: absences[2].groups: no counterpart",
        f"{ACME}/groups.yaml:3: groups[0].xid: no counterpart",
        f"{ACME}/people.yaml:5: people[0].company: no counterpart",
        f"{ACME}/people.yaml:24: people[3]: no userGroup: role Employee assumed",
    ):
        assert line in stdout
    status, stdout, _ = cli_main("convert", ACME, "-o", tmp_path / "b", "--format", "json")
    report = json.loads(stdout)
    dropped = {(Path(d["file"]).name, d["line"], d["path"]) for d in report["dropped"]}
    assert ("globex.yaml", 5, "companies[0].corporate") in dropped
    assert ("tasks.yaml", 11, "tasks[3].company") in dropped
    assert len(report["dropped"]) == 26 and all(d["reason"] for d in report["dropped"])
    assert len(report["written"]) == 7


def test_keys_with_no_counterpart_are_never_silently_dropped(cli_main, tmp_path: Path) -> None:
    """A variant: invite, a live id, a reference by id, safety: each reported on its line."""
    legacy = tmp_path / "legacy.yaml"
    legacy.write_text(
        "settings:\n"
        "  safety: {ratio: 0.2, min: 3}\n"
        "companies:\n"
        "  - xid: co\n"
        "    id: 7\n"
        "    name: Co\n"
        "people:\n"
        "  - xid: p\n"
        "    name: P\n"
        "    company: co\n"
        "    email: p@example.com\n"
        "    userGroup: admin\n"
        "    invite: true\n"
        "    leaders: [{id: 12}]\n", encoding="utf-8")
    status, stdout, stderr = cli_main("convert", legacy, "-o", tmp_path / "out",
                                      "--format", "json")
    assert status == 0, stderr
    got = {(d["line"], d["path"]) for d in json.loads(stdout)["dropped"]}
    assert got == {(2, "settings.safety"), (5, "companies[0].id"), (10, "people[0].company"),
                   (13, "people[0].invite"), (14, "people[0].leaders[0]")}
    people = yaml.safe_load((tmp_path / "out" / "people.yaml").read_text("utf-8"))
    assert people["people"][0]["role"] == "Admin" and people["people"][0]["managers"] == []


def test_a_typo_is_a_located_error_and_nothing_is_written(cli_main, tmp_path: Path) -> None:
    legacy = tmp_path / "acme"
    shutil.copytree(ACME, legacy)
    people = legacy / "people.yaml"
    people.write_text(people.read_text("utf-8").replace("    email: rosa", "    emial: rosa"),
                      encoding="utf-8")
    out = tmp_path / "out"
    status, stdout, stderr = cli_main("convert", legacy, "-o", out)
    assert status == 1
    assert f"{people}:19: people[2].emial: unknown key 'emial'; did you mean 'email'?" in stderr
    assert "Traceback" not in stderr and stdout == ""
    assert not out.exists()


def test_a_non_empty_directory_needs_force(cli_main, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    notes = out / "NOTES.md"
    notes.write_text("mine\n", encoding="utf-8")
    status, _, stderr = cli_main("convert", ACME, "-o", out)
    assert status == 1 and "not empty; nothing written" in stderr and "--force" in stderr
    assert sorted(p.name for p in out.iterdir()) == ["NOTES.md"]
    status, _, stderr = cli_main("convert", ACME, "-o", out, "--force")
    assert status == 0, stderr
    assert notes.read_text("utf-8") == "mine\n"  # not convert's: left alone
    assert (out / "projects.yaml").exists()
    # an earlier convert's file is replaced; one the user wrote by that name is not
    (out / "tasks.yaml").write_text("# edited by hand\ntasks: []\n", encoding="utf-8")
    before = (out / "people.yaml").read_text("utf-8")
    status, _, stderr = cli_main("convert", ACME, "-o", out, "--force")
    assert status == 1 and f"{out / 'tasks.yaml'}: not written by 'beeplan convert'" in stderr
    assert (out / "tasks.yaml").read_text("utf-8") == "# edited by hand\ntasks: []\n"
    assert (out / "people.yaml").read_text("utf-8") == before


def test_the_output_cannot_be_inside_the_legacy_set(cli_main, tmp_path: Path) -> None:
    legacy = tmp_path / "acme"
    shutil.copytree(ACME, legacy)
    status, _, stderr = cli_main("convert", legacy, "-o", legacy / "current")
    assert status == 1 and "inside" in stderr and "nothing written" in stderr
    assert not (legacy / "current").exists()
    status, _, stderr = cli_main("convert", legacy, "-o", legacy, "--force")
    assert status == 1 and "inside" in stderr
    assert sorted(p.name for p in legacy.iterdir()) == sorted(p.name for p in ACME.iterdir())


def test_a_file_convert_wrote_earlier_and_no_longer_writes_is_removed(
        cli_main, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert cli_main("convert", ACME, "-o", out)[0] == 0
    legacy = tmp_path / "small.yaml"
    legacy.write_text("companies:\n  - {xid: c, name: C}\n"
                      "people:\n  - {xid: a, name: A, company: c, email: a@example.com}\n",
                      encoding="utf-8")
    status, _, stderr = cli_main("convert", legacy, "-o", out, "--force")
    assert status == 0, stderr
    assert sorted(p.name for p in out.iterdir()) == ["people.yaml", "projects.yaml",
                                                      "settings.yaml"]


def test_help_has_examples(cli_main) -> None:
    status, stdout, _ = cli_main("convert", "--help")
    assert status == 0
    assert "beeplan convert examples/acme -o current/" in stdout
    assert "docs/moving-to-the-current-platform.md" in stdout
