"""The destruction safety threshold counts only what exists: entities a plan creates
inactive are not "destroyed" (found by the medium org of test_faults)."""

from __future__ import annotations

from pathlib import Path

from beeplan.sandbox.server import SandboxServer

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
