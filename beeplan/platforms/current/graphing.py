"""``beeplan graph`` (and ``plan --graph``) of a current set, drawn by the core's renderer.

The core draws a ``State`` (``beeplan/graph.py``: escaping, size limits, Mermaid and
DOT). A current set's structure maps onto the shapes it knows: each project or tag
category as a top box (drawn as v2 draws companies), the project tree below it, the
tag tree as groups, managers of a project as dashed ``manages`` arrows, and with
``--leaders`` a person's managers as ``leads`` arrows. Tasks and absence types are
drawn only in a subset (a plan's changed part), as on v2. Pure.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from ...graph import render_graph
from ...model import Entity, Ref, State
from .desired import Desired, Entry, Key

# this platform's kind -> the shape the core draws it with
_SHAPE = {"project": "project", "tag": "group", "person": "person", "task": "task",
          "absenceType": "absence", "projectCategory": "company", "tagCategory": "group"}
_CATEGORY_OF = {"project": "projectCategory", "tag": "tagCategory"}


def _label(key: Key | None, name: str = "") -> str:
    if key is None:
        return name
    return key.xid if key.xid is not None else f"#{key.id}"


def _ref(kind: str, label: str) -> Ref:
    # The kind is kept in the xid: two kinds drawn with one shape (tags and tag
    # categories) never share an identity.
    return Ref(_SHAPE[kind], xid=f"{kind}:{label}")


def as_state(desired: Desired) -> State:
    """The set as the core's ``State`` of the shapes ``render_graph`` draws."""
    entities: list[Entity] = []
    for cat in desired.categories:
        if cat.kind in ("projectCategory", "tagCategory"):
            entities.append(Entity(_SHAPE[cat.kind], _ref(cat.kind, cat.name), cat.name))
    for entry in desired.entries:
        if entry.kind not in _SHAPE:
            continue  # roles: no place in the structure
        entities.append(_entity(entry))
    return State(entities=tuple(entities))


def _entity(entry: Entry) -> Entity:
    parent: Ref | None = None
    if entry.parent is not None and entry.kind in ("project", "tag", "task"):
        parent = _ref(entry.kind, _label(entry.parent))
    elif entry.category is not None and entry.kind in _CATEGORY_OF:
        parent = _ref(_CATEGORY_OF[entry.kind], entry.category)
    relations: dict[str, Any] = {}
    managers = dict(entry.relations).get("managers")
    if managers is not None:
        people = frozenset(_ref("person", _label(k)) for k in managers)
        # a project's managers are drawn as 'manages'; a person's as the people who lead them
        relations["managers" if entry.kind == "project" else "leaders"] = people
    return Entity(_SHAPE[entry.kind], _ref(entry.kind, _label(entry.key) or entry.name),
                  entry.name, parent, not entry.archived, relations=relations)


def shown_refs(refs: Collection[Ref]) -> set[Ref]:
    """A plan's targets (this platform's kinds, named by xid or name) as ``as_state`` names
    them; targets by live id only are drawn when the set adopts that id."""
    out: set[Ref] = set()
    for ref in refs:
        if ref.kind not in _SHAPE:
            continue
        if ref.xid is not None:
            out.add(_ref(ref.kind, ref.xid))
        if ref.id is not None:
            out.add(_ref(ref.kind, f"#{ref.id}"))
    return out


def current_graph(desired: Desired, fmt: str = "mermaid", *,
                  only: Collection[Ref] | None = None, max_nodes: int = 300,
                  leaders: bool = False) -> str:
    """The diagram of the set, or of ``only`` (a plan's targets) and their ancestors."""
    picked = None if only is None else shown_refs(only)
    return render_graph(as_state(desired), fmt, only=picked, max_nodes=max_nodes,
                        leaders=leaders)
