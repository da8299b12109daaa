"""Issue 24: at the real quota (4000 requests, 2048 KB), no command meets the API's refusal.

beeplan stops on its own count first: before a fan-out whose estimated KB
(answer sizes measured per service, ``client.CALL_BYTES``, then this run's
average answer per service) pass what is left, and before any single call that
would. Each command is run with a little less left every time, so the stop
falls at every stage of its reads in turn.
"""

from __future__ import annotations

from pathlib import Path

from beeplan.platforms.v2.sandbox.server import SandboxServer

from .conftest import Run
from .test_slices import spend_today

ACME = Path(__file__).resolve().parent.parent / "examples" / "acme"
DAILY_KB = 2048


def test_no_command_meets_a_429_as_the_kb_run_out(
    run: Run, sandbox: SandboxServer, tmp_path: Path
) -> None:
    code, _, err = run("apply", ACME, "--auto-approve")
    assert code == 0, err
    commands = {
        "plan": ("plan", ACME),
        "check": ("check", ACME, "--max-calls", 30),
        "import": ("import", "-o"),  # a new directory each time, below
        "apply": ("apply", ACME, "--auto-approve"),
        "usage": ("usage", ACME),
    }
    outcomes: dict[str, set[str]] = {name: set() for name in commands}
    for left_kb in (1, 3, 6, 9, 12, 16, 20, 30, 45, 60):
        for name, args in commands.items():
            # Another client spent the rest: the ledger and the sandbox agree on it.
            spend_today(sandbox.token, 0, (DAILY_KB - left_kb) * 1024)
            sandbox.quota_kb = left_kb
            sandbox.advance_day()  # the sandbox's count starts again at 0 of left_kb
            if name == "import":
                args = (*args, tmp_path / f"imported-{left_kb}")
            code, out, err = run(*args)
            assert "daily API quota reached" not in err + out, (name, left_kb, err)
            assert "Traceback" not in err
            if code == 0:
                outcomes[name].add("ran")
            else:
                assert "stopped before" in err, (name, left_kb, err)
                outcomes[name].add("stopped")
    for name, seen in outcomes.items():
        if name == "check":  # a budgeted check fits its units to the KB left, priced by
            # the sizes measured on this account (localfiles/sizes.py): a relation unit
            # of 0.3 KB fits even 1 KB, so it runs at every size, each within the quota
            assert "ran" in seen, seen
            continue
        assert seen == {"ran", "stopped"}, (name, seen)  # the sizes span both outcomes
