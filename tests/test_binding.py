"""A saved plan is bound to its account and to its manifests; several manifest sets merge.

Each test drives the CLI against the sandbox over HTTP. A plan made with one
account's token is refused on another's, before any API call; a plan is
applied only with the manifests it was made from (``--manifests``, compared
resolved), and ``apply`` says which ones it verified otherwise, calling out a
hidden folder or one outside the current directory.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from beeplan.planfile.verify import manifest_digest
from beeplan.platforms.v2.client import BeeboleClient
from beeplan.platforms.v2.sandbox.server import SandboxServer

from .conftest import Run

ORG = """\
companies:
  - xid: acme
    name: ACME
    customFields: {Industry: Transport}
    projects:
      - xid: web
        name: Website
        description: the public site
people:
  - {xid: rosa, name: Rosa Parks, company: acme}
  - {xid: jane, name: Jane Clark, company: acme}
"""


def write(folder: Path, text: str, name: str = "org.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)
    return folder


def total_calls(sandbox: SandboxServer) -> int:
    return sum(sandbox.calls.values())


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def other() -> Iterator[SandboxServer]:
    """A second account: its own sandbox, its own token."""
    with SandboxServer(":memory:", seed=99) as server:
        yield server


def saved_plan(run: Run, *paths: str, out: str = "plan.json") -> dict:
    code, _, err = run("plan", *paths, "-o", out)
    assert code == 0, err
    return json.loads(Path(out).read_text())


# -- bound to the account ----------------------------------------------------


def test_a_saved_plan_records_a_salted_fingerprint_of_the_token_never_the_token(
    run: Run, here: Path, sandbox: SandboxServer
) -> None:
    write(here / "manifests", ORG)
    first = saved_plan(run, "manifests", out="a.json")
    second = saved_plan(run, "manifests", out="b.json")
    text = Path("a.json").read_text()
    assert sandbox.token not in text
    account = first["account"]
    assert account["binding"] == "token-hmac-sha256"
    assert account["fingerprint"] != hashlib.sha256(sandbox.token.encode()).hexdigest()
    # A fresh salt each time: two plans of one account do not carry the same value.
    assert account["salt"] != second["account"]["salt"]
    assert account["fingerprint"] != second["account"]["fingerprint"]
    code, out, err = run("plan", "manifests", "--format", "json")
    assert code == 0 and "account" in json.loads(out) and sandbox.token not in out + err


def test_a_plan_made_for_one_account_is_refused_on_another_before_any_call(
    run: Run, here: Path, sandbox: SandboxServer, other: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write(here / "manifests", ORG)
    saved_plan(run, "manifests")
    # The other account's token and endpoint, as a production job would have them.
    monkeypatch.setenv("BEEBOLE_TOKEN", other.token)
    monkeypatch.setenv("BEEBOLE_ENDPOINT", other.url)
    code, out, err = run("apply", "plan.json", "--auto-approve")
    assert code == 1
    assert "plan.json was made for another account" in err
    assert "stale" not in err and "Traceback" not in err
    assert "Nothing was applied" in err
    assert total_calls(other) == 0  # not even a read
    # The same account's token on the same endpoint applies it.
    monkeypatch.setenv("BEEBOLE_TOKEN", sandbox.token)
    monkeypatch.setenv("BEEBOLE_ENDPOINT", sandbox.url)
    code, out, err = run("apply", "plan.json", "--auto-approve")
    assert code == 0, err


def test_another_token_on_the_same_endpoint_is_refused_without_a_call(
    run: Run, here: Path, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every Beebole customer has the same endpoint: the endpoint alone binds nothing."""
    write(here / "manifests", ORG)
    saved_plan(run, "manifests")
    before = total_calls(sandbox)
    monkeypatch.setenv("BEEBOLE_TOKEN", "f" * 40)
    code, _, err = run("apply", "plan.json", "--auto-approve")
    assert code == 1 and "made for another account" in err
    assert total_calls(sandbox) == before


@pytest.mark.parametrize("edit", ["drop", "swap", "garble"])
def test_a_plan_without_its_own_binding_is_refused(
    run: Run, here: Path, sandbox: SandboxServer, other: SandboxServer, edit: str
) -> None:
    """An attacker's plan cannot borrow a binding, drop it, or break it."""
    write(here / "manifests", ORG)
    doc = saved_plan(run, "manifests")
    if edit == "drop":
        del doc["account"]
    elif edit == "swap":
        # A binding made with another account's token (the attacker's own).
        with BeeboleClient(other.url, other.token) as attacker:
            fingerprint = attacker.token_fingerprint(doc["account"]["salt"])
        doc["account"]["fingerprint"] = fingerprint
    else:
        doc["account"]["fingerprint"] = "0" * 64
    Path("plan.json").write_text(json.dumps(doc))
    before = total_calls(sandbox)
    code, _, err = run("apply", "plan.json", "--auto-approve")
    assert code == 1
    expected = "records no account" if edit == "drop" else "made for another account"
    assert expected in err and "Traceback" not in err
    assert total_calls(sandbox) == before


