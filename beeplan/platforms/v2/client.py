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
import os
import random
import socket
import threading
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from ...endpoints import is_loopback  # re-exported: callers name it from here
from ...errors import (
    AnswerError,
    ApiError,
    AuthError,
    ConfigError,
    EndpointError,
    QuotaError,
    TransportError,
)
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


def check_endpoint(endpoint: str) -> str:
    """Refuse URLs that would leak the token: plain http off loopback, or userinfo."""
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"endpoint must be an http(s) URL, got {redact_url(endpoint)!r}")
    if parts.username or parts.password:
        raise ConfigError("endpoint must not carry credentials; set BEEBOLE_TOKEN instead")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ConfigError(
            f"refusing plain http:// to {parts.hostname}: the token would cross the network "
            "unencrypted. Use https:// (http is allowed on loopback only)."
        )
    return endpoint


def redact_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.username or parts.password:
        netloc = "***@" + (parts.hostname or "")
        if parts.port:
            netloc += f":{parts.port}"
        return parts._replace(netloc=netloc).geturl()
    return url


def shown_url(url: str) -> str:
    """``url`` for a message: scheme, host, port and path only (no userinfo, no query)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _env_number(name: str, default: float, most: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    # A bound above: sockets and lock waits refuse timeouts past time_t (a traceback).
    if not 0 < value <= most:
        raise ConfigError(
            f"${name} must be a positive number up to {most:g}, got {raw[:40]!r}"
        )
    return value


class _Call:
    """One call in flight: its deadline and the connection carrying it."""

    def __init__(self, deadline: float):
        self.deadline = deadline
        self.conn: Any = None
        self.received = 0  # bytes of the answer read so far
        self.expired = False
        self.lock = threading.Lock()

    def attach(self, conn: Any) -> None:
        with self.lock:
            self.conn = conn
            if self.expired:
                _cut(conn)

    def expire(self) -> bool:
        """Past the deadline: cut the connection. False when it has no socket yet."""
        with self.lock:
            self.expired = True
            return self.conn is not None and _cut(self.conn)


def _cut(conn: Any) -> bool:
    """Shut the connection's socket: a read blocked on it returns at once."""
    sock = getattr(conn, "sock", None)
    if sock is None:
        return False
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    return True


class _Watchdog:
    """One daemon thread that cuts the connections of calls past their deadline.

    requests' timeout bounds each socket operation, not the call: a server
    trickling a byte a second would hold a call forever. Cutting the socket
    is the one way to stop a read that is already blocked.
    """

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.calls: set[_Call] = set()
        self.thread: threading.Thread | None = None
        self.wakes_at: float | None = None  # when the thread wakes next; None: when told

    def watch(self, call: _Call) -> None:
        with self.cond:
            self.calls.add(call)
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name="beeplan-deadlines",
                                               daemon=True)
                self.thread.start()
            # Deadlines mostly come in order: wake the thread only when this one is sooner.
            if self.wakes_at is None or call.deadline < self.wakes_at:
                self.cond.notify()

    def forget(self, call: _Call) -> None:
        with self.cond:
            self.calls.discard(call)

    def _run(self) -> None:
        with self.cond:
            while True:
                now = time.monotonic()
                for call in [c for c in self.calls if c.deadline <= now]:
                    if call.expire():
                        self.calls.discard(call)
                    else:  # still connecting: cut it as soon as it has a socket
                        call.deadline = now + 0.05
                nearest = min((c.deadline for c in self.calls), default=None)
                self.wakes_at = nearest
                self.cond.wait(None if nearest is None else max(0.0, nearest - now))


_WATCHDOG = _Watchdog()
_current = threading.local()  # the _Call this thread is making, for the pools below


class _Watched:
    """Hands every connection a pool gives out to the call this thread is making."""

    def _get_conn(self, timeout: float | None = None) -> Any:
        conn = super()._get_conn(timeout)  # type: ignore[misc]
        call = getattr(_current, "call", None)
        if call is not None:
            call.attach(conn)
        return conn


class _WatchedPool(_Watched, HTTPConnectionPool):
    pass


class _WatchedHTTPSPool(_Watched, HTTPSConnectionPool):
    pass


_POOLS = {"http": _WatchedPool, "https": _WatchedHTTPSPool}


