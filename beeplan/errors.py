"""Exit statuses and the exception types that map onto them.

Exactly one place turns exceptions into exit codes: ``beeplan.cli.main``.
Everything else raises one of these.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .safetext import capped, printable


class ExitStatus(enum.IntEnum):
    SUCCESS = 0  # success, or no changes
    ERROR = 1  # anything went wrong; the message says what was and was not applied
    CHANGES = 2  # changes present (--detailed-exitcode, check, diff)
    INTERRUPTED = 130  # Ctrl-C: in-flight calls finished, then stopped
    TERMINATED = 143  # SIGTERM (a CI cancel): handled like Ctrl-C


class BeeplanError(Exception):
    """An error with a message fit for the user (no traceback is shown)."""

    exit_status: ExitStatus = ExitStatus.ERROR


@dataclass(frozen=True)
class Problem:
    """One validation problem, located in a manifest file."""

    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"




def warning_lines(warnings: Sequence[Problem], limit: int = 100) -> list[str]:
    """Warnings as printed: at most ``limit``, then one line that counts the rest."""
    lines = [f"Warning: {w}" for w in warnings[:limit]]
    rest = len(warnings) - len(lines)
    if rest:
        lines.append(f"Warning: ... and {rest:,} more warning{'s' if rest != 1 else ''}")
    return lines


class ManifestError(BeeplanError):
    """The manifests are invalid; carries every problem found, not just the first."""

    # A broken file can hold 100,000 errors; past this many a reader stops reading.
    MAX_SHOWN = 100

    def __init__(self, problems: Iterable[Problem]):
        self.problems: Sequence[Problem] = tuple(problems)
        count = len(self.problems)
        # One line each: a problem quotes manifest text (an xid holding "\n  a.yaml:1: ..."
        # would print a problem of its own), so its line breaks are shown as \n.
        lines = [printable(str(p)) for p in self.problems[: self.MAX_SHOWN]]
        rest = count - len(lines)
        if rest:
            lines.append(f"... and {rest:,} more error{'s' if rest != 1 else ''} "
                         f"(the first {self.MAX_SHOWN} are shown: fix them and run again)")
        header = f"{count:,} error{'s' if count != 1 else ''} in the manifests:"
        super().__init__("\n".join([header, *("  " + line for line in lines)]))


class ApiError(BeeplanError):
    """The API answered with an error (``"status": "error"`` or a non-200 code)."""

    def __init__(self, service: str, message: str, http_status: int | None = None):
        # The server's words are printed: escaped, and short even if it sent a whole page.
        message = capped(str(message))
        self.service = service
        self.api_message = message
        self.http_status = http_status
        code = f" (HTTP {http_status})" if http_status and http_status != 200 else ""
        super().__init__(f"{service}: {message}{code}")


class AuthError(ApiError):
    """The token was refused (HTTP 401)."""


class QuotaError(ApiError):
    """The daily API quota is used up (requests or transfer volume)."""


class QuotaStop(QuotaError):
    """beeplan stopped before the quota (or a budget) would be passed: its own words,
    which say the estimate and what to do next, so not cut as an API's message is."""

    def __init__(self, service: str, message: str, next_steps: str = ""):
        """``message``: why it stopped (``reason``); ``next_steps``: what to do, said after."""
        said = f"{message} {next_steps}" if next_steps else message
        BeeplanError.__init__(self, f"{service}: {said}")
        self.service = service
        self.api_message = said
        self.reason = message
        self.http_status = None


class TransportError(BeeplanError):
    """No usable answer: connection refused or dropped, timeout, 5xx.

    For a write, the call may or may not have taken effect: callers must check.
    """

    def __init__(self, service: str, reason: str):
        self.service = service
        self.reason = reason
        super().__init__(f"{service}: no answer from the API ({reason})")


class AnswerError(TransportError):
    """An answer that cannot be believed: not JSON, not the reference's shape, too big.

    A transport failure by another name: for a write, nobody knows whether it took
    effect, so the applier checks (by xid) before any retry, as for a lost answer.
    """

    def __init__(self, service: str, reason: str):
        super().__init__(service, reason)
        self.args = (f"{service}: unusable answer from the API ({reason})",)


class EndpointError(ApiError):
    """The endpoint cannot be used as it is (a redirect, a TLS failure): stop, never retry."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C raises KeyboardInterrupt, so both stop the same way.

    A BaseException, like KeyboardInterrupt: no ``except Exception`` swallows it.
    """


def raise_terminated(signum: int, frame: object) -> None:
    """The SIGTERM handler beeplan's main installs."""
    raise Terminated


class ConfigError(BeeplanError):
    """Bad command-line configuration (endpoint, token, options)."""


class UsageError(BeeplanError):
    """The time export could not tell the hours (job error, timeout, unreadable result)."""


class PlanError(BeeplanError):
    """The plan cannot be made or applied as asked (impossible change, stale plan, safety)."""


class StalePlan(PlanError):
    """A saved plan's touched entities changed since it was made: make a new plan."""