# -- bound to its manifests --------------------------------------------------


def test_manifests_option_refuses_a_plan_made_from_other_manifests(
    run: Run, here: Path, sandbox: SandboxServer
) -> None:
    """The attack of issue 19: a committed plan of a dot-folder, applied as if of manifests/."""
    write(here / "manifests", ORG)
    write(here / ".attack", ORG.replace("ACME", "ACME Hacked"))
    saved_plan(run, ".attack")
    before = total_calls(sandbox)
    code, _, err = run("apply", "plan.json", "--manifests", "manifests", "--auto-approve")
    assert code == 1
    assert "plan.json was made from the manifests at .attack, not manifests" in err
    assert "beeplan plan manifests -o FILE" in err and "Nothing was applied" in err
    assert total_calls(sandbox) == before


def test_manifests_option_compares_resolved_paths(
    run: Run, here: Path, sandbox: SandboxServer
) -> None:
    write(here / "manifests", ORG)
    saved_plan(run, "manifests/")
    code, out, err = run("apply", "plan.json", "--manifests", str(here / "manifests"),
                         "--auto-approve")
    assert code == 0, err
    assert out.splitlines()[0].startswith("Applying plan.json, made from manifests:")
    assert sandbox.calls["company.create"] == 1


def test_without_manifests_option_the_first_line_names_the_manifests_verified(
    run: Run, here: Path
) -> None:
    write(here / "manifests", ORG)
    saved_plan(run, "manifests")
    code, out, err = run("apply", "plan.json", "--auto-approve")
    assert code == 0, err
    first = out.splitlines()[0]
    assert first.startswith(
        "Applying plan.json, verified against the manifests it records: manifests ")
    assert "Note:" not in first


@pytest.mark.parametrize("where", ["hidden", "outside"])
def test_a_plan_of_a_hidden_or_outside_folder_is_called_out(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox: SandboxServer,
    where: str,
) -> None:
    work = tmp_path / "repo"
    work.mkdir()
    monkeypatch.chdir(work)
    folder = ".beeplan/m" if where == "hidden" else "../elsewhere"
    write(work / folder, ORG)
    saved_plan(run, folder)
    code, out, err = run("apply", "plan.json", "--auto-approve")
    assert code == 0, err
    first = out.splitlines()[0]
    why = "a hidden (dot) folder" if where == "hidden" else "outside the current directory"
    assert f"Note: {folder} is {why}" in first
    assert why in err  # a warning too, for a CI log that keeps stderr


def test_manifests_option_is_refused_with_manifests_and_a_plan_with_more_paths(
    run: Run, here: Path
) -> None:
    write(here / "manifests", ORG)
    saved_plan(run, "manifests")
    code, _, err = run("apply", "manifests", "--manifests", "manifests")
    assert code == 1 and "--manifests goes with a saved plan" in err
    code, _, err = run("apply", "plan.json", "manifests")
    assert code == 1 and "a saved plan is applied alone" in err


# -- several manifest sets ---------------------------------------------------

COMMON = """\
companies:
  - xid: acme
    name: ACME
    corporate: true
    customFields: {Industry: Transport}
    members: {people: [rosa, jane]}
    projects:
      - xid: web
        name: Website
        description: the public site
        managers: [jane]
people:
  - {xid: rosa, name: Rosa Parks, company: acme}
  - {xid: jane, name: Jane Clark, company: acme}
settings:
  safety:
    ratio: 0.2
    min: 5
"""

PROD = """\
companies:
  - xid: acme
    name: ACME Production
    members: {people: [rosa]}
    projects:
      - xid: web
        managers: [rosa]
      - xid: ops
        name: Operations
settings:
  safety: {min: 7}
"""


def test_later_sets_override_fields_relations_replace_new_entries_are_added(
    run: Run, here: Path, sandbox: SandboxServer
) -> None:
    write(here / "common", COMMON)
    write(here / "envs" / "prod", PROD)
    code, out, err = run("validate", "common", "envs/prod")
    assert code == 0, err
    assert "common envs/prod: valid (1 company, 2 projects" in out
    code, out, err = run("apply", "common", "envs/prod", "--auto-approve")
    assert code == 0, err
    with BeeboleClient(sandbox.url, sandbox.token) as client:
        company = client.call("company.get", xid="acme")["company"]
        assert company["name"] == "ACME Production"
        projects = {p["xid"]: p for p in
                    client.call("project.list", company={"xid": "acme"})["projects"]}
    assert set(projects) == {"web", "ops"}
    # Kept from common: the description the later set does not write.
    assert projects["web"]["description"] == "the public site"
    # Relations replace: rosa alone manages web, and alone is a member of acme.
    code, out, _ = run("plan", "common", "envs/prod")
    assert code == 0 and "No changes" in out
    code, out, _ = run("plan", "common")
    assert "managers" in out and "jane" in out.lower()


