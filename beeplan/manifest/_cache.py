"""The loaded manifests kept between runs, under the cache dir (``manifests/``).

Loading 10,000 people's manifests (parse, schema, checks across files) costs
about 1 s of CPU, each time an hourly ``check --max-calls`` or a repeated
``plan`` reads the same files (issue 24). ``load_cached`` keeps what ``load``
returned (the state and its warnings) in one file per manifest set, and gives
it back only when nothing ``load`` depends on has changed:

- the bytes of every manifest file, each named as ``load`` names it, read by
  the same rules (``read_manifest``): an edited, added, removed or renamed
  file is a new key;
- the value of every environment variable its ``${NAME}`` read (checked
  against the environment of this run, as ``load`` would read it);
- beeplan itself: its version, the Python version, and the source of the
  loader and of the model (a pickle of another beeplan is never trusted).

So a cache never changes a result: a set it cannot vouch for is loaded as
without it. A set with problems is never kept (they are found again, in full).
What is computed from a loaded set alone (the units of ``check --max-calls``,
0.25 s at 10,000 people on every hourly run) can be kept beside it the same way
(``kept_beside``): under the set's key, the ``${NAME}`` values read, a name, and
the source of all of beeplan.

The file is a pickle: it is read only when it is a regular file of this user,
writable by nobody else, in the 0700 folder beeplan makes; anything else, and
a file that does not unpickle to what beeplan writes, is ignored with a
logged warning and replaced by the next load.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import pickle
import stat
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from ..errors import Problem
from ..localfiles.cachefile import cache_dir, foreign, private_dir
from ..model import State

log = logging.getLogger("beeplan.cache")
T = TypeVar("T")

FORMAT = 1
# What the loaded state depends on besides the files: this package's loader and model.
_SOURCES = ("manifest", "model.py", "errors.py", "schemas")


def _code_digest(sources: Sequence[str] = _SOURCES) -> str:
    """beeplan's version, Python's, and the source of ``sources`` (default: the loader
    and the model; ``("",)``: all of beeplan), as one digest."""
    from .. import __version__

    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256(f"{FORMAT} {__version__} {sys.version}".encode())
    for name in sources:
        where = root / name if name else root
        files = sorted(where.rglob("*")) if where.is_dir() else [where]
        for file in files:
            if file.is_file() and file.suffix in (".py", ".json"):
                digest.update(file.relative_to(root).as_posix().encode() + b"\0")
                digest.update(file.read_bytes())
    return digest.hexdigest()


def set_key(path: Path | Sequence[Path]) -> tuple[str, str] | None:
    """(where the set's entry lives, the digest its content must have), or None when a
    file cannot be read by ``load``'s rules (``load`` then says why, uncached)."""
    from ..errors import ManifestError
    from ._files import boundary_of, manifest_files, read_manifest
    from ._overlay import paths_of

    where = hashlib.sha256()
    content = hashlib.sha256(_code_digest().encode())
    for one in paths_of(path):
        boundary = boundary_of(one)
        where.update(str(Path(one).resolve()).encode() + b"\0")
        content.update(b"set\0" + str(one).encode() + b"\0")
        try:
            for file in manifest_files(one, boundary):
                data = read_manifest(file, boundary)
                content.update(str(file).encode() + b"\0" + hashlib.sha256(data).digest())
        except (OSError, ValueError, ManifestError):
            return None
    return where.hexdigest()[:32], content.hexdigest()


def _entry_path(where: str) -> Path:
    return cache_dir() / "manifests" / f"{where}.pickle"


def _why_untrusted(info: os.stat_result) -> str | None:
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file"
    why = foreign(info)
    if why:
        return why
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return "writable by other users"
    return None


def _read(path: Path, content: str) -> tuple[State, list[Problem]] | None:
    """The entry at ``path`` when it holds ``content``'s load; None otherwise."""
    entry = _read_entry(path, content)
    if entry is None:
        return None
    state, warnings = entry.get("state"), entry.get("warnings")
    if not isinstance(state, State) or not isinstance(warnings, list):
        log.warning("the manifest cache %s is ignored (it is damaged: %s); the manifests "
                    "are loaded again and the cache rewritten", path, TypeError.__name__)
        return None
    return state, warnings


def _read_entry(path: Path, content: str) -> dict[str, Any] | None:
    """The pickled entry at ``path`` when its key is ``content``; None otherwise."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("the manifest cache %s is ignored (%s)", path, exc.strerror or exc)
        return None
    with os.fdopen(fd, "rb") as file:
        why = _why_untrusted(os.fstat(file.fileno()))
        if why:
            log.warning("the manifest cache %s is ignored (%s)", path, why)
            return None
        try:
            entry = pickle.load(file)  # noqa: S301 - our own file, checked above
            if not isinstance(entry, dict):
                raise TypeError("not a manifest cache entry")
            if entry["key"] != content:
                return None  # another version of the set: loaded afresh, then replaced
        except Exception as exc:  # noqa: BLE001 - any damage means: load as without it
            log.warning("the manifest cache %s is ignored (it is damaged: %s); the manifests "
                        "are loaded again and the cache rewritten", path, type(exc).__name__)
            return None
    return entry


def _variables_hold(state: State, environ: Mapping[str, str]) -> bool:
    """Whether each ``${NAME}`` the kept load read has the same value now."""
    return all(environ.get(name) == value for name, value in state.variables.items())


def _write(path: Path, content: str, state: State, warnings: list[Problem]) -> None:
    _write_entry(path, {"key": content, "state": state, "warnings": warnings})


def _write_entry(path: Path, entry: dict[str, Any]) -> None:
    """Replace the entry whole (temporary file, then rename), mode 0600; never fails a run."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        private_dir(path.parent)
        data = pickle.dumps(entry, protocol=pickle.HIGHEST_PROTOCOL)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as file:
            os.fchmod(file.fileno(), 0o600)
            file.write(data)
        os.replace(tmp, path)
    except Exception as exc:  # noqa: BLE001 - a cache not written only costs the next run
        with contextlib.suppress(OSError):
            tmp.unlink()
        log.debug("the manifest cache %s was not written: %s", path, exc)


def load_cached(path: Path | Sequence[Path], warnings: list[Problem] | None = None,
                environ: Mapping[str, str] | None = None, keep: bool = True) -> State:
    """``load(path, warnings)``, from the cache when the same files, variables and
    beeplan were loaded before (see the module docstring); the result is the same.
    ``keep``: write what was loaded afresh to the cache (pickling 10,000 people's
    manifests costs 0.1 s: not for a run none is expected to follow)."""
    from . import load

    env = os.environ if environ is None else environ
    key = set_key(path)
    if key is not None:
        kept = _read(_entry_path(key[0]), key[1])
        if kept is not None and _variables_hold(kept[0], env):
            if warnings is not None:
                warnings.extend(kept[1])
            _LOADED[id(kept[0])] = (kept[0], *key)
            return kept[0]
    found: list[Problem] = []
    state = load(path, found, env)
    if warnings is not None:
        warnings.extend(found)
    if key is not None and keep:
        _write(_entry_path(key[0]), key[1], state, found)
    if key is not None:
        _LOADED[id(state)] = (state, *key)
    return state


# The sets load_cached gave in this process, by identity: (the state, held so that its
# id names no other object; where its entry lives; the digest of its content).
_LOADED: dict[int, tuple[State, str, str]] = {}


def kept_beside(state: State, name: str, compute: Callable[[], T]) -> T:
    """``compute()``, a value computed from ``state`` alone, kept beside its cached load.

    Given back while the set's files, the ``${NAME}`` values it read and beeplan's
    source are those it was computed from; computed (and kept) otherwise. A state
    ``load_cached`` did not give is simply computed. ``name`` tells the values of one
    set apart; it holds what else ``compute`` reads (e.g. the platform).
    """
    known = _LOADED.get(id(state))
    if known is None or known[0] is not state:
        return compute()
    _, where, content = known
    key = hashlib.sha256("\0".join(
        [content, _code_digest(("",)), name, repr(sorted(state.variables.items()))]
    ).encode()).hexdigest()
    kind = hashlib.sha256(name.encode()).hexdigest()[:16]
    path = cache_dir() / "manifests" / "beside" / f"{where}.{kind}.pickle"
    entry = _read_entry(path, key)
    if entry is not None and "value" in entry:
        value: T = entry["value"]
        return value
    value = compute()
    _write_entry(path, {"key": key, "value": value})
    return value

