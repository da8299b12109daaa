"""GitHub-native review: annotations on manifest lines, and the versioned JSON plan."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from beeplan.annotations import Annotation, escape_data, plan_annotations, workflow_command
from beeplan.errors import PlanError
from beeplan.manifest import load
from beeplan.model import CustomField, State
from beeplan.planner import PLAN_FORMAT_VERSION, V2_PLAN_FORMAT_VERSION, make_plan
from beeplan.render import plan_from_json, plan_to_json
from beeplan.render.jsonplan import plan_document

from .conftest import Run
from .test_manifest_invalid import CASES

ROOT = Path(__file__).resolve().parent.parent
ACME = ROOT / "examples" / "acme"


def _outside_actions(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Run in tmp_path with a cache of its own, as a shell outside GitHub Actions."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BEEPLAN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)


def _annotations(out: str) -> list[tuple[str, str, int | None, str]]:
    """(level, file, line, message) of each ``::level file=..,line=..,title=..::msg`` line."""
    found = []
    for row in out.splitlines():
        assert row.startswith("::"), f"not a workflow command: {row!r}"
        level, _, rest = row[2:].partition(" ")
        props, _, message = rest.partition("::")
        fields = dict(p.split("=", 1) for p in props.split(","))
        assert fields["title"] == "beeplan"
        line = int(fields["line"]) if "line" in fields else None
        found.append((level, fields.get("file", ""), line, message))
    return found


# ------------------------------------------------------------ validate --format github


def test_annotations_of_invalid_manifests_match_file_and_line(
    cli_main: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)  # annotation paths are relative to the working directory
    checked = 0
    for case in CASES:
        code, out, err = cli_main("validate", str(case.path.relative_to(ROOT)), "--format",
                              "github")
        assert code == 1, case.path
        assert "Traceback" not in err
        found = _annotations(out)
        assert all(level == "error" for level, *_ in found)
        for where, line, fragment in case.expects:
            rel = where.relative_to(ROOT).as_posix()
            at = [msg for _, file, ln, msg in found if file == rel and ln == line]
            assert at, f"no annotation at {rel}:{line} in:\n{out}"
            assert any(fragment in escape_data(m) or fragment in m for m in at), (fragment, at)
            checked += 1
    assert checked >= 40


def test_annotation_paths_are_relative_to_the_working_directory(
    cli_main: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    folder = tmp_path / "repo" / "manifests"
    folder.mkdir(parents=True)
    (folder / "people.yaml").write_text("people:\n  - xid: rosa\n    nam: Rosa\n")
    monkeypatch.chdir(tmp_path / "repo")
    code, out, _ = cli_main("validate", str(folder), "--format", "github")
    assert code == 1
    files = {file for _, file, _, _ in _annotations(out)}
    assert files == {"manifests/people.yaml"}
    # From a subfolder: its own files relative, one beside it by its absolute path
    # (relative to the repository root is all GitHub can place; ../ it cannot).
    (folder / "sub").mkdir()
    (folder / "sub" / "tasks.yaml").write_text("tasks:\n  - {xid: t, name: T, company: x}\n")
    monkeypatch.chdir(folder / "sub")
    code, out, _ = cli_main("validate", "..", "--format", "github")
    found = {(file, line) for _, file, line, _ in _annotations(out)}
    assert ("tasks.yaml", 2) in found
    assert {file for file, _ in found} == {"tasks.yaml",
                                           (folder / "people.yaml").resolve().as_posix()}


def test_validate_json_gives_the_same_errors_as_data(
    cli_main: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    case = next(c for c in CASES if c.path.is_dir())
    path = str(case.path.relative_to(ROOT))
    _, gh, _ = cli_main("validate", path, "--format", "github")
    code, out, _ = cli_main("validate", path, "--format", "json")
    assert code == 1
    doc = json.loads(out)
    assert doc["valid"] is False
    as_data = [(e["file"], e["line"]) for e in doc["errors"]]
    assert as_data == [(file, line) for _, file, line, _ in _annotations(gh)]
    code, out, _ = cli_main("validate", "examples/acme", "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["valid"] is True and doc["errors"] == [] and doc["counts"]["person"] > 0


def test_workflow_command_escaping() -> None:
    # A message may not end the command early nor forge a second one.
    line = workflow_command(Annotation("50% done\r\n::error::forged", "a,b:c.yaml", 3))
    # The forged command's own `::` is escaped too: no line of the message starts one.
    assert line == ("::error file=a%2Cb%3Ac.yaml,line=3,title=beeplan::"
                    "50%25 done%0D%0A\\x3a:error::forged")
    assert "\n" not in line
    # Other control characters (an ANSI escape in a name) are written out, not obeyed.
    assert workflow_command(Annotation("a\x1b[2Jb")).endswith("::a\\x1b[2Jb")
    assert workflow_command(Annotation("x", level="warning")) == "::warning title=beeplan::x"


# ------------------------------------------------------------ plan problems on their lines


def test_plan_problems_and_refusals_sit_on_their_manifest_lines(tmp_path: Path) -> None:
    live_dir = tmp_path / "live"
    live_dir.mkdir()
    (live_dir / "a.yaml").write_text(
        "companies:\n  - {xid: acme, name: ACME}\n  - {xid: globex, name: Globex}\n"
        "people:\n" + "".join(f"  - {{xid: p{i}, name: P {i}, company: acme}}\n"
                              for i in range(5)))
    live = _as_live(load(live_dir))
    desired_dir = tmp_path / "want"
    desired_dir.mkdir()
    (desired_dir / "a.yaml").write_text(
        "companies:\n  - {xid: acme, name: ACME}\n  - {xid: globex, name: Globex}\n"
        "people:\n"
        "  - {xid: p0, name: P 0, company: globex}\n"  # line 5: an impossible move
        "  - {xid: p1, name: P 1, company: acme, active: false}\n"  # line 6
        "  - {xid: p2, name: P 2, company: acme, active: false}\n"
        "  - {xid: p3, name: P 3, company: acme, active: false}\n"
        "  - {xid: p4, name: P 4, company: acme}\n")
    plan = make_plan(load(desired_dir), live)
    found = plan_annotations(plan, cwd=tmp_path)
    assert [(a.level, a.file, a.line) for a in found] == [
        ("error", "want/a.yaml", 5), ("error", "want/a.yaml", 6)]
    assert "moving it" in found[0].message and "--allow-destroy" in found[1].message
    # Read back from a saved plan the problems are plain text: the line they name still counts.
    saved, _ = plan_from_json(plan_to_json(plan, endpoint="sandbox:x.db"))
    again = plan_annotations(saved, cwd=tmp_path)
    assert (again[0].file, again[0].line) == ("want/a.yaml", 5)


def _as_live(state: State) -> State:
    """A declared state as the account would hold it: every entity with a live id."""
    from dataclasses import replace

    from beeplan.model import KIND_ORDER, Ref

    entities = []
    for n, e in enumerate(state.entities, start=1):
        entities.append(replace(e, ref=Ref(e.kind, xid=e.ref.xid, id=n), source=None))
    return replace(state, entities=tuple(entities), complete_kinds=frozenset(KIND_ORDER))


# ------------------------------------------------------------ the JSON plan


def _acme_plan_json() -> str:
    # An empty account that defines the custom fields the example uses.
    fields = tuple(CustomField(n, name) for n, name in
                   enumerate(("Industry", "Company address", "location"), start=1))
    plan = make_plan(load(ACME), State(custom_fields=fields))
    assert not plan.problems
    return plan_to_json(plan, endpoint="sandbox:x.db")


def test_json_plan_validates_against_its_schema_and_says_what_it_is() -> None:
    doc = json.loads(_acme_plan_json())
    for schema in (ROOT / "schemas" / "plan.schema.json",
                   ROOT / "beeplan" / "schemas" / "plan.schema.json"):
        jsonschema.Draft202012Validator(json.loads(schema.read_text())).validate(doc)
    assert (ROOT / "schemas" / "plan.schema.json").read_text() == (
        ROOT / "beeplan" / "schemas" / "plan.schema.json").read_text()
    assert doc["format_version"] == V2_PLAN_FORMAT_VERSION  # an API v2 plan: as before 1.3
    major, minor = doc["format_version"].split(".")
    assert major.isdigit() and minor.isdigit()
    assert doc["changes_present"] is True and doc["complete"] is True and doc["applyable"]
    assert doc["incomplete_reasons"] == []
    for action in doc["actions"]:
        assert "before" in action and "after" in action, action["id"]
        if action["op"] == "create":
            assert action["before"] is None and action["after"]["name"] == action["name"]
        else:
            assert set(action["before"]) == set(action["after"]), action["id"]
            assert action["before"] != action["after"], action["id"]


def test_a_plan_with_problems_is_marked_incomplete(tmp_path: Path) -> None:
    desired = tmp_path / "a.yaml"
    desired.write_text("groups:\n  - {id: 999, name: Nobody}\n")
    live = State(complete_kinds=frozenset({"group"}))
    doc = plan_document(make_plan(load(desired), live))
    assert doc["complete"] is False and doc["changes_present"] is False
    assert doc["applyable"] is False
    assert doc["incomplete_reasons"][0].startswith("problems:")
    assert doc["diagnostics"][0]["line"] == 2


def test_reader_refuses_another_major_version_and_ignores_new_fields() -> None:
    doc = json.loads(_acme_plan_json())
    major, minor = (int(x) for x in doc["format_version"].split("."))
    newer_minor = {**doc, "format_version": f"{major}.{minor + 7}", "a_field_from_later": [1]}
    newer_minor["actions"] = [{**a, "new_per_action": True} for a in doc["actions"]]
    plan, _ = plan_from_json(json.dumps(newer_minor))
    assert len(plan.actions) == len(doc["actions"])
    for version in (f"{major + 1}.0", f"{major + 1}.{minor}", "1", 1, "one"):
        with pytest.raises(PlanError, match="plan format"):
            plan_from_json(json.dumps({**doc, "format_version": version}))
    with pytest.raises(PlanError, match="upgrade beeplan"):
        plan_from_json(json.dumps({**doc, "format_version": f"{major + 1}.0"}))


def test_docs_describe_the_plan_format_beside_the_schema() -> None:
    text = (ROOT / "docs" / "plan-format.md").read_text()
    schema = json.loads((ROOT / "schemas" / "plan.schema.json").read_text())
    assert PLAN_FORMAT_VERSION in text
    for key in ("changes_present", "applyable", "complete", "incomplete_reasons", "diagnostics",
                "before"):
        assert key in schema["properties"] or key in json.dumps(schema), key
        assert f"`{key}`" in text, key
    assert "schemas/plan.schema.json" in text
    # Every key the schema defines, top level and per action, is named on the page.
    action = schema["properties"]["actions"]["items"]
    if "$ref" in action:
        action = schema["$defs"][action["$ref"].rsplit("/", 1)[1]]
    for key in [*schema["properties"], *action["properties"]]:
        assert f"`{key}`" in text, key



# ------------------------------------------------------------ limits on the 1000-person org


@pytest.fixture(scope="module")
def benchmark_org(tmp_path_factory: pytest.TempPathFactory) -> State:
    from benchmarks.generate import generate, write_manifests

    folder = tmp_path_factory.mktemp("org")
    write_manifests(generate(), folder)  # the standard large org: 1000 people
    return load(folder)


def _org_fields() -> tuple[CustomField, ...]:
    return tuple(CustomField(n, name) for n, name in
                 enumerate(("Industry", "Company address", "location"), start=1))


def test_comment_stays_within_githubs_limit_on_the_benchmark_org(benchmark_org: State) -> None:
    from beeplan.github import COMMENT_LIMIT_CHARS, MARKER, comment_body
    from beeplan.render import Budget, render_markdown

    assert benchmark_org.counts()["person"] == 1000
    # Created from scratch: thousands of actions. Without the custom fields defined:
    # hundreds of problems in the summary too.
    for live in (State(custom_fields=_org_fields()), State()):
        plan = make_plan(benchmark_org, live)
        assert len(plan.actions) > 4000
        text = render_markdown(plan, Budget(0, len(plan.actions), 4000))
        body = comment_body(text)
        assert len(text) <= COMMENT_LIMIT_CHARS and len(body) <= COMMENT_LIMIT_CHARS
        assert body.startswith(MARKER) and body.count(MARKER) == 1
        # The summary first, complete; the details folded after it, cut with a note.
        c = plan.counts()
        table = f"| {c['create']} | {c['update']} |"
        assert table in text and text.index(table) < text.index("<details>")
        assert "Details truncated" in text and "lines not shown" in text
        assert text.count("```") % 2 == 0
        if plan.problems:
            assert len(plan.problems) > 100
            assert "more problems (not shown here)" in text


def test_job_summary_stays_within_1_mib_on_the_benchmark_org(
    benchmark_org: State, tmp_path: Path
) -> None:
    from beeplan.github import SUMMARY_LIMIT_BYTES, write_step_summary
    from beeplan.render import render_markdown

    plan = make_plan(benchmark_org, State(custom_fields=_org_fields()))
    summary = tmp_path / "summary.md"
    written = write_step_summary(lambda n: render_markdown(plan, max_chars=n), summary)
    assert 60_000 < written <= SUMMARY_LIMIT_BYTES
    text = summary.read_text()
    # Far more of the plan than a comment holds: every action of the first half at least.
    assert plan.actions[len(plan.actions) // 2].target.label in text
    # Earlier writes of the same step count against the limit (non-ASCII names too).
    summary.write_text("é" * 400_000)  # 800,000 bytes
    write_step_summary(lambda n: render_markdown(plan, max_chars=n), summary)
    assert summary.stat().st_size <= SUMMARY_LIMIT_BYTES
    assert "Details truncated" in summary.read_text()


def test_plan_format_github_annotates_problems_on_the_sandbox(
    cli_main: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _outside_actions(monkeypatch, tmp_path)
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "org.yaml").write_text(
        "companies:\n  - {xid: acme, name: ACME}\n"
        "people:\n"
        "  - {xid: rosa, name: Rosa, company: acme}\n"
        "  - {xid: jane, name: Jane, company: acme, customFields: {Shoe size: '42'}}\n")
    code, out, _ = cli_main("plan", "m", "--endpoint", "sandbox:acct.db",
                        "--format", "github")
    assert code == 1  # a plan with problems is refused
    found = [a for a in out.splitlines() if a.startswith("::")]
    assert len(found) == 1 and found[0].startswith("::error file=m/org.yaml,line=5,")
    assert "Shoe size" in found[0]
    assert "! person jane" in out  # the text plan is there too, for the log
    # And --summary writes the Markdown plan to the job summary, problems included.
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    cli_main("plan", "m", "--endpoint", "sandbox:acct.db", "--summary")
    assert "Shoe size" in summary.read_text() and MARKER_TEXT in summary.read_text()


MARKER_TEXT = "<!-- beeplan-plan -->"


def test_summary_outside_github_actions_is_refused_before_any_api_call(
    cli_main: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _outside_actions(monkeypatch, tmp_path)
    for command in ("plan", "check"):
        code, out, err = cli_main(command, str(ACME), "--endpoint", "sandbox:acct.db",
                              "--summary")
        assert code == 1 and "GITHUB_STEP_SUMMARY is not set" in err and out == ""
        assert "Traceback" not in err
        # Refused before the account was touched: the sandbox was never even opened.
        assert not (tmp_path / "acct.db").exists()


def test_budgeted_check_writes_markdown_and_the_job_summary(
    cli_main: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BEEPLAN_CACHE_DIR", str(tmp_path / "cache"))
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "org.yaml").write_text(
        "companies:\n  - {xid: acme, name: ACME}\n"
        "people:\n  - {xid: rosa, name: Rosa, company: acme}\n")
    budget = ("--max-calls", "30", "--state", "state.json", "--endpoint", "sandbox:acct.db")
    # Nothing applied yet: the check finds everything missing.
    code, out, _ = cli_main("check", "m", "--format", "markdown", *budget)
    assert code == 2
    assert out.startswith(MARKER_TEXT) and "### beeplan check" in out
    assert "company.create" in out and "**Coverage**" in out and "units of the account" in out
    # Markdown under GitHub Actions: the same text lands in the job summary.
    assert summary.read_text().strip() == out.strip()
    # --format json: one JSON plan on stdout, the coverage on stderr.
    code, out, err = cli_main("check", "m", "--format", "json", *budget)
    doc = json.loads(out)
    assert code == 2 and doc["changes_present"] is True and "Coverage:" in err
    # Only part of the account was compared: not a complete plan, and it says why.
    assert doc["complete"] is False and doc["incomplete_reasons"][-1].startswith("budgeted: ")
    # --summary with text output: text in the log, Markdown in the summary.
    summary.unlink()
    code, out, _ = cli_main("check", "m", "--summary", *budget)
    assert code == 2 and "Coverage:" in out and MARKER_TEXT not in out
    assert "**Coverage**" in summary.read_text()
