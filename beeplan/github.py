"""GitHub Actions: the job summary, the single pull-request comment, the action's steps.

``action.yml`` at the repository root calls ``beeplan-github run`` (this
module's console script, from the action's own virtual environment) for its
work, so the same code runs in a workflow and in the tests: it runs one
beeplan command with the action's inputs (read from ``INPUT_*`` environment
variables, as GitHub passes them), writes the step outputs, the job summary
and the annotations, and leaves the comment body in a file that
``beeplan-github comment`` posts or updates through the GitHub REST API.

The checkout is data: the action never imports from it (no ``python -m``
with the working directory on ``sys.path``), never applies a plan file
found in it, and writes its own files (plans, comment bodies) only under
``$RUNNER_TEMP/beeplan``, never through a symlink.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import stat
import subprocess
import sys
import tempfile
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
DEFAULT_PLAN = "plan.json"
# The Actions GITHUB_TOKEN cannot read GET /user (403); its comments are this user's.
ACTIONS_BOT = "github-actions[bot]"


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
    plan_file: str = ""  # a file name under $RUNNER_TEMP/beeplan; empty: plan.json, leniently
    args: str = ""
    comment: bool = True

    @property
    def plan_name(self) -> str:
        """The name the plan step saves under, and the apply step looks for."""
        return self.plan_file or DEFAULT_PLAN

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
            plan_file=_plan_name(get("plan-file")),
            args=get("args"),
            comment=get("comment", "true").lower() not in ("false", "0", "no"),
        )


@dataclass(frozen=True)
class Step:
    """The beeplan command line(s) a run makes, and where the outputs go."""

    argv: tuple[str, ...]
    markdown: bool  # its stdout is Markdown for the summary and the comment


def command_line(inputs: Inputs, plans: Path, plan_exists: bool | None = None) -> Step:
    """The beeplan invocation for the action's inputs (the token only ever in the env).

    ``plans`` is the action's own folder, ``$RUNNER_TEMP/beeplan``: ``plan``
    saves its plan there, and ``apply`` applies only a plan found there
    (``plan_exists``: None looks at the disk), which a plan step of this job
    wrote. A plan file in the checkout is never read. Without one, ``apply``
    plans ``path`` and applies that, unless ``plan-file`` was given: then the
    missing plan is an error (the plan step failed, or ran in another job).
    """
    extra = tuple(shlex.split(inputs.args))
    endpoint = ("--endpoint", inputs.endpoint) if inputs.endpoint else ()
    # A base checkout without the manifests yet: everything is new, so a full plan.
    since = ("--changed-since", inputs.base) if inputs.base and not _absent(inputs.base) else ()
    plan_path = str(plans / inputs.plan_name)
    if inputs.command == "validate":
        return Step(("validate", inputs.path, "--format", "github", *extra), False)
    if inputs.command == "diff":
        if not inputs.base_path:
            raise ConfigError("input base-path: diff needs the base branch's manifests")
        return Step(("diff", inputs.base_path, inputs.path, "--format", "markdown",
                     "--detailed-exitcode", *extra), True)
    if inputs.command == "plan":
        return Step(("plan", inputs.path, "-o", plan_path, "--format", "markdown",
                     "--detailed-exitcode", *since, *endpoint, *extra), True)
    if inputs.command == "check":
        return Step(("check", inputs.path, "--format", "markdown", *since, *endpoint, *extra),
                    True)
    saved = _is_regular_file(plans / inputs.plan_name) if plan_exists is None else plan_exists
    if saved:
        # The plan is checked against the manifests at `path`, the ones this workflow names.
        manifests = ("--manifests", inputs.path) if _apply_takes("--manifests") else ()
        return Step(("apply", plan_path, *manifests, "--auto-approve", *endpoint, *extra), False)
    if inputs.plan_file:
        raise ConfigError(
            f"input plan-file: no plan {inputs.plan_file!r} was saved in this job (the action "
            f"keeps plans in {plans}, never in the checkout). Run the action with "
            "command: plan and the same plan-file earlier in this job, or leave plan-file "
            "empty to plan and apply path in one go.")
    return Step(("apply", inputs.path, "--auto-approve", *endpoint, *extra), False)


def _plan_name(name: str) -> str:
    """``plan-file``: a plain file name, kept in the action's own folder."""
    if name and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", name):
        raise ConfigError(
            f"input plan-file: {name!r} is not a plain file name such as plan.json; the "
            "action keeps its plans under $RUNNER_TEMP/beeplan, never in the checkout "
            "(the plan-file output gives the full path, e.g. to upload it)")
    return name


