"""The layers and the platform boundary hold: import-linter's contracts in pyproject.toml."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _contracts() -> list[dict]:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    config = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    return config["tool"]["importlinter"]["contracts"]


def test_lint_imports_keeps_every_contract() -> None:
    lint = Path(sys.executable).parent / "lint-imports"
    assert lint.exists(), "install the test extras: pip install -e '.[test]' (import-linter)"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([str(lint)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert f"Contracts: {len(_contracts())} kept, 0 broken." in done.stdout


def test_every_core_module_is_held_to_the_platform_boundary() -> None:
    """A new top-level module cannot slip past the contract by not being listed."""
    (boundary,) = [c for c in _contracts() if c["type"] == "forbidden"]
    listed = set(boundary["source_modules"])
    top = {
        f"beeplan.{p.stem if p.is_file() else p.name}"
        for p in (ROOT / "beeplan").iterdir()
        if (p.suffix == ".py" or (p / "__init__.py").exists())
        and p.stem not in ("__init__", "__main__", "platforms")
    }
    assert top - listed == set(), "add these to the contract's source_modules"
    assert boundary["forbidden_modules"] == ["beeplan.platforms.v2"]
    # The boundary has no exceptions: the core reaches API v2 only through the Platform
    # value (issue 20). An ignore added here would let a core module import v2 again.
    assert boundary.get("ignore_imports", []) == []


def test_the_architecture_page_names_every_module() -> None:
    """docs/architecture.md, "Every module": each file, or a folder holding it, is named."""
    page = (ROOT / "docs" / "architecture.md").read_text("utf-8")
    lines = page.splitlines()
    missing = []
    for path in sorted((ROOT / "beeplan").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        folders = [p.as_posix() + "/" for p in path.relative_to(ROOT).parents][:-1]
        named = rel in page or any(
            f"`{folder}`" in page for folder in folders if folder != "beeplan/"
        ) or any(folders[0] in line and f"`{path.name}`" in line for line in lines)
        if not named:
            missing.append(rel)
    assert missing == []


def test_every_click_command_is_wiring_under_40_lines() -> None:
    """``cli/`` parses, calls a use case, prints: a command body past 40 lines holds more."""
    import ast

    long = []
    for path in sorted((ROOT / "beeplan" / "cli").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if not isinstance(node, ast.FunctionDef) or not any(
                    "command" in ast.unparse(d) or "group" in ast.unparse(d)
                    for d in node.decorator_list):
                continue
            body = node.body
            if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                body = body[1:] or body  # the docstring is --help, not code
            lines = (node.end_lineno or 0) - body[0].lineno + 1
            if lines >= 40:
                long.append(f"{path.name}:{node.lineno} {node.name}: {lines} lines")
    assert not long, long
