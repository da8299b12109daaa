"""The schema of Beebole's current platform, as graphql-core types.

``schema.json`` next to this file is the introspection result of the real API
(376 types, 87 queries, 745 mutations) with its structure kept and every
description string removed: types, fields, arguments and enum values are facts
about the API, the descriptions were Beebole's words. ``rebuild`` makes it from
a raw introspection result (the one in ``shared/reference/beebole-current/``).
"""

from __future__ import annotations

import functools
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from graphql import (
    GraphQLError,
    GraphQLScalarType,
    GraphQLSchema,
    IntrospectionQuery,
    ValueNode,
    build_client_schema,
    parse,
    validate,
    value_from_ast_untyped,
)

SCHEMA_FILE = Path(__file__).with_name("schema.json")


def structure_only(introspection: dict[str, Any]) -> dict[str, Any]:
    """The introspection result without descriptions, completed where graphql-core needs it.

    The published result lacks ``interfaces`` on object types and the directive
    list (the real API declares no interfaces); both are filled in empty.
    """
    root = introspection.get("data", introspection)["__schema"]
    types = []
    for t in root["types"]:
        t = {k: v for k, v in t.items() if k != "description"}
        if t["kind"] == "OBJECT":
            t["interfaces"] = t.get("interfaces") or []
        for key in ("fields", "inputFields"):
            if t.get(key):
                t[key] = [_strip_field(f) for f in t[key]]
        if t.get("enumValues"):
            t["enumValues"] = [{k: v for k, v in e.items() if k != "description"}
                               for e in t["enumValues"]]
        types.append(t)
    return {"__schema": {"queryType": root["queryType"], "mutationType": root["mutationType"],
                         "subscriptionType": root.get("subscriptionType"),
                         "types": types, "directives": []}}


def _strip_field(field: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in field.items() if k != "description"}
    if out.get("args"):
        out["args"] = [{k: v for k, v in a.items() if k != "description"} for a in out["args"]]
    return out


@functools.lru_cache(maxsize=1)
def load_schema() -> GraphQLSchema:
    """The shipped schema (built once per process: it has hundreds of types).

    An introspection result says nothing of what a custom scalar accepts, so
    graphql-core would take anything; the rules the real API states for its
    scalars are attached here, and a value breaking one fails validation.
    """
    schema = build_client_schema(cast(IntrospectionQuery,
                                      json.loads(SCHEMA_FILE.read_text("utf-8"))))
    for name, check in SCALAR_RULES.items():
        scalar = schema.get_type(name)
        if isinstance(scalar, GraphQLScalarType):
            # graphql-core 3.2 reads parse_value/parse_literal, 3.3 coerce_input_value
            for attr, fn in (("parse_value", check), ("parse_literal", _literal(check)),
                             ("coerce_input_value", check)):
                setattr(scalar, attr, fn)
    return schema


def check_document(query: str) -> list[str]:
    """The messages of everything wrong with a document against the real schema (none: valid).

    For tests of what a client sends: the same check the sandbox makes first.
    """
    try:
        document = parse(query)
    except GraphQLError as exc:
        return [exc.message]
    return [error.message for error in validate(load_schema(), document)]


def _literal(check: Callable[[Any], Any]) -> Callable[..., Any]:
    def parse_literal(node: ValueNode, variables: dict[str, Any] | None = None) -> Any:
        return check(value_from_ast_untyped(node, variables))
    return parse_literal


def _one_of(name: str, allowed: tuple[str, ...]) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if value not in allowed:
            raise GraphQLError(f"{name} is one of {', '.join(allowed)}")
        return value
    return check


def _id(value: Any) -> str:
    if not isinstance(value, str) or not _HEX24.fullmatch(value):
        raise GraphQLError("a BeeboleId is 24 hexadecimal characters")
    return value


def _timestamp(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) \
            or value <= 1e10:
        raise GraphQLError("a BeeboleTimestamp is whole milliseconds since 1970, over 1e10")
    return int(value)


def _name(value: Any) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 160 or _URL_OR_HTML.search(value):
        raise GraphQLError("a BeeboleName is 1 to 160 characters, without URLs or HTML")
    return value


def _color(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 71:
        raise GraphQLError("a BeeboleColor is a palette index from 0 to 71")
    return value


def _email(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 254 or not _EMAIL.fullmatch(value):
        raise GraphQLError("a BeeboleEmail is a valid email address")
    return value


def _date(value: Any) -> str:
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise GraphQLError("a BeeboleDateISO is a date like 2022-11-29")
    return value


_HEX24 = re.compile(r"[0-9a-f]{24}")
_URL_OR_HTML = re.compile(r"https?://|www\.|<[a-zA-Z!/]", re.IGNORECASE)
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

# What the real API states of its scalars (facts of the introspection result).
SCALAR_RULES: dict[str, Callable[[Any], Any]] = {
    "BeeboleId": _id,
    "BeeboleTimestamp": _timestamp,
    "BeeboleName": _name,
    "BeeboleColor": _color,
    "BeeboleEmail": _email,
    "BeeboleDateISO": _date,
    "BeeboleAbsenceUnit": _one_of("BeeboleAbsenceUnit", ("day", "hour")),
    "BeeboleApprovalStatus": _one_of("BeeboleApprovalStatus", ("d", "s", "a", "r")),
    "BeeboleFollowingCondition": _one_of("BeeboleFollowingCondition", ("OR", "AND")),
}


def rebuild(source: str) -> None:
    """Write ``schema.json`` from a raw introspection result at ``source``."""
    raw = json.loads(Path(source).read_text("utf-8"))
    cleaned = structure_only(raw)
    # refuse to ship something graphql-core cannot load
    build_client_schema(cast(IntrospectionQuery, cleaned))
    SCHEMA_FILE.write_text(json.dumps(cleaned, separators=(",", ":"), sort_keys=True) + "\n",
                           "utf-8")


if __name__ == "__main__":  # python -m beeplan.platforms.current.sandbox.schema INTROSPECTION
    rebuild(sys.argv[1])
