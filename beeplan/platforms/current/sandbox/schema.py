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
import sys
from pathlib import Path
from typing import Any, cast

from graphql import GraphQLSchema, IntrospectionQuery, build_client_schema

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
    """The shipped schema (built once per process: it has hundreds of types)."""
    return build_client_schema(cast(IntrospectionQuery,
                                    json.loads(SCHEMA_FILE.read_text("utf-8"))))


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
