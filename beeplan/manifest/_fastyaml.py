"""A fast reader for the plain YAML most manifests are written in.

``_yaml`` builds the data from libyaml's event stream: about 300,000 events at
10,000 people, and creating each event object, then handling it in Python, was
most of a load's CPU. Manifests are nearly always written in a small part of
YAML (block mappings and lists, one value per line, plain or simply quoted text,
full-line comments), and that part can be read a line at a time.

This reads exactly that part, with flow collections written on one line
(``[a, b]``, ``{k: v}``) and comments after a value, and gives up (returns
``NOT_PLAIN``) on anything else: anchors and aliases, tags, block scalars,
escapes, tabs, multi-line values, several documents, duplicate keys, odd
indentation, a ``#`` after a quote. ``_yaml.parse`` then reads the file as
before, and stays the only place that explains what is wrong with a file.
What this returns is the same data, with the same lines, that ``_yaml`` builds
from the same text: scalars are typed by ``_yaml``'s own resolver, and
tests/test_yaml_fast.py compares both readers on every manifest the project
has, on generated sets and on thousands of damaged files.
"""

from __future__ import annotations

import re
from typing import Any

from ._yaml import _IMPLICIT, _WILDCARD, MAX_DEPTH, MDict, MList, _scalar, _UnsupportedTag

NOT_PLAIN = object()  # the text is not in the part of YAML this reads

_PLAIN = (True, False)

# Anything this reader does not take, found in the whole text at once: characters
# YAML forbids or reads as line breaks beside '\n' (control characters, tabs, '\r',
# NEL, the Unicode line and paragraph separators, surrogates, a byte-order mark,
# the two non-characters), and the lines that start or end a document or hold a
# directive. (Written as what is refused: the class of what YAML allows takes 7 ms
# to compile, paid by every command.)
_NOT_PLAIN_TEXT = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufeff\ufffe\uffff]"
    r"|^(?:---|\.\.\.|%)",
    re.M,
)
# What may not start a plain key or value (YAML's indicators; '-', '?' and ':'
# only when a space follows them, but those are rare enough to leave to _yaml).
_INDICATORS = frozenset("-?:,[]{}#&*!|>'\"%@`")
_SINGLE = re.compile(r"'((?:[^']|'')*)'")
_DOUBLE = re.compile(r'"([^"\\]*)"')
# A scalar in a flow collection ('[a, b]', '{k: v}'): quoted without escapes, or
# plain without a character that means something in a flow (trailing spaces cut).
_FLOW_SCALAR = re.compile(
    r"""'(?:[^']|'')*'|"[^"\\]*"|[^\s,'"\[\]{}:#&*!|>%@`?\-][^,'"\[\]{}:#]*"""
)
_RESOLVED_BY_FIRST = frozenset(_IMPLICIT) | {""}
# First characters that need ``_value``: any other starts text no resolver claims.
_CARE = _INDICATORS | _RESOLVED_BY_FIRST
_QUOTES_OR_FLOW = frozenset("'\"[{")


class _NotPlain(Exception):
    pass


def parse(text: str) -> Any:
    """The data of ``text`` as ``_yaml.parse`` builds it, or ``NOT_PLAIN``."""
    if _WILDCARD or _NOT_PLAIN_TEXT.search(text):
        return NOT_PLAIN  # (a resolver for every first character: a PyYAML we do not know)
    numbers: list[int] = []
    indents: list[int] = []
    rests: list[str] = []
    for number, line in enumerate(text.split("\n"), 1):
        content = line.rstrip(" ")
        rest = content.lstrip(" ")
        if not rest or rest[0] == "#":
            continue
        numbers.append(number)
        indents.append(len(content) - len(rest))
        if " #" in rest:  # a comment after the content
            rest = rest[:rest.index(" #")].rstrip(" ")
            if "'" in rest or '"' in rest:
                return NOT_PLAIN  # perhaps that '#' is in quotes: _yaml tells
        rests.append(rest)
    if not rests:
        return NOT_PLAIN
    reader = _Reader(numbers, indents, rests)
    try:
        value = reader.block(0, indents[0], 0)
    except _NotPlain:
        return NOT_PLAIN
    if reader.at != len(rests):
        return NOT_PLAIN  # more after the document: _yaml says what
    return value


def _is_item(rest: str) -> bool:
    return rest[0] == "-" and (len(rest) == 1 or rest[1] == " ")


def _flow(text: str, line: int, depth: int) -> MDict | MList:
    """A flow collection written whole on one line: '[a, b]', '{k: v, l: [c]}'."""
    value, at = _flow_at(text, 0, line, depth)
    if at != len(text):
        raise _NotPlain  # something after it, or not closed on its line
    return value


def _flow_at(text: str, at: int, line: int, depth: int) -> tuple[MDict | MList, int]:
    """The flow collection that opens at ``text[at]``, and where it ends."""
    if depth >= MAX_DEPTH:
        raise _NotPlain
    found: MDict | MList = MList(line) if text[at] == "[" else MDict(line)
    close = "]" if text[at] == "[" else "}"
    at = _skip(text, at + 1)
    if at < len(text) and text[at] == close:
        return found, at + 1  # '[]', '{}'
    while True:
        if at >= len(text):
            raise _NotPlain  # continued on the next line: _yaml reads it
        if isinstance(found, MDict):
            match = _FLOW_SCALAR.match(text, at)
            if match is None:
                raise _NotPlain
            key = match.group().rstrip(" ")
            if not key or key[0] in "'\"" or key in found or key == "<<":
                raise _NotPlain
            at = _skip(text, match.end())
            if text[at:at + 2] != ": ":
                raise _NotPlain  # '{a}', '{a:b}' and the like
            value, typed, at = _flow_item(text, _skip(text, at + 2), line, depth)
            if typed is not None:
                found.texts[key] = typed
            found[key] = value
            found.key_lines[key] = line
        else:
            value, typed, at = _flow_item(text, at, line, depth)
            if typed is not None:
                found.texts[len(found)] = typed
            found.append(value)
            found.item_lines.append(line)
        at = _skip(text, at)
        if at < len(text) and text[at] == ",":
            at = _skip(text, at + 1)
            if at < len(text) and text[at] == close:
                raise _NotPlain  # a trailing comma
        elif at < len(text) and text[at] == close:
            return found, at + 1
        else:
            raise _NotPlain


