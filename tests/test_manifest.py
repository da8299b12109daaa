"""The manifest loader: the model it produces, merging, and `beeplan validate`."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from beeplan.errors import ManifestError
from beeplan.manifest import load, manifest_files
from beeplan.model import KIND_ORDER, Ref, Source

ROOT = Path(__file__).parent.parent
ACME = ROOT / "examples" / "acme"


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ManifestError) as raised:
        load(path)
    return [str(p) for p in raised.value.problems]


# --- examples/acme ---------------------------------------------------------


def test_acme_loads_with_every_kind() -> None:
    state = load(ACME)
    counts = state.counts()
    assert all(counts[kind] > 0 for kind in KIND_ORDER)
    assert counts["company"] == 2 and counts["person"] == 8
    assert state.settings.prune is False


def test_acme_uses_every_key_of_the_format() -> None:
    state = load(ACME)
    relations = {name for e in state.entities for name in e.relations}
    assert relations == {
        "groups", "members.people", "members.groups", "managers", "leaders",
        "customFields", "specificTasks.enabled", "specificTasks.tasks",
    }
    fields = {name for e in state.entities for name in e.fields}
    assert fields == {"corporate", "startDate", "description", "email", "userGroup"}
    assert any(not e.active for e in state.of_kind("subproject"))
    assert any(e.parent is not None for e in state.of_kind("group"))
    assert not any(e.invite for e in state.entities)
    assert all(e.ref.xid is not None for e in state.entities)
    texts = "".join(p.read_text() for p in ACME.glob("*.yaml"))
    assert texts.count("yaml-language-server: $schema=../../schemas/manifest.schema.json") >= 6
    assert "parent:" in texts
    custom = {name for e in state.entities for name in e.relations.get("customFields", {})}
    assert custom <= {"Industry", "Company address", "location"}


def test_acme_validate_command(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "beeplan", "validate", "examples/acme"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("examples/acme: valid (2 companies, 6 projects, ")
    assert proc.stdout.count("\n") == 1
    quiet = subprocess.run([sys.executable, "-m", "beeplan", "-q", "validate", "examples/acme"],
                           capture_output=True, text=True, cwd=ROOT)
    assert quiet.returncode == 0 and quiet.stdout == ""


# --- the model ---------------------------------------------------------------


def test_model_of_one_file(tmp_path: Path) -> None:
    path = write(tmp_path, "m.yaml", """\
        settings: {prune: true}
        companies:
          - xid: acme
            name: ACME Corp
            corporate: true
            members: {people: [rosa]}
            customFields: {Industry: Transportation, Employees: 1200, Listed: yes, Ratio: 1.50}
            specificTasks: {tasks: [admin]}
            projects:
              - xid: dev
                name: Development
                startDate: 2017-10-13
                managers: [{id: 32}]
                subprojects:
                  - {xid: proto, name: Prototype, active: false, specificTasks: {enabled: false}}
          - {id: 233, name: Adopted Inc}
        tasks:
          - {xid: admin, name: Administration, company: {id: 233}}
        groups:
          - xid: country
            name: Country
            groups: [{xid: us, name: US}]
          - {xid: texas, name: Texas, parent: us}
        people:
          - {xid: rosa, name: Rosa Parks, company: acme, email: rosa@example.com, invite: true,
             leaders: [], groups: [us]}
        """)
    state = load(path)
    assert state.settings.prune is True
    assert [e.kind for e in state.entities] == [
        "group", "group", "group", "company", "company", "task", "project", "subproject", "person"]
    country, us, texas, acme, adopted, admin, dev, proto, rosa = state.entities
    assert us.parent == Ref("group", xid="country") and country.parent is None
    assert texas.parent == Ref("group", xid="us")
    assert acme.source == Source(str(path), 3)
    assert acme.fields == {"corporate": True}
    assert acme.relations == {
        "members.people": frozenset({Ref("person", xid="rosa")}),
        "members.groups": frozenset(),
        # Typed as YAML 1.2 reads them: numbers are numbers, 'yes' stays text.
        "customFields": {"Industry": "Transportation", "Employees": 1200, "Listed": "yes",
                         "Ratio": 1.5},
        "specificTasks.enabled": True,
        "specificTasks.tasks": frozenset({Ref("task", xid="admin")}),
    }
    assert adopted.ref == Ref("company", id=233) and adopted.fields == {}
    assert admin.parent == Ref("company", id=233) and admin.relations == {}
    assert dev.parent == Ref("company", xid="acme")
    assert dev.fields == {"startDate": "2017-10-13"}
    assert dev.relations == {"managers": frozenset({Ref("person", id=32)})}
    assert proto.parent == Ref("project", xid="dev") and proto.active is False
    assert proto.relations == {"specificTasks.enabled": False, "specificTasks.tasks": frozenset()}
    assert rosa.invite is True
    assert rosa.relations == {"leaders": frozenset(), "groups": frozenset({Ref("group", xid="us")})}


def test_lists_split_across_a_directory(tmp_path: Path) -> None:
    write(tmp_path, "b/people.yaml", "people: [{xid: rosa, name: Rosa, company: acme}]\n")
    write(tmp_path, "a.yml", "companies: [{xid: acme, name: ACME}]\n")
    write(tmp_path, "c.yaml", "people: [{xid: jane, name: Jane, company: acme, leaders: [rosa]}]\n")
    write(tmp_path, "empty.yaml", "# nothing yet\n")
    write(tmp_path, ".github/workflow.yml", "on: push\n")
    write(tmp_path, "notes.txt", "not a manifest")
    files = manifest_files(tmp_path)
    assert [f.relative_to(tmp_path).as_posix() for f in files] == [
        "a.yml", "b/people.yaml", "c.yaml", "empty.yaml"]
    state = load(tmp_path)
    assert [e.ref.xid for e in state.of_kind("person")] == ["rosa", "jane"]


def test_empty_file_is_an_empty_state(tmp_path: Path) -> None:
    state = load(write(tmp_path, "empty.yaml", ""))
    assert state.entities == () and state.settings.prune is False


def test_empty_directory_and_missing_path(tmp_path: Path) -> None:
    assert problems_of(tmp_path) == [f"{tmp_path}: no *.yaml or *.yml files here"]
    missing = tmp_path / "nope.yaml"
    assert problems_of(missing) == [f"{missing}: no such file or directory"]


def test_all_problems_at_once_sorted_by_file_and_line(tmp_path: Path) -> None:
    write(tmp_path, "b.yaml", "companies:\n  - {xid: acme, name: B}\n  - {name: C}\n")
    write(tmp_path, "a.yaml", "companies:\n  - {xid: acme, name: A, colour: red}\n")
    found = problems_of(tmp_path)
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    assert found == [
        f"{a}:2: companies[0].colour: unknown key 'colour' (allowed: active, corporate, "
        "customFields, groups, id, members, name, projects, specificTasks, xid)",
        f"{b}:2: companies[0].xid: company xid 'acme' is defined twice: first at {a}:2",
        f"{b}:3: companies[1]: missing 'xid' "
        "(or 'id: N' to adopt an existing entity without an xid)",
    ]


def test_anchors_and_merge_keys_are_plain_yaml(tmp_path: Path) -> None:
    path = write(tmp_path, "m.yaml", """\
        companies:
          - xid: acme
            name: ACME
            projects:
              - &base {xid: p1, name: One, managers: [jane]}
              - {<<: *base, xid: p2, name: Two}
        people:
          - {xid: jane, name: Jane, company: acme}
        """)
    projects = list(load(path).of_kind("project"))
    assert [p.ref.xid for p in projects] == ["p1", "p2"]
    assert projects[1].relations["managers"] == frozenset({Ref("person", xid="jane")})


def test_alias_bomb_is_refused(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    found = problems_of(write(tmp_path, "bomb.yaml", "\n".join(lines) + "\n"))
    assert any("aliases expand to too large a document" in p for p in found)


@pytest.mark.parametrize("depth", [70, 100_000])
def test_deep_nesting_is_refused_without_crashing(tmp_path: Path, depth: int) -> None:
    # 70 levels trip beeplan's own limit, 100,000 the YAML library's (whose
    # wording and limit vary between versions): the behaviour is what counts.
    path = write(tmp_path, "deep.yaml", "a: " + "[" * depth + "]" * depth)
    proc = subprocess.run([sys.executable, "-m", "beeplan", "validate", str(path)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr + proc.stdout
    assert f"{path}:1: " in proc.stderr
    assert problems_of(path) and all(p.startswith(f"{path}:1: ") for p in problems_of(path))


def test_no_network_during_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("validation touched the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    load(ACME)


# --- robustness --------------------------------------------------------------

_keys = st.sampled_from([
    "companies", "tasks", "groups", "people", "absences", "settings", "prune", "xid", "id",
    "name", "active", "company", "projects", "subprojects", "members", "managers", "leaders",
    "customFields", "specificTasks", "enabled", "tasks", "startDate", "parent", "email",
    "userGroup", "invite", "corporate", "description", "<<", "x",
])
_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=True),
    st.sampled_from(["acme", "jane", "", "2023-02-30", "2017-10-13", "employee", "no", "0b_"]),
    st.text(max_size=8),
)
_data = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_keys, inner, max_size=5)),
    max_leaves=25,
)


def _yaml_text(value: object, indent: int = 0) -> str:
    import json

    # JSON is YAML: a cheap way to write any structure; mixed with block style below.
    if isinstance(value, dict) and value and indent < 6:
        pad = " " * indent
        return "".join(f"{pad}{json.dumps(k)}:\n{_yaml_text(v, indent + 2)}"
                       for k, v in value.items())
    return " " * indent + json.dumps(value) + "\n"


_texts = st.one_of(
    st.text(max_size=200),
    st.text(alphabet=st.sampled_from(list("-:[]{}&*!|>'\"#%@`,? \t\nab01")), max_size=120),
    _data.map(_yaml_text),
)

_BOUND = settings(max_examples=300, deadline=None,
                  suppress_health_check=[HealthCheck.function_scoped_fixture])


def _only_manifest_errors(path: Path) -> None:
    try:
        load(path)
    except ManifestError as exc:
        assert exc.problems
        for problem in exc.problems:
            assert problem.file == str(path)


@_BOUND
@given(text=_texts)
def test_any_text_gives_a_state_or_manifest_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    _only_manifest_errors(path)


@_BOUND
@given(data=st.binary(max_size=200))
def test_any_bytes_give_a_state_or_manifest_error(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "m.yaml"
    path.write_bytes(data)
    _only_manifest_errors(path)


@_BOUND
@given(data=st.dictionaries(_keys, _data, max_size=4))
def test_any_structure_gives_a_state_or_manifest_error(
    tmp_path: Path, data: dict[str, object]
) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(_yaml_text(data), encoding="utf-8")
    _only_manifest_errors(path)


# --- the fast schema check agrees with jsonschema ----------------------------


def _verdicts(data: object) -> tuple[bool, bool]:
    from beeplan.manifest import _schema

    fast = _schema._fast()
    assert fast is not None, "the manifest schema uses a keyword the fast check lacks"
    return fast(data), _schema._validator().is_valid(data)


def test_fast_check_agrees_on_examples_and_invalid_cases() -> None:
    from beeplan.manifest._yaml import parse

    files = list(ACME.glob("*.yaml")) + list((ROOT / "tests/data/invalid").rglob("*.yaml"))
    rejected = 0
    for file in files:
        data = parse(file.read_bytes().decode("utf-8", "replace"), str(file), [])
        fast, reference = _verdicts(data)
        assert fast == reference, file
        rejected += not reference
    assert rejected >= 30


_entity_like = st.fixed_dictionaries(
    {"xid": st.sampled_from(["a", "", 1])},
    optional={key: _data for key in ["name", "id", "company", "groups", "members", "managers",
                                     "leaders", "customFields", "specificTasks", "startDate",
                                     "email", "userGroup", "projects", "parent", "active"]},
)


@pytest.mark.slow  # hundreds of generated documents
@settings(max_examples=300, deadline=None)
@given(data=st.dictionaries(
    st.sampled_from(["companies", "tasks", "groups", "people", "absences", "settings"]),
    st.one_of(st.lists(_entity_like, max_size=3), _data), max_size=3))
def test_fast_check_agrees_on_generated_documents(data: dict[str, object]) -> None:
    fast, reference = _verdicts(data)
    assert fast == reference


def _paths(node: object, prefix: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += _paths(value, (*prefix, index))
    return out


def _acme_documents() -> list[object]:
    import yaml

    return [yaml.safe_load(p.read_text()) for p in sorted(ACME.glob("*.yaml"))]


@pytest.mark.slow  # hundreds of mutated examples
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_fast_check_agrees_on_mutated_examples(data: st.DataObject) -> None:
    import copy

    document = copy.deepcopy(data.draw(st.sampled_from(_acme_documents())))
    path = data.draw(st.sampled_from(_paths(document)[1:]))
    parent: object = document
    for step in path[:-1]:
        parent = parent[step]  # type: ignore[index]
    operation = data.draw(st.sampled_from(["replace", "delete", "add"]))
    if operation == "replace":
        parent[path[-1]] = data.draw(_data)  # type: ignore[index]
    elif operation == "delete":
        del parent[path[-1]]  # type: ignore[attr-defined]
    elif isinstance(parent, dict):
        parent[data.draw(_keys)] = data.draw(_data)
    _stringify_dates(document)
    fast, reference = _verdicts(document)
    assert fast == reference


def _stringify_dates(node: object) -> None:
    import datetime

    if isinstance(node, dict):
        items = list(node.items())
    elif isinstance(node, list):
        items = list(enumerate(node))
    else:
        return
    for key, value in items:
        if isinstance(value, datetime.date):
            node[key] = value.isoformat()  # type: ignore[index]
        else:
            _stringify_dates(value)
