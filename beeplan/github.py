"""GitHub Actions: the job summary, the single pull-request comment, the action's steps.

``action.yml`` at the repository root calls ``python -m beeplan.github run``
for its work, so the same code runs in a workflow and in the tests: it runs
one beeplan command with the action's inputs (read from ``INPUT_*``
environment variables, as GitHub passes them), writes the step outputs,
the job summary and the annotations, and leaves the comment body in a file
that ``python -m beeplan.github comment`` posts or updates through the
GitHub REST API.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .annotations import escape_data
from .errors import ConfigError
from .render.common import fence
from .safetext import printable

# GitHub's limits: a step summary file may hold 1 MiB, a comment 65,535 characters.
SUMMARY_LIMIT_BYTES = 1024 * 1024
COMMENT_LIMIT_CHARS = 65_535
MARKER = "<!-- beeplan-plan -->"
COMMANDS = ("validate", "diff", "plan", "check", "apply")


def fit_bytes(render: Callable[[int], str], limit: int) -> str:
    """``render(max_chars)`` made to fit ``limit`` UTF-8 bytes (names may be multi-byte)."""
    max_chars = limit
    text = render(max_chars)
    for _ in range(5):
        size = len(text.encode("utf-8"))
        if size <= limit:
            return text
        max_chars = max(1000, max_chars * limit // size - 1024)
        text = render(max_chars)
    return text.encode("utf-8")[:limit].decode("utf-8", "ignore")


def write_step_summary(render: Callable[[int], str], path: str | Path | None = None) -> int:
    """Append Markdown to ``$GITHUB_STEP_SUMMARY`` within what is left of its 1 MiB.

    ``render(max_chars)`` gives the Markdown capped at ``max_chars``; earlier
    writes of the same step count against the limit. Returns the bytes written.
    """
    target = path or os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        raise ConfigError("--summary: GITHUB_STEP_SUMMARY is not set (it is, in GitHub Actions)")
    file = Path(target)
    used = file.stat().st_size if file.exists() else 0
    room = SUMMARY_LIMIT_BYTES - used - 2
    if room < 2000:
        return 0  # the step already filled its summary; the log still has everything
    data = ("\n" + fit_bytes(render, room)).encode("utf-8")
    with file.open("ab") as out:
        out.write(data)
    return len(data)


def summary_wanted(flag: bool | None, fmt: str, env: Mapping[str, str] | None = None) -> bool:
    """``--summary``/``--no-summary``, else automatic: Markdown output under GitHub Actions.

    Asked for outside GitHub Actions it is an error now, before any API call,
    rather than after the plan has spent them.
    """
    env = os.environ if env is None else env
    if flag and not env.get("GITHUB_STEP_SUMMARY"):
        raise ConfigError("--summary: GITHUB_STEP_SUMMARY is not set (it is, in GitHub Actions)")
    if flag is not None:
        return flag
    return fmt == "markdown" and bool(env.get("GITHUB_STEP_SUMMARY"))


# ---------------------------------------------------------------- the action's steps


@dataclass(frozen=True)
class Inputs:
    """The composite action's inputs (``with:``), passed by action.yml as ``INPUT_<NAME>``.

    (``-`` in a name becomes ``_``: a shell cannot name a variable with a dash.)
    """

    command: str
    path: str
    base: str = ""  # a git ref: plan/check --changed-since
    base_path: str = ""  # diff: the base branch's manifests, checked out beside
    endpoint: str = ""
    plan_file: str = "plan.json"
    args: str = ""
    comment: bool = True

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Inputs:
        def get(name: str, default: str = "") -> str:
            # action.yml passes INPUT_PLAN_FILE; GitHub's own INPUT_PLAN-FILE (as it
            # sets them for JavaScript actions) is read too.
            keys = ("INPUT_" + name.upper().replace("-", "_"), "INPUT_" + name.upper())
            return next((env[k].strip() for k in keys if env.get(k, "").strip()), default)

        command = get("command", "plan")
        if command not in COMMANDS:
            raise ConfigError(f"input command: {command!r} is not one of {', '.join(COMMANDS)}")
        return cls(
            command=command,
            path=get("path", "manifests"),
            base=get("base"),
            base_path=get("base-path"),
            endpoint=get("endpoint"),
            plan_file=get("plan-file", "plan.json"),
            args=get("args"),
            comment=get("comment", "true").lower() not in ("false", "0", "no"),
        )


@dataclass(frozen=True)
class Step:
    """The beeplan command line(s) a run makes, and where the outputs go."""

    argv: tuple[str, ...]
    markdown: bool  # its stdout is Markdown for the summary and the comment


def command_line(inputs: Inputs, plan_exists: bool | None = None) -> Step:
    """The beeplan invocation for the action's inputs (the token only ever in the env).

    ``apply`` applies the saved plan when ``plan-file`` exists (``plan_exists``:
    None looks at the disk), else plans ``path`` and applies that.
    """
    extra = tuple(shlex.split(inputs.args))
    endpoint = ("--endpoint", inputs.endpoint) if inputs.endpoint else ()
    # A base checkout without the manifests yet: everything is new, so a full plan.
    since = ("--changed-since", inputs.base) if inputs.base and not _absent(inputs.base) else ()
    if inputs.command == "validate":
        return Step(("validate", inputs.path, "--format", "github", *extra), False)
    if inputs.command == "diff":
        if not inputs.base_path:
            raise ConfigError("input base-path: diff needs the base branch's manifests")
        return Step(("diff", inputs.base_path, inputs.path, "--format", "markdown",
                     "--detailed-exitcode", *extra), True)
    if inputs.command == "plan":
        return Step(("plan", inputs.path, "-o", inputs.plan_file, "--format", "markdown",
                     "--detailed-exitcode", *since, *endpoint, *extra), True)
    if inputs.command == "check":
        return Step(("check", inputs.path, "--format", "markdown", *since, *endpoint, *extra),
                    True)
    saved = Path(inputs.plan_file).is_file() if plan_exists is None else plan_exists
    target = inputs.plan_file if saved else inputs.path
    return Step(("apply", target, "--auto-approve", *endpoint, *extra), False)


def _absent(base: str) -> bool:
    """A path (not a git revision) into a directory that exists, to nothing."""
    path = Path(base)
    return not path.exists() and len(path.parts) > 1 and path.parent.is_dir()


MEANING = {0: "no-changes", 2: "changes", 1: "error", 130: "interrupted", 143: "interrupted"}


def run_action(
    env: Mapping[str, str],
    beeplan: Sequence[str] = (sys.executable, "-m", "beeplan"),
    cwd: str | Path | None = None,
) -> int:
    """One step of the action: run beeplan, then write outputs, summary, annotations.

    Returns beeplan's exit status, except that "changes present" (2) is a
    success for the step: it is reported in the ``result`` output instead.
    """
    inputs = Inputs.from_env(env)
    workdir = Path(cwd or os.getcwd())
    if inputs.command == "diff" and inputs.base_path and _absent(str(workdir / inputs.base_path)):
        body = f"{MARKER}\n### beeplan diff\n\nThe base branch has no {inputs.path} yet: " \
            "everything is new.\n"
        sys.stdout.write(body)
        if env.get("GITHUB_STEP_SUMMARY"):
            write_step_summary(lambda n: _cut(body, n), env["GITHUB_STEP_SUMMARY"])
        (workdir / "beeplan-comment.md").write_text(body, encoding="utf-8")
        _write_outputs(env, {"exit-code": "2", "result": "changes", "changes": "true",
                             "plan-file": "", "comment-file": str(workdir / "beeplan-comment.md")})
        return 0
    step = command_line(inputs)
    child = dict(env)
    if not child.get("BEEBOLE_TOKEN"):
        child.pop("BEEBOLE_TOKEN", None)  # no token input: as if none was set
    if inputs.command == "plan":
        # A plan file left by an earlier run must not pass for this run's (its
        # path as an output, its problems as annotations) when this one fails.
        (workdir / inputs.plan_file).unlink(missing_ok=True)
    proc = subprocess.run([*beeplan, *step.argv], cwd=workdir, env=child,
                          capture_output=True, text=True, check=False)
    sys.stderr.write(proc.stderr)
    code = proc.returncode
    sys.stdout.write(proc.stdout)  # the job log shows what the summary and comment show
    if code == 1 and inputs.command != "validate" and not proc.stdout.strip():
        # Stopped before planning, perhaps by the manifests: their errors on their lines,
        # as the validate command gives them (offline, no API call).
        sys.stdout.write(_manifest_annotations(inputs, workdir, beeplan, child))
    if step.markdown:
        sys.stdout.write(_annotations_of_plan(inputs, workdir) if inputs.command == "plan" else "")
        is_markdown = proc.stdout.lstrip().startswith(MARKER) or inputs.command == "diff"
        if not proc.stdout.strip():
            body = _failed_body(inputs.command, env, proc.stderr)
        elif is_markdown:
            body = proc.stdout
        else:  # a budgeted check prints text: shown as such
            body = f"{MARKER}\n### beeplan {inputs.command}\n\n```text\n{proc.stdout}```\n"
        # plan and check write their Markdown summary themselves (under GitHub Actions).
        if env.get("GITHUB_STEP_SUMMARY") and (inputs.command == "diff" or not is_markdown):
            write_step_summary(lambda n: _cut(body, n), env["GITHUB_STEP_SUMMARY"])
        comment = workdir / "beeplan-comment.md"
        comment.write_text(comment_body(body), encoding="utf-8")
    outputs = {
        "exit-code": str(code),
        "result": MEANING.get(code, "error"),
        "changes": "true" if code == 2 else "false",
        "plan-file": str(workdir / inputs.plan_file) if inputs.command == "plan"
        and (workdir / inputs.plan_file).is_file() else "",
        "comment-file": str(workdir / "beeplan-comment.md") if step.markdown else "",
    }
    _write_outputs(env, outputs)
    return 0 if code == 2 else code


def _manifest_annotations(
    inputs: Inputs, workdir: Path, beeplan: Sequence[str], env: Mapping[str, str]
) -> str:
    """``validate --format github`` of the pull request's manifests, annotations only.

    (For diff, the base branch's files are not in the pull request: not those.)
    """
    if inputs.command == "apply" and (workdir / inputs.plan_file).is_file():
        return ""  # a saved plan: its manifests were validated when it was made
    proc = subprocess.run([*beeplan, "validate", inputs.path, "--format", "github"],
                          cwd=workdir, env=dict(env), capture_output=True, text=True,
                          check=False)
    return "".join(line for line in proc.stdout.splitlines(keepends=True)
                   if line.startswith(("::error ", "::warning ")))


def _annotations_of_plan(inputs: Inputs, workdir: Path) -> str:
    """The saved plan's diagnostics as annotations (plan runs with Markdown on stdout)."""
    from .annotations import Annotation, workflow_command

    file = workdir / inputs.plan_file
    if not file.is_file():
        return ""
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except ValueError:
        return ""
    lines = []
    for d in doc.get("diagnostics", []):
        lines.append(workflow_command(Annotation(d["summary"], d.get("file"), d.get("line"),
                                                 d.get("severity", "error"))))
    return "".join(line + "\n" for line in lines)


def _failed_body(command: str, env: Mapping[str, str], stderr: str = "") -> str:
    """The comment when the command printed nothing: its error, and where the log is."""
    run = "{}/{}/actions/runs/{}".format(env.get("GITHUB_SERVER_URL", "https://github.com"),
                                         env.get("GITHUB_REPOSITORY", ""),
                                         env.get("GITHUB_RUN_ID", ""))
    body = f"{MARKER}\n### beeplan {command} failed\n\n"
    # The error's own lines (beeplan never prints the token); the tail, if it is long.
    lines = [printable(line) for line in stderr.splitlines() if line.strip()][-40:]
    if lines:
        opening, closing = fence(lines, "text")
        body += "\n".join([opening, *lines, closing]) + "\n\n"
    return body + f"See the log of run {run}.\n"


def _cut(text: str, max_chars: int) -> str:
    if len(text) <= max_chars:
        return text
    note = "\n\n*Cut: this text is longer than GitHub allows here; the job log has it all.*\n"
    return text[: max_chars - len(note)].rsplit("\n", 1)[0] + note


def comment_body(markdown: str) -> str:
    """The pull-request comment: starts with the marker, within 65,535 characters."""
    body = markdown if markdown.startswith(MARKER) else f"{MARKER}\n{markdown}"
    return _cut(body, COMMENT_LIMIT_CHARS - 35)


def _write_outputs(env: Mapping[str, str], outputs: Mapping[str, str]) -> None:
    target = env.get("GITHUB_OUTPUT")
    if not target:
        return
    with open(target, "a", encoding="utf-8") as out:
        for key, value in outputs.items():
            out.write(f"{key}={value}\n")  # values are single lines


# ---------------------------------------------------------------- the comment


def upsert_comment(
    api: Callable[[str, str, Any], Any], repo: str, number: int, body: str
) -> str:
    """Update the one comment that starts with the marker, or create it.

    ``api(method, path, json)`` calls the GitHub REST API and returns the
    decoded answer. Returns "updated" or "created".
    """
    page = 1
    while True:
        comments = api("GET", f"/repos/{repo}/issues/{number}/comments?per_page=100&page={page}",
                       None)
        for c in comments:
            if str(c.get("body", "")).startswith(MARKER):
                api("PATCH", f"/repos/{repo}/issues/comments/{c['id']}", {"body": body})
                return "updated"
        if len(comments) < 100:
            break
        page += 1
    api("POST", f"/repos/{repo}/issues/{number}/comments", {"body": body})
    return "created"


def github_api(token: str, base: str = "https://api.github.com") -> Callable[[str, str, Any], Any]:
    import requests

    session = requests.Session()
    session.headers.update({"Authorization": f"Bearer {token}",
                            "Accept": "application/vnd.github+json",
                            "X-GitHub-Api-Version": "2022-11-28"})

    def call(method: str, path: str, payload: Any) -> Any:
        response = session.request(method, base + path, json=payload, timeout=30,
                                   allow_redirects=False)
        response.raise_for_status()
        return response.json()

    return call


def post_comment(env: Mapping[str, str], comment_file: str) -> str:
    """Post or update the pull-request comment from ``comment_file`` (the action's last step)."""
    event_path = env.get("GITHUB_EVENT_PATH", "")
    event = json.loads(Path(event_path).read_text()) if event_path else {}
    number = (event.get("pull_request") or {}).get("number")
    if not number:
        return "skipped: not a pull request"
    body = comment_body(Path(comment_file).read_text(encoding="utf-8"))
    api = github_api(env["GITHUB_TOKEN"], env.get("GITHUB_API_URL", "https://api.github.com"))
    return upsert_comment(api, env["GITHUB_REPOSITORY"], int(number), body)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if args[:1] == ["run"]:
            return run_action(os.environ)
        if args[:1] == ["comment"] and len(args) == 2:
            try:
                print(f"beeplan comment: {post_comment(os.environ, args[1])}")
            except OSError as exc:  # requests' errors are OSErrors: HTTP 403, no network
                # The plan is in the job summary and the log anyway: say it, do not fail.
                print(f"::warning title=beeplan::the pull-request comment was not posted "
                      f"({escape_data(str(exc))}); does the job have pull-requests: write?")
            return 0
    except ConfigError as exc:
        print(f"::error title=beeplan::{escape_data(str(exc))}")
        return 1
    print("usage: python -m beeplan.github run | comment FILE", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
