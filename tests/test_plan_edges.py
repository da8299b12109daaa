"""Plans right on real accounts (issue 11 items 2, 5 and 7), through the CLI and the sandbox.

- prune: an empty list manages its kind; a kind with no key is named, with its count;
- problems found at plan time, before any write: email clash, inactive parent,
  unknown ``{id: N}``; a warning when a create replaces a deactivated namesake;
- the safety threshold counts removed group assignments, leaders and custom
  field values, and ``settings.safety`` tunes it.
"""

from __future__ import annotations

import json
from pathlib import Path

from beeplan.platforms.v2.client import BeeboleClient
from beeplan.platforms.v2.sandbox.server import SandboxServer

from .conftest import Run

READS = {
    "list", "get", "tree", "groups", "members", "managers", "leaders", "custom_fields",
    "specific_tasks", "assignments",
}


def writes(sandbox: SandboxServer) -> int:
    return sum(n for service, n in sandbox.calls.items() if service.split(".")[-1] not in READS)


def company(client: BeeboleClient, xid: str = "acme") -> int:
    return int(client.call("company.create", company={"xid": xid, "name": xid.upper()})["id"])


def person(client: BeeboleClient, xid: str | None, name: str, email: str | None = None) -> int:
    body: dict[str, object] = {"name": name, "company": {"xid": "acme"}}
    if xid is not None:
        body["xid"] = xid
    if email is not None:
        body["email"] = email
    return int(client.call("person.create", person=body)["id"])


# -- 2. prune means what it says ----------------------------------------------------


def test_prune_with_an_empty_list_deactivates_that_kind_and_names_the_kinds_left_alone(
    run: Run, sandbox: SandboxServer, client: BeeboleClient, tmp_path: Path
) -> None:
    company(client)
    for xid in ("sick", "leave"):
        client.call("absence.create", absence={"xid": xid, "name": xid, "company": {"xid": "acme"}})
    person(client, "rosa", "Rosa")
    person(client, None, "No Xid")
    client.call("project.create", project={"xid": "web", "name": "Web", "company": {"xid": "acme"}})
    client.call("subproject.create", subproject={"name": "Shop", "project": {"xid": "web"}})
    manifest = tmp_path / "m.yaml"
    manifest.write_text(
        "settings: {prune: true}\ncompanies:\n  - {xid: acme, name: ACME}\nabsences: []\n"
    )
    code, out, err = run("plan", manifest, "--detailed-exitcode")
    assert code == 2, out + err
    assert out.count("absence.deactivate") == 2
    assert "people (2 live)" in out and "`people: []`" in out
    # Subprojects are counted from the project lists' answers, not listed.
    assert "projects (1 live), subprojects (1 live)" in out
    assert "tasks (" not in out  # none live: nothing left alone
    assert "The account matches" not in out

    code, out, err = run("apply", manifest, "--auto-approve")
    assert code == 0, err
    absences = client.call("absence.list", company={"xid": "acme"})["absences"]
    assert [a["active"] for a in absences] == [False, False]
    people = client.call("person.list", company={"xid": "acme"})["people"]
    assert [p["active"] for p in people] == [True, True]  # not managed: left alone

    # Converged on what it manages, it still says what it leaves alone.
    code, out, err = run("apply", manifest, "--auto-approve")
    assert code == 0, err
    assert "The account matches" not in out and "people (2 live)" in out
    code, out, err = run("plan", manifest, "--detailed-exitcode")
    assert code == 0, out + err
    assert "The account matches" not in out
    assert "No changes to the kinds the manifests manage" in out
    assert "people (2 live)" in out
    doc = json.loads(run("plan", manifest, "--format", "json")[1])
    assert doc["prune"] is True and doc["unmanaged_kinds"]["person"] == 2
    assert doc["unmanaged_kinds"]["task"] == 0


def test_without_prune_an_empty_list_changes_nothing(
    run: Run, client: BeeboleClient, tmp_path: Path
) -> None:
    company(client)
    client.call(
        "absence.create", absence={"xid": "sick", "name": "Sick", "company": {"xid": "acme"}}
    )
    manifest = tmp_path / "m.yaml"
    manifest.write_text("companies:\n  - {xid: acme, name: ACME}\nabsences: []\n")
    code, out, err = run("plan", manifest, "--detailed-exitcode")
    assert code == 0, out + err
    assert "absence sick (Sick)" in out and "(settings.prune: false)" in out


