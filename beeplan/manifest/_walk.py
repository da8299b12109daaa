"""Find the entities in parsed manifest files, tolerating any shape.

The walk runs on data that may have failed the schema, so the semantic checks
can still report everything else at once; every access is guarded.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ._yaml import MDict, MList

# The top-level keys, in the order entities of each kind are listed in a file.
TOP_LEVEL = {
    "groups": "group",
    "companies": "company",
    "tasks": "task",
    "people": "person",
    "absences": "absence",
}

# Where each kind names its parent when it is not implied by nesting.
PARENT_KEY = {"task": "company", "person": "company", "absence": "company", "group": "parent"}

KIND_WORDS = {
    "company": ("company", "companies"),
    "project": ("project", "projects"),
    "subproject": ("subproject", "subprojects"),
    "task": ("task", "tasks"),
    "group": ("group", "groups"),
    "person": ("person", "people"),
    "absence": ("absence type", "absence types"),
}

# (relation key, sub-key or None, target kind) per kind: the references to check.
REFERENCE_LISTS: dict[str, tuple[tuple[str, str | None, str], ...]] = {
    "company": (
        ("groups", None, "group"),
        ("members", "people", "person"),
        ("members", "groups", "group"),
        ("specificTasks", "tasks", "task"),
    ),
    "project": (
        ("groups", None, "group"),
        ("members", "people", "person"),
        ("members", "groups", "group"),
        ("managers", None, "person"),
        ("specificTasks", "tasks", "task"),
    ),
    "subproject": (
        ("groups", None, "group"),
        ("members", "people", "person"),
        ("members", "groups", "group"),
        ("specificTasks", "tasks", "task"),
    ),
    "task": (("groups", None, "group"),),
    "person": (("leaders", None, "person"), ("groups", None, "group")),
    "absence": (("groups", None, "group"),),
    "group": (),
}

Key = tuple[str, Any]  # ('xid', 'acme') or ('id', 233): who an entity is


def identity(data: Any) -> Key | None:
    """The identity an entity mapping declares, if it is well formed.

    ``id: N`` with ``xid: X`` is the live entity N (to be given xid X): its
    identity is the id, since the account does not know X yet.
    """
    if not isinstance(data, dict):
        return None
    xid = data.get("xid")
    if "id" in data and isinstance(xid, str) and xid:
        by_id = ref_key(data)
        if by_id is not None:
            return by_id
    if isinstance(xid, str) and xid:
        return ("xid", xid)
    return ref_key(data) if "xid" not in data else None


def ref_key(value: Any) -> Key | None:
    """The identity a reference names: an xid string or {id: N}; None when malformed."""
    if isinstance(value, str):
        return ("xid", value) if value else None
    if isinstance(value, dict):
        ident = value.get("id")
        # A float id must be a whole finite number: int(.inf) raises, .nan compares false.
        if isinstance(ident, float) and not ident.is_integer():
            return None
        if isinstance(ident, (int, float)) and not isinstance(ident, bool) and ident >= 1:
            return ("id", int(ident))
    return None


def label(key: Key | None) -> str:
    if key is None:
        return "?"
    return f"'{key[1]}'" if key[0] == "xid" else f"#{key[1]}"


@dataclass
class Raw:
    """One entity mapping as found in a file, before it is known to be valid."""

    kind: str
    data: MDict
    file: str
    path: str
    line: int
    key: Key | None
    # The parent's identity: implied by nesting (projects, subprojects, child
    # groups) or named by a reference (company:, parent:). None at the root.
    parent: Key | None
    # Nested entities whose enclosing entity lacks a usable identity have a parent
    # that cannot be named; they get this placeholder so siblings still group.
    parent_token: Any = None

    def key_line(self, key: str) -> int:
        return self.data.key_lines.get(key, self.line)

    @property
    def new_xid(self) -> str | None:
        """The xid an entry adopted by ``id:`` is to be given (``id: N`` with ``xid: X``)."""
        if self.key is None or self.key[0] != "id":
            return None  # (most entries: known by their xid, asked several times per load)
        xid = self.data.get("xid")
        return xid if isinstance(xid, str) and xid else None


def aliases(raws: Iterable[Raw]) -> dict[tuple[str, str], int]:
    """(kind, xid) -> live id for entries with both: references by that xid mean that id."""
    out: dict[tuple[str, str], int] = {}
    for raw in raws:
        xid = raw.new_xid
        if xid is not None and raw.key is not None:
            out.setdefault((raw.kind, xid), raw.key[1])
    return out


def resolve(kind: str, key: Key | None, alias: dict[tuple[str, str], int]) -> Key | None:
    """A reference's key, by id when the xid it names is still being given (see ``aliases``)."""
    if key is not None and key[0] == "xid" and (kind, key[1]) in alias:
        return ("id", alias[(kind, key[1])])
    return key


def _items(value: Any) -> Iterator[tuple[int, MDict, int]]:
    if isinstance(value, MList):
        for index, item in enumerate(value):
            if isinstance(item, MDict):
                yield index, item, value.item_lines[index]


def walk(data: Any, file: str) -> Iterator[Raw]:
    """Every entity mapping of one file, parents before their children."""
    if not isinstance(data, MDict):
        return
    for top, kind in TOP_LEVEL.items():
        for index, item, line in _items(data.get(top)):
            path = f"{top}[{index}]"
            if kind == "company":
                yield from _company(item, file, path, line)
            elif kind == "group":
                parent = ref_key(item.get("parent")) if "parent" in item else None
                yield from _group(item, file, path, line, parent, None)
            else:
                parent = ref_key(item.get(PARENT_KEY[kind]))
                yield Raw(kind, item, file, path, line, identity(item), parent)


def _company(item: MDict, file: str, path: str, line: int) -> Iterator[Raw]:
    company = Raw("company", item, file, path, line, identity(item), None)
    yield company
    for p_index, project_data, p_line in _items(item.get("projects")):
        p_path = f"{path}.projects[{p_index}]"
        project = Raw("project", project_data, file, p_path, p_line, identity(project_data),
                      company.key, None if company.key else id(item))
        yield project
        for s_index, sub_data, s_line in _items(project_data.get("subprojects")):
            yield Raw("subproject", sub_data, file, f"{p_path}.subprojects[{s_index}]", s_line,
                      identity(sub_data), project.key, None if project.key else id(project_data))


def _group(item: MDict, file: str, path: str, line: int, parent: Key | None,
           token: Any) -> Iterator[Raw]:
    group = Raw("group", item, file, path, line, identity(item), parent, token)
    yield group
    for index, child, child_line in _items(item.get("groups")):
        yield from _group(child, file, f"{path}.groups[{index}]", child_line, group.key,
                          None if group.key else id(item))
