"""Issue 24, guards in calls and KB, the first read of an account on this machine.

No run measured this account's call sizes yet (beeplan's cache is empty), so the
per-service table (measured on 50-person companies) underestimates its lists
five times. After the read's first stage (company.list, group.tree,
custom_field.list), the rest is estimated from the account's counts (projects)
and what the manifests declare under the companies it holds; a rest that does not
fit what is left today is refused there, with 3 calls spent, not a day's quota.
The sandbox is the judge of what was spent (its own counters, never beeplan's).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from beeplan.localfiles.cachefile import cache_dir
from beeplan.localfiles.ledger import DAILY_KB, DAILY_REQUESTS, token_key
from beeplan.platforms.v2.sandbox.server import SandboxServer

from .conftest import Run
from .test_guards_every_command import counted, leave_today, sent, states_the_estimate

FIRST_STAGE = 3  # company.list, group.tree, custom_field.list (the people have fields)
# When only the declared people make the read too large, one people list says how many
# of them the account holds (the account counts its projects, not its people).
SAMPLED = FIRST_STAGE + 1
NEVER_READ = "this account was never read on this machine: estimated from its"


def _org_and_seed(sandbox: SandboxServer, out: Path,
                  keep: Callable[[str], bool] = lambda service: True) -> Path:
    """An org of 4 companies of 300 people each (a people list is about 57 KB, six times
    the 9.7 KB the table starts from), written to ``out``; the calls of its adoption for
    which ``keep(service)`` holds are made on the sandbox (in-process, as
    benchmarks/seeding.py does: an HTTP apply of 1200 people would take long)."""
    from beeplan.manifest import load
    from beeplan.model import State
    from beeplan.planner import make_plan
    from benchmarks.generate import OrgSpec, generate, write_manifests
    from benchmarks.seeding import default_custom_fields, in_dependency_order

    org = generate(OrgSpec(companies=4, projects=12, tasks=8, people=1200, absences=4,
                           managers_per_company=2), seed=5)
    write_manifests(org, out)
    plan = make_plan(load(out), State(custom_fields=default_custom_fields()))
    for action in in_dependency_order(plan.actions):
        if keep(action.service):
            sandbox.app.dispatch(action.service, {"service": action.service, **action.payload})
    return out


@pytest.fixture
def large(sandbox: SandboxServer, tmp_path: Path) -> Path:
    """The sandbox holding the whole org; its manifests."""
    return _org_and_seed(sandbox, tmp_path / "org")


def _full_read(run: Run, sandbox: SandboxServer, manifests: Path) -> tuple[int, float]:
    """(calls, KB) a whole plan of ``manifests`` takes, on a day that holds it."""
    leave_today(sandbox, DAILY_REQUESTS, DAILY_KB)
    before = counted(sandbox)
    code, out, err = run("plan", manifests)
    assert code in (0, 2), out + err
    after = counted(sandbox)
    return after[0] - before[0], after[1] - before[1]


def _forget_the_account() -> None:
    """A machine that never read the account: no measured sizes."""
    for kept in (cache_dir() / "sizes").glob("*.json"):
        kept.unlink()


@pytest.mark.parametrize("command", ["plan", "check", "apply"])
def test_a_first_read_too_large_for_the_kb_left_stops_after_the_first_stage(
    run: Run, sandbox: SandboxServer, large: Path, command: str
) -> None:
    calls, kb = _full_read(run, sandbox, large)
    assert calls > 100 and kb > 300  # the whole read, for scale
    _forget_the_account()
    # Room for the first stage and for the second stage as the table prices it (16 lists,
    # about 50 KB: the code before read on into the people lists and stopped at the end
    # of the KB), not for the read: about a third of it.
    leave_today(sandbox, DAILY_REQUESTS, int(kb / 3))
    args: list[object] = [command, large] + (["--auto-approve"] if command == "apply" else [])
    before = sent(sandbox)
    code, out, err = run(*args)
    assert code == 1, out + err
    assert sent(sandbox) - before == counted(sandbox)[0] == SAMPLED, (counted(sandbox), err)
    assert states_the_estimate(err), err
    text = " ".join(err.split())
    assert NEVER_READ in text and "by the sizes measured per service" not in text
    found = re.search(r"(\d+) more read calls are needed, about (\d+) KB", text)
    assert found is not None
    # The estimate is the read's, not the table's: within 10% of what it took.
    assert abs(int(found[1]) - (calls - FIRST_STAGE)) <= 0.1 * calls, (found[0], calls)
    assert abs(int(found[2]) - kb) <= 0.1 * kb, (found[0], kb)
    # The next run knows it (beeplan's cache): refused before its first call.
    leave_today(sandbox, DAILY_REQUESTS, int(kb / 3))
    code, out, err = run(*args)
    assert code == 1 and counted(sandbox) == (0, 0), out + err
    assert states_the_estimate(err), err


def test_a_first_read_with_too_few_calls_left_stops_after_the_first_stage(
    run: Run, sandbox: SandboxServer, large: Path
) -> None:
    calls, _ = _full_read(run, sandbox, large)
    _forget_the_account()
    left = calls // 2  # more than the second stage's 16 lists, less than the read
    leave_today(sandbox, left, DAILY_KB)
    code, out, err = run("plan", large)
    assert code == 1, out + err
    assert counted(sandbox)[0] == SAMPLED
    assert f"only {left - SAMPLED} of today's {DAILY_REQUESTS} calls are left" in err
    assert states_the_estimate(err), err


def test_apply_max_calls_below_a_first_read_stops_after_the_first_stage(
    run: Run, sandbox: SandboxServer, large: Path
) -> None:
    calls, _ = _full_read(run, sandbox, large)
    _forget_the_account()
    leave_today(sandbox, DAILY_REQUESTS, DAILY_KB)
    # 20 calls hold the first stage and the 16 lists under the companies (where the code
    # before stopped, 19 calls spent), not the rest, even with no people in the account:
    # no people list is needed to see that.
    code, out, err = run("apply", large, "--auto-approve", "--max-calls", 20)
    assert code == 1, out + err
    assert counted(sandbox)[0] == FIRST_STAGE
    text = " ".join(err.split())
    assert "--max-calls 20 does not cover reading the account" in text
    assert re.search(r"\d+ more read calls, about \d+ KB", text), text


def test_a_first_read_that_fits_proceeds(
    run: Run, sandbox: SandboxServer, large: Path
) -> None:
    calls, kb = _full_read(run, sandbox, large)
    _forget_the_account()
    # 15% more than the read: its estimate fits, though the table's sizes would not
    # have said so for each stage's lists.
    leave_today(sandbox, int(calls * 1.15), int(kb * 1.15))
    code, out, err = run("plan", large)
    assert code in (0, 2), out + err
    assert counted(sandbox)[0] == calls  # the whole read, once
    assert "429" not in err


def test_an_adoption_into_an_empty_account_is_not_refused_up_front(
    run: Run, sandbox: SandboxServer, tmp_path: Path
) -> None:
    manifests = _org_and_seed(sandbox, tmp_path / "org", keep=lambda service: False)
    # The same tiny day as the refusals above: a few KB, a few calls.
    leave_today(sandbox, 20, 40)
    code, out, err = run("plan", manifests)
    assert code in (0, 2) and "Error" not in err, out + err
    assert counted(sandbox)[0] == FIRST_STAGE  # nothing to list under no company
    assert NEVER_READ not in err
    created = re.search(r"Plan: (\d+) to create", out)
    assert created is not None and int(created[1]) > 1200, out  # the people and the rest


def test_a_partial_adoption_is_priced_by_the_people_the_account_holds(
    run: Run, sandbox: SandboxServer, tmp_path: Path
) -> None:
    """The companies and projects made, no people yet (an adoption stopped part-way):
    the manifests' 1200 people are not in the account, and one people list says so,
    so a day that holds the real read is not refused for the people it lacks."""
    manifests = _org_and_seed(sandbox, tmp_path / "org",
                              keep=lambda service: service in ("company.create", "project.create",
                                                                "subproject.create"))
    calls, kb = _full_read(run, sandbox, manifests)
    _forget_the_account()
    leave_today(sandbox, calls + 10, int(kb * 1.5) + 10)  # far less than 1200 people's
    sandbox.app.calls.clear()
    code, out, err = run("plan", manifests)
    assert code in (0, 2) and "Error" not in err, out + err  # the 1200 people: ~1300 calls
    assert counted(sandbox)[0] == calls  # the sampled people list is not read twice
    assert sandbox.app.calls["person.list"] == 4


def test_the_estimate_is_kept_without_the_token(
    run: Run, sandbox: SandboxServer, large: Path
) -> None:
    _, kb = _full_read(run, sandbox, large)
    _forget_the_account()
    leave_today(sandbox, DAILY_REQUESTS, int(kb / 3))
    assert run("plan", large)[0] == 1
    path = cache_dir() / "sizes" / f"{token_key(sandbox.token)}.json"
    assert sandbox.token not in path.read_text()


def test_a_first_usage_too_large_for_the_kb_left_stops_after_one_people_list(
    run: Run, sandbox: SandboxServer, large: Path
) -> None:
    """``usage`` reads lists only (no relations): the same estimate, without them."""
    leave_today(sandbox, DAILY_REQUESTS, DAILY_KB)
    code, out, err = run("usage", large)
    assert code == 0, out + err
    _, kb = counted(sandbox)
    assert kb > 150  # the people lists, mostly
    _forget_the_account()
    leave_today(sandbox, DAILY_REQUESTS, int(kb / 3))
    code, out, err = run("usage", large)
    assert code == 1, out + err
    # company.list, then the people list that says the declared people are there.
    assert counted(sandbox)[0] == 2, (counted(sandbox), err)
    assert states_the_estimate(err) and NEVER_READ in " ".join(err.split()), err