# -- 5. what cannot apply is a problem at plan time, with zero writes -----------------------


def test_a_new_person_with_a_live_persons_email_is_a_problem_naming_that_person(
    run: Run, sandbox: SandboxServer, client: BeeboleClient, tmp_path: Path
) -> None:
    company(client)
    rosa = person(client, "rosa", "Rosa Parks", "rosa@example.com")
    manifest = tmp_path / "m.yaml"
    # The xid renamed (rosa -> rosa-parks), the email kept: the API would refuse the create.
    manifest.write_text(
        "companies:\n  - {xid: acme, name: ACME}\npeople:\n"
        "  - {xid: rosa-parks, name: Rosa Parks, company: acme, email: Rosa@Example.com}\n"
    )
    sandbox.reset_calls()
    code, out, err = run("plan", manifest)
    assert code == 1
    assert f"person #{rosa} 'Rosa Parks' (xid 'rosa')" in out
    assert f"`id: {rosa}`" in out and "m.yaml:4" in out
    code, out, err = run("apply", manifest, "--auto-approve")
    assert code == 1 and "impossible" in err
    assert writes(sandbox) == 0
    # A saved plan with problems does not invite 'beeplan apply plan.json'.
    code, out, err = run("plan", manifest, "-o", tmp_path / "plan.json")
    assert code == 1
    assert "apply it with" not in err and "make the plan again" in err


def test_an_email_given_away_in_the_same_plan_is_ordered_not_refused(
    run: Run, client: BeeboleClient, tmp_path: Path
) -> None:
    company(client)
    person(client, "rosa", "Rosa", "shared@example.com")
    person(client, "li", "Li", "li@example.com")
    manifest = tmp_path / "m.yaml"
    # li takes rosa's email while rosa keeps it: refused at plan time.
    manifest.write_text(
        "companies:\n  - {xid: acme, name: ACME}\npeople:\n"
        "  - {xid: rosa, name: Rosa, company: acme}\n"
        "  - {xid: li, name: Li, company: acme, email: shared@example.com}\n"
    )
    code, out, err = run("plan", manifest)
    assert code == 1 and "person li (" in out and "Give that person another email" in out
    manifest.write_text(
        "companies:\n  - {xid: acme, name: ACME}\npeople:\n"
        "  - {xid: rosa, name: Rosa, company: acme, email: rosa@example.com}\n"
        "  - {xid: li, name: Li, company: acme}\n"
        "  - {xid: desk, name: Front desk, company: acme, email: shared@example.com}\n"
    )
    code, out, err = run("apply", manifest, "--auto-approve")
    assert code == 0, out + err
    assert run("plan", manifest, "--detailed-exitcode")[0] == 0


def test_people_swapping_emails_is_a_problem_at_plan_time(
    run: Run, client: BeeboleClient, sandbox: SandboxServer, tmp_path: Path
) -> None:
    company(client)
    person(client, "rosa", "Rosa", "rosa@example.com")
    person(client, "li", "Li", "li@example.com")
    person(client, "al", "Al", "al@example.com")
    manifest = tmp_path / "m.yaml"
    # Each write waits for the one that frees its email: round a cycle, none can go first,
    # and apply would skip them all and advise a re-run that never converges.
    manifest.write_text(
        "companies:\n  - {xid: acme, name: ACME}\npeople:\n"
        "  - {xid: rosa, name: Rosa, company: acme, email: li@example.com}\n"
        "  - {xid: li, name: Li, company: acme, email: al@example.com}\n"
        "  - {xid: al, name: Al, company: acme, email: rosa@example.com}\n"
    )
    code, out, err = run("plan", manifest)
    assert code == 1, out + err
    assert "emails go round in a cycle" in out and "person li takes 'al@example.com'" in out
    assert "Apply a temporary email for one of them first" in out
    sandbox.reset_calls()
    code, _, err = run("apply", manifest, "--auto-approve")
    assert code == 1 and "emails go round in a cycle" in err
    assert writes(sandbox) == 0
    # Through a temporary email it goes: no cycle, ordered writes.
    manifest.write_text(manifest.read_text().replace("al@example.com}", "tmp@example.com}"))
    code, out, err = run("apply", manifest, "--auto-approve")
    assert code == 0, out + err


