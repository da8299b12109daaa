"""Options shared by several commands, each defined once, and the client factory."""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import click

from .. import platforms
from ..errors import ConfigError
from ..safetext import printable

F = TypeVar("F", bound=Callable[..., Any])

SANDBOX_PREFIX = "sandbox:"


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time of each record.

    Binding the stream once would keep writing to a replaced (and perhaps
    closed) stderr, e.g. after a test harness swapped it out.
    """

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


class _EscapingFormatter(logging.Formatter):
    """Each line escaped: a record may quote what a client sent the sandbox, or an account."""

    def format(self, record: logging.LogRecord) -> str:
        return "\n".join(printable(line) for line in super().format(record).split("\n"))


def setup_logging(verbose: int, quiet: bool) -> None:
    level = (
        logging.ERROR
        if quiet
        else (logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING)
    )
    handler = _StderrHandler()
    handler.setFormatter(_EscapingFormatter("%(name)s: %(message)s"))
    root = logging.getLogger("beeplan")
    root.handlers[:] = [handler]
    root.setLevel(level)


def endpoint_options(func: F) -> F:
    """--endpoint and --token-file: where the account is and how to authenticate."""
    func = click.option(
        "--token-file",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Read the API token from this file (default: $BEEBOLE_TOKEN). "
        "Never put the token on the command line.",
    )(func)
    func = click.option(
        "--endpoint",
        envvar="BEEBOLE_ENDPOINT",
        default=platforms.default().default_endpoint,
        show_default=True,
        metavar="URL|sandbox:FILE",
        help="API URL ($BEEBOLE_ENDPOINT). Beebole's current platform (a set with "
        "settings.platform: current): https://app.beebole.com/graphql, or "
        "http://127.0.0.1:PORT/graphql of 'beeplan sandbox serve'. 'sandbox:demo.db' "
        "runs the local emulator in-process over that SQLite file, no token needed (of "
        "the platform the manifests are written for).",
    )(func)
    return func


def parallelism_option(func: F) -> F:
    return click.option(
        "--parallelism",
        type=click.IntRange(1, 32),
        default=4,
        show_default=True,
        help="How many API calls run at once.",
    )(func)


def format_option(func: F) -> F:
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(["text", "json", "markdown"]),
        default="text",
        show_default=True,
        help="Output format.",
    )(func)


def detailed_exitcode_option(func: F) -> F:
    return click.option(
        "--detailed-exitcode",
        is_flag=True,
        help="Exit 2 when there are changes (0: none, 1: error).",
    )(func)


def usage_days_option(func: F) -> F:
    return click.option(
        "--usage-days",
        type=click.IntRange(0, 3660),
        default=90,
        show_default=True,
        metavar="N",
        help="Show the hours logged over the last N days on each entity the plan "
        "deactivates (Beebole's time export: a few API calls). 0: no lookup.",
    )(func)


def max_kb_option(func: F) -> F:
    """``--max-kb K`` beside ``--max-calls N`` (check, apply): the quota counts KB too."""
    return click.option(
        "--max-kb",
        type=click.FloatRange(min=1),
        metavar="K",
        help="With --max-calls: also spend at most about K KB (request + answer bytes, "
        "what the daily quota counts; each call estimated from measured answer sizes "
        "before it is made). A run stops before the first call that would pass it.",
    )(func)


def changed_since_option(func: F) -> F:
    return click.option(
        "--changed-since",
        metavar="BASE",
        help="Plan only the entries changed since BASE, reading only what they need: a "
        "manifest file or directory, or a git revision of the repository holding PATH "
        "(e.g. origin/main). A BASE that is both is refused: write ./origin/main for the "
        "path, git:origin/main for the revision. Drift elsewhere is not checked; a change "
        "of settings or of the kinds managed, or invalid manifests at BASE, plan in full. "
        "A current-platform set is read whole anyway (1 request): its plan is the full "
        "plan restricted to the entries changed since BASE.",
    )(func)


def authors_option(func: F) -> F:
    return click.option(
        "--authors/--no-authors",
        default=True,
        show_default=True,
        help="Current platform: beside each entity the plan changes, who last changed it "
        "and when (its lastEdited and the audit trail's operations since the last apply or "
        "check on this machine, 7 days at most: 2 requests for all of them, none "
        "when nothing changes; the output says what it cost). --no-authors skips it. "
        "API v2 records no authors: ignored there.",
    )(func)


def manifest_paths_argument(func: F) -> F:
    """PATH [PATH ...]: one manifest set, or several merged in order (later ones override)."""
    return click.argument(
        "paths", nargs=-1, required=True, metavar="PATH...",
        type=click.Path(exists=True, path_type=Path),
    )(func)


MAX_TOKEN_FILE = 4096  # an API token is a few dozen characters


def read_token_file(path: Path) -> str:
    """The token in ``path``: a regular file, at most 4 KB; warns when others may read it."""
    try:
        # O_NONBLOCK: opening a FIFO must not hang; the fstat below refuses it anyway.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise ConfigError(f"cannot read the token file {path}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(f"the token file {path} is not a regular file")
        if info.st_size > MAX_TOKEN_FILE:
            raise ConfigError(
                f"the token file {path} is {info.st_size} bytes: too big for an API token "
                f"(at most {MAX_TOKEN_FILE}); is it the right file?"
            )
        if info.st_mode & 0o077:
            logging.getLogger("beeplan").warning(
                "the token file %s can be read by other users (mode %o): chmod 600 it",
                path, stat.S_IMODE(info.st_mode),
            )
        data = file.read(MAX_TOKEN_FILE + 1)
    if len(data) > MAX_TOKEN_FILE:
        raise ConfigError(f"the token file {path} is too big for an API token")
    try:
        token = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ConfigError(f"the token file {path} is not UTF-8 text") from None
    if not token:
        raise ConfigError(f"the token file {path} is empty")
    return token


def read_token(token_file: Path | None) -> str:
    if token_file is not None:
        return read_token_file(token_file)
    token = os.environ.get("BEEBOLE_TOKEN", "").strip()
    if not token:
        raise ConfigError(
            "no API token: set BEEBOLE_TOKEN or pass --token-file "
            "(or use --endpoint sandbox:FILE to rehearse locally)"
        )
    return token


def check_output_file(given: str, path: Path) -> None:
    """Refuse a file to write whose folder is missing, before any API call is spent.

    Found only when writing, it came after the whole read; a typo should cost nothing.
    """
    folder = path.parent
    if not folder.is_dir():
        raise ConfigError(
            f"{given}: the folder {folder} does not exist; create it first "
            f"(mkdir -p {folder}) or give another path"
        )
    if path.is_dir():
        raise ConfigError(f"{given} is a folder; give a file name in it, "
                          f"e.g. {path / 'plan.json'}")


@contextlib.contextmanager
def open_client(endpoint: str, token_file: Path | None,
                written_for: str | None = None) -> Iterator[Any]:
    """A client for the endpoint's platform; for ``sandbox:FILE`` its emulator runs meanwhile
    (speaking ``written_for``, the platform the manifests are written for, else API v2)."""
    platform = platforms.for_endpoint(endpoint, written_for)
    if endpoint.startswith(SANDBOX_PREFIX):
        db = endpoint[len(SANDBOX_PREFIX) :]
        if not db:
            raise ConfigError("--endpoint sandbox:FILE needs a file name, e.g. sandbox:demo.db")
        if db != ":memory:":
            check_output_file(f"--endpoint {endpoint}", Path(db))
        with platform.sandbox(db) as server, platform.client(server.url, server.token) as client:
            yield client
        return
    with platform.client(endpoint, read_token(token_file)) as client:
        yield client
