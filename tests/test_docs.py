"""docs/manifest.md is generated from the manifest schema, and must not go stale."""

from __future__ import annotations

import copy
import importlib.util
import json
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "gen_manifest_docs.py"
SCHEMA = ROOT / "schemas" / "manifest.schema.json"
DOC = ROOT / "docs" / "manifest.md"


def generator() -> ModuleType:
    # scripts/ is not a package: load the script by path.
    spec = importlib.util.spec_from_file_location("gen_manifest_docs", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def schema() -> dict[str, Any]:
    return json.loads(SCHEMA.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def test_manifest_reference_is_up_to_date() -> None:
    expected = generator().render(schema())
    current = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
    if current != expected:
        pytest.fail("docs/manifest.md is stale: run python scripts/gen_manifest_docs.py",
                    pytrace=False)


def _objects(node: Any) -> Iterator[Mapping[str, Any]]:
    if isinstance(node, Mapping):
        if isinstance(node.get("properties"), Mapping):
            yield node
        for value in node.values():
            yield from _objects(value)
    elif isinstance(node, list):
        for item in node:
            yield from _objects(item)


def test_every_key_enum_and_default_is_documented() -> None:
    doc = DOC.read_text(encoding="utf-8")
    rows = {m.group(1) for m in re.finditer(r"^\| `([^`]+)` \|", doc, re.M)}
    for obj in _objects(schema()):
        for key, prop in obj["properties"].items():
            assert key in rows, f"key {key!r} has no row"
            for value in prop.get("enum", ()):
                assert f"`{value}`" in doc, f"{key}: allowed value {value!r} missing"
            if "default" in prop:
                assert f"`{json.dumps(prop['default'])}`" in doc, f"{key}: default missing"
            if prop.get("description"):
                assert " ".join(prop["description"].split()) in doc, f"{key}: description"


def test_every_link_points_to_a_heading() -> None:
    doc = DOC.read_text(encoding="utf-8")
    headings = {re.sub(r"[^\w\- ]", "", h).strip().lower().replace(" ", "-")
                for h in re.findall(r"^#+ (.+)$", doc, re.M)}
    links = set(re.findall(r"\]\(#([^)]+)\)", doc))
    assert links, "the reference links types to their sections"
    assert links <= headings, links - headings


def test_a_schema_change_makes_the_doc_stale(tmp_path: Path) -> None:
    changed = copy.deepcopy(schema())
    changed["$defs"]["person"]["properties"]["nickname"] = {
        "type": "string", "enum": ["Bee", "Bumble"], "default": "Bee",
        "description": "What colleagues call | the person."}
    schema_file = tmp_path / "schema.json"
    schema_file.write_text(json.dumps(changed), encoding="utf-8")
    gen = generator()
    text = gen.render(changed)
    assert re.search(r"^\| `nickname` \| string \|  \| `Bee` \| one of `Bee`, `Bumble` \| "
                     r"What colleagues call \\\| the person\. \|$", text, re.M)
    # --check says so, with the command to run, and writes nothing.
    assert gen.main(["--check", "--schema", str(schema_file), "--output", str(DOC)]) == 1
    out = tmp_path / "manifest.md"
    assert gen.main(["--schema", str(schema_file), "--output", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == text
    assert gen.main(["--check", "--schema", str(schema_file), "--output", str(out)]) == 0


def test_the_script_runs_as_documented() -> None:
    proc = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True,
                          text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
