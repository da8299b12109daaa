"""Which files a manifest folder may make beeplan read (symlinks, FIFOs, devices, size).

A pull request controls the manifest folder: a ``*.yaml`` symlink to a
secret outside the repository, to ``/dev/zero``, a FIFO, a link loop or a
huge file must each be one clear error naming the file, with nothing of an
outside target read or shown, and no API call. Directory symlinks that stay
inside the repository (shared files between environments) are followed.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from beeplan.manifest import MAX_FILE_BYTES
from beeplan.platforms.v2.sandbox.server import SandboxServer
from tests.conftest import Run

COMPANY = "companies:\n  - xid: acme\n    name: ACME\n"
TASK = "tasks:\n  - xid: audit\n    name: Audit\n    company: acme\n"
SECRET = "SECRET-CONTENT-7f3a"


def _git_repo(path: Path) -> Path:
    path.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    return path


def _outside(tmp_path: Path) -> Path:
    """A secret YAML file outside every manifest folder and repository of the test."""
    folder = tmp_path / "OUTSIDE-DIR-c41d"
    folder.mkdir()
    (folder / "id_rsa.yaml").write_text(f"people:\n  - xid: {SECRET}\n    name: x\n")
    return folder


def _all_commands(run: Run, manifests: Path, empty: Path) -> list[tuple[int, str]]:
    """validate, diff (both sides) and plan on ``manifests``: (status, output) each."""
    results = []
    for args in (("validate", manifests), ("validate", manifests, "--format", "github"),
                 ("validate", manifests, "--format", "json"),
                 ("diff", empty, manifests), ("diff", manifests, empty),
                 ("plan", manifests), ("plan", manifests, "--format", "json"),
                 ("plan", manifests, "--format", "github")):
        status, out, err = run(*args)
        results.append((status, out + err))
    return results


@pytest.fixture
def empty(tmp_path: Path) -> Path:
    folder = tmp_path / "empty"
    folder.mkdir()
    (folder / "a.yaml").write_text(COMPANY)
    return folder


def test_yaml_symlink_out_of_the_repository_is_refused_unread(
    tmp_path: Path, run: Run, sandbox: SandboxServer, empty: Path
) -> None:
    repo = _git_repo(tmp_path / "repo")
    manifests = repo / "manifests"
    manifests.mkdir()
    (manifests / "a.yaml").write_text(COMPANY)
    secret = _outside(tmp_path) / "id_rsa.yaml"
    (manifests / "keys.yaml").symlink_to(secret)  # absolute link
    (manifests / "rel.yml").symlink_to(os.path.relpath(secret, manifests))  # relative link
    for status, output in _all_commands(run, manifests, empty):
        assert status == 1, output
        assert f"{manifests / 'keys.yaml'}: is a symlink that leads outside the git work tree" \
            in output
        assert f"{manifests / 'rel.yml'}: is a symlink that leads outside" in output
        assert SECRET not in output and "OUTSIDE-DIR" not in output  # neither content nor path
        assert "Traceback" not in output
    # The workflow annotation names the link too, never its resolved target.
    status, out, err = run("validate", manifests, "--format", "github")
    assert f"::error file={manifests / 'keys.yaml'},title=beeplan::is a symlink" in out + err
    assert sum(sandbox.calls.values()) == 0


def test_links_to_devices_and_fifos_are_refused_without_reading(
    tmp_path: Path, run: Run, sandbox: SandboxServer, empty: Path
) -> None:
    # Reading /dev/zero never ends (memory); opening a FIFO blocks: neither may happen.
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / "a.yaml").write_text(COMPANY)
    (manifests / "zero.yaml").symlink_to("/dev/zero")
    os.mkfifo(manifests / "pipe.yaml")
    for status, output in _all_commands(run, manifests, empty):
        assert status == 1, output
        assert f"{manifests / 'zero.yaml'}: is a symlink that leads outside the manifest folder" \
            in output
        assert f"{manifests / 'pipe.yaml'}: is a FIFO (named pipe), not a regular file" in output
    assert sum(sandbox.calls.values()) == 0
    # A FIFO given as the manifest path itself is refused the same way.
    status, _, err = run("validate", manifests / "pipe.yaml")
    assert status == 1 and "is a FIFO (named pipe), not a regular file" in err


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(
    tmp_path: Path, run: Run, sandbox: SandboxServer, empty: Path
) -> None:
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / "a.yaml").write_text(COMPANY)
    with open(manifests / "huge.yaml", "wb") as handle:
        handle.truncate(MAX_FILE_BYTES + 1)  # sparse NULs: reading it would say "not UTF-8"
    (manifests / "limit.yaml").write_bytes(b"#" * MAX_FILE_BYTES)  # exactly the limit: read
    for status, output in _all_commands(run, manifests, empty):
        assert status == 1, output
        assert (f"{manifests / 'huge.yaml'}: is 5,242,881 bytes, over the 5,242,880-byte "
                "(5 MiB) limit for one manifest file") in output
        assert "UTF-8" not in output and "limit.yaml" not in output
    assert sum(sandbox.calls.values()) == 0


def test_symlinks_into_the_git_folder_are_refused(
    tmp_path: Path, run: Run, sandbox: SandboxServer, empty: Path
) -> None:
    # actions/checkout keeps the job's token in .git/config: inside the work
    # tree, yet never manifest data.
    repo = _git_repo(tmp_path / "repo")
    config = repo / ".git" / "config"
    config.write_text(config.read_text() + f"[http]\n\textraheader = AUTHORIZATION: {SECRET}\n")
    manifests = repo / "manifests"
    manifests.mkdir()
    (manifests / "a.yaml").write_text(COMPANY)
    (manifests / "config.yaml").symlink_to("../.git/config")
    (manifests / "gitdir").symlink_to("../.git")
    for status, output in _all_commands(run, manifests, empty):
        assert status == 1, output
        for link in ("config.yaml", "gitdir"):
            assert f"{manifests / link}: is a symlink into the repository's .git folder" in output
        assert SECRET not in output
    assert sum(sandbox.calls.values()) == 0


def test_directory_symlinks_inside_the_repository_are_followed(
    tmp_path: Path, run: Run, sandbox: SandboxServer
) -> None:
    # Staging and production share a folder through a symlink in each.
    repo = _git_repo(tmp_path / "repo")
    (repo / "common").mkdir()
    (repo / "common" / "tasks.yaml").write_text(TASK)
    (repo / "shared.yaml").write_text("groups:\n  - xid: ops\n    name: Ops\n")
    for env in ("staging", "prod"):
        folder = repo / "envs" / env
        folder.mkdir(parents=True)
        (folder / "company.yaml").write_text(COMPANY)
        (folder / "common").symlink_to("../../common")
        (folder / "groups.yaml").symlink_to("../../shared.yaml")
    status, out, err = run("validate", repo / "envs" / "prod")
    assert status == 0, err
    assert "1 company" in out and "1 task" in out and "1 group" in out
    status, out, err = run("apply", repo / "envs" / "prod", "--auto-approve")
    assert status == 0, err
    assert sandbox.calls["task.create"] == 1 and sandbox.calls["group.create"] == 1


def test_directory_symlinks_leaving_the_boundary_are_refused(
    tmp_path: Path, run: Run, sandbox: SandboxServer, empty: Path
) -> None:
    outside = _outside(tmp_path)
    repo = _git_repo(tmp_path / "repo")
    manifests = repo / "manifests"
    manifests.mkdir()
    (manifests / "a.yaml").write_text(COMPANY)
    (manifests / "keys").symlink_to(outside)
    # Without a git work tree the boundary is the manifest folder itself.
    loose = tmp_path / "loose"
    (loose / "m").mkdir(parents=True)
    (loose / "m" / "a.yaml").write_text(COMPANY)
    (loose / "sibling").mkdir()
    (loose / "sibling" / "tasks.yaml").write_text(TASK)
    (loose / "m" / "up").symlink_to("../sibling")
    for folder, link, where in ((manifests, "keys", "the git work tree"),
                                (loose / "m", "up", "the manifest folder")):
        for status, output in _all_commands(run, folder, empty):
            assert status == 1, output
            assert f"{folder / link}: is a symlink that leads outside {where}" in output
            # Outside git, it says why the bound is the folder (envs/prod/common ->
            # ../../common works only inside a repository).
            assert ("no git repository holds this folder" in output) == (link == "up")
            assert SECRET not in output and "OUTSIDE-DIR" not in output
    # The manifest path itself, a symlink out of the repository, is refused too.
    (repo / "linked").symlink_to(outside)
    status, _, err = run("validate", repo / "linked")
    assert status == 1 and "is a symlink that leads outside the git work tree" in err
    assert SECRET not in err
    assert sum(sandbox.calls.values()) == 0


def test_symlink_loops_and_folders_reached_twice_are_errors(
    tmp_path: Path, run: Run, sandbox: SandboxServer, empty: Path
) -> None:
    manifests = tmp_path / "manifests"
    (manifests / "sub" / "deeper").mkdir(parents=True)
    (manifests / "a.yaml").write_text(COMPANY)
    (manifests / "sub" / "deeper" / "loop").symlink_to("../..")
    (manifests / "tasks").mkdir()
    (manifests / "tasks" / "t.yaml").write_text(TASK)
    (manifests / "sub" / "again").symlink_to("../tasks")
    for status, output in _all_commands(run, manifests, empty):
        assert status == 1, output
        assert (f"{manifests / 'sub' / 'deeper' / 'loop'}: is a symlink to a folder that "
                "contains it (a loop)") in output
        assert (f"{manifests / 'tasks'}: is the same folder as {manifests / 'sub' / 'again'} "
                "(a symlink leads there)") in output
    assert sum(sandbox.calls.values()) == 0


def test_links_that_are_not_manifests_are_left_alone(
    tmp_path: Path, run: Run, sandbox: SandboxServer
) -> None:
    # A README linked from elsewhere, a hidden folder linking out, a dangling
    # non-YAML link: none is part of the set, so none is an error.
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / "a.yaml").write_text(COMPANY)
    outside = _outside(tmp_path)
    (manifests / "README.md").symlink_to(outside / "id_rsa.yaml")
    (manifests / ".cache").symlink_to(outside)
    (manifests / "gone").symlink_to("nowhere")
    status, out, err = run("validate", manifests)
    assert status == 0, err
    (manifests / "gone.yaml").symlink_to("nowhere.yaml")
    status, out, err = run("validate", manifests)
    assert status == 1
    assert f"{manifests / 'gone.yaml'}: is a symlink to nothing (its target does not exist)" in err


def _commit(repo: Path) -> None:
    for args in (("add", "."), ("commit", "-q", "-m", "x")):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
                       cwd=repo, check=True, capture_output=True)


def test_changed_since_a_revision_follows_the_shared_folder_too(
    tmp_path: Path, run: Run, sandbox: SandboxServer
) -> None:
    # The base revision is read like the checkout: its envs/prod/common link
    # resolves to the revision's common/, so only the real change is planned.
    repo = _git_repo(tmp_path / "repo")
    (repo / "common").mkdir()
    (repo / "common" / "tasks.yaml").write_text(TASK)
    prod = repo / "envs" / "prod"
    prod.mkdir(parents=True)
    (prod / "company.yaml").write_text(COMPANY)
    (prod / "common").symlink_to("../../common")
    status, _, err = run("apply", prod, "--auto-approve")
    assert status == 0, err
    _commit(repo)
    (repo / "common" / "tasks.yaml").write_text(TASK.replace("name: Audit", "name: Audits"))
    sandbox.reset_calls()
    status, out, err = run("plan", prod, "--changed-since", "HEAD")
    assert status == 0, err
    assert "1 entry changed since HEAD" in out and "task.update" in out
    assert "invalid" not in err and "full plan" not in out


def test_a_folder_nested_absurdly_deep_is_an_error_not_a_recursion_crash(
    tmp_path: Path, run: Run
) -> None:
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / "a.yaml").write_text(COMPANY)
    deep = manifests
    for _ in range(70):
        deep = deep / "d"
    deep.mkdir(parents=True)
    (deep / "t.yaml").write_text(TASK)
    status, _, err = run("validate", manifests)
    assert status == 1 and "Traceback" not in err
    assert "is nested more than 64 folders deep below the manifest path" in err
