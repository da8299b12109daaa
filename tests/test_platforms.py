"""The platform registry: the endpoint chooses the platform, the manifests may say theirs."""

from __future__ import annotations

from pathlib import Path

import pytest

from beeplan import platforms
from beeplan.errors import ConfigError
from beeplan.model import Ref
from beeplan.planner import Change, build_action


def _manifest(tmp_path: Path, platform: str) -> Path:
    path = tmp_path / "org.yaml"
    path.write_text(
        "settings:\n"
        f"  platform: {platform}\n"
        "companies:\n"
        "  - xid: acme\n"
        "    name: Acme\n"
    )
    return path


def test_the_endpoint_chooses_the_platform() -> None:
    for endpoint in ("https://beebole-apps.com/api/v2", "http://127.0.0.1:8080/api/v2",
                     "sandbox:demo.db", "https://example.com/graphql/x"):
        assert platforms.for_endpoint(endpoint).name == "v2"
    for endpoint in ("https://app.beebole.com/graphql", "http://127.0.0.1:8080/graphql/"):
        assert platforms.for_endpoint(endpoint).name == "current"
    # the embedded sandbox emulates both: it speaks the manifests' platform
    assert platforms.for_endpoint("sandbox:demo.db", "current").name == "current"
    assert platforms.default().default_endpoint == "https://beebole-apps.com/api/v2"


def test_the_action_factory_is_the_platforms() -> None:
    target = Ref("company", xid="acme")
    made = build_action("create", "company", target, "Acme",
                        changes=[Change("name", None, "Acme")])
    assert made == platforms.get("v2").build_action(
        "create", "company", target, "Acme", changes=[Change("name", None, "Acme")])
    assert (made.service, made.payload) == ("company.create", {"company": {"xid": "acme",
                                                                            "name": "Acme"}})


def test_an_unknown_platform_name_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown platform .graphql.: beeplan knows current, v2"):
        platforms.get("graphql")


def test_manifests_for_v2_plan_against_v2(tmp_path: Path, run, sandbox) -> None:
    status, out, err = run("plan", _manifest(tmp_path, "v2"))
    assert status == 0, err
    assert "create" in out and "acme" in out


@pytest.mark.parametrize("command", ["plan", "check", "targeted plan", "budgeted check"])
def test_manifests_for_another_platform_stop_before_any_call(
    tmp_path: Path, run, sandbox, command: str
) -> None:
    (tmp_path / "base").mkdir()
    base = _manifest(tmp_path / "base", "nextgen")
    base.write_text(base.read_text().replace("Acme", "Acme Old"))
    path = _manifest(tmp_path, "nextgen")
    args = {
        "plan": ("plan",),
        "check": ("check",),
        "targeted plan": ("plan", "--changed-since", base),
        "budgeted check": ("check", "--max-calls", 50),
    }[command]
    sandbox.calls.clear()
    status, out, err = run(*args, path)
    assert status == 1
    assert out == ""
    line = [x for x in err.splitlines() if "settings.platform" in x]
    assert line and line[0].count(f"{path}:2") == 1, err
    assert "'nextgen' is not a platform beeplan knows; write one of: current, v2" in err
    assert "Traceback" not in err
    assert sum(sandbox.calls.values()) == 0
