"""A manifest set written for Beebole's current platform meets beeplan with a clear answer.

validate checks it with the current platform's checker; every other command
refuses it before any API call, naming the file and line that says so.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "current"


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "current"
    shutil.copytree(EXAMPLE, target)
    return target


def _platform_line(settings: Path) -> int:
    return next(n for n, line in enumerate(settings.read_text().splitlines(), 1)
                if line.strip().startswith("platform:"))


def test_validate_checks_the_example_with_the_current_platforms_checker(cli_main) -> None:
    status, out, err = cli_main("validate", EXAMPLE)
    assert status == 0, err
    assert "valid for Beebole's current platform" in out
    assert "8 people" in out
    assert "schema" not in err and err == ""


@pytest.mark.parametrize("fmt", ["json", "github"])
def test_validate_formats_on_a_valid_current_set(cli_main, fmt: str) -> None:
    status, out, err = cli_main("validate", EXAMPLE, "--format", fmt)
    assert status == 0, err
    if fmt == "json":
        doc = json.loads(out)
        assert doc["valid"] is True and doc["errors"] == []
        assert doc["counts"]["people"] == 8
    else:
        assert "::error" not in out and "valid for Beebole's current platform" in out


def _broken(tmp_path: Path) -> Path:
    path = _copy(tmp_path)
    people = path / "people.yaml"
    text = people.read_text()
    assert "email:" in text
    people.write_text(text.replace("email:", "emial:", 1))
    tasks = path / "tasks.yaml"
    tasks.write_text(tasks.read_text() + "bogus: 1\n")
    return path


def test_validate_reports_every_current_error_with_file_and_line(cli_main, tmp_path) -> None:
    path = _broken(tmp_path)
    emial = next(n for n, line in enumerate((path / "people.yaml").read_text().splitlines(), 1)
                 if "emial:" in line)
    bogus = len((path / "tasks.yaml").read_text().splitlines())
    status, out, err = cli_main("validate", path)
    assert status == 1
    assert f"{path / 'people.yaml'}:{emial}:" in err
    assert "did you mean 'email'" in err
    assert f"{path / 'tasks.yaml'}:{bogus}:" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("fmt", ["json", "github"])
def test_validate_formats_on_a_broken_current_set(cli_main, tmp_path, fmt: str) -> None:
    path = _broken(tmp_path)
    status, out, err = cli_main("validate", path, "--format", fmt)
    assert status == 1
    if fmt == "json":
        doc = json.loads(out)
        assert doc["valid"] is False
        assert {Path(e["file"]).name for e in doc["errors"]} == {"people.yaml", "tasks.yaml"}
        assert all(e["line"] for e in doc["errors"])
    else:
        assert out.count("::error file=") == 2, out  # emial (did you mean email), bogus


def test_two_files_naming_different_platforms_is_an_error_naming_both(cli_main, tmp_path) -> None:
    path = _copy(tmp_path)
    (path / "zz.yaml").write_text("settings:\n  platform: v2\n")
    status, out, err = cli_main("validate", path)
    assert status == 1
    settings = path / "settings.yaml"
    assert f"{path / 'zz.yaml'}:2:" in err
    assert f"{settings}:{_platform_line(settings)}" in err
    assert "'current'" in err and "'v2'" in err
    assert "Traceback" not in err


def test_validate_help_says_what_it_does_with_a_current_set(cli_main) -> None:
    status, out, _ = cli_main("validate", "--help")
    assert status == 0
    assert "settings.platform says current" in " ".join(out.split())


# plan, check, apply and usage run a current set on its platform (tests/current/); diff and
# graph take it offline (tests/current/test_commands.py). Against this v2 sandbox they refuse
# it, naming both platforms, before any call.
@pytest.mark.parametrize("command", ["plan", "check", "apply", "usage"])
def test_a_current_set_against_a_v2_endpoint_is_refused_before_any_call(
    run, sandbox, tmp_path, command: str
) -> None:
    path = _copy(tmp_path)
    settings = path / "settings.yaml"
    sandbox.calls.clear()
    status, out, err = run(command, path)
    assert status == 1
    assert f"{settings}:{_platform_line(settings)}: these manifests are written for platform " \
           "'current', but the endpoint " in err
    assert "speaks 'v2'; use an endpoint of 'current': --endpoint http" in err
    assert "does not match" not in err and "unknown key" not in err  # no v2 schema errors
    assert err.count("\n") <= 2, err
    assert "Traceback" not in err
    assert sum(sandbox.calls.values()) == 0


def test_import_into_a_current_set_refuses_before_any_call(run, sandbox, tmp_path) -> None:
    path = _copy(tmp_path)
    before = {f.name: f.read_bytes() for f in path.iterdir()}
    sandbox.calls.clear()
    status, out, err = run("import", "-o", path, "--force")
    assert status == 1
    assert "written for Beebole's current platform" in err and "settings.yaml:" in err
    assert sum(sandbox.calls.values()) == 0
    assert {f.name: f.read_bytes() for f in path.iterdir()} == before
