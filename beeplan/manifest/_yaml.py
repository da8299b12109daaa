"""Safe YAML loading that remembers the line of every key and item.

We build the data from the parser's event stream ourselves instead of using
PyYAML's composer and constructor, because that lets us:

- keep the line of each mapping key and sequence item (error messages);
- reject duplicate keys, which PyYAML silently accepts (the last one wins);
- keep dates and non-string custom field values as the text the user wrote;
- survive hostile input: the C composer recurses in C and crashes on very deep
  nesting, and aliases can expand exponentially ("billion laughs").

Only plain YAML data is accepted: mappings, sequences, strings, numbers,
booleans, null and dates. Any other tag is an error, never an object.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.resolver import Resolver

from ..errors import Problem

try:  # libyaml's parser when available: several times faster
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _Loader = yaml.SafeLoader

MAX_DEPTH = 64
MAX_ALIAS_EXPANSION = 100_000

_P = "tag:yaml.org,2002:"
_MAP, _SEQ, _STR, _INT, _FLOAT = _P + "map", _P + "seq", _P + "str", _P + "int", _P + "float"
_BOOL, _NULL, _TIMESTAMP, _MERGE = _P + "bool", _P + "null", _P + "timestamp", _P + "merge"

_BAD_KEY = "a mapping key must be a plain value, not a list or mapping"

_RESOLVER = Resolver()
_CONSTRUCTOR = yaml.constructor.SafeConstructor()


class MDict(dict[str, Any]):
    """A mapping that knows its line and the line of each key."""

    __slots__ = ("line", "key_lines", "texts")

    def __init__(self, line: int) -> None:
        super().__init__()
        self.line = line
        self.key_lines: dict[str, int] = {}
        # Source text of values that YAML typed as non-strings (numbers, booleans,
        # null): custom field values are sent as written, and hints can quote it.
        self.texts: dict[str, str] = {}


class MList(list[Any]):
    """A sequence that knows its line and the line of each item."""

    __slots__ = ("line", "item_lines", "texts")

    def __init__(self, line: int) -> None:
        super().__init__()
        self.line = line
        self.item_lines: list[int] = []
        self.texts: dict[int, str] = {}


class _UnsupportedTag(Exception):
    def __init__(self, tag: str) -> None:
        super().__init__(tag)
        self.tag = tag


class _Stop(Exception):
    """The file cannot be read any further; the problem is already recorded."""


class _Frame:
    __slots__ = ("value", "is_map", "anchor", "key", "key_line", "merges", "size")

    def __init__(self, value: MDict | MList, anchor: str | None) -> None:
        self.value = value
        self.is_map = isinstance(value, MDict)
        self.anchor = anchor
        self.key: str | None = None  # mapping: the key waiting for its value
        self.key_line = 0
        self.merges: list[tuple[Any, int]] = []  # mapping: '<<' values, applied at the end
        self.size = 1  # nodes in this subtree once aliases are expanded


# PyYAML's implicit resolvers by the first character of a plain scalar (what
# ``Resolver.resolve`` looks up on every call), so that the common case, a name
# starting with a letter no resolver claims, is one dict lookup and no regex.
# Same table, same order: the same tag for every value.
_WILDCARD: tuple[tuple[str, Any], ...] = tuple(Resolver.yaml_implicit_resolvers.get(None, []))
_IMPLICIT: dict[str, tuple[tuple[str, Any], ...]] = {
    first: tuple(resolvers) + _WILDCARD
    for first, resolvers in Resolver.yaml_implicit_resolvers.items() if first is not None
}
# Path resolvers would make the tag depend on where the scalar sits: then ask PyYAML.
_FAST_RESOLVE = not Resolver.yaml_path_resolvers


def _resolve(value: str, implicit: tuple[bool, bool]) -> str:
    """The tag ``Resolver.resolve`` gives an untagged scalar, without its per-call work."""
    if not _FAST_RESOLVE:  # pragma: no cover - PyYAML ships no path resolver
        tag: str = _RESOLVER.resolve(yaml.ScalarNode, value, implicit)
        return tag
    if implicit[0]:
        for tag, regexp in _IMPLICIT.get(value[:1], _WILDCARD):
            if regexp.match(value):
                return tag
    return _STR


def _scalar(tag: str | None, value: str, implicit: tuple[bool, bool]) -> Any:
    if tag is None or tag == "!":
        tag = _resolve(value, implicit)
        if tag is _STR:  # the common case: text, nothing to construct
            return value
        if tag == _P + "value":  # PyYAML's resolver types a lone '=': text to anyone else
            return value
    if tag == _STR:
        return value
    if tag == _NULL:
        return None
    if tag == _BOOL:
        return _CONSTRUCTOR.bool_values.get(value.lower(), value)
    if tag in (_INT, _FLOAT):
        node = yaml.ScalarNode(tag, value)
        try:
            if tag == _INT:
                return _CONSTRUCTOR.construct_yaml_int(node)
            return _CONSTRUCTOR.construct_yaml_float(node)
        except ValueError:
            # PyYAML's YAML 1.1 patterns accept a few non-numbers ("0b_", "._"):
            # they are text to a human, so keep them as text.
            return value
    if tag == _TIMESTAMP:
        # Kept as written: the model wants 'YYYY-MM-DD' strings, and an impossible
        # date (2023-02-30) must reach our own check instead of crashing PyYAML.
        return value
    raise _UnsupportedTag(tag)


def _error_line(exc: yaml.YAMLError, text: str) -> int | None:
    problem_mark = getattr(exc, "problem_mark", None)
    context_mark = getattr(exc, "context_mark", None)
    # The file's last line: a mark at the very end of the file (after its last
    # newline) names a line the file does not have, which an editor or a
    # pull-request annotation cannot show.
    last = max(1, len(text.splitlines()))
    at_end = problem_mark is not None and int(problem_mark.line) + 1 > last
    # An unclosed quote or bracket is found at the end of the file; the line
    # where it was opened is the one to fix.
    if context_mark is not None and (
        at_end or "end of stream" in str(getattr(exc, "problem", ""))
    ):
        return min(int(context_mark.line) + 1, last)
    mark = problem_mark or context_mark
    if mark is not None:
        return min(int(mark.line) + 1, last)
    position = getattr(exc, "position", None)
    if isinstance(position, int):
        return min(text.count("\n", 0, position) + 1, last)
    return None


_TAB_ADVICE = ("YAML indents with spaces, never tabs: replace the tabs at the start of the "
               "line with spaces (e.g. 2 per level, aligned with the lines around it)")


def _indented_with_tab(exc: yaml.YAMLError, text: str) -> bool:
    mark = getattr(exc, "problem_mark", None)
    if mark is None:
        return False
    lines = text.splitlines()
    line = lines[mark.line] if 0 <= mark.line < len(lines) else ""
    # The indentation, with the '- ' of list items in it ("-\txid: a" too).
    return "\t" in line[: len(line) - len(line.lstrip(" \t-"))]


def _error_message(exc: yaml.YAMLError, text: str = "") -> str:
    if _indented_with_tab(exc, text):
        return f"invalid YAML: this line is indented with a tab; {_TAB_ADVICE}"
    if isinstance(exc, yaml.reader.ReaderError):
        return f"invalid YAML: character {exc.character!r} is not allowed ({exc.reason})"
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    context_mark = getattr(exc, "context_mark", None)
    message = f"invalid YAML: {problem}"
    if context:
        line = context_mark.line + 1 if context_mark is not None else 0
        if text:  # not past the file's last line (see _error_line)
            line = min(line, max(1, len(text.splitlines())))
        where = f" at line {line}" if context_mark is not None else ""
        message += f" ({context}{where})"
    if "tab" in problem:
        message += f"; {_TAB_ADVICE}"
    elif "block" in (context or ""):
        message += "; check the indentation"
    return message


def _bad_tag(tag: str) -> str:
    name = "!!" + tag[len(_P):] if tag.startswith(_P) else tag
    return f"unsupported YAML tag {name}: only plain data (text, numbers, lists...) is allowed"


def parse(text: str, file: str, problems: list[Problem]) -> Any:
    """The data of one YAML document, made of MDict, MList and plain scalars.

    Problems are appended to ``problems``; on a problem that prevents reading
    the rest of the file, None is returned.
    """
    from . import _fastyaml  # (it builds on this module)

    plain = _fastyaml.parse(text)  # most manifests: read a line at a time, in half the CPU
    if plain is not _fastyaml.NOT_PLAIN:
        return plain
    try:
        return _Builder(file, problems).run(text)
    except _Stop:
        return None
    except yaml.YAMLError as exc:
        problems.append(Problem(file, _error_line(exc, text), "", _error_message(exc, text)))
        return None


class _Builder:
    def __init__(self, file: str, problems: list[Problem]) -> None:
        self.file = file
        self.problems = problems
        self.anchors: dict[str, tuple[Any, int]] = {}  # anchor -> (value, expanded size)
        self.open_anchors: set[str] = set()
        self.expanded = 0

    def fail(self, line: int, message: str) -> None:
        self.problems.append(Problem(self.file, line, "", message))

    def stop(self, line: int, message: str) -> _Stop:
        self.fail(line, message)
        return _Stop()

    def run(self, text: str) -> Any:
        # One loop over the events with the common cases inline (a scalar, the start
        # and end of a mapping or list): at 10,000 people a set is ~300,000 events,
        # and a method call and a type lookup per event were most of the load's CPU.
        # Same checks, in the same order, as the handlers below.
        stack: list[_Frame] = []
        self.stack = stack
        root: Any = None  # what the last value added at the top is: the document
        self.documents = 0
        add = self.add
        scalar_event, alias_event = yaml.ScalarEvent, yaml.AliasEvent
        map_start, seq_start = yaml.MappingStartEvent, yaml.SequenceStartEvent
        map_end, seq_end = yaml.MappingEndEvent, yaml.SequenceEndEvent
        document_start, stream_end = yaml.DocumentStartEvent, yaml.StreamEndEvent
        loader = _Loader(text)
        get_event = loader.get_event
        try:
            while True:
                event = get_event()
                kind = type(event)
                if kind is scalar_event:
                    line = event.start_mark.line + 1
                    if stack:
                        frame = stack[-1]
                        if frame.is_map and frame.key is None:
                            self.take_key(frame, event, line)
                            continue
                    try:
                        value = _scalar(event.tag, event.value, event.implicit)
                    except _UnsupportedTag as exc:
                        raise self.stop(line, _bad_tag(exc.tag)) from None
                    if event.anchor is not None:
                        self.anchors[event.anchor] = (value, 1)
                    root = add(stack, value, line, 1,
                               event.value if value.__class__ is not str else None)
                elif kind is map_start or kind is seq_start:
                    self.on_start(event)
                elif kind is map_end or kind is seq_end:
                    frame = stack.pop()
                    if frame.merges:
                        self.apply_merges(frame)
                    if frame.anchor is not None:
                        self.open_anchors.discard(frame.anchor)
                        self.anchors[frame.anchor] = (frame.value, frame.size)
                    root = add(stack, frame.value, frame.value.line, frame.size, None)
                elif kind is alias_event:
                    added = self.on_alias(event)
                    if added:
                        root = added[0]
                elif kind is document_start:
                    self.on_document(event)
                elif kind is stream_end or event is None:
                    return root
        finally:
            loader.dispose()

    def on_document(self, event: Any) -> None:
        self.documents += 1
        if self.documents > 1:
            raise self.stop(
                event.start_mark.line + 1,
                "a manifest file holds a single document (remove the second '---')",
            )

    def awaits_key(self) -> bool:
        """Whether the next node is the key of the mapping being read."""
        return bool(self.stack) and self.stack[-1].is_map and self.stack[-1].key is None

    def on_start(self, event: Any) -> None:
        line = event.start_mark.line + 1
        if self.awaits_key():
            raise self.stop(line, _BAD_KEY)
        is_map = type(event) is yaml.MappingStartEvent
        if event.tag not in (None, "!", _MAP if is_map else _SEQ):
            raise self.stop(line, _bad_tag(event.tag))
        if len(self.stack) >= MAX_DEPTH:
            raise self.stop(line, f"nested more than {MAX_DEPTH} levels deep")
        container: MDict | MList = MDict(line) if is_map else MList(line)
        if event.anchor is not None:
            self.open_anchors.add(event.anchor)
        self.stack.append(_Frame(container, event.anchor))

    def on_alias(self, event: Any) -> tuple[Any] | None:
        """(what ``add`` answered,) when the alias is a value; None when it is a key."""
        line = event.start_mark.line + 1
        value, size = self.resolve_alias(event.anchor, line)
        if self.awaits_key():
            if isinstance(value, (MDict, MList)):
                raise self.stop(line, _BAD_KEY)
            self.stack[-1].key, self.stack[-1].key_line = str(value), line
            return None
        return (self.add(self.stack, value, line, size, None),)

    def resolve_alias(self, anchor: str, line: int) -> tuple[Any, int]:
        if anchor in self.open_anchors:
            raise self.stop(line, f"alias *{anchor} refers to a node that contains it")
        if anchor not in self.anchors:
            raise self.stop(line, f"alias *{anchor} refers to no anchor &{anchor}")
        value, size = self.anchors[anchor]
        self.expanded += size
        if self.expanded > MAX_ALIAS_EXPANSION:
            raise self.stop(line, "aliases expand to too large a document")
        return value, size

    def take_key(self, frame: _Frame, event: Any, line: int) -> None:
        # Keys are taken as written: every key of the format is a name, and
        # YAML 1.1 would otherwise turn 'on:' or 'no:' into booleans.
        tag = event.tag
        if tag is None and event.implicit[0]:
            tag = _resolve(event.value, event.implicit)
        frame.key = _MERGE if tag == _MERGE else event.value
        frame.key_line = line
        if event.anchor is not None:
            self.anchors[event.anchor] = (event.value, 1)

    def add(self, stack: list[_Frame], value: Any, line: int, size: int, text: str | None) -> Any:
        if not stack:
            return value
        frame = stack[-1]
        frame.size += size
        container = frame.value
        if isinstance(container, MList):
            if text is not None:
                container.texts[len(container)] = text
            container.append(value)
            container.item_lines.append(line)
            return None
        key = frame.key
        frame.key = None
        assert key is not None
        if key == _MERGE:
            frame.merges.append((value, frame.key_line))
            return None
        if key in container:
            self.fail(
                frame.key_line,
                f"duplicate key '{key}' (first at line {container.key_lines[key]}); "
                "YAML keeps only one of them",
            )
            return None
        container[key] = value
        container.key_lines[key] = frame.key_line
        if text is not None:
            container.texts[key] = text
        return None

    def apply_merges(self, frame: _Frame) -> None:
        target = frame.value
        assert isinstance(target, MDict)
        for value, line in frame.merges:
            sources = value if isinstance(value, MList) else [value]
            for source in sources:
                if not isinstance(source, MDict):
                    self.fail(line, "'<<' merges a mapping or a list of mappings")
                    continue
                for key, item in source.items():
                    if key not in target:  # keys written in the mapping win
                        target[key] = item
                        target.key_lines[key] = source.key_lines[key]
                        if key in source.texts:
                            target.texts[key] = source.texts[key]
