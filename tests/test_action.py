"""The composite action at the repository root: its shell steps run here, as written.

GitHub would substitute ``${{ inputs.X }}`` and friends, then run each step's
``run:`` with bash in the step's environment. This does the same with the
inputs a workflow passes, against the embedded sandbox; only the comment
step's HTTP call is left out (its logic, find-by-marker-then-update, runs
against an in-memory comment list).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from beeplan.errors import ConfigError
from beeplan.github import (
    COMMENT_LIMIT_CHARS,
    MARKER,
    Inputs,
    command_line,
    upsert_comment,
)

ROOT = Path(__file__).resolve().parent.parent
ACTION = yaml.safe_load((ROOT / "action.yml").read_text())


def _expression(expr: str, inputs: dict[str, str], outputs: dict[str, dict[str, str]],
                runner: Path) -> str:
    expr = expr.strip()
    if expr.startswith("inputs."):
        return inputs[expr[len("inputs."):]]
    m = re.fullmatch(r"steps\.([\w-]+)\.outputs\.([\w-]+)", expr)
    if m:
        return outputs.get(m.group(1), {}).get(m.group(2), "")
    return {"github.action_path": str(ROOT), "github.token": "gh-token",
            "runner.temp": str(runner)}[expr]


def _substitute(text: str, inputs: dict[str, str], outputs: dict[str, dict[str, str]],
                runner: Path) -> str:
    return re.sub(r"\$\{\{(.*?)\}\}",
                  lambda m: _expression(m.group(1), inputs, outputs, runner), text)


def _outputs(file: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in file.read_text().splitlines() if "=" in line)


def entry_points(folder: Path) -> Path:
    """``beeplan`` and ``beeplan-github`` as pip/pipx would install them, alone in a folder.

    Like pip's scripts: this interpreter, by absolute path, importing this
    worktree's beeplan (pip would find it in the venv's site-packages).
    """
    folder.mkdir(parents=True, exist_ok=True)
    for name, module in (("beeplan", "beeplan.cli"), ("beeplan-github", "beeplan.github")):
        script = folder / name
        script.write_text(f"#!{sys.executable}\nimport sys\nsys.path.insert(0, {str(ROOT)!r})\n"
                          f"from {module} import main\nsys.exit(main())\n")
        script.chmod(0o755)
    return folder


def run_action(work: Path, path_env: str | None = None, with_comment: dict[str, str] | None = None,
               **given: str) -> tuple[list[subprocess.CompletedProcess[str]], dict[str, str], Path]:
    """Run the action's shell steps with these inputs (the comment step: with_comment's env).

    ``path_env`` replaces PATH (and drops PYTHONPATH); by default PATH starts
    with a folder holding only beeplan's entry points, as after pipx.
    """
    inputs = {name: str(spec.get("default", "")) for name, spec in ACTION["inputs"].items()}
    inputs["github-token"] = "gh-token"
    inputs.update({k.replace("_", "-"): v for k, v in given.items()})
    runner = work.parent / "runner"
    runner.mkdir(exist_ok=True)
    files = {name: runner / name for name in ("summary.md", "path")}
    for file in files.values():
        file.touch()
    bin_dir = entry_points(work.parent / "bin")
    base_env = {**os.environ, "RUNNER_TEMP": str(runner),
                "GITHUB_STEP_SUMMARY": str(files["summary.md"]),
                "GITHUB_PATH": str(files["path"]), "GITHUB_ACTION_PATH": str(ROOT),
                "BEEPLAN_CACHE_DIR": str(runner / "cache"),
                "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    if path_env is not None:
        base_env["PATH"] = path_env
        base_env.pop("PYTHONPATH", None)
    base_env.pop("BEEBOLE_TOKEN", None)
    results = []
    outputs: dict[str, dict[str, str]] = {}
    failed = False
    for i, step in enumerate(ACTION["runs"]["steps"]):
        if failed and "always()" not in str(step.get("if", "")):
            break  # GitHub skips the rest of the steps, except those marked always()
        if "comment" in step["name"].lower():
            if not outputs.get("run", {}).get("comment-file"):
                continue
            if with_comment is None:
                continue
            base_env.update(with_comment)
        output = runner / f"output-{i}"
        output.write_text("")  # GitHub gives each step its own GITHUB_OUTPUT file
        env = {**base_env, "GITHUB_OUTPUT": str(output),
               **{k: _substitute(str(v), inputs, outputs, runner)
                  for k, v in step.get("env", {}).items()}}
        script = _substitute(step["run"], inputs, outputs, runner)
        cwd = _substitute(step.get("working-directory", str(work)), inputs, outputs, runner)
        proc = subprocess.run(["/bin/bash", "-c", script], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=180)
        results.append(proc)
        outputs[step.get("id", str(i))] = _outputs(output)
        failed = failed or proc.returncode != 0
    return results, outputs.get("run", {}), files["summary.md"]


@pytest.fixture
def work(tmp_path: Path) -> Path:
    folder = tmp_path / "repo"
    folder.mkdir()
    shutil.copytree(ROOT / "examples" / "acme", folder / "manifests")
    return folder


def test_action_is_composite_with_the_promised_inputs_and_outputs() -> None:
    assert ACTION["runs"]["using"] == "composite"
    assert {"command", "path", "base", "endpoint", "token"} <= set(ACTION["inputs"])
    assert {"exit-code", "result", "changes", "plan-file"} <= set(ACTION["outputs"])
    # The token reaches beeplan only as an environment variable.
    for step in ACTION["runs"]["steps"]:
        assert "inputs.token" not in step["run"]
        owners = [k for k, v in step.get("env", {}).items() if "inputs.token" in str(v)]
        assert owners in ([], ["BEEBOLE_TOKEN"])


def test_plan_step_reports_changes_writes_the_summary_and_the_comment(work: Path) -> None:
    steps, outputs, summary = run_action(work, command="plan", install="skip",
                                         endpoint=f"sandbox:{work.parent / 'acct.db'}")
    assert [p.returncode for p in steps] == [0, 0], steps[-1].stderr
    assert outputs["exit-code"] == "2" and outputs["result"] == "changes"
    assert outputs["changes"] == "true"
    plan_file = Path(outputs["plan-file"])
    # Saved in the action's own folder, outside the checkout.
    assert plan_file == work.parent / "runner" / "beeplan" / "plan.json"
    assert json.loads(plan_file.read_text())["changes_present"] is True
    assert not (work / "plan.json").exists()
    text = summary.read_text()
    assert MARKER in text and "| create |" in text
    comment = Path(outputs["comment-file"]).read_text()
    assert comment.startswith(MARKER) and len(comment) <= COMMENT_LIMIT_CHARS
    assert "Plan:" in steps[1].stdout  # and the log shows it


def test_targeted_plan_wires_the_base_input(work: Path) -> None:
    # Nothing changed since the base: the targeted plan reads nothing and changes nothing.
    steps, outputs, _ = run_action(work, command="plan", install="skip", base="manifests",
                                   endpoint=f"sandbox:{work.parent / 'acct.db'}")
    assert steps[-1].returncode == 0, steps[-1].stderr
    doc = json.loads(Path(outputs["plan-file"]).read_text())
    assert doc["targeted"]["since"] == "manifests" and doc["complete"] is False
    assert outputs["result"] == "no-changes"


def test_validate_step_fails_with_annotations(work: Path) -> None:
    (work / "manifests" / "people.yaml").write_text("people:\n  - xid: rosa\n    nam: Rosa\n")
    steps, outputs, _ = run_action(work, command="validate", install="skip")
    assert steps[-1].returncode == 1
    assert outputs["result"] == "error"
    assert "::error file=manifests/people.yaml,line=" in steps[-1].stdout


def test_the_install_step_skips_or_makes_a_venv() -> None:
    install = ACTION["runs"]["steps"][0]["run"]
    # -I: the venv and pip modules of the interpreter, never a venv/ or pip/ in the checkout.
    assert "python3 -I -m venv" in install and "-I -m pip install" in install
    assert '"skip"' in install and "entry=" in install
    assert "GITHUB_PATH" not in install  # zizmor's github-env: PATH is not changed for others


def test_inputs_are_read_as_action_yml_passes_them_and_as_github_names_them() -> None:
    ours = Inputs.from_env({"INPUT_COMMAND": "plan", "INPUT_PLAN_FILE": "a.json",
                            "INPUT_BASE_PATH": "b"})
    githubs = Inputs.from_env({"INPUT_COMMAND": "plan", "INPUT_PLAN-FILE": "a.json",
                               "INPUT_BASE-PATH": "b"})
    assert ours == githubs and ours.plan_file == "a.json" and ours.base_path == "b"
    assert Inputs.from_env({}).command == "plan" and Inputs.from_env({}).path == "manifests"


def test_command_lines_per_input(tmp_path: Path) -> None:
    assert command_line(Inputs("check", "m", base="origin/main"), tmp_path).argv == (
        "check", "m", "--format", "markdown", "--changed-since", "origin/main")
    assert command_line(Inputs("diff", "m", base_path="b/m"), tmp_path).argv[:3] == (
        "diff", "b/m", "m")
    # No plan saved in this job, none asked for: plan path and apply it in one go.
    assert command_line(Inputs("apply", "m"), tmp_path).argv == ("apply", "m", "--auto-approve")
    # A saved plan: the action's own, checked against the manifests at path.
    assert command_line(Inputs("apply", "m"), tmp_path, plan_exists=True).argv == (
        "apply", str(tmp_path / "plan.json"), "--manifests", "m", "--auto-approve")
    # A plan asked for by name that no plan step saved: an error, not a fresh plan.
    with pytest.raises(ConfigError, match="no plan 'p.json' was saved in this job"):
        command_line(Inputs("apply", "m", plan_file="p.json"), tmp_path)


def test_comment_is_found_by_its_marker_and_updated_in_place() -> None:
    comments: list[dict[str, Any]] = [{"id": 1, "body": "LGTM"}]

    def api(method: str, path: str, payload: Any) -> Any:
        if method == "GET":
            return list(comments) if "page=1" in path else []
        if method == "POST":
            comments.append({"id": len(comments) + 1, **payload})
            return comments[-1]
        comment_id = int(path.rsplit("/", 1)[1])
        next(c for c in comments if c["id"] == comment_id).update(payload)
        return {}

    assert upsert_comment(api, "o/r", 7, f"{MARKER}\nfirst", "bot") == "created"
    comments[-1]["user"] = {"login": "bot"}
    assert upsert_comment(api, "o/r", 7, f"{MARKER}\nsecond", "bot") == "updated"
    assert [c["body"] for c in comments] == ["LGTM", f"{MARKER}\nsecond"]



def test_a_base_branch_without_manifests_means_everything_is_new(work: Path) -> None:
    (work / ".beeplan-base").mkdir()  # the base checkout, without the manifest folder
    steps, outputs, summary = run_action(work, command="diff", install="skip",
                                         base_path=".beeplan-base/manifests")
    assert steps[-1].returncode == 0, steps[-1].stderr
    assert outputs["changes"] == "true" and "everything is new" in summary.read_text()
    steps, outputs, _ = run_action(work, command="plan", install="skip",
                                   base=".beeplan-base/manifests",
                                   endpoint=f"sandbox:{work.parent / 'acct.db'}")
    assert steps[-1].returncode == 0, steps[-1].stderr
    doc = json.loads(Path(outputs["plan-file"]).read_text())
    assert "targeted" not in doc and doc["complete"] is True and outputs["result"] == "changes"


def test_diff_step_with_a_base_checkout(work: Path) -> None:
    base = work / ".beeplan-base" / "manifests"
    shutil.copytree(work / "manifests", base)
    people = work / "manifests" / "people.yaml"
    people.write_text(people.read_text() + "  - {xid: zoe, name: Zoe New, company: acme}\n")
    steps, outputs, summary = run_action(work, command="diff", install="skip",
                                         base_path=".beeplan-base/manifests")
    assert steps[-1].returncode == 0, steps[-1].stderr
    assert outputs["result"] == "changes" and "zoe" in summary.read_text()
    assert Path(outputs["comment-file"]).read_text().startswith(MARKER)


def test_plan_step_annotates_problems_and_fails(work: Path) -> None:
    people = work / "manifests" / "people.yaml"
    people.write_text(people.read_text() + "  - {xid: zoe, name: Zoe, company: acme,"
                      " customFields: {Shoe size: '42'}}\n")
    line = len(people.read_text().splitlines())
    steps, outputs, summary = run_action(work, command="plan", install="skip",
                                         endpoint=f"sandbox:{work.parent / 'acct.db'}")
    assert steps[-1].returncode == 1 and outputs["result"] == "error"
    assert f"::error file=manifests/people.yaml,line={line},title=beeplan::" in steps[-1].stdout
    assert "Shoe size" in Path(outputs["comment-file"]).read_text()
    assert "Impossible changes" in summary.read_text()


@pytest.mark.skipif(shutil.which("check-jsonschema") is None,
                    reason="check-jsonschema (pip) is not installed")
def test_action_matches_githubs_action_schema() -> None:
    proc = subprocess.run(["check-jsonschema", "--builtin-schema", "vendor.github-actions",
                           str(ROOT / "action.yml")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_comment_that_cannot_be_posted_is_a_warning_not_a_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from beeplan.github import main

    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 7}}))
    body = tmp_path / "comment.md"
    body.write_text(f"{MARKER}\nplan")
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(event))
    monkeypatch.setenv("GITHUB_TOKEN", "t")
    monkeypatch.setenv("GITHUB_REPOSITORY", "o/r")
    monkeypatch.setenv("GITHUB_API_URL", "http://127.0.0.1:9")  # nothing listens there
    assert main(["comment", str(body)]) == 0
    assert capsys.readouterr().out.startswith("::warning title=beeplan::the pull-request comment")
    monkeypatch.setenv("GITHUB_EVENT_PATH", "")  # not a pull request: nothing to post
    assert main(["comment", str(body)]) == 0
    assert "skipped" in capsys.readouterr().out


def test_a_plan_stopped_by_invalid_manifests_annotates_them_and_says_why(work: Path) -> None:
    # A plan file from an earlier run, with a problem of its own: never reported as this run's.
    stale = {"format_version": "1.1", "diagnostics": [
        {"severity": "error", "summary": "stale problem", "file": "x.yaml", "line": 1}]}
    plans = work.parent / "runner" / "beeplan"
    plans.mkdir(parents=True)
    (plans / "plan.json").write_text(json.dumps(stale))
    (work / "manifests" / "extra.yaml").write_text(
        "people:\n  - {xid: zed, name: Zed, company: nope}\n")
    steps, outputs, summary = run_action(work, command="plan", install="skip",
                                         endpoint=f"sandbox:{work.parent / 'acct.db'}")
    assert steps[-1].returncode == 1 and outputs["result"] == "error"
    # The manifest error on its line, as validate gives it; nothing from the old plan.
    assert steps[-1].stdout.startswith("::error file=manifests/extra.yaml,line=2,title=beeplan::")
    assert "stale problem" not in steps[-1].stdout
    assert outputs["plan-file"] == "" and not (plans / "plan.json").exists()
    # The comment and the summary say why, not only that it failed.
    comment = Path(outputs["comment-file"]).read_text()
    assert "### beeplan plan failed" in comment and "unknown company 'nope'" in comment
    assert "unknown company 'nope'" in summary.read_text()


# ---------------------------------------------------------------- the checkout is data


def _beeplan(work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The beeplan CLI of this worktree, as a user (or an attacker) runs it."""
    env = {k: v for k, v in os.environ.items() if k != "BEEBOLE_TOKEN"}
    return subprocess.run([sys.executable, "-m", "beeplan", *args], cwd=work, env=env,
                          capture_output=True, text=True, timeout=180)


