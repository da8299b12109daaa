"""The Beebole API v2 client: one POST of a JSON document per service call.

Reads are retried on transport failures with exponential backoff and
jitter; writes never are (the applier decides, after checking). Every call
is counted (requests and bytes, per service) and added to a daily ledger
kept per token hash, so plans can say what they cost and apply can refuse
to run past today's quota.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from .errors import ApiError, AuthError, ConfigError, QuotaError, TransportError

log = logging.getLogger("beeplan.api")

DEFAULT_ENDPOINT = "https://beebole-apps.com/api/v2"
DAILY_REQUESTS = 4000
DAILY_KB = 2048

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


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


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


def token_key(token: str) -> str:
    """A stable, non-reversible name for a token: the ledger's file name.

    Beebole's quota is per user (token) and day, whatever the URL, so the
    endpoint is not part of it (the embedded sandbox's port changes per run).
    """
    return hashlib.sha256(f"beeplan-ledger\0{token}".encode()).hexdigest()[:24]


def cache_dir() -> Path:
    """``$BEEPLAN_CACHE_DIR``, else ``$XDG_CACHE_HOME/beeplan``, else ``~/.cache/beeplan``."""
    if os.environ.get("BEEPLAN_CACHE_DIR"):
        return Path(os.environ["BEEPLAN_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME")
    return (Path(base) if base else Path.home() / ".cache") / "beeplan"


def utc_today() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d")


@dataclass
class Usage:
    """Requests and bytes (sent + received) per service."""

    requests: Counter[str] = field(default_factory=Counter)
    bytes: Counter[str] = field(default_factory=Counter)

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())

    @property
    def total_bytes(self) -> int:
        return sum(self.bytes.values())


class Ledger:
    """Today's spend for one token, persisted under the user cache dir.

    Beebole does not report the remaining quota, so beeplan keeps its own
    count. It only knows the calls made by beeplan on this machine; the
    message that quotes it says so.
    """

    def __init__(self, path: Path | None):
        self.path = path
        self.lock = threading.Lock()
        self.day = utc_today()
        self.requests = 0
        self.bytes = 0
        self.unsaved = 0
        if path is not None and path.exists():
            try:
                data = json.loads(path.read_text())
                if data.get("day") == self.day:
                    self.requests = int(data.get("requests", 0))
                    self.bytes = int(data.get("bytes", 0))
            except (OSError, ValueError):
                pass  # a corrupt ledger only loses the count, never blocks work

    def add(self, requests_: int, bytes_: int) -> None:
        with self.lock:
            today = utc_today()
            if today != self.day:
                self.day, self.requests, self.bytes = today, 0, 0
            self.requests += requests_
            self.bytes += bytes_
            self.unsaved += 1
            if self.unsaved >= 25:
                self._save()

    def save(self) -> None:
        with self.lock:
            self._save()

    def _save(self) -> None:
        self.unsaved = 0
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_text(
                json.dumps({"day": self.day, "requests": self.requests, "bytes": self.bytes})
            )
            tmp.replace(self.path)
        except OSError as exc:
            log.warning("could not save the quota ledger: %s", exc)


@dataclass(frozen=True)
class Quota:
    requests: int = DAILY_REQUESTS
    kb: int = DAILY_KB


class BeeboleClient:
    """Calls Beebole API v2 services. Thread-safe: one HTTP session per thread."""

    def __init__(
        self,
        endpoint: str,
        token: str,
        *,
        timeout: float = 30.0,
        retries: int = 4,
        backoff: float = 0.25,
        ledger: bool = True,
        quota: Quota = Quota(),
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
        self.timeout = timeout
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

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.auth = self._auth
            session.headers["Content-Type"] = "application/json; charset=utf-8"
            # requests re-reads proxy and CA settings from the environment on every
            # request (~15% of the client's CPU); read them once per session instead.
            # trust_env off also keeps a ~/.netrc from replacing the token.
            session.trust_env = False
            session.proxies = requests.utils.get_environ_proxies(self.endpoint)
            session.verify = (
                os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
            )
            self._local.session = session
        return session

    def remaining_today(self) -> int:
        return max(0, self.quota.requests - self.ledger.requests)

    def call(self, service: str, **payload: Any) -> dict[str, Any]:
        """Call one service; return the decoded answer when ``status`` is ``ok``."""
        body = json.dumps({"service": service, **payload}, ensure_ascii=False).encode("utf-8")
        attempts = 1 + (self.retries if is_read(service) else 0)
        for attempt in range(attempts):
            try:
                return self._post(service, body)
            except TransportError:
                if attempt + 1 >= attempts:
                    raise
                delay = self.backoff * (2**attempt)
                time.sleep(delay / 2 + random.uniform(0, delay / 2))
        raise AssertionError("unreachable")

    def _post(self, service: str, body: bytes) -> dict[str, Any]:
        started = time.monotonic()
        try:
            response = self._session().post(self.endpoint, data=body, timeout=self.timeout)
        except requests.RequestException as exc:
            self._count(service, len(body))
            log.info("%s failed after %.3fs: %s", service, time.monotonic() - started, type(exc))
            raise TransportError(service, _describe(exc)) from None
        content = response.content
        self._count(service, len(body) + len(content))
        log.info(
            "%s -> HTTP %s, %d bytes, %.3fs",
            service,
            response.status_code,
            len(content),
            time.monotonic() - started,
        )
        answer = _decode(content)
        message = str(answer.get("message") or "") if isinstance(answer, Mapping) else ""
        # The sandbox names the service in its messages; ApiError adds it again otherwise.
        message = message.removeprefix(f"{service}: ")
        if response.status_code == 401:
            raise AuthError(service, message or "the API token was refused", 401)
        if response.status_code == 429 or is_quota_message(message):
            # The API's own message says so already ("daily API quota reached: ..."): once.
            raise QuotaError(
                service,
                message
                if is_quota_message(message)
                else "daily API quota reached" + (f" ({message})" if message else ""),
                429,
            )
        if response.status_code >= 500:
            raise TransportError(service, f"HTTP {response.status_code}")
        if response.status_code != 200:
            raise ApiError(service, message or "unexpected answer", response.status_code)
        if not isinstance(answer, dict):
            raise ApiError(service, "the answer is not a JSON object", 200)
        if answer.get("status") == "error":
            raise ApiError(service, message or "error without a message", 200)
        return answer

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


def _decode(content: bytes) -> Any:
    try:
        return json.loads(content.decode("utf-8")) if content else {}
    except (UnicodeDecodeError, ValueError):
        return {}


def _describe(exc: requests.RequestException) -> str:
    if isinstance(exc, requests.Timeout):
        return "timed out"
    if isinstance(exc, requests.ConnectionError):
        return "connection failed or dropped"
    return type(exc).__name__
