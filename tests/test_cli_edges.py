"""Small edges of the CLI: what apply reads, seed files, long error lists, tabs, -v/-q."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import Run

MANIFEST = {"companies": [{"xid": "acme", "name": "Acme"}]}


def test_a_yaml_manifest_in_json_syntax_is_applied_as_manifests(tmp_path: Path, run: Run) -> None:
    path = tmp_path / "acme.yaml"
    path.write_text(json.dumps(MANIFEST))  # JSON syntax is YAML: it starts with '{'
    status, out, err = run("apply", path, "--auto-approve")
    assert status == 0, err
    assert "1 applied, 0 failed" in out
    status, out, _ = run("plan", path)
    assert status == 0 and "No changes" in out


def test_a_json_manifest_is_a_manifest_and_a_broken_plan_says_so(
    tmp_path: Path, run: Run
) -> None:
    manifest = tmp_path / "acme.json"
    manifest.write_text(json.dumps(MANIFEST))
    status, out, err = run("apply", manifest, "--auto-approve")
    assert status == 0, err
    assert "1 applied, 0 failed" in out
    broken = tmp_path / "plan.json"
    broken.write_text('{"actions": []}')
    status, _, err = run("apply", broken, "--auto-approve")
    assert status == 1
    assert "not a beeplan plan (no format_version)" in err


def test_a_saved_plan_is_recognised_by_its_content_whatever_its_name(
    tmp_path: Path, run: Run
) -> None:
    manifest = tmp_path / "acme.yaml"
    manifest.write_text("companies:\n  - {xid: acme, name: Acme}\n")
    saved = tmp_path / "plan.out"
    status, _, err = run("plan", manifest, "-o", saved)
    assert status == 0, err
    status, out, err = run("apply", saved, "--auto-approve")
    assert status == 0, err
    assert "1 applied, 0 failed" in out
    # Even named .yaml: plan -o writes it and invites applying it, so apply reads a plan.
    manifest.write_text("companies:\n  - {xid: acme, name: Acme Two}\n")
    saved = tmp_path / "plan.yaml"
    status, out, err = run("plan", manifest, "-o", saved)
    assert status == 0, err
    assert f"beeplan apply {saved}" in out + err
    status, out, err = run("apply", saved, "--auto-approve")
    assert status == 0, err
    assert "1 applied, 0 failed" in out and "company.update" in out


def test_a_seed_file_that_is_not_utf8_is_a_clear_error(tmp_path: Path, cli_main: Run) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_bytes(b"customFields:\n  - {name: Caf\xe9, availableFor: [people]}\n")
    status, _, err = cli_main("sandbox", "serve", "--db", ":memory:", "--seed-file", seed)
    assert status == 1
    assert f"{seed} is not UTF-8" in err and "0xe9" in err
    assert "Traceback" not in err


def test_a_hundred_thousand_errors_print_a_hundred_lines_and_a_count(
    tmp_path: Path, cli_main: Run
) -> None:
    path = tmp_path / "many.yaml"
    path.write_text("settings:\n" + "  prune: true\n" * 100_000)
    status, out, err = cli_main("validate", path)
    assert status == 1 and out == ""
    lines = err.splitlines()
    assert lines[0] == "Error: 99,999 errors in the manifests:"
    assert len(lines) == 102
    assert lines[-1].strip().startswith("... and 99,899 more errors")
    # In a workflow too: 100 annotations and one that counts the rest, not 99,999.
    status, out, _ = cli_main("validate", path, "--format", "github")
    assert status == 1
    rows = out.splitlines()
    assert len(rows) == 101 and all(r.startswith("::error ") for r in rows)
    assert rows[-1].endswith("... and 99,899 more errors (the first 100 are annotated: fix them "
                             "and run again)")


def test_a_tab_indentation_says_to_indent_with_spaces(tmp_path: Path, cli_main: Run) -> None:
    path = tmp_path / "tabs.yaml"
    path.write_text("companies:\n\t- xid: acme\n\t  name: Acme\n")
    status, _, err = cli_main("validate", path)
    assert status == 1
    assert f"{path}:2: invalid YAML: this line is indented with a tab" in err
    assert "replace the tabs at the start of the line with spaces" in err
    path.write_text("companies:\n  -\txid: acme\n    name: Acme\n")  # after the list's dash
    status, _, err = cli_main("validate", path)
    assert status == 1 and f"{path}:2: invalid YAML: this line is indented with a tab" in err


def test_verbose_and_quiet_work_after_the_subcommand(tmp_path: Path, run: Run) -> None:
    path = tmp_path / "acme.yaml"
    path.write_text("companies:\n  - {xid: acme, name: Acme}\n")
    status, out, err = run("plan", path, "-v")
    assert status == 0
    assert "company.list -> HTTP 200" in err  # each API call, as with 'beeplan -v plan'
    status, out, err = run("validate", path, "-q")
    assert (status, out) == (0, "")
    status, out, _ = run("validate", path)
    assert out.startswith(f"{path}: valid")