def test_a_create_under_an_inactive_parent_and_an_unknown_id_are_problems(
    run: Run, sandbox: SandboxServer, client: BeeboleClient, tmp_path: Path
) -> None:
    company(client)
    client.call("company.deactivate", xid="acme")
    manifest = tmp_path / "m.yaml"
    manifest.write_text(
        "companies:\n  - xid: acme\n    name: ACME\n    active: false\n    projects:\n"
        "      - {xid: web, name: Website, managers: [{id: 99999}]}\n"
    )
    sandbox.reset_calls()
    code, out, err = run("plan", manifest)
    assert code == 1
    assert "m.yaml:6): cannot be created under company #" in out
    assert "inactive and stays so" in out
    assert "managers refers to person #99999, which the account does not have" in out
    assert run("apply", manifest, "--auto-approve")[0] == 1
    assert writes(sandbox) == 0
    # Activating the company in the same plan is fine.
    manifest.write_text(
        "companies:\n  - xid: acme\n    name: ACME\n    projects:\n"
        "      - {xid: web, name: Website}\n"
    )
    code, out, err = run("apply", manifest, "--auto-approve")
    assert code == 0, out + err


def test_creating_a_namesake_of_what_is_deactivated_warns_of_a_replacement(
    run: Run, client: BeeboleClient, tmp_path: Path
) -> None:
    company(client)
    old = client.call(
        "project.create", project={"xid": "web", "name": "Website", "company": {"xid": "acme"}}
    )["id"]
    manifest = tmp_path / "m.yaml"
    # The xid changed (web -> website) without prune: the old one stays, unmanaged.
    manifest.write_text(
        "companies:\n  - xid: acme\n    name: ACME\n    projects:\n"
        "      - {xid: website, name: Website}\n"
    )
    code, out, err = run("plan", manifest, "--detailed-exitcode")
    assert code == 2, out + err
    assert f"m.yaml:5) is created next to live project #{old} 'Website'" in out
    assert "declare it with xid 'web' instead" in out
    # The xid changed (web -> website) under prune: a new project, the old one deactivated.
    manifest.write_text(
        "settings: {prune: true}\ncompanies:\n  - xid: acme\n    name: ACME\n    projects:\n"
        "      - {xid: website, name: Website}\n"
    )
    code, out, err = run("plan", manifest, "--detailed-exitcode")
    assert code == 2, out + err
    assert f"m.yaml:6) replaces project #{old} 'Website'" in out
    assert "time entries stay on the old one" in out and "xid 'web'" in out
    md = run("plan", manifest, "--format", "markdown")[1]
    assert "replaces project" in md
    # A group is deleted, not deactivated, and logs no time: its assignments go with it.
    client.call("group.create", group={"xid": "team", "name": "Team"})
    manifest.write_text("settings: {prune: true}\ngroups:\n  - {xid: team-2, name: Team}\n")
    code, out, err = run("plan", manifest, "--detailed-exitcode")
    assert code == 2, out + err
    assert "m.yaml:3) replaces group #" in out and "the old one deleted" in out
    assert "its assignments and exclusive memberships go with it" in out
    assert "time entries" not in out


# -- 7. the safety threshold guards every mass removal ----------------------------------------

TEAM = """\
companies:
  - {{xid: acme, name: ACME}}
groups:
  - {{xid: eng, name: Engineering}}
people:
  - {{xid: lead, name: Lead, company: acme}}
{people}
"""


def team(n: int, relations: str) -> str:
    rows = "\n".join(
        f"  - {{xid: p{i}, name: P{i}, company: acme, {relations}}}" for i in range(n)
    )
    return TEAM.format(people=rows)


