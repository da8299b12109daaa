"""Every malformed manifest in tests/data/invalid/ fails `beeplan validate` precisely.

A case is a file ``NN-name.yaml`` whose first lines say what is expected, or a
directory ``NN-name/`` with the same lines in ``expect.txt``::

    # expect: FILE:LINE: message fragment      (FILE relative to the case)
    # kind: yaml | file | schema | semantic

``schema`` cases are mistakes the JSON Schema alone must reject too.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from .conftest import Run

INVALID = Path(__file__).parent / "data" / "invalid"
ROOT = Path(__file__).parent.parent
_EXPECT = re.compile(r"^(?:# )?expect: (?P<file>[^:]+):(?P<line>\d+): (?P<fragment>.+)$")
_KIND = re.compile(r"^(?:# )?kind: (?P<kind>\w+)$")


@dataclass
class Case:
    path: Path
    kind: str
    expects: list[tuple[Path, int, str]]


def _case(path: Path) -> Case:
    header = (path / "expect.txt") if path.is_dir() else path
    lines = header.read_bytes().decode("ascii", "replace").splitlines()
    kind = ""
    expects = []
    for line in lines:
        if m := _EXPECT.match(line):
            where = path / m["file"] if path.is_dir() else path
            expects.append((where, int(m["line"]), m["fragment"]))
        elif m := _KIND.match(line):
            kind = m["kind"]
    assert kind and expects, f"{path}: no '# expect:' / '# kind:' header"
    return Case(path, kind, expects)


CASES = [_case(p) for p in sorted(INVALID.iterdir()) if p.suffix == ".yaml" or p.is_dir()]


def test_enough_distinct_cases() -> None:
    assert len(CASES) >= 40
    contents = [c.path.read_bytes() for c in CASES if c.path.is_file()]
    assert len(set(contents)) == len(contents)


@pytest.mark.parametrize("case", CASES, ids=[c.path.name for c in CASES])
def test_invalid_manifest_fails_validate(case: Case, cli_main: Run) -> None:
    code, out, err = cli_main("validate", case.path)
    assert code == 1, out + err
    assert "Traceback" not in err
    assert out == ""
    for where, line, fragment in case.expects:
        located = [row for row in err.splitlines() if row.strip().startswith(f"{where}:{line}:")]
        assert located, f"no error at {where}:{line} in:\n{err}"
        assert any(fragment in row for row in located), f"{fragment!r} not in:\n{err}"


def test_validate_as_a_process_exits_1_without_traceback() -> None:
    # The in-process test above goes through beeplan.cli.main; this checks the real process.
    paths = [str(c.path) for c in CASES if c.kind in ("yaml", "semantic")][:1]
    proc = subprocess.run([sys.executable, "-m", "beeplan", "validate", *paths],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "error" in proc.stderr


class _Yaml12Loader(yaml.SafeLoader):
    """What an editor's YAML 1.2 language server sees: dates stay text."""


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _schema_validator() -> Draft202012Validator:
    schema = json.loads((ROOT / "schemas" / "manifest.schema.json").read_text("utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _documents(path: Path) -> list[Any]:
    files = sorted(path.glob("*.y*ml")) if path.is_dir() else [path]
    return [yaml.load(f.read_text("utf-8"), Loader=_Yaml12Loader) for f in files]


def test_schema_accepts_examples_acme() -> None:
    validator = _schema_validator()
    documents = _documents(ROOT / "examples" / "acme")
    assert len(documents) >= 6
    for document in documents:
        assert list(validator.iter_errors(document)) == []


@pytest.mark.parametrize("case", [c for c in CASES if c.kind == "schema"],
                         ids=[c.path.name for c in CASES if c.kind == "schema"])
def test_schema_rejects_schema_mistakes(case: Case) -> None:
    validator = _schema_validator()
    assert any(not validator.is_valid(doc) for doc in _documents(case.path))


def test_shipped_schema_is_identical() -> None:
    source = (ROOT / "schemas" / "manifest.schema.json").read_bytes()
    shipped = (ROOT / "beeplan" / "schemas" / "manifest.schema.json").read_bytes()
    assert source == shipped


def test_every_schema_property_has_a_description() -> None:
    schema = json.loads((ROOT / "schemas" / "manifest.schema.json").read_text("utf-8"))
    missing: list[str] = []

    def visit(node: Any, where: str) -> None:
        if isinstance(node, dict):
            for name, sub in node.get("properties", {}).items():
                if "description" not in sub:
                    missing.append(f"{where}.{name}")
            for key, sub in node.items():
                visit(sub, f"{where}.{key}")
        elif isinstance(node, list):
            for index, sub in enumerate(node):
                visit(sub, f"{where}[{index}]")

    visit(schema, "$")
    assert missing == []