def _apply_takes(option: str) -> bool:
    """Whether this beeplan's ``apply`` has ``option`` (the action runs with its own CLI)."""
    from .cli import cli

    command = cli.commands.get("apply")
    return command is not None and any(
        option in (*p.opts, *p.secondary_opts) for p in command.params)


def _is_regular_file(path: Path) -> bool:
    """A regular file itself, not a symlink to one."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def action_folder(env: Mapping[str, str], workdir: Path) -> Path:
    """``$RUNNER_TEMP/beeplan``: the only place the action writes its files.

    Outside the checkout, so nothing a pull request commits is read as the
    action's own (a plan, a comment body) or can redirect a write (a symlink).
    """
    temp = env.get("RUNNER_TEMP", "")
    if not temp:
        raise ConfigError("RUNNER_TEMP is not set: the action keeps its plans and comment "
                          "there (GitHub Actions sets it for every job)")
    folder = Path(temp).resolve() / "beeplan"
    if folder == workdir.resolve() or workdir.resolve() in folder.parents:
        raise ConfigError(f"RUNNER_TEMP ({temp}) is inside the checkout: the action will "
                          "not keep its files where a pull request can place its own")
    try:
        folder.mkdir(mode=0o700)
    except FileExistsError:
        pass
    if not stat.S_ISDIR(os.lstat(folder).st_mode):  # lstat: a symlink is not the folder
        raise ConfigError(f"{folder} is not a directory: remove it and re-run the job")
    return folder


def write_fresh(path: Path, text: str) -> None:
    """Write ``text`` to a new file at ``path``: never through a symlink, never into another.

    Whatever is at ``path`` (an old file, a symlink) is removed first, and the
    file is created with O_EXCL | O_NOFOLLOW, so a link placed there cannot
    send the write elsewhere.
    """
    if os.path.islink(path) or os.path.isfile(path):
        os.unlink(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    with os.fdopen(os.open(path, flags, 0o600), "w", encoding="utf-8") as out:
        out.write(text)


def read_own(path: Path) -> str:
    """Read a file the action wrote, refusing a symlink in its place."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, encoding="utf-8") as file:
        return file.read()


def _comment_file(folder: Path, command: str, text: str) -> Path:
    """A new comment-body file of this step (each step its own; O_EXCL, mode 0600)."""
    fd, name = tempfile.mkstemp(prefix=f"comment-{command}-", suffix=".md", dir=folder)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    return Path(name)


def own_beeplan() -> tuple[str, ...]:
    """The command that runs this very beeplan, never one found in the working directory.

    ``python -m beeplan`` would put the working directory (the checkout) first
    on ``sys.path``, where a committed ``beeplan/`` package or ``yaml.py``
    would be imported in its place, inside the step that holds the token.
    This drops that entry before importing anything, and puts the folder this
    module was loaded from first, so the child runs the same code as the action.
    """
    home = str(Path(__file__).resolve().parent.parent)
    boot = ("import sys; sys.path[:] = [p for p in sys.path if p not in ('', '.')]; "
            f"sys.path.insert(0, {home!r}) if {home!r} not in sys.path else None; "
            "sys.argv[0] = 'beeplan'; from beeplan.cli import entry; entry()")
    return (sys.executable, "-c", boot)


def _absent(base: str) -> bool:
    """A path (not a git revision) into a directory that exists, to nothing."""
    path = Path(base)
    return not path.exists() and len(path.parts) > 1 and path.parent.is_dir()


MEANING = {0: "no-changes", 2: "changes", 1: "error", 130: "interrupted", 143: "interrupted"}


