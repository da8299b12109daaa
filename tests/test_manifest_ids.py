"""An id that is not a positive integer is a validation error with file and line.

``id: .inf`` used to end ``validate``, ``diff`` and ``plan`` in an
``OverflowError`` traceback. Every non-integer id, in an entry or in an
``{id: ...}`` reference, is now one located error, in each command, with no
API call.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from beeplan.platforms.v2.sandbox.server import SandboxServer
from tests.conftest import Run

BAD_IDS = [".inf", "-.inf", ".nan", "true", "1.5", '"x"', '"233"', "-3", "0", "1e400", "[1]"]

TEMPLATE = """\
groups:
  - xid: ops
    name: Ops
companies:
  - id: {value}
    name: ACME
  - xid: beta
    name: Beta
    groups: [{{id: {value}}}]
people:
  - xid: rosa
    name: Rosa
    company: {{id: {value}}}
    leaders: [{{id: {value}}}]
"""


@pytest.mark.parametrize("value", BAD_IDS)
def test_a_bad_id_is_a_located_error_in_validate_diff_and_plan(
    value: str, tmp_path: Path, run: Run, sandbox: SandboxServer
) -> None:
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / "a.yaml").write_text(TEMPLATE.format(value=value))
    base = tmp_path / "base"
    base.mkdir()
    (base / "a.yaml").write_text("companies:\n  - xid: beta\n    name: Beta\n")
    file = manifests / "a.yaml"
    shown = value.strip('"') if value.startswith('"') else value
    expected = [
        f"{file}:5: companies[0].id: an id is a positive integer, got",
        f"{file}:9: companies[1].groups[0].id: an id is a positive integer, got",
        f"{file}:13: people[0].company.id: an id is a positive integer, got",
        f"{file}:14: people[0].leaders[0].id: an id is a positive integer, got",
    ]
    for args in (("validate", manifests), ("diff", base, manifests), ("plan", manifests)):
        status, out, err = run(*args)
        output = out + err
        assert status == 1, output
        assert "Traceback" not in output and "Error" in err
        for line in expected:
            assert line in output, (args, output)
        assert shown in output  # quoted as written
        assert output.count("an id is a positive integer") == 4  # one error per id, not two
    assert sum(sandbox.calls.values()) == 0


@pytest.mark.parametrize(("written", "read"), [
    ("0x10", 16), ("010", 8), ("0b11", 3), ("1_000", 1000), ("1.0", 1), ("+5", 5),
])
def test_an_id_not_written_in_decimal_digits_is_refused(
    run: Run, sandbox: SandboxServer, tmp_path: Path, written: str, read: int
) -> None:
    """YAML reads `id: 010` as 8 and `0x10` as 16: the reviewer reads one entity, apply
    adopted (then renamed or deactivated) another."""
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "c.yaml").write_text(
        f"companies:\n  - id: {written}\n    name: Renamed\n"
        f"people:\n  - {{xid: p, name: P, company: {{id: {written}}}}}\n")
    before = sum(sandbox.calls.values())
    for argv in (("validate", folder), ("diff", folder, folder), ("plan", folder)):
        code, out, err = run(*argv)
        assert code == 1, (argv, out)
        for line, path in ((2, "companies[0].id"), (5, "people[0].company.id")):
            assert (f"c.yaml:{line}: {path}: an id is written in decimal digits, got "
                    f"{written}, which YAML reads as ") in err, err
        assert f"write {read} if that is the entity you mean" in err
        assert "Traceback" not in err
    assert sum(sandbox.calls.values()) == before
