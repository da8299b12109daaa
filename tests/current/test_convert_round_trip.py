"""The round trip: examples/acme (v2) converted, applied to an empty current sandbox, planned again.

The first test checks that the converted set is valid for the current platform; the
second applies it through the CLI and plans again: nothing is left to do.
"""

from __future__ import annotations

from pathlib import Path

import requests
import yaml

from beeplan.platforms.current.sandbox import CurrentSandboxServer

ROOT = Path(__file__).resolve().parents[2]
ACME = ROOT / "examples" / "acme"


def _convert(cli_main, tmp_path: Path) -> Path:
    out = tmp_path / "current"
    status, stdout, stderr = cli_main("convert", ACME, "-o", out)
    assert status == 0, stderr
    assert "keys without a counterpart" in stdout
    return out


def test_converted_acme_validates(cli_main, tmp_path: Path) -> None:
    out = _convert(cli_main, tmp_path)
    status, stdout, stderr = cli_main("validate", out)
    assert status == 0, stderr
    assert "valid for Beebole's current platform" in stdout
    assert "8 people" in stdout


def test_converted_acme_applies_and_converges(
        cli_main, tmp_path: Path) -> None:
    out = _convert(cli_main, tmp_path)
    db = tmp_path / "current.db"
    endpoint = f"sandbox:{db}"
    status, stdout, stderr = cli_main("apply", out, "--endpoint", endpoint, "--auto-approve")
    assert status == 0, stderr
    assert "Traceback" not in stderr
    # the next plan of the same set against the same account: nothing left to do
    status, stdout, stderr = cli_main("plan", out, "--endpoint", endpoint,
                                      "--detailed-exitcode")
    assert status == 0, stdout + stderr
    assert "No changes" in stdout
    # and the account holds what the v2 set described, read over HTTP as any client would
    with CurrentSandboxServer(db) as server:
        answer = requests.post(server.url, headers={"apikey": server.token}, timeout=10, json={
            "query": "{ getPersons { email } archived: getPersons(archived: true) { email } "
                     "getProjects { name } }"}).json()["data"]
    people = yaml.safe_load((out / "people.yaml").read_text("utf-8"))["people"]
    tops = yaml.safe_load((out / "projects.yaml").read_text("utf-8"))["projectCategories"]
    # an inactive v2 person is an archived one, listed on request
    archived = {p["email"] for p in people if p.get("archived")}
    assert archived and archived <= {p["email"] for p in answer["archived"]}
    assert {p["email"] for p in people} - archived <= {
        p["email"] for p in answer["getPersons"]}
    assert {p["name"] for c in tops for p in c["projects"]} <= {
        p["name"] for p in answer["getProjects"]}
