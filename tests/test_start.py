"""Issue 24: ``--help`` and ``validate`` start without the HTTP stack or the differ.

Every pre-commit hook pays beeplan's start-up; commands that never call the API
or diff anything must not import requests, urllib3 or deepdiff. Checked in a
new interpreter (``sys.modules`` after the command), nothing about time.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROBE = """
import sys
sys.argv = ["beeplan", *sys.argv[1:]]
try:  # main, not python -m beeplan: the command's quick end would skip the report below
    from beeplan.cli import main
    main()
except SystemExit as exc:
    status = exc.code
sys.stderr.write("\\nSTATUS %s\\nMODULES %s\\n" % (status, " ".join(sorted(sys.modules))))
"""


def imported(*args: str) -> tuple[int, set[str]]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), NO_COLOR="1")
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=60)
    lines = proc.stderr.splitlines()
    status = next(line for line in reversed(lines) if line.startswith("STATUS "))
    modules = next(line for line in reversed(lines) if line.startswith("MODULES "))
    return int(status.split()[1] if status.split()[1] != "None" else 0), set(modules.split()[1:])


@pytest.mark.parametrize("args", [("--help",), ("validate", "examples/acme"),
                                  ("plan", "--help"), ("validate", "--help")])
def test_commands_that_call_no_api_import_neither_requests_nor_deepdiff(
    args: tuple[str, ...],
) -> None:
    status, modules = imported(*args)
    assert status == 0
    assert "beeplan.cli" in modules  # the probe did run the command
    heavy = modules & {"requests", "urllib3", "deepdiff", "beeplan.transport"}
    assert not heavy, f"beeplan {' '.join(args)} imported {sorted(heavy)}"


def test_validate_of_a_valid_manifest_does_not_need_jsonschema() -> None:
    """The compiled fast check decides a valid manifest; jsonschema only explains errors."""
    status, modules = imported("validate", "examples/acme")
    assert status == 0 and "jsonschema" not in modules


def test_help_imports_no_command_and_validate_only_its_own() -> None:
    """Each command's module is imported when it runs: ``--help`` lists them from the
    registry's own lines, ``validate`` loads neither plan, import nor the API client."""
    status, modules = imported("--help")
    assert status == 0
    commands = {m for m in modules if m.startswith("beeplan.cli.")} - {
        "beeplan.cli.options"}
    assert not commands, sorted(commands)
    status, modules = imported("validate", "examples/acme")
    assert status == 0 and "beeplan.cli.validate" in modules
    assert not modules & {"beeplan.cli.plan", "beeplan.cli.importer", "beeplan.usecases.steps",
                          "beeplan.platforms.v2.client", "beeplan.planner"}, sorted(
        m for m in modules if m.startswith("beeplan."))


def test_the_registry_lists_every_command_with_its_own_help() -> None:
    """``beeplan --help`` says what each command's own help says, and nothing is missing."""
    import click

    from beeplan.cli import LAZY_COMMANDS, cli

    for name, (_, line) in LAZY_COMMANDS.items():
        command = cli.commands[name]  # imports its module
        assert command.name == name
        for limit in (40, 60, 200):  # shortened alike at every terminal width
            assert click.Command(name, help=line).get_short_help_str(limit) == \
                command.get_short_help_str(limit), name
    listed = {name for name, _ in cli.commands.items()}
    assert listed == set(LAZY_COMMANDS)  # every module's COMMANDS are in the registry


# --- the command's quick end (``beeplan.cli.entry``) ---------------------------------


def beeplan_process(*args: str, code: str = "", cwd: Path = ROOT,
                    env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m beeplan ARGS``, or ``code`` run before ``entry()`` as the command."""
    command = [sys.executable, "-m", "beeplan", *args] if not code else [
        sys.executable, "-c", f"{code}\nimport sys\nsys.argv[0] = 'beeplan'\n"
        "from beeplan.cli import entry\nentry()", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd,
                          env=env or dict(os.environ), timeout=120)


def test_the_command_ends_with_main_s_exit_status_and_whole_output(tmp_path: Path) -> None:
    ok = beeplan_process("validate", "examples/acme")
    assert ok.returncode == 0 and ok.stdout.startswith("examples/acme: valid"), ok.stderr
    bad = beeplan_process("validate", str(tmp_path / "nowhere"))
    assert bad.returncode == 1 and "nowhere" in bad.stderr
    # A plan with changes (--detailed-exitcode: 2), its whole text through a pipe.
    env = dict(os.environ, BEEPLAN_CACHE_DIR=str(tmp_path / "cache"), NO_COLOR="1")
    db = tmp_path / "demo.db"
    plan = beeplan_process("plan", "examples/acme", "--endpoint", f"sandbox:{db}",
                           "--detailed-exitcode", env=env)
    assert plan.returncode == 2, plan.stderr
    assert plan.stdout.rstrip().splitlines()[-1].startswith("API calls:"), plan.stdout[-300:]


def test_exit_handlers_run_before_the_quick_end(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    done = beeplan_process(
        "validate", "examples/acme",
        code=f"import atexit\natexit.register(lambda: open({str(marker)!r}, 'w').write('x'))")
    assert done.returncode == 0 and marker.read_text() == "x"


def test_a_thread_still_running_is_waited_for(tmp_path: Path) -> None:
    marker = tmp_path / "finished"
    done = beeplan_process("validate", "examples/acme", code=(
        "import threading, time\n"
        f"def late():\n    time.sleep(0.5)\n    open({str(marker)!r}, 'w').write('x')\n"
        "threading.Thread(target=late).start()"))
    assert done.returncode == 0 and marker.read_text() == "x"


def test_a_daemon_thread_does_not_hold_the_quick_end_back(tmp_path: Path) -> None:
    # The client's deadline watcher is a daemon thread, which the usual end would not
    # wait for either. An object freed at the usual end marks it: the quick end skips it.
    freed = tmp_path / "freed"
    torn_down = (
        "import threading, time\n"
        "class Freed:\n    def __del__(self, open=open):\n"  # (builtins go first)
        f"        open({str(freed)!r}, 'w').write('x')\n"
        "kept = Freed()\n")
    done = beeplan_process("validate", "examples/acme", code=torn_down + (
        "threading.Thread(target=time.sleep, args=(30,), daemon=True).start()"))
    assert done.returncode == 0 and not freed.exists()
    done = beeplan_process("validate", "examples/acme", code=torn_down + (
        "threading.Thread(target=time.sleep, args=(0.2,)).start()"))  # waited for
    assert done.returncode == 0 and freed.exists()


def test_a_profiler_still_gets_its_figures(tmp_path: Path) -> None:
    # cProfile (like coverage and debuggers) writes what it measured as the interpreter
    # ends: under one, the command ends the usual way.
    out = tmp_path / "validate.prof"
    done = subprocess.run([sys.executable, "-m", "cProfile", "-o", str(out), "-m", "beeplan",
                           "validate", "examples/acme"], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert out.stat().st_size > 0
