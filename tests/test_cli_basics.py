"""The CLI's skeleton: help, version, and exit-code mapping."""

import subprocess
import sys

from click.testing import CliRunner

from beeplan.cli import cli


def test_help_lists_every_command() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in ("validate", "diff", "plan", "apply", "check", "import", "graph", "sandbox"):
        assert name in result.output


def test_usage_error_exits_1_not_2() -> None:
    # 2 means "changes present"; a typo must never look like drift to CI.
    proc = subprocess.run(
        [sys.executable, "-m", "beeplan", "check", "--no-such-option"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    assert "no-such-option" in proc.stderr
