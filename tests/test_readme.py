"""The README's set-up commands are the ones that work, and .ci/run runs the test one."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def indented_commands() -> list[str]:
    return [m.group(1).strip() for m in re.finditer(r"^    (pip install .+)$", README, re.M)]


def test_two_setup_commands_at_the_top() -> None:
    quick, tests = indented_commands()[:2]
    assert quick.startswith("pip install . && beeplan apply examples/acme")
    assert tests == "pip install -e '.[test]' && pytest -m 'slow or not slow'"
    ci = (ROOT / ".ci" / "run").read_text()
    assert tests in ci.splitlines(), ".ci/run must run exactly the README's test command"


def test_plain_pytest_is_the_documented_quick_loop() -> None:
    # The README says plain 'pytest' leaves the slow tests out; pytest's config does it.
    # (A regex, not tomllib: that needs Python 3.11, beeplan runs on 3.10.)
    pyproject = (ROOT / "pyproject.toml").read_text()
    section = pyproject.split("[tool.pytest.ini_options]", 1)[1].split("\n[", 1)[0]
    assert re.search(r"""^addopts = ".*-m 'not slow'.*"$""", section, re.M)
    assert '"slow: ' in section
    assert "The quick loop while you work is plain `pytest`" in README


def test_quick_start_runs_as_written(tmp_path: Path) -> None:
    quick = indented_commands()[0]
    steps = [s.strip() for s in quick.split("&&")]
    assert steps[0] == "pip install ."  # already installed here; the rest runs as written
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    env = {**os.environ, "BEEPLAN_CACHE_DIR": str(tmp_path / "cache"), "NO_COLOR": "1"}
    env.pop("BEEBOLE_TOKEN", None)
    outputs = []
    for step in steps[1:]:
        argv = shlex.split(step)
        assert argv[0] == "beeplan"
        proc = subprocess.run(
            [sys.executable, "-m", "beeplan", *argv[1:]],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        outputs.append(proc.stdout)
    claimed = re.search(r"`(Apply: \d+ applied, 0 failed, 0 skipped)`", README)
    assert claimed, "the README quotes the apply's last line"
    assert claimed.group(1) in outputs[0]
    assert "No changes. The account matches the manifests." in outputs[1]


def test_the_current_platform_quick_start_runs_as_written(tmp_path: Path) -> None:
    line = re.search(r"^    (beeplan apply examples/current .+)$", README, re.M)
    assert line, "the README has a quick start for the current platform"
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    env = {**os.environ, "BEEPLAN_CACHE_DIR": str(tmp_path / "cache"), "NO_COLOR": "1"}
    env.pop("BEEBOLE_TOKEN", None)
    outputs = []
    for step in (s.strip() for s in line.group(1).split("&&")):
        argv = shlex.split(step)
        assert argv[0] == "beeplan"
        proc = subprocess.run([sys.executable, "-m", "beeplan", *argv[1:]], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        outputs.append(proc.stdout)
    claimed = re.search(r"`(Apply: \d+ applied, 0 failed, 0 skipped) \((\d+) API calls", README)
    assert claimed, "the README quotes the current apply's last line"
    assert f"{claimed.group(1)} ({claimed.group(2)} API calls" in outputs[0]
    assert "No changes. The account matches the manifests." in outputs[1]
