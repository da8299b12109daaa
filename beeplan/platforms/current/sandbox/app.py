"""The WSGI application: POST /graphql with an ``apikey`` header.

Answers are ``{data, errors, permissionsErrors}`` as the reference describes.
Every document is parsed and validated against the real schema before
anything runs; a bug in the sandbox is logged and answered HTTP 500 with a
JSON body, never a traceback.
"""

from __future__ import annotations

import hmac
import json
import logging
import random
import secrets
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    REMOVE,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    execute,
    parse,
    validate,
    visit,
)

from ....sandboxcore import FaultKnobs, drop_connection, has_lone_surrogate
from .engine import Context, now_ms
from .ops import root_resolver
from .schema import load_schema
from .store import Store

log = logging.getLogger("beeplan.sandbox.current")
PATH = "/graphql"


@dataclass
class Knobs(FaultKnobs):
    """Test knobs: the faults every sandbox has (latency, errors, drops, body size), and the
    current platform's own. Plain attributes: tests change them on a running server."""

    inactive: bool = False  # 402 AccountIsInactive
    audit_trail: bool = True  # False: this account's plan has no audit trail
    # Fields the key's role may not read, as the reference names them: "Query.getPersons",
    # "BeebolePerson.email", "BeebolePerson.*". They are left out of data and listed.
    denied: set[str] = field(default_factory=set)
    max_depth: int = 20
    max_fields: int = 20000  # field selections in one document, aliases included


class Dropped(Exception):
    """Close the connection without an answer (the request was received: it is counted)."""

    def __init__(self, size_in: int):
        super().__init__("dropped on purpose")
        self.size_in = size_in