def _attackers_plan(work: Path) -> None:
    """A pull request's own plan.json, made from its own dot-folder on its own account."""
    shutil.copytree(work / "manifests", work / ".evil")
    people = work / ".evil" / "people.yaml"
    people.write_text(people.read_text() + "  - {xid: mallory, name: Mallory Evil, company: acme,"
                      " email: mallory@example.com}\n")
    made = _beeplan(work, "plan", ".evil", "-o", "plan.json",
                    "--endpoint", f"sandbox:{work.parent / 'attacker.db'}")
    assert made.returncode == 0, made.stderr
    assert "Mallory" in (work / "plan.json").read_text()


@pytest.mark.slow  # the action end to end in git checkouts, several runs
def test_apply_never_applies_a_plan_committed_in_the_checkout(work: Path) -> None:
    victim = f"sandbox:{work.parent / 'victim.db'}"
    # The account matches the manifests: apply says it applied them.
    steps, outputs, _ = run_action(work, command="apply", install="skip", endpoint=victim)
    assert steps[-1].returncode == 0, steps[-1].stderr
    assert outputs["result"] == "applied" and outputs["changes"] == "true"
    _attackers_plan(work)
    # 1. apply alone (no plan-file): plans and applies path; plan.json is not read.
    steps, outputs, _ = run_action(work, command="apply", install="skip", endpoint=victim)
    assert steps[-1].returncode == 0, steps[-1].stderr
    assert outputs["result"] == "no-changes" and "Mallory" not in steps[-1].stdout
    # 2. apply of plan-file: plan.json, with no plan step in this job: refused, nothing applied.
    steps, outputs, _ = run_action(work, command="apply", install="skip", endpoint=victim,
                                   plan_file="plan.json")
    assert steps[-1].returncode == 1 and outputs["result"] == "error"
    assert "no plan 'plan.json' was saved in this job" in steps[-1].stdout
    # 3. the recipe: plan, then apply the plan file: this job's plan of path, not the PR's.
    steps, outputs, _ = run_action(work, command="plan", install="skip", endpoint=victim,
                                   plan_file="plan.json")
    assert steps[-1].returncode == 0 and outputs["result"] == "no-changes"
    steps, outputs, _ = run_action(work, command="apply", install="skip", endpoint=victim,
                                   plan_file="plan.json")
    assert steps[-1].returncode == 0, steps[-1].stderr
    assert outputs["result"] == "no-changes" and "Mallory" not in steps[-1].stdout
    # A path for plan-file (the checkout's file, by any spelling) is refused outright.
    for spelling in ("./plan.json", str(work / "plan.json"), "../repo/plan.json", ".evil/p.json"):
        steps, outputs, _ = run_action(work, command="apply", install="skip", endpoint=victim,
                                       plan_file=spelling)
        assert steps[-1].returncode == 1, spelling
        assert "is not a plain file name" in steps[-1].stdout, spelling
    # The victim's account never got the attacker's person: a plan of .evil still creates her.
    after = _beeplan(work, "plan", ".evil", "--endpoint", victim, "--detailed-exitcode")
    assert after.returncode == 2 and "Mallory" in after.stdout


