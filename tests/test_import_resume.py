"""import stopped by the quota resumes with the same -o, without reading again what it has."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest

from beeplan.import_checkpoint import CHECKPOINT_NAME, checkpoint_path, read_for_import
from beeplan.importer import parse_relations
from beeplan.platforms.v2.client import BeeboleClient
from beeplan.platforms.v2.sandbox.server import SandboxServer

from .conftest import Run
from .test_slices import spend_today

ACME = Path(__file__).resolve().parent.parent / "examples" / "acme"


def yaml_files(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(folder.glob("*.yaml"))}


def test_import_stopped_by_the_quota_resumes_and_plans_no_changes(
    run: Run, sandbox: SandboxServer, tmp_path: Path
) -> None:
    code, _, err = run("apply", ACME, "--auto-approve")
    assert code == 0, err
    whole = tmp_path / "whole"
    sandbox.reset_calls()
    code, _, err = run("import", "-o", whole, "--include-inactive")
    assert code == 0, err
    one_import = sum(sandbox.calls.values())
    assert "the relations need" in err and "it fits" in err  # the estimate, before the bulk

    # Today's quota ends at 60% of an import.
    sandbox.advance_day()
    sandbox.quota_requests = one_import * 6 // 10
    spend_today(sandbox.token, 4000 - sandbox.quota_requests)  # beeplan's own count agrees
    stopped = tmp_path / "stopped"
    sandbox.reset_calls()
    code, _, err = run("import", "-o", stopped, "--include-inactive")
    assert code == 1
    assert "stopped at the daily quota" in err and "resumes" in err
    assert "it will stop at the quota" in err  # said before it happened
    first = sandbox.calls.copy()
    quota = sandbox.quota_requests
    assert sum(first.values()) <= quota + 4  # stopped at the quota, not by a flood of refusals
    assert checkpoint_path(stopped).is_file()
    assert not list(stopped.glob("*.yaml"))

    sandbox.advance_day()
    spend_today(sandbox.token, 0)
    sandbox.reset_calls()
    code, _, err = run("import", "-o", stopped, "--include-inactive")  # same command, no --force
    assert code == 0, err
    assert "Resuming the import" in err
    second = sandbox.calls.copy()
    # The sandbox's counter also counts the requests the quota refused (not answered).
    answered_first = min(sum(first.values()), quota)
    assert answered_first + sum(second.values()) == one_import  # no read made twice
    assert sum(second.values()) < one_import * 0.6
    assert not checkpoint_path(stopped).exists()
    assert yaml_files(stopped) == yaml_files(whole)
    sandbox.quota_requests = 4000
    code, out, _ = run("plan", stopped, "--detailed-exitcode")
    assert code == 0, out


def test_ctrl_c_keeps_what_was_read_and_the_rerun_does_not_read_it_again(
    run: Run, sandbox: SandboxServer, client: BeeboleClient, tmp_path: Path
) -> None:
    code, _, err = run("apply", ACME, "--auto-approve")
    assert code == 0, err
    relations = parse_relations("all")
    out_dir = tmp_path / "out"

    def interrupt_after_the_lists(message: str) -> None:
        if "subprojects" in message:  # the last stage of the lists
            raise KeyboardInterrupt

    told: list[str] = []

    def tell(message: str) -> None:
        told.append(message)

    sandbox.reset_calls()
    with pytest.raises(KeyboardInterrupt):
        read_for_import(client, relations, out_dir, sandbox.url, 2, interrupt_after_the_lists,
                        tell)
    lists = sum(sandbox.calls.values())
    assert lists > 3 and checkpoint_path(out_dir).is_file()
    assert any("same command (same -o) resumes" in line for line in told), told

    sandbox.reset_calls()
    live, checkpoint = read_for_import(client, relations, out_dir, sandbox.url, 2)
    assert checkpoint.reused == lists  # every list answer came from the checkpoint
    assert not {s for s in sandbox.calls if s.endswith(".list") or s == "group.tree"}
    assert live.counts()["person"] > 0


def stopped_after_the_lists(client: BeeboleClient, sandbox: SandboxServer,
                            out_dir: Path) -> dict[str, Any]:
    """A genuine checkpoint of an import of ``out_dir`` Ctrl-C'd after the lists."""

    def interrupt(message: str) -> None:
        if "subprojects" in message:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        read_for_import(client, parse_relations("all"), out_dir, sandbox.url, 2, interrupt)
    doc: dict[str, Any] = json.loads(checkpoint_path(out_dir).read_text())
    return doc


def forge(doc: dict[str, Any]) -> dict[str, Any]:
    """The attack: a forged company added, every project dropped."""
    answers = copy.deepcopy(doc["answers"])
    for key, answer in answers.items():
        if key.startswith("company.list"):
            answer["companies"].append({"id": 990, "name": "Forged Holdings", "active": True})
        if key.startswith("project.list"):
            answer["projects"] = []
    return {**doc, "answers": answers}


