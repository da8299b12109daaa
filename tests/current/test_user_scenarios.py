"""A user's session on the current platform: what running the documented commands found.

Each test is a scenario a user ran (import, edit, plan, apply, plan) against the
current-platform sandbox over HTTP, with the real client and the CLI; each one held a
bug once (a plan that did not converge, an error that did not say what to do).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from beeplan.platforms.current.sandbox import CurrentSandboxServer

from .conftest import Gql


@pytest.fixture
def current() -> Iterator[CurrentSandboxServer]:
    with CurrentSandboxServer() as server:
        yield server


@pytest.fixture
def crun(current: CurrentSandboxServer, monkeypatch: pytest.MonkeyPatch, cli_main):
    monkeypatch.setenv("BEEBOLE_TOKEN", current.token)
    monkeypatch.setenv("BEEBOLE_ENDPOINT", current.url)
    return cli_main


def _gql(server: CurrentSandboxServer) -> Gql:
    return Gql(server, {})


def _write(path: Path, text: str) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "set.yaml").write_text(text)
    return path


_TREE = """\
settings: {{platform: current}}
projectCategories:
  - name: Clients
    projects:
      - xid: beta
        name: Beta
        archived: {archived}
        projects:
          - xid: web
            name: Web
            projects:
              - {{xid: home, name: Home}}
          - {{xid: old, name: Old, archived: true}}
"""


def _archived(gql: Gql) -> dict[str, bool]:
    data = gql("{ p: getProjects(archived: true) { name archived } }")
    return {p["name"]: p["archived"] for p in data["p"]}


def test_archiving_a_parent_keeps_the_subprojects_the_manifests_keep_active(
        crun, current, tmp_path) -> None:
    """archiveProject archives the whole subtree: the subprojects the manifests keep
    active are unarchived after it, in the same apply, so the next plan is empty."""
    path = _write(tmp_path / "set", _TREE.format(archived="false"))
    status, out, err = crun("apply", path, "--auto-approve")
    assert status == 0, err
    _write(path, _TREE.format(archived="true"))
    status, out, err = crun("plan", path, "--no-authors")
    assert status == 0, err
    assert "unarchiveProject" in out and "archiving Beta archives its subtree" in out, out
    status, out, err = crun("apply", path, "--auto-approve")
    assert status == 0, err
    assert "3 applied, 0 failed, 0 skipped" in out, out + err
    assert _archived(_gql(current)) == {"Beta": True, "Web": False, "Home": False,
                                        "Old": True}
    status, out, err = crun("plan", path, "--no-authors", "--detailed-exitcode")
    assert status == 0, out + err
    assert "No changes" in out


def test_a_new_subproject_under_a_new_archived_parent_stays_active(
        crun, current, tmp_path) -> None:
    """The same cascade on creation: the parent is created, its children under it, the
    parent archived last, then the children the manifests keep active unarchived."""
    path = _write(tmp_path / "set", _TREE.format(archived="true"))
    status, out, err = crun("apply", path, "--auto-approve")
    assert status == 0, err
    assert _archived(_gql(current)) == {"Beta": True, "Web": False, "Home": False,
                                        "Old": True}
    status, out, err = crun("plan", path, "--no-authors", "--detailed-exitcode")
    assert status == 0, out + err


def test_a_saved_plan_that_archives_a_parent_keeps_its_subprojects_active(
        crun, current, tmp_path) -> None:
    """``plan -o`` then ``apply FILE``: the unarchives after the archive are not taken for
    work already done because the account shows the subprojects active before it ran."""
    path = _write(tmp_path / "set", _TREE.format(archived="false"))
    status, out, err = crun("apply", path, "--auto-approve")
    assert status == 0, err
    _write(path, _TREE.format(archived="true"))
    saved = tmp_path / "plan.json"
    status, out, err = crun("plan", path, "-o", saved, "--no-authors")
    assert status == 0, err
    status, out, err = crun("apply", saved, "--auto-approve")
    assert status == 0, out + err
    assert _archived(_gql(current)) == {"Beta": True, "Web": False, "Home": False,
                                        "Old": True}