def test_a_plan_that_failed_is_not_applied_by_the_next_step(work: Path) -> None:
    victim = f"sandbox:{work.parent / 'victim.db'}"
    steps, outputs, _ = run_action(work, command="plan", install="skip", endpoint=victim,
                                   plan_file="plan.json")
    assert outputs["result"] == "changes"
    (work / "manifests" / "extra.yaml").write_text("people:\n  - {xid: z, name: Z, company: no}\n")
    steps, outputs, _ = run_action(work, command="plan", install="skip", endpoint=victim,
                                   plan_file="plan.json")
    assert outputs["result"] == "error" and outputs["plan-file"] == ""
    steps, outputs, _ = run_action(work, command="apply", install="skip", endpoint=victim,
                                   plan_file="plan.json")
    assert steps[-1].returncode == 1 and "no plan 'plan.json' was saved" in steps[-1].stdout


PLANTED = ("import os, pathlib\n"
           "pathlib.Path({out!r}).write_text(os.environ.get('BEEBOLE_TOKEN', '-'))\n")


def test_code_committed_in_the_checkout_never_runs(work: Path) -> None:
    # A pull request's own beeplan package, and modules beeplan imports, at the root.
    out = work.parent / "pwned"
    for name in ("beeplan/__init__.py", "beeplan/__main__.py", "beeplan/github.py",
                 "beeplan/cli/__init__.py", "yaml.py", "click.py", "requests.py", "venv.py",
                 "pip/__init__.py", "jsonschema.py"):
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_text(PLANTED.format(out=str(out)))
    endpoint = f"sandbox:{work.parent / 'acct.db'}"
    for command in ("validate", "plan"):
        steps, outputs, _ = run_action(work, command=command, install="skip", endpoint=endpoint,
                                       token="secret-token")
        assert not out.exists(), f"{command}: the checkout's code ran"
        assert outputs["result"] in ("no-changes", "changes"), steps[-1].stdout + steps[-1].stderr
    steps, outputs, _ = run_action(work, command="apply", install="skip", endpoint=endpoint,
                                   token="secret-token")
    assert not out.exists() and outputs["result"] == "applied", steps[-1].stderr


