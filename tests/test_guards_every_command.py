"""Issue 24, guards in calls and KB: every command that reads stops before the API refuses.

Each command that reads (plan, plan --changed-since, check with and without
--max-calls, import, usage, apply of manifests, apply of a saved plan, also in
slices) runs against a sandbox whose day is nearly spent: beeplan's ledger
(the cache dir of the test) and the sandbox's own quota are both told that
only a little is left, as after another job of the same user. The sandbox is
the judge: it answers HTTP 429 to any call that arrives once its count is
spent, so "no 429" means no call went out that the quota could not take.
What each run spent is read from the sandbox's own counters, never from beeplan.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from beeplan.localfiles.cachefile import cache_dir
from beeplan.localfiles.ledger import DAILY_KB, DAILY_REQUESTS, token_key, utc_today
from beeplan.platforms.v2.sandbox.server import SandboxServer

from .conftest import Run

ACME = Path(__file__).resolve().parent.parent / "examples" / "acme"


def counted(sandbox: SandboxServer) -> tuple[int, float]:
    """(requests, KB) the sandbox's quota counted for the token today."""
    token_hash = hashlib.sha256(sandbox.token.encode("utf-8")).hexdigest()[:16]
    requests, nbytes = sandbox.store.usage(token_hash, sandbox.app.today())
    return requests, nbytes / 1024


def sent(sandbox: SandboxServer) -> int:
    """Every request the sandbox received, refused ones (429) included."""
    return sum(sandbox.calls.values())


def leave_today(sandbox: SandboxServer, calls: int, kb: int) -> None:
    """A new day of which only ``calls`` requests and ``kb`` KB are left: the ledger and
    the sandbox both say so (the rest went to another job of the same token)."""
    sandbox.advance_day()
    path = cache_dir() / "quota" / f"{token_key(sandbox.token)}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"day": utc_today(), "requests": DAILY_REQUESTS - calls,
                                "bytes": (DAILY_KB - kb) * 1024}))
    sandbox.quota_requests, sandbox.quota_kb = calls, kb


def states_the_estimate(err: str) -> bool:
    """The stop says calls and KB, and what to do next."""
    text = " ".join(err.split())
    return bool(re.search(r"\d+ more read calls are needed, about \d+ KB", text)) and (
        "Re-run after 00:00 UTC" in text or "no day holds it" in text) and (
        "--changed-since" in text and "--max-calls" in text)


@pytest.fixture
def acme(run: Run, sandbox: SandboxServer) -> SandboxServer:
    """The sandbox holding examples/acme, applied with the real quota."""
    code, _, err = run("apply", ACME, "--auto-approve")
    assert code == 0, err
    return sandbox


def _commands(tmp: Path) -> dict[str, list[object]]:
    changed = tmp / "changed"
    return {
        "plan": ["plan", ACME],
        "plan --changed-since": ["plan", changed, "--changed-since", ACME],
        "check": ["check", ACME],
        "check --max-calls": ["check", ACME, "--max-calls", 300, "--state", tmp / "st.json"],
        "import": ["import", "-o", tmp / "imported", "--force"],
        "usage": ["usage", ACME],
        "apply": ["apply", changed, "--auto-approve"],
        "apply PLANFILE": ["apply", tmp / "plan.json", "--manifests", changed,
                           "--auto-approve"],
        "apply PLANFILE --max-calls": ["apply", tmp / "plan.json", "--manifests", changed,
                                       "--auto-approve", "--max-calls", 2],
    }


def _changed_copy(tmp: Path) -> None:
    """examples/acme with one project renamed: a plan with one write."""
    changed = tmp / "changed"
    changed.mkdir(exist_ok=True)
    for source in ACME.iterdir():
        if source.is_file():
            (changed / source.name).write_bytes(source.read_bytes())
    for path in changed.glob("*.yaml"):
        text = path.read_text()
        if "kind: project" in text or "projects:" in text:
            renamed = re.sub(r"(\n\s*name: )([^\n]+)", r"\1\2 (renamed)", text, count=1)
            if renamed != text:
                path.write_text(renamed)
                return
    raise AssertionError("no project to rename in examples/acme")


COMMANDS = list(_commands(Path("/")))


