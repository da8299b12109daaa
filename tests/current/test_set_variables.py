"""``${NAME}`` in a current set: expanded in every file, exactly as in a v2 set.

The loader reads a set's files in order and learns the set's platform from the file
holding ``settings.platform``; the files sorting after it must be expanded like the
ones before it (they once kept ``${NAME}`` as text).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from beeplan.errors import ManifestError
from beeplan.manifest import load
from beeplan.manifest._written import WrittenForOther
from beeplan.platforms.current.desired import load_desired

SETTINGS = "settings:\n  platform: current\n"


def _set(tmp_path: Path) -> Path:
    path = tmp_path / "set"
    path.mkdir()
    # 'a-' sorts before the settings file, 'z-' after it: both must read the variables.
    (path / "a-absences.yaml").write_text("absenceTypes:\n  - xid: vac\n    name: ${VAC_NAME}\n")
    (path / "m-settings.yaml").write_text(SETTINGS)
    (path / "z-roles.yaml").write_text("roles:\n  - name: ${ROLE:-Employee}\n"
                                       "  - name: \"$${LITERAL}\"\n")
    return path


def _other(path: Path, environ: dict[str, str]) -> WrittenForOther:
    with pytest.raises(WrittenForOther) as caught:
        load(path, [], environ=environ)
    return caught.value


def test_every_file_is_expanded_before_and_after_the_settings_file(tmp_path: Path) -> None:
    other = _other(_set(tmp_path), {"VAC_NAME": "Vacation", "ROLE": "Staff"})
    desired = load_desired(other.files, other.problems)
    names = {(e.kind, e.name) for e in desired.entries}
    assert ("absenceType", "Vacation") in names
    assert ("role", "Staff") in names  # after the settings file: expanded too
    assert ("role", "${LITERAL}") in names  # $$ is a literal $, as on v2
    assert other.variables == {"ROLE": "Staff", "VAC_NAME": "Vacation"}


def test_defaults_and_unset_variables_behave_as_on_v2_in_every_file(tmp_path: Path) -> None:
    path = _set(tmp_path)
    other = _other(path, {"VAC_NAME": "Vacation"})
    desired = load_desired(other.files, other.problems)
    assert ("role", "Employee") in {(e.kind, e.name) for e in desired.entries}
    assert other.variables == {"ROLE": None, "VAC_NAME": "Vacation"}
    # unset with no default: an error on its file and line, whichever side of settings
    (path / "z-roles.yaml").write_text("roles:\n  - name: ${ROLE_NAME}\n")
    other = _other(path, {})
    with pytest.raises(ManifestError) as caught:
        load_desired(other.files, other.problems)
    shown = "\n".join(str(p) for p in caught.value.problems)
    assert f"{path / 'a-absences.yaml'}:3" in shown and "VAC_NAME is not set" in shown
    assert f"{path / 'z-roles.yaml'}:2" in shown and "ROLE_NAME is not set" in shown


def test_a_secret_variable_is_refused_in_a_current_set_too(tmp_path: Path) -> None:
    path = _set(tmp_path)
    (path / "z-roles.yaml").write_text("roles:\n  - name: ${BEEBOLE_TOKEN}\n")
    other = _other(path, {"VAC_NAME": "V", "BEEBOLE_TOKEN": "s3cret"})
    assert any("holds a secret" in str(p) for p in other.problems)
    assert all("s3cret" not in str(p) for p in other.problems)


def test_plan_shows_the_expanded_names_and_validate_says_what_works(
        cli_main, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _set(tmp_path)
    monkeypatch.setenv("VAC_NAME", "Vacation")
    monkeypatch.setenv("ROLE", "Staff")
    status, out, err = cli_main("plan", path, "--endpoint", f"sandbox:{tmp_path / 'c.db'}")
    assert status == 0, err
    assert "absenceType vac (Vacation)" in out and "role Staff (Staff)" in out
    assert "${" not in out.replace("${LITERAL}", "")
    status, out, err = cli_main("validate", path)
    assert status == 0, err
    assert "API v2" not in out and "plan, check and apply it" in out
