"""A fast yes/no check of the manifest schema, for the common case: valid files.

jsonschema walks every node through its generic machinery (about 0.1 ms per
entity); a 10,000-entity set would spend a second there. This compiles the
handful of keywords the manifest schema uses into plain closures that only
answer "valid or not". A file that fails is then run through jsonschema, which
stays the single authority on what is wrong and where. The tests check that
both agree on every invalid case and on generated documents.

A schema using a keyword not handled here is not compiled (``compile_schema``
returns None) and jsonschema checks everything: slower, never wrong.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Check = Callable[[Any], bool]

_ANNOTATIONS = {"description", "default", "title", "$schema", "$defs", "$id", "$comment"}


class _Unsupported(Exception):
    pass


def _is_type(name: str) -> Check:
    if name == "string":
        return lambda v: isinstance(v, str)
    if name == "boolean":
        return lambda v: isinstance(v, bool)
    if name == "integer":
        return lambda v: (isinstance(v, int) and not isinstance(v, bool)) or (
            isinstance(v, float) and v.is_integer())
    if name == "number":
        return lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)
    if name == "object":
        return lambda v: isinstance(v, dict)
    if name == "array":
        return lambda v: isinstance(v, list)
    if name == "null":
        return lambda v: v is None
    raise _Unsupported(f"type {name}")


# The checks below are closures with plain loops rather than all()/any() over a
# generator: a 10,000-person set makes ~1.5 million of these calls, and a
# generator per call was most of their cost. Every check is a pure yes/no with
# no side effect, so the order they run in changes nothing but the time.

def _all_of(checks: list[Check]) -> Check:
    if len(checks) == 1:
        return checks[0]

    def all_of(v: Any) -> bool:
        for check in checks:
            if not check(v):
                return False
        return True
    return all_of


def _any_of(checks: list[Check]) -> Check:
    if len(checks) == 1:
        return checks[0]

    def any_of(v: Any) -> bool:
        for check in checks:
            if check(v):
                return True
        return False
    return any_of


def _members(props: dict[str, Check], extra: Check | None,
             typed: bool = False, required: tuple[str, ...] = ()) -> Check:
    """``properties`` (and ``additionalProperties`` when ``extra``): one pass over the keys;
    with ``typed``, ``type: object`` and ``required`` too."""
    def members(v: Any) -> bool:
        if not isinstance(v, dict):
            return not typed
        for key in required:
            if key not in v:
                return False
        for key, item in v.items():
            check = props.get(key)
            if check is None:
                if extra is not None and not extra(item):
                    return False
            elif not check(item):
                return False
        return True
    return members


class _Compiler:
    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root
        self.defs: dict[str, Check] = {}

    def ref(self, pointer: str) -> Check:
        prefix = "#/$defs/"
        name = pointer[len(prefix):]
        if not pointer.startswith(prefix) or name not in self.root.get("$defs", {}):
            raise _Unsupported(pointer)
        if name in self.defs:  # compiled already: call it directly
            return self.defs[name]
        # Late binding: definitions may be recursive (child groups).
        defs = self.defs
        return lambda v: defs[name](v)

    def compile(self, schema: Any) -> Check:
        if schema is True:
            return lambda v: True
        if schema is False:
            return lambda v: False
        if not isinstance(schema, dict):
            raise _Unsupported(repr(schema))
        fused = self.fused(schema)
        if fused is not None:
            return fused
        checks: list[Check] = []
        for keyword, value in schema.items():
            if keyword in _ANNOTATIONS:
                continue
            if keyword == "additionalProperties" and "properties" in schema:
                continue  # checked with the properties, in the same pass
            if keyword in ("type", "required") and _typed_object(schema):
                continue  # so are these
            checks.append(self.keyword(keyword, value, schema))
        return _all_of(checks)

    def fused(self, schema: dict[str, Any]) -> Check | None:
        """One check for the schemas most nodes meet (text, a list of items), instead of
        one per keyword: at 10,000 people a node's keywords were a call each."""
        keywords = {k: v for k, v in schema.items() if k not in _ANNOTATIONS}
        if keywords.get("type") == "string" and keywords.keys() <= _TEXT_KEYWORDS:
            return _text(keywords.get("minLength"), keywords.get("maxLength"),
                         keywords.get("pattern"))
        if keywords.get("type") == "array" and keywords.keys() == {"type", "items"}:
            return _list_of(self.compile(keywords["items"]), typed=True)
        return None

    def keyword(self, keyword: str, value: Any, schema: dict[str, Any]) -> Check:
        leaf = _LEAF_KEYWORDS.get(keyword)
        if leaf is not None:  # a constraint on the value itself: no subschema to compile
            return leaf(value)
        if keyword == "$ref":
            return self.ref(value)
        if keyword in ("properties", "additionalProperties"):
            if "patternProperties" in schema:
                raise _Unsupported("patternProperties")
            props = {name: self.compile(sub) for name, sub in schema.get("properties", {}).items()}
            extra = (self.compile(schema["additionalProperties"])
                     if "additionalProperties" in schema else None)
            if _typed_object(schema):
                return _members(props, extra, True, tuple(schema.get("required", ())))
            return _members(props, extra)
        if keyword == "propertyNames":
            name_check = self.compile(value)
            return lambda v: not isinstance(v, dict) or all(name_check(key) for key in v)
        if keyword == "items":
            return _list_of(self.compile(value), typed=False)
        if keyword == "anyOf":
            return _any_of([self.compile(sub) for sub in value])
        if keyword == "not":
            negated = self.compile(value)
            return lambda v: not negated(v)
        raise _Unsupported(keyword)


