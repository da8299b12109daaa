"""What every renderer shares: grouping, symbols, the summary and budget lines."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..hours import EntityUsage, UsageReport, describe
from ..model import KINDS, Loosened, entity_key
from ..planner import Action, ChangedBy, Plan, plan_digest
from ..safetext import markdown, printable

# Re-exported: renderers escape what they did not write, with safetext's functions only.
__all__ = ["markdown", "printable"]

# + creates, ~ changes in place, > links, - removes.
SYMBOL = {
    "create": "+",
    "update": "~",
    "set_xid": "~",
    "activate": "~",
    "leaders": "~",
    "set": "~",
    "enable": "~",
    "disable": "~",
    "attach": ">",
    "detach": "-",
    "clear": "-",
    "deactivate": "-",
    "delete": "-",
}


@dataclass(frozen=True)
class Budget:
    """The API calls a plan cost to make and will cost to apply, against today's quota."""

    read_calls: int
    apply_calls: int
    left_today: int | None  # None: unknown (no ledger)
    daily: int = 4000
    usage_calls: int = 0  # of read_calls, those the hours lookup (export job) spent
    # A platform without a daily quota counts requests and bytes instead: the bytes its
    # reads took, and the requests the apply will send (None: a platform with a quota).
    read_bytes: int | None = None
    apply_requests: int | None = None


@dataclass(frozen=True)
class Compared:
    """What the manifests are compared with, which a rendering's sentences name.

    The account (``plan``, ``check``, ``apply``), the part of it a budgeted
    check verified (``partial``), or another manifest set (``diff``: OLD as
    ``old``, NEW as ``new``). Each renderer words its sentences from this;
    no caller rewrites a rendered sentence afterwards.
    """

    old: str | None = None  # diff: the manifest set compared with, as given
    new: str = ""  # diff: the manifest set compared
    changed: bool = False  # diff: settings or managed keys change though no entity does
    partial: bool = False  # check --max-calls: only part of the account was read

    @property
    def account(self) -> bool:
        return self.old is None

    @property
    def digest(self) -> bool:
        """Whether to show the plan digest: no apply ever prints a diff's, so a
        reviewer matching it with the merge job's would see a false mismatch."""
        return self.account

    def no_changes(self) -> str:
        """The sentence for an empty plan, in plain words (its first words are the verdict)."""
        if not self.account:
            return ("No entity changes between the two sets." if self.changed
                    else "No changes between the two sets.")
        if self.partial:
            return "No drift in the part of the account verified in this run."
        return "No changes. The account matches the manifests."

    def no_changes_markdown(self) -> str:
        if not self.account:
            return f"**{self.no_changes()}**"
        if self.partial:
            return "**No drift** in the part of the account verified in this run."
        return "**No changes.** The account matches the manifests."


ACCOUNT = Compared()


def value(v: Any) -> str:
    if v is None:
        return "(none)"
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(str(x) for x in v) + "]"
    return str(v)


def grouped(actions: Iterable[Action]) -> list[tuple[str, list[Action]]]:
    """Actions grouped by the entity they act on, in plan order of first appearance."""
    groups: dict[str, list[Action]] = {}
    for action in actions:
        groups.setdefault(f"{action.target.kind} {action.target.label}", []).append(action)
    return list(groups.items())


def action_line(action: Action) -> str:
    if action.op == "create":
        return f"create ({action.service})"
    if action.op in ("attach", "detach"):
        return f"{action.detail} ({action.service})"
    if action.op == "delete":
        return f"delete, {action.detail} ({action.service})"
    if action.op == "set_xid":
        return f"set xid ({action.service})"
    return f"{action.op} ({action.service})"


def change_lines(action: Action) -> list[str]:
    if action.op == "create":
        return [f"{c.field}: {value(c.after)}" for c in action.changes]
    if action.op == "activate" and action.detail:
        return [action.detail]  # why it is there (the current platform: after a parent's archive)
    if action.op in ("deactivate", "activate", "delete"):
        return []
    return [f"{c.field}: {value(c.before)} -> {value(c.after)}" for c in action.changes]


def summary_line(plan: Plan) -> str:
    c = plan.counts()
    return (
        f"{c['create']} to create, {c['update']} to update, "
        f"{c['attach'] + c['detach']} to attach/detach, {c['deactivate']} to deactivate."
    )


def digest_line(plan: Plan) -> str:
    """The same short digest in text, Markdown and JSON: a reviewer matches them up."""
    return f"Plan digest: {plan_digest(plan)}"


def fence(lines: Iterable[str], info: str = "") -> tuple[str, str]:
    """Opening and closing code fence longer than any run of backticks in ``lines``.

    So a name holding ``` cannot close the block and write Markdown of its own.
    """
    longest = max((len(run) for line in lines for run in re.findall("`+", line)), default=0)
    ticks = "`" * max(3, longest + 1)
    return ticks + info, ticks


