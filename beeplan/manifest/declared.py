"""Which entities a set of manifest files declares, and where: for ``import --force``.

``import --force`` must not write an entity that a file it keeps already
declares (the set would declare it twice and fail to validate). This reads
only identities, with the loader's own parser and walk, so a kept file that
refers to entities of the files import is about to rewrite still answers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..errors import Problem
from . import _schema
from ._walk import Key, walk
from ._yaml import MDict, parse


@dataclass(frozen=True)
class Declared:
    """One entity entry: its kind, identity (``('xid', X)`` or ``('id', N)``) and place."""

    kind: str
    key: Key
    new_xid: str | None  # id: N with xid: X: the xid it is being given
    file: str
    line: int

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


def declared_entries(files: Iterable[Path]) -> tuple[list[Declared], list[Problem]]:
    """The entries of ``files`` that name an entity, and the problems met reading them."""
    found: list[Declared] = []
    problems: list[Problem] = []
    for file in files:
        try:
            text = file.read_bytes().decode("utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(Problem(str(file), None, "", f"cannot read: {exc}"))
            continue
        data = parse(text, str(file), problems)
        if isinstance(data, MDict):
            # What each file alone gets wrong (a typo in a key): said before any API call.
            problems.extend(_schema.check(data, str(file)))
        for raw in walk(data, str(file)):
            if raw.key is not None:
                found.append(Declared(raw.kind, raw.key, raw.new_xid, str(file), raw.line))
    return found, problems
