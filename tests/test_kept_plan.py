"""``apply PATH --max-calls N`` in slices: the next run continues the plan the first kept.

Each run of an adoption in slices used to plan again from a full read, which grew
with what the earlier slices created; now the same manifests continue the kept plan,
re-reading only what the next part touches (beeplan/planfile/kept.py).
"""

from __future__ import annotations

import shutil
import stat
from collections import Counter
from pathlib import Path

from beeplan.localfiles.cachefile import cache_dir
from beeplan.platforms.v2.client import BeeboleClient
from beeplan.platforms.v2.sandbox.server import SandboxServer

from .conftest import Run

ACME = Path(__file__).resolve().parent.parent / "examples" / "acme"
# The reads of a full plan of acme start with these lists; a continued slice makes none.
FULL_READ = ("company.list", "group.tree", "project.list")


def kept_plans() -> list[Path]:
    return sorted((cache_dir() / "slices").glob("*-manifests-*.plan.json"))


def entity_xids(client: BeeboleClient) -> Counter[tuple[str, str]]:
    """(kind, xid) of every person, company and project: a duplicate counts twice."""
    seen: Counter[tuple[str, str]] = Counter()
    for company in client.call("company.list")["companies"]:
        seen["company", company["xid"]] += 1
        for kind, plural in (("person", "people"), ("project", "projects")):
            for obj in client.call(f"{kind}.list", company={"id": company["id"]})[plural]:
                seen[kind, obj.get("xid", "")] += 1
    return seen


def slice_until_done(run: Run, sandbox: SandboxServer, manifests: Path,
                     max_calls: int = 50) -> list[tuple[int, str, str, Counter[str]]]:
    """apply --max-calls until a run leaves nothing: each run's exit, out, err, calls."""
    runs = []
    for _ in range(10):
        sandbox.reset_calls()
        code, out, err = run("apply", manifests, "--auto-approve", "--max-calls", max_calls)
        runs.append((code, out, err, Counter(sandbox.calls)))
        if code != 0 or "Slice:" not in out:
            return runs
    raise AssertionError("the slices do not converge")


def test_the_next_slice_continues_the_kept_plan_without_a_full_read(
    run: Run, sandbox: SandboxServer, client: BeeboleClient
) -> None:
    runs = slice_until_done(run, sandbox, ACME)
    assert len(runs) >= 3 and all(code == 0 for code, *_ in runs), runs[-1][2]
    first, *later = runs
    assert "it continues this plan" in first[1]
    for _code, out, _err, calls in later:
        assert "Continuing the plan an earlier apply of these manifests made" in out
        assert not any(calls[s] for s in FULL_READ), calls  # no full read
    # Every write was made once: the writes of all the runs are the one plan's.
    writes = sum(sum(n for s, n in calls.items() if not s.endswith(
        (".get", ".list", ".tree", ".groups", ".members", ".managers", ".custom_fields",
         ".leaders", ".specific_tasks"))) for *_, calls in runs)
    code, out, _ = run("plan", ACME, "-o", "/dev/null")
    assert code == 0 and "No changes" in out, out
    sandbox.reset_calls()
    assert kept_plans() == []  # the finished plan goes: the next run plans afresh
    code, out, err = run("apply", ACME, "--auto-approve")
    assert code == 0 and "No changes" in out and sandbox.calls["company.list"] == 1, out + err
    assert max(entity_xids(client).values()) == 1
    assert writes == 111  # acme from empty: 111 actions, each sent once


def test_the_kept_plan_is_private_and_holds_no_token(
    run: Run, sandbox: SandboxServer
) -> None:
    code, out, err = run("apply", ACME, "--auto-approve", "--max-calls", 50)
    assert code == 0 and "Slice:" in out, err
    [kept] = kept_plans()
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert sandbox.token not in kept.read_text()


def test_edited_manifests_are_planned_again_from_a_full_read(
    run: Run, sandbox: SandboxServer, client: BeeboleClient, tmp_path: Path
) -> None:
    manifests = tmp_path / "acme"
    shutil.copytree(ACME, manifests)
    code, out, err = run("apply", manifests, "--auto-approve", "--max-calls", 50)
    assert code == 0 and "Slice:" in out, err
    text = (manifests / "acme.yaml").read_text()
    (manifests / "acme.yaml").write_text(text.replace("ACME Corp", "ACME Corporation"))
    sandbox.reset_calls()
    code, out, err = run("apply", manifests, "--auto-approve", "--max-calls", 200)
    assert code == 0, err
    assert "Continuing" not in out and sandbox.calls["company.list"] >= 1
    code, out, _ = run("plan", manifests)
    assert "No changes" in out, out
    assert client.call("company.get", xid="acme")["company"]["name"] == "ACME Corporation"


def test_replan_plans_again_from_a_full_read(run: Run, sandbox: SandboxServer) -> None:
    code, out, err = run("apply", ACME, "--auto-approve", "--max-calls", 50)
    assert code == 0 and "Slice:" in out, err
    [first] = kept_plans()
    first_text = first.read_text()
    # --replan drops the kept plan; sliced again, its own plan is the one kept now.
    sandbox.reset_calls()
    code, out, err = run("apply", ACME, "--auto-approve", "--replan", "--max-calls", 75)
    assert code == 0 and "Continuing" not in out and "Slice:" in out, err
    assert sandbox.calls["company.list"] >= 1
    [kept] = kept_plans()
    assert kept.read_text() != first_text
    code, out, err = run("apply", ACME, "--auto-approve")
    assert code == 0 and "Continuing the plan" in out, err
    assert kept_plans() == []
    code, out, _ = run("plan", ACME)
    assert "No changes" in out, out


def test_a_kept_plan_gone_stale_is_planned_again_without_a_duplicate(
    run: Run, sandbox: SandboxServer, client: BeeboleClient
) -> None:
    """Someone creates by hand a person the kept plan still has to create: the next run
    says the kept plan cannot be continued and plans again; nothing is created twice."""
    code, out, err = run("apply", ACME, "--auto-approve", "--max-calls", 12)
    assert code == 0 and "Slice:" in out, err
    assert "applied + company.create acme" in err and "applied + person.create jane" not in err
    client.call("person.create", person={"xid": "jane", "name": "Jane Clark",
                                         "company": {"xid": "acme"}})
    runs = slice_until_done(run, sandbox, ACME, max_calls=200)
    code, out, err, _ = runs[0]
    assert code == 0, err
    assert "cannot be continued" in err and "person:jane" in err and "full read" in err
    assert runs[-1][0] == 0
    code, out, _ = run("plan", ACME)
    assert "No changes" in out, out
    assert entity_xids(client)["person", "jane"] == 1