def test_removing_groups_leaders_and_custom_fields_en_masse_needs_allow_destroy(
    run: Run, sandbox: SandboxServer, client: BeeboleClient, tmp_path: Path
) -> None:
    manifest = tmp_path / "m.yaml"
    full = "groups: [eng], leaders: [lead], customFields: {location: Paris}"
    manifest.write_text(team(4, full))
    assert run("apply", manifest, "--auto-approve")[0] == 0

    manifest.write_text(team(4, "groups: [], leaders: [], customFields: {}"))
    code, out, err = run("plan", manifest)
    assert code == 0, out + err
    assert "Plan: 0 to create, 0 to update, 12 to attach/detach, 0 to deactivate." in out
    assert "4 of 4 person group assignments would be removed" in out
    assert "4 of 4 person leader links would be removed" in out
    assert "4 of 4 person custom field values would be cleared" in out
    sandbox.reset_calls()
    code, out, err = run("apply", manifest, "--auto-approve")
    assert code == 1 and "--allow-destroy" in err
    assert writes(sandbox) == 0

    # settings.safety: per kind, a ratio that allows it (here: everything).
    manifest.write_text(
        team(4, "groups: [], leaders: [], customFields: {}")
        + "settings:\n  safety: {ratio: 0.1, min: 3, kinds: {person: {ratio: 1}}}\n"
    )
    code, out, err = run("apply", manifest, "--auto-approve")
    assert code == 0, out + err
    assert client.call("person.leaders", id=client.call("person.get", xid="p0")["person"]["id"])[
        "leaders"
    ] == []


def test_settings_safety_min_lets_a_small_set_change(
    run: Run, client: BeeboleClient, tmp_path: Path
) -> None:
    manifest = tmp_path / "m.yaml"
    manifest.write_text(team(3, "groups: [eng]"))
    assert run("apply", manifest, "--auto-approve")[0] == 0
    manifest.write_text(team(3, "groups: []"))
    assert "3 of 3 person group assignments" in run("plan", manifest)[1]
    manifest.write_text(team(3, "groups: []") + "settings: {safety: {min: 4}}\n")
    code, out, err = run("plan", manifest)
    assert "would be removed" not in out
    assert run("apply", manifest, "--auto-approve")[0] == 0


# -- 3. diff and plan agree: what diff refuses, plan refuses ---------------------------------

SMALL = """\
settings: {prune: false}
companies:
  - {xid: acme, name: ACME}
  - {xid: globex, name: Globex}
people:
  - {xid: rosa, name: Rosa, company: acme, leaders: [li]}
  - {xid: li, name: Li, company: acme}
"""


def test_diff_shows_what_plan_does_and_refuses_what_plan_refuses(
    run: Run, client: BeeboleClient, tmp_path: Path
) -> None:
    old, new = tmp_path / "old.yaml", tmp_path / "new.yaml"
    old.write_text(SMALL)
    assert run("apply", old, "--auto-approve")[0] == 0
    person(client, None, "Hand made")  # in the account, in neither set

    # Prune on, rosa's leaders no longer managed: a change diff shows, offline.
    new.write_text(
        SMALL.replace("prune: false", "prune: true").replace(", leaders: [li]", "")
    )
    code, out, err = run("diff", old, new, "--detailed-exitcode")
    assert code == 2, out + err
    assert "settings.prune: false -> true" in out and "diff cannot see the account" in out
    assert "person rosa (Rosa): leaders" in out
    # What diff could not see, plan shows: the hand-made person is deactivated.
    code, out, err = run("plan", new)
    assert code == 0, out + err
    assert "person.deactivate" in out and "Hand made" in out

    # An impossible move: diff exits 1 as plan does, token or not.
    new.write_text(SMALL.replace("{xid: li, name: Li, company: acme}",
                                 "{xid: li, name: Li, company: globex}"))
    assert run("diff", old, new, "--detailed-exitcode")[0] == 1
    assert run("plan", new, "--detailed-exitcode")[0] == 1


def test_a_saved_plan_without_changes_does_not_invite_an_apply(
    run: Run, sandbox: SandboxServer, tmp_path: Path
) -> None:
    manifest = tmp_path / "m.yaml"
    manifest.write_text("companies:\n  - {xid: acme, name: ACME}\n")
    assert run("apply", manifest, "--auto-approve")[0] == 0
    code, _, err = run("plan", manifest, "-o", tmp_path / "plan.json")
    assert code == 0
    assert "nothing to apply" in err and "apply it with" not in err
    sandbox.reset_calls()
    code, out, err = run("apply", tmp_path / "plan.json", "--auto-approve")
    assert code == 0, err
    assert writes(sandbox) == 0
