"""A plan's actions as one dependency graph, with the rule "removals run last".

Built once per plan and shared by ``apply`` (beeplan/applier.py: what may run
now) and by slicing (beeplan/slices.py: what part of a plan fits a budget),
so both order a plan the same way: an action is ready when every action it
depends on (within the plan) is done, and a removal (detach, clear,
deactivate, delete) waits until every additive action (create, update,
link) is settled.
"""

from __future__ import annotations

from collections.abc import Container, Iterator, Sequence

from .planner import FIRST_REMOVAL_PHASE, Action


def is_removal(action: Action) -> bool:
    return action.phase >= FIRST_REMOVAL_PHASE


class Dag:
    """Dependency counts of one run over a plan's actions (a new Dag per run)."""

    def __init__(self, actions: Sequence[Action]):
        self.actions = {a.id: a for a in actions}
        self.order = {a.id: i for i, a in enumerate(actions)}
        self.dependents: dict[str, list[str]] = {a.id: [] for a in actions}
        for a in actions:
            for dep in a.depends_on:
                if dep in self.dependents:
                    self.dependents[dep].append(a.id)
        # Dependencies outside the plan (done by an earlier slice) are not waited for.
        self._waiting = {a.id: sum(1 for d in a.depends_on if d in self.actions) for a in actions}
        self.additive_left = sum(1 for a in actions if not is_removal(a))

    def ready_at_start(self) -> list[str]:
        """The actions that depend on nothing in the plan, in plan order."""
        return [a for a in self.actions if self._waiting[a] == 0]

    def done(self, action_id: str) -> list[str]:
        """Record ``action_id`` as done; the dependents it made ready, in the order they depend."""
        ready = []
        for other in self.dependents[action_id]:
            self._waiting[other] -= 1
            if self._waiting[other] == 0:
                ready.append(other)
        return ready

    def settle(self, action: Action) -> None:
        """An action is settled (done, failed or skipped): removals may come closer."""
        if not is_removal(action):
            self.additive_left -= 1

    def must_wait(self, action: Action) -> bool:
        """A ready removal waits while an additive action is still unsettled."""
        return is_removal(action) and self.additive_left > 0

    def unsettled_downstream(
        self, action_id: str, settled: Container[str]
    ) -> Iterator[tuple[str, str]]:
        """(dependent, the action it depends on) for each unsettled action after ``action_id``.

        Lazy and depth first: the caller settles each one before the next is
        looked at, and what is already settled is not walked through.
        """
        frontier = [action_id]
        while frontier:
            current = frontier.pop()
            for other in self.dependents[current]:
                if other not in settled:
                    yield other, current
                    frontier.append(other)
