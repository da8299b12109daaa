"""Execute a plan's actions as a DAG, with bounded parallelism.

Guarantees:
- an action runs only after every action it depends on was applied;
- when an action fails, its dependents are skipped and independent work
  goes on;
- removals (detach, clear, deactivate, delete) are the last phase, run only
  when every create and update before them succeeded; the deactivation of an
  entity this plan creates (declared inactive) removes nothing that existed:
  it also runs after a failure elsewhere, once everything that references the
  entity (its create's dependents) was applied;
- a create whose answer was lost (timeout, dropped connection, 5xx) is
  retried only after ``X.get`` by xid shows it did not happen, so a retry
  never duplicates an entity; the other writes are idempotent and are
  retried as they are;
- a write whose answer cannot be believed (answers.py) is a lost answer:
  a create is checked by xid before any retry;
- a reached quota, a refused token, a redirect, a TLS failure or Ctrl-C
  stops scheduling; calls in flight finish; the outcome says what was applied, failed and skipped
  (Ctrl-C sets a flag while applying, so no call is made unrecorded).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from types import FrameType

from .dag import Dag, is_removal
from .errors import (
    ApiError,
    AuthError,
    EndpointError,
    QuotaError,
    Terminated,
    TransportError,
    raise_terminated,
)
from .localfiles.journal import Journal
from .model import entity_key
from .planner import Action, Plan
from .platforms.base import Client

log = logging.getLogger("beeplan.apply")

LOST_ANSWER_RETRIES = 3


@dataclass
class Outcome:
    applied: list[Action] = field(default_factory=list)
    failed: list[tuple[Action, str]] = field(default_factory=list)
    skipped: list[tuple[Action, str]] = field(default_factory=list)
    stopped: str | None = None  # why scheduling stopped early (quota, token, interrupt)
    interrupted: bool = False
    terminated: bool = False  # the interruption was SIGTERM (exit 143), not Ctrl-C (130)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.skipped and not self.stopped

    def summary(self) -> str:
        return (
            f"{len(self.applied)} applied, {len(self.failed)} failed, {len(self.skipped)} skipped"
        )


# (action, status, message, done count, total)
ProgressCallback = Callable[[Action, str, str, int, int], None]


def catch_stop_signals(first: Callable[[int], None],
                       caught: Callable[[], bool]) -> Callable[[], None]:
    """Until the returned function is called, the first Ctrl-C or SIGTERM calls ``first``
    (which makes the run stop at a point where nothing goes unrecorded) instead of raising;
    once ``caught()`` says one was, the next raises as usual.

    Only on the main thread, and only for signals that are ours to handle: SIGINT's
    default handler, SIGTERM's default or beeplan's own (``raise_terminated``).
    Every platform's apply catches signals so.
    """
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        return lambda: None
    previous_term = signal.getsignal(signal.SIGTERM)
    catch_term = previous_term in (signal.SIG_DFL, raise_terminated)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if caught():
            restore()
            raise Terminated if signum == signal.SIGTERM else KeyboardInterrupt
        first(signum)

    def restore() -> None:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        if catch_term:
            signal.signal(signal.SIGTERM, previous_term)

    signal.signal(signal.SIGINT, on_signal)
    if catch_term:
        signal.signal(signal.SIGTERM, on_signal)
    return restore


class Applier:
    def __init__(
        self,
        client: Client,
        parallelism: int = 4,
        progress: ProgressCallback | None = None,
        journal: Journal | None = None,
    ):
        self.client = client
        self.journal = journal
        self.owing: frozenset[str] = frozenset()
        self.parallelism = max(1, parallelism)
        self.progress = progress
        self._stop = threading.Event()
        self._interrupted = threading.Event()
        self.signal: int | None = None  # the signal that stopped the apply

    def stop(self) -> None:
        self._stop.set()

    def _catch_sigint(self) -> Callable[[], None]:
        """Until the returned function is called, Ctrl-C or SIGTERM stops scheduling instead
        of raising.

        A KeyboardInterrupt raised between two statements of the loop could lose track
        of a call already made (submitted but not yet recorded, or done but not yet
        counted), so the report would not say what was applied; a flag the loop checks
        cannot. SIGTERM (a cancelled CI job) is handled the same way, when it is ours
        to handle: default, or raising Terminated (beeplan's main). A second signal
        raises as usual.
        """
        def first(signum: int) -> None:
            self.signal = signum
            self._interrupted.set()
            self._stop.set()

        return catch_stop_signals(first, self._interrupted.is_set)

    # -- one action ---------------------------------------------------------

    def run_action(self, action: Action) -> str:
        """Make the action's call; return a note ("" or "already existed")."""
        key = entity_key(action.target)
        if self.journal is not None and action.is_create and key in self.owing:
            # Before the call: a kill right after it must still find the entry.
            self.journal.add([key])
        note = self._call(action)
        if self.journal is not None and action.op == "deactivate":
            self.journal.settle([key])
        return note

    def _call(self, action: Action) -> str:
        attempts = 1 + LOST_ANSWER_RETRIES
        for attempt in range(attempts):
            try:
                self.client.call(action.service, **action.payload)
                return "" if attempt == 0 else f"after {attempt} lost answer(s)"
            except TransportError:
                if attempt + 1 >= attempts or self._stop.is_set():
                    raise
                if action.is_create and self._exists(action):
                    return "already existed: the lost answer had succeeded"
                time.sleep(0.2 * (attempt + 1))
        raise AssertionError("unreachable")

    def _exists(self, action: Action) -> bool:
        """After a lost answer to a create: did it happen? Asks by xid."""
        try:
            self.client.call(f"{action.kind}.get", xid=action.target.xid)
        except ApiError as exc:
            if isinstance(exc, (QuotaError, AuthError, EndpointError)):
                raise
            return False
        return True

    # -- the DAG --------------------------------------------------------------

    def apply(self, plan: Plan, owes: frozenset[str] = frozenset()) -> Outcome:
        """Apply ``plan``; ``owes`` adds entities whose deactivation is left to a later run.

        (A slice of a larger plan may create an entity declared inactive and
        leave its deactivation to the next slice: the journal must know.)
        """
        # Entities this plan creates and then deactivates (declared inactive).
        self.owing = owes | (
            frozenset(entity_key(a.target) for a in plan.actions if a.op == "deactivate")
            & frozenset(entity_key(a.target) for a in plan.actions if a.is_create)
        )
        run = _Run(self, plan)
        pool = ThreadPoolExecutor(max_workers=self.parallelism)
        restore_sigint = self._catch_sigint()
        try:
            run.schedule(pool)
        except KeyboardInterrupt as exc:  # Terminated (SIGTERM) included
            # Ctrl-C: stop scheduling, let the calls in flight finish, then report.
            self._stop.set()
            run.interrupted(terminated=isinstance(exc, Terminated))
        finally:
            restore_sigint()
            pool.shutdown(wait=True)
        outcome = run.outcome
        if self._interrupted.is_set():
            outcome.interrupted = True
            outcome.terminated = outcome.terminated or self.signal == signal.SIGTERM
            outcome.stopped = outcome.stopped or "interrupted"
        reason = (
            f"not started: {outcome.stopped}" if outcome.stopped else "its dependencies never ran"
        )
        for action in plan.actions:
            if action.id not in run.settled:
                outcome.skipped.append((action, reason))
        return outcome


class _Run:
    """One apply of one plan: a scheduler over its ``Dag``.

    Ready actions run in parallel (at most ``parallelism`` at once); ready
    removals are held until every additive action is settled, and dropped
    when one failed, except the deactivation that completes a create of
    this plan once everything referencing the new entity was applied.
    """

    def __init__(self, applier: Applier, plan: Plan):
        self.applier = applier
        self.dag = Dag(plan.actions)
        self.actions = self.dag.actions
        self.ready: deque[str] = deque(self.dag.ready_at_start())
        self.settled: set[str] = set()  # applied, failed or skipped
        self.additive_failed = False
        # Deactivations that complete a create of this plan -> that create's id.
        self.finishing = {
            a.id: dep
            for a in plan.actions
            if a.op == "deactivate"
            for dep in a.depends_on
            if dep in self.actions
            and self.actions[dep].is_create
            and entity_key(self.actions[dep].target) == entity_key(a.target)
        }
        self.released: set[str] = set()  # held removals let through despite a failure
        self.applied_ids: set[str] = set()
        self.outcome = Outcome()
        self.running: dict[Future[str], Action] = {}
        self.held: list[str] = []  # ready removals, waiting for the additive phases to finish

    @property
    def stopping(self) -> bool:
        return self.applier._stop.is_set()

    def note(self, action: Action, status: str, message: str = "") -> None:
        self.settled.add(action.id)
        self.dag.settle(action)
        progress = self.applier.progress
        if progress is not None:
            progress(action, status, message, len(self.settled), len(self.actions))

    def skip(self, action_id: str, reason: str) -> None:
        self.outcome.skipped.append((self.actions[action_id], reason))
        self.note(self.actions[action_id], "skipped", reason)

    def schedule(self, pool: ThreadPoolExecutor) -> None:
        while True:
            self.start_ready(pool)
            if self.release_held():
                continue
            if not self.running:
                return
            finished, _ = wait(list(self.running), return_when=FIRST_COMPLETED)
            for future in finished:
                self.finished(future)

    def start_ready(self, pool: ThreadPoolExecutor) -> None:
        while self.ready and not self.stopping:
            action_id = self.ready.popleft()
            if action_id in self.settled:
                continue
            action = self.actions[action_id]
            if action_id not in self.released and (
                self.dag.must_wait(action) or (is_removal(action) and self.additive_failed)
            ):
                self.held.append(action_id)
            elif len(self.running) < self.applier.parallelism:
                self.running[pool.submit(self.applier.run_action, action)] = action
            else:
                self.ready.appendleft(action_id)
                return

    def release_held(self) -> bool:
        """Once the additive actions are settled, let held removals go; True: look again."""
        if self.dag.additive_left > 0 or not self.held or self.stopping:
            return False
        held, self.held = self.held, []
        if not self.additive_failed:
            self.ready.extend(held)
            return True
        for action_id in held:
            if self.completes_a_create(action_id):
                self.released.add(action_id)
                self.ready.append(action_id)
            else:
                self.skip(action_id, "removals run only when every create and update succeeded")
        return bool(self.ready)

    def completes_a_create(self, action_id: str) -> bool:
        """A deactivation of an entity this plan created, whose references were all applied."""
        create_id = self.finishing.get(action_id)
        return create_id is not None and all(
            other in self.applied_ids
            for other in self.dag.dependents[create_id]
            if not is_removal(self.actions[other])
        )

    def finished(self, future: Future[str]) -> None:
        action = self.running.pop(future)
        try:
            message = future.result()
        except (QuotaError, AuthError, EndpointError) as exc:
            self.outcome.failed.append((action, str(exc)))
            self.note(action, "failed", str(exc))
            self.outcome.stopped = str(exc)
            self.applier._stop.set()
        except (ApiError, TransportError) as exc:
            reason = exc.api_message if isinstance(exc, ApiError) else exc.reason
            self.outcome.failed.append((action, reason))
            self.note(action, "failed", reason)
            self.additive_failed = self.additive_failed or not is_removal(action)
            for other, current in self.dag.unsettled_downstream(action.id, self.settled):
                self.skip(other, f"depends on {current}, which failed")
        else:
            self.outcome.applied.append(action)
            self.applied_ids.add(action.id)
            self.note(action, "applied", message)
            self.ready.extend(o for o in self.dag.done(action.id) if o not in self.settled)

    def interrupted(self, terminated: bool) -> None:
        """After Ctrl-C or SIGTERM: the calls in flight finish and are reported."""
        outcome = self.outcome
        outcome.interrupted = True
        outcome.terminated = terminated
        outcome.stopped = "interrupted"
        for future, action in list(self.running.items()):
            try:
                future.result()
                outcome.applied.append(action)
                self.settled.add(action.id)
            except Exception as exc:  # noqa: BLE001 - any failure is reported, not raised
                outcome.failed.append((action, str(exc)))
                self.settled.add(action.id)
        self.running.clear()
