"""Imported accounts move to xids: 'id: N' with 'xid: X', import --assign-xids, file names
after entities, and import --force after the user reorganised the files (issue #23, point 1).

Every test drives the CLI against the sandbox over HTTP.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from beeplan.platforms.v2.client import BeeboleClient
from beeplan.platforms.v2.sandbox.server import SandboxServer

from .conftest import Run
from .test_import import build_random, build_varied, read_dir

ID_LINE = re.compile(r"^(\s*)(- )?id: (\d+)$", re.M)


def build_legacy(client: BeeboleClient, globex: bool = True) -> dict[str, int]:
    """An account made outside beeplan: nothing has an xid, names repeat across companies."""
    call = client.call
    ids = {}
    ids["northwind"] = call("company.create", company={"name": "Northwind"})["id"]
    ids["initech"] = call("company.create", company={"name": "Initech"})["id"]
    for company in ("northwind", "initech"):  # the same project name under both
        ids[f"{company}-web"] = call(
            "project.create", project={"name": "Website", "company": {"id": ids[company]}}
        )["id"]
    ids["group"] = call("group.create", group={"name": "Sales"})["id"]
    ids["ann"] = call(
        "person.create", person={"name": "Ann Lee", "company": {"id": ids["northwind"]}}
    )["id"]
    ids["bob"] = call(
        "person.create",
        person={"name": "Bob Ray", "company": {"id": ids["northwind"]}, "leaders": [
            {"id": ids["ann"]}]},
    )["id"]
    call("person.add_group", id=ids["bob"], group={"id": ids["group"]})
    call("project.attach_member", id=ids["northwind-web"], person={"id": ids["bob"]})
    if globex:
        call("company.create", company={"xid": "globex", "name": "Globex"})
    return ids


def import_to(run: Run, out: Path, *extra: str) -> str:
    code, text, err = run("import", "-o", out, *extra)
    assert code == 0, err
    return text


def plan_text(run: Run, path: Path, *extra: object) -> tuple[int, str, str]:
    return run("plan", path, "--detailed-exitcode", *extra)


# -- 1. id: N with xid: X --------------------------------------------------------------


def test_id_with_xid_plans_one_set_xid_then_the_id_may_go(
    run: Run, client: BeeboleClient, tmp_path: Path
) -> None:
    ids = build_legacy(client)
    out = tmp_path / "m"
    import_to(run, out)
    northwind = out / "northwind.yaml"
    text = northwind.read_text()
    nid = ids["northwind"]
    northwind.write_text(text.replace(f"- id: {nid}\n", f"- id: {nid}\n    xid: northwind\n", 1))

    code, out_text, err = plan_text(run, out)
    assert code == 2, out_text + err
    assert out_text.count("set xid (company.update)") == 1
    assert 'xid: (none) -> "northwind"' in out_text
    assert "0 to create, 1 to update, 0 to attach/detach, 0 to deactivate." in out_text
    code, md, _ = plan_text(run, out, "--format", "markdown")
    assert code == 2 and md.count("set xid") == 1, md
    code, js, _ = plan_text(run, out, "--format", "json")
    actions = json.loads(js)["actions"]
    assert [(a["op"], a["service"], a["payload"]) for a in actions] == [
        ("set_xid", "company.update",
         {"company": {"id": nid, "xid": "northwind", "name": "Northwind"}})
    ]

    saved = tmp_path / "plan.json"
    assert plan_text(run, out, "-o", saved)[0] == 2
    code, _, err = run("apply", saved, "--auto-approve")  # rebuilt and checked like any action
    assert code == 0, err
    assert client.call("company.get", id=nid)["company"]["xid"] == "northwind"
    code, out_text, err = plan_text(run, out)
    assert code == 0 and "No changes" in out_text, out_text + err

    # Afterwards the entry may drop id:, and references may use the xid.
    text = northwind.read_text().replace(f"- id: {nid}\n    xid: northwind\n", "- xid: northwind\n")
    northwind.write_text(text)
    people = out / "people.yaml"
    people.write_text(re.sub(rf"company: {{id: {nid}}}.*", "company: northwind",
                             people.read_text()))
    assert "company: northwind" in people.read_text()
    assert run("validate", out)[0] == 0
    code, out_text, err = plan_text(run, out)
    assert code == 0 and "No changes" in out_text, out_text + err


def test_a_saved_set_xid_is_rebuilt_from_what_it_shows(
    run: Run, client: BeeboleClient, sandbox: SandboxServer, tmp_path: Path
) -> None:
    """A plan file's set_xid can only send the xid it shows, to the entity it shows."""
    from .test_plan_integrity import resigned

    ids = build_legacy(client)
    out = tmp_path / "m"
    import_to(run, out)
    nid = ids["northwind"]
    northwind = out / "northwind.yaml"
    northwind.write_text(
        northwind.read_text().replace(f"- id: {nid}\n", f"- id: {nid}\n    xid: northwind\n", 1))
    saved = tmp_path / "plan.json"
    assert plan_text(run, out, "-o", saved)[0] == 2
    genuine = json.loads(saved.read_text())
    for field, value in (("xid", "globex"), ("id", ids["initech"])):
        doc = json.loads(json.dumps(genuine))
        doc["actions"][0]["payload"]["company"][field] = value
        saved.write_text(resigned(doc))
        sandbox.reset_calls()
        code, _, err = run("apply", saved, "--auto-approve")
        assert code == 1 and "its payload is not the one its op, target and changes make" in err
        assert sum(sandbox.calls.values()) == 0
    # Set meanwhile by someone else: the re-read refuses the stale plan, no write.
    saved.write_text(json.dumps(genuine))
    client.call("company.update", company={"id": nid, "xid": "nw", "name": "Northwind"})
    code, _, err = run("apply", saved, "--auto-approve")
    assert code == 1, err
    assert client.call("company.get", id=nid)["company"]["xid"] == "nw"


