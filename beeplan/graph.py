"""Draw the structure a ``State`` declares, as a Mermaid flowchart or a Graphviz digraph.

The one entry point::

    render_graph(state, fmt="mermaid", *, only=None, max_nodes=300, leaders=False) -> str

What is drawn
    companies > projects > subprojects (solid arrows, from each entity's
    ``parent`` ref), the group tree (solid arrows from parent group to child),
    who manages what (a dashed ``manages`` arrow from each person in a
    project's ``relations["managers"]`` to the project, the person hung under
    its company) and, with ``leaders=True``, team leaders (a dashed ``leads``
    arrow from each person in ``relations["leaders"]`` to the person led).
    People appear only when they take part in such an arrow; tasks and
    absence types only in a subset (below). Inactive entities are drawn
    dashed and grey.

A subset: ``only``
    Given a collection of ``Ref``s (for example the entities a plan touches),
    draw those entities, whatever their kind, plus their ancestors (a
    subproject's project and company, a group's parent groups, a person's
    company), so that a pull-request comment can show the changed part in
    context. The entities of ``only`` are highlighted (class ``changed``);
    the ancestors are drawn plainly. Arrows are drawn between drawn nodes
    only. Refs that name no entity of the state are ignored: draw a subset
    of the state that holds them (the desired state for creations and
    updates, the live one for deactivations).

Size
    Code hosts refuse big diagrams (Mermaid's defaults: 50,000 characters,
    500 edges). Nodes are taken parents first (companies and root groups,
    then projects and child groups, and so on, people last), so that every
    drawn node's ancestors are drawn too; once ``max_nodes`` nodes, the edge
    limit (Mermaid: 450) or the character budget (40,000; for DOT, 40,000
    per 300 nodes allowed) is reached, one note node says "… N more not
    shown" (and "M more links" when arrows were dropped). Labels are cut at
    48 characters. So the default output of a 10,000-entity organisation
    stays under 40,000 characters, typically around 20,000.

Safety
    Node ids never come from user data: they are a kind letter and a counter
    (``c1``, ``p12``, ``g3``...), so an xid may hold any character. Labels
    are escaped for each syntax: Mermaid entity codes (``#quot;``, ``#35;``,
    ``#37;``...) so that no name can close a label, open a markdown string or
    smuggle in a ``%%{init}%%`` directive; DOT backslash escapes inside
    double quotes. Unicode passes through.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass, field

from .model import Entity, Index, Ref, State

FORMATS = ("mermaid", "dot")

DEFAULT_MAX_NODES = 300
# Mermaid refuses more than 500 edges and 50,000 characters by default; stay clear of both.
MERMAID_MAX_EDGES = 450
MAX_CHARS = 40_000  # per DEFAULT_MAX_NODES nodes
LABEL_MAX = 48

_ID_PREFIX = {
    "company": "c",
    "project": "p",
    "subproject": "s",
    "group": "g",
    "person": "u",
    "task": "t",
    "absence": "a",
}

# Mermaid node shapes per kind: (open, close) around the quoted label.
_MERMAID_SHAPE = {
    "company": ("[[", "]]"),
    "project": ("[", "]"),
    "subproject": ("(", ")"),
    "group": ("{{", "}}"),
    "person": ("([", "])"),
    "task": ("[/", "/]"),
    "absence": ("[\\", "\\]"),
}

_DOT_SHAPE = {
    "company": "box3d",
    "project": "box",
    "subproject": "box",
    "group": "hexagon",
    "person": "ellipse",
    "task": "parallelogram",
    "absence": "trapezium",
}

# The kinds drawn in a full diagram (people are added when they manage or lead).
_STRUCTURE_KINDS = ("company", "group", "project", "subproject")

_MERMAID_CLASSES = (
    "classDef inactive stroke-dasharray:4 3,color:#888888,fill:#f4f4f4",
    "classDef changed stroke-width:3px,stroke:#d9730d",
    "classDef note fill:#fff8c4,stroke:#b5a642,color:#333333",
)

# Characters that must not reach Mermaid raw inside a quoted label, by entity code.
_MERMAID_ESCAPES = {
    "#": "#35;",  # first: every other code starts with '#'
    '"': "#quot;",
    "%": "#37;",  # '%%{init: ...}%%' directives are honoured anywhere in the text
    "`": "#96;",  # '"`...`"' would start a markdown string
    "<": "#lt;",
    ">": "#gt;",
    "&": "#amp;",
    "\\": "#92;",
}


def mermaid_label(text: str) -> str:
    """``text`` as the inside of a double-quoted Mermaid label."""
    return "".join(_MERMAID_ESCAPES.get(ch, ch) for ch in _one_line(text))


def dot_label(text: str) -> str:
    """``text`` as the inside of a double-quoted DOT string."""
    return _one_line(text).replace("\\", "\\\\").replace('"', '\\"')


def _one_line(text: str) -> str:
    # Control characters (newlines included) would end a statement or be unprintable.
    return "".join(ch if ch.isprintable() else " " for ch in text)


def _shorten(text: str) -> str:
    return text if len(text) <= LABEL_MAX else text[: LABEL_MAX - 1].rstrip() + "…"


@dataclass
class _Node:
    entity: Entity
    id: str
    changed: bool = False


@dataclass
class _Edge:
    src: str
    dst: str
    kind: str  # "parent", "manages" or "leads"


@dataclass
class _Drawing:
    nodes: list[_Node] = field(default_factory=list)
    edges: list[_Edge] = field(default_factory=list)
    hidden_nodes: int = 0
    hidden_links: int = 0


def _refs(entity: Entity, relation: str) -> Iterator[Ref]:
    value = entity.relations.get(relation)
    if not value:
        return
    # Sorted so that the output does not depend on frozenset iteration order.
    yield from sorted((r for r in value if isinstance(r, Ref)), key=_ref_key)


def _ref_key(ref: Ref) -> tuple[str, str, int]:
    return (ref.kind, ref.xid or "", ref.id if ref.id is not None else -1)


def _ancestors(entity: Entity, index: Index) -> Iterator[Entity]:
    seen = {id(entity)}
    current = index.find(entity.parent)
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = index.find(current.parent)


def _depth(entity: Entity, index: Index) -> int:
    return sum(1 for _ in _ancestors(entity, index))


def _candidates(
    state: State, index: Index, only: Collection[Ref] | None, leaders: bool
) -> tuple[list[Entity], set[int]]:
    """The entities to draw, parents before children, and the ``id()``s of the changed ones."""
    picked: dict[int, Entity] = {}
    changed: set[int] = set()
    if only is None:
        for entity in state.entities:
            if entity.kind in _STRUCTURE_KINDS:
                picked[id(entity)] = entity
        people: list[Entity] = []
        for entity in state.entities:
            if entity.kind == "project":
                people.extend(p for p in map(index.find, _refs(entity, "managers")) if p)
            if leaders and entity.kind == "person":
                led = [p for p in map(index.find, _refs(entity, "leaders")) if p]
                if led:
                    people.extend([entity, *led])
        for person in people:
            picked[id(person)] = person
            for ancestor in _ancestors(person, index):
                picked[id(ancestor)] = ancestor
    else:
        for ref in sorted(only, key=_ref_key):
            target = index.find(ref)
            if target is None:
                continue
            picked[id(target)] = target
            changed.add(id(target))
            for ancestor in _ancestors(target, index):
                picked[id(ancestor)] = ancestor
    position = {id(e): i for i, e in enumerate(state.entities)}
    # Parents first: an ancestor is always shallower, so a cut never orphans a node.
    # People go last: they are the context, the structure is the point.
    ordered = sorted(
        picked.values(),
        key=lambda e: (e.kind == "person", _depth(e, index), position[id(e)]),
    )
    return ordered, changed


def _links_of(entity: Entity, index: Index, leaders: bool) -> Iterator[tuple[Entity, Entity, str]]:
    """(source, target, kind) of every non-tree arrow touching ``entity``."""
    if entity.kind == "project":
        for person in map(index.find, _refs(entity, "managers")):
            if person is not None:
                yield person, entity, "manages"
    if leaders and entity.kind == "person":
        for leader in map(index.find, _refs(entity, "leaders")):
            if leader is not None:
                yield leader, entity, "leads"


class _Syntax:
    """One output syntax: a line per node and per arrow, framed by a header and footer."""

    max_edges: int | None = None

    def header(self) -> list[str]:
        raise NotImplementedError

    def node(self, node: _Node) -> str:
        raise NotImplementedError

    def edge(self, edge: _Edge) -> str:
        raise NotImplementedError

    def note(self, node_id: str, text: str) -> str:
        raise NotImplementedError

    def footer(self, nodes: list[_Node]) -> list[str]:
        raise NotImplementedError

    def render(self, drawing: _Drawing) -> str:
        lines = self.header()
        if not drawing.nodes:
            lines.append(self.note("empty", "nothing to draw"))
        lines.extend(self.node(node) for node in drawing.nodes)
        lines.extend(self.edge(edge) for edge in drawing.edges)
        note = _note(drawing)
        if note:
            lines.append(self.note("more", note))
        lines.extend(self.footer(drawing.nodes))
        return "\n".join(lines) + "\n"


class _Mermaid(_Syntax):
    # Mermaid refuses more than 500 edges by default.
    max_edges = MERMAID_MAX_EDGES

    def header(self) -> list[str]:
        return ["flowchart LR"]

    def node(self, node: _Node) -> str:
        opening, closing = _MERMAID_SHAPE.get(node.entity.kind, ("[", "]"))
        return f'  {node.id}{opening}"{mermaid_label(_label(node.entity))}"{closing}'

    def edge(self, edge: _Edge) -> str:
        arrow = "-->" if edge.kind == "parent" else f"-. {edge.kind} .->"
        return f"  {edge.src} {arrow} {edge.dst}"

    def note(self, node_id: str, text: str) -> str:
        return f'  {node_id}["{mermaid_label(text)}"]:::note'

    def footer(self, nodes: list[_Node]) -> list[str]:
        lines = ["  " + line for line in _MERMAID_CLASSES]
        for cls, members in (
            ("inactive", [n.id for n in nodes if not n.entity.active]),
            ("changed", [n.id for n in nodes if n.changed]),
        ):
            if members:
                lines.append(f"  class {','.join(members)} {cls}")
        return lines


class _Dot(_Syntax):
    def header(self) -> list[str]:
        return [
            "digraph beeplan {",
            "  rankdir=LR;",
            '  node [shape=box, fontname="Helvetica", fontsize=11];',
            '  edge [fontname="Helvetica", fontsize=9];',
        ]

    def node(self, node: _Node) -> str:
        entity = node.entity
        attrs = [f'label="{dot_label(_label(entity))}"']
        shape = _DOT_SHAPE.get(entity.kind, "box")
        if shape != "box":
            attrs.append(f"shape={shape}")
        styles = ["rounded"] if entity.kind == "subproject" else []
        if not entity.active:
            styles += ["dashed", "filled"]
            attrs += ['fillcolor="#f4f4f4"', 'fontcolor="#888888"']
        if styles:
            attrs.append(f'style="{",".join(styles)}"')
        if node.changed:
            attrs += ["penwidth=3", 'color="#d9730d"']
        return f"  {node.id} [{', '.join(attrs)}];"

    def edge(self, edge: _Edge) -> str:
        if edge.kind == "parent":
            return f"  {edge.src} -> {edge.dst};"
        return f'  {edge.src} -> {edge.dst} [style=dashed, label="{edge.kind}"];'

    def note(self, node_id: str, text: str) -> str:
        return f'  {node_id} [label="{dot_label(text)}", shape=note];'

    def footer(self, nodes: list[_Node]) -> list[str]:
        return ["}"]


_SYNTAXES: dict[str, _Syntax] = {"mermaid": _Mermaid(), "dot": _Dot()}


def _layout(
    state: State,
    only: Collection[Ref] | None,
    max_nodes: int,
    leaders: bool,
    syntax: _Syntax,
    max_chars: int,
) -> _Drawing:
    """Choose what to draw: nodes parents first, then the other arrows while room is left.

    ``max_chars`` bounds the node and arrow lines; each node also reserves a
    few characters for its share of the footer and the note.
    """
    index = Index(state)
    ordered, changed = _candidates(state, index, only, leaders)
    drawing = _Drawing()
    drawn: dict[int, str] = {}
    counters: dict[str, int] = {}
    chars = 0
    for position, entity in enumerate(ordered):
        prefix = _ID_PREFIX.get(entity.kind, "n")
        node = _Node(entity, f"{prefix}{counters.get(prefix, 0) + 1}", id(entity) in changed)
        parent = index.find(entity.parent)
        tree = (
            [_Edge(drawn[id(parent)], node.id, "parent")]
            if (parent is not None and id(parent) in drawn)
            else []
        )
        cost = len(syntax.node(node)) + 8 + sum(len(syntax.edge(e)) + 1 for e in tree)
        edges_full = syntax.max_edges is not None and len(drawing.edges) + len(tree) > (
            syntax.max_edges
        )
        if len(drawing.nodes) >= max_nodes or chars + cost > max_chars or edges_full:
            drawing.hidden_nodes = len(ordered) - position
            break
        counters[prefix] = counters.get(prefix, 0) + 1
        drawn[id(entity)] = node.id
        drawing.nodes.append(node)
        drawing.edges.extend(tree)
        chars += cost
    # The other arrows come last: structure first, then who manages or leads it.
    for entity in state.entities:
        for src, dst, kind in _links_of(entity, index, leaders):
            if id(src) not in drawn or id(dst) not in drawn:
                continue
            edge = _Edge(drawn[id(src)], drawn[id(dst)], kind)
            cost = len(syntax.edge(edge)) + 1
            if (syntax.max_edges is not None and len(drawing.edges) >= syntax.max_edges) or (
                chars + cost > max_chars
            ):
                drawing.hidden_links += 1
                continue
            drawing.edges.append(edge)
            chars += cost
    return drawing


def _note(drawing: _Drawing) -> str | None:
    parts = []
    if drawing.hidden_nodes:
        parts.append(f"{drawing.hidden_nodes} more")
    if drawing.hidden_links:
        parts.append(f"{drawing.hidden_links} more links")
    if not parts:
        return None
    return "… " + " and ".join(parts) + " not shown"


def _label(entity: Entity) -> str:
    text = _shorten(entity.name.strip() or entity.ref.label)
    return text if entity.active else f"{text} (inactive)"


def render_graph(
    state: State,
    fmt: str = "mermaid",
    *,
    only: Collection[Ref] | None = None,
    max_nodes: int = DEFAULT_MAX_NODES,
    leaders: bool = False,
) -> str:
    """The diagram of ``state`` (or of the ``only`` subset and its ancestors) as text.

    ``fmt`` is ``"mermaid"`` (a ``flowchart``, without the surrounding code
    fence) or ``"dot"``. At most ``max_nodes`` entity nodes are drawn, plus
    one note node counting the rest. See the module docstring.
    """
    syntax = _SYNTAXES.get(fmt)
    if syntax is None:
        raise ValueError(f"unknown graph format {fmt!r}: expected one of {', '.join(FORMATS)}")
    if max_nodes < 1:
        raise ValueError("max_nodes must be at least 1")
    # Mermaid refuses texts over 50,000 characters by default: its budget is fixed.
    # DOT has no such limit; its budget grows with a raised max_nodes only.
    scale = 1 if fmt == "mermaid" else -(-max_nodes // DEFAULT_MAX_NODES)
    return syntax.render(_layout(state, only, max_nodes, leaders, syntax, MAX_CHARS * scale))