def test_install_skip_uses_beeplan_on_path_when_python3_cannot_import_it(work: Path) -> None:
    # pipx: the entry points on PATH, beeplan importable only by their own interpreter.
    bin_dir = entry_points(work.parent / "bin")
    path = os.pathsep.join([str(bin_dir), "/usr/bin", "/bin"])
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    probe = subprocess.run(["python3", "-c", "import beeplan"], cwd=work,
                           env={**env, "PATH": path}, capture_output=True, text=True)
    assert probe.returncode != 0, "python3 on this PATH must not import beeplan"
    steps, outputs, _ = run_action(work, path_env=path, command="plan", install="skip",
                                   endpoint=f"sandbox:{work.parent / 'acct.db'}")
    assert [p.returncode for p in steps] == [0, 0], steps[-1].stderr
    assert outputs["result"] == "changes" and Path(outputs["plan-file"]).is_file()
    assert f"using the installed {bin_dir / 'beeplan-github'}" in steps[0].stdout
    # Nothing installed at all: one clear error, in the install step.
    steps, outputs, _ = run_action(work, path_env="/usr/bin:/bin", command="plan",
                                   install="skip")
    assert len(steps) == 1 and steps[0].returncode == 1
    assert "::error title=beeplan::install: skip, but no beeplan-github on PATH" in steps[0].stdout