def _flow_item(text: str, at: int, line: int, depth: int) -> tuple[Any, str | None, int]:
    """(value, its text when typed, where it ends) of the flow node at ``text[at]``."""
    if at < len(text) and text[at] in "[{":
        value, at = _flow_at(text, at, line, depth + 1)
        return value, None, at
    match = _FLOW_SCALAR.match(text, at)
    if match is None:
        raise _NotPlain
    token = match.group().rstrip(" ")
    if not token:
        raise _NotPlain
    value, typed = _value(token, line, depth)
    return value, typed, match.end()


def _skip(text: str, at: int) -> int:
    while at < len(text) and text[at] == " ":
        at += 1
    return at


def _value(text: str, line: int, depth: int) -> tuple[Any, str | None]:
    """A one-line value: (value, its text when YAML typed it as no string)."""
    first = text[0]
    if first == "[" or first == "{":
        return _flow(text, line, depth), None
    if first == "'":
        match = _SINGLE.fullmatch(text)
        if match is None:
            raise _NotPlain
        return match.group(1).replace("''", "'"), None
    if first == '"':
        match = _DOUBLE.fullmatch(text)
        if match is None:
            raise _NotPlain
        return match.group(1), None
    if first in _INDICATORS or ": " in text or text[-1] == ":":
        raise _NotPlain
    if first not in _RESOLVED_BY_FIRST:
        return text, None  # most values: text no resolver claims
    try:
        value = _scalar(None, text, _PLAIN)
    except _UnsupportedTag:  # '<<' alone, say: _yaml explains
        raise _NotPlain from None
    return value, (text if value.__class__ is not str else None)


class _Reader:
    def __init__(self, numbers: list[int], indents: list[int], rests: list[str]) -> None:
        self.numbers = numbers
        self.indents = indents
        self.rests = rests
        self.at = 0  # the next line to read
        self.end = len(rests)

    def block(self, at: int, indent: int, depth: int) -> MDict | MList:
        if _is_item(self.rests[at]):
            return self.items(at, indent, depth)
        return self.mapping(at, indent, depth)

    # The two loops below are the whole cost of a load's YAML at scale (one pass per
    # line): the common cases are written inline, the rest goes to the functions above.

    def mapping(self, at: int, indent: int, depth: int) -> MDict:
        if depth >= MAX_DEPTH:
            raise _NotPlain  # _yaml says how deep is too deep
        numbers, indents, rests, end = self.numbers, self.indents, self.rests, self.end
        found = MDict(numbers[at])
        key_lines, texts = found.key_lines, found.texts
        while at < end and indents[at] == indent:
            rest = rests[at]
            colon = rest.find(": ")
            if colon < 0:
                if rest[-1] != ":":
                    raise _NotPlain  # no key: a stray value, or a list item among keys
                key, text = rest[:-1], ""
            else:
                key, text = rest[:colon], rest[colon + 2:].lstrip(" ")
            if (not key or key[0] in _INDICATORS or key[-1] == " " or key == "<<"
                    or key in found):  # (a repeated key: _yaml names both lines)
                raise _NotPlain
            line = numbers[at]
            at += 1
            if text:
                if text[0] in _CARE or text[-1] == ":" or ": " in text:
                    value, typed = _value(text, line, depth + 1)
                    if typed is not None:
                        texts[key] = typed
                else:
                    value = text  # most values: text no resolver claims
            elif at < end and (indents[at] > indent
                               or (indents[at] == indent and _is_item(rests[at]))):
                value = self.block(at, indents[at], depth + 1)
                at = self.at
            else:
                value = None  # 'key:' and nothing: YAML's null, written as ''
                texts[key] = ""
            found[key] = value
            key_lines[key] = line
            if at < end and indents[at] > indent:
                raise _NotPlain  # a value's second line, or bad indentation
        self.at = at
        return found

    def items(self, at: int, indent: int, depth: int) -> MList:
        if depth >= MAX_DEPTH:
            raise _NotPlain
        numbers, indents, rests, end = self.numbers, self.indents, self.rests, self.end
        found = MList(numbers[at])
        item_lines, texts = found.item_lines, found.texts
        while at < end and indents[at] == indent:
            rest = rests[at]
            if rest[0] != "-" or len(rest) < 3 or rest[1] != " ":
                if _is_item(rest):
                    raise _NotPlain  # '-' alone: an empty item, or one on the next lines
                break  # a key after an indentless list: the mapping's next
            item = rest[2:].lstrip(" ")
            line = numbers[at]
            first = item[0]
            if first not in _QUOTES_OR_FLOW and (": " in item or item[-1] == ":"):
                # '- key: value' starts a mapping at the column of its key.
                indents[at] = indent + len(rest) - len(item)
                rests[at] = item
                value: Any = self.mapping(at, indents[at], depth + 1)
                at = self.at
            else:
                if first in _CARE:
                    value, typed = _value(item, line, depth + 1)
                    if typed is not None:
                        texts[len(found)] = typed
                else:
                    value = item
                at += 1
            found.append(value)
            item_lines.append(line)
            if at < end and indents[at] > indent:
                raise _NotPlain  # a value's second line, or bad indentation
        self.at = at
        return found