def _answer(data: Any = None, errors: list[str] | None = None,
            permissions: list[str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"data": data}
    if errors:
        out["errors"] = [{"message": m} for m in errors]
    if permissions:
        out["permissionsErrors"] = permissions
    return out


def measure(document: DocumentNode) -> tuple[int, int]:
    """(depth, field selections) of a document, with its fragments expanded where spread.

    Counting fragments where they are spread matters: a chain of fragments, each
    one level deep, would otherwise pass any depth limit, and a fragment spread
    many times selects its fields each time.
    """
    fragments = {d.name.value: d.selection_set for d in document.definitions
                 if isinstance(d, FragmentDefinitionNode)}
    memo: dict[str, tuple[int, int]] = {}

    def walk(selection_set: SelectionSetNode, active: frozenset[str]) -> tuple[int, int]:
        depth, fields = 1, 0
        for node in selection_set.selections:
            if isinstance(node, FieldNode):
                fields += 1
                if node.selection_set is not None:
                    d, f = walk(node.selection_set, active)
                    depth, fields = max(depth, d + 1), fields + f
            elif isinstance(node, InlineFragmentNode):
                d, f = walk(node.selection_set, active)
                depth, fields = max(depth, d), fields + f
            elif isinstance(node, FragmentSpreadNode):
                name = node.name.value
                if name in active or name not in fragments:
                    continue  # a cycle or an unknown fragment: validation refuses it next
                if name not in memo:
                    memo[name] = walk(fragments[name], active | {name})
                d, f = memo[name]
                depth, fields = max(depth, d), fields + f
            fields = min(fields, 10**9)  # a fragment bomb stays a number
        return depth, fields

    depth, fields = 0, 0
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            d, f = walk(definition.selection_set, frozenset())
            depth, fields = max(depth, d), fields + f
    return depth, fields


class _Prune(Visitor):
    """Removes the fields the key may not read, noting each as the reference lists them."""

    def __init__(self, type_info: TypeInfo, denied: set[str], noted: list[str]):
        super().__init__()
        self.type_info = type_info
        self.denied = denied
        self.noted = noted

    def enter_field(self, node: FieldNode, *_: Any) -> Any:
        parent = self.type_info.get_parent_type()
        if parent is None:
            return None
        name = f"{parent.name}.{node.name.value}"
        star = f"{parent.name}.*"
        if name in self.denied or star in self.denied:
            note = star if star in self.denied else name
            if note not in self.noted:
                self.noted.append(note)
            return REMOVE
        return None

    def leave_field(self, node: FieldNode, *_: Any) -> Any:
        if node.selection_set is not None and not node.selection_set.selections:
            return REMOVE  # everything under it was denied: the field goes too
        return None


class CurrentSandboxApp:
    """POST /graphql, ``apikey: TOKEN``, ``{query, variables, operationName}``."""

    def __init__(self, store: Store, token: str, knobs: Knobs, rng: random.Random):
        self.store = store
        self._token = token.encode("utf-8")
        # More keys, each of one person of the account (``add_key``): on the real API every
        # person has a key of their own, and whoever's key sent a mutation is its author.
        self._keys: dict[bytes, str] = {}
        self.knobs = knobs
        self.rng = rng
        self.schema = load_schema()
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()  # root fields run, by name
        self.requests = 0
        self.bytes_in = 0
        self.bytes_out = 0
        self.internal_errors = 0
        self.clock_offset_ms = 0  # added to the wall clock: tests move time on
        self._resolver = root_resolver(self._audit)

    def __repr__(self) -> str:  # never show the token
        return "CurrentSandboxApp()"

    def chance(self, rate: float) -> bool:
        if rate <= 0:
            return False
        with self._lock:
            return self.rng.random() < rate

    def now(self) -> int:
        """The sandbox's clock in milliseconds."""
        return now_ms() + self.clock_offset_ms

    def clock(self) -> float:
        """The sandbox's clock in seconds: its Date header (``sandboxcore``) follows it."""
        return self.now() / 1000

    def add_key(self, person_id: str) -> str:
        """A new API key of the account's person ``person_id``: what it writes is theirs."""
        doc = self.store.get(person_id)
        if doc is None or doc["__kind"] != "Person":
            raise ValueError(f"no person with id {person_id!r} in this sandbox account")
        key = secrets.token_urlsafe(24)
        with self._lock:
            self._keys[key.encode("utf-8")] = person_id
        return key

    def _person_of(self, key: bytes) -> str | None:
        """The person whose key this is ("" for the main key); None: no such key."""
        found = None
        if key and hmac.compare_digest(key, self._token):
            found = ""
        with self._lock:
            keys = list(self._keys.items())
        for known, person in keys:  # each compared in constant time
            if hmac.compare_digest(key, known):
                found = person
        return found

    def reset_counts(self) -> None:
        with self._lock:
            self.calls.clear()
            self.requests = self.bytes_in = self.bytes_out = 0

    # -- WSGI --------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        size_in = 0
        try:
            status, answer, size_in = self.handle(environ)
        except Dropped as drop:
            with self._lock:
                self.requests += 1
                self.bytes_in += drop.size_in
            drop_connection(environ)
        except Exception:
            log.exception("sandbox: internal error")
            with self._lock:
                self.internal_errors += 1
            status, answer = 500, _answer(errors=["internal error in the sandbox (a bug); "
                                                  "see its log"])
        body = json.dumps(answer, ensure_ascii=False).encode("utf-8")
        with self._lock:
            self.requests += 1
            self.bytes_in += size_in
            self.bytes_out += len(body)
        reason = {200: "OK", 400: "Bad Request", 402: "Payment Required", 404: "Not Found",
                  405: "Method Not Allowed", 413: "Payload Too Large",
                  500: "Internal Server Error"}[status]
        start_response(f"{status} {reason}", [("Content-Type", "application/json; charset=utf-8"),
                                              ("Content-Length", str(len(body)))])
        return [body]

    def _read_body(self, environ: dict[str, Any]) -> tuple[bytes, bool]:
        stream = environ["wsgi.input"]
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        limit = self.knobs.max_body
        if length > limit:
            return b"", True
        raw = stream.read(min(length, limit + 1)) if length else b""
        return raw, len(raw) > limit

    def handle(self, environ: dict[str, Any]) -> tuple[int, dict[str, Any], int]:
        """(HTTP status, answer, request bytes)."""
        if environ.get("PATH_INFO", "").rstrip("/") != PATH:
            return 404, _answer(errors=[f"no such endpoint: the API is POST {PATH}"]), 0
        if environ.get("REQUEST_METHOD") != "POST":
            return 405, _answer(errors=[f"POST a JSON document to {PATH}"]), 0
        raw, too_large = self._read_body(environ)
        size_in = len(raw)
        key = environ.get("HTTP_APIKEY", "").encode("utf-8", "surrogateescape")
        person = self._person_of(key) if key else None
        if person is None:
            return 200, _answer(errors=["APIKeyError:InvalidKey"]), size_in
        if self.knobs.inactive:
            return 402, _answer(errors=["AccountIsInactive"]), size_in
        if self.knobs.latency_ms > 0:
            time.sleep(self.knobs.latency_ms / 1000)
        if too_large:
            return 413, _answer(errors=[f"the request body is over {self.knobs.max_body} "
                                        "bytes: send fewer operations per document"]), size_in
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            return 400, _answer(errors=["the body is not JSON: send "
                                        '{"query": ..., "variables": {...}}']), size_in
        if has_lone_surrogate(body):
            return 400, _answer(errors=["the body holds a lone UTF-16 surrogate (\\ud800 to "
                                        "\\udfff), which is not text: send valid "
                                        "Unicode"]), size_in
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            return 400, _answer(errors=['the body must be a JSON object with a "query" '
                                        "string"]), size_in
        variables = body.get("variables")
        if variables is not None and not isinstance(variables, dict):
            return 400, _answer(errors=['"variables" must be a JSON object']), size_in
        op_name = body.get("operationName")
        if op_name is not None and not isinstance(op_name, str):
            return 400, _answer(errors=['"operationName" must be a string']), size_in
        if self.chance(self.knobs.drop_rate):
            raise Dropped(size_in)
        if self.chance(self.knobs.error_rate):
            return 500, _answer(errors=["injected fault (error_rate): nothing was done"]), size_in
        answer = self.run(body["query"], variables, op_name, person=person or None)
        if self.chance(self.knobs.error_after_rate):
            return 500, _answer(errors=["injected fault (error_after_rate): the work was done, "
                                        "the answer lost"]), size_in
        return 200, answer, size_in

    # -- GraphQL ----------------------------------------------------------------

    def run(self, query: str, variables: dict[str, Any] | None = None,
            operation_name: str | None = None, *, person: str | None = None) -> dict[str, Any]:
        """Parse, check, validate and execute one document; the JSON answer.

        ``person``: whose key sent it (None: the main key's person, the account's first).
        """
        try:
            document = parse(query, max_tokens=200000)
        except GraphQLError as exc:
            return _answer(errors=[exc.message])
        except RecursionError:
            return _answer(errors=["the document is nested too deeply"])
        depth, fields = measure(document)
        if depth > self.knobs.max_depth:
            return _answer(errors=[f"the document is nested {depth} levels deep; "
                                   f"the limit is {self.knobs.max_depth}"])
        if fields > self.knobs.max_fields:
            return _answer(errors=[f"the document selects {fields} fields; the limit is "
                                   f"{self.knobs.max_fields}: split it"])
        problems = validate(self.schema, document)
        if problems:
            return _answer(errors=[p.message for p in problems[:20]])
        noted: list[str] = []
        if self.knobs.denied:
            type_info = TypeInfo(self.schema)
            document = visit(document, TypeInfoVisitor(
                type_info, _Prune(type_info, self.knobs.denied, noted)))
        self._count(document, operation_name)
        with self.store.lock:  # one request at a time on the SQLite connection
            person = person or self.store.meta("person") or ""
            ctx = Context(self.store, person, self.knobs.audit_trail, self.now())
            result = execute(self.schema, document, context_value=ctx,
                             variable_values=variables, operation_name=operation_name,
                             field_resolver=self._resolver)
        if hasattr(result, "__await__"):  # no resolver is async; never reached
            raise RuntimeError("asynchronous execution is not supported")
        answer = _answer(result.data, None, noted)
        if result.errors:
            # message, locations and path: the path names the alias that failed
            answer["errors"] = [e.formatted for e in result.errors]
        return answer

    def _count(self, document: DocumentNode, operation_name: str | None) -> None:
        for definition in document.definitions:
            if isinstance(definition, OperationDefinitionNode) and (
                    operation_name is None or (definition.name and
                                               definition.name.value == operation_name)):
                with self._lock:
                    for sel in definition.selection_set.selections:
                        if isinstance(sel, FieldNode):
                            self.calls[sel.name.value] += 1

    def _audit(self, ctx: Context, operation: str, args: dict[str, Any], result: Any) -> None:
        first = result[0] if isinstance(result, list) and result else result
        response_id = first.get("id") if isinstance(first, dict) else None
        ctx.store.audit(ctx.now, ctx.person_id, operation, args, response_id)

