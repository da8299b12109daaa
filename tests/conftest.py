"""Shared fixtures: a live sandbox over real HTTP and a real client talking to it."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import pytest

from beeplan.cli import main
from beeplan.platforms.v2.client import BeeboleClient
from beeplan.platforms.v2.sandbox.server import SandboxServer

# Started in the background by a shell without job control (``pytest &`` in a script,
# nohup, some CI runners), pytest inherits SIGINT ignored, and so would every child it
# starts: the tests that Ctrl-C a beeplan process would wait for it in vain. A handler
# here is reset to the default in each child at exec, and Python then makes it Ctrl-C.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def _cache_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Tests never write to the user's ~/.cache (the quota ledger lives there)."""
    path = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("BEEPLAN_CACHE_DIR", str(path))
    return path


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    """A fresh, empty sandbox (default custom fields only) on a free loopback port."""
    with SandboxServer(":memory:", seed=1234) as server:
        yield server
        # An HTTP 500 that no knob injected is a sandbox bug, whatever the test checked.
        assert server.internal_errors == 0, "the sandbox hit an internal error; see the log"


@pytest.fixture
def client(sandbox: SandboxServer) -> Iterator[BeeboleClient]:
    """The real client on the sandbox, with short retry backoff to keep tests fast."""
    with BeeboleClient(sandbox.url, sandbox.token, backoff=0.01, timeout=10) as c:
        yield c


@pytest.fixture(autouse=True)
def _export_polls_on_the_sandbox_clock(request: pytest.FixtureRequest) -> None:
    """In a test on the sandbox, the waits between export polls move the sandbox's
    clock on instead of sleeping (``run_jobs``' own ``sleep`` parameter).

    A job ages by exactly the wait asked (``advance_clock``), as on a real clock,
    so the polls and their answers are those of a real run, and the client, HTTP
    and the sandbox are untouched; but a plan that deactivates something no longer
    sleeps 0.6 s for its hours, nor a ``--max-calls`` run 3 s before its last poll.
    A test of waiting itself (a job given up on after so many seconds) is marked
    ``wall_clock`` and sleeps for real.
    """
    if "sandbox" not in request.fixturenames or request.node.get_closest_marker("wall_clock"):
        return
    from beeplan import usage

    sandbox: SandboxServer = request.getfixturevalue("sandbox")
    monkeypatch: pytest.MonkeyPatch = request.getfixturevalue("monkeypatch")
    monkeypatch.setattr(usage, "run_jobs", partial(usage.run_jobs, sleep=sandbox.advance_clock))


Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli_main(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Run:
    """Run ``beeplan ARGS`` in-process: (exit status, stdout, stderr).

    The one CLI harness of the suite. It goes through ``beeplan.cli.main``, the one
    place that maps exceptions to exit codes, so a usage error is 1 as in a shell
    (click's ``CliRunner`` says 2, which here means "changes present").
    ``token=`` sets ``BEEBOLE_TOKEN`` for this and later runs of the test.
    COLUMNS is fixed so that help and tables wrap the same on every terminal.
    """
    monkeypatch.setenv("COLUMNS", "100")

    def invoke(*args: object, token: str | None = None) -> tuple[int, str, str]:
        if token is not None:
            monkeypatch.setenv("BEEBOLE_TOKEN", token)
        capsys.readouterr()
        with pytest.raises(SystemExit) as exit_info:
            main([str(a) for a in args])
        out, err = capsys.readouterr()
        return int(exit_info.value.code or 0), out, err

    return invoke


@pytest.fixture
def run(sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch, cli_main: Run) -> Run:
    """Like ``cli_main``, with the endpoint and token of this test's sandbox."""
    monkeypatch.setenv("BEEBOLE_TOKEN", sandbox.token)
    monkeypatch.setenv("BEEBOLE_ENDPOINT", sandbox.url)
    return cli_main
