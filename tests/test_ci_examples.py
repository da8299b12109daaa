"""The CI recipes in examples/ci: they parse, and every beeplan command in them exists.

Each ``beeplan ...`` command line found in a ``run:`` (GitHub) or ``script:``
(GitLab) block is checked against the real click command: the command name,
every option and its value (for choices), and the number of arguments. A
command that is still a stub (one UNPROCESSED ``args`` argument: it accepts
anything) cannot be checked yet; its lines are marked xfail until it lands,
and then become real checks by themselves.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from beeplan import github as action
from beeplan.cli import cli

ROOT = Path(__file__).resolve().parent.parent
CI = ROOT / "examples" / "ci"
GITHUB = CI / "github" / "beeplan.yml"
GITLAB = CI / "gitlab" / ".gitlab-ci.yml"
FILES = [GITHUB, GITLAB]
# Shell blocks per provider (a GitHub step's `with: script:` is JavaScript).
SCRIPT_KEYS = {GITHUB: {"run"}, GITLAB: {"script", "before_script", "after_script"}}
MARKER = "<!-- beeplan-plan -->"

# ---------------------------------------------------------------- extraction


@dataclass(frozen=True)
class Script:
    file: Path
    where: str  # the YAML path of the block, for messages
    text: str


def _load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path}: not a mapping"
    return data


def scripts(path: Path) -> Iterator[Script]:
    """Every shell block: GitHub ``run:`` steps, GitLab ``script:`` lists (joined)."""
    keys = SCRIPT_KEYS[path]

    def walk(node: Any, where: str) -> Iterator[Script]:
        if isinstance(node, dict):
            for key, value in node.items():
                here = f"{where}.{key}"
                if key in keys and isinstance(value, str):
                    yield Script(path, here, value)
                elif key in keys and isinstance(value, list):
                    yield Script(path, here, "\n".join(map(str, value)))
                else:
                    yield from walk(value, here)
        elif isinstance(node, list):
            for i, item in enumerate(node):
                yield from walk(item, f"{where}[{i}]")

    yield from walk(_load(path), path.name)


def _without_heredocs(text: str) -> str:
    # Heredoc bodies are another language's code (the GitLab note poster is Python).
    out, end = [], None
    for line in text.splitlines():
        if end is not None:
            if line.strip() == end:
                end = None
            continue
        out.append(line)
        m = re.search(r"<<-?\s*['\"]?(\w+)['\"]?", line)
        if m:
            end = m.group(1)
    return "\n".join(out)


_OPERATORS = {"|", "||", "&&", ";", "&", "(", ")", ">", ">>", "<", "<<", "|&", ";;"}
_COMMAND_POSITION = _OPERATORS | {"then", "do", "else", "!", "time"}


def beeplan_commands(text: str) -> Iterator[list[str]]:
    """The argument lists of every ``beeplan`` invocation in a shell text."""
    text = _without_heredocs(text).replace("\\\n", " ")
    for line in text.splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        lexer.commenters = "#"
        tokens = list(lexer)
        for i, token in enumerate(tokens):
            if token == "beeplan" and (i == 0 or tokens[i - 1] in _COMMAND_POSITION):
                args = []
                for arg in tokens[i + 1:]:
                    if arg in _OPERATORS or re.fullmatch(r"\d?[<>]&?\d?", arg):
                        break
                    args.append(arg)
                yield args


def action_steps(path: Path) -> Iterator[dict[str, Any]]:
    """The steps that use the beeplan action (action.yml at the repository root)."""
    for job in _load(path).get("jobs", {}).values():
        for step in job.get("steps", []):
            uses = str(step.get("uses", ""))
            if uses.split("@")[0].endswith("/beeplan") or uses == "./":
                yield step


def action_commands(path: Path) -> list[list[str]]:
    """The beeplan command line each action step runs (``${{ x }}`` read as a variable)."""
    out = []
    for step in action_steps(path):
        given = {k: re.sub(r"\$\{\{\s*env\.(\w+)\s*\}\}", r"$\1", str(v))
                 for k, v in step.get("with", {}).items()}
        inputs = action.Inputs.from_env(
            {"INPUT_" + k.upper().replace("-", "_"): v for k, v in given.items()})
        plans = Path("/runner-temp/beeplan")  # the action's own folder, $RUNNER_TEMP/beeplan
        out.append(list(action.command_line(inputs, plans, plan_exists=True).argv))
    return out


def all_command_lines() -> list[tuple[Path, list[str]]]:
    return [(s.file, args) for path in FILES for s in scripts(path)
            for args in beeplan_commands(s.text)] + [
        (path, args) for path in FILES for args in action_commands(path)]


# ---------------------------------------------------------------- checking


def is_stub(command: click.Command) -> bool:
    params = command.params
    return (
        len(params) == 1
        and isinstance(params[0], click.Argument)
        and params[0].name == "args"
        and isinstance(params[0].type, click.types.UnprocessedParamType)
    )


def check_invocation(args: list[str]) -> None:
    """Raise AssertionError unless ``beeplan ARGS`` names real options of a real command."""
    global_flags = {o for p in cli.params for o in (*p.opts, *p.secondary_opts)}
    rest = list(args)
    while rest and rest[0] in global_flags:
        rest.pop(0)
    assert rest, f"no command in beeplan {shlex.join(args)}"
    name, rest = rest[0], rest[1:]
    assert name in cli.commands, f"beeplan has no command {name!r}"
    command = cli.commands[name]
    assert isinstance(command, click.Command)
    if isinstance(command, click.Group):
        check_invocation_of_group(command, rest)
        return
    options: dict[str, click.Option] = {}
    for param in command.params:
        if isinstance(param, click.Option):
            for opt in (*param.opts, *param.secondary_opts):
                options[opt] = param
    positional: list[str] = []
    i = 0
    while i < len(rest):
        token = rest[i]
        if token.startswith("-") and token != "-":
            opt, _, inline = token.partition("=")
            assert opt in options, f"beeplan {name} has no option {opt} (it has {sorted(options)})"
            param = options[opt]
            if param.is_flag or param.count:
                assert not inline, f"{opt} takes no value"
            else:
                value = inline or (rest[i + 1] if i + 1 < len(rest) else None)
                assert value is not None, f"{opt} needs a value"
                if not inline:
                    i += 1
                choices = getattr(param.type, "choices", None)
                if choices is not None and "$" not in value:
                    assert value in choices, f"{opt} {value}: not in {choices}"
        else:
            positional.append(token)
        i += 1
    arguments = [p for p in command.params if isinstance(p, click.Argument)]
    required = sum(max(a.nargs, 1) for a in arguments if a.required)
    unlimited = any(a.nargs == -1 for a in arguments)
    allowed = sum(a.nargs for a in arguments if a.nargs > 0)
    assert len(positional) >= required, f"beeplan {name} needs {required} arguments: {positional}"
    assert unlimited or len(positional) <= allowed, (
        f"beeplan {name} takes at most {allowed} arguments: {positional}")


def check_invocation_of_group(group: click.Group, args: list[str]) -> None:
    assert args and args[0] in group.commands, f"{group.name} has no command {args[:1]}"


def _cases() -> list[Any]:
    cases = []
    for path, args in all_command_lines():
        name = next((a for a in args if not a.startswith("-")), "")
        command = cli.commands.get(name)
        marks = []
        if command is not None and is_stub(command):
            marks.append(pytest.mark.xfail(strict=False, reason="commands not implemented yet"))
        cases.append(pytest.param(args, id=f"{path.parent.name}:{shlex.join(args)}", marks=marks))
    return cases


# ---------------------------------------------------------------- the tests


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.parent.name)
def test_ci_file_parses(path: Path) -> None:
    data = _load(path)
    assert list(scripts(path)), f"{path}: no run/script blocks found"
    assert data


@pytest.mark.parametrize("args", _cases())
def test_beeplan_command_line_is_valid(args: list[str]) -> None:
    check_invocation(args)


def test_the_checker_rejects_what_does_not_exist() -> None:
    # The parametrised test above is only worth something if these fail.
    real = next(name for name, c in cli.commands.items() if not is_stub(c)
                and any(isinstance(p, click.Option) for p in c.params))
    for bad in (["no-such-command"], [real, "--no-such-option"]):
        with pytest.raises(AssertionError):
            check_invocation(bad)
    diff = cli.commands["diff"]
    if not is_stub(diff):
        with pytest.raises(AssertionError, match="not in"):
            check_invocation(["diff", "a", "b", "--format", "yaml"])
        with pytest.raises(AssertionError, match="at most"):
            check_invocation(["diff", "a", "b", "c"])
        with pytest.raises(AssertionError, match="needs"):
            check_invocation(["diff", "a"])


def test_extraction_finds_commands_after_operators_and_skips_heredocs() -> None:
    text = ('status=0\nbeeplan check "$M" || status=$?\n'
            'if x; then beeplan -q plan "$M" > p.md; fi\n'
            "python3 - <<'PY'\nbeeplan = 1  # not a command\nPY\necho beeplan plan  # an echo\n"
            "beeplan plan \\\n  -o plan.json")
    assert list(beeplan_commands(text)) == [
        ["check", "$M"], ["-q", "plan", "$M"], ["plan", "-o", "plan.json"]]


def _commands_in(path: Path) -> list[str]:
    lines = [args for s in scripts(path) for args in beeplan_commands(s.text)]
    return [shlex.join(args) for args in lines + action_commands(path)]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.parent.name)
def test_each_recipe_covers_review_apply_and_drift(path: Path) -> None:
    lines = _commands_in(path)
    def has(pattern: str) -> bool:
        return any(re.fullmatch(pattern, line) for line in lines)
    assert has(r"validate \S+( --format github)?")
    assert has(r"diff \S+ \S+.*"), "a diff against the base branch"
    assert has(r"plan \S+ .*--format markdown.*"), "the plan for the review comment"
    # Options in any order: the action (examples/ci/github) writes its own order.
    # The plan is the job's own, in a folder of its own (never a plan.json of the checkout).
    assert has(r"plan \S+ -o \S+/plan\.json( .*)?"), "save the plan"
    assert has(r"apply \S+/plan\.json --manifests \S+ --auto-approve( .*)?"), (
        "apply the saved plan, checked against the manifests")
    assert not has(r"(plan|apply) .*(?<!\S)(\./)?plan\.json( .*)?"), "a plan.json of the checkout"
    assert has(r"plan \S+ (?=.*--changed-since \S+)(?=.*--format markdown).*"), (
        "the PR plan reads little")
    assert has(r"check \S+ (?=.*--max-calls \d+)(?=.*--state \S+).*"), "the budgeted drift check"
    # The comment is found by its marker: in the recipe, or in the action it uses.
    uses_action = bool(list(action_steps(path)))
    assert MARKER in path.read_text(encoding="utf-8") or (uses_action and action.MARKER == MARKER)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.parent.name)
def test_the_token_never_reaches_a_command_line(path: Path) -> None:
    for script in scripts(path):
        for args in beeplan_commands(script.text):
            assert "--token-file" not in args and not any("TOKEN" in a for a in args), args
        assert "secrets." not in script.text, f"{script.where}: use env, not ${{{{ secrets }}}}"
    if path == GITHUB:
        # Secrets enter only as environment variables.
        def walk(node: Any, key: str) -> Iterator[str]:
            if isinstance(node, dict):
                for k, v in node.items():
                    yield from walk(v, str(k))
            elif isinstance(node, list):
                for item in node:
                    yield from walk(item, key)
            elif isinstance(node, str) and "secrets." in node:
                yield key
        owners = set(walk(_load(path), ""))
        # `token` is the beeplan action's input: it hands it to beeplan as BEEBOLE_TOKEN
        # (tests/test_action.py checks that).
        assert owners and owners <= {"BEEBOLE_TOKEN", "HAS_TOKEN", "token"}, owners
        for step in action_steps(path):
            for key, value in step.get("with", {}).items():
                assert "secrets." not in str(value) or key == "token", (key, value)


def test_github_triggers() -> None:
    data = _load(GITHUB)
    on = data.get("on", data.get(True))  # YAML 1.1 reads a bare 'on' as true
    assert {"pull_request", "push", "schedule"} <= set(on)
    assert on["push"]["branches"] == ["main"]
    jobs = data["jobs"]
    assert "pull_request" in jobs["review"]["if"]
    assert "push" in jobs["apply"]["if"] and "refs/heads/main" in jobs["apply"]["if"]
    assert "schedule" in jobs["drift"]["if"]
    base = [s for s in jobs["review"]["steps"] if s.get("with", {}).get("path")]
    assert base and "base" in base[0]["with"]["ref"], "the base branch, checked out beside"
    assert jobs["review"]["permissions"]["pull-requests"] == "write"


def test_gitlab_rules() -> None:
    data = _load(GITLAB)
    def sources(job: str) -> str:
        return " ".join(r.get("if", "") for r in data[job]["rules"])
    assert "merge_request_event" in sources("beeplan:review")
    assert "CI_DEFAULT_BRANCH" in sources("beeplan:apply")
    assert "schedule" in sources("beeplan:drift")
    assert data["beeplan:apply"]["resource_group"], "one apply at a time"


def test_gitlab_review_fails_when_diff_refuses_the_new_set(tmp_path: Path) -> None:
    # diff exits 1 when the new set holds changes apply would refuse; a pipe into tee
    # (without pipefail) would pass the merge request anyway.
    block = next(s.text for s in scripts(GITLAB) if "beeplan diff" in s.text)
    start = block.index('if [ -e ".beeplan-base/$MANIFESTS" ]')
    diff_step = "status=0\n" + block[start:block.index("\nfi\n", start) + 4] + 'exit "$status"\n'
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stub = bin_dir / "beeplan"
    stub.write_text("#!/bin/sh\necho '! an impossible move'\nexit 1\n")
    stub.chmod(0o755)
    work = tmp_path / "work"
    (work / "m").mkdir(parents=True)
    (work / ".beeplan-out").mkdir()
    (work / ".beeplan-base" / "m").mkdir(parents=True)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "MANIFESTS": "m"}
    proc = subprocess.run(["bash", "-e", "-c", diff_step], cwd=work, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "an impossible move" in proc.stdout  # the reviewer still sees why


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.parent.name)
def test_shell_blocks_are_valid_shell(path: Path) -> None:
    for script in scripts(path):
        proc = subprocess.run(["bash", "-n"], input=script.text, capture_output=True, text=True)
        assert proc.returncode == 0, f"{script.where}: {proc.stderr}"


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.parent.name)
def test_shell_blocks_pass_shellcheck(path: Path) -> None:
    for script in scripts(path):
        proc = subprocess.run(["shellcheck", "--shell=bash", "--severity=warning", "-"],
                              input=script.text, capture_output=True, text=True)
        assert proc.returncode == 0, f"{script.where}:\n{proc.stdout}"


@pytest.mark.skipif(shutil.which("check-jsonschema") is None,
                    reason="check-jsonschema (pip) is not installed")
@pytest.mark.parametrize(("path", "schema"), [(GITHUB, "vendor.github-workflows"),
                                              (GITLAB, "vendor.gitlab-ci")],
                         ids=["github", "gitlab"])
def test_recipe_matches_the_ci_providers_schema(path: Path, schema: str) -> None:
    proc = subprocess.run(["check-jsonschema", "--builtin-schema", schema, str(path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_stub_detection() -> None:
    # Lines of a stub are xfail; the detection must not mistake a real command for one.
    @click.command("stub", context_settings={"ignore_unknown_options": True})
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def stub(args: tuple[str, ...]) -> None:
        """A command not implemented yet."""

    assert is_stub(stub)
    assert not is_stub(cli.commands["graph"])


# ---------------------------------------------------------------- hardening of the recipes


# On PATH, or beside this interpreter (a virtualenv that is not activated).
ZIZMOR = shutil.which("zizmor") or shutil.which("zizmor", path=str(Path(sys.executable).parent))


@pytest.mark.skipif(ZIZMOR is None, reason="zizmor (pip install -e .[test]) is not installed")
def test_zizmor_finds_nothing_in_the_action_and_the_recipes() -> None:
    # Offline: no GitHub API. The recipe file by name: zizmor collects a directory's
    # workflows only under .github/workflows.
    assert ZIZMOR is not None
    proc = subprocess.run([ZIZMOR, "--offline", "--no-progress", str(ROOT / "action.yml"),
                           str(GITHUB)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No findings" in proc.stdout + proc.stderr


def _github_steps() -> Iterator[tuple[str, dict[str, Any]]]:
    for name, job in _load(GITHUB)["jobs"].items():
        for step in job["steps"]:
            yield name, step


def test_github_recipe_pins_actions_and_keeps_no_credentials() -> None:
    text = GITHUB.read_text(encoding="utf-8")
    for job, step in _github_steps():
        uses = step.get("uses")
        if not uses:
            continue
        # A full commit SHA, the tag it stands for in a comment on the same line.
        assert re.fullmatch(r"[\w./-]+@[0-9a-f]{40}", uses), (job, uses)
        assert re.search(re.escape(uses) + r" # v\d+\.\d+\.\d+", text), (job, uses)
        if uses.startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False, job  # no job pushes
    for name, job in _load(GITHUB)["jobs"].items():
        assert 0 < job["timeout-minutes"] <= 180, name


def test_gitlab_jobs_have_timeouts() -> None:
    data = _load(GITLAB)
    for name in ("beeplan:review", "beeplan:apply", "beeplan:drift"):
        assert re.fullmatch(r"\d+[mh]", data[name]["timeout"]), name


def test_github_review_comment_is_replaced_when_validate_fails() -> None:
    # GitHub skips later steps after a failure unless their `if` says otherwise: the
    # plan step (which posts the comment, with the errors the plan stops on) runs anyway.
    steps = dict((s.get("name"), s) for _, s in _github_steps())
    plan = steps["Plan what the pull request changes"]
    assert "!cancelled()" in plan["if"] and "always()" not in plan["if"]
    assert plan["with"]["command"] == "plan" and plan["with"].get("comment", "true") == "true"
    # And it diffs the settings against the base: its comment opens with what they loosen.
    assert plan["with"]["base-path"] == plan["with"]["base"]
    # tests/test_action.py: a failed plan's comment holds the manifest errors
    # (test_a_plan_stopped_by_invalid_manifests_annotates_them_and_says_why) and a plan
    # comment opens with the settings changes
    # (test_a_plan_comment_opens_with_the_settings_the_pull_request_loosens).


def _git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    proc = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          check=True)
    return proc.stdout.strip()


def test_gitlab_review_on_a_reused_clone_with_an_attackers_note(tmp_path: Path) -> None:
    from .test_action import MockForge, entry_points

    # The project: main holds the manifests; a merge request adds a person.
    origin = tmp_path / "origin.git"
    _git(tmp_path, "init", "--quiet", "--bare", "-b", "main", str(origin))
    seed = tmp_path / "seed"
    _git(tmp_path, "clone", "--quiet", str(origin), str(seed))
    shutil.copytree(ROOT / "examples" / "acme", seed / "manifests")
    _git(seed, "add", ".")
    _git(seed, "commit", "--quiet", "-m", "manifests")
    _git(seed, "push", "--quiet", "origin", "HEAD:main")
    base_sha = _git(seed, "rev-parse", "HEAD")
    clone = tmp_path / "builds" / "project"  # the runner's clone, reused by every job
    _git(tmp_path, "clone", "--quiet", str(origin), str(clone))
    people = clone / "manifests" / "people.yaml"
    people.write_text(people.read_text() + "  - {xid: zoe, name: Zoe New, company: acme}\n")
    script = "\n".join(s.text for s in scripts(GITLAB) if ".beeplan-out" in s.text
                       and "beeplan:review" in s.where)
    with MockForge("gitlab", 42) as gitlab:
        attackers = gitlab.add(666, f"{MARKER}\nNo changes. Merge away.")
        env = {**os.environ, "PATH": f"{entry_points(tmp_path / 'bin')}{os.pathsep}"
               f"{os.environ['PATH']}", "MANIFESTS": "manifests", "PLAN_MARKER": MARKER,
               "NO_COLOR": "1", "CI_API_V4_URL": f"{gitlab.url}/api/v4", "CI_PROJECT_ID": "1",
               "CI_MERGE_REQUEST_IID": "3", "CI_JOB_URL": "https://gitlab.example/job/1",
               "CI_MERGE_REQUEST_DIFF_BASE_SHA": base_sha,
               "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main", "BEEBOLE_TOKEN": "t",
               "BEEBOLE_ENDPOINT": f"sandbox:{tmp_path / 'acct.db'}",
               "BEEPLAN_GITLAB_TOKEN": "glpat-x", "BEEPLAN_CACHE_DIR": str(tmp_path / "c")}

        def job() -> subprocess.CompletedProcess[str]:
            # GitLab runs a job's script lines in bash with errexit and pipefail.
            return subprocess.run(["bash", "-eo", "pipefail", "-c", script], cwd=clone, env=env,
                                  capture_output=True, text=True, timeout=300)

        first = job()
        assert first.returncode == 0, first.stdout + first.stderr
        assert "plan note posted" in first.stdout
        ours = gitlab.comments[-1]
        assert ours["author"]["id"] == 42 and "Zoe New" in ours["body"]
        assert ours["body"].startswith(MARKER) and ours["body"].count(MARKER) == 1
        # The next push breaks the manifests: the note shows the errors, not the old plan.
        (clone / "manifests" / "extra.yaml").write_text(
            "people:\n  - {xid: z, name: Z, company: nope}\n")
        second = job()
        assert second.returncode == 1 and "plan note updated" in second.stdout, second.stdout
        assert "beeplan validate failed" in ours["body"] and "nope" in ours["body"]
        assert "Zoe New" not in ours["body"]
        # Fixed again, in the same clone: the base checkout is made again, not refused.
        (clone / "manifests" / "extra.yaml").unlink()
        third = job()
        assert third.returncode == 0, third.stdout + third.stderr
        assert "Zoe New" in ours["body"] and len(gitlab.comments) == 2
        # The attacker's note was never the one edited (GitLab would have answered 403).
        assert attackers["body"] == f"{MARKER}\nNo changes. Merge away."
        assert not [p for m, p in gitlab.calls if m == "PUT" and p.endswith(f"/{attackers['id']}")]
