"""Files under the cache dir (quota ledger, journal, check state): private, locked, whole.

- Directories beeplan makes are 0700 and files 0600: a ledger or journal
  names accounts (by token hash) and what beeplan did in them.
- Updates are read-modify-write under an exclusive ``fcntl`` lock on a
  sibling ``.lock`` file, so two beeplan processes sharing a cache dir add
  to each other's counts instead of overwriting them.
- A file is replaced whole (temporary file, then rename): a reader never
  sees half of one; a temporary file is removed when the write fails.
- A file that is not what beeplan writes is set aside (renamed ``.bad``)
  with a warning, never a traceback.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no cross-process lock
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("beeplan.cache")

MAX_CACHE_FILE = 16 * 1024 * 1024  # far above any ledger or journal beeplan writes


def private_dir(path: Path) -> None:
    """Make ``path`` (and missing parents) mode 0700; tighten it if it is beeplan's own."""
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):
            directory.mkdir(mode=0o700)
    # Tighten only beeplan's own directories (an older beeplan made them 0755), never
    # a directory the user named for a file of theirs (check --state FILE).
    info = path.stat()
    if info.st_mode & 0o077 and info.st_uid == os.getuid() and _in_cache(path):
        os.chmod(path, 0o700)


def cache_dir() -> Path:
    """``$BEEPLAN_CACHE_DIR``, else ``$XDG_CACHE_HOME/beeplan``, else ``~/.cache/beeplan``."""
    if os.environ.get("BEEPLAN_CACHE_DIR"):
        return Path(os.environ["BEEPLAN_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME")
    return (Path(base) if base else Path.home() / ".cache") / "beeplan"


def _in_cache(path: Path) -> bool:
    try:
        path.resolve().relative_to(cache_dir().resolve())
    except ValueError:
        return False
    return True


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock for updating ``path``, across threads and processes."""
    private_dir(path.parent)
    with _THREAD_LOCK:
        fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW,
                     0o600)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock


# flock is per open file: two threads of one process each opening the lock file
# would each get it; this lock serialises them first.
_THREAD_LOCK = threading.RLock()


def read_json(path: Path) -> Any:
    """The decoded file; FileNotFoundError when there is none, ValueError when not JSON.

    Not a regular file (a directory, a symlink, a FIFO) is ValueError too: set
    aside like a bad file, else every process would count from zero, never saving.
    """
    info = os.lstat(path)
    if not stat.S_ISREG(info.st_mode):
        raise ValueError("not a regular file")
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as file:
        why = foreign(os.fstat(file.fileno()))
        if why:
            raise ValueError(why)
        data = file.read(MAX_CACHE_FILE + 1)
    if len(data) > MAX_CACHE_FILE:
        raise ValueError(f"over {MAX_CACHE_FILE} bytes")
    try:
        return json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise ValueError(f"not JSON: {exc}") from None


def foreign(info: os.stat_result) -> str | None:
    """Why a file this user did not write is not to be trusted, or None.

    A shared or world-writable cache folder (XDG_CACHE_HOME=/tmp, a CI
    runner's) lets another user plant a file beeplan would act on.
    """
    if hasattr(os, "geteuid") and info.st_uid != os.geteuid():
        return f"owned by another user (uid {info.st_uid})"
    if info.st_mode & stat.S_IWOTH:
        return "writable by every user"
    return None


def write_json(path: Path, data: Any, indent: int | None = None) -> None:
    """Replace ``path`` whole with ``data`` as JSON, mode 0600."""
    write_text(path, json.dumps(data, indent=indent) + ("\n" if indent is not None else ""))


def write_text(path: Path, text: str) -> None:
    """Replace ``path`` whole with ``text``, mode 0600."""
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            os.fchmod(file.fileno(), 0o600)
            file.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def set_aside(path: Path, what: str, why: str) -> None:
    """Move a file beeplan cannot use out of the way, saying so."""
    bad = path.with_name(path.name + ".bad")
    try:
        os.replace(path, bad)
        where = f"moved to {bad}"
    except OSError as exc:
        where = f"could not move it ({exc.strerror})"
    log.warning("the %s %s is not one beeplan wrote (%s): %s", what, path, why, where)
