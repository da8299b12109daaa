"""The second round trip: the converted set, planned against a migrated account.

examples/acme is applied to the API v2 sandbox of a file; ``beeplan sandbox migrate``
builds the file's current-platform account from it as Beebole's legacy migration does;
``beeplan convert`` writes the current-platform manifests; the plan of those against the
migrated account shows only what the mapping cannot carry, each named. Everything runs
through the CLI, and each sandbox is reached over HTTP by beeplan's own clients.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from pathlib import Path

import requests
import yaml

from beeplan.platforms.current.sandbox import CurrentSandboxServer
from beeplan.platforms.v2.client import BeeboleClient
from beeplan.platforms.v2.sandbox.server import SandboxServer

ROOT = Path(__file__).resolve().parents[2]
ACME = ROOT / "examples" / "acme"

# What the mapping cannot carry, for examples/acme: (entity, key) as `sandbox migrate`
# names them. The v2 sandbox gives every project a start date, so the migration names
# six, where the manifests write four (convert names those four, below).
NOT_CARRIED = sorted([
    ("company acme", "corporate"), ("company globex", "corporate"),
    *[(f"project {p}", "startDate") for p in (
        "acme-dev", "acme-internal", "acme-support", "globex-web", "globex-migration",
        "globex-training")],
    ("absence sick", "groups"), ("absence holiday-tx", "groups"),
    ("group country", "xid"), ("group department", "xid"),
    *[(f"person {p}", "company") for p in (
        "jane", "marc", "rosa", "omar", "li", "ines", "noah", "admin-bot")],
    ("project acme-support", "specificTasks.enabled"),
    *[(f"task {t}", "company") for t in ("admin", "meeting", "development", "design")],
    *[(f"absence {a}", "company") for a in ("vacation", "sick", "holiday-tx")],
])
# ... and as `beeplan convert` names them in the manifests: the key's path, per file.
DROPPED = sorted([
    ("acme.yaml", "companies[0].corporate"), ("globex.yaml", "companies[0].corporate"),
    ("acme.yaml", "companies[0].projects[0].startDate"),
    ("acme.yaml", "companies[0].projects[2].startDate"),
    ("globex.yaml", "companies[0].projects[0].startDate"),
    ("globex.yaml", "companies[0].projects[1].startDate"),
    ("absences.yaml", "absences[1].groups"), ("absences.yaml", "absences[2].groups"),
    ("groups.yaml", "groups[0].xid"), ("groups.yaml", "groups[1].xid"),
    *[("people.yaml", f"people[{n}].company") for n in range(8)],
    ("acme.yaml", "companies[0].projects[2].specificTasks.enabled"),
    *[("absences.yaml", f"absences[{n}].company") for n in range(3)],
    *[("tasks.yaml", f"tasks[{n}].company") for n in range(4)],
])


def _v2_account(cli_main, tmp_path: Path, source: Path = ACME) -> Path:
    db = tmp_path / "rehearsal.db"
    status, _out, err = cli_main("apply", source, "--endpoint", f"sandbox:{db}",
                                 "--auto-approve")
    assert status == 0, err
    return db


def _not_carried(stdout: str) -> list[tuple[str, str]]:
    lines = [line for line in stdout.splitlines() if line.startswith("not carried: ")]
    return sorted((m[1], m[2]) for m in
                  (re.match(r"not carried: (\w+ .+?): ([\w.]+): .+", line) for line in lines)
                  if m)


def _count(db: Path) -> dict[str, int]:
    """How many of each kind the current account holds, archived ones included."""
    with CurrentSandboxServer(db) as server:
        body = requests.post(server.url, headers={"apikey": server.token}, timeout=10, json={
            "query": "{ p: countProjects(archived: true) t: countTags(archived: true) "
                     "n: countPersons(archived: true) k: countTasks(archived: true) "
                     "r: countRoles(archived: true) c: getCustomFields { name } "
                     "tc: getTagCategories { name } a: getAbsenceTypes(archived: true) { id } "
                     "o: currentOrganisation { legacyMigrationDone } }"}).json()
    assert "errors" not in body, body
    d = body["data"]
    return {"projects": d["p"], "tags": d["t"], "people": d["n"], "tasks": d["k"],
            "roles": d["r"], "fields": len(d["c"]), "tagCategories": len(d["tc"]),
            "absenceTypes": len(d["a"]), "migrated": d["o"]["legacyMigrationDone"]}


def test_migrated_account_plans_only_what_the_mapping_cannot_carry(
        cli_main, tmp_path: Path) -> None:
    db = _v2_account(cli_main, tmp_path)
    status, out, err = cli_main("sandbox", "migrate", "--db", db)
    assert status == 0, out + err
    # the migration names each v2 value it leaves behind, and nothing else
    assert _not_carried(out) == NOT_CARRIED
    assert "0 failed" in out
    migrated = _count(db)
    # 2 companies, 6 projects, 10 subprojects; 8 groups (2 root ones: tag categories);
    # 8 people and the account's own admin; Admin + 4 roles made from user groups;
    # 3 custom fields and External ID
    assert migrated == {"projects": 18, "tags": 6, "people": 9, "tasks": 4, "roles": 5,
                        "fields": 4, "tagCategories": 2, "absenceTypes": 3, "migrated": True}

    conv = tmp_path / "current"
    status, out, err = cli_main("convert", ACME, "-o", conv, "--format", "json")
    assert status == 0, err
    report = json.loads(out)
    # convert names the same values in the manifests, with file and line
    assert sorted((Path(d["file"]).name, d["path"]) for d in report["dropped"]) == DROPPED
    assert all(d["line"] > 0 for d in report["dropped"])
    assert {d["path"].split("].")[-1] for d in report["dropped"]} == {k for _e, k in NOT_CARRIED}

    # the plan of the converted set against the migrated account: nothing to change. Every
    # entity was found by its xid in the External ID field, so nothing is created twice
    status, out, err = cli_main("plan", conv, "--endpoint", f"sandbox:{db}",
                                "--detailed-exitcode")
    assert status == 0, out + err
    assert "No changes" in out
    # the one live entity the manifests do not name: the account's own administrator
    unnamed = re.findall(r"^\s+\? (.+)$", out, re.M)
    assert len(unnamed) == 1 and unnamed[0].endswith("(Sandbox Admin)"), out

    # apply changes nothing, and the next plan still has nothing to do
    status, out, err = cli_main("apply", conv, "--endpoint", f"sandbox:{db}", "--auto-approve")
    assert status == 0, out + err
    assert _count(db) == migrated
    status, out, err = cli_main("plan", conv, "--endpoint", f"sandbox:{db}",
                                "--detailed-exitcode")
    assert status == 0, out + err
    assert "No changes" in out


def test_what_only_the_account_knows_is_named_by_the_plan(cli_main, tmp_path: Path) -> None:
    """A v2 field offered on people but valued only on projects: the manifests cannot say
    where the account shows it, so the plan names that one difference, and apply makes the
    account follow the converted set."""
    source = tmp_path / "legacy"
    shutil.copytree(ACME, source)
    people = source / "people.yaml"
    people.write_text(re.sub(r"\n    customFields: \{location: [^}]*\}", "",
                             people.read_text("utf-8")), "utf-8")
    db = _v2_account(cli_main, tmp_path, source)
    status, out, err = cli_main("sandbox", "migrate", "--db", db)
    assert status == 0, out + err
    conv = tmp_path / "current"
    status, out, err = cli_main("convert", source, "-o", conv)
    assert status == 0, err
    fields = yaml.safe_load((conv / "custom-fields.yaml").read_text("utf-8"))["customFields"]
    assert next(f for f in fields if f["name"] == "location")["appliesTo"] == ["projects"]
    status, out, err = cli_main("plan", conv, "--endpoint", f"sandbox:{db}",
                                "--detailed-exitcode", "--no-authors")
    assert status == 2, out + err
    # one action, on the field, saying what changes: shown on people -> not shown
    assert "Plan: 0 to create, 1 to update, 0 to attach/detach, 0 to deactivate." in out, out
    assert re.search(r"customField location .*\n\s+~ update .*\n\s+appliesTo.people: "
                     r"true -> false", out), out
    status, out, err = cli_main("apply", conv, "--endpoint", f"sandbox:{db}", "--auto-approve")
    assert status == 0, out + err
    status, out, err = cli_main("plan", conv, "--endpoint", f"sandbox:{db}",
                                "--detailed-exitcode")
    assert status == 0 and "No changes" in out, out + err


def test_the_migration_runs_once(cli_main, tmp_path: Path) -> None:
    db = _v2_account(cli_main, tmp_path)
    status, out, err = cli_main("sandbox", "migrate", "--db", db)
    assert status == 0, out + err
    before = _count(db)
    status, out, err = cli_main("sandbox", "migrate", "--db", db)
    assert status == 1
    assert "already migrated" in err and "new database file" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert _count(db) == before


def test_a_current_account_that_holds_entities_is_not_migrated_into(
        cli_main, tmp_path: Path) -> None:
    """The converted set applied first, then the migration: it would make every entity
    twice (one xid held by two projects), so it is refused and nothing is written."""
    db = _v2_account(cli_main, tmp_path)
    conv = tmp_path / "current"
    assert cli_main("convert", ACME, "-o", conv)[0] == 0
    status, out, err = cli_main("apply", conv, "--endpoint", f"sandbox:{db}", "--auto-approve")
    assert status == 0, out + err
    before = _count(db)
    status, out, err = cli_main("sandbox", "migrate", "--db", db)
    assert status == 1
    assert "already holds 18 projects, 6 tags, 4 tasks, 3 absence types, 4 custom fields, " \
           "8 other people" in err, err
    assert "new database file" in err and len(err.strip().splitlines()) == 1
    assert _count(db) == before


def test_the_token_is_in_no_output(cli_main, tmp_path: Path) -> None:
    db = _v2_account(cli_main, tmp_path)
    with sqlite3.connect(db) as conn:
        token = conn.execute("SELECT value FROM meta WHERE key = 'token'").fetchone()[0]
    assert len(token) == 40
    status, out, err = cli_main("sandbox", "migrate", "--db", db)
    assert status == 0, out + err
    assert token not in out + err
    status, out, err = cli_main("sandbox", "migrate", "--db", db)
    assert status == 1 and token not in out + err


def test_nothing_to_migrate_is_refused_before_anything_is_written(
        cli_main, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.db"
    status, out, err = cli_main("sandbox", "migrate", "--db", missing)
    assert status == 1
    assert "no such sandbox database" in err and "beeplan apply" in err
    assert "Traceback" not in err
    assert not missing.exists()
    empty = tmp_path / "empty.db"
    with CurrentSandboxServer(empty):  # a sandbox file with empty accounts
        pass
    status, out, err = cli_main("sandbox", "migrate", "--db", empty)
    assert status == 1
    assert "empty, nothing to migrate" in err
    assert _count(empty)["migrated"] is False


def test_only_active_leaves_the_archived_out_and_the_plan_names_each(
        cli_main, tmp_path: Path) -> None:
    db = _v2_account(cli_main, tmp_path)
    status, out, err = cli_main("sandbox", "migrate", "--db", db, "--only-active")
    assert status == 0, out + err
    left = sorted(re.findall(r"^left out \(--only-active\): (\w+ [\w-]+): ", out, re.M))
    assert left == ["person admin-bot", "project globex-training", "subproject acme-dev-proto"]
    conv = tmp_path / "current"
    assert cli_main("convert", ACME, "-o", conv)[0] == 0
    status, out, err = cli_main("plan", conv, "--endpoint", f"sandbox:{db}",
                                "--detailed-exitcode")
    assert status == 2, out + err
    # exactly those three: created, then archived as the manifests say; nothing else
    assert "Plan: 3 to create, 0 to update, 0 to attach/detach, 3 to deactivate." in out, out
    for name in ("person admin-bot (Office Admin)", "project acme-dev-proto (Prototype)",
                 "project globex-training (Training)"):
        assert re.search(re.escape(name) + r"\n\s+\+ create .*\n(\s+\w+: .*\n)+"
                         r"\s+- deactivate", out), out
    status, out, err = cli_main("apply", conv, "--endpoint", f"sandbox:{db}", "--auto-approve")
    assert status == 0, out + err
    status, out, err = cli_main("plan", conv, "--endpoint", f"sandbox:{db}",
                                "--detailed-exitcode")
    assert status == 0 and "No changes" in out, out + err


def test_a_record_the_current_platform_refuses_is_named_twice(
        cli_main, tmp_path: Path) -> None:
    """The migration goes on past a refused record, names it, and exits 1; the plan of the
    converted set then names the one record missing, with its links."""
    source = tmp_path / "legacy"
    shutil.copytree(ACME, source)
    tasks = source / "tasks.yaml"
    tasks.write_text(tasks.read_text("utf-8").replace(
        "name: Design\n", "name: Design (see www.example.com)\n"), "utf-8")
    db = _v2_account(cli_main, tmp_path, source)
    status, out, err = cli_main("sandbox", "migrate", "--db", db)
    assert status == 1
    assert re.findall(r"^failed: (.+)$", out, re.M) == [
        "Activities: task design: Variable '$name' has invalid value: a BeeboleName is 1 to "
        "160 characters, without URLs or HTML"]
    assert "Activities: 6 created, 1 failed" in out
    assert err.startswith("Error: 1 record failed to migrate") and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    conv = tmp_path / "current"
    assert cli_main("convert", source, "-o", conv)[0] == 0
    # the converted set holds the same name: refused before any request, with its line
    status, out, err = cli_main("plan", conv, "--endpoint", f"sandbox:{db}",
                                "--detailed-exitcode")
    assert status == 1, out + err
    assert re.search(r"tasks\.yaml:\d+: tasks\[\d\]\.name: 'Design \(see www\.example\.com\)'"
                     r": a name on this platform holds no URL or HTML", err), err


def test_what_the_legacy_account_holds_beyond_the_manifests_is_named(
        cli_main, tmp_path: Path) -> None:
    """A person added in the legacy account by hand (no xid) and made a member of ACME:
    migrated without an External ID; the plan names the person as not in the manifests,
    and the membership the manifests do not declare as the one change."""
    db = _v2_account(cli_main, tmp_path)
    with SandboxServer(db) as v2, BeeboleClient(v2.url, v2.token, timeout=10) as client:
        made = client.call("person.create", person={
            "name": "Sam Temp", "email": "sam.temp@example.com", "company": {"xid": "acme"}})
        client.call("company.attach_member", xid="acme", person={"id": made["id"]})
    status, out, err = cli_main("sandbox", "migrate", "--db", db)
    assert status == 0, out + err
    assert ("person Sam Temp", "company") in _not_carried(out)
    conv = tmp_path / "current"
    assert cli_main("convert", ACME, "-o", conv)[0] == 0
    status, out, err = cli_main("plan", conv, "--endpoint", f"sandbox:{db}",
                                "--detailed-exitcode", "--no-authors")
    assert status == 2, out + err
    assert "Plan: 0 to create, 0 to update, 1 to attach/detach, 0 to deactivate." in out, out
    assert re.search(r"project acme \(ACME Corp\)\n\s+- assigned\.people -= person .*"
                     r"\(Sam Temp\)", out), out
    unnamed = re.findall(r"^\s+\? (.+)$", out, re.M)
    assert sorted(u.rsplit(" (", 1)[1] for u in unnamed) == ["Sam Temp)", "Sandbox Admin)"]
