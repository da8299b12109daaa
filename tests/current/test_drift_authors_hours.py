"""check and plan of a current set name who changed each drifted entity, and the hours
behind each archive (settings.safety.refuseInUse as on v2): issue #22 wired in.

Through the CLI, against the current sandbox over HTTP with the real client. The
out-of-band change is made by another person of the account with their own key
(``server.key_for``), as a colleague editing in Beebole would.
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

from beeplan.platforms.current.client import CurrentClient
from beeplan.platforms.current.plan import make_plan
from beeplan.platforms.current.reader import read_account
from beeplan.platforms.current.sandbox import CurrentSandboxServer

from .conftest import Gql
from .planning import converge, desired_of

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "current"
RENAME = 'mutation($id: BeeboleId!) { editProjectName(id: $id, name: "Acme") { id } }'
ADD_TIME = ("mutation($p: BeeboleId!, $s: BeeboleTimestamp!, $d: Int!, $pr: [BeeboleId]) { "
            "addTimeRecord(personId: $p, startTime: $s, duration: $d, projectIds: $pr) "
            "{ id } }")
HOUR = 3_600_000


def _converged(server: CurrentSandboxServer, path: Path) -> dict[tuple[str, str], str]:
    """The account brought to ``path``; the live id of each (kind, xid)."""
    desired = desired_of(path)
    xid_field = desired.settings.xid_field
    with CurrentClient(server.url, server.token) as client:
        converge(client, make_plan(desired, read_account(client, xid_field=xid_field)),
                 xid_field)
        live = read_account(client, xid_field=xid_field)
    return {(n.kind, n.xid): n.id for n in live.nodes if n.xid is not None}


def _copy(tmp_path: Path) -> Path:
    path = tmp_path / "set"
    shutil.copytree(EXAMPLE, path)
    return path


def _renamed_by_jane(current: CurrentSandboxServer, ids: dict[tuple[str, str], str]) -> None:
    jane = current.key_for(ids[("person", "jane")])
    Gql(current, {}).post(RENAME, {"id": ids[("project", "acme")]}, key=jane).raise_for_status()


def test_check_names_the_colleague_who_renamed_it_and_says_what_it_cost(
        crun, current) -> None:
    ids = _converged(current, EXAMPLE)
    _renamed_by_jane(current, ids)
    current.app.reset_counts()
    status, out, err = crun("check", EXAMPLE)
    assert status == 2, err
    assert "project acme (ACME Corp)" in out
    assert "changed outside beeplan: renamed by Jane Clark (jane.clark@example.com) on " in out
    assert "editProjectName by Jane Clark (jane.clark@example.com): name=Acme" in out
    assert "Who changed it: looked up in 2 requests for 1 entity (--no-authors skips it)" \
        in out
    assert current.app.requests == 3  # the read, then lastEdited and the audit trail
    # every format carries it: JSON for machines, Markdown for a pull request
    status, out, _ = crun("check", EXAMPLE, "--format", "json")
    [who] = json.loads(out)["changed_by"]
    assert status == 2 and who["person"] == "Jane Clark" and who["target"]["xid"] == "acme"
    status, out, _ = crun("check", EXAMPLE, "--format", "markdown")
    assert status == 2 and "Jane Clark" in out


def test_no_authors_skips_the_lookup_and_in_sync_costs_one_request(crun, current) -> None:
    ids = _converged(current, EXAMPLE)
    current.app.reset_counts()
    assert crun("check", EXAMPLE) == (0, "", "")
    assert current.app.requests == 1  # nothing drifted: no author lookup
    _renamed_by_jane(current, ids)
    current.app.reset_counts()
    status, out, err = crun("check", EXAMPLE, "--no-authors")
    assert status == 2, err
    assert "Jane Clark" not in out and "changed outside beeplan" not in out
    assert current.app.requests == 1


def test_plan_names_the_author_too_and_beeplans_own_edits_say_so(crun, current) -> None:
    ids = _converged(current, EXAMPLE)
    _renamed_by_jane(current, ids)
    Gql(current, {})('mutation($id: BeeboleId!) { editAbsenceTypeName(id: $id, name: "Off") '
                     "{ id } }", id=ids[("absenceType", "vacation")])  # with beeplan's key
    status, out, err = crun("plan", EXAMPLE)
    assert status == 0, err
    assert "renamed by Jane Clark (jane.clark@example.com)" in out
    assert "with beeplan's own key" in out  # the vacation rename, made with the main key


def _archive_rosa(path: Path, refuse: bool) -> None:
    people = path / "people.yaml"
    text = people.read_text()
    people.write_text(text.replace("    name: Rosa Parks\n", "    name: Rosa Parks\n"
                                   "    archived: true\n", 1))
    if refuse:
        settings = path / "settings.yaml"
        settings.write_text(settings.read_text() + "  safety:\n    refuseInUse: true\n")


def _log_time(current: CurrentSandboxServer, person: str, project: str, hours: int) -> None:
    start = datetime.now(timezone.utc) - timedelta(days=2)
    Gql(current, {})(ADD_TIME, p=person, s=int(start.timestamp() * 1000), d=hours * HOUR,
                     pr=[project])


def test_an_archive_shows_the_hours_behind_it(crun, current, tmp_path) -> None:
    path = _copy(tmp_path)
    ids = _converged(current, path)
    _log_time(current, ids[("person", "rosa")], ids[("project", "acme")], 6)
    _archive_rosa(path, refuse=False)
    current.app.reset_counts()
    status, out, err = crun("plan", path, "--no-authors")
    assert status == 0, err
    assert "person rosa (Rosa Parks)" in out and "archivePerson" in out
    assert "6 h in the last 90 days by 1 person" in out
    assert current.app.requests == 2  # the read, and the hours of every archive at once
    status, out, err = crun("plan", path, "--no-authors", "--usage-days", "0")
    assert status == 0 and "6 h" not in out


def test_refuse_in_use_refuses_archiving_a_person_with_hours(crun, current, tmp_path) -> None:
    path = _copy(tmp_path)
    ids = _converged(current, path)
    _log_time(current, ids[("person", "rosa")], ids[("project", "acme")], 6)
    _archive_rosa(path, refuse=True)
    status, out, err = crun("plan", path, "--no-authors")
    assert status == 0, err
    assert "settings.safety.refuseInUse is on" in out and "--allow-destroy" in out
    current.app.reset_counts()
    status, out, err = crun("apply", path, "--auto-approve")
    assert status == 1
    assert "refused by the safety threshold" in err and "refuseInUse" in err
    assert "Traceback" not in err
    assert current.app.requests == 2  # read and hours; nothing written
    # hours not looked up (--usage-days 0) is refused too, never taken as none
    status, out, err = crun("apply", path, "--auto-approve", "--usage-days", "0")
    assert status == 1 and "not checked for hours (--usage-days 0)" in err
