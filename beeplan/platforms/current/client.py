"""The client for Beebole's current platform: GraphQL documents over ``POST {endpoint}/graphql``.

The same qualities as the v2 client (``beeplan.platforms.v2.client``): the key travels in
the ``apikey`` header only (never a URL, a log line, an error or ``repr``);
sessions are pooled for the run; every call has one deadline for the whole
answer and a size cap; a redirect is an error, never followed; plain http is
refused off loopback. Every request is counted (requests and bytes, per
operation name); this platform has no daily quota, so a run may set a
``Budget`` instead, checked before each request.

Queries are retried after a 5xx or a lost connection; mutations never are: a
lost answer may follow work that was done, so the outcome is reported as
``unknown`` and the caller looks the entity up (by its External ID field)
before creating it again.

Answers are believed only when they have the shape the document asked for
(``answers.py``): a field the key may not read is never read as empty.
"""

from __future__ import annotations

import email.utils
import hashlib
import hmac
import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...endpoints import (
    _WATCHDOG,
    _Call,
    _current,
    _env_number,
    check_endpoint,
    post_capped,
    redact_url,
    shown_url,
)
from ...errors import AnswerError, ApiError, AuthError, ConfigError, EndpointError, TransportError
from ...localfiles.ledger import Usage, token_key
from . import answers
from .platform import GRAPHQL_PATH  # defined there (see why)

if TYPE_CHECKING:
    import requests

log = logging.getLogger("beeplan.api.current")

DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_ANSWER_MB = 32.0
# Mutations per document. A document of 50 small mutations is a few KB; the sandbox refuses
# bodies over 1 MiB and selections over 20,000 fields, far above this. Configurable.
DEFAULT_BATCH_SIZE = 50

_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]*\Z")


class BudgetError(ApiError):
    """The next request would pass the run's budget of requests or bytes: stopped before it."""


class InactiveAccountError(ApiError):
    """HTTP 402 AccountIsInactive: the account's subscription is inactive."""


class DocumentError(ApiError):
    """The API refused the whole document (no alias ran): a bug in what beeplan sent."""


class PermissionDeniedError(ApiError):
    """A field the document asked for was withheld (``permissionsErrors``)."""


@dataclass(frozen=True)
class Arg:
    """One argument of a root field: sent as a variable of the stated GraphQL type."""

    name: str
    type: str  # e.g. "BeeboleName!", "[BeeboleId!]"
    value: Any


@dataclass(frozen=True)
class Op:
    """One root field to run: ``field(args) { select }``."""

    field: str
    args: tuple[Arg, ...] = ()
    select: str = ""  # the selection set's inside ("id name"); empty for a scalar answer


@dataclass(frozen=True)
class Document:
    """A document ready to send, with the alias of each operation in it, in order."""

    kind: str  # "query" or "mutation"
    name: str  # the operation name: what usage is counted under
    text: str
    variables: Mapping[str, Any]
    aliases: tuple[str, ...]


DONE = "done"  # ran; ``data`` holds its answer, or None when the document's data was lost
# (an alias before a failing one: re-read it to learn its id)
FAILED = "failed"  # the API said it failed (``error``); nothing of it was done
UNKNOWN = "unknown"  # may or may not have run: re-read (by External ID) before a retry
NOT_SENT = "not_sent"  # never sent: safe to send again


@dataclass(frozen=True)
class Outcome:
    """What became of one operation of a batch."""

    alias: str
    op: Op
    status: str
    data: Any = None
    error: str = ""


@dataclass(frozen=True)
class Budget:
    """Limits for one run: ``None`` is no limit. Checked before each request is sent."""

    requests: int | None = None
    bytes: int | None = None


def graphql_url(endpoint: str) -> str:
    """``endpoint`` with ``/graphql`` once: the base URL and the full one are both accepted."""
    base = endpoint.rstrip("/")
    return base if base.endswith(GRAPHQL_PATH) else base + GRAPHQL_PATH