def test_every_file_the_action_writes_is_its_own_under_runner_temp(work: Path) -> None:
    # Committed symlinks where the action used to write: none is written through.
    target = work.parent / "venv-site-packages"
    target.mkdir()
    for name in ("beeplan-comment.md", "plan.json"):
        (work / name).symlink_to(target / f"{name}.pth")
    # And one planted in the action's own folder (by anything): removed, not followed.
    plans = work.parent / "runner" / "beeplan"
    plans.mkdir(parents=True)
    (plans / "plan.json").symlink_to(target / "evil.pth")
    steps, outputs, _ = run_action(work, command="plan", install="skip",
                                   endpoint=f"sandbox:{work.parent / 'acct.db'}")
    assert steps[-1].returncode == 0, steps[-1].stderr
    assert list(target.iterdir()) == []
    comment = Path(outputs["comment-file"])
    assert comment.parent == plans and comment.read_text().startswith(MARKER)
    assert (comment.stat().st_mode & 0o777) == 0o600
    plan = Path(outputs["plan-file"])
    assert plan == plans / "plan.json" and not plan.is_symlink()
    before = sorted(p.name for p in work.iterdir())
    steps, outputs, _ = run_action(work, command="diff", install="skip", base_path="manifests")
    assert Path(outputs["comment-file"]).parent == plans
    assert sorted(p.name for p in work.iterdir()) == before  # nothing new in the checkout
    # The action's folder replaced by a symlink: refused, with what to do.
    shutil.rmtree(plans)
    plans.symlink_to(target)
    steps, outputs, _ = run_action(work, command="plan", install="skip",
                                   endpoint=f"sandbox:{work.parent / 'acct.db'}")
    assert steps[-1].returncode == 1 and "is not a directory" in steps[-1].stdout
    assert list(target.iterdir()) == []