def run_action(
    env: Mapping[str, str],
    beeplan: Sequence[str] | None = None,
    cwd: str | Path | None = None,
) -> int:
    """One step of the action: run beeplan, then write outputs, summary, annotations.

    Returns beeplan's exit status, except that "changes present" (2) is a
    success for the step: it is reported in the ``result`` output instead.
    """
    inputs = Inputs.from_env(env)
    beeplan = tuple(beeplan or own_beeplan())
    workdir = Path(cwd or os.getcwd())
    folder = action_folder(env, workdir)
    plan_file = folder / inputs.plan_name
    if inputs.command == "diff" and inputs.base_path and _absent(str(workdir / inputs.base_path)):
        body = f"{MARKER}\n### beeplan diff\n\nThe base branch has no {inputs.path} yet: " \
            "everything is new.\n"
        sys.stdout.write(body)
        if env.get("GITHUB_STEP_SUMMARY"):
            write_step_summary(lambda n: _cut(body, n), env["GITHUB_STEP_SUMMARY"])
        absent = _comment_file(folder, inputs.command, body)
        _write_outputs(env, {"exit-code": "2", "result": "changes", "changes": "true",
                             "plan-file": "", "comment-file": str(absent)})
        return 0
    if inputs.command == "plan" and os.path.lexists(plan_file):
        # A plan left by an earlier step must not pass for this run's (its path as an
        # output, its problems as annotations, or applied) when this one fails.
        os.unlink(plan_file)
    step = command_line(inputs, folder)
    child = dict(env)
    if not child.get("BEEBOLE_TOKEN"):
        child.pop("BEEBOLE_TOKEN", None)  # no token input: as if none was set
    proc = subprocess.run([*beeplan, *step.argv], cwd=workdir, env=child,
                          capture_output=True, text=True, check=False)
    sys.stderr.write(proc.stderr)
    code = proc.returncode
    sys.stdout.write(proc.stdout)  # the job log shows what the summary and comment show
    if code == 1 and inputs.command != "validate" and not proc.stdout.strip():
        # Stopped before planning, perhaps by the manifests: their errors on their lines,
        # as the validate command gives them (offline, no API call).
        sys.stdout.write(_manifest_annotations(inputs, workdir, beeplan, child, step))
    comment: Path | None = None
    if step.markdown:
        sys.stdout.write(_annotations_of_plan(plan_file) if inputs.command == "plan" else "")
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
        if inputs.command in ("plan", "check") and inputs.base_path:
            body = _with_settings_changes(body, inputs, workdir, beeplan, child)
        comment = _comment_file(folder, inputs.command, comment_body(body))
    applied = inputs.command == "apply" and code == 0 and _reported_an_apply(proc.stdout)
    outputs = {
        "exit-code": str(code),
        "result": "applied" if applied else MEANING.get(code, "error"),
        "changes": "true" if code == 2 or applied else "false",
        "plan-file": str(plan_file) if inputs.command == "plan"
        and _is_regular_file(plan_file) else "",
        "comment-file": str(comment or ""),
    }
    _write_outputs(env, outputs)
    return 0 if code == 2 else code


def _reported_an_apply(stdout: str) -> bool:
    """apply's closing report ("Apply: 3 created ..."): it made calls, not "No changes"."""
    return any(line.startswith("Apply: ") for line in stdout.splitlines())


def _with_settings_changes(
    body: str, inputs: Inputs, workdir: Path, beeplan: Sequence[str], env: Mapping[str, str]
) -> str:
    """The comment, opened by the settings the pull request changes (``beeplan diff``).

    A pull request that loosens ``settings.safety`` or turns prune on changes
    no entity, so the plan alone may say little; the reviewer reads it here
    first. (diff is offline: no API call, no token needed.)
    """
    if _absent(str(workdir / inputs.base_path)):
        return body  # no manifests on the base branch: the whole plan is new
    proc = subprocess.run([*beeplan, "diff", inputs.base_path, inputs.path, "--format", "json"],
                          cwd=workdir, env=dict(env), capture_output=True, text=True,
                          check=False)
    try:
        lines = [printable(str(line)) for line in json.loads(proc.stdout)["settings_changes"]]
    except (ValueError, KeyError, TypeError):
        return body  # the diff failed: the diff step (or the plan's own errors) says why
    if not lines:
        return body
    opening, closing = fence(lines, "text")
    section = "\n".join(["**Settings this pull request changes** (beeplan diff against "
                          "the base branch):", "", opening, *lines, closing, "", ""])
    rest = body[len(MARKER):].lstrip("\n") if body.startswith(MARKER) else body
    return f"{MARKER}\n{section}{rest}"


