"""A saved plan is data: a tampered plan file is refused before any write.

Each test makes a genuine plan on the sandbox, edits the file the way an
attacker who can touch a CI artifact would, and checks that ``apply``
refuses it with one message naming the offending action and why, with no
write (and, for what the file alone gives away, no API call at all); then
the untouched plan applies and converges.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from beeplan.applier import Outcome
from beeplan.errors import ApiError
from beeplan.planner import Action, Plan
from beeplan.platforms.v2.client import BeeboleClient, is_read
from beeplan.platforms.v2.sandbox.server import SandboxServer
from beeplan.render import render_markdown, render_text
from beeplan.usecases.steps import report

from .conftest import Run

ORG = """\
companies:
  - xid: co
    name: Co
    projects:
      - xid: p1
        name: Project one
        members: {{people: [{members}]}}
people:
{people}
"""


def person(xid: str, name: str, active: bool = True, location: str | None = None) -> str:
    text = f"  - {{xid: {xid}, name: {name}, company: co, active: {str(active).lower()}"
    if location:
        text += f", customFields: {{location: {location}}}"
    return text + "}"


def manifests(folder: Path, *, rename: bool = False, retire: bool = False) -> Path:
    """Five people in one company; v2 renames one, attaches one, sets a custom field."""
    rows = [
        person("ann", "Ann Renamed" if rename else "Ann", location="Paris" if rename else None),
        *(person(x, x.capitalize(), active=not retire) for x in ("bob", "cid", "dan")),
        person("eve", "Eve"),
    ]
    members = "ann, bob, cid" if rename else "ann, bob"
    folder.mkdir(exist_ok=True)
    (folder / "org.yaml").write_text(ORG.format(members=members, people="\n".join(rows)))
    return folder


def writes(sandbox: SandboxServer) -> int:
    return sum(n for service, n in sandbox.calls.items() if not is_read(service))


@pytest.fixture
def saved(run: Run, tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    """A genuine plan (rename, attach, set a custom field) on a populated sandbox."""
    folder = manifests(tmp_path / "m")
    assert run("apply", folder, "--auto-approve")[0] == 0
    manifests(folder, rename=True)
    plan_file = tmp_path / "plan.json"
    code, _, err = run("plan", folder, "-o", plan_file)
    assert code == 0, err
    doc = json.loads(plan_file.read_text())
    assert {a["op"] for a in doc["actions"]} == {"update", "attach", "set"}
    return plan_file, doc


def action(doc: dict[str, Any], op: str) -> dict[str, Any]:
    return next(a for a in doc["actions"] if a["op"] == op)


def swap_service(doc: dict[str, Any]) -> str:
    action(doc, "update")["service"] = "person.delete"
    return "update:person:ann"


def swap_service_to_time_entry(doc: dict[str, Any]) -> str:
    act = action(doc, "update")
    act["service"] = "time_entry.delete"
    act["payload"] = {"id": 1}
    return "update:person:ann"


def payload_names_another(doc: dict[str, Any]) -> str:
    action(doc, "update")["payload"]["person"]["xid"] = "eve"
    return "update:person:ann"


def action_added(doc: dict[str, Any]) -> str:
    doc["actions"].append(
        {
            **copy.deepcopy(action(doc, "update")),
            "id": "deactivate:person:eve",
            "op": "deactivate",
            "target": {"kind": "person", "xid": "eve"},
            "service": "person.deactivate",
            "payload": {"xid": "eve"},
            "phase": 10,
            "changes": [{"field": "active", "before": True, "after": False}],
        }
    )
    return "deactivate:person:eve"


def fingerprints_removed(doc: dict[str, Any]) -> str:
    doc["fingerprints"] = {}
    return doc["actions"][0]["id"]


def fingerprints_key_deleted(doc: dict[str, Any]) -> str:
    # Not a schema error ("required property"): the refusal names the action, as when emptied.
    del doc["fingerprints"]
    del doc["read_relations"]
    return doc["actions"][0]["id"]


def extra_fingerprint(doc: dict[str, Any]) -> str:
    # Makes apply read what the file names: refused, as the planner never writes it.
    doc["fingerprints"]["time_entry:#1"] = "0" * 16
    doc["read_relations"]["time_entry:#1"] = []
    return "it fingerprints time_entry:#1, which no action acts on"


def duplicate_action(doc: dict[str, Any]) -> str:
    doc["actions"].append(copy.deepcopy(action(doc, "attach")))
    return action(doc, "attach")["id"]


def unknown_dependency(doc: dict[str, Any]) -> str:
    action(doc, "attach")["depends_on"] = ["create:person:nobody"]
    return action(doc, "attach")["id"]


def dependency_cycle(doc: dict[str, Any]) -> str:
    first, second = action(doc, "update"), action(doc, "attach")
    first["depends_on"] = [second["id"]]
    second["depends_on"] = [first["id"]]
    return "its dependencies form a cycle"


def service_key_in_payload(doc: dict[str, Any]) -> str:
    action(doc, "attach")["payload"]["service"] = "person.delete"
    return action(doc, "attach")["id"]


def shown_change_differs(doc: dict[str, Any]) -> str:
    # The reviewer saw "Ann Renamed"; the payload (consistently edited) sends another name.
    act = action(doc, "update")
    act["payload"]["person"]["name"] = "Mallory"
    return "update:person:ann"


def custom_field_retargeted(doc: dict[str, Any]) -> str:
    act = action(doc, "set")
    act["changes"][0]["field"] = "customFields.Industry"
    return act["id"]


def endpoint_removed(doc: dict[str, Any]) -> str:
    del doc["endpoint"]
    return "records no endpoint"


def endpoint_null(doc: dict[str, Any]) -> str:
    doc["endpoint"] = None
    return "records no endpoint"


def endpoint_other(doc: dict[str, Any]) -> str:
    doc["endpoint"] = "https://beebole-apps.com/api/v2"
    return "was made against https://beebole-apps.com/api/v2"


def digest_mismatch(doc: dict[str, Any]) -> str:
    doc["plan_digest"] = "0" * 12
    return "edited after it was made"


TAMPERS: list[Callable[[dict[str, Any]], str]] = [
    swap_service,
    swap_service_to_time_entry,
    payload_names_another,
    action_added,
    fingerprints_removed,
    fingerprints_key_deleted,
    extra_fingerprint,
    duplicate_action,
    unknown_dependency,
    dependency_cycle,
    service_key_in_payload,
    shown_change_differs,
    custom_field_retargeted,
    endpoint_removed,
    endpoint_null,
    endpoint_other,
    digest_mismatch,
]


@pytest.mark.parametrize("tamper", TAMPERS, ids=[t.__name__ for t in TAMPERS])
def test_tampered_plan_is_refused_without_a_call(
    tamper: Callable[[dict[str, Any]], str],
    saved: tuple[Path, dict[str, Any]],
    run: Run,
    sandbox: SandboxServer,
    client: BeeboleClient,
    tmp_path: Path,
) -> None:
    plan_file, genuine = saved
    doc = copy.deepcopy(genuine)
    named = tamper(doc)
    plan_file.write_text(json.dumps(doc))

    sandbox.reset_calls()
    code, out, err = run("apply", plan_file, "--auto-approve")
    assert code == 1
    assert named in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert sum(sandbox.calls.values()) == 0, sandbox.calls  # refused from the file alone

    # The untouched plan applies and converges.
    plan_file.write_text(json.dumps(genuine))
    code, out, err = run("apply", plan_file, "--auto-approve")
    assert code == 0, err
    assert client.call("person.get", xid="ann")["person"]["name"] == "Ann Renamed"
    assert run("check", tmp_path / "m")[0] == 0


def resigned(doc: dict[str, Any], sandbox: SandboxServer | None = None) -> str:
    """The file with its digest made to match its edited content, as an attacker can.

    With ``sandbox``, resealed with its token too (``account.seal``): an edit
    by someone who holds the token, which only the live checks can refuse.
    """
    from beeplan.planfile.verify import seal_text
    from beeplan.planner import plan_digest
    from beeplan.render.jsonplan import plan_from_json

    plan = plan_from_json(json.dumps(doc))[0]
    doc["plan_digest"] = plan_digest(plan)
    if sandbox is not None:
        with BeeboleClient(sandbox.url, sandbox.token) as holder:
            doc["account"]["seal"] = holder.token_fingerprint(
                doc["account"]["salt"], seal_text(plan, doc["endpoint"]))
    return json.dumps(doc)


def test_consistent_edits_are_refused_against_the_live_account(
    saved: tuple[Path, dict[str, Any]], run: Run, sandbox: SandboxServer
) -> None:
    plan_file, genuine = saved
    # The shown "before" of a rename is not the account's name.
    doc = copy.deepcopy(genuine)
    action(doc, "update")["changes"][0]["before"] = "Someone else"
    # A custom field shown as another one, its id edited to match the file.
    act = action(doc, "set")
    act["changes"][0]["field"] = "customFields.Industry"
    act["id"] = act["id"].replace("location", "Industry")
    plan_file.write_text(resigned(doc, sandbox))
    sandbox.reset_calls()
    code, _, err = run("apply", plan_file, "--auto-approve")
    assert code == 1
    assert "update:person:ann: person:ann is named 'Ann', not 'Someone else'" in err
    assert "custom field 'Industry' is #7206, not #4879" in err
    assert writes(sandbox) == 0


def test_an_xid_with_escapes_in_a_consistent_edit_is_printed_escaped(
    saved: tuple[Path, dict[str, Any]], run: Run, sandbox: SandboxServer
) -> None:
    """Manifests refuse such an xid, a plan file does not: the refusal quoting it
    (here: stale, no such entity) must not repaint the terminal or the CI log."""
    plan_file, genuine = saved
    evil = "ann\x1b[2J\x1b]0;owned\x07"
    doc = copy.deepcopy(genuine)
    doc["actions"] = [action(doc, "update")]
    act = doc["actions"][0]
    act["target"] = {"kind": "person", "xid": evil}
    act["payload"]["person"]["xid"] = evil
    act["id"] = f"update:person:{evil}"
    doc["fingerprints"] = {f"person:{evil}": "0" * 16}
    doc["read_relations"] = {f"person:{evil}": []}
    plan_file.write_text(resigned(doc, sandbox))
    sandbox.reset_calls()
    code, out, err = run("apply", plan_file, "--auto-approve")
    assert code == 1 and "Traceback" not in err
    assert "person:ann\\x1b[2J\\x1b]0;owned\\x07" in err, err
    assert "\x1b" not in out + err and "\x07" not in out + err
    assert writes(sandbox) == 0


def test_emptied_safety_fields_are_recomputed(
    run: Run, sandbox: SandboxServer, tmp_path: Path
) -> None:
    folder = manifests(tmp_path / "m")
    assert run("apply", folder, "--auto-approve")[0] == 0
    manifests(folder, retire=True)  # deactivates 3 of 5 people
    plan_file = tmp_path / "plan.json"
    assert run("plan", folder, "-o", plan_file)[0] == 0
    genuine = plan_file.read_text()
    doc = json.loads(genuine)
    assert doc["destroy_violations"] == ["3 of 5 people would be deactivated"]
    doc["destroy_violations"] = []
    plan_file.write_text(json.dumps(doc))

    for extra in ([], ["--manifests", folder]):
        sandbox.reset_calls()
        code, out, err = run("apply", plan_file, "--auto-approve", *extra)
        assert code == 1
        assert "3 of 5 people would be deactivated" in err, err
        assert "deactivate:person:bob" in err  # the refusal names the actions, as any other
        assert writes(sandbox) == 0

    # Without the manifests at hand the count is pessimistic: still refused.
    moved = tmp_path / "elsewhere"
    folder.rename(moved)
    sandbox.reset_calls()
    code, _, err = run("apply", plan_file, "--auto-approve")
    assert code == 1 and "not at hand to say what is managed (pass --manifests PATH)" in err
    assert "are not here: their digest is not checked" in err
    assert writes(sandbox) == 0

    plan_file.write_text(genuine)
    code, out, err = run("apply", plan_file, "--auto-approve", "--allow-destroy")
    assert code == 0, err
    # The no-read gate's pessimistic "3 of 0" is never shown as the account's count.
    assert " of 0 " not in out + err, out + err
    assert run("check", moved)[0] == 0


def test_manifests_changed_since_the_plan_are_refused(
    saved: tuple[Path, dict[str, Any]], run: Run, sandbox: SandboxServer, tmp_path: Path
) -> None:
    plan_file, _ = saved
    folder = tmp_path / "m"
    original = (folder / "org.yaml").read_text()
    (folder / "org.yaml").write_text(original.replace("Eve", "Evelyn"))
    for extra in ([], ["--manifests", folder]):  # the recorded path, or the given one
        sandbox.reset_calls()
        code, _, err = run("apply", plan_file, "--auto-approve", *extra)
        assert code == 1
        assert "not the ones it was made from" in err
        assert sum(sandbox.calls.values()) == 0

    (folder / "org.yaml").write_text(original)
    code, _, err = run("apply", folder, "--auto-approve", "--manifests", folder)
    assert code == 1 and "--manifests goes with a saved plan" in err
    assert run("apply", plan_file, "--auto-approve", "--manifests", folder)[0] == 0
    assert run("check", folder)[0] == 0


def test_a_hostile_plan_file_is_an_error_not_a_traceback(
    run: Run, sandbox: SandboxServer, tmp_path: Path
) -> None:
    plan_file = tmp_path / "plan.json"
    for text in ("[" * 100_000 + "]" * 100_000, '{"format_version": 1, "actions": 3}', "{"):
        plan_file.write_text(text)
        sandbox.reset_calls()
        code, _, err = run("apply", plan_file, "--auto-approve")
        assert code == 1 and err.startswith("Error: ") and "Traceback" not in err, err
        assert sum(sandbox.calls.values()) == 0


def test_an_action_added_by_hand_without_all_its_keys_is_named(
    saved: tuple[Path, dict[str, Any]], run: Run, sandbox: SandboxServer
) -> None:
    """Added by hand, an action often lacks keys: the schema refusal names it by id."""
    plan_file, genuine = saved
    doc = copy.deepcopy(genuine)
    doc["actions"].append({"id": "delete:person:eve", "op": "delete",
                           "service": "person.delete", "payload": {"person": {"xid": "eve"}}})
    plan_file.write_text(json.dumps(doc))
    sandbox.reset_calls()
    code, _, err = run("apply", plan_file, "--auto-approve")
    assert code == 1 and "Traceback" not in err
    assert f"actions/{len(doc['actions']) - 1} (action 'delete:person:eve'): 'target'" in err, err
    assert sum(sandbox.calls.values()) == 0


def test_the_same_digest_in_text_markdown_json_and_apply(
    saved: tuple[Path, dict[str, Any]], run: Run, tmp_path: Path
) -> None:
    plan_file, doc = saved
    digest = doc["plan_digest"]
    folder = tmp_path / "m"
    assert f"Plan digest: {digest}" in run("plan", folder)[1]
    assert f"Plan digest: {digest}" in run("plan", folder, "--format", "markdown")[1]
    code, out, err = run("apply", plan_file, "--auto-approve")
    assert code == 0, err
    assert f"Plan digest: {digest}" in out


# ---------------------------------------------------------------------------
# Output that cannot be hijacked

EVIL = "Eve\x1b[2J\r\x07\u202e"


def evil_plan(name: str = EVIL) -> Plan:
    from beeplan.model import Ref
    from beeplan.planner import Change, build_action

    target = Ref("person", xid="eve")
    update = build_action(
        "update", "person", target, name, changes=(Change("name", "Eve", name),)
    )
    link = build_action(
        "attach",
        "project",
        Ref("project", xid="p1"),
        "P1",
        relation="members.people",
        detail=f"members.people += person eve ({name})",
    )
    return Plan(actions=(update, link), warnings=(f"warned about {name}",))


def test_control_characters_in_names_are_escaped_in_text_and_markdown() -> None:
    for text in (render_text(evil_plan(), color=True), render_markdown(evil_plan())):
        assert "\x1b[2J" not in text and "\r" not in text and "\x07" not in text
        assert "\u202e" not in text
        assert "\\x1b[2J" in text and "\\u202e" in text


def test_a_name_with_backticks_cannot_close_the_markdown_fence() -> None:
    text = render_markdown(evil_plan("x ```` y\n## injected"))
    opening = next(line for line in text.splitlines() if line.endswith("diff"))
    fence = opening[: -len("diff")]
    assert set(fence) == {"`"} and len(fence) == 5
    inside = text.split(opening + "\n", 1)[1].split("\n" + fence + "\n", 1)[0]
    assert "x ```` y\\n## injected" in inside
    assert "\n## injected" not in text


def test_api_messages_are_capped_and_escaped_in_the_apply_report() -> None:
    error = ApiError("person.update", "<html>" + "x" * 5000 + "\x1b[31m</html>")
    assert len(str(error)) < 400 and "\x1b" not in str(error)
    act: Action = evil_plan().actions[0]
    failed = Outcome(failed=[(act, "bad\x1b[31m\n" + "y" * 5000)])
    text = report(failed, 1, 0.1)
    assert "\x1b" not in text and "bad\\x1b[31m\\n" in text
    assert max(len(line) for line in text.splitlines()) < 450


def test_a_live_name_with_escapes_is_printed_escaped(
    run: Run, client: BeeboleClient, tmp_path: Path
) -> None:
    folder = manifests(tmp_path / "m")
    assert run("apply", folder, "--auto-approve")[0] == 0
    client.call("person.update", person={"xid": "eve", "name": "Eve\x1b]0;pwned\x07"})
    code, out, _ = run("plan", folder)
    assert code == 0
    assert "\x1b" not in out and "\x07" not in out
    assert '"Eve\\u001b]0;pwned\\u0007" -> "Eve"' in out


def test_refuse_in_use_is_looked_up_again_for_a_saved_plan(
    run: Run, sandbox: SandboxServer, client: BeeboleClient, tmp_path: Path
) -> None:
    from .test_usage import log, manifest

    assert run("apply", manifest(tmp_path), "--auto-approve")[0] == 0
    log(client, "jane", 2, 5, subproject={"xid": "proto"})
    path = manifest(tmp_path, proto=True)
    path.write_text("settings: {safety: {refuseInUse: true}}\n" + path.read_text())
    plan_file = tmp_path / "plan.json"
    assert run("plan", path, "-o", plan_file)[0] == 0
    doc = json.loads(plan_file.read_text())
    assert "refuseInUse" in doc["destroy_violations"][0]
    doc["destroy_violations"] = []
    plan_file.write_text(json.dumps(doc))

    sandbox.reset_calls()
    code, _, err = run("apply", plan_file, "--auto-approve")
    assert code == 1
    assert "1 deactivated entity has hours in the last 90 days (subproject proto)" in err
    assert writes(sandbox) == 0
    code, _, err = run("apply", plan_file, "--auto-approve", "--usage-days", "0")
    assert code == 1 and "not checked for hours (--usage-days 0)" in err
    code, _, err = run("apply", plan_file, "--auto-approve", "--allow-destroy")
    assert code == 0, err
    assert client.call("subproject.get", xid="proto")["subproject"]["active"] is False


@pytest.mark.parametrize(
    "case", sorted(p.name for p in (Path(__file__).parent / "data" / "cases").iterdir())
)
def test_every_golden_plan_rebuilds_from_its_meaning(case: str) -> None:
    """What the planner makes, the rebuild accepts: every op, kind and relation it emits."""
    from beeplan.planfile.verify import check_actions, check_dependencies, check_fingerprints
    from beeplan.render.jsonplan import plan_from_json

    folder = Path(__file__).parent / "data" / "cases" / case
    plan, _ = plan_from_json((folder / "plan.json").read_text())
    check_actions(plan, case)
    check_dependencies(plan, case)
    check_fingerprints(plan, case)


@pytest.mark.parametrize("xid", ["plain", "with space", "#12", 'quo"te', "paren (x)", "ünï"])
def test_labels_read_back_whatever_the_xid(xid: str) -> None:
    from beeplan.model import Ref
    from beeplan.planner import ActionError, build_action, link_detail, parse_link_detail

    other = Ref("person", xid=xid)
    detail = link_detail("members.people", "attach", other, "Name (with parens)")
    assert parse_link_detail("members.people", "attach", detail) == other
    made = build_action(
        "attach", "project", Ref("project", xid="p"), "P", relation="members.people", detail=detail
    )
    assert made.payload == {"xid": "p", "person": {"xid": xid}}
    with pytest.raises(ActionError):  # the same call shown as a detach is not this action
        build_action(
            "detach", "project", Ref("project", xid="p"), "P", relation="members.people",
            detail=detail,
        )


def test_apply_progress_and_plan_escape_a_declared_name(run: Run, tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "org.yaml").write_text(
        "companies:\n  - xid: co\n    name: Co\n    projects:\n"
        "      - {xid: p1, name: P1, members: {people: [eve]}}\n"
        'people:\n  - {xid: eve, name: "Eve\\e[2J\\u202e", company: co}\n'
    )
    code, out, err = run("apply", folder, "--auto-approve")
    assert code == 0, err
    assert "members.people += person eve (Eve\\x1b[2J\\u202e)" in err  # the progress line
    assert "\x1b" not in out + err and "\u202e" not in out + err


def test_every_slice_of_a_saved_plan_shows_the_files_digest(run: Run, tmp_path: Path) -> None:
    acme = Path(__file__).resolve().parent.parent / "examples" / "acme"
    plan_file = tmp_path / "plan.json"
    assert run("plan", acme, "-o", plan_file)[0] == 0
    digest = json.loads(plan_file.read_text())["plan_digest"]
    for _ in range(2):  # the first slice, then what is left of the plan
        code, out, err = run("apply", plan_file, "--auto-approve", "--max-calls", 60)
        assert code == 0, err
        assert f"Plan digest: {digest}" in out
