"""JSON Schema validation of one manifest file, with messages for humans.

jsonschema's own messages speak of instances and subschemas; ours say what to
write instead, on the line of the offending key.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Callable, Iterator, Sequence
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from ..errors import Problem
from ._fastcheck import Check, compile_schema
from ._yaml import MDict, MList

if TYPE_CHECKING:  # jsonschema is imported only when the fast check cannot decide
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError


@lru_cache(maxsize=1)
def manifest_schema() -> dict[str, Any]:
    """The manifest JSON Schema shipped inside the package."""
    text = resources.files("beeplan").joinpath("schemas/manifest.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(manifest_schema())


@lru_cache(maxsize=1)
def _fast() -> Check | None:
    return compile_schema(manifest_schema())


def is_valid(root: Any) -> bool:
    """Whether the data passes the schema (fast path; jsonschema when it cannot tell)."""
    fast = _fast()
    return fast(root) if fast is not None else _validator().is_valid(root)


def format_path(parts: Sequence[Any]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def describe(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


_EXPECTED = {
    "string": "text",
    "boolean": "true or false",
    "integer": "an integer",
    "object": "a mapping",
    "array": "a list",
}


def _expected(types: Any) -> str:
    if isinstance(types, str):
        return _EXPECTED.get(types, types)
    names = [t for t in types if t != "null"]
    if sorted(names) == ["object", "string"]:
        return "an xid or {id: N}"
    if sorted(names) == ["boolean", "number", "string"]:
        return "text, a number or true/false"
    return " or ".join(_EXPECTED.get(t, t) for t in names)


def _locate(root: Any, parts: Sequence[Any]) -> tuple[int | None, str | None]:
    """The line of the last step of ``parts``, and the source text of a non-string scalar there."""
    line: int | None = root.line if isinstance(root, (MDict, MList)) else None
    text: str | None = None
    node = root
    for part in parts:
        if isinstance(node, MDict) and part in node:
            line = node.key_lines.get(part, line)
            text = node.texts.get(part)
            node = node[part]
        elif isinstance(node, MList) and isinstance(part, int) and part < len(node):
            line = node.item_lines[part]
            text = node.texts.get(part)
            node = node[part]
        else:
            break
    return line, text


def _did_you_mean(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def _messages(error: ValidationError, parts: list[Any]) -> Iterator[tuple[list[Any], str]]:
    """(path, message) pairs for one jsonschema error."""
    keyword = error.validator
    value = error.instance
    schema = error.schema if isinstance(error.schema, dict) else {}
    if schema.get("type") == ["string", "object"] and isinstance(value, dict):
        # A reference written as a mapping: one message, not one per keyword.
        if keyword == "additionalProperties":
            xid = value.get("xid")
            example = f"'{xid}'" if isinstance(xid, str) else "its xid as text"
            yield parts, f"write the reference as {example}, or as {{id: N}}"
        elif keyword == "required" and not set(value) - {"id"}:
            yield parts, "a reference is an xid as text, or {id: N}"
        elif keyword not in ("required", "additionalProperties"):
            yield from _messages_plain(error, parts)
        return
    yield from _messages_plain(error, parts)


def _messages_plain(error: ValidationError, parts: list[Any]) -> Iterator[tuple[list[Any], str]]:
    keyword = error.validator
    if isinstance(error.instance, dict) and keyword in _ON_MAPPING:
        yield from _ON_MAPPING[keyword](error, parts)
    elif keyword not in ("anyOf", "not"):  # on anything but a mapping, the type error says it
        yield parts, _message(error, parts[-1] if parts else None)


def _unknown_keys(error: ValidationError, parts: list[Any]) -> Iterator[tuple[list[Any], str]]:
    schema = error.schema if isinstance(error.schema, dict) else {}
    allowed = sorted(schema.get("properties", {}))
    for key in error.instance:
        if key not in allowed:
            hint = _did_you_mean(str(key), allowed) or (
                f" (allowed: {', '.join(allowed)})" if allowed else ""
            )
            yield [*parts, key], f"unknown key '{key}'{hint}"


def _missing_keys(error: ValidationError, parts: list[Any]) -> Iterator[tuple[list[Any], str]]:
    missing = [key for key in error.validator_value if key not in error.instance]
    # jsonschema reports each missing key separately; say each once.
    if missing and error.message.startswith(repr(missing[0])):
        for key in missing:
            yield parts, f"missing required key '{key}'"


def _no_xid(error: ValidationError, parts: list[Any]) -> Iterator[tuple[list[Any], str]]:
    yield parts, "missing 'xid' (or 'id: N' to adopt an existing entity without an xid)"


def _both_ids(error: ValidationError, parts: list[Any]) -> Iterator[tuple[list[Any], str]]:
    yield parts, "has both 'xid' and 'id': give the xid, or the id of an entity to adopt"


# The messages about an entry (a mapping), by the schema keyword it fails.
_ON_MAPPING: dict[str, Callable[[ValidationError, list[Any]], Iterator[tuple[list[Any], str]]]] = {
    "additionalProperties": _unknown_keys,
    "required": _missing_keys,
    "anyOf": _no_xid,
    "not": _both_ids,
}


def _message(error: ValidationError, last: Any) -> str:
    """What a value that fails ``error.validator`` is told; ``last``: the key it sits under."""
    keyword, value, limit = error.validator, error.instance, error.validator_value
    if keyword == "type":
        return f"expected {_expected(limit)}, got {describe(value)}"
    if keyword == "minLength":
        names = {"xid": "an xid", "name": "a name", "customFields": "a custom field name"}
        what = names.get(str(last), "a reference" if isinstance(last, int) else "this")
        return f"{what} cannot be empty"
    if keyword == "maxLength" and isinstance(value, str):
        what = {"xid": "an xid", "name": "a name"}.get(str(last), f"'{last}'")
        return (f"{what} is too long: {len(value):,} characters, at most "
                f"{limit:,} (the API refuses more)")
    if keyword == "minimum":
        return (f"an id is a positive integer, got {value}" if last == "id"
                else f"'{last}' is at least {limit}, got {value}")
    if keyword == "pattern":
        return {
            "startDate": f"'{value}' is not a date: write YYYY-MM-DD",
            "email": f"'{value}' is not an email address",
        }.get(str(last), f"'{value}' does not match {limit}")
    if keyword == "enum":
        choices = [str(c) for c in limit]
        hint = _did_you_mean(str(value), choices) if isinstance(value, str) else ""
        return f"'{value}' is not one of {', '.join(choices)}{hint}"
    if keyword == "propertyNames":
        return f"'{value}' is not a valid name"
    return str(error.message)


def _unbounded_ratios(root: Any, file: str) -> list[Problem]:
    """``settings.safety`` ratios that are not finite numbers (``.nan``, ``.inf``).

    JSON Schema's ``minimum: 0`` lets both through: a NaN compares false with
    every count, so ``ratio: .nan`` would silently switch the threshold off
    (and not read as loosened), and ``.inf`` is no JSON number for a plan file.
    """
    settings = root.get("settings") if isinstance(root, dict) else None
    safety = settings.get("safety") if isinstance(settings, dict) else None
    if not isinstance(safety, dict):
        return []
    rules: list[tuple[list[Any], Any]] = [(["settings", "safety"], safety)]
    kinds = safety.get("kinds")
    if isinstance(kinds, dict):
        rules += [(["settings", "safety", "kinds", kind], rule) for kind, rule in kinds.items()]
    problems = []
    for parts, rule in rules:
        ratio = rule.get("ratio") if isinstance(rule, dict) else None
        if isinstance(ratio, float) and not math.isfinite(ratio):
            line, text = _locate(root, [*parts, "ratio"])
            problems.append(Problem(file, line, format_path([*parts, "ratio"]), (
                f"a ratio is a finite number, got {text or ratio}: write 1 to never refuse "
                "on the share alone, or a share such as 0.1")))
    return problems


def _any_typed_id(node: Any) -> bool:
    """Whether some mapping in ``node`` has an ``id`` YAML typed from text (a number).

    The walk ``_id_spellings`` makes, without the paths it writes on the way:
    most files have no ``id`` at all, and the paths were most of its cost.
    """
    if isinstance(node, MDict):
        if "id" in node.texts:
            return True
        children: Any = node.values()
    elif isinstance(node, MList):
        children = node
    else:
        return False
    for child in children:
        if isinstance(child, (MDict, MList)) and _any_typed_id(child):
            return True
    return False


def _id_spellings(node: Any, file: str, parts: list[Any]) -> list[Problem]:
    """Ids written other than in decimal digits: ``0x10``, ``010`` (octal), ``1_000``, ``1.0``.

    YAML reads each as a number (16, 8, 1000, 1.0), so the pull request a
    reviewer reads says one entity while apply adopts, renames or removes another.
    """
    problems: list[Problem] = []
    if isinstance(node, MDict):
        text = node.texts.get("id")
        value = node.get("id")
        # Other values (0, .inf, 1.5) are the schema's "a positive integer" error.
        if (text is not None and isinstance(value, (int, float)) and not isinstance(value, bool)
                and math.isfinite(value) and value == int(value) and value > 0
                and not re.fullmatch(r"[1-9][0-9]*", text)):
            problems.append(Problem(file, node.key_lines.get("id"), format_path([*parts, "id"]), (
                f"an id is written in decimal digits, got {text}, which YAML reads as "
                f"{value!r}: write {int(value)} if that is the entity you mean")))
        for key, child in node.items():
            if isinstance(child, (MDict, MList)):  # a scalar holds no id: no call for it
                problems += _id_spellings(child, file, [*parts, key])
    elif isinstance(node, MList):
        for index, child in enumerate(node):
            if isinstance(child, (MDict, MList)):
                problems += _id_spellings(child, file, [*parts, index])
    return problems


def check(root: Any, file: str) -> list[Problem]:
    """Schema problems of one file's data, each on the line of the offending node."""
    problems: list[Problem] = _unbounded_ratios(root, file)
    if _any_typed_id(root):
        problems += _id_spellings(root, file, [])
    fast = _fast()
    if fast is not None and fast(root):
        return problems
    for error in _validator().iter_errors(root):
        parts = list(error.absolute_path)
        for path, message in _messages(error, parts):
            line, text = _locate(root, path)
            if (path and path[-1] == "id" and error.validator in ("type", "minimum")
                    and isinstance(error.schema, dict) and error.schema.get("type") == "integer"):
                # One sentence whatever the id is (.inf, true, 1.5, "x", -3), quoted as written.
                shown = text if text is not None else repr(error.instance)
                message = f"an id is a positive integer, got {shown}"
                if isinstance(error.instance, str) and error.instance.strip().isdigit():
                    message += f" (text); write it without quotes: {error.instance.strip()}"
                problem = Problem(file, line, format_path(path), message)
                if problem not in problems:
                    problems.append(problem)
                continue
            if error.validator == "type" and text is not None and "text" in _expected(
                error.validator_value
            ):
                # YAML typed what was meant as text (no, 2024, 1.10): say how to keep it.
                message += f"; quote it: \"{text}\""
            problems.append(Problem(file, line, format_path(path), message))
    return problems
