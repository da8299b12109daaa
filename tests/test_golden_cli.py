"""Golden cases for what the CLI prints: one folder, one test (Black's style).

Each folder of tests/data/cli_cases holds ``commands`` (one ``beeplan`` command a
line, run in order on a fresh sandbox; ``knob: quota_requests=60`` lines set
the sandbox's test knobs first) and ``expected.txt``: the exit status,
stdout and stderr of every command not marked ``setup:``. The commands run in a
fresh directory holding a copy of the case folder and of the repository's
examples/, so they name their manifests by relative paths (``examples/acme``)
and what they print names no clone. A case whose commands write ``out/``
(import) also holds ``files/``, the tree they wrote.

What differs between runs is replaced before comparing: the sandbox's URL, the
cache directory, durations, clock times and the names of state files. Setup
applies run one call at a time, so the sandbox hands out the same ids on every
run.

Regenerate after an intended change with
``BEEPLAN_UPDATE_GOLDEN=1 pytest tests/test_golden_cli.py`` and review the diff
like code.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
from pathlib import Path

import pytest

from beeplan.platforms.v2.sandbox.server import SandboxServer

from .conftest import Run

ROOT = Path(__file__).resolve().parent.parent
CASES = Path(__file__).parent / "data" / "cli_cases"
UPDATE = os.environ.get("BEEPLAN_UPDATE_GOLDEN") == "1"
_GOLDEN = ("commands", "expected.txt", "files")

# "(111 API calls, 0.5s)": how long a run took is the one figure that is never the same.
_DURATION = re.compile(r"\b\d+(?:\.\d+)?(?:ms|s)(?=\))")
# check's coverage says when the oldest verification was: the clock, not the code.
_WHEN = re.compile(r"(?<=Oldest verification: )[^()]+ ago \(\d{4}-\d\d-\d\d \d\d:\d\d UTC\)")
# check --max-calls names its state file after hashes of the account and manifest set.
_STATE_FILE = re.compile(r"(<cache>/check/)[0-9a-f]+-[0-9a-f]+\.json")


def normalize(text: str, places: dict[str, str]) -> str:
    # Longest first: the cache dir may sit inside tmp.
    for real, name in sorted(places.items(), key=lambda p: -len(p[0])):
        text = text.replace(real, name)
    text = _DURATION.sub("<duration>", text)
    text = _WHEN.sub("<age> ago (<time> UTC)", text)
    return _STATE_FILE.sub(r"\1<account>-<set>.json", text)


def commands(case: Path) -> list[tuple[bool, list[str]]]:
    """(is setup, argv) of each command line of the case's ``commands``."""
    found = []
    for line in (case / "commands").read_text().splitlines():
        if not line.strip() or line.startswith(("#", "knob:")):
            continue
        setup = line.startswith("setup:")
        line = line.removeprefix("setup:").strip()
        found.append((setup, shlex.split(line)))
    return found


def set_knobs(case: Path, sandbox: SandboxServer) -> None:
    """``knob: name=JSON`` lines set the sandbox's test knobs (quota, faults) first."""
    for line in (case / "commands").read_text().splitlines():
        if line.startswith("knob:"):
            name, _, value = line.removeprefix("knob:").strip().partition("=")
            assert hasattr(sandbox.knobs, name), f"the sandbox has no knob {name!r}"
            setattr(sandbox.knobs, name, json.loads(value))


def written_files(out: Path) -> dict[str, str]:
    return {
        p.relative_to(out).as_posix(): p.read_text()
        for p in sorted(out.rglob("*")) if p.is_file()
    }


def compare(expected_file: Path, produced: str) -> None:
    if UPDATE or not expected_file.exists():
        expected_file.parent.mkdir(parents=True, exist_ok=True)
        expected_file.write_text(produced)
        if not UPDATE:
            pytest.fail(f"{expected_file} was missing; written now, review it")
    assert produced == expected_file.read_text(), (
        f"{expected_file.relative_to(ROOT)} differs; if the change is intended, "
        "regenerate with BEEPLAN_UPDATE_GOLDEN=1 and review the diff"
    )


@pytest.mark.parametrize("case", sorted(p.name for p in CASES.iterdir() if p.is_dir()))
def test_cli_golden_case(
    case: str, run: Run, sandbox: SandboxServer, tmp_path: Path, _cache_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = CASES / case
    work = tmp_path / "work"
    shutil.copytree(folder, work, ignore=shutil.ignore_patterns(*_GOLDEN))
    shutil.copytree(ROOT / "examples", work / "examples")
    monkeypatch.chdir(work)
    shown = {str(work): "<tmp>", str(_cache_dir): "<cache>", sandbox.url: "<endpoint>"}
    set_knobs(folder, sandbox)
    report = []
    for setup, argv in commands(folder):
        code, out, err = run(*argv)
        if setup:
            assert code == 0, f"setup {argv} failed:\n{out}{err}"
            continue
        report.append(f"$ beeplan {shlex.join(argv)}\nexit: {code}\n"
                      f"--- stdout\n{out}--- stderr\n{err}")
    compare(folder / "expected.txt", normalize("\n".join(report), shown))
    if (work / "out").is_dir() or (folder / "files").is_dir():
        produced = written_files(work / "out")
        expected_dir = folder / "files"
        if UPDATE:
            for old in expected_dir.rglob("*"):
                if old.is_file() and old.relative_to(expected_dir).as_posix() not in produced:
                    old.unlink()
        for name, text in produced.items():
            compare(expected_dir / name, normalize(text, shown))
        assert sorted(produced) == sorted(written_files(expected_dir)), "other files written"