def build_document(kind: str, ops: Sequence[Op], *, name: str = "", first: int = 0) -> Document:
    """One document running ``ops`` under aliases ``a{first}``, ``a{first+1}``...

    Values go in variables (``$a0_name``), never spliced into the text, so no value
    can change the document; each variable's type is the one the op states.
    """
    if kind not in ("query", "mutation"):
        raise ValueError(f"kind must be query or mutation, got {kind!r}")
    if not ops:
        raise ValueError("a document needs at least one operation")
    fields = {op.field for op in ops}
    if not name:
        name = next(iter(fields)) if len(fields) == 1 else "Batch"
        name = name[0].upper() + name[1:]
    declared: list[str] = []
    variables: dict[str, Any] = {}
    lines: list[str] = []
    aliases: list[str] = []
    for i, op in enumerate(ops, start=first):
        alias = f"a{i}"
        for text in (op.field, *(a.name for a in op.args)):
            if not _NAME.match(text):
                raise ValueError(f"not a GraphQL name: {text!r}")
        passed = []
        for arg in op.args:
            var = f"{alias}_{arg.name}"
            declared.append(f"${var}: {arg.type}")
            variables[var] = arg.value
            passed.append(f"{arg.name}: ${var}")
        call = f"{alias}: {op.field}" + (f"({', '.join(passed)})" if passed else "")
        lines.append(f"  {call}" + (f" {{ {op.select} }}" if op.select.strip() else ""))
        aliases.append(alias)
    head = f"{kind} {name}" + (f"({', '.join(declared)})" if declared else "")
    text = head + " {\n" + "\n".join(lines) + "\n}"
    return Document(kind, name, text, variables, tuple(aliases))


# The documents this module sends on its own, for the test that validates every one
# against the real schema (tests/current/test_documents_valid.py).
PROBE = Op("currentPerson", select="id name")


def example_documents() -> list[Document]:
    """Documents of every form ``build_document`` makes: one query, aliased reads, a batch."""
    name = "BeeboleName!"
    return [
        build_document("query", [PROBE]),
        build_document("query", [Op("getProjects", select="id name archived level"),
                                 Op("getPersons", select="id name email"),
                                 Op("getCustomFields", select="id name fieldType")]),
        build_document(
            "mutation",
            [Op("addAbsenceType", (Arg("name", name, "Holiday"),), "id name"),
             Op("addTagCategory", (Arg("name", name, "Teams"),), "id"),
             Op("editProjectName", (Arg("id", "BeeboleId!", "0" * 24), Arg("name", name, "X")),
                "id name")],
            first=3,
        ),
    ]


# A Date header is whole seconds, sent before the answer travels: a difference under a
# minute is that, or an ordinary clock, and is ignored; a larger one is the API's clock
# being elsewhere (the sandbox's moved on by a test, a machine's clock gone wrong).
CLOCK_TOLERANCE_MS = 60_000


def clock_skew_ms(date: str | None, local_s: float, known: int = 0) -> int:
    """The API's clock minus this machine's from an answer's ``Date`` header (RFC 9110),
    in ms; 0 within ``CLOCK_TOLERANCE_MS``; ``known`` when there is no usable header. Pure."""
    if not date:
        return known
    try:
        when = email.utils.parsedate_to_datetime(date)
    except (TypeError, ValueError, IndexError):
        return known
    if when.tzinfo is None:
        return known
    skew = int(when.timestamp() * 1000 - local_s * 1000)
    return skew if abs(skew) > CLOCK_TOLERANCE_MS else 0