def test_a_plan_comment_opens_with_the_settings_the_pull_request_loosens(work: Path) -> None:
    shutil.copytree(work / "manifests", work / ".beeplan-base" / "manifests")
    settings = work / "manifests" / "settings.yaml"
    settings.write_text(settings.read_text().replace(
        "prune: false", "prune: true\n  safety: {ratio: 0.9, min: 50}"))
    steps, outputs, _ = run_action(work, command="plan", install="skip",
                                   base=".beeplan-base/manifests",
                                   base_path=".beeplan-base/manifests",
                                   endpoint=f"sandbox:{work.parent / 'acct.db'}")
    comment = Path(outputs["comment-file"]).read_text()
    assert comment.startswith(MARKER + "\n**Settings this pull request changes**"), comment[:300]
    head = comment[:comment.index("### beeplan")] if "### beeplan" in comment else comment
    assert "settings.prune: false -> true" in head
    assert "ratio 0.1, min 3 -> ratio 0.9, min 50" in head


# ---------------------------------------------------------------- the comment, over HTTP


class MockForge:
    """GitHub's or GitLab's comment API on 127.0.0.1: what the comment code really calls.

    GitHub lets a token with pull-requests: write edit anyone's comment (the
    attack: an attacker's comment edited to carry the plan); GitLab answers
    403 for another user's note. ``me`` is the token's identity; None: GET
    /user is refused with 403, as for the Actions GITHUB_TOKEN.
    """

    def __init__(self, kind: str, me: str | int | None) -> None:
        self.kind, self.me = kind, me
        self.comments: list[dict[str, Any]] = []
        self.calls: list[tuple[str, str]] = []
        forge = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, status: int, data: Any) -> None:
                raw = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def _handle(self) -> None:
                size = int(self.headers.get("Content-Length") or 0)
                payload = json.loads(self.rfile.read(size)) if size else None
                forge.calls.append((self.command, self.path))
                status, data = forge.route(self.command, self.path.split("?")[0], payload)
                self._answer(status, data)

            do_GET = do_POST = do_PATCH = do_PUT = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def add(self, author: str | int, body: str) -> dict[str, Any]:
        key, value = ("user", {"login": author}) if self.kind == "github" else (
            "author", {"id": author, "username": f"user{author}"})
        comment = {"id": len(self.comments) + 100, key: value, "body": body, "system": False}
        self.comments.append(comment)
        return comment

    def author(self, comment: dict[str, Any]) -> str | int:
        return comment["user"]["login"] if self.kind == "github" else comment["author"]["id"]

    def route(self, method: str, path: str, payload: Any) -> tuple[int, Any]:
        if path.endswith("/user"):
            if self.me is None:
                return 403, {"message": "Resource not accessible by integration"}
            return 200, {"login": self.me} if self.kind == "github" else {"id": self.me}
        poster = self.me if self.me is not None else "github-actions[bot]"
        if method == "GET":
            return 200, list(self.comments)
        if method == "POST":
            return 201, self.add(poster, payload["body"])
        comment = next(c for c in self.comments if str(c["id"]) == path.rsplit("/", 1)[1])
        if self.kind == "gitlab" and self.author(comment) != poster:
            return 403, {"message": "403 Forbidden"}
        comment["body"] = payload["body"]
        return 200, comment

    def __enter__(self) -> MockForge:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def github() -> Iterator[MockForge]:
    with MockForge("github", "beeplan-bot") as forge:
        yield forge


