"""Fixtures of the reliability tests: the CLI run in-process, and fault accounting."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator

import pytest

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
def beeplan(cli_main: Run) -> Run:
    """The suite's CLI harness (``cli_main`` in tests/conftest.py) under the name these
    tests read best: ``beeplan("plan", path, token=...)``."""
    return cli_main


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
