"""The destruction safety threshold counts only what exists: entities a plan creates
inactive are not "destroyed" (found by the medium org of test_faults)."""

from __future__ import annotations

import re
from pathlib import Path

from beeplan.platforms.v2.client import BeeboleClient
from beeplan.platforms.v2.sandbox.server import SandboxServer

from .conftest import Run

MANIFEST = """\
companies:
  - xid: acme
    name: ACME
    projects:
      - xid: dev
        name: Development
        subprojects:
          - {xid: old1, name: Archived 1, active: false}
          - {xid: old2, name: Archived 2, active: false}
          - {xid: old3, name: Archived 3, active: false}
          - {xid: live1, name: Live 1}
          - {xid: live2, name: Live 2}
          - {xid: live3, name: Live 3}
"""


def test_creating_inactive_entities_is_not_destruction(
    beeplan: Run, sandbox: SandboxServer, tmp_path: Path
) -> None:
    manifest = tmp_path / "m.yaml"
    manifest.write_text(MANIFEST)
    code, out, err = beeplan("apply", manifest, "--auto-approve", "--endpoint", sandbox.url,
                             token=sandbox.token)
    assert code == 0, out + err
    assert "refused by the safety threshold" not in err
    code, out, err = beeplan("check", manifest, "--endpoint", sandbox.url)
    assert code == 0, out + err

    # Deactivating live entities is still guarded.
    for i in (1, 2, 3):
        text = manifest.read_text().replace(f"Live {i}}}", f"Live {i}, active: false}}")
        manifest.write_text(text)
    code, out, err = beeplan("apply", manifest, "--auto-approve", "--endpoint", sandbox.url)
    assert code == 1
    assert "refused by the safety threshold" in err
    assert "3 of 6 subprojects would be deactivated" in err


PARTLY_FAILING = """\
companies:
  - xid: acme
    name: ACME
    projects:
      - xid: dev
        name: Development
        subprojects:
          - {xid: old1, name: Archived 1, active: false}
          - {xid: old2, name: Archived 2, active: false}
          - {xid: old3, name: Archived 3, active: false}
  - xid: closed
    name: Closed Ltd
    active: false
people:
  - {xid: p, name: P, company: closed, email: taken@example.com}
"""


def test_a_failed_run_still_finishes_what_it_created_so_the_rerun_is_not_refused(
    beeplan: Run, sandbox: SandboxServer, tmp_path: Path
) -> None:
    """Entities declared inactive are created, then deactivated once the additive work is
    done. An unrelated failure must not leave them active: the re-run would have to
    deactivate live entities, and the safety threshold would refuse it."""
    with BeeboleClient(sandbox.url, sandbox.token, ledger=False) as client:
        client.call("company.create", company={"xid": "other", "name": "Other"})
        manifest = tmp_path / "m.yaml"
        manifest.write_text(PARTLY_FAILING)
        plan_file = tmp_path / "plan.json"
        code, out, err = beeplan("plan", manifest, "-o", plan_file, "--endpoint", sandbox.url,
                                 token=sandbox.token)
        assert code == 0, out + err
        # The email is taken behind the saved plan's back (a clash known at plan time is a
        # problem there): the create fails at the API, nothing else does.
        client.call("person.create", person={"name": "X", "company": {"xid": "other"},
                                             "email": "taken@example.com"})
        code, out, err = beeplan("apply", plan_file, "--auto-approve", "--endpoint", sandbox.url,
                                 token=sandbox.token)
        assert code == 1
        assert re.search(r"failed:\s+person\.create p: .*taken@example.com", err), err
        # What the failure did not touch is finished: the new subprojects are inactive ...
        subprojects = client.call("subproject.list", project={"xid": "dev"})["subprojects"]
        assert [s["active"] for s in subprojects] == [False, False, False]
        # ... but a company whose person could not be created stays active, so that a
        # re-run can still create the person in it.
        assert client.call("company.get", xid="closed")["company"]["active"] is True
        assert re.search(r"skipped: company\.deactivate closed", err), err

    manifest.write_text(PARTLY_FAILING.replace("taken@", "p@"))
    code, out, err = beeplan("apply", manifest, "--auto-approve", "--endpoint", sandbox.url)
    assert code == 0, out + err
    code, out, err = beeplan("check", manifest, "--endpoint", sandbox.url)
    assert code == 0, out + err


STOPPED = """\
companies:
  - xid: acme
    name: ACME
    projects:
      - xid: dev
        name: Development
        subprojects:
          - {xid: old1, name: Archived 1, active: false}
          - {xid: old2, name: Archived 2, active: false}
          - {xid: old3, name: Archived 3, active: false}
          - {xid: live, name: Live}
"""


def test_a_rerun_after_a_stop_between_create_and_deactivate_converges(
    beeplan: Run, sandbox: SandboxServer, tmp_path: Path
) -> None:
    manifest = tmp_path / "m.yaml"
    manifest.write_text(STOPPED)
    assert beeplan("plan", manifest, "--endpoint", sandbox.url, token=sandbox.token)[0] == 0
    reads = sum(sandbox.calls.values())
    # The quota runs out right after the six creates: the three deactivations are refused.
    sandbox.quota_requests = 2 * reads + 6  # this plan, the apply's reads, six writes
    code, out, err = beeplan("apply", manifest, "--auto-approve", "--parallelism", 1,
                             "--endpoint", sandbox.url)
    assert code == 1 and "6 applied" in err, err
    sandbox.advance_day()
    sandbox.quota_requests = 4000
    code, out, err = beeplan("apply", manifest, "--auto-approve", "--endpoint", sandbox.url)
    assert "3 applied" in out, out + err  # just the three owed deactivations
    # The journal remembers the three creates still owed a deactivation, so
    # finishing them is not counted as destroying live subprojects.
    assert code == 0, err
    code, out, err = beeplan("check", manifest, "--endpoint", sandbox.url)
    assert code == 0, out + err
