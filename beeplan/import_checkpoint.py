"""An import that survives the daily quota: its read answers kept in a checkpoint.

``beeplan import`` of a large account needs more calls than a day allows.
Every answer it gets is kept (in memory, and saved to a checkpoint file in
the cache directory now and then and whenever the import stops); a re-run
with the same ``-o`` answers those reads from the checkpoint instead of
spending them again, and goes on with the rest. The checkpoint is removed
once the import wrote its files.

The checkpoint is trusted input (its answers become the manifests), so it
lives only where this machine writes: the cache directory, one file per
``-o`` folder. The ``-o`` folder is the repository's: a checkpoint found
there (an older beeplan's, or one a repository planted to make ``import``
write a forged account) is never read, only named in a warning. A file in
the cache that is not a checkpoint beeplan wrote is ignored with a warning.

A checkpoint belongs to one account (the token's hash, never the token),
one endpoint and one ``--relations`` choice; any other is ignored and
replaced. Answers are the account as it was when they were read: an import
resumed a day later mixes the two days, which the first plan of the
imported manifests shows, as for any change made since an import.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .budget import ClientView
from .cost import Cost
from .errors import BeeplanError, QuotaError
from .localfiles.cachefile import cache_dir, foreign, private_dir
from .model import State
from .platforms import reader_for
from .platforms.base import Client, Progress
from .usecases.steps import quota_left

log = logging.getLogger("beeplan.import")

# Where an older beeplan kept it: inside -o. Never read (see the module docstring).
CHECKPOINT_NAME = ".beeplan-import-checkpoint.json"
FORMAT = 2  # 2: in the cache directory, with the -o folder it belongs to
SAVE_EVERY_S = 5.0  # a save rewrites the whole file: not after every answer
# One relation listing, request and answer, about (measured on the benchmark org).
RELATION_CALL_BYTES = 230


def checkpoint_path(out_dir: Path) -> Path:
    """The checkpoint of an import into ``out_dir``: in the cache dir, never in ``out_dir``."""
    folder = str(out_dir.resolve())
    key = hashlib.sha256(folder.encode("utf-8", "surrogateescape")).hexdigest()[:32]
    return cache_dir() / "import" / f"{key}.json"


def planted_checkpoint(out_dir: Path) -> Path | None:
    """A checkpoint file inside ``out_dir`` (never read: the repository controls it)."""
    path = out_dir / CHECKPOINT_NAME
    return path if path.is_file() or path.is_symlink() else None


def _valid_answers(answers: object) -> bool:
    """A map of call keys to JSON objects: what ``save`` writes, nothing else."""
    return isinstance(answers, dict) and all(
        isinstance(key, str) and isinstance(answer, dict) for key, answer in answers.items()
    )


class Checkpoint:
    """Answers to read calls, by service and payload, for one account and one import."""

    def __init__(self, path: Path, identity: dict[str, Any]):
        self.path = path
        self.identity = identity
        self.answers: dict[str, dict[str, Any]] = {}
        self.started = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.resumed = 0  # answers found in an earlier run's file
        self.reused = 0  # of those, answers served again in this run
        self.lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._saved_at = time.monotonic()
        self._dirty = False

    @classmethod
    def open(cls, path: Path, identity: dict[str, Any]) -> Checkpoint:
        """The checkpoint at ``path`` if it is this import's, else a new, empty one."""
        checkpoint = cls(path, identity)
        try:
            # O_NOFOLLOW: the cache dir is this machine's; a symlink there is not ours.
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | os.O_NONBLOCK)
            with os.fdopen(fd, encoding="utf-8") as handle:
                info = os.fstat(handle.fileno())
                # Another user's file, in a cache folder others can write, is planted.
                why = ("not a regular file" if not stat.S_ISREG(info.st_mode)
                       else foreign(info))
                if why:
                    raise ValueError(why)
                doc = json.loads(handle.read())
        except FileNotFoundError:
            return checkpoint
        except (OSError, ValueError) as exc:
            log.warning("ignoring an unreadable import checkpoint %s (%s); the import "
                        "starts from the beginning", path, exc)
            return checkpoint
        if not (isinstance(doc, dict) and doc.get("format") == FORMAT
                and isinstance(doc.get("identity"), dict)):
            log.warning("ignoring %s: not an import checkpoint this beeplan wrote; the "
                        "import starts from the beginning", path)
            return checkpoint
        if doc["identity"] != identity:
            return checkpoint  # another account, endpoint or --relations: replaced
        if not _valid_answers(doc.get("answers")):
            log.warning("ignoring the damaged import checkpoint %s; the import starts from "
                        "the beginning", path)
            return checkpoint
        checkpoint.answers = doc["answers"]
        checkpoint.started = str(doc.get("started", checkpoint.started))
        checkpoint.resumed = len(checkpoint.answers)
        return checkpoint

    @staticmethod
    def key(service: str, payload: dict[str, Any]) -> str:
        return service + " " + json.dumps(payload, sort_keys=True, ensure_ascii=False)

    def get(self, service: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        with self.lock:
            answer = self.answers.get(self.key(service, payload))
            if answer is not None:
                self.reused += 1
            return answer

    def put(self, service: str, payload: dict[str, Any], answer: dict[str, Any]) -> None:
        with self.lock:
            self.answers[self.key(service, payload)] = answer
            self._dirty = True
            due = time.monotonic() - self._saved_at >= SAVE_EVERY_S
            if due:  # claimed here, so one thread saves, not every thread that sees it due
                self._saved_at = time.monotonic()
        if due:
            self.save()

    def save(self) -> None:
        """Write the answers so far (atomically: a kill mid-write keeps the previous file)."""
        with self._write_lock:  # one writer of the temporary file at a time
            with self.lock:
                if not self._dirty and self.path.exists():
                    return
                doc = {
                    "format": FORMAT,
                    "identity": self.identity,
                    "started": self.started,
                    "answers": self.answers,
                }
                text = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
                self._dirty = False
                self._saved_at = time.monotonic()
            private_dir(self.path.parent)
            tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
            # The answers are account data: readable by the user only.
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC
                         | getattr(os, "O_NOFOLLOW", 0), 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            tmp.replace(self.path)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def import_estimate(lists_calls: int, to_read: int, left: Cost) -> str:
    """What the rest of an import costs, against what is left today."""
    kb = to_read * RELATION_CALL_BYTES / 1024
    head = (
        f"Import: the lists took {lists_calls} call(s); the relations need {to_read} more "
        f"call(s), about {kb:.0f} KB. Today {left.calls} calls and {left.kb:.0f} KB are left "
        "(as counted by beeplan on this machine): "
    )
    if to_read <= left.calls and kb <= left.kb:
        return head + "it fits."
    share = min(left.calls / max(1, to_read), left.kb / max(kb, 1e-9))
    return head + (
        f"it will stop at the quota after about {share:.0%} of them; re-run the same command "
        "(same -o) after 00:00 UTC to resume where it stopped without reading again what it has."
    )


def read_for_import(
    client: Client,
    relations: frozenset[str],
    out_dir: Path,
    endpoint: str,
    parallelism: int,
    progress: Progress | None = None,
    tell: Callable[[str], None] = lambda message: None,
) -> tuple[State, Checkpoint]:
    """Read the whole account for import, resuming from and keeping a checkpoint.

    Stopped by the quota (QuotaError) or Ctrl-C, the answers so far are saved
    and a BeeplanError (or the KeyboardInterrupt) says how to resume. The
    caller removes the checkpoint once the files are written.
    """
    identity = {"account": client.account_key, "endpoint": endpoint,
                "relations": sorted(relations), "out": str(out_dir.resolve())}
    planted = planted_checkpoint(out_dir)
    if planted is not None:
        log.warning(
            "ignoring %s: a checkpoint inside the output folder is not trusted (a repository "
            "could have put it there); beeplan keeps its own in the cache directory. "
            "Delete the file to silence this warning.", planted
        )
    checkpoint = Checkpoint.open(checkpoint_path(out_dir), identity)
    if checkpoint.resumed:
        tell(
            f"Resuming the import started {checkpoint.started}: {checkpoint.resumed} answers "
            f"kept in {checkpoint.path} are not read again."
        )
    # Known reads are answered from the checkpoint; no stop before the quota: an import
    # keeps every answer, so reading up to it is progress the resumed run does not repeat.
    view = ClientView(client, replay=checkpoint, read_to_the_quota=True)
    reader = reader_for(view, parallelism, progress)
    try:
        live = reader.read_everything_lists(relations)
        needs = reader.everything_needs(live, relations)
        spare = checkpoint.resumed - checkpoint.reused  # kept answers the lists did not use
        to_read = max(0, reader.relation_calls(live, needs) - spare)
        tell(import_estimate(client.usage.total_requests, to_read, quota_left(client)))
        state = reader.read_everything_relations(live, relations)
    except QuotaError as exc:
        checkpoint.save()
        raise BeeplanError(
            # Its own next step (resume) below, not the stop's advice to read less.
            f"the import stopped at the daily quota ({getattr(exc, 'reason', exc.api_message)}) "
            "after "
            f"{client.usage.total_requests} calls in this run; the {len(checkpoint.answers)} "
            f"answers read so far are kept in {checkpoint.path}. Re-run the same command "
            "(same -o) after 00:00 UTC: it resumes without reading them again."
        ) from None
    except BaseException:  # Ctrl-C, a transport failure: keep what was read, then stop
        checkpoint.save()
        if checkpoint.answers:
            tell(
                f"The {len(checkpoint.answers)} answers read so far are kept in "
                f"{checkpoint.path}: the same command (same -o) resumes without reading "
                "them again."
            )
        raise
    return state, checkpoint