@pytest.mark.parametrize("name", COMMANDS)
@pytest.mark.parametrize("kb_left", [0, 6, 20])
def test_no_command_meets_a_429_when_the_day_is_nearly_spent(
    run: Run, acme: SandboxServer, tmp_path: Path, name: str, kb_left: int
) -> None:
    _changed_copy(tmp_path)
    args = _commands(tmp_path)[name]
    if "PLANFILE" in name:  # saved the day before, by a PR job
        code, _, err = run("plan", tmp_path / "changed", "-o", tmp_path / "plan.json")
        assert code in (0, 2), err
    leave_today(acme, 400, kb_left)
    before = sent(acme)
    code, out, err = run(*args)
    requests, kb = counted(acme)
    # The sandbox never refused a call: each went out while the quota could take it.
    assert sent(acme) - before == requests, (name, kb_left, out + err)
    assert "429" not in err and "Traceback" not in err
    text = " ".join((out + err).split())
    if code != 0:  # a stop says what was estimated and what to do next
        assert "KB" in text, (name, err)
        assert re.search(r"00:00 UTC|tomorrow|following days", text), (name, err)
    if kb_left == 0:  # nothing left: refused before the first call, nothing spent
        assert requests == 0, (name, requests, out + err)
        if name == "check --max-calls":  # fits itself to what is left: nothing, and says so
            assert code == 0 and "with 0 API calls and 0.0 KB" in text, text
        else:
            assert code == 1, (name, out + err)


def measured_read(sandbox: SandboxServer, kind: str) -> tuple[int, float]:
    """(calls, KB) of the whole read beeplan's cache kept for this account: ``kind``
    "read" (plan, check, apply) or "lists" (usage), priced at the sizes it measured."""
    kept = json.loads((cache_dir() / "sizes" / f"{token_key(sandbox.token)}.json").read_text())
    (record,) = [r for k, r in kept["reads"].items() if k.startswith(kind + " ")]
    assert record["complete"]
    calls = sum(record["calls"].values())
    kb = sum(kept["services"][s] * n for s, n in record["calls"].items()) / 1024
    return calls, kb


@pytest.mark.parametrize("name", ["plan", "check", "apply", "usage"])
def test_a_read_the_last_one_says_cannot_fit_is_refused_before_its_first_call(
    run: Run, acme: SandboxServer, tmp_path: Path, name: str
) -> None:
    _changed_copy(tmp_path)
    args = _commands(tmp_path)[name]
    acme.advance_day()
    measuring = ["usage", ACME] if name == "usage" else ["plan", ACME]
    code, out, err = run(*measuring)  # measures this account's read (beeplan's cache)
    assert code == 0, err
    whole, whole_kb = measured_read(acme, "lists" if name == "usage" else "read")
    assert whole > 10 and whole_kb > 5
    # Today leaves more than the first reads need, less than the whole read.
    leave_today(acme, 400, int(whole_kb * 0.8))
    code, out, err = run(*args)
    assert code == 1, out + err
    assert counted(acme) == (0, 0)  # refused up front: nothing spent
    assert states_the_estimate(err), err
    assert re.search(rf"{whole} more read calls are needed", err), err  # the measured read
    assert "the read of this account on" in err
    sizes = cache_dir() / "sizes" / f"{token_key(acme.token)}.json"
    # A way out of an estimate the account outgrew the other way.
    assert f"if the account is smaller since, delete {sizes} to measure it again" in err
    # By calls too: the same read with fewer calls left than it takes.
    leave_today(acme, whole - 1, DAILY_KB)
    code, out, err = run(*args)
    assert code == 1 and counted(acme) == (0, 0), out + err
    assert f"only {whole - 1} of today's {DAILY_REQUESTS} calls are left" in err
    assert states_the_estimate(err), err
    # And a day that holds it reads it: the refusal was the estimate, not a rule.
    leave_today(acme, 400, DAILY_KB)
    code, out, err = run(*args)
    assert code in (0, 2), out + err


def test_apply_max_calls_below_the_measured_read_is_refused_before_any_call(
    run: Run, acme: SandboxServer, tmp_path: Path
) -> None:
    acme.advance_day()
    code, _, err = run("plan", ACME)
    assert code == 0, err
    whole, _ = measured_read(acme, "read")
    acme.advance_day()
    code, out, err = run("apply", ACME, "--auto-approve", "--max-calls", whole - 1)
    assert code == 1, out + err
    assert counted(acme) == (0, 0)
    text = " ".join(err.split())
    assert re.search(rf"{whole} more read calls, about \d+ KB", text), text
    assert f"--max-calls {whole - 1} does not cover reading the account" in text


