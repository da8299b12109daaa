"""GitHub workflow annotations: each problem shown on the manifest line it is about.

A line ``::error file=F,line=L,title=beeplan::message`` printed by a step
becomes an annotation on line L of F in the pull request's diff. The file
is written relative to the working directory (the checkout, in a workflow)
and every value is escaped by GitHub's workflow command rules, so a message
with a newline or a ``%`` cannot end the command early or forge another one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import Problem
from .model import Source
from .safetext import workflow_data, workflow_property

TITLE = "beeplan"


@dataclass(frozen=True)
class Annotation:
    """One message, at a place in a manifest file when it has one."""

    message: str
    file: str | None = None
    line: int | None = None
    level: str = "error"


# GitHub's escaping of a command's data and properties, on top of ``printable``:
# kept in the one escaping point, named here as the rest of beeplan knows them.
escape_data = workflow_data
escape_property = workflow_property


def workflow_command(annotation: Annotation) -> str:
    props = []
    if annotation.file:
        props.append(f"file={escape_property(annotation.file)}")
        if annotation.line:
            props.append(f"line={int(annotation.line)}")
    props.append(f"title={escape_property(TITLE)}")
    return f"::{annotation.level} {','.join(props)}::{escape_data(annotation.message)}"


def relative(file: str, cwd: str | Path | None = None) -> str:
    """``file`` as GitHub wants it: relative to the working directory, with ``/``.

    A file outside the working directory keeps its absolute path: GitHub
    cannot place it, but the message still names it.
    """
    base = Path(cwd if cwd is not None else os.getcwd()).resolve()
    path = Path(file) if os.path.isabs(file) else base / file
    # The folders are resolved, never the file itself: a refused symlink is
    # named as the link, so its target's path cannot reach an annotation.
    absolute = path.parent.resolve() / path.name
    try:
        return absolute.relative_to(base).as_posix()
    except ValueError:
        return absolute.as_posix()


def from_problems(
    problems: Iterable[Problem], level: str = "error", cwd: str | Path | None = None
) -> list[Annotation]:
    """Manifest errors (or warnings) from the loader, one annotation each."""
    out = []
    for p in problems:
        message = f"{p.path}: {p.message}" if p.path else p.message
        out.append(Annotation(message, relative(p.file, cwd), p.line, level))
    return out


def problem_json(problem: Problem, cwd: str | Path | None = None) -> dict[str, Any]:
    return {"file": relative(problem.file, cwd), "line": problem.line, "path": problem.path,
            "message": problem.message}


# "(people.yaml:12)": how a message names the entry it is about (``planner._where``).
_WHERE = re.compile(r"\(([^()\n]+\.ya?ml):(\d+)\)")


def source_of(text: str) -> Source | None:
    """Where a plan's problem comes from: as the planner recorded it (``model.Located``),
    else as the message names it (a message read back from a saved plan, say)."""
    source = getattr(text, "source", None)
    if isinstance(source, Source):
        return source
    named = _WHERE.search(text)
    return Source(named.group(1), int(named.group(2))) if named else None


def _at(message: str, source: Source | None, level: str, cwd: str | Path | None) -> Annotation:
    if source is None:
        return Annotation(message, level=level)
    return Annotation(message, relative(source.file, cwd), source.line, level)


def plan_annotations(plan: Any, cwd: str | Path | None = None) -> list[Annotation]:
    """A plan's problems and safety refusals as errors, its warnings as warnings.

    Each sits on the manifest line of the entry it is about, as the planner
    recorded it (``model.Located``); a refusal counted over many entries sits
    on the first declared one it removes from, or on no line when all it
    counts are prunes of entities no manifest declares.
    """
    out = [_at(str(p), source_of(p), "error", cwd) for p in plan.problems]
    out += [_at(f"refused without --allow-destroy: {v}", source_of(v), "error", cwd)
            for v in plan.destroy_violations]
    out += [_at(str(w), source_of(w), "warning", cwd) for w in plan.warnings]
    return out