def _comment_env(work: Path, forge: MockForge) -> dict[str, str]:
    event = work.parent / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 7}}))
    return {"GITHUB_EVENT_PATH": str(event), "GITHUB_REPOSITORY": "o/r",
            "GITHUB_API_URL": forge.url}


@pytest.mark.parametrize("me", ["beeplan-bot", None], ids=["personal-token", "actions-token"])
def test_the_comment_updated_is_the_tokens_own_never_an_attackers(work: Path, me: str | None
                                                                  ) -> None:
    with MockForge("github", me) as forge:
        identity = me or "github-actions[bot]"
        # An attacker's comment that starts with the marker, before any of beeplan's.
        forge.add("mallory", f"{MARKER}\nLooks fine, merge it")
        forge.add("someone", "LGTM")
        env = _comment_env(work, forge)
        endpoint = f"sandbox:{work.parent / 'acct.db'}"
        steps, outputs, _ = run_action(work, with_comment=env, command="plan", install="skip",
                                       endpoint=endpoint)
        assert steps[-1].returncode == 0 and "beeplan comment: created" in steps[-1].stdout
        assert forge.comments[0]["body"] == f"{MARKER}\nLooks fine, merge it"
        ours = forge.comments[-1]
        assert forge.author(ours) == identity and "Plan:" in ours["body"]
        # The next push, with invalid manifests, updates beeplan's own comment, and only it.
        (work / "manifests" / "extra.yaml").write_text(
            "people:\n  - {xid: z, name: Z, company: nope}\n")
        steps, outputs, _ = run_action(work, with_comment=env, command="plan", install="skip",
                                       endpoint=endpoint)
        assert steps[1].returncode == 1 and "beeplan comment: updated" in steps[-1].stdout
        assert len(forge.comments) == 3 and forge.comments[0]["body"].endswith("merge it")
        assert "unknown company 'nope'" in forge.comments[-1]["body"]
        edits = [path for method, path in forge.calls if method == "PATCH"]
        assert edits == [f"/repos/o/r/issues/comments/{ours['id']}"]


def test_a_plan_step_stopped_by_its_inputs_still_replaces_the_comment(work: Path) -> None:
    steps, outputs, _ = run_action(work, command="plan", install="skip", plan_file="../plan.json")
    assert steps[-1].returncode == 1 and outputs["result"] == "error"
    assert steps[-1].stdout.startswith("::error title=beeplan::input plan-file: '../plan.json'")
    comment = Path(outputs["comment-file"]).read_text()
    assert comment.startswith(f"{MARKER}\n### beeplan plan failed") and "../plan.json" in comment
    assert not (work.parent / "plan.json").exists()