def test_settings_merge_key_by_key_later_wins(here: Path) -> None:
    from beeplan.manifest import load

    write(here / "common", COMMON)
    write(here / "envs" / "prod", PROD)
    state = load(["common", "envs/prod"])
    assert state.settings.safety.default.ratio == 0.2  # from common
    assert state.settings.safety.default.min == 7  # from prod


def test_errors_stay_on_the_file_that_declared_the_value(run: Run, here: Path) -> None:
    write(here / "common", COMMON.replace("managers: [jane]", "managers: [jane]\n"
                                          "        startDate: 2024-02-30"))
    write(here / "envs" / "prod", PROD.replace("managers: [rosa]", "managers: [nobody]"))
    code, out, err = run("validate", "common", "envs/prod")
    assert code == 1
    assert "envs/prod/org.yaml:7: companies[0].projects[0].managers[0]: unknown person " \
           "'nobody'" in err
    assert "common/org.yaml:12: companies[0].projects[0].startDate: '2024-02-30' is not a " \
           "real date" in err
    assert "Traceback" not in err


def test_an_override_whose_identity_matches_nothing_says_so(run: Run, here: Path) -> None:
    """A typo in an override's xid made a new entry, refused only as "missing required key
    'name'": the error now says that no earlier path declares it, at any depth."""
    write(here / "common", COMMON)
    write(here / "envs" / "prod", "companies:\n  - xid: acmee\n    customFields: {Industry: X}\n"
          "  - xid: acme\n    projects:\n      - xid: webb\n        managers: [rosa]\n")
    code, _, err = run("validate", "common", "envs/prod")
    assert code == 1 and "Traceback" not in err
    assert "envs/prod/org.yaml:2: companies[0]: missing required key 'name': no earlier path " \
           "declares a company with xid 'acmee', so this entry is a new one, not an override" \
           in err, err
    assert "envs/prod/org.yaml:6: companies[1].projects[0]: missing required key 'name': no " \
           "earlier path declares a project with xid 'webb'" in err, err
    # One path: nothing to override, the plain error.
    code, _, err = run("validate", "envs/prod")
    assert code == 1 and "no earlier path" not in err
    assert "companies[0]: missing required key 'name'" in err


def test_an_identity_twice_within_one_later_set_is_still_an_error(run: Run, here: Path) -> None:
    write(here / "common", COMMON)
    write(here / "envs" / "prod", PROD)
    write(here / "envs" / "prod", "people:\n  - {xid: rosa, name: Rosa Two}\n", "more.yaml")
    write(here / "envs" / "prod", "people:\n  - {xid: rosa, name: Rosa Three}\n", "zmore.yaml")
    code, _, err = run("validate", "common", "envs/prod")
    assert code == 1
    assert "envs/prod/zmore.yaml:2: people[0].xid: person xid 'rosa' is defined twice: " \
           "first at envs/prod/more.yaml:2" in err


def test_a_saved_plan_of_several_sets_records_them_all_in_order(
    run: Run, here: Path, sandbox: SandboxServer
) -> None:
    write(here / "common", COMMON)
    write(here / "envs" / "prod", PROD)
    doc = saved_plan(run, "common", "envs/prod")
    assert doc["manifests"]["paths"] == ["common", "envs/prod"]
    assert doc["manifests"]["path"] == "common"
    # The digest covers every set, in order: the same sets in another order differ.
    write(here / "more", COMMON.replace("Website", "Web site"))
    assert manifest_digest(["common", "more"]) != manifest_digest(["more", "common"])
    assert doc["manifests"]["digest"] == manifest_digest(["common", "envs/prod"])
    assert doc["manifests"]["digest"] != manifest_digest(["common"])
    before = total_calls(sandbox)
    code, _, err = run("apply", "plan.json", "--manifests", "envs/prod", "--manifests", "common",
                       "--auto-approve")
    assert code == 1 and "made from the manifests at common envs/prod, not envs/prod common" in err
    code, _, err = run("apply", "plan.json", "--manifests", "common", "--auto-approve")
    assert code == 1 and "not common (--manifests)" in err
    assert total_calls(sandbox) == before
    # A later set edited after the plan: refused as changed.
    (here / "envs" / "prod" / "org.yaml").write_text(PROD.replace("Operations", "Ops"))
    code, _, err = run("apply", "plan.json", "--auto-approve")
    assert code == 1 and "are not the ones it was made from" in err
    (here / "envs" / "prod" / "org.yaml").write_text(PROD)
    code, out, err = run("apply", "plan.json", "--manifests", "common", "--manifests",
                         "envs/prod", "--auto-approve")
    assert code == 0, err
    assert out.splitlines()[0].startswith("Applying plan.json, made from common envs/prod")