@pytest.mark.parametrize("style", ["this-version", "older-version"])
def test_a_checkpoint_planted_in_the_output_folder_is_ignored_with_a_warning(
    style: str, run: Run, sandbox: SandboxServer, client: BeeboleClient, tmp_path: Path
) -> None:
    """The -o folder is the repository's: a checkpoint committed there (in the format this
    beeplan writes, or an older one's, naming the right account) made import write a
    forged company and drop the projects."""
    code, _, err = run("apply", ACME, "--auto-approve")
    assert code == 0, err
    whole = tmp_path / "whole"
    code, _, err = run("import", "-o", whole)
    assert code == 0, err
    out_dir = tmp_path / "repo" / "manifests"
    forged = forge(stopped_after_the_lists(client, sandbox, out_dir))
    checkpoint_path(out_dir).unlink()  # only the planted copy is left
    if style == "older-version":
        forged = {**forged, "format": 1}
        forged["identity"] = {k: v for k, v in forged["identity"].items() if k != "out"}
    out_dir.mkdir(parents=True, exist_ok=True)
    planted = out_dir / CHECKPOINT_NAME
    planted.write_text(json.dumps(forged))
    code, out, err = run("import", "-o", out_dir)
    assert code == 0, err
    assert f"ignoring {planted}" in err and "not trusted" in err
    assert "Resuming" not in err and "reused" not in out
    assert yaml_files(out_dir) == yaml_files(whole)  # the account as it is, all projects
    assert "Forged" not in "".join(yaml_files(out_dir).values())


@pytest.mark.parametrize("damage", [
    "not json {", "[]", '{"format": 2}', "answers-not-objects", "answers-a-list",
])
def test_a_damaged_checkpoint_in_the_cache_is_a_warning_and_a_fresh_import(
    damage: str, run: Run, sandbox: SandboxServer, client: BeeboleClient, tmp_path: Path
) -> None:
    code, _, err = run("apply", ACME, "--auto-approve")
    assert code == 0, err
    whole = tmp_path / "whole"
    code, _, err = run("import", "-o", whole)
    assert code == 0, err
    out_dir = tmp_path / "out"
    doc = stopped_after_the_lists(client, sandbox, out_dir)
    path = checkpoint_path(out_dir)
    if damage == "answers-not-objects":
        text = json.dumps({**doc, "answers": {key: "x" for key in doc["answers"]}})
    elif damage == "answers-a-list":
        text = json.dumps({**doc, "answers": list(doc["answers"])})
    else:
        text = damage
    path.write_text(text)
    code, out, err = run("import", "-o", out_dir)
    assert code == 0, err
    assert "Traceback" not in err
    assert "ignoring" in err and str(path) in err and "starts from the beginning" in err
    assert "Resuming" not in err
    assert yaml_files(out_dir) == yaml_files(whole)
    assert not path.exists()  # replaced, then removed once the files were written


@pytest.mark.parametrize("planted", ["world-writable", "another-user", "fifo"])
def test_a_checkpoint_in_the_cache_that_this_user_did_not_write_is_ignored(
    planted: str, run: Run, sandbox: SandboxServer, client: BeeboleClient, tmp_path: Path
) -> None:
    """A cache folder others can write (XDG_CACHE_HOME=/tmp, a shared runner) let another
    user plant a checkpoint, in the right format and naming the right account (its key is
    the quota ledger's file name there), that import trusted: a forged company."""
    if planted == "another-user" and os.geteuid() != 0:
        pytest.skip("giving a file to another user needs root")
    code, _, err = run("apply", ACME, "--auto-approve")
    assert code == 0, err
    whole = tmp_path / "whole"
    code, _, err = run("import", "-o", whole)
    assert code == 0, err
    out_dir = tmp_path / "out"
    forged = forge(stopped_after_the_lists(client, sandbox, out_dir))
    path = checkpoint_path(out_dir)
    path.unlink()
    if planted == "fifo":
        os.mkfifo(path)  # an open for reading would wait for a writer for ever
    else:
        path.write_text(json.dumps(forged))
        os.chmod(path, 0o666 if planted == "world-writable" else 0o600)
        if planted == "another-user":
            os.chown(path, 65534, -1)
    code, out, err = run("import", "-o", out_dir)
    assert code == 0, err
    assert f"ignoring an unreadable import checkpoint {path}" in err, err
    assert "Resuming" not in err and "Traceback" not in err
    assert yaml_files(out_dir) == yaml_files(whole)
    assert "Forged" not in "".join(yaml_files(out_dir).values())
