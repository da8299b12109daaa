"""``${NAME}`` and ``${NAME:-default}`` in manifest values, from the environment.

One repository, two environments: values may vary with a variable. The plan
shows the resolved values; a saved plan records the variables and its
manifest digest covers them, so a plan made with STAGE=staging is refused
when applied with STAGE=prod. Unset variables and malformed references are
located validation errors, all reported at once, with no API call.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from beeplan.platforms.v2.sandbox.server import SandboxServer
from tests.conftest import Run

MANIFEST = """\
companies:
  - xid: acme-${STAGE}
    name: "ACME ${STAGE} (${REGION:-eu}) costs $$5, $HOME stays"
    projects:
      - xid: web-${STAGE}
        name: Web
        description: "${EMPTY:-fallback}|${EMPTY}|$"
"""


@pytest.fixture
def manifests(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "manifests"
    folder.mkdir()
    (folder / "acme.yaml").write_text(MANIFEST)
    monkeypatch.delenv("REGION", raising=False)
    monkeypatch.setenv("EMPTY", "")
    return folder


def test_the_plan_shows_resolved_values_and_records_the_variables(
    manifests: Path, tmp_path: Path, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STAGE", "staging")
    status, out, err = run("plan", manifests)
    assert status == 0, err
    assert "company acme-staging (ACME staging (eu) costs $5, $HOME stays)" in out
    assert "project web-staging" in out and "${" not in out
    saved = tmp_path / "plan.json"
    status, out, err = run("plan", manifests, "--format", "json", "-o", saved)
    assert status == 0, err
    doc = json.loads(saved.read_text())
    # Each variable read, with its value; null: unset, the manifests' default was used.
    assert doc["variables"] == {"EMPTY": "", "REGION": None, "STAGE": "staging"}
    creates = [c["after"] for a in doc["actions"] for c in a["changes"]
               if c["field"] == "description"]
    assert creates == ["fallback||$"]


def test_a_saved_plan_is_refused_when_a_variable_changed(
    manifests: Path, tmp_path: Path, run: Run, sandbox: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    saved = tmp_path / "plan.json"
    monkeypatch.setenv("STAGE", "staging")
    status, _, err = run("plan", manifests, "-o", saved)
    assert status == 0, err
    for change in ({"STAGE": "prod"}, {"STAGE": None}, {"REGION": "us"}):
        for name, value in change.items():
            if value is None:
                monkeypatch.delenv(name)
            else:
                monkeypatch.setenv(name, value)
        status, out, err = run("apply", saved, "--auto-approve")
        assert status == 1, out
        assert "refused: the environment variables its manifests read have changed" in err
        assert "Nothing was applied" in err
        monkeypatch.setenv("STAGE", "staging")
        monkeypatch.delenv("REGION", raising=False)
    assert "STAGE was \"staging\", now \"prod\"" not in err  # the last one changed REGION
    assert 'REGION was unset, now "us"' in err
    assert sandbox.calls["company.create"] == 0
    status, out, err = run("apply", saved, "--auto-approve")  # as planned: applies
    assert status == 0, err
    assert sandbox.calls["company.create"] == 1


def test_editing_the_recorded_variables_is_refused(
    manifests: Path, tmp_path: Path, run: Run, sandbox: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    saved = tmp_path / "plan.json"
    monkeypatch.setenv("STAGE", "staging")
    assert run("plan", manifests, "-o", saved)[0] == 0
    reads = sum(sandbox.calls.values())
    doc = json.loads(saved.read_text())
    doc["variables"]["STAGE"] = "prod"
    saved.write_text(json.dumps(doc))
    monkeypatch.setenv("STAGE", "prod")
    status, _, err = run("apply", saved, "--auto-approve")
    assert status == 1 and "refused" in err and "Nothing was applied" in err
    assert "(edited after it was made?)" in err  # the plan digest covers the variables
    assert sum(sandbox.calls.values()) == reads  # refused before any call


def test_unset_and_malformed_variables_are_located_errors_all_at_once(
    tmp_path: Path, run: Run, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "manifests"
    folder.mkdir()
    (folder / "a.yaml").write_text(
        "companies:\n"
        "  - xid: acme-${MISSING_ONE}\n"
        "    name: ok\n"
        "    description: ${A:?required}\n"
    )
    (folder / "b.yaml").write_text(
        "groups:\n"
        "  - xid: ops\n"
        "    name: ${MISSING_TWO} and ${1BAD}\n"
        "  - xid: dev\n"
        "    name: ${UNCLOSED\n"
        "  - xid: qa\n"
        "    name: ${A:-${B}}\n"
    )
    for name in ("MISSING_ONE", "MISSING_TWO", "A", "B"):
        monkeypatch.delenv(name, raising=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "x.yaml").write_text("groups: []\n")
    for args in (("validate", folder), ("diff", empty, folder), ("plan", folder)):
        status, out, err = run(*args)
        assert status == 1, out + err
        assert "Traceback" not in err
        for line in (
            f"{folder / 'a.yaml'}:2: companies[0].xid: ${{MISSING_ONE}}: the environment "
            "variable MISSING_ONE is not set; set it, or give a default: ${MISSING_ONE:-value}",
            f"{folder / 'a.yaml'}:4: companies[0].description: malformed variable "
            "'${A:?required}': only a name",
            f"{folder / 'b.yaml'}:3: groups[0].name: ${{MISSING_TWO}}: the environment variable "
            "MISSING_TWO is not set",
            f"{folder / 'b.yaml'}:5: groups[1].name: malformed variable '${{UNCLOSED': it has no "
            "closing }",
            f"{folder / 'b.yaml'}:7: groups[2].name: malformed variable '${{A:-${{B}}': a default "
            "cannot hold another ${...}",
        ):
            assert line in err, (args, err)
        assert "write ${NAME} or ${NAME:-default}, or $$ for a literal $" in err
    assert sum(sandbox.calls.values()) == 0


def test_keys_are_not_interpolated(
    tmp_path: Path, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "manifests"
    folder.mkdir()
    (folder / "a.yaml").write_text("${KIND}:\n  - xid: acme\n    name: ACME\n")
    monkeypatch.setenv("KIND", "companies")
    status, _, err = run("validate", folder)
    assert status == 1
    assert "unknown key '${KIND}'" in err


def test_a_variable_named_like_a_secret_is_refused(
    tmp_path: Path, run: Run, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A pull request could otherwise copy the job's token into a name, and so
    # into the plan comment.
    folder = tmp_path / "manifests"
    folder.mkdir()
    (folder / "a.yaml").write_text(
        "companies:\n"
        "  - xid: acme\n"
        "    name: ${BEEBOLE_TOKEN}\n"
        "    description: ${GITHUB_TOKEN:-none} ${AWS_SECRET_ACCESS_KEY:-x} ${API_KEY:-y}\n"
    )
    monkeypatch.setenv("GITHUB_TOKEN", "ghp-should-never-show")
    for args in (("validate", folder), ("plan", folder), ("plan", folder, "--format", "json")):
        status, out, err = run(*args)
        assert status == 1, out + err
        assert sandbox.token not in out + err and "ghp-should-never-show" not in out + err
        assert (f"{folder / 'a.yaml'}:3: companies[0].name: ${{BEEBOLE_TOKEN}}: a manifest "
                "cannot read a variable whose name says it holds a secret") in err
        assert "${GITHUB_TOKEN}: a manifest cannot read" in err
    assert sum(sandbox.calls.values()) == 0


def test_a_plan_without_variables_records_none(tmp_path: Path, run: Run) -> None:
    folder = tmp_path / "manifests"
    folder.mkdir()
    (folder / "a.yaml").write_text("companies:\n  - xid: acme\n    name: ACME costs $5\n")
    saved = tmp_path / "plan.json"
    status, _, err = run("plan", folder, "-o", saved)
    assert status == 0, err
    assert "variables" not in json.loads(saved.read_text())


ROOT = Path(__file__).resolve().parent.parent


def _yaml_blocks_with_variables(text: str) -> list[str]:
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.S)
    return [block for block in blocks if "${" in block]


def test_the_documented_examples_resolve(
    tmp_path: Path, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    readme = _yaml_blocks_with_variables((ROOT / "README.md").read_text())
    reference = _yaml_blocks_with_variables((ROOT / "docs" / "manifest.md").read_text())
    assert len(readme) == 1 and len(reference) == 1
    for index, block in enumerate(readme + reference):
        folder = tmp_path / f"example{index}"
        folder.mkdir()
        (folder / "a.yaml").write_text(block)
        monkeypatch.setenv("STAGE", "production")
        monkeypatch.delenv("BILLING_CONTACT", raising=False)
        status, out, err = run("plan", folder)
        assert status == 0, err
        assert "ACME (production)" in out and "${" not in out
        monkeypatch.delenv("STAGE")
        status, out, err = run("validate", folder)
        # The README's example has a default; the reference's shows the error.
        assert status == (0 if index == 0 else 1), err


def test_import_writes_dollar_signs_so_they_read_back_as_they_are(
    tmp_path: Path, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A live name holding "${X}" or "$$" must not turn into a variable once imported.
    monkeypatch.setenv("X", "oops")
    source = tmp_path / "source"
    source.mkdir()
    (source / "a.yaml").write_text(
        "companies:\n"
        "  - xid: acme\n"
        "    name: 'Cost $${X} and $$$$ and $5'\n"
        "    projects:\n"
        "      - xid: web\n"
        "        name: Web\n"
        "        description: '$${HOME}$$'\n"
    )
    status, _, err = run("apply", source, "--auto-approve")
    assert status == 0, err
    out = tmp_path / "imported"
    status, _, err = run("import", "-o", out)
    assert status == 0, err
    text = "".join(p.read_text() for p in sorted(out.glob("*.yaml")))
    assert "Cost $${X} and $$$ and $5" in text and "$${HOME}$" in text
    status, stdout, err = run("plan", out)
    assert status == 0, err
    assert "No changes" in stdout


def test_a_new_variable_is_an_entry_change_not_a_settings_change(
    tmp_path: Path, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = tmp_path / "base"
    base.mkdir()
    (base / "a.yaml").write_text("companies:\n  - xid: acme\n    name: ACME\n")
    head = tmp_path / "head"
    head.mkdir()
    (head / "a.yaml").write_text("companies:\n  - xid: acme\n    name: ACME ${STAGE}\n")
    monkeypatch.setenv("STAGE", "prod")
    assert run("apply", base, "--auto-approve")[0] == 0
    status, out, err = run("plan", head, "--changed-since", base)
    assert status == 0, err
    assert "1 entry changed since" in out and "ACME prod" in out
    assert "settings changed" not in out + err


def test_a_value_is_interpolated_once(
    tmp_path: Path, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A variable's value is taken as it is: a ${...} or $$ in it stays text.
    folder = tmp_path / "manifests"
    folder.mkdir()
    (folder / "a.yaml").write_text("companies:\n  - xid: acme\n    name: \"ACME ${INNER}\"\n")
    monkeypatch.setenv("INNER", "${BEEBOLE_TOKEN} $$ ${NOPE}")
    status, out, err = run("plan", folder)
    assert status == 0, err
    assert "ACME ${BEEBOLE_TOKEN} $$ ${NOPE}" in out


def test_a_variable_where_a_number_or_boolean_belongs_says_variables_give_text(
    tmp_path: Path, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`active: ${ACTIVE}` or `min: ${MIN:-3}` was refused as "got text" (and an id with
    "write it without quotes"), as if the manifest were wrong: now the error says why."""
    monkeypatch.setenv("ACTIVE", "true")
    (tmp_path / "acme.yaml").write_text(
        'companies:\n  - id: "${ID:-3}"\n    name: A\n    active: ${ACTIVE}\n'
        "    corporate: false\nsettings:\n  safety: {min: \"${MIN:-3}\"}\n"
        "people:\n  - {xid: p, name: P, company: {id: 3}, active: 'true'}\n")
    code, out, err = run("validate", tmp_path)
    assert code == 1 and "Traceback" not in err
    lines = [line.strip() for line in err.splitlines()]
    hint = "it comes from a ${...} variable, and variables give text only"
    for where in ("acme.yaml:2: companies[0].id", "acme.yaml:4: companies[0].active",
                  "acme.yaml:7: settings.safety.min"):
        line = next(line for line in lines if where in line)
        assert hint in line, line
    assert not any("without quotes" in line for line in lines if "companies[0].id" in line)
    # Quoted by hand, not from a variable: the plain error, without the hint.
    line = next(line for line in lines if "people[0].active" in line)
    assert "got text" in line and hint not in line