def _typed_object(schema: dict[str, Any]) -> bool:
    """``type: object`` beside properties: one check of the mapping and its keys."""
    return schema.get("type") == "object" and (
        "properties" in schema or "additionalProperties" in schema)


_TEXT_KEYWORDS = frozenset({"type", "minLength", "maxLength", "pattern"})


def _text(shortest: int | None, longest: int | None, pattern: str | None) -> Check:
    """``type: string`` with its lengths and pattern, in one call."""
    least = shortest if shortest is not None else 0
    most = longest if longest is not None else float("inf")
    search = re.compile(pattern).search if pattern is not None else None

    def text(v: Any) -> bool:
        return (isinstance(v, str) and least <= len(v) <= most
                and (search is None or search(v) is not None))
    return text


def _list_of(item: Check, typed: bool) -> Check:
    """``items`` (with ``typed``, ``type: array`` too), in one call."""
    def list_of(v: Any) -> bool:
        if not isinstance(v, list):
            return not typed
        for x in v:
            if not item(x):
                return False
        return True
    return list_of


def _type(value: Any) -> Check:
    names = [value] if isinstance(value, str) else list(value)
    return _any_of([_is_type(name) for name in names])


def _required(value: Any) -> Check:
    required = list(value)
    return lambda v: not isinstance(v, dict) or all(key in v for key in required)


def _min_length(value: Any) -> Check:
    return lambda v: not isinstance(v, str) or len(v) >= value


def _max_length(value: Any) -> Check:
    return lambda v: not isinstance(v, str) or len(v) <= value


def _minimum(value: Any) -> Check:
    return lambda v: not isinstance(v, (int, float)) or isinstance(v, bool) or v >= value


def _pattern(value: Any) -> Check:
    search = re.compile(value).search
    return lambda v: not isinstance(v, str) or search(v) is not None


def _enum(value: Any) -> Check:
    if not all(isinstance(choice, str) for choice in value):
        raise _Unsupported("enum of non-strings")
    choices = frozenset(value)
    return lambda v: isinstance(v, str) and v in choices


# Keywords that constrain the value itself (no subschema): keyword -> its check's builder.
_LEAF_KEYWORDS: dict[str, Callable[[Any], Check]] = {
    "type": _type,
    "required": _required,
    "minLength": _min_length,
    "maxLength": _max_length,
    "minimum": _minimum,
    "pattern": _pattern,
    "enum": _enum,
}


def compile_schema(schema: dict[str, Any]) -> Check | None:
    """A function telling whether a document is valid, or None if the schema is out of reach."""
    compiler = _Compiler(schema)
    try:
        for name, sub in schema.get("$defs", {}).items():
            compiler.defs[name] = compiler.compile(sub)
        return compiler.compile(schema)
    except _Unsupported:
        return None
