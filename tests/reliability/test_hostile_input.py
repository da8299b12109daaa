"""Hostile input to the sandbox: every request gets a JSON answer, never a crash.

tests/sandbox/test_sandbox_errors.py pins the messages of common mistakes
(malformed JSON, wrong types of well-known fields, a huge body, a 100 000-deep
array). This goes further:
- unicode edge cases in every kind of string field: lone surrogates (as JSON
  ``\\ud800`` escapes), NUL, right-to-left marks, BOM, zero-width, emoji;
- ids: numeric strings accepted wherever an id is (top level, nested, custom
  fields, leaders, relations); zero, negatives and non-numeric strings refused;
- nesting just under the parser's limit inside fields, wide and long payloads;
- hypothesis fuzzing, bounded by example count: raw bytes, random JSON
  documents for every service, and valid calls with one part swapped for a
  hostile value;
- the connection itself: idle, truncated, chunked and oversized requests.

Raw HTTP (``requests``) on purpose: this attacks the server, not the client.
Every answer must be HTTP 200 with a strict-JSON object whose ``status`` is
``ok`` or ``error`` (with a bounded message), and the sandbox must count no
internal error and keep answering.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from beeplan.platforms.v2.client import BeeboleClient
from beeplan.platforms.v2.sandbox.server import SandboxServer
from beeplan.platforms.v2.sandbox.services import SERVICES

from .conftest import figure

SENT = {"requests": 0, "fuzz": 0}
FUZZ = settings(
    max_examples=500,
    deadline=None,
    derandomize=True,  # the same cases on every run: a CI failure reproduces
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _strict(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


class Target:
    """A sandbox with a small account, and one HTTP session to it."""

    def __init__(self, server: SandboxServer):
        self.server = server
        self.session = requests.Session()
        self.session.auth = (server.token, "x")
        self.ids: dict[str, int] = {}

    def post(self, body: bytes) -> dict[str, Any]:
        """Send a body; check the answer is a well-formed JSON answer; return it."""
        SENT["requests"] += 1
        response = self.session.post(self.server.url, data=body, timeout=30)
        assert response.status_code == 200, (body[:300], response.status_code, response.text[:300])
        assert response.headers["Content-Type"].startswith("application/json")
        answer = json.loads(response.content.decode("utf-8"), parse_constant=_strict)
        assert isinstance(answer, dict) and answer.get("status") in ("ok", "error"), answer
        if answer["status"] == "error":
            message = answer.get("message")
            assert isinstance(message, str) and message, answer
            assert len(message) < 1000 and "Traceback" not in message, message
        return answer

    def call(self, doc: dict[str, Any]) -> dict[str, Any]:
        return self.post(json.dumps(doc, ensure_ascii=True).encode("ascii"))

    def ok(self, doc: dict[str, Any]) -> dict[str, Any]:
        answer = self.call(doc)
        assert answer["status"] == "ok", (doc, answer)
        return answer

    def error(self, doc: dict[str, Any]) -> str:
        answer = self.call(doc)
        assert answer["status"] == "error", (doc, answer)
        return str(answer["message"])


def seed_account(t: Target) -> None:
    ok = t.ok
    t.ids["us"] = ok({"service": "group.create", "group": {"xid": "us", "name": "US"}})["id"]
    t.ids["acme"] = ok({"service": "company.create",
                        "company": {"xid": "acme", "name": "ACME"}})["id"]
    t.ids["dev"] = ok({"service": "project.create", "project": {
        "xid": "dev", "name": "Dev", "company": {"xid": "acme"}}})["id"]
    t.ids["proto"] = ok({"service": "subproject.create", "subproject": {
        "xid": "proto", "name": "Proto", "project": {"xid": "dev"}}})["id"]
    t.ids["admin"] = ok({"service": "task.create", "task": {
        "xid": "admin", "name": "Admin", "company": {"xid": "acme"}}})["id"]
    t.ids["vac"] = ok({"service": "absence.create", "absence": {
        "xid": "vac", "name": "Vacation", "company": {"xid": "acme"}}})["id"]
    t.ids["jane"] = ok({"service": "person.create", "person": {
        "xid": "jane", "name": "Jane", "company": {"xid": "acme"},
        "email": "jane@example.com", "userGroup": "leader"}})["id"]
    t.ids["rosa"] = ok({"service": "person.create", "person": {
        "xid": "rosa", "name": "Rosa", "company": {"xid": "acme"}}})["id"]


@pytest.fixture(scope="module")
def target() -> Iterator[Target]:
    with SandboxServer(":memory:", seed=7, quota_requests=10**7, quota_kb=10**7) as server:
        t = Target(server)
        seed_account(t)
        yield t
        # Still alive and sane after everything this module threw at it.
        assert t.ok({"service": "company.get", "xid": "acme"})["company"]["name"] == "ACME"
        assert server.internal_errors == 0, "the sandbox hit an internal error; see the log"
        t.session.close()


# -- unicode ---------------------------------------------------------------------------------

LONE = ["\ud800", "\udfff", "a\udc00b", "\ud83d"]  # lone surrogates (JSON \uXXXX escapes)
VALID_TEXT = ["\u202eevil\u202c", "\ufeffBOM", "zero\u200bwidth", "🐝 emoji 👩‍👩‍👧", "東京",
              "\u0301combining", "a" * 255, "\U0010ffff"]

# Where a string goes: (service, document with "{}" where the string is put).
STRING_SLOTS: list[tuple[str, Any]] = [
    ("company.create name", {"service": "company.create", "company": {"name": "{}"}}),
    ("company.create xid", {"service": "company.create", "company": {"name": "n", "xid": "{}"}}),
    ("company.get xid", {"service": "company.get", "xid": "{}"}),
    ("group.create name", {"service": "group.create", "group": {"name": "{}"}}),
    ("project.update description", {"service": "project.update",
                                    "project": {"xid": "dev", "description": "{}"}}),
    ("person.create email", {"service": "person.create", "person": {
        "name": "p", "company": {"xid": "acme"}, "email": "{}"}}),
    ("person.update leaders name", {"service": "person.update", "person": {
        "xid": "rosa", "leaders": [{"name": "{}"}]}}),
    ("set_custom_field_value", {"service": "person.set_custom_field_value", "xid": "rosa",
                                "customField": {"id": 4879, "value": "{}"}}),
    ("service name", {"service": "{}"}),
    ("field name", {"service": "company.list", "{}": 1}),
    ("time_entry.create comment", {"service": "time_entry.create", "absence": {"xid": "vac"},
                                   "date": "2024-01-02", "hours": 1, "comment": "{}"}),
    ("time_entry.export keys", {"service": "time_entry.export", "from": "2024-01-01",
                                "to": "2024-01-31", "keys": ["{}"]}),
]


def put(template: Any, value: str) -> Any:
    if template == "{}":
        return value
    if isinstance(template, dict):
        return {put(k, value): put(v, value) for k, v in template.items()}
    if isinstance(template, list):
        return [put(v, value) for v in template]
    return template


@pytest.mark.parametrize(("slot", "template"), STRING_SLOTS, ids=[s for s, _ in STRING_SLOTS])
def test_lone_surrogates_are_refused_with_a_json_error(
    target: Target, slot: str, template: Any
) -> None:
    for value in LONE:
        message = target.error(put(template, value))
        assert "surrogate" in message or "unknown" in message or "not UTF-8" in message, message
        # Sent raw, not escaped (CESU-8 bytes): not UTF-8, refused as such.
        raw = json.dumps(put(template, value), ensure_ascii=False).encode("utf-8", "surrogatepass")
        assert "not UTF-8" in str(target.post(raw)["message"])


@pytest.mark.parametrize("value", VALID_TEXT)
def test_unusual_but_valid_unicode_round_trips(target: Target, value: str) -> None:
    xid = f"u-{VALID_TEXT.index(value)}"
    target.ok({"service": "company.create", "company": {"xid": xid, "name": value}})
    got = target.ok({"service": "company.get", "xid": xid})["company"]
    assert got["name"] == value
    target.ok({"service": "person.set_custom_field_value", "xid": "rosa",
               "customField": {"id": 4879, "value": value}})
    fields = target.ok({"service": "person.custom_fields", "xid": "rosa"})["customFields"]
    assert {f["name"]: f.get("value") for f in fields}["location"] == value
    # As an xid too: it finds the entity back.
    target.ok({"service": "group.create", "group": {"xid": value, "name": "g"}})
    assert target.ok({"service": "group.get", "xid": value})["group"]["xid"] == value


def test_nul_characters_never_crash(target: Target) -> None:
    for template in (t for _, t in STRING_SLOTS):
        target.call(put(template, "a\x00b"))  # a JSON answer, ok or error
    assert "NUL" in target.error({"service": "company.create", "company": {"name": "\x00"}})


# -- ids -------------------------------------------------------------------------------------


def id_calls(ids: dict[str, int], as_: Any) -> list[dict[str, Any]]:
    """Calls that take ids in every position, with the ids written by ``as_``."""
    i = {k: as_(v) for k, v in ids.items()}
    calls: list[dict[str, Any]] = [
        {"service": f"{kind}.get", "id": i[name]}
        for kind, name in (("company", "acme"), ("project", "dev"), ("subproject", "proto"),
                           ("task", "admin"), ("absence", "vac"), ("person", "jane"),
                           ("group", "us"))
    ]
    calls += [
        {"service": "project.list", "company": {"id": i["acme"]}},
        {"service": "subproject.list", "project": {"id": i["dev"]}},
        {"service": "project.update", "project": {"id": i["dev"], "name": "Dev"}},
        {"service": "company.add_group", "id": i["acme"], "group": {"id": i["us"]}},
        {"service": "company.groups", "id": i["acme"]},
        {"service": "project.attach_manager", "id": i["dev"], "person": {"id": i["jane"]}},
        {"service": "project.managers", "id": i["dev"]},
        {"service": "subproject.attach_member", "id": i["proto"], "person": {"id": i["rosa"]}},
        {"service": "person.update", "person": {"id": i["rosa"], "leaders": [{"id": i["jane"]}]}},
        {"service": "person.leaders", "id": i["rosa"]},
        {"service": "person.set_custom_field_value", "id": i["rosa"],
         "customField": {"id": as_(4879), "value": "Zürich"}},
        {"service": "project.attach_specific_task", "id": i["dev"], "task": {"id": i["admin"]}},
        {"service": "group.assignments", "id": i["us"]},
    ]
    return calls


def test_numeric_string_ids_are_accepted_everywhere_with_the_same_answer(
    target: Target,
) -> None:
    as_int = [target.ok(call) for call in id_calls(target.ids, int)]
    as_str = [target.ok(call) for call in id_calls(target.ids, str)]
    assert as_str == as_int


@pytest.mark.parametrize(
    "bad", [0, -1, -7, "-1", "0", "", " ", "7a", "abc", "0x7", "7_7", "1e2", "7.5", "+7", "٧",
            "７", 7.5, 2**63, True, None, [], {}, {"id": 1}]
)
def test_bad_ids_are_refused_naming_the_field(target: Target, bad: Any) -> None:
    assert "field id" in target.error({"service": "company.get", "id": bad})
    message = target.error({"service": "project.list", "company": {"id": bad}})
    assert "company.id" in message or "field company" in message, message


# -- shapes ----------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [10, 200, 900])
def test_deep_nesting_inside_fields(target: Target, depth: int) -> None:
    deep_list: Any = "x"
    deep_obj: Any = "x"
    for _ in range(depth):
        deep_list, deep_obj = [deep_list], {"k": deep_obj}
    for doc in (
        {"service": "company.create", "company": {"name": deep_list}},
        {"service": "company.create", "company": deep_obj},
        {"service": "person.update", "person": {"xid": "rosa", "leaders": deep_list}},
        {"service": "person.set_custom_field_value", "xid": "rosa",
         "customField": {"id": 4879, "value": deep_obj}},
        {"service": "company.get", "xid": deep_list},
        {"service": "group.create", "group": {"name": "g", "parent": deep_obj}},
    ):
        target.error(doc)


def test_wide_and_long_payloads(target: Target) -> None:
    many_keys = {f"k{i}": i for i in range(20_000)}
    assert "unknown field" in target.error({"service": "company.list", **many_keys})
    leaders = [{"id": target.ids["jane"]}] * 20_000
    target.call({"service": "person.update", "person": {"xid": "rosa", "leaders": leaders}})
    assert "too long" in target.error({"service": "company.create",
                                       "company": {"name": "n" * 500_000}})
    target.call({"service": "time_entry.export", "from": "2024-01-01", "to": "2024-01-31",
                 "keys": ["date"] * 50_000})
    # Still the same rosa, with one leader at most.
    leaders_now = target.ok({"service": "person.leaders", "xid": "rosa"})["leaders"]
    assert len(leaders_now) <= 1


# -- hypothesis ------------------------------------------------------------------------------

HOSTILE_TEXT = st.one_of(
    st.sampled_from([*LONE, *VALID_TEXT, "\x00", "", " ", "77", "-3", "0", " 7 ", "null",
                     "1e400", "acme", "jane@example.com", "2024-02-30", "9" * 40]),
    st.text(st.characters(categories=["Cs", "Cc", "Cf", "Zs", "So", "Lo", "Mn"]), max_size=12),
    st.text(max_size=30),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 1, 2**31, 2**63 - 1, 2**63, 2**64]),
    st.floats(allow_nan=False, allow_infinity=False),
    HOSTILE_TEXT,
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.one_of(HOSTILE_TEXT, st.sampled_from(
        ["id", "xid", "name", "company", "project", "person", "group", "customField",
         "value", "leaders", "parent", "email", "active", "hours", "date"])), children,
        max_size=4),
    max_leaves=12,
)
FIELD_NAMES = st.sampled_from(sorted({f for spec in SERVICES.values() for f in spec.fields}))


def encode(doc: Any, ascii_only: bool) -> bytes:
    if ascii_only:
        return json.dumps(doc, ensure_ascii=True).encode("ascii")
    return json.dumps(doc, ensure_ascii=False).encode("utf-8", "surrogatepass")


@pytest.mark.slow
@FUZZ
@given(body=st.one_of(
    st.binary(max_size=600),
    st.lists(st.sampled_from([*'{}[]:,"\\ 0123456789.eE+-', "true", "false", "null", "\\u",
                              "\\ud800", '"service"', '"company.get"', '"id"', '"xid"']),
             max_size=60).map(lambda parts: "".join(parts).encode("utf-8")),
))
def test_fuzz_raw_bodies(target: Target, body: bytes) -> None:
    SENT["fuzz"] += 1
    target.post(body)


@pytest.mark.slow
@FUZZ
@given(
    service=st.sampled_from(sorted(SERVICES)),
    fields=st.dictionaries(FIELD_NAMES, JSON_VALUES, max_size=4),
    ascii_only=st.booleans(),
)
def test_fuzz_documents_for_every_service(
    target: Target, service: str, fields: dict[str, Any], ascii_only: bool
) -> None:
    SENT["fuzz"] += 1
    target.post(encode({"service": service, **fields}, ascii_only))


def valid_calls(ids: dict[str, int]) -> list[dict[str, Any]]:
    return [
        *id_calls(ids, int),
        {"service": "company.create", "company": {"name": "Fuzz Co", "corporate": False}},
        {"service": "project.create", "project": {"name": "P", "company": {"xid": "acme"},
                                                   "startDate": "2020-01-01",
                                                   "description": "d"}},
        {"service": "person.create", "person": {"name": "P", "company": {"xid": "acme"},
                                                "userGroup": "pm", "leaders": [{"xid": "jane"}]}},
        {"service": "group.create", "group": {"name": "G", "parent": {"xid": "us"}}},
        {"service": "company.attach_member", "xid": "acme", "group": {"xid": "us"}},
        {"service": "project.enable_specific_tasks", "xid": "dev"},
        {"service": "time_entry.create", "absence": {"xid": "vac"}, "date": "2024-03-04",
         "hours": 1.5, "comment": "c"},
        {"service": "time_entry.list", "from": "2024-03-01", "to": "2024-03-31"},
        {"service": "time_entry.export", "from": "2024-03-01", "to": "2024-03-31",
         "keys": ["date", "hours"], "outputFormat": "array"},
        {"service": "time_entry.get_entities", "company": {"xid": "acme"}},
    ]


def paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(doc, dict):
        for key, value in doc.items():
            if key != "service" or prefix:
                out += paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for index, value in enumerate(doc[:3]):
            out += paths(value, (*prefix, index))
    return out


def replaced(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    copy: Any = dict(doc) if isinstance(doc, dict) else list(doc)
    copy[path[0]] = replaced(doc[path[0]], path[1:], value)
    return copy


@pytest.mark.slow
@FUZZ
@given(data=st.data(), value=JSON_VALUES, ascii_only=st.booleans())
def test_fuzz_valid_calls_with_one_part_made_hostile(
    target: Target, data: st.DataObject, value: Any, ascii_only: bool
) -> None:
    doc = data.draw(st.sampled_from(valid_calls(target.ids)))
    path = data.draw(st.sampled_from(paths(doc)))
    SENT["fuzz"] += 1
    target.post(encode(replaced(doc, path, value), ascii_only))


# -- the connection ----------------------------------------------------------------------------


def raw_http(server: SandboxServer, request: bytes, read: bool = True) -> bytes:
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(request)
        if not read:
            return b""
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def headers(server: SandboxServer, body: bytes, *extra: str) -> bytes:
    import base64

    auth = base64.b64encode(f"{server.token}:x".encode()).decode()
    lines = ["POST /api/v2 HTTP/1.1", f"Host: 127.0.0.1:{server.port}",
             f"Authorization: Basic {auth}", "Connection: close", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def test_hostile_connections_do_not_stop_the_server(target: Target) -> None:
    server = target.server
    idle = [socket.create_connection((server.host, server.port), timeout=10) for _ in range(20)]
    try:
        # Twenty clients connected and silent: others are still served, while the
        # silent ones are still connected (not after the server gave up on them: a
        # fact, where a time limit would fail on a slow machine).
        target.ok({"service": "company.list"})
        for sock in idle:
            sock.setblocking(False)
            with pytest.raises(BlockingIOError):  # open, nothing said: b"" would be closed
                sock.recv(1)
            sock.setblocking(True)

        body = b'{"service": "company.list"}'
        # A body shorter than announced, then the client goes away.
        raw_http(server, headers(server, body, "Content-Length: 1000"), read=False)
        for length in ("-5", "abc", "99999999999999999999"):
            answer = raw_http(server, headers(server, body, f"Content-Length: {length}"))
            assert answer.startswith(b"HTTP/1.") and b"Traceback" not in answer
        chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
        answer = raw_http(server, headers(server, chunked, "Transfer-Encoding: chunked"))
        assert answer.startswith(b"HTTP/1.1 200") and b'"status"' in answer
        # Garbage instead of HTTP (a TLS hello: the server waits for a line that never
        # comes, in its own thread), a garbage line, and a header far too long: refused
        # by the HTTP layer, no traceback.
        raw_http(server, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 500,
                 read=False)
        answer = raw_http(server, b"GARBAGE\r\n\r\n")  # HTTP/0.9 style: no status line
        assert b"Error code: 400" in answer and b"Traceback" not in answer
        answer = raw_http(server, headers(server, body, "X-Long: " + "a" * 200_000))
        assert answer.startswith(b"HTTP/1.1 431") and b"Traceback" not in answer
        target.ok({"service": "company.list"})
    finally:
        for sock in idle:
            sock.close()


def test_figures(target: Target) -> None:
    """Runs last in this module: reports how many hostile requests were sent."""
    with BeeboleClient(target.server.url, target.server.token, ledger=False) as client:
        assert client.call("company.get", xid="acme")["company"]["name"] == "ACME"
    assert target.server.internal_errors == 0
    figure(
        f"hostile input: {SENT['requests']} requests ({SENT['fuzz']} hypothesis cases), "
        "0 internal errors, every answer JSON, server still up"
    )
