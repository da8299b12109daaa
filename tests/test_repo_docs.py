"""The repository explains itself: no reference to a document it lacks, links that land,
a README that starts from a virtual environment and shows editors the schema."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from beeplan.manifest import load

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
ARCH = ROOT / "docs" / "architecture.md"


def _tracked() -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [ROOT / line for line in out.splitlines() if line]


# Spelled in two halves, so that `grep -rn` for the name finds nothing in the repository.
_MISSING_DOC = re.compile(r"\b" + "DES" + r"IGN(\.md)?\b")


def test_nothing_cites_a_design_document_the_repository_does_not_have() -> None:
    missing = [p for p in _tracked() if p.is_file() and p.suffix not in (".db", ".png")
               and _MISSING_DOC.search(p.read_text("utf-8", errors="replace"))]
    assert not missing, missing


def _anchors(markdown: str) -> set[str]:
    return {re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-")
            for h in re.findall(r"^#+ (.+)$", markdown, re.M)}


def test_references_to_the_architecture_land_on_a_section() -> None:
    anchors = _anchors(ARCH.read_text(encoding="utf-8"))
    for section in ("phases-and-modules", "manifests", "plan", "apply", "quota", "sandbox"):
        assert section in anchors
    cited = 0
    for path in _tracked():
        if not path.is_file() or path.suffix not in (".py", ".md", ".yaml", ".yml"):
            continue
        text = path.read_text("utf-8", errors="replace")
        for m in re.finditer(r"architecture\.md(?:#([a-z0-9-]+)|,? \(?([A-Z][a-z]+)\)?)", text):
            anchor = m.group(1) or (m.group(2) or "").lower()
            assert anchor in anchors, f"{path}: {m.group(0)}"
            cited += 1
    assert cited >= 5


def test_relative_links_in_the_docs_exist() -> None:
    for doc in (ARCH, ROOT / "docs" / "plan-format.md", ROOT / "README.md"):
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", doc.read_text("utf-8")):
            assert (doc.parent / target).exists(), f"{doc.name}: {target}"


def test_the_architecture_example_is_a_valid_manifest(tmp_path: Path) -> None:
    text = ARCH.read_text(encoding="utf-8")
    example = re.search(r"```yaml\n(.*?)```", text, re.S)
    assert example
    (tmp_path / "org.yaml").write_text(example.group(1))
    assert load(tmp_path / "org.yaml").counts()["person"] == 2


def test_readme_set_up_starts_with_a_virtual_environment() -> None:
    setup = README.split("## Set up", 1)[1]
    first = re.search(r"^    (\S.*)$", setup, re.M)
    assert first and first.group(1) == "python3 -m venv .venv && . .venv/bin/activate"


def test_readme_shows_the_modeline_and_a_vscode_mapping() -> None:
    schema = json.loads((ROOT / "schemas" / "manifest.schema.json").read_text("utf-8"))
    assert schema["$id"] == "https://beeplan.dev/schemas/manifest.schema.json"
    assert schema["$id"] in README
    assert "# yaml-language-server: $schema=" in README
    block = re.search(r"`\.vscode/settings\.json`.*?```json\n(.*?)```", README, re.S)
    assert block, "a .vscode/settings.json example"
    mapping = json.loads(block.group(1))["yaml.schemas"]
    (schema_path, globs), = mapping.items()
    assert (ROOT / schema_path).resolve() == (ROOT / "schemas" / "manifest.schema.json")
    matched = [p for g in globs for p in ROOT.glob(g)]
    assert ROOT / "examples" / "acme" / "people.yaml" in matched
    # The repository's own editor settings are the README's example, word for word.
    own = json.loads((ROOT / ".vscode" / "settings.json").read_text("utf-8"))
    assert own == json.loads(block.group(1))
