"""The WSGI application: authentication, quotas, fault injection, dispatch.

Every input gets a JSON answer: errors in the request are HTTP 200
``{"status": "error", "message": ...}`` as the reference says, a bad token
is HTTP 401, the daily quota HTTP 429; a bug in the sandbox itself is
logged and answered HTTP 500 with a JSON body, never a traceback.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import hashlib
import hmac
import json
import logging
import math
import random
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from werkzeug.exceptions import ClientDisconnected
from werkzeug.wsgi import get_input_stream

from ....sandboxcore import FaultKnobs, drop_connection, has_lone_surrogate
from . import timesheet  # noqa: F401  (registers the time_entry services)
from .request import Req, ServiceError, show
from .services import SERVICES
from .store import Store

log = logging.getLogger("beeplan.sandbox")

PATH = "/api/v2"
INVALID = "(invalid)"  # the counter key of requests without a readable service name


@dataclass
class Knobs(FaultKnobs):
    """Test knobs: the faults every sandbox has (latency, errors, drops, body size), and
    API v2's quotas and export jobs. Plain attributes: tests change them on a running server."""

    quota_requests: int = 4000
    quota_kb: int = 2048
    job_polls: int = 1  # get_job_info polls that still answer "running" (huge: never done)
    # A poll this many seconds (sandbox clock) after the export is answered done,
    # whatever job_polls says: real clients poll once after a few seconds
    # (beebole-mcp waits 2.5 s) and expect the result. None: only job_polls counts.
    job_seconds: float | None = 2.0
    job_error: bool = False  # export jobs end with status "error" instead of "done"


class Dropped(Exception):
    pass


def _json(answer: dict[str, Any] | list[dict[str, Any]]) -> bytes:
    return json.dumps(answer, ensure_ascii=False).encode("utf-8")


def _error(message: str) -> dict[str, Any]:
    return {"status": "error", "message": message}


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    # 1e400 parses as infinity, which the answers could not carry as valid JSON.
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"the number {text[:30]} is out of range")
    return value




