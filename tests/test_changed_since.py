"""What BASE of `--changed-since` means: a path or a git revision, never silently one for
the other; a base with no manifests yet or broken ones still gives a plan; a shallow
clone is named as the cause; a full-plan fallback gives its true reason. Each runs the
CLI against the sandbox, with real git repositories."""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from beeplan.platforms.v2.sandbox.server import SandboxServer
from tests.test_targeted import ORG, apply_org, write

GIT = ("git", "-c", "user.name=t", "-c", "user.email=t@example.com",
       "-c", "init.defaultBranch=main", "-c", "protocol.file.allow=always")


def git(repo: Path, *args: str) -> str:
    done = subprocess.run([*GIT, *args], cwd=repo, check=True, capture_output=True, text=True)
    return done.stdout


def commit_all(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


def deactivate_companies(doc: dict[str, Any]) -> None:
    for company in doc["companies"]:
        company["active"] = False


@pytest.mark.parametrize("base", ["origin/main", "HEAD"])
def test_a_base_that_is_both_a_path_and_a_revision_is_refused(
    client: Any, sandbox: SandboxServer, tmp_path: Path, run: Any,
    monkeypatch: pytest.MonkeyPatch, base: str,
) -> None:
    """A pull request adds a folder named like the base branch, holding a copy of its own
    manifests: read as the path, the plan would show no changes while the merge applies
    the deactivations."""
    repo = tmp_path / "repo"
    apply_org(client, ORG, repo / "manifests")
    git(repo, "init", "-q")
    commit_all(repo, "main")
    git(repo, "update-ref", "refs/remotes/origin/main", "HEAD")
    pr = copy.deepcopy(ORG)
    deactivate_companies(pr)
    write(repo / "manifests", pr)
    write(repo / base, pr)  # the decoy: BASE as a folder, equal to the new manifests
    commit_all(repo, "pull request")
    git(repo, "update-ref", "refs/remotes/origin/main", "HEAD~1")
    monkeypatch.chdir(repo)
    sandbox.reset_calls()

    status, out, err = run("plan", "manifests", "--changed-since", base)
    assert status == 1, out
    assert "ambiguous" in err and f"git:{base}" in err and f"./{base}" in err, err
    assert "No changes" not in out and "Traceback" not in err
    assert sum(sandbox.calls.values()) == 0, sandbox.calls  # refused before any call

    # Saying which: the revision shows the deactivations, the path is the decoy.
    if base == "origin/main":
        status, out, err = run("plan", "manifests", "--changed-since", f"git:{base}",
                               "--detailed-exitcode")
        assert status == 2, err
        assert out.count("company.deactivate") == 2 and "changed since git:origin/main" in out
    status, out, err = run("plan", "manifests", "--changed-since", f"./{base}",
                           "--detailed-exitcode")
    assert status == 0, err
    assert "No changes for the entries changed since" in out
    # An absolute path is a path, whatever git holds.
    status, out, err = run("plan", "manifests", "--changed-since", repo / base)
    assert status == 0, err


def test_a_base_revision_or_path_alone_is_taken_as_it_is(
    client: Any, tmp_path: Path, run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No ambiguity, no error: a base folder that no revision is named like, a revision
    with no folder of its name, and 'git:' with a name that is only a folder."""
    repo = tmp_path / "repo"
    apply_org(client, ORG, repo / "manifests")
    shutil.copytree(repo / "manifests", repo / "base-copy")
    git(repo, "init", "-q")
    commit_all(repo, "main")
    monkeypatch.chdir(repo)
    status, out, err = run("plan", "manifests", "--changed-since", "base-copy")
    assert status == 0 and "changed since base-copy" in out, err
    status, out, err = run("plan", "manifests", "--changed-since", "HEAD")
    assert status == 0 and "changed since HEAD" in out, err
    status, out, err = run("plan", "manifests", "--changed-since", "git:base-copy")
    assert status == 1 and "git:base-copy" in err and "revision" in err, err
    status, out, err = run("plan", "manifests", "--changed-since", "./no-such-folder")
    assert status == 1 and "no such manifest file or directory" in err, err
    status, out, err = run("plan", "manifests", "--changed-since", "")
    assert status == 1 and "--changed-since needs a BASE" in err, err


def test_a_base_folder_without_yaml_is_an_empty_manifest_set(
    client: Any, tmp_path: Path, run: Any, cli_main: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new team's first pull request: main holds manifests/.gitkeep and a README."""
    repo = tmp_path / "repo"
    (repo / "manifests" / ".github").mkdir(parents=True)
    (repo / "manifests" / ".gitkeep").write_text("")
    (repo / "manifests" / "README.md").write_text("Our Beebole account, as code.\n")
    (repo / "manifests" / ".github" / "hidden.yaml").write_text("companies: [")  # not read
    git(repo, "init", "-q")
    commit_all(repo, "main")
    base_copy = tmp_path / "base"
    shutil.copytree(repo / "manifests", base_copy)
    write(repo / "manifests", ORG)

    status, out, err = cli_main("diff", base_copy, repo / "manifests", "--detailed-exitcode")
    assert status == 2, err
    assert "company.create" in out and "no *.yaml" not in err
    monkeypatch.chdir(repo)
    for base in (str(base_copy), "HEAD"):
        status, out, err = run("plan", "manifests", "--changed-since", base,
                               "--detailed-exitcode")
        assert status == 2, err
        assert f"there are no manifests at {base}: this is a full plan" in out, out
        assert "company.create" in out


def test_invalid_base_manifests_give_a_full_plan_that_says_why(
    client: Any, tmp_path: Path, run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pull request that fixes a broken main still gets its plan."""
    repo = tmp_path / "repo"
    apply_org(client, ORG, repo / "manifests")
    broken = copy.deepcopy(ORG)
    broken["companies"][1]["startDate"] = "2024-13-45"
    write(repo / "manifests", broken)
    git(repo, "init", "-q")
    commit_all(repo, "a broken main")
    fixed = copy.deepcopy(ORG)
    fixed["companies"][1]["name"] = "Globex Inc"
    write(repo / "manifests", fixed)
    monkeypatch.chdir(repo)

    status, out, err = run("plan", "manifests", "--changed-since", "HEAD",
                           "--detailed-exitcode")
    assert status == 2, err
    assert "the manifests at HEAD are invalid" in out, out
    assert "HEAD:manifests/org.yaml" in out and "startDate" in out  # where, in git's words
    assert "this is a full plan, not a targeted one" in out
    assert "company.update" in out and "Traceback" not in err
    assert "beeplan-base-" not in out + err  # never the temporary copy's path
    # A base given as a path: the same, naming the file there.
    write(tmp_path / "old", broken)
    status, out, err = run("plan", "manifests", "--changed-since", tmp_path / "old")
    assert status == 0, err
    assert f"{tmp_path / 'old' / 'org.yaml'}" in out and "full plan" in out


def shallow_pair(tmp_path: Path) -> tuple[Path, Path]:
    """An upstream with two commits on main and a branch 'other', and a depth-1 clone."""
    upstream = tmp_path / "upstream"
    write(upstream / "manifests", ORG)
    git(upstream, "init", "-q")
    commit_all(upstream, "one")
    git(upstream, "branch", "other")
    doc = copy.deepcopy(ORG)
    doc["companies"][1]["name"] = "Globex Inc"
    write(upstream / "manifests", doc)
    commit_all(upstream, "two")
    clone = tmp_path / "clone"
    subprocess.run([*GIT, "clone", "-q", "--depth", "1", "--single-branch",
                    upstream.as_uri(), str(clone)], check=True, capture_output=True)
    assert git(clone, "rev-parse", "--is-shallow-repository").strip() == "true"
    return upstream, clone


def test_a_shallow_clone_is_named_with_the_fetch_that_fixes_it(
    client: Any, sandbox: SandboxServer, tmp_path: Path, run: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    apply_org(client, ORG, tmp_path / "live")
    _, clone = shallow_pair(tmp_path)
    monkeypatch.chdir(clone)
    sandbox.reset_calls()
    status, out, err = run("plan", "manifests", "--changed-since", "HEAD~1")
    assert status == 1 and "Traceback" not in err
    assert "shallow clone" in err and "git fetch --unshallow" in err, err
    status, out, err = run("plan", "manifests", "--changed-since", "origin/other")
    assert status == 1
    fetch = "git fetch --depth=1 origin other:refs/remotes/origin/other"
    assert "shallow clone" in err and fetch in err, err
    assert sum(sandbox.calls.values()) == 0

    # The fetches it names are the ones that fix it.
    subprocess.run([*GIT, *fetch.split()[1:]], cwd=clone, check=True, capture_output=True)
    status, out, err = run("plan", "manifests", "--changed-since", "origin/other")
    assert status == 0 and "1 entry changed since origin/other" in out, err
    git(clone, "fetch", "-q", "--unshallow")
    status, out, err = run("plan", "manifests", "--changed-since", "HEAD~1")
    assert status == 0 and "1 entry changed since HEAD~1" in out, err


def test_deleting_a_kinds_file_plans_in_full_with_the_true_reason(
    client: Any, tmp_path: Path, run: Any
) -> None:
    base = tmp_path / "base"
    doc = copy.deepcopy(ORG)
    absences = {"absences": doc.pop("absences")}
    apply_org(client, {**doc, **absences}, tmp_path / "live")
    write(base, doc)
    (base / "absences.yaml").write_text(yaml.safe_dump(absences))
    new = tmp_path / "new"
    shutil.copytree(base, new)
    (new / "absences.yaml").unlink()

    status, out, err = run("plan", new, "--changed-since", base)
    assert status == 0, err
    assert (f"since {base}, absences are no longer managed (no key for them in the "
            "manifests): this is a full plan, not a targeted one") in out, out
    assert "settings changed" not in out
    # A kind managed anew is named too, and a real settings change as what it is.
    (new / "absences.yaml").write_text(yaml.safe_dump(absences))
    (new / "more.yaml").write_text("settings:\n  prune: true\n")
    status, out, err = run("plan", new, "--changed-since", base)
    assert f"since {base}, settings.prune changed (false -> true)" in out, out
    (new / "more.yaml").unlink()
    (base / "org.yaml").write_text(yaml.safe_dump({k: v for k, v in doc.items()
                                                   if k != "tasks"}))
    status, out, err = run("plan", new, "--changed-since", base)
    assert f"since {base}, tasks are newly managed" in out, out