class CurrentClient:
    """Sends GraphQL documents to the current platform. Thread-safe: a pool of sessions."""

    def __init__(
        self,
        endpoint: str,
        token: str,
        *,
        timeout: float | None = None,
        max_answer_bytes: int | None = None,
        retries: int = 4,
        backoff: float = 0.25,
        batch_size: int = DEFAULT_BATCH_SIZE,
        budget: Budget = Budget(),
        before_request: Callable[[str, int], None] | None = None,
    ):
        if not token:
            raise ConfigError("no API key: set BEEBOLE_TOKEN or pass --token-file")
        if not (token.isascii() and token.isprintable()) or " " in token:
            raise ConfigError(
                "the API key holds spaces, control or non-ASCII characters, which an API "
                "key never has: check BEEBOLE_TOKEN or the token file"
            )
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ConfigError(f"the batch size must be a whole number of at least 1, "
                              f"got {batch_size!r}")
        self.url = check_endpoint(graphql_url(endpoint))
        self.endpoint = endpoint
        self._key = token
        # Names this key's local files (the apply journal); never the key. Prefixed so
        # that a v2 token that happens to be the same string keeps separate files.
        self.account_key = "current-" + token_key(token)
        self.timeout = timeout if timeout else _env_number(
            "BEEPLAN_TIMEOUT", DEFAULT_TIMEOUT, most=86400
        )
        self.max_answer_bytes = max_answer_bytes or int(
            _env_number("BEEPLAN_MAX_ANSWER_MB", DEFAULT_MAX_ANSWER_MB, most=1024 * 1024)
            * 1024 * 1024
        )
        self.retries = retries
        self.backoff = backoff
        self.batch_size = batch_size
        self.budget = budget
        self.before_request = before_request  # called with (operation name, body bytes)
        self.usage = Usage()
        self._usage_lock = threading.Lock()
        self._sessions_lock = threading.Lock()
        self._sessions: list[requests.Session] = []
        self._idle: list[requests.Session] = []
        # The API's clock minus this machine's (ms), from the last answer's Date header:
        # audit trail times are the API's, so "since the last check" is measured on it.
        self.clock_skew_ms = 0

    def server_now_ms(self) -> int:
        """Now on the API's clock, as far as the last answer's Date header tells."""
        return int(time.time() * 1000) + self.clock_skew_ms

    def __repr__(self) -> str:  # never show the key
        return f"CurrentClient({self.url!r})"

    def token_fingerprint(self, salt: str, sealed: str = "") -> str:
        """HMAC-SHA256 of the key, keyed by a fixed pepper, ``salt`` and ``sealed``.

        As the v2 client's (``BeeboleClient.token_fingerprint``): binds a saved plan to
        this key's account (``beeplan.planfile.verify.account_binding``) and, with
        ``sealed``, to that plan's content. The value cannot be turned back into the
        key, and the salt keeps two plans of one account from carrying the same one.
        """
        key = f"beeplan saved-plan binding v1\0{salt}\0{sealed}".encode()
        return hmac.new(key, self._key.encode("utf-8"), hashlib.sha256).hexdigest()

    # -- the public calls ----------------------------------------------------------

    def query(self, ops: Sequence[Op], *, allow_denied: bool = False,
              name: str = "") -> answers.Answer:
        """Run read-only ``ops`` in one document; their data by alias (``a0``, ``a1``...).

        With ``allow_denied``, fields withheld by ``permissionsErrors`` are left out of
        the data and named in ``Answer.denied``; otherwise they are an error. ``name``
        names the document (its operationName, the -v log, the error a failure says).
        """
        doc = build_document("query", ops, name=name)
        attempts = 1 + self.retries
        for attempt in range(attempts):
            try:
                return self._answer(doc, allow_denied=allow_denied)
            except AnswerError:
                raise  # a page or a shape that is wrong once is wrong again
            except TransportError:
                if attempt + 1 >= attempts:
                    raise
            delay = self.backoff * (2**attempt)
            time.sleep(delay / 2 + random.uniform(0, delay / 2))
        raise AssertionError("unreachable")

    def mutate(self, ops: Sequence[Op]) -> list[Outcome]:
        """Run ``ops`` in documents of ``batch_size`` aliases, in order; one outcome per op.

        Never retried: see ``Outcome`` statuses. A failing alias stops the rest of its
        document (GraphQL runs root mutations in order and their fields are non-null),
        so those are ``unknown``; later documents are still sent. A document whose
        answer is lost makes its ops ``unknown`` and stops: the rest are ``not_sent``.
        Errors that concern the whole run (key refused, 402, budget, a document the API
        refuses) are raised, with nothing of that document run; the error's ``outcomes``
        holds those of the documents before it.
        """
        outcomes: list[Outcome] = []
        for start in range(0, len(ops), self.batch_size):
            chunk = ops[start:start + self.batch_size]
            doc = build_document("mutation", chunk, first=start)
            try:
                outcomes.extend(self._mutation_outcomes(doc, chunk))
            except (AuthError, InactiveAccountError, BudgetError, DocumentError,
                    EndpointError) as exc:
                # Nothing of this document ran; earlier documents' outcomes go with the error.
                setattr(exc, "outcomes", outcomes)  # noqa: B010
                raise
            except TransportError as exc:
                outcomes.extend(Outcome(a, op, UNKNOWN, error=str(exc))
                                for a, op in zip(doc.aliases, chunk, strict=True))
                rest = ops[start + self.batch_size:]
                outcomes.extend(
                    Outcome(f"a{start + self.batch_size + i}", op, NOT_SENT,
                            error="not sent: an earlier document's answer was lost")
                    for i, op in enumerate(rest))
                return outcomes
        return outcomes

    # -- one document --------------------------------------------------------------

    def _mutation_outcomes(self, doc: Document, chunk: Sequence[Op]) -> list[Outcome]:
        found = self._answer(doc, allow_denied=True, partial=True)
        failed = found.failed_alias
        permissions = ", ".join(found.permissions)
        out: list[Outcome] = []
        seen_failure = False
        for alias, op in zip(doc.aliases, chunk, strict=True):
            if alias in found.denied:
                # Withheld whole: whether it ran cannot be told from the answer (the sandbox
                # runs nothing it withholds; the reference does not say). Never "done".
                out.append(Outcome(alias, op, UNKNOWN, error=(
                    f"{alias} ({op.field}) was withheld (permissionsErrors: {permissions}): "
                    "give the key's role this right; re-read before sending it again")))
            elif alias == failed:
                out.append(Outcome(alias, op, FAILED, error=found.failure))
                seen_failure = True
            elif not seen_failure:
                # Ran (before the failing alias, if any): its answer may have gone with the
                # nulled data; a field of it withheld is named, never read as empty.
                part = [p for p in found.denied if p.startswith((f"{alias}.", f"{alias}["))]
                out.append(Outcome(alias, op, DONE, data=found.data.get(alias), error=(
                    f"done, but the key may not read {', '.join(part)} (permissionsErrors: "
                    f"{permissions})" if part else "")))
            else:
                out.append(Outcome(alias, op, UNKNOWN, error=f"not run: {failed} failed "
                                   "before it (re-read before sending it again)"))
        return out

    def _answer(self, doc: Document, *, allow_denied: bool,
                partial: bool = False) -> answers.Answer:
        body = json.dumps({"query": doc.text, "variables": dict(doc.variables),
                           "operationName": doc.name}, ensure_ascii=False).encode("utf-8")
        status, headers, content = self._post(doc.name, body)
        return answers.believe(doc, status, headers, content, allow_denied=allow_denied,
                               partial=partial)

    def _check_budget(self, name: str, size: int) -> None:
        if self.before_request is not None:
            self.before_request(name, size)
        with self._usage_lock:
            sent, spent = self.usage.total_requests, self.usage.total_bytes
        if self.budget.requests is not None and sent + 1 > self.budget.requests:
            raise BudgetError(name, f"the run's budget of {self.budget.requests} requests is "
                              "spent; stopped before sending another. Raise the budget or "
                              "run again to continue")
        if self.budget.bytes is not None and spent + size > self.budget.bytes:
            raise BudgetError(name, f"this request ({size:,} bytes) would pass the run's "
                              f"budget of {self.budget.bytes:,} bytes ({spent:,} spent); "
                              "stopped before sending it")

    def _post(self, name: str, body: bytes) -> tuple[int, Mapping[str, str], bytes]:
        self._check_budget(name, len(body))
        started = time.monotonic()
        call = _Call(started + self.timeout)
        _current.call = call
        _WATCHDOG.watch(call)
        session = self._take_session()
        try:
            response, content = post_capped(
                session, self.url, body, name=name, call=call, cap=self.max_answer_bytes,
                timeout=self.timeout, started=started, headers={"apikey": self._key}, logger=log)
        except (TransportError, ApiError):
            self._count(name, len(body) + call.received)
            raise
        finally:
            self._give_back(session)
            _current.call = None
            _WATCHDOG.forget(call)
        self._count(name, len(body) + len(content))
        self.clock_skew_ms = clock_skew_ms(response.headers.get("Date"), time.time(),
                                           self.clock_skew_ms)
        log.info("%s -> HTTP %s, %d bytes, %.3fs", name, response.status_code, len(content),
                 time.monotonic() - started)
        if 300 <= response.status_code < 400:
            location = shown_url(redact_url(response.headers.get("Location", "")))[:200]
            raise EndpointError(
                name, f"the API answered a redirect to {location or '(no Location)'!r}; "
                "redirects are never followed: check --endpoint", response.status_code)
        return response.status_code, dict(response.headers), content

    def _count(self, name: str, nbytes: int) -> None:
        with self._usage_lock:
            self.usage.requests[name] += 1
            self.usage.bytes[name] += nbytes

    # -- sessions ------------------------------------------------------------------

    def _take_session(self) -> requests.Session:
        with self._sessions_lock:
            if self._idle:
                return self._idle.pop()
        from ...transport import new_session

        session = new_session(self.url, ("", ""))
        session.auth = None  # the key goes in the apikey header, never as basic auth
        with self._sessions_lock:
            self._sessions.append(session)
        return session

    def _give_back(self, session: requests.Session) -> None:
        with self._sessions_lock:
            self._idle.append(session)

    def close(self) -> None:
        with self._sessions_lock:
            sessions, self._sessions, self._idle = self._sessions, [], []
        for session in sessions:
            session.close()

    def __enter__(self) -> CurrentClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