def budget_line(budget: Budget) -> str:
    if budget.read_bytes is not None and budget.apply_requests is not None:
        return requests_line(budget)
    left = (
        f"{budget.left_today} of {budget.daily} left today (as counted by beeplan on this machine)"
        if budget.left_today is not None
        else "no daily quota on this platform" if budget.daily == 0
        else "today's remaining quota unknown"
    )
    usage = f" ({budget.usage_calls} on the hours export)" if budget.usage_calls else ""
    return (
        f"API calls: {budget.apply_calls} to apply, {budget.read_calls} spent reading{usage}; "
        f"{left}."
    )


def size_text(nbytes: int) -> str:
    """A byte count as people read it: 812 B, 2.3 KB, 4.1 MB."""
    if nbytes < 1024:
        return f"{nbytes} B"
    if nbytes < 1024 * 1024:
        return f"{nbytes / 1024:.1f} KB"
    return f"{nbytes / (1024 * 1024):.1f} MB"


def requests_line(budget: Budget) -> str:
    """The cost line of a platform without a daily quota: requests and bytes, as counted."""
    reads = budget.read_calls
    lookups = f", {budget.usage_calls} of them for hours" if budget.usage_calls else ""
    apply = (f"{budget.apply_calls} mutation{'' if budget.apply_calls == 1 else 's'} to apply "
             f"in about {budget.apply_requests} request{'' if budget.apply_requests == 1 else 's'}"
             if budget.apply_calls else "nothing to apply")
    return (f"API requests: {reads} spent reading ({size_text(budget.read_bytes or 0)}"
            f"{lookups}); {apply}; no daily quota on this platform.")


def in_use(plan: Plan, usage: UsageReport | None) -> list[tuple[Action, EntityUsage]]:
    """The deactivations of entities that have hours in the period, in plan order."""
    if usage is None:
        return []
    out = []
    for action in plan.actions:
        if action.op == "deactivate":
            found = usage.of(action.target)
            if found is not None and found.used:
                out.append((action, found))
    return out


def usage_detail(action: Action, usage: UsageReport | None) -> str | None:
    """The line under a deactivation: its hours, or that they are unknown (none: no hours)."""
    if usage is None or action.op != "deactivate":
        return None
    if entity_key(action.target) in usage.not_looked_up:
        return "hours not looked up (see the warnings)"
    found = usage.of(action.target)
    return describe(found, usage.days) if found is not None and found.used else None


def in_use_line(action: Action, found: EntityUsage, days: int) -> str:
    """``deactivate project acme-dev (Development): 312.5 h in the last 90 days by 7 people``."""
    return f"deactivate {action.target} ({action.name}): {describe(found, days)}"


def changed_by_of(plan: Plan, action: Action) -> ChangedBy | None:
    """Who changed the entity ``action`` acts on outside beeplan, if the plan says."""
    key = entity_key(action.target)
    return next((c for c in plan.changed_by if entity_key(c.target) == key), None)


def changed_by_lines(plan: Plan) -> list[str]:
    """``project acme (Acme): renamed by Jane Clark (jane@x.com) on ...``, in plan order.

    The entities the plan acts on first (named as the plan names them), then any other
    the lookup answered for.
    """
    if not plan.changed_by:
        return []
    names = {entity_key(a.target): a.name for a in plan.actions}
    order = {key: i for i, key in enumerate(names)}
    found = sorted(plan.changed_by,
                   key=lambda c: order.get(entity_key(c.target), len(order)))
    out = []
    for item in found:
        name = names.get(entity_key(item.target))
        out.append(f"{item.target}{f' ({name})' if name else ''}: {item.text}")
    return out


# The manifest key that declares each kind (projects and subprojects nest).
KIND_KEYS = {
    "company": "companies: []",
    "project": "projects: [] under a company",
    "subproject": "subprojects: [] under a project",
    "task": "tasks: []",
    "group": "groups: []",
    "person": "people: []",
    "absence": "absences: []",
}


def unmanaged_kinds_lines(plan: Plan) -> list[str]:
    """Under prune, the kinds it does not reach: what they hold and how to reach them."""
    left = {kind: n for kind, n in plan.unmanaged_kinds.items() if n != 0}
    if not left:
        return []
    parts = []
    for kind, count in left.items():
        live = "not read" if count is None else f"{count} live"
        # Another platform's kinds come by their manifest key (``roles``), named as such.
        parts.append(f"{KINDS[kind].plural if kind in KINDS else kind} ({live})")
    head = (
        "Not managed: the manifests hold no key for "
        + ", ".join(parts)
        + "; settings.prune: true leaves those entities alone."
    )
    keys = ", ".join(f"`{KIND_KEYS.get(kind, f'{kind}: []')}`" for kind in left)
    return [head, f"To manage (and prune) one of them, declare its key, even empty: {keys}."]


LOOSENED_HEAD = (
    "Safety loosened by these manifests: apply removes more, or more readily, than by default"
)


def _setting_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return f"{v:g}" if isinstance(v, float) else str(v)


def loosened_line(item: Loosened) -> str:
    """``settings.safety.ratio: 0.5 (default 0.1)``."""
    return f"{item.setting}: {_setting_value(item.value)} (default {_setting_value(item.default)})"
