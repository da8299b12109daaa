"""Endpoints and calls, whatever API they speak: which URLs may carry a token, how a
URL is shown, and the watchdog that holds every call to one deadline.

Shared by every platform's client (beeplan/platforms/*/client.py) and the HTTP
transport (beeplan/transport.py); light on purpose (no requests import).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
import threading
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .errors import AnswerError, ConfigError, TransportError

log = logging.getLogger("beeplan.api")


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


def late(name: str, timeout: float) -> TransportError:
    """The error of a call with no complete answer within its deadline."""
    return TransportError(name, f"no complete answer within {timeout:g}s ($BEEPLAN_TIMEOUT)")


def post_capped(session: Any, url: str, body: bytes, *, name: str, call: _Call, cap: int,
                timeout: float, started: float, headers: dict[str, str] | None = None,
                logger: logging.Logger = log) -> tuple[Any, bytes]:
    """POST ``body`` to ``url`` and read the whole answer (``read_body``): (response, body).

    Every client sends its calls so: redirects never followed, one deadline, the cap;
    a TLS failure is an ``EndpointError`` (not retried), any other transport failure a
    ``TransportError`` naming the URL tried (never a token: the URL holds none, and
    query and fragment are left out).
    """
    from . import transport
    from .errors import EndpointError

    try:
        response = session.post(url, data=body, timeout=timeout, allow_redirects=False,
                                stream=True, headers=headers)
        try:
            return response, read_body(name, response, call, cap, timeout)
        finally:
            response.close()
    except transport.SSLError as exc:
        raise EndpointError(name, transport.tls_reason(exc, url)) from None
    except transport.RequestException as exc:
        if call.expired:
            raise late(name, timeout) from None
        logger.info("%s failed after %.3fs: %s", name, time.monotonic() - started, type(exc))
        raise TransportError(name, f"{transport.describe(exc)}; tried {shown_url(url)}") from None


def read_body(name: str, response: Any, call: _Call, cap: int, timeout: float) -> bytes:
    """The whole body of ``response``, within ``call``'s deadline and ``cap`` bytes.

    Every client of every platform reads its answers so: an answer over the cap
    is refused before or while it is read, never held whole in memory.
    """
    too_big = (f"the answer is over the {cap:,} bytes limit ($BEEPLAN_MAX_ANSWER_MB); "
               "a real API answer is far smaller")
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > cap:
        raise AnswerError(name, too_big)
    chunks: list[bytes] = []
    total = 0
    for chunk in response.iter_content(chunk_size=65536):
        total += len(chunk)
        call.received = total
        if total > cap:
            raise AnswerError(name, too_big)
        chunks.append(chunk)
        if call.expired:
            break
    # A cut socket can look like the end of a body sent without a length.
    if call.expired or time.monotonic() > call.deadline:
        raise late(name, timeout)
    return b"".join(chunks)


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
