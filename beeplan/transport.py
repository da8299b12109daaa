"""The HTTP transport under ``BeeboleClient``: requests and urllib3, imported only to call.

Kept apart from ``client.py`` so that commands which never call the API
(``--help``, ``validate``, ``graph``) do not pay for importing requests and
urllib3 (about a third of beeplan's start-up).

Sessions are made here, once per parallel worker for the whole run (the
client keeps them in a pool), so a connection to the API is reused from one
stage of a plan to the next; and the CA bundle is looked up once per adapter,
not once per request as requests does (an ``exists`` and an ``isdir`` on
every https call).
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from .endpoints import _current, is_loopback

SSLError = requests.exceptions.SSLError
RequestException = requests.RequestException


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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # What requests works out from the CA settings on every request (file checks), by
        # (url, verify, cert): the files do not move while beeplan runs.
        self._pool_keys: dict[Any, Any] = {}
        self._certs: dict[Any, tuple[Any, Any, Any]] = {}
        super().__init__(*args, **kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_POOLS)

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **kwargs)
        manager.pool_classes_by_scheme = dict(_POOLS)
        return manager

    def build_connection_pool_key_attributes(
        self, request: Any, verify: Any, cert: Any = None
    ) -> Any:
        key = (request.url, verify, cert)
        found: Any = self._pool_keys.get(key)
        if found is None:
            found = super().build_connection_pool_key_attributes(request, verify, cert)
            self._pool_keys[key] = found
        return dict(found[0]), dict(found[1])

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        key = (url.lower().startswith("https") and verify, cert)
        found = self._certs.get(key)
        if found is None or cert:
            super().cert_verify(conn, url, verify, cert)  # raises when the bundle is missing
            self._certs[key] = (conn.cert_reqs, conn.ca_certs, conn.ca_cert_dir)
        else:
            conn.cert_reqs, conn.ca_certs, conn.ca_cert_dir = found


def new_session(endpoint: str, auth: tuple[str, str]) -> requests.Session:
    """A session for one worker of ``BeeboleClient``, reused for the whole run."""
    session = requests.Session()
    adapter = _Adapter()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.auth = auth
    session.headers["Content-Type"] = "application/json; charset=utf-8"
    # requests re-reads proxy and CA settings from the environment on every
    # request (~15% of the client's CPU); read them once per session instead.
    # trust_env off also keeps a ~/.netrc from replacing the token.
    session.trust_env = False
    session.proxies = proxies_for(endpoint)
    session.verify = (
        os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    )
    return session


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


def tls_reason(exc: Exception, endpoint: str) -> str:
    host = urlsplit(endpoint).hostname or endpoint
    if "CERTIFICATE_VERIFY_FAILED" in str(exc) or "certificate verify failed" in str(exc):
        return (
            f"TLS certificate verification failed for {host}: the server is not who it "
            "claims to be, or its CA is not trusted ($REQUESTS_CA_BUNDLE); not retried"
        )
    return f"TLS handshake with {host} failed; not retried"


def describe(exc: requests.RequestException) -> str:
    if isinstance(exc, requests.Timeout):
        return "timed out"
    if isinstance(exc, requests.ConnectionError):
        return "connection failed or dropped"
    return type(exc).__name__
