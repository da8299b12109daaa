"""Fixtures of the reliability tests: the CLI run in-process, and fault accounting."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator

import pytest

from beeplan.cli import main

Run = Callable[..., tuple[int, str, str]]

# Figures the tests measured (faults injected, runs to converge, trials...), printed in
# the terminal summary so that a CI log shows them.
FIGURES: list[str] = []


def figure(line: str) -> None:
    FIGURES.append(line)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.section("reliability figures")
        for line in FIGURES:
            terminalreporter.write_line(line)


@pytest.fixture
def beeplan(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Run:
    """Run ``beeplan ARGS`` through its real entry point; (exit status, stdout, stderr).

    ``token=`` sets ``BEEBOLE_TOKEN`` for this run.
    """

    def invoke(*args: object, token: str | None = None) -> tuple[int, str, str]:
        if token is not None:
            monkeypatch.setenv("BEEBOLE_TOKEN", token)
        capsys.readouterr()
        with pytest.raises(SystemExit) as exit_info:
            main([str(a) for a in args])
        out, err = capsys.readouterr()
        return int(exit_info.value.code or 0), out, err

    return invoke


class FaultCounter(logging.Handler):
    """Counts the faults the sandbox reports injecting, from its own debug log.

    The sandbox logs each injected fault on ``beeplan.sandbox`` ("injected
    HTTP 500 before/after", "dropping the connection"); this counts them by
    kind, so a test can say how many faults its run went through.
    """

    KINDS = {
        "injected HTTP 500 before": "error (not done)",
        "injected HTTP 500 after": "error after the work (lost answer)",
        "dropping the connection": "dropped connection",
    }

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.counts: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        for needle, kind in self.KINDS.items():
            if needle in message:
                self.counts[kind] += 1

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@pytest.fixture
def faults() -> Iterator[FaultCounter]:
    logger = logging.getLogger("beeplan.sandbox")
    counter = FaultCounter()
    old = logger.level, logger.propagate
    logger.addHandler(counter)
    # Debug level for the counter only: the sandbox's per-request lines go nowhere else.
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield counter
    finally:
        logger.removeHandler(counter)
        logger.setLevel(old[0])
        logger.propagate = old[1]
