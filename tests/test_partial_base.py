"""Issue 24: ``--changed-since`` reads BASE only where its files differ from PATH's.

BASE read in part (PATH's entries for the files with the same bytes, the
differing files parsed and schema-checked) must be BASE loaded whole, entry
for entry and in the same order; where that cannot be sure (settings, kinds
or xid-giving entries in a changed file; notes; most files changed) BASE is
loaded whole, as before.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from beeplan.changed import diff_manifests, partial_base, read_base
from beeplan.manifest import load

ACME = Path(__file__).resolve().parent.parent / "examples" / "acme"


def sets(tmp_path: Path) -> tuple[Path, Path]:
    base, head = tmp_path / "base", tmp_path / "head"
    shutil.copytree(ACME, base)
    shutil.copytree(ACME, head)
    return base, head


def edit(file: Path, old: str, new: str) -> None:
    text = file.read_text()
    assert old in text, (file, old)
    file.write_text(text.replace(old, new, 1))


def test_base_read_in_part_is_base_loaded_whole(tmp_path: Path) -> None:
    base, head = sets(tmp_path)
    # A rename, a new person, a group moved, a task gone: three files of seven.
    edit(head / "people.yaml", "name: Marc Dubois", "name: Marc Dubois-Roy")
    edit(head / "people.yaml", "groups: [eng]", "groups: [design]")
    with (head / "people.yaml").open("a") as out:
        out.write("  - xid: zed\n    name: Zed Ode\n    company: acme\n")
    edit(head / "groups.yaml", "name: Design", "name: Design & UX")
    (base / "extra.yaml").write_text("tasks:\n  - xid: gone\n    name: Gone\n    company: acme\n")
    desired = load(head)
    whole = load(base)
    part = partial_base(base, head, desired)
    assert part is not None
    assert part.entities == whole.entities  # the same entries, in the same order
    assert [e.kind for e in part.entities] == [e.kind for e in whole.entities]
    assert (part.settings, part.declared_kinds) == (whole.settings, whole.declared_kinds)
    assert diff_manifests(part, desired) == diff_manifests(whole, desired)
    assert {c.key for c in diff_manifests(part, desired).changes} == {
        "person:marc", "person:li", "person:zed", "group:design", "task:gone"}


def test_kinds_declared_in_changed_files_are_those_a_whole_load_finds(tmp_path: Path) -> None:
    base, head = sets(tmp_path)
    (head / "absences.yaml").unlink()  # absences no longer managed
    edit(head / "tasks.yaml", "name: ", "name: New ")  # a task kind file changed too
    desired = load(head)
    part, whole = partial_base(base, head, desired), load(base)
    assert part is not None
    assert part.declared_kinds == whole.declared_kinds and "absence" in part.managed_kinds()
    assert part.entities == whole.entities
    assert diff_manifests(part, desired) == diff_manifests(whole, desired)


def test_the_same_files_make_no_change_without_reading_base(tmp_path: Path) -> None:
    base, head = sets(tmp_path)
    desired = load(head)
    part = partial_base(base, head, desired)
    assert part is not None and part.entities == desired.entities
    assert not diff_manifests(part, desired).changes


@pytest.mark.parametrize("change", ["settings", "kinds", "alias", "most files"])
def test_what_concerns_every_file_loads_base_whole(tmp_path: Path, change: str) -> None:
    base, head = sets(tmp_path)
    if change == "settings":
        edit(head / "settings.yaml", "prune: false", "prune: true")
    elif change == "kinds":  # declared empty in a changed file: in a same file too?
        (head / "absences.yaml").unlink()
        (base / "absences.yaml").unlink()
        with (head / "tasks.yaml").open("a") as out:
            out.write("absences: []\n")
    elif change == "alias":  # an entry adopted by id is given an xid: references move
        (head / "adopted.yaml").write_text(
            "tasks:\n  - id: 77\n    xid: adopted\n    name: Adopted\n    company: acme\n")
    else:
        for file in head.glob("*.yaml"):
            file.write_text(file.read_text() + "\n# touched\n")
    desired = load(head)
    assert partial_base(base, head, desired) is None
    found = read_base(str(base), head, desired)  # loaded whole: the same as without head
    assert found.state.entities == read_base(str(base), head).state.entities


def test_an_invalid_changed_base_file_makes_the_base_unusable_as_before(tmp_path: Path) -> None:
    base, head = sets(tmp_path)
    edit(base / "people.yaml", "name: Marc Dubois", "nom: Marc Dubois")
    desired = load(head)
    found = read_base(str(base), head, desired)
    assert found.unusable.startswith(f"the manifests at {base} are invalid")
    assert "people.yaml" in found.unusable


def test_a_custom_value_from_1_to_true_is_a_change(tmp_path: Path) -> None:
    """Python's ``1 == True``: an entry equal as a whole may still differ in meaning."""
    base, head = sets(tmp_path)
    for where, value in ((base, "1"), (head, "true")):
        edit(where / "people.yaml", "name: Marc Dubois",
             f"name: Marc Dubois\n    customFields: {{level: {value}}}")
    changes = diff_manifests(load(base), load(head)).changes
    assert [(c.key, sorted(c.relations)) for c in changes] == [("person:marc", ["customFields"])]
