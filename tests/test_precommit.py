"""The pre-commit hook beeplan offers: its definition, and that its entry really validates.

pre-commit itself is not a test dependency: the ``try-repo`` test runs only
where the ``pre-commit`` executable is installed (and the package index is
reachable, since pre-commit installs the hook into its own environment).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from beeplan.cli import cli

ROOT = Path(__file__).resolve().parent.parent
HOOKS = ROOT / ".pre-commit-hooks.yaml"
ACME = ROOT / "examples" / "acme"


def hook() -> dict[str, Any]:
    hooks = yaml.safe_load(HOOKS.read_text(encoding="utf-8"))
    assert isinstance(hooks, list) and all(isinstance(h, dict) for h in hooks)
    (found,) = [h for h in hooks if h.get("id") == "beeplan-validate"]
    return found


def run_entry(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the hook's entry as pre-commit would: entry words, then args, no file names."""
    entry = shlex.split(hook()["entry"])
    # The 'beeplan' console script is beeplan.cli:entry, which is what -m beeplan runs;
    # going through sys.executable tests this checkout, not whatever is on PATH.
    assert entry[0] == "beeplan"
    return subprocess.run([sys.executable, "-m", "beeplan", *entry[1:], *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_hook_definition() -> None:
    h = hook()
    for key in ("id", "name", "entry", "language"):  # what pre-commit requires
        assert h.get(key), key
    assert h["language"] == "python"  # pre-commit pip-installs this repository
    # Validation needs the whole set (references cross files), not the staged files.
    assert h["pass_filenames"] is False
    assert h["args"] == ["manifests"]
    pattern = re.compile(h["files"])
    assert all(pattern.search(p) for p in ("manifests/acme.yaml", "a/b.yml"))
    assert not any(pattern.search(p) for p in ("plan.json", "notes.yaml.bak", "x.yamlx"))


def test_entry_names_the_console_script_and_a_real_command() -> None:
    entry = shlex.split(hook()["entry"])
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "scripts"]
    assert scripts[entry[0]] == "beeplan.cli:entry"
    assert entry[1] in cli.commands


def _loader_ready() -> str | None:
    if not ACME.is_dir():
        return "examples/acme does not exist yet"
    command = cli.commands.get("validate")
    if command is None or [p.name for p in command.params] == ["args"]:
        return "beeplan validate is not implemented yet"
    return None


@pytest.mark.skipif(_loader_ready() is not None, reason=str(_loader_ready()))
def test_entry_accepts_the_quick_start(tmp_path: Path) -> None:
    shutil.copytree(ACME, tmp_path / "manifests")
    proc = run_entry(hook()["args"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.skipif(_loader_ready() is not None, reason=str(_loader_ready()))
def test_entry_blocks_a_commit_with_a_broken_reference(tmp_path: Path) -> None:
    manifests = tmp_path / "manifests"
    shutil.copytree(ACME, manifests)
    bad = manifests / "zz-broken.yaml"
    bad.write_text("tasks:\n  - {xid: broken-task, name: Broken, company: no-such-company}\n",
                   encoding="utf-8")
    proc = run_entry(hook()["args"], cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "zz-broken.yaml" in proc.stderr and "no-such-company" in proc.stderr


@pytest.mark.skipif(shutil.which("pre-commit") is None, reason="pre-commit is not installed")
@pytest.mark.skipif(_loader_ready() is not None, reason=str(_loader_ready()))
def test_pre_commit_try_repo(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(ACME, repo / "manifests")
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "cache"),
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True, env=env)
    subprocess.run(["git", "add", "."], cwd=repo, check=True, env=env)
    proc = subprocess.run(
        ["pre-commit", "try-repo", str(ROOT), "beeplan-validate", "--all-files"],
        cwd=repo, capture_output=True, text=True, timeout=600, env=env,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"beeplan validate\.+Passed", proc.stdout), proc.stdout