def test_references_may_use_the_xid_being_given(
    run: Run, client: BeeboleClient, tmp_path: Path
) -> None:
    """Before the apply, a reference by the new xid means the same live entity."""
    ids = build_legacy(client)
    out = tmp_path / "m"
    import_to(run, out)
    gid = ids["group"]
    groups = out / "groups.yaml"
    groups.write_text(
        groups.read_text().replace(f"- id: {gid}\n", f"- id: {gid}\n    xid: sales\n"))
    people = out / "people.yaml"
    people.write_text(re.sub(rf"- {{id: {gid}}}.*", "- sales", people.read_text()))
    code, out_text, err = plan_text(run, out)
    assert code == 2, out_text + err
    assert out_text.count("set xid (group.update)") == 1
    assert "0 to create, 1 to update, 0 to attach/detach" in out_text  # no detach + attach


def test_an_xid_held_by_another_entity_is_a_problem_with_file_and_line(
    run: Run, client: BeeboleClient, sandbox: SandboxServer, tmp_path: Path
) -> None:
    ids = build_legacy(client)
    out = tmp_path / "m"
    import_to(run, out)
    (out / "globex.yaml").unlink()  # globex stays in the account, unmanaged
    northwind = out / "northwind.yaml"
    nid = ids["northwind"]
    lines = northwind.read_text().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.strip() == f"- id: {nid}")
    lines.insert(at + 1, "    xid: globex\n")
    northwind.write_text("".join(lines))
    code, out_text, err = run("plan", out)
    assert code == 1
    said = out_text + err
    assert f"{northwind}:{at + 1}" in said, said
    assert "xid 'globex' is already held by company" in said and "(Globex)" in said
    # A second entry giving the same xid is refused by validate, before any call.
    initech = out / "initech.yaml"
    initech.write_text(initech.read_text().replace(
        f"- id: {ids['initech']}\n", f"- id: {ids['initech']}\n    xid: globex\n", 1))
    sandbox.reset_calls()
    code, _, err = run("validate", out)
    assert code == 1 and "xid 'globex' is defined twice" in err, err
    assert sum(sandbox.calls.values()) == 0


# -- 2. import --assign-xids ---------------------------------------------------------


