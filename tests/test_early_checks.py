"""Mistakes in where to write fail before any API call, and a failed connection says where."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from beeplan.platforms.v2.sandbox.server import SandboxServer

from .conftest import Run

ACME = Path(__file__).resolve().parent.parent / "examples" / "acme"


def one_error_line(code: int, err: str) -> str:
    assert code == 1, err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, err
    return errors[0]


@pytest.mark.parametrize("where", ["missing/plan.json", "missing/deeper/plan.json"])
def test_plan_o_into_a_folder_that_does_not_exist_fails_before_any_read(
    where: str, run: Run, sandbox: SandboxServer, tmp_path: Path
) -> None:
    """It read the whole account, then failed to write the file."""
    out = tmp_path / where
    sandbox.reset_calls()
    code, stdout, err = run("plan", ACME, "-o", out)
    line = one_error_line(code, err)
    assert f"-o {out}" in line and "does not exist" in line and "mkdir -p" in line
    assert sum(sandbox.calls.values()) == 0
    assert stdout == "" and not out.parent.exists()
    out.parent.mkdir(parents=True)  # as the message says: then it works
    code, _, err = run("plan", ACME, "-o", out)
    assert code == 0 and out.is_file(), err


def test_sandbox_endpoint_in_a_folder_that_does_not_exist_fails_naming_the_option(
    cli_main: Run, tmp_path: Path
) -> None:
    db = tmp_path / "missing" / "demo.db"
    code, _, err = cli_main("plan", ACME, "--endpoint", f"sandbox:{db}")
    line = one_error_line(code, err)
    assert f"--endpoint sandbox:{db}" in line and "does not exist" in line
    assert not db.parent.exists()
    code, _, err = cli_main("plan", ACME, "--endpoint", f"sandbox:{tmp_path}")
    line = one_error_line(code, err)
    assert "is a folder" in line


def test_a_failed_connection_names_the_url_it_tried_and_never_the_token(
    cli_main: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:  # a port nobody listens on, after
        port = taken.getsockname()[1]
    token = "tok-0123456789abcdef0123456789abcdef"
    monkeypatch.setenv("BEEBOLE_TOKEN", token)
    monkeypatch.setenv("BEEPLAN_CACHE_DIR", str(tmp_path / "cache"))
    url = f"http://127.0.0.1:{port}/api/v2"
    code, out, err = cli_main("plan", ACME, "--endpoint", url + "?note=" + token)
    line = one_error_line(code, err)
    assert f"tried {url}" in line, line
    assert token not in out + err