class SandboxApp:
    """POST /api/v2 with a JSON document ``{"service": ..., ...}``."""

    def __init__(self, store: Store, token: str, knobs: Knobs, rng: random.Random):
        self.store = store
        self._token = token.encode("utf-8")
        self._token_hash = hashlib.sha256(self._token).hexdigest()[:16]
        self.knobs = knobs
        self.rng = rng
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.internal_errors = 0
        self.client_disconnects = 0
        self.day_offset = 0
        self.clock_offset = 0.0  # seconds added to the wall clock (server.advance_clock)

    def __repr__(self) -> str:  # never show the token
        return "SandboxApp()"

    # -- time, randomness, accounting ----------------------------------------

    def today(self) -> str:
        now = datetime.now(timezone.utc) + timedelta(days=self.day_offset)
        return now.strftime("%Y-%m-%d")

    def clock(self) -> float:
        """The sandbox's clock in seconds: the wall clock, moved on by advance_clock."""
        return time.time() + self.clock_offset

    def chance(self, rate: float) -> bool:
        if rate <= 0:
            return False
        with self._lock:
            return self.rng.random() < rate

    def _count_call(self, service: str) -> None:
        with self._lock:
            self.calls[service] += 1

    def reset_calls(self) -> None:
        with self._lock:
            self.calls.clear()

    # -- WSGI ------------------------------------------------------------------

    def client_went_away(self) -> None:
        """The client went away before its body arrived (killed, timed out): not a
        sandbox fault, and there is nobody to answer. Counted apart, one log line."""
        with self._lock:
            self.client_disconnects += 1
        log.info("sandbox: the client disconnected before sending its whole request")

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        accounted = False
        size_in = 0
        try:
            status, answer, accounted, size_in = self.handle(environ)
        except Dropped:
            drop_connection(environ)
        except ClientDisconnected:
            self.client_went_away()
            raise ConnectionAbortedError("sandbox: client disconnected mid-body") from None
        except Exception:
            log.exception("sandbox: internal error")
            with self._lock:
                self.internal_errors += 1
            status, answer = 500, _error("internal error in the sandbox (a bug); see its log")
        body = _json(answer)
        if accounted:  # the request itself was counted when it was let through
            self.store.add_usage(self._token_hash, self.today(), 0, size_in + len(body))
        reason = {200: "OK", 401: "Unauthorized", 404: "Not Found", 429: "Too Many Requests",
                  500: "Internal Server Error"}[status]
        headers = [("Content-Type", "application/json; charset=utf-8"),
                   ("Content-Length", str(len(body)))]
        if status == 401:
            headers.append(("WWW-Authenticate", 'Basic realm="beebole sandbox"'))
        start_response(f"{status} {reason}", headers)
        return [body]

    def handle(
        self, environ: dict[str, Any]
    ) -> tuple[int, dict[str, Any] | list[dict[str, Any]], bool, int]:
        """(HTTP status, answer, counts toward the quota, request bytes)."""
        if environ.get("PATH_INFO", "") not in (PATH, PATH + "/"):
            return 404, _error(f"no such endpoint: the API is POST {PATH}"), False, 0
        raw, too_large = self._read_body(environ)
        doc, problem = self._parse(raw, too_large)
        if doc is not None and "services" in doc and "service" not in doc:
            return self._handle_batch(environ, doc, len(raw))
        service = doc.get("service") if doc is not None else None
        service_key = service if isinstance(service, str) and len(service) <= 100 else INVALID
        self._count_call(service_key)
        if not self._authorized(environ):
            return 401, _error("authentication failed: send the API token as the user name "
                               "of HTTP basic auth (password x)"), False, 0
        refusal = self._over_quota()
        if refusal:
            return 429, _error(refusal), False, 0
        if self.knobs.latency_ms > 0:
            time.sleep(self.knobs.latency_ms / 1000)
        size_in = len(raw)
        if environ.get("REQUEST_METHOD") != "POST":
            return 200, _error(f"HTTP {environ.get('REQUEST_METHOD')} is not supported: "
                               f"POST a JSON document to {PATH}"), True, size_in
        if problem:
            return 200, _error(problem), True, size_in
        assert doc is not None
        if self.chance(self.knobs.drop_rate):
            self.store.add_usage(self._token_hash, self.today(), 0, size_in)
            log.debug("sandbox: dropping the connection of %s", service_key)
            raise Dropped
        if self.chance(self.knobs.error_rate):
            log.debug("sandbox: injected HTTP 500 before %s", service_key)
            return 500, _error("injected fault (error_rate): nothing was done"), True, size_in
        try:
            answer = self.dispatch(str(service), doc)
        except ServiceError as exc:
            answer = _error(str(exc))
        if self.chance(self.knobs.error_after_rate):
            log.debug("sandbox: injected HTTP 500 after %s", service_key)
            answer = _error("injected fault (error_after_rate): the work was done")
            return 500, answer, True, size_in
        log.debug("sandbox: %s -> %s", service_key, answer.get("status"))
        return 200, answer, True, size_in

    def _handle_batch(
        self, environ: dict[str, Any], doc: dict[str, Any], size_in: int
    ) -> tuple[int, dict[str, Any] | list[dict[str, Any]], bool, int]:
        """``{"services": [{"service": ...}, ...]}``: one answer per element, in order.

        A production integration sends this form (see README.md). Each element
        counts as one request against the quota; elements past the quota get
        the quota's error answer, and a batch refused from its first element
        gets HTTP 429 like a single request.
        """
        items = doc["services"]
        elements = items if isinstance(items, list) else []
        for item in elements or [None]:
            name = item.get("service") if isinstance(item, dict) else None
            self._count_call(name if isinstance(name, str) and len(name) <= 100 else INVALID)
        if not self._authorized(environ):
            return 401, _error("authentication failed: send the API token as the user name "
                               "of HTTP basic auth (password x)"), False, 0
        if not elements or set(doc) != {"services"} or environ.get("REQUEST_METHOD") != "POST":
            refusal = self._over_quota()
            if refusal:
                return 429, _error(refusal), False, 0
            extra = sorted(set(doc) - {"services"})
            return 200, _error(
                f"unknown field {show(extra[0])} next to services" if extra else
                'services must be a non-empty list of service documents, e.g. '
                '{"services": [{"service": "group.tree"}, {"service": "custom_field.list"}]}'
            ), True, size_in
        if self.knobs.latency_ms > 0:
            time.sleep(self.knobs.latency_ms / 1000)
        if self.chance(self.knobs.drop_rate):
            raise Dropped
        if self.chance(self.knobs.error_rate):
            # Nothing was done, so nothing counts: the client sees one failed POST.
            return 500, _error("injected fault (error_rate): nothing was done"), False, 0
        answers: list[dict[str, Any]] = []
        for position, item in enumerate(elements):
            refusal = self._over_quota()
            if refusal:
                if not answers:
                    return 429, _error(refusal), False, 0
                answers.append(_error(refusal))
                continue
            service = item.get("service") if isinstance(item, dict) else None
            if not isinstance(item, dict) or not isinstance(service, str):
                answers.append(_error(f"services[{position}] must be a JSON object with a "
                                      'service field, like {"service": "group.tree"}'))
                continue
            try:
                answers.append(self.dispatch(service, item))
            except ServiceError as exc:
                answers.append(_error(str(exc)))
        return 200, answers, True, size_in

    # -- steps -------------------------------------------------------------------

    def _read_body(self, environ: dict[str, Any]) -> tuple[bytes, bool]:
        limit = self.knobs.max_body
        try:
            declared = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > limit:
            # Not read: werkzeug drains what is left so the client still sees the answer.
            return b"", True
        stream = get_input_stream(environ)
        data = stream.read(limit + 1)
        # One read may stop short when the client closes early; a body shorter than its
        # Content-Length is a client that went away, not a malformed request to answer.
        while len(data) < declared:
            more = stream.read(declared - len(data))
            if not more:
                raise ClientDisconnected()
            data += more
        return data[:limit], len(data) > limit

    def _parse(self, raw: bytes, too_large: bool) -> tuple[dict[str, Any] | None, str | None]:
        if too_large:
            return None, (f"the request body is larger than {self.knobs.max_body} bytes; "
                          "send smaller requests")
        if not raw.strip():
            return None, 'empty request: POST a JSON document like {"service": "company.list"}'
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return None, "the request body is not UTF-8 encoded"
        try:
            doc = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
        except RecursionError:
            return None, "malformed JSON: nested too deeply"
        except ValueError as exc:
            return None, f"malformed JSON: {str(exc)[:120]}"
        if "\\u" in text and has_lone_surrogate(doc):
            # "\ud800" is valid JSON syntax but not Unicode text: nothing could store or
            # answer it (it used to reach SQLite and answer HTTP 500).
            return None, ("malformed JSON: a string holds a lone UTF-16 surrogate "
                          "(\\ud800-\\udfff), which is not Unicode text")
        if not isinstance(doc, dict):
            return None, ('the request must be a JSON object like {"service": "company.list"}, '
                          f"got {type(doc).__name__ if doc is not None else 'null'}")
        if "service" not in doc:
            return doc, 'missing field service (e.g. "company.list")'
        if not isinstance(doc["service"], str):
            return doc, f"field service must be a string, got {show(doc['service'])}"
        return doc, None

    def _authorized(self, environ: dict[str, Any]) -> bool:
        header = environ.get("HTTP_AUTHORIZATION", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user = base64.b64decode(encoded.strip(), validate=True).partition(b":")[0]
        except (binascii.Error, ValueError):
            return False
        return hmac.compare_digest(user, self._token)

    def _over_quota(self) -> str | None:
        """Refuse a request past today's quota; otherwise count it, in one step."""
        ok, requests, nbytes = self.store.reserve_request(
            self._token_hash, self.today(), self.knobs.quota_requests, self.knobs.quota_kb * 1024
        )
        if ok:
            return None
        if requests >= self.knobs.quota_requests:
            return (f"daily API quota reached: {self.knobs.quota_requests} requests per day "
                    "(resets at 00:00 UTC)")
        if nbytes >= self.knobs.quota_kb * 1024:
            return (f"daily API quota reached: {self.knobs.quota_kb} KB transferred per day "
                    "(resets at 00:00 UTC)")
        return None

    def dispatch(self, service: str, doc: dict[str, Any]) -> dict[str, Any]:
        """Run one service in one transaction; raise ServiceError for an error answer."""
        spec = SERVICES.get(service)
        if spec is None:
            near = difflib.get_close_matches(service, SERVICES, n=1)
            hint = f' (did you mean "{near[0]}"?)' if near else ""
            raise ServiceError(f"unknown service {show(service)}{hint}")
        with self.store.transaction() as db:
            req = Req(service, doc, db, self)
            wrapper = [k for k in spec.fields if k in ("company", "project", "subproject", "task",
                                                         "absence", "person", "group")]
            if (service.endswith((".create", ".update")) and len(wrapper) == 1
                    and wrapper[0] not in doc and set(doc) - {"service"}):
                # The reference wraps the entity; a flat document is a common client mistake.
                found = ", ".join(sorted(set(doc) - {"service"}))
                req.fail(f"missing field {wrapper[0]}: send the fields wrapped, "
                         f'{{"{wrapper[0]}": {{"name": ...}}}}, not at the top level '
                         f"(found {show(found)})")
            req.only(doc, spec.fields | {"service"})
            answer = spec.handler(req)
        return {"status": "ok", **answer}
