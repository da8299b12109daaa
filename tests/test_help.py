"""Every command teaches: a description and runnable examples in --help."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from beeplan.cli import cli

from .conftest import Run

ROOT = Path(__file__).resolve().parent.parent


def all_commands() -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []

    def walk(group: click.Group, path: tuple[str, ...]) -> None:
        for name, command in sorted(group.commands.items()):
            found.append((*path, name))
            if isinstance(command, click.Group):
                walk(command, (*path, name))

    walk(cli, ())
    return found


@pytest.mark.parametrize("path", all_commands(), ids=" ".join)
def test_help_has_description_and_examples(path: tuple[str, ...], cli_main: Run) -> None:
    code, output, err = cli_main(*path, "--help")
    assert code == 0, output + err
    usage, _, rest = output.partition("\n\n")
    assert usage.startswith("Usage: ")
    assert rest.strip() and not rest.lstrip().startswith("Options:"), "no description"
    assert "Examples:" in output
    examples = output.split("Examples:", 1)[1]
    assert f"beeplan {' '.join(path)}" in examples, "examples must show the command itself"


def test_json_plan_on_stdout_stays_parseable_next_to_progress(tmp_path: Path) -> None:
    env = {**os.environ, "BEEPLAN_CACHE_DIR": str(tmp_path / "cache")}
    endpoint = f"sandbox:{tmp_path / 'demo.db'}"
    acme = str(ROOT / "examples" / "acme")
    apply = subprocess.run(
        [sys.executable, "-m", "beeplan", "-v", "apply", acme, "--endpoint", endpoint,
         "--auto-approve"],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert apply.returncode == 0, apply.stderr
    assert "[" in apply.stderr and "applied" in apply.stderr  # progress went to stderr
    assert "company.create ->" in apply.stderr  # -v: one line per API call
    plan = subprocess.run(
        [sys.executable, "-m", "beeplan", "-v", "plan", acme, "--endpoint", endpoint,
         "--format", "json"],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert plan.returncode == 0, plan.stderr
    doc = json.loads(plan.stdout)
    assert doc["actions"] == [] and doc["calls"]["read"] > 0
    assert "company.list ->" in plan.stderr