def test_assign_xids_moves_the_whole_account_in_one_apply(
    run: Run, client: BeeboleClient, tmp_path: Path
) -> None:
    build_legacy(client, globex=False)
    build_varied(client)
    first, again = tmp_path / "first", tmp_path / "again"
    import_to(run, first, "--assign-xids")
    import_to(run, again, "--assign-xids")
    assert read_dir(first) == read_dir(again)  # stable across runs

    # Every entity written by id also gets an xid; all valid and unique per kind.
    texts = {p.name: p.read_text() for p in first.iterdir()}
    all_text = "\n".join(texts.values())
    for match in ID_LINE.finditer(all_text):
        indent = len(match.group(1)) + (2 if match.group(2) else 0)
        rest = all_text[match.end() + 1:].splitlines()[0]
        assert rest == " " * indent + rest.strip() and rest.strip().startswith("xid: "), rest
    assert "xid: northwind-website" in texts["northwind.yaml"]
    assert "xid: initech-website" in texts["initech.yaml"]
    code, out_text, err = run("validate", first)
    assert code == 0, err

    code, out_text, err = plan_text(run, first)
    assert code == 2, out_text + err
    sets = out_text.count("~ set xid")
    assert sets >= 9
    assert f"0 to create, {sets} to update, 0 to attach/detach, 0 to deactivate." in out_text
    assert run("apply", first, "--auto-approve")[0] == 0
    code, out_text, err = plan_text(run, first)
    assert code == 0 and "No changes" in out_text, out_text + err
    live = client.call("company.list")["companies"]
    assert all(c.get("xid") for c in live if c.get("active", True))

    # A second import, without the flag, writes xids only.
    final = tmp_path / "final"
    import_to(run, final)
    final_text = "\n".join(p.read_text() for p in final.iterdir())
    assert not ID_LINE.search(final_text)
    # Only what is not written (inactive, unmanaged) is still named by id.
    assert set(re.findall(r"\{id: \d+\}  # (.+)", final_text)) <= {"Gone"}
    code, out_text, err = plan_text(run, final)
    assert code == 0 and "No changes" in out_text, out_text + err


@pytest.mark.parametrize("seed", [1, 2])
def test_assign_xids_round_trip_on_a_random_account(
    seed: int, run: Run, client: BeeboleClient, tmp_path: Path
) -> None:
    build_random(client, seed)
    out = tmp_path / "m"
    import_to(run, out, "--assign-xids", "--include-inactive")
    assert run("validate", out)[0] == 0
    code, text, err = run("apply", out, "--auto-approve")
    assert code == 0, text + err
    final = tmp_path / "final"
    import_to(run, final, "--include-inactive")
    assert not ID_LINE.search("\n".join(p.read_text() for p in final.iterdir()))
    for folder in (out, final):
        code, text, err = plan_text(run, folder)
        assert code == 0 and "No changes" in text, text + err


def test_assigned_xids_avoid_live_xids_and_odd_names(
    run: Run, client: BeeboleClient, tmp_path: Path
) -> None:
    call = client.call
    call("company.create", company={"xid": "acme", "name": "Old Acme"})
    call("company.create", company={"name": "ACME"})  # its name's slug is taken
    call("company.create", company={"name": "☃☃"})  # nothing left of it in ASCII
    call("company.create", company={"name": "Çafé  Ünï"})
    out = tmp_path / "m"
    import_to(run, out, "--assign-xids")
    names = sorted(p.name for p in out.iterdir())
    text = "\n".join(p.read_text() for p in out.iterdir())
    xids = re.findall(r"^\s+(?:- )?xid: (.+)$", text, re.M)
    assert len(xids) == len(set(xids)) == 4, xids
    assert "cafe-uni" in xids and "company" in xids
    assert any(re.fullmatch(r"acme-\d+", x) for x in xids)
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", x) for x in xids)
    assert len(names) == len(set(names)) == 4
    assert run("validate", out)[0] == 0
    assert run("apply", out, "--auto-approve")[0] == 0
    assert plan_text(run, out)[0] == 0


# -- 3. file names, names beside {id: N} ----------------------------------------------