def _manifest_annotations(
    inputs: Inputs, workdir: Path, beeplan: Sequence[str], env: Mapping[str, str], step: Step
) -> str:
    """``validate --format github`` of the pull request's manifests, annotations only.

    (For diff, the base branch's files are not in the pull request: not those.)
    """
    if inputs.command == "apply" and step.argv[1] != inputs.path:
        return ""  # a saved plan: its manifests were validated when it was made
    proc = subprocess.run([*beeplan, "validate", inputs.path, "--format", "github"],
                          cwd=workdir, env=dict(env), capture_output=True, text=True,
                          check=False)
    return "".join(line for line in proc.stdout.splitlines(keepends=True)
                   if line.startswith(("::error ", "::warning ")))


def _annotations_of_plan(file: Path) -> str:
    """The saved plan's diagnostics as annotations (plan runs with Markdown on stdout)."""
    from .annotations import Annotation, workflow_command

    if not _is_regular_file(file):
        return ""
    try:
        doc = json.loads(read_own(file))
    except (OSError, ValueError):
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
    api: Callable[[str, str, Any], Any], repo: str, number: int, body: str, author: str
) -> str:
    """Update the one comment that starts with the marker and ``author`` wrote, or create it.

    Anyone can comment on a pull request, and start a comment with the
    marker: only a comment of the identity that posts (``author``, the
    token's login) is beeplan's own. ``api(method, path, json)`` calls the
    GitHub REST API and returns the decoded answer. Returns "updated" or "created".
    """
    page = 1
    while True:
        comments = api("GET", f"/repos/{repo}/issues/{number}/comments?per_page=100&page={page}",
                       None)
        for c in comments:
            login = (c.get("user") or {}).get("login")
            if login == author and str(c.get("body", "")).startswith(MARKER):
                api("PATCH", f"/repos/{repo}/issues/comments/{c['id']}", {"body": body})
                return "updated"
        if len(comments) < 100:
            break
        page += 1
    api("POST", f"/repos/{repo}/issues/{number}/comments", {"body": body})
    return "created"


def token_login(api: Callable[[str, str, Any], Any]) -> str:
    """The login the token posts as: ``GET /user``; the Actions token is github-actions[bot].

    The Actions ``GITHUB_TOKEN`` (an app installation token) is refused
    ``/user`` with 403; any other failure is an error (no comment is edited
    on a guess).
    """
    import requests

    try:
        return str(api("GET", "/user", None)["login"])
    except requests.HTTPError as exc:
        if exc.response is not None and exc.response.status_code == 403:
            return ACTIONS_BOT
        raise


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
    body = comment_body(read_own(Path(comment_file)))
    api = github_api(env["GITHUB_TOKEN"], env.get("GITHUB_API_URL", "https://api.github.com"))
    return upsert_comment(api, env["GITHUB_REPOSITORY"], int(number), body, token_login(api))


def _error_comment(error: Exception) -> str:
    """The comment for a step stopped by its inputs: the error, so no earlier plan stays."""
    command = os.environ.get("INPUT_COMMAND", "").strip() or "plan"
    if command not in ("diff", "plan", "check"):
        return ""  # the commands that comment; validate and apply never do
    try:
        folder = action_folder(os.environ, Path.cwd())
        lines = [printable(str(error))]
        opening, closing = fence(lines, "text")
        body = "\n".join([MARKER, f"### beeplan {printable(command)} failed", "", opening,
                          *lines, closing, ""])
        return str(_comment_file(folder, "error", body))
    except (ConfigError, OSError):
        return ""  # no folder of its own: no comment (the error annotation says why)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if args[:1] == ["run"]:
            try:
                return run_action(os.environ)
            except OSError as exc:  # the action's folder or a file in it: say which, no trace
                error = ConfigError(f"the action could not use its files: {exc}")
            except ConfigError as exc:
                error = exc
            print(f"::error title=beeplan::{escape_data(str(error))}")
            _write_outputs(os.environ, {"exit-code": "1", "result": "error", "changes": "false",
                                        "plan-file": "", "comment-file": _error_comment(error)})
            return 1
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
    print("usage: beeplan-github run | comment FILE", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
