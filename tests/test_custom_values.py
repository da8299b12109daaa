"""Custom field values keep their type end to end and compare by meaning."""

from __future__ import annotations

from pathlib import Path

from beeplan.model import same_custom_value
from beeplan.platforms.v2.client import BeeboleClient

from .conftest import Run

MANIFEST = """\
companies:
  - xid: acme
    name: Acme
    corporate: false
    customFields: {{Industry: {industry}, Company address: {address}}}
    projects:
      - xid: web
        name: Website
        customFields: {{location: {location}}}
"""


def live_values(client: BeeboleClient, service: str, xid: str) -> dict[str, object]:
    answer = client.call(service, xid=xid)
    return {cf["name"]: cf["value"] for cf in answer["customFields"] if "value" in cf}


def write(path: Path, **values: str) -> Path:
    path.write_text(MANIFEST.format(**values))
    return path


def test_typed_values_are_sent_compared_and_imported_by_meaning(
    tmp_path: Path, run: Run, client: BeeboleClient
) -> None:
    manifest = write(tmp_path / "acme.yaml", industry="false", address="1.50", location="'1.5'")
    code, out, err = run("apply", manifest, "--auto-approve")
    assert code == 0, err
    # JSON booleans and numbers, not the text of Python's str(): a checkbox gets false.
    assert live_values(client, "company.custom_fields", "acme") == {
        "Industry": False, "Company address": 1.5}
    assert live_values(client, "project.custom_fields", "web") == {"location": "1.5"}
    assert type(live_values(client, "company.custom_fields", "acme")["Industry"]) is bool

    code, out, _ = run("plan", manifest, "--detailed-exitcode")
    assert code == 0 and "No changes" in out
    # 1.5 is 1.50; but the text "false" is not the boolean false.
    write(manifest, industry="'false'", address="1.5", location="'1.5'")
    code, out, _ = run("plan", manifest, "--detailed-exitcode")
    assert code == 2
    assert 'customFields.Industry: false -> "false"' in out
    assert "Company address" not in out

    imported = import_round_trip(run, tmp_path)
    assert "Industry: false" in imported and "Company address: 1.5" in imported
    assert "location: '1.5'" in imported


def import_round_trip(run: Run, tmp_path: Path) -> str:
    """Import the account, check its first plan shows no changes; the acme file's text."""
    code, _, err = run("import", "-o", tmp_path / "imported")
    assert code == 0, err
    code, out, _ = run("plan", tmp_path / "imported", "--detailed-exitcode")
    assert code == 0 and "No changes" in out
    return (tmp_path / "imported" / "acme.yaml").read_text()


def test_yaml_1_1_oddities_stay_text(tmp_path: Path, run: Run, client: BeeboleClient) -> None:
    manifest = write(tmp_path / "acme.yaml", industry="yes", address="0x1F", location="1:30")
    assert run("apply", manifest, "--auto-approve")[0] == 0
    assert live_values(client, "company.custom_fields", "acme") == {
        "Industry": "yes", "Company address": "0x1F"}
    assert live_values(client, "project.custom_fields", "web") == {"location": "1:30"}


def test_text_a_yaml_1_2_reader_takes_for_a_number_is_imported_quoted(
    tmp_path: Path, run: Run, client: BeeboleClient
) -> None:
    # PyYAML reads 1e3 and 0o17 as text, an editor's YAML 1.2 schema check as numbers:
    # import quotes them so both read the text the account holds.
    manifest = write(tmp_path / "acme.yaml", industry="'1e3'", address="'0o17'", location="'-1e-3'")
    assert run("apply", manifest, "--auto-approve")[0] == 0
    imported = import_round_trip(run, tmp_path)
    assert "Industry: '1e3'" in imported and "Company address: '0o17'" in imported
    assert "location: '-1e-3'" in imported


def test_same_custom_value() -> None:
    assert same_custom_value(1.5, 1.50) and same_custom_value(2, 2.0)
    assert same_custom_value(False, False) and same_custom_value("a", "a")
    assert not same_custom_value(True, 1) and not same_custom_value(0, False)
    assert not same_custom_value("false", False) and not same_custom_value("1.5", 1.5)


def test_a_change_from_1_to_true_is_a_change_for_targeted_plans(
    tmp_path: Path, run: Run, client: BeeboleClient
) -> None:
    base = write(tmp_path / "base.yaml", industry="1", address="x", location="'a'")
    new = write(tmp_path / "new.yaml", industry="true", address="x", location="'a'")
    assert run("apply", base, "--auto-approve")[0] == 0
    code, out, err = run("plan", new, "--changed-since", base, "--detailed-exitcode")
    assert code == 2, out + err
    assert "customFields.Industry: 1 -> true" in out


def test_an_empty_text_value_clears_the_field_and_converges(
    tmp_path: Path, run: Run, client: BeeboleClient
) -> None:
    manifest = write(tmp_path / "acme.yaml", industry="Energy", address="x", location="a")
    assert run("apply", manifest, "--auto-approve")[0] == 0
    write(manifest, industry="''", address="x", location="a")
    code, out, err = run("apply", manifest, "--auto-approve")
    assert code == 0, err
    assert "company.clear_custom_field_value" in out
    assert live_values(client, "company.custom_fields", "acme") == {"Company address": "x"}
    code, out, _ = run("plan", manifest, "--detailed-exitcode")
    assert code == 0 and "No changes" in out
