"""The Beebole API v2 client: one POST of a JSON document per service call.

Reads are retried on transport failures with exponential backoff and
jitter; writes never are (the applier decides, after checking). Every call
is counted (requests and bytes, per service) and added to a daily ledger
kept per token hash, so plans can say what they cost and apply can refuse
to run past today's quota.

Only real answers count (see answers.py): a redirect is an error, never
followed; an answer must arrive whole within one deadline per call
(connect included) and stay under a size cap; environment proxies are never
used for loopback endpoints nor for plain http.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import threading
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ...endpoints import (  # shared by every platform's client; re-exported from here
    _WATCHDOG as _WATCHDOG,
)
from ...endpoints import (
    _Call as _Call,
)
from ...endpoints import (
    _current as _current,
)
from ...endpoints import (
    _env_number as _env_number,
)
from ...endpoints import (
    check_endpoint as check_endpoint,
)
from ...endpoints import (
    is_loopback as is_loopback,
)
from ...endpoints import post_capped
from ...endpoints import (
    redact_url as redact_url,
)
from ...endpoints import (
    shown_url as shown_url,
)
from ...errors import (
    AnswerError,
    ApiError,
    AuthError,
    ConfigError,
    EndpointError,
    QuotaError,
    QuotaStop,
    TransportError,
)
from ...localfiles import sizes
from ...localfiles.cachefile import cache_dir  # re-exported: callers name it from here
from ...localfiles.ledger import (  # re-exported: callers name them from here
    DAILY_KB as DAILY_KB,
)
from ...localfiles.ledger import (
    DAILY_REQUESTS as DAILY_REQUESTS,
)
from ...localfiles.ledger import (
    Ledger as Ledger,
)
from ...localfiles.ledger import (
    Quota as Quota,
)
from ...localfiles.ledger import (
    Usage as Usage,
)
from ...localfiles.ledger import (
    token_key as token_key,
)
from ...localfiles.ledger import (
    utc_today as utc_today,
)
from . import answers

if TYPE_CHECKING:
    import requests

log = logging.getLogger("beeplan.api")

DEFAULT_ENDPOINT = "https://beebole-apps.com/api/v2"
DEFAULT_TIMEOUT = 30.0  # seconds for a whole call: connect, send, the complete answer
DEFAULT_MAX_ANSWER_MB = 32.0  # far above any real answer (the daily quota is 2 MB)

# Services that only read: safe to retry after a transport failure.
READ_SUFFIXES = frozenset(
    {
        "get",
        "list",
        "groups",
        "members",
        "managers",
        "leaders",
        "custom_fields",
        "specific_tasks",
        "assignments",
        "tree",
        "get_entities",
        "get_tasks",
        "get_job_info",
        "export",  # starts a job and changes nothing: a retry only starts another
    }
)


def is_read(service: str) -> bool:
    return service.rpartition(".")[2] in READ_SUFFIXES


# Bytes (request + answer) of one call, for the estimates that stop a read before it
# passes today's KB: averages measured on the benchmark org (benchmarks/generate.py,
# 1000 people: 50 people and 10 projects per company, 60 groups). A list grows with what
# it lists, so once this run has called a service, its own average so far is used.
CALL_BYTES = {
    "company.list": 2270,
    "group.tree": 3320,
    "custom_field.list": 290,
    "person.list": 9670,
    "project.list": 1880,
    "task.list": 580,
    "absence.list": 240,
    "subproject.list": 420,
    "group.assignments": 3730,
    "person.custom_fields": 150,
    "person.leaders": 260,
    "project.custom_fields": 150,
    "project.managers": 230,
    "project.members": 420,
    "project.specific_tasks": 230,
    "company.custom_fields": 180,
}
RELATION_BYTES = 260  # another relation listing: X.members, X.groups, X.specific_tasks ...
# Below this much KB left today, calls go one at a time (``_near_the_end``): more than
# any list measured on the benchmark org at 10,000 people (person.list: 95 KB).
LARGE_ANSWER = 256 * 1024

# What to do when reads do not fit what is left today: said by every quota stop.
READ_LESS = (
    "read less of the account: 'plan --changed-since BASE' reads only what changed, "
    "'check --max-calls N --max-kb K' checks a part a run, 'apply --max-calls N' applies "
    "a part a day"
)
NEXT_STEPS = "Re-run after 00:00 UTC, when the quota resets; or " + READ_LESS


def proxies_for(endpoint: str) -> dict[str, str]:
    """The environment's proxy for this endpoint (``beeplan.transport.proxies_for``)."""
    from ...transport import proxies_for as found

    return found(endpoint)