def test_a_read_larger_than_a_whole_day_says_no_day_holds_it(
    run: Run, acme: SandboxServer, tmp_path: Path
) -> None:
    acme.advance_day()
    assert run("plan", ACME)[0] == 0
    # The record says what the last read asked for; make it ask for more than a day.
    path = cache_dir() / "sizes" / f"{token_key(acme.token)}.json"
    kept = json.loads(path.read_text())
    (key, record), = [(k, r) for k, r in kept["reads"].items()]
    record["calls"]["person.leaders"] = DAILY_REQUESTS + 1
    path.write_text(json.dumps(kept))
    acme.advance_day()
    code, _, err = run("plan", ACME)
    assert code == 1 and counted(acme) == (0, 0)
    text = " ".join(err.split())
    assert "more than a whole day's quota, so no day holds it" in text
    assert "Re-run after 00:00 UTC" not in text  # tomorrow would not do
    assert "'plan --changed-since BASE' reads only what changed" in text


def test_measured_sizes_are_kept_per_account_without_the_token(
    run: Run, acme: SandboxServer
) -> None:
    acme.advance_day()
    assert run("plan", ACME)[0] == 0
    path = cache_dir() / "sizes" / f"{token_key(acme.token)}.json"
    text = path.read_text()
    assert acme.token not in text
    kept = json.loads(text)
    assert kept["services"]["company.list"] > 0
    assert all(r["complete"] for r in kept["reads"].values())
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_a_damaged_sizes_file_is_set_aside_not_a_traceback(
    run: Run, acme: SandboxServer
) -> None:
    path = cache_dir() / "sizes" / f"{token_key(acme.token)}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"services": {"person.list": "big"}}')
    acme.advance_day()
    code, out, err = run("plan", ACME)
    assert code == 0, out + err
    assert "Traceback" not in err
    assert json.loads(path.read_text())["services"]["person.list"] > 0


@pytest.fixture
def big_lists(sandbox: SandboxServer, tmp_path: Path) -> Path:
    """An account whose people lists are five times the sizes beeplan starts its estimates
    from (250 people a company; CALL_BYTES were measured on 50). Written the way the
    benchmarks seed a sandbox (benchmarks/seeding.py: the calls an apply from empty makes,
    dispatched in-process), as the HTTP apply of 1500 people would take long."""
    from beeplan.manifest import load
    from beeplan.model import State
    from beeplan.planner import make_plan
    from benchmarks.generate import OrgSpec, generate, write_manifests
    from benchmarks.seeding import default_custom_fields, in_dependency_order

    org = generate(OrgSpec(companies=6, projects=12, tasks=8, people=1500, absences=4,
                           managers_per_company=2), seed=3)
    manifests = tmp_path / "big"
    write_manifests(org, manifests)
    plan = make_plan(load(manifests), State(custom_fields=default_custom_fields()))
    for action in in_dependency_order(plan.actions):
        sandbox.app.dispatch(action.service, {"service": action.service, **action.payload})
    return manifests


@pytest.mark.parametrize("command", ["import", "plan"])
def test_lists_larger_than_their_estimate_meet_no_429_at_the_end_of_the_day(
    run: Run, sandbox: SandboxServer, big_lists: Path, tmp_path: Path, command: str
) -> None:
    """The first read of this account (nothing measured yet), four calls at a time, with
    less than a few people lists' worth of KB left: an answer larger than its estimate
    must not carry the calls sent beside it past the quota (the code before met 429s
    here: import with 20 to 50 KB left). The sandbox's latency keeps calls in flight
    together, as a real API's does; near the end beeplan sends one at a time, so the
    outcome does not depend on how fast either side is."""
    sandbox.latency_ms = 20
    for kb_left in (20, 30, 40, 50, 70, 150):
        for measured in (cache_dir() / "sizes").glob("*.json"):
            measured.unlink()  # a machine that never read this account
        leave_today(sandbox, 400, kb_left)
        args: list[object] = (["import", "-o", tmp_path / f"imported-{kb_left}"]
                              if command == "import" else ["plan", big_lists])
        before = sent(sandbox)
        code, out, err = run(*args, "--parallelism", 4)
        requests, _ = counted(sandbox)
        assert code == 1, out + err  # the day holds no whole read of this account
        assert sent(sandbox) - before == requests, (kb_left, err)  # none refused: no 429
        assert "daily API quota reached" not in err, err
        assert "stopped before" in err and "KB" in err, err