def test_import_names_files_after_entities_and_comments_id_references(
    run: Run, client: BeeboleClient, tmp_path: Path
) -> None:
    ids = build_legacy(client)
    call = client.call
    call("company.create", company={"name": "Northwind"})  # a twin name
    call("company.create", company={"name": "Con"})  # a name Windows reserves
    odd = call("group.create", group={"name": "Line\nbreak # and\u2028more\x07\u202e"})["id"]
    call("person.add_group", id=ids["ann"], group={"id": odd})
    out = tmp_path / "m"
    import_to(run, out)
    names = {p.name for p in out.iterdir()}
    assert {"northwind.yaml", "northwind-2.yaml", "initech.yaml", "globex.yaml",
            "con-2.yaml"} <= names
    assert not any(n.startswith("company-") for n in names)
    people = (out / "people.yaml").read_text()
    assert f"company: {{id: {ids['northwind']}}}  # Northwind" in people
    assert f"- {{id: {ids['group']}}}  # Sales" in people
    assert f"- {{id: {ids['ann']}}}  # Ann Lee" in people  # Bob's leader
    # A name that could end the comment stays on its line.
    assert f"- {{id: {odd}}}  # Line\\u000abreak # and\\u2028more\\u0007\\u202e" in people
    assert run("validate", out)[0] == 0
    code, out_text, err = plan_text(run, out)
    assert code == 0 and "No changes" in out_text, out_text + err


# -- 4. import --force after a reorganisation -----------------------------------------


def test_force_after_reorganising_writes_only_what_kept_files_do_not_declare(
    run: Run, client: BeeboleClient, tmp_path: Path
) -> None:
    ids = build_legacy(client)
    out = tmp_path / "m"
    import_to(run, out)
    # The user splits people.yaml in two and moves the companies into a folder.
    people = (out / "people.yaml").read_text()
    header, _, body = people.partition("people:\n")
    entries = re.split(r"(?m)^(?=  # created without)", body)
    entries = [e for e in entries if e.strip()]
    assert len(entries) == 2
    (out / "people").mkdir()
    (out / "people" / "managers.yaml").write_text("people:\n" + entries[0])
    # A copy at the top, import's header and all: still the user's file now.
    (out / "people-staff.yaml").write_text(header + "people:\n" + entries[1])
    (out / "people.yaml").unlink()
    (out / "clients").mkdir()
    for name in ("northwind.yaml", "initech.yaml"):
        shutil.move(out / name, out / "clients" / name)
    # Meanwhile, someone adds a person and a company in Beebole.
    client.call("person.create", person={"name": "Cy New", "company": {"id": ids["initech"]}})
    client.call("company.create", company={"name": "Umbrella"})

    code, text, err = run("import", "-o", out, "--force")
    assert code == 0, err
    assert "Not written again, since the kept files declare them: 2 companies, 2 people" in text
    assert not (out / "northwind.yaml").exists() and not (out / "initech.yaml").exists()
    assert (out / "people-staff.yaml").read_text() == header + "people:\n" + entries[1]
    assert "Removed" not in text
    assert "so they are kept too: people-staff.yaml" in text
    assert "Cy New" in (out / "people.yaml").read_text()
    assert "Ann Lee" not in (out / "people.yaml").read_text()
    assert (out / "umbrella.yaml").exists()
    code, text, err = run("validate", out)
    assert code == 0, text + err
    code, text, err = plan_text(run, out)
    assert code == 0 and "No changes" in text, text + err

    # Again: the same result, byte for byte.
    before = {p: p.read_bytes() for p in out.rglob("*.yaml")}
    assert run("import", "-o", out, "--force")[0] == 0
    assert {p: p.read_bytes() for p in out.rglob("*.yaml")} == before


