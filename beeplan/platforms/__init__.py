"""The platform registry: which Beebole API an endpoint speaks.

The only module of the core that names a platform folder; everything else
asks here for a ``Platform`` (beeplan/platforms/base.py). Adding a platform
adds a folder and one line to ``_MODULES``.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..errors import ConfigError
from .base import Client, Platform, Progress, Reader

# name -> the module whose PLATFORM describes it. Looked at in order; the
# last one (API v2) serves any endpoint no other platform claims, as before
# there were several.
_MODULES: dict[str, str] = {
    "current": "beeplan.platforms.current.platform",
    "v2": "beeplan.platforms.v2.platform",
}
DEFAULT = "v2"
SANDBOX_PREFIX = "sandbox:"


def get(name: str) -> Platform:
    """The platform called ``name`` (as a manifest set's settings would say it)."""
    module = _MODULES.get(name)
    if module is None:
        known = ", ".join(sorted(_MODULES))
        raise ConfigError(f"unknown platform {name!r}: beeplan knows {known}")
    platform: Platform = importlib.import_module(module).PLATFORM
    return platform


def default() -> Platform:
    return get(DEFAULT)


def for_endpoint(endpoint: str, written_for: str | None = None) -> Platform:
    """The platform an endpoint (a URL, or ``sandbox:FILE``) speaks.

    The embedded sandbox (``sandbox:FILE``) emulates both platforms: it speaks
    the one the manifests are written for (``written_for``), else API v2.
    """
    if endpoint.startswith(SANDBOX_PREFIX):
        return get(written_for) if written_for in _MODULES else default()
    for name in _MODULES:
        platform = get(name)
        if platform.serves(endpoint):
            return platform
    return default()


def joint_sandbox(db: str, *, host: str = "127.0.0.1", port: int = 0, token: str | None = None,
                  shared: Mapping[str, Any] | None = None,
                  only: Mapping[str, Mapping[str, Any]] | None = None) -> Any:
    """Every platform's sandbox over one database file, to serve on one port, one token.

    ``shared`` options (the fault knobs, the random seed) go to every platform's
    sandbox; ``only[name]`` to that platform's alone (API v2's quotas, its seed
    file). API v2's comes first: without ``token`` it is the one its database
    keeps, and the others accept the same. Returns a ``sandboxcore.JointSandbox``
    (not started); each platform answers at its own path.
    """
    from ..sandboxcore import JointSandbox  # werkzeug: only when a sandbox runs

    parts: list[Any] = []
    try:
        for name in (DEFAULT, *(n for n in _MODULES if n != DEFAULT)):
            options = {**(shared or {}), **(only or {}).get(name, {})}
            part = get(name).sandbox(db, token=token, **options)
            parts.append(part)
            token = part.token
    except BaseException:
        for part in parts:  # a later platform failed: release the stores already open
            part.stop()
        raise
    return JointSandbox(parts, host=host, port=port)


def reader_for(client: Client, parallelism: int = 4, progress: Progress | None = None) -> Reader:
    """The live reader of the platform the client's endpoint speaks."""
    return for_endpoint(client.endpoint).reader(client, parallelism, progress)


def check_written_for(written_for: str | None, endpoint: str, where: str) -> Platform:
    """The endpoint's platform, refusing manifests written for another one.

    ``written_for`` is what the manifest set says (None: it does not say, and
    suits any platform); ``where`` names the file and line that says it.
    """
    platform = for_endpoint(endpoint, written_for)
    if written_for is not None and written_for != platform.name:
        if written_for not in _MODULES:
            known = ", ".join(sorted(_MODULES))
            raise ConfigError(
                f"{where}: settings.platform {written_for!r} is not a platform beeplan knows; "
                f"write one of: {known} (or remove the key)"
            )
        raise ConfigError(
            f"{where}: these manifests are written for platform {written_for!r}, but the "
            f"endpoint {shown_endpoint(endpoint)} speaks {platform.name!r}; use an endpoint "
            f"of {written_for!r}: --endpoint {endpoint_like(written_for, endpoint)}"
        )
    return platform


def shown_endpoint(endpoint: str) -> str:
    """The endpoint as an error may print it: scheme, host, port and path only (a user
    name, password or query someone put in the URL is never echoed)."""
    if endpoint.startswith(SANDBOX_PREFIX):
        return endpoint
    parts = _host_of(endpoint)
    return urlunsplit((*parts, urlsplit(endpoint).path, "", "")) if parts else "given"


def endpoint_like(name: str, endpoint: str) -> str:
    """Platform ``name``'s endpoint on the server ``endpoint`` names: a user who points
    a current set at ``http://127.0.0.1:8080`` (a sandbox serving both) is told
    ``http://127.0.0.1:8080/graphql``; otherwise the platform's default endpoint."""
    default = get(name).default_endpoint
    parts = None if endpoint.startswith(SANDBOX_PREFIX) else _host_of(endpoint)
    beebole = {urlsplit(get(n).default_endpoint).hostname for n in _MODULES}
    if parts is None or urlsplit(endpoint).hostname in beebole:
        return default  # Beebole serves each platform on its own host
    return urlunsplit((*parts, urlsplit(default).path, "", ""))


def _host_of(endpoint: str) -> tuple[str, str] | None:
    """(scheme, host[:port]) of a URL, without any user info; None if it is not one."""
    try:
        parts = urlsplit(endpoint)
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not host:
        return None
    host = f"[{host}]" if ":" in host else host
    return parts.scheme, host + (f":{port}" if port is not None else "")