def test_changed_since_with_several_paths_says_to_plan_in_full(run: Run, here: Path) -> None:
    write(here / "common", COMMON)
    write(here / "envs" / "prod", PROD)
    code, _, err = run("plan", "common", "envs/prod", "--changed-since", "common")
    assert code == 1 and "--changed-since takes one manifest PATH" in err


def test_a_plan_recording_a_device_as_its_manifests_is_refused_not_read(
    run: Run, here: Path, sandbox: SandboxServer
) -> None:
    write(here / "manifests", ORG)
    doc = saved_plan(run, "manifests")
    doc["manifests"]["path"] = "/dev/zero"
    Path("plan.json").write_text(json.dumps(doc))
    before = total_calls(sandbox)
    code, _, err = run("apply", "plan.json", "--auto-approve")
    # Refused by the loader's own rule (never opened for reading), whichever check names it.
    assert code == 1 and "/dev/zero" in err and "not a regular file" in err
    assert total_calls(sandbox) == before


def test_a_binding_copied_onto_another_plan_or_a_redigested_edit_is_refused(
    run: Run, here: Path, sandbox: SandboxServer, other: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The victim's binding (from an earlier artifact) on the attacker's plan does not fit:
    the seal covers the plan's digest under the victim's token."""
    from beeplan.planner import plan_digest
    from beeplan.render.jsonplan import plan_from_json

    write(here / "manifests", ORG)
    victim = saved_plan(run, "manifests", out="victim.json")
    # The attacker plans their own manifests on their own account, same endpoint
    # as far as the file says, and pastes the victim's binding in.
    write(here / "evil", ORG.replace("Rosa Parks", "Mallory"))
    monkeypatch.setenv("BEEBOLE_TOKEN", other.token)
    monkeypatch.setenv("BEEBOLE_ENDPOINT", other.url)
    evil = saved_plan(run, "evil", out="evil.json")
    evil["account"] = victim["account"]
    evil["endpoint"] = victim["endpoint"]
    Path("evil.json").write_text(json.dumps(evil))
    # An edit of the victim's own plan, its digest recomputed as anyone can.
    edited = json.loads(json.dumps(victim))
    for action in edited["actions"]:
        if action["op"] == "create" and action["target"]["kind"] == "person":
            action["name"] = action["payload"]["person"]["name"] = "Mallory"
            action["changes"][0]["after"] = "Mallory"
    edited["plan_digest"] = plan_digest(plan_from_json(json.dumps(edited))[0])
    Path("edited.json").write_text(json.dumps(edited))
    monkeypatch.setenv("BEEBOLE_TOKEN", sandbox.token)
    monkeypatch.setenv("BEEBOLE_ENDPOINT", sandbox.url)
    before = total_calls(sandbox)
    for name in ("evil.json", "edited.json"):
        code, _, err = run("apply", name, "--manifests", "manifests", "--auto-approve") \
            if name == "edited.json" else run("apply", name, "--auto-approve")
        assert code == 1, name
        assert "is not what was planned with this account's token" in err, err
    assert total_calls(sandbox) == before
    code, _, err = run("apply", "victim.json", "--auto-approve")
    assert code == 0, err


def test_a_duplicate_of_the_eleventh_merged_entry_names_its_file(run: Run, here: Path) -> None:
    """Merged entries are checked under placeholders; each maps back to its own file."""
    people = "".join(f"  - {{xid: p{n}, name: P{n}, company: acme}}\n" for n in range(12))
    write(here / "common", ORG + people)
    renamed = "".join(f"  - {{xid: p{n}, name: Q{n}}}\n" for n in range(12))
    write(here / "envs" / "prod", "people:\n" + renamed, "a.yaml")
    write(here / "envs" / "prod", "people:\n  - {xid: p10, name: Again}\n", "b.yaml")
    code, _, err = run("validate", "common", "envs/prod")
    assert code == 1
    assert "envs/prod/b.yaml:2: people[0].xid: person xid 'p10' is defined twice: first at " \
           "envs/prod/a.yaml:12" in err, err
    assert "\\x00" not in err