def test_force_refuses_what_it_cannot_write_and_writes_nothing(
    run: Run, client: BeeboleClient, sandbox: SandboxServer, tmp_path: Path
) -> None:
    ids = build_legacy(client)
    out = tmp_path / "m"
    import_to(run, out)
    (out / "clients").mkdir()
    shutil.move(out / "northwind.yaml", out / "clients" / "northwind.yaml")
    # A new project under a company only a kept file declares: import cannot nest it.
    mobile = client.call(
        "project.create", project={"name": "Mobile", "company": {"id": ids["northwind"]}}
    )["id"]
    before = {p: p.read_bytes() for p in out.rglob("*.yaml")}
    code, _, err = run("import", "-o", out, "--force")
    assert code == 1
    kept = out / "clients" / "northwind.yaml"
    line = kept.read_text().splitlines().index(f"  - id: {ids['northwind']}") + 1
    assert "project 'Mobile'" in err and f"{kept}:{line} declares" in err, err
    assert "Nothing was written" in err and "Traceback" not in err
    assert {p: p.read_bytes() for p in out.rglob("*.yaml")} == before

    # A kept file that refers to something gone: the set would fail validate, so
    # import refuses, naming the file and line, rather than exit 0.
    client.call("project.deactivate", id=mobile)
    broken = out / "northwind-mine.yaml"  # now hand-written: no import header
    text = (out / "clients" / "northwind.yaml").read_text()
    broken.write_text(text[text.index("companies:"):] + "    groups: [no-such-group]\n")
    shutil.rmtree(out / "clients")
    code, _, err = run("import", "-o", out, "--force")
    assert code == 1
    assert f"{broken}:" in err and "unknown group 'no-such-group'" in err, err
    assert "Traceback" not in err
    # A kept file that does not parse, or has a key typo, is refused before any API call.
    for text, said in (("companies: [\n", f"{broken}:"),
                       ("companies:\n  - xid: x\n    nam: X\n", f"{broken}:3")):
        broken.write_text(text)
        sandbox.reset_calls()
        code, _, err = run("import", "-o", out, "--force")
        assert code == 1 and said in err, err
        assert sum(sandbox.calls.values()) == 0


def test_diff_shows_the_set_xid_once_and_then_nothing(cli_main: Run, tmp_path: Path) -> None:
    """Offline: NEW adding an xid shows one set xid; NEW dropping the id after it, nothing."""
    old, added, dropped = (tmp_path / name for name in ("old.yaml", "added.yaml", "dropped.yaml"))
    old.write_text("companies:\n  - {id: 7, name: Northwind}\n"
                   "people:\n  - {id: 9, name: Ann, company: {id: 7}}\n")
    added.write_text("companies:\n  - {id: 7, xid: northwind, name: Northwind}\n"
                     "people:\n  - {id: 9, name: Ann, company: northwind}\n")
    dropped.write_text("companies:\n  - {xid: northwind, name: Northwind}\n"
                       "people:\n  - {id: 9, name: Ann, company: northwind}\n")
    code, out, err = cli_main("diff", old, added, "--detailed-exitcode")
    assert code == 2, out + err
    assert out.count("set xid (company.update)") == 1 and "1 to update" in out
    for new in (added, dropped):
        code, out, err = cli_main("diff", added, new, "--detailed-exitcode")
        assert code == 0, out + err


def test_force_with_kept_files_naming_proposed_xids_says_what_to_do(
    run: Run, client: BeeboleClient, tmp_path: Path
) -> None:
    """Proposed xids, not applied yet, in a file the user moved: re-importing without
    --assign-xids would leave its references dangling. It refuses, names the line and
    says how out (apply first, or --assign-xids again), and that way works."""
    build_legacy(client, globex=False)
    out = tmp_path / "m"
    import_to(run, out, "--assign-xids")
    (out / "staff").mkdir()
    shutil.move(out / "people.yaml", out / "staff" / "people.yaml")
    before = {p: p.read_bytes() for p in out.rglob("*.yaml")}
    code, text, err = run("import", "-o", out, "--force")
    assert code == 1 and "Traceback" not in err
    assert f"{out / 'staff' / 'people.yaml'}:" in err and "unknown company" in err, err
    assert "apply first, or import again with --assign-xids" in err, err
    assert {p: p.read_bytes() for p in out.rglob("*.yaml")} == before
    code, text, err = run("import", "-o", out, "--force", "--assign-xids")
    assert code == 0, err
    assert run("validate", out)[0] == 0