class _Adapter(HTTPAdapter):
    """requests' adapter, with pools that tell the watchdog which connection a call uses."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_POOLS)

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **kwargs)
        manager.pool_classes_by_scheme = dict(_POOLS)
        return manager


def proxies_for(endpoint: str) -> dict[str, str]:
    """The environment's proxy for this endpoint, if it may have one.

    Never for loopback (a proxy would see the sandbox's token, and cannot reach
    our loopback anyway) and never for plain http (only loopback may be http):
    the token only goes through a proxy inside an https tunnel.
    """
    parts = urlsplit(endpoint)
    if parts.scheme != "https" or is_loopback(parts.hostname or ""):
        return {}
    found = requests.utils.get_environ_proxies(endpoint)  # honours NO_PROXY
    proxy = found.get("https") or found.get("all")
    return {"https": proxy} if proxy else {}


DEFAULT_QUOTA = Quota()  # the API v2 daily quota (frozen: one value for every client)


class BeeboleClient:
    """Calls Beebole API v2 services. Thread-safe: one HTTP session per thread."""

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
        self._local = threading.local()
        self.account_key = token_key(token)  # names per-token files; never the token
        path = cache_dir() / "quota" / f"{self.account_key}.json" if ledger else None
        self.ledger = Ledger(path)

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

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            adapter = _Adapter()
            session.mount("https://", adapter)
            session.mount("http://", adapter)
            session.auth = self._auth
            session.headers["Content-Type"] = "application/json; charset=utf-8"
            # requests re-reads proxy and CA settings from the environment on every
            # request (~15% of the client's CPU); read them once per session instead.
            # trust_env off also keeps a ~/.netrc from replacing the token.
            session.trust_env = False
            session.proxies = proxies_for(self.endpoint)
            session.verify = (
                os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
            )
            self._local.session = session
        return session

    def remaining_today(self) -> int:
        return max(0, self.quota.requests - self.ledger.requests)

    def check_reads(self, count: int) -> None:
        """Refuse to start ``count`` reads that would pass what is left of today's quota.

        A plan's reads fan out (a list per company, a relation per entity): better
        one clear stop before them than a quota error half-way through them.
        """
        left = self.remaining_today()
        if count > left and not self.ignore_quota:
            raise QuotaError(
                "reading the account",
                f"{count} more read calls are needed but only {left} of today's "
                f"{self.quota.requests} are left (as counted by beeplan on this machine); "
                "stopped before spending past the quota",
            )

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
            try:
                return self._post(service, body)
            except AnswerError:
                raise  # a page or a shape that is wrong once is wrong again: not retried
            except TransportError:
                if attempt + 1 >= attempts:
                    raise
                delay = self.backoff * (2**attempt)
                time.sleep(delay / 2 + random.uniform(0, delay / 2))
        raise AssertionError("unreachable")

    def _post(self, service: str, body: bytes) -> dict[str, Any]:
        started = time.monotonic()
        call = _Call(started + self.timeout)
        _current.call = call
        _WATCHDOG.watch(call)
        try:
            try:
                response = self._session().post(
                    self.endpoint,
                    data=body,
                    timeout=self.timeout,
                    allow_redirects=False,
                    stream=True,
                )
                try:
                    content = self._read(service, response, call)
                finally:
                    response.close()
            except requests.exceptions.SSLError as exc:
                raise EndpointError(service, _tls_reason(exc, self.endpoint)) from None
            except requests.RequestException as exc:
                if call.expired:
                    raise self._late(service) from None
                log.info("%s failed after %.3fs: %s", service, time.monotonic() - started,
                         type(exc))
                # The URL tried, so a typo or a proxy in the way shows (never a token: the
                # endpoint holds none, and query and fragment are left out).
                raise TransportError(
                    service, f"{_describe(exc)}; tried {shown_url(self.endpoint)}"
                ) from None
        except (TransportError, ApiError):
            self._count(service, len(body) + call.received)
            raise
        finally:
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
        return self._believe(service, response, content)

    def _late(self, service: str) -> TransportError:
        return TransportError(
            service, f"no complete answer within {self.timeout:g}s ($BEEPLAN_TIMEOUT)"
        )

    def _read(self, service: str, response: requests.Response, call: _Call) -> bytes:
        """The whole body, within the call's deadline and the size cap."""
        cap = self.max_answer_bytes
        too_big = (
            f"the answer is over the {cap:,} bytes limit ($BEEPLAN_MAX_ANSWER_MB); "
            "a real API answer is far smaller"
        )
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > cap:
            raise AnswerError(service, too_big)
        chunks: list[bytes] = []
        total = 0
        for chunk in response.iter_content(chunk_size=65536):
            total += len(chunk)
            call.received = total
            if total > cap:
                raise AnswerError(service, too_big)
            chunks.append(chunk)
            if call.expired:
                break
        # A cut socket can look like the end of a body sent without a length.
        if call.expired or time.monotonic() > call.deadline:
            raise self._late(service)
        return b"".join(chunks)

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

    def _count(self, service: str, nbytes: int) -> None:
        with self._usage_lock:
            self.usage.requests[service] += 1
            self.usage.bytes[service] += nbytes
        self.ledger.add(1, nbytes)

    def close(self) -> None:
        self.ledger.save()
        session = getattr(self._local, "session", None)
        if session is not None:
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


def _tls_reason(exc: Exception, endpoint: str) -> str:
    host = urlsplit(endpoint).hostname or endpoint
    if "CERTIFICATE_VERIFY_FAILED" in str(exc) or "certificate verify failed" in str(exc):
        return (
            f"TLS certificate verification failed for {host}: the server is not who it "
            "claims to be, or its CA is not trusted ($REQUESTS_CA_BUNDLE); not retried"
        )
    return f"TLS handshake with {host} failed; not retried"


def _describe(exc: requests.RequestException) -> str:
    if isinstance(exc, requests.Timeout):
        return "timed out"
    if isinstance(exc, requests.ConnectionError):
        return "connection failed or dropped"
    return type(exc).__name__
