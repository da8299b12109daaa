"""One view of a client for one use: a call budget, checkpoint replay, its own retries.

Replaces three wrappers that did this three ways (two copied the client's
``__dict__``, one turned retries off on the shared client). A view shares
the client itself (sessions, usage counters, the daily ledger): every call
it lets through is counted where the client counts, and nothing of the
client changes. Budgets count one way (the calls let through, retries
included) and are refused with one exception, ``BudgetSpent``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from .errors import QuotaError, QuotaStop


class BudgetSpent(QuotaStop):
    """A call budget (``--max-calls``) would be passed: refused before the call."""


class Replay(Protocol):
    """Answers kept from an earlier run (an import's checkpoint)."""

    def get(self, service: str, payload: dict[str, Any]) -> dict[str, Any] | None: ...

    def put(self, service: str, payload: dict[str, Any], answer: dict[str, Any]) -> None: ...


# (max_calls, calls made so far, calls asked for) -> why the budget refuses them.
Refusal = Callable[[int, int, int], str]


def _spent_refusal(max_calls: int, spent: int, more: int) -> str:
    return f"the --max-calls budget of {max_calls} is spent"


# (max_kb, KB spent so far, KB asked for) -> why the KB budget refuses them.
KbRefusal = Callable[[float, float, float], str]


def _kb_refusal(max_kb: float, spent: float, more: float) -> str:
    return (
        f"the --max-kb budget of {max_kb:g} KB would be passed ({spent:.0f} KB spent, "
        f"about {more:.1f} KB more asked for)"
    )


class ClientView:
    """``client`` as one use sees it; anything else is the client's own (``usage``, ...)."""

    def __init__(
        self,
        client: Any,
        *,
        max_calls: int | None = None,
        refusal: Refusal = _spent_refusal,
        max_kb: float | None = None,
        kb_refusal: KbRefusal = _kb_refusal,
        retries: int | None = None,
        replay: Replay | None = None,
        read_to_the_quota: bool = False,
    ):
        """``max_calls``: at most that many calls from now (None: no budget).
        ``max_kb``: at most that many KB (request + answer bytes, as the quota counts
        them) from now; a call is refused when the client's estimate of it would pass.
        ``retries``: read retries of this use (None: the client's).
        ``replay``: answer known calls from it, and keep each new answer in it.
        ``read_to_the_quota``: no stop before reads that would pass today's
        quota; the API's first refusal stops every later call instead.
        """
        self.client = client
        self.max_calls = max_calls
        self.refusal = refusal
        self.max_kb = max_kb
        self.kb_refusal = kb_refusal
        self.retries = retries
        self.replay = replay
        self.read_to_the_quota = read_to_the_quota
        self.quota_reached = threading.Event()
        self._started = client.usage.total_requests
        self._started_bytes = client.usage.total_bytes
        self._inflight_bytes = 0  # estimates of the calls under way (parallel reads)
        # Parallel reads each take their call under the lock before making it, so
        # threads that all saw one call left cannot all spend it.
        self._lock = threading.Lock()
        self._taken = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def __repr__(self) -> str:
        return f"ClientView({self.client!r})"

    @property
    def spent(self) -> int:
        """Calls made through the client since this view began, retries included."""
        return max(self._taken, self.client.usage.total_requests - self._started)

    @property
    def spent_kb(self) -> float:
        """KB the client counted since this view began (request + answer bytes)."""
        return (self.client.usage.total_bytes - self._started_bytes) / 1024

    def _left(self) -> int:
        return max(0, (self.max_calls or 0) - self.spent)

    def _refuse(self, service: str, more: int) -> BudgetSpent:
        assert self.max_calls is not None
        made = self.client.usage.total_requests - self._started
        return BudgetSpent(service, self.refusal(self.max_calls, made, more))

    def check_reads(
        self, count: int, services: Sequence[str] | None = None, basis: str = "",
        kb: float | None = None,
    ) -> None:
        """Refuse ``count`` reads the budget (or today's quota) cannot cover, before any.

        ``services`` names the service of each read, when known (the client
        estimates their KB from it); ``basis``: where the estimate comes from;
        ``kb``: the caller's own estimate of their KB, when it has one.
        """
        need = kb if kb is not None else (
            sum(self.client.expected_bytes(s) for s in services)
            if services is not None
            else count * self.client.expected_bytes("")
        ) / 1024
        if self.max_calls is not None and count > self._left():
            # Both halves of the estimate, as the quota's own refusal states them.
            refused = self._refuse("reading the account", count)
            raise BudgetSpent("reading the account", f"{count} more read calls, about "
                              f"{need:.0f} KB{basis}: {refused.api_message}")
        if self.max_kb is not None:
            if self.spent_kb + need > self.max_kb:
                raise BudgetSpent(
                    "reading the account", self.kb_refusal(self.max_kb, self.spent_kb, need)
                )
        if not self.read_to_the_quota:
            if kb is None:
                self.client.check_reads(count, services, basis)
            else:
                self.client.check_reads(count, services, basis, kb=kb)

    def call(self, service: str, **payload: Any) -> dict[str, Any]:
        return self.call_expecting(service, payload, None)

    def call_expecting(
        self, service: str, payload: Mapping[str, Any], expected_bytes: int | None
    ) -> dict[str, Any]:
        """``call``, with the caller's estimate of its bytes for ``max_kb`` (None: the
        client's per-service estimate), where the caller knows better (a list's size)."""
        payload = dict(payload)
        if self.replay is not None:
            saved = self.replay.get(service, payload)
            if saved is not None:
                return saved
        # The API is the judge of its quota (beeplan's ledger only knows this machine's
        # calls): read on until it refuses, then stop; the reads queued behind the first
        # refusal would only collect more refusals.
        if self.quota_reached.is_set():
            raise QuotaError(service, "daily API quota reached (an earlier call was refused)", 429)
        if self.max_calls is not None:
            with self._lock:
                if self._left() <= 0:
                    raise self._refuse(service, 1)
                self._taken = self.spent + 1
        expected = self._reserve_kb(service, expected_bytes)
        try:
            answer: dict[str, Any] = self.client.request(service, payload, retries=self.retries)
        except QuotaError:
            if self.read_to_the_quota:
                self.quota_reached.set()
            raise
        finally:
            if expected:
                with self._lock:
                    self._inflight_bytes -= expected
        if self.replay is not None:
            self.replay.put(service, payload, answer)
        return answer

    def _reserve_kb(self, service: str, expected_bytes: int | None) -> int:
        """Refuse a call whose estimate would pass ``max_kb``, with the calls under way
        counted (parallel reads must not all take the last KB); else count it under way."""
        if self.max_kb is None:
            return 0
        expected = max(1, expected_bytes or self.client.expected_bytes(service))
        with self._lock:
            spent = self.client.usage.total_bytes - self._started_bytes + self._inflight_bytes
            if spent + expected > self.max_kb * 1024:
                raise BudgetSpent(
                    service, self.kb_refusal(self.max_kb, spent / 1024, expected / 1024)
                )
            self._inflight_bytes += expected
        return expected