DEFAULT_QUOTA = Quota()  # the API v2 daily quota (frozen: one value for every client)


class BeeboleClient:
    """Calls Beebole API v2 services. Thread-safe: a pool of sessions, one per call in flight."""

    def __init__(
        self,
        endpoint: str,
        token: str,
        *,
        timeout: float | None = None,
        max_answer_bytes: int | None = None,
        retries: int = 4,
        backoff: float = 0.25,
        ledger: bool = True,
        quota: Quota = DEFAULT_QUOTA,
    ):
        if not token:
            raise ConfigError("no API token: set BEEBOLE_TOKEN or pass --token-file")
        if not (token.isascii() and token.isprintable()) or " " in token:
            # Not shown, not even in part: it is still a secret, just a mistyped one.
            raise ConfigError(
                "the API token holds spaces, control or non-ASCII characters, which an API "
                "token never has: check BEEBOLE_TOKEN or the token file"
            )
        self.endpoint = check_endpoint(endpoint)
        self._auth = (token, "x")
        # Whole-call deadline and answer cap: $BEEPLAN_TIMEOUT, $BEEPLAN_MAX_ANSWER_MB.
        self.timeout = timeout if timeout else _env_number(
            "BEEPLAN_TIMEOUT", DEFAULT_TIMEOUT, most=86400
        )
        self.max_answer_bytes = max_answer_bytes or int(
            _env_number("BEEPLAN_MAX_ANSWER_MB", DEFAULT_MAX_ANSWER_MB, most=1024 * 1024)
            * 1024 * 1024
        )
        self.ignore_quota = False  # set by apply --ignore-quota: reads may pass the quota too
        self.retries = retries
        self.backoff = backoff
        self.quota = quota
        self.usage = Usage()
        self._usage_lock = threading.Lock()
        self._call_done = threading.Condition(self._usage_lock)  # a call in flight ended
        self._inflight_calls = 0  # calls sent and not yet counted (for the quota guard)
        # Bytes of answers refused as not the API's (too large, not JSON, the wrong shape):
        # the ledger counts them, but the per-call stop, which says the API would refuse,
        # does not (a hostile or portal answer is not the API's count).
        self._unbelieved_bytes = 0
        self._inflight_bytes = 0
        self._sessions_lock = threading.Lock()
        self._sessions: list[requests.Session] = []  # every session made, closed by close()
        self._idle: list[requests.Session] = []  # those no call is using now
        self.account_key = token_key(token)  # names per-token files; never the token
        path = cache_dir() / "quota" / f"{self.account_key}.json" if ledger else None
        self.ledger = Ledger(path)
        # Call sizes measured on this account by earlier runs (localfiles/sizes.py): a
        # list grows with what it lists, so the fixed CALL_BYTES underestimate a large one.
        self.sizes_path = cache_dir() / "sizes" / f"{self.account_key}.json" if ledger else None
        self._measured = sizes.load(self.sizes_path)
        self._reads: dict[str, sizes.ReadRecord] = {}

    def __repr__(self) -> str:  # never show the token
        return f"BeeboleClient({self.endpoint!r})"

    def token_fingerprint(self, salt: str, sealed: str = "") -> str:
        """HMAC-SHA256 of the token, keyed by a fixed pepper, ``salt`` and ``sealed``.

        Binds a saved plan to this token's account (the API has no "who am
        I" service; ``beeplan.planfile.verify.account_binding``); with ``sealed``
        (the plan's digest), to that plan's content too. A token is 40 hex
        digits (160 random bits): the value cannot be turned back into it,
        and the salt keeps two plans of one account from carrying the same one.
        """
        key = f"beeplan saved-plan binding v1\0{salt}\0{sealed}".encode()
        return hmac.new(key, self._auth[0].encode("utf-8"), hashlib.sha256).hexdigest()

    def _take_session(self) -> requests.Session:
        """An idle session, or a new one: at most one per parallel worker, for the whole run.

        A session per thread (as before) gave every stage's new worker threads new
        sessions, so new pools and new connections at every stage of a plan.
        """
        with self._sessions_lock:
            if self._idle:
                return self._idle.pop()
        from ...transport import new_session

        session = new_session(self.endpoint, self._auth)
        with self._sessions_lock:
            self._sessions.append(session)
        return session

    def _give_back(self, session: requests.Session) -> None:
        with self._sessions_lock:
            self._idle.append(session)

    def remaining_today(self) -> int:
        return max(0, self.quota.requests - self.ledger.requests)

    def kb_left_today(self) -> float:
        return max(0.0, self.quota.kb - self.ledger.bytes / 1024)

    def expected_bytes(self, service: str) -> int:
        """What one call of ``service`` is expected to cost (request + answer bytes)."""
        calls = self.usage.requests.get(service, 0)
        if calls:
            return self.usage.bytes[service] // calls
        measured = self._measured.services.get(service)
        return measured if measured else CALL_BYTES.get(service, RELATION_BYTES)

    def read_estimate(self, key: str) -> sizes.ReadRecord | None:
        """The calls per service the last whole read of kind ``key`` asked for (None: none)."""
        return self._reads.get(key) or self._measured.reads.get(key)

    def record_read(self, key: str, calls: Mapping[str, int], complete: bool) -> None:
        """Keep what a whole read of kind ``key`` asked for (saved by ``close``)."""
        self._reads[key] = sizes.record(calls, complete)

    def check_reads(
        self, count: int, services: Sequence[str] | None = None, basis: str = "",
        kb: float | None = None,
    ) -> None:
        """Refuse to start ``count`` reads that would pass what is left of today's quota.

        A plan's reads fan out (a list per company, a relation per entity): better
        one clear stop before them than a quota error half-way through them. Both
        halves of the quota count: calls, and KB estimated per service
        (``expected_bytes``; ``services`` names the service of each read, when known).
        ``basis``: where ``count`` comes from, for the message (default: this read).
        ``kb``: the caller's estimate of their KB, where it knows better than the
        per-service averages (the rest of a first read, priced per entry listed).
        """
        if self.ignore_quota:
            return
        need = kb if kb is not None else (
            sum(self.expected_bytes(s) for s in services)
            if services is not None
            else count * RELATION_BYTES
        ) / 1024
        left, kb_left = self.remaining_today(), self.kb_left_today()
        if count <= left and need <= kb_left:
            return
        short = (f"only {left} of today's {self.quota.requests} calls" if count > left
                 else f"only {kb_left:.0f} KB of today's {self.quota.kb} KB")
        raise QuotaStop(
            "reading the account",
            f"{count} more read calls are needed, about {need:.0f} KB ("
            # The caller's own KB estimate says where it comes from (``basis``).
            + (basis.removeprefix("; ") if kb is not None and basis else
               f"by the sizes measured per service{basis}")
            + f"), but {short} are left (as counted by beeplan on this "
            "machine); stopped before the first of them.", self.next_steps(count, need),
        )

    def next_steps(self, calls: int, kb: float) -> str:
        """What to do when reads of about ``calls`` calls and ``kb`` KB do not fit today."""
        if calls > self.quota.requests or kb > self.quota.kb:
            return "That is more than a whole day's quota, so no day holds it: " + READ_LESS
        return NEXT_STEPS

    def _reserve(self, service: str, body_bytes: int) -> int:
        """Count one call as in flight, or refuse it if it would pass today's quota.

        The API refuses a call once the day's requests or KB are spent, even half-way
        through a plan; beeplan stops first, on its own count, with calls still in
        flight included (parallel reads must not all take the last call).
        """
        # A write's answer is a status and an id: its request is its size. (An average
        # would let one hostile oversized answer refuse every later write.)
        expected = self.expected_bytes(service) if is_read(service) else body_bytes + 64
        with self._usage_lock:
            while not self.ignore_quota and self._near_the_end(expected):
                # Near the end of today's KB, one call at a time: an answer larger than
                # its estimate (a list of a large company) could otherwise carry the calls
                # sent beside it past the quota, and the API refuses those (HTTP 429).
                self._call_done.wait()
            if not self.ignore_quota:
                calls = self.ledger.requests + self._inflight_calls + 1
                if calls > self.quota.requests:
                    raise QuotaStop(
                        service,
                        f"today's {self.quota.requests} requests are spent ("
                        f"{self.ledger.bytes / 1024:.0f} KB, as counted by beeplan on this "
                        "machine); stopped before the API refuses.",
                        NEXT_STEPS,
                    )
                spent = (
                    self.ledger.bytes - self._unbelieved_bytes + self._inflight_bytes + expected
                )
                if spent > self.quota.kb * 1024:
                    raise QuotaStop(
                        service,
                        f"this call (about {expected / 1024:.1f} KB) would pass today's "
                        f"{self.quota.kb} KB ({self.ledger.bytes / 1024:.0f} KB and "
                        f"{self.ledger.requests} calls spent, as counted by beeplan on this "
                        "machine); stopped before the API refuses.",
                        NEXT_STEPS,
                    )
            self._inflight_calls += 1
            self._inflight_bytes += expected
        return expected

    def _near_the_end(self, expected: int) -> bool:
        """Calls are in flight and the end of today's KB is near: less than LARGE_ANSWER
        (or four times the estimates in flight and this call's) would be left. An answer
        can be five times its estimate on an account not measured yet; one call at a time,
        no call goes out while beeplan's count is behind the API's. Under ``_usage_lock``."""
        if not self._inflight_calls:
            return False
        left = self.quota.kb * 1024 - (self.ledger.bytes - self._unbelieved_bytes)
        return left - self._inflight_bytes - expected < max(
            LARGE_ANSWER, 4 * (self._inflight_bytes + expected))

    def _release(self, expected: int) -> None:
        with self._usage_lock:
            self._inflight_calls -= 1
            self._inflight_bytes -= expected
            self._call_done.notify_all()

    def call(self, service: str, **payload: Any) -> dict[str, Any]:
        """Call one service; return the decoded answer when ``status`` is ``ok``."""
        return self.request(service, payload)

    def request(
        self, service: str, payload: Mapping[str, Any], *, retries: int | None = None
    ) -> dict[str, Any]:
        """``call``, with this call's read retries (None: the client's own ``retries``)."""
        body = json.dumps({"service": service, **payload}, ensure_ascii=False).encode("utf-8")
        retries = self.retries if retries is None else retries
        attempts = 1 + (retries if is_read(service) else 0)
        for attempt in range(attempts):
            expected = self._reserve(service, len(body))
            try:
                return self._post(service, body)
            except AnswerError:
                raise  # a page or a shape that is wrong once is wrong again: not retried
            except TransportError:
                if attempt + 1 >= attempts:
                    raise
            finally:
                self._release(expected)
            delay = self.backoff * (2**attempt)
            time.sleep(delay / 2 + random.uniform(0, delay / 2))
        raise AssertionError("unreachable")

    def _post(self, service: str, body: bytes) -> dict[str, Any]:
        started = time.monotonic()
        call = _Call(started + self.timeout)
        _current.call = call
        _WATCHDOG.watch(call)
        session = self._take_session()
        try:
            response, content = post_capped(
                session, self.endpoint, body, name=service, call=call,
                cap=self.max_answer_bytes, timeout=self.timeout, started=started, logger=log)
        except (TransportError, ApiError) as exc:
            self._count(service, len(body) + call.received, believed=not isinstance(
                exc, AnswerError))
            raise
        finally:
            self._give_back(session)
            _current.call = None
            _WATCHDOG.forget(call)
        self._count(service, len(body) + len(content))
        log.info(
            "%s -> HTTP %s, %d bytes, %.3fs",
            service,
            response.status_code,
            len(content),
            time.monotonic() - started,
        )
        try:
            return self._believe(service, response, content)
        except AnswerError:
            with self._usage_lock:
                self._unbelieved_bytes += len(body) + len(content)
            raise

    def _believe(
        self, service: str, response: requests.Response, content: bytes
    ) -> dict[str, Any]:
        """The answer, if it is one the reference promises; otherwise an error saying why."""
        status = response.status_code
        answer = _decode(content)
        message = str(answer.get("message") or "") if isinstance(answer, Mapping) else ""
        # The sandbox names the service in its messages; ApiError adds it again otherwise.
        message = message.removeprefix(f"{service}: ")
        if 300 <= status < 400:
            location = redact_url(response.headers.get("Location", ""))[:200]
            raise EndpointError(
                service,
                f"the API answered a redirect to {location or '(no Location)'!r}; "
                "redirects are never followed: check --endpoint",
                status,
            )
        if status == 401:
            raise AuthError(service, message or "the API token was refused", 401)
        if status == 429 or is_quota_message(message):
            # The API's own message says so already ("daily API quota reached: ..."): once.
            raise QuotaError(
                service,
                message
                if is_quota_message(message)
                else "daily API quota reached" + (f" ({message})" if message else ""),
                429,
            )
        if status >= 500:
            raise TransportError(service, f"HTTP {status}")
        if status != 200:
            raise ApiError(service, message or "unexpected answer", status)
        if answer is _NOT_JSON:
            kind = response.headers.get("Content-Type", "").split(";")[0].strip()
            kind = kind if kind.isprintable() and len(kind) < 60 else "unknown type"
            raise AnswerError(
                service,
                f"the answer is not JSON ({kind or 'no Content-Type'}, {len(content)} bytes): "
                "a proxy or portal page, or a truncated answer?",
            )
        wrong = answers.problem(service, answer)
        if wrong:
            raise AnswerError(service, wrong)
        if answer.get("status") == "error":
            raise ApiError(service, message, 200)
        return dict(answer)

    def _count(self, service: str, nbytes: int, believed: bool = True) -> None:
        with self._usage_lock:
            self.usage.requests[service] += 1
            self.usage.bytes[service] += nbytes
            if not believed:
                self._unbelieved_bytes += nbytes
        self.ledger.add(1, nbytes)

    def close(self) -> None:
        self.ledger.save()
        with self._usage_lock:
            measured = {s: self.usage.bytes[s] // n for s, n in self.usage.requests.items()
                        if n and is_read(s)}
        sizes.save(self.sizes_path, measured, self._reads)
        with self._sessions_lock:
            sessions, self._sessions, self._idle = self._sessions, [], []
        for session in sessions:
            session.close()

    def __enter__(self) -> BeeboleClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def is_quota_message(message: str) -> bool:
    lowered = message.lower()
    return "quota reached" in lowered or "quota exceeded" in lowered


_NOT_JSON = object()


def _decode(content: bytes) -> Any:
    try:
        return json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return _NOT_JSON
