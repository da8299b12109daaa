"""Terraform-like text: one block per entity, field-level before -> after."""

from __future__ import annotations

from collections.abc import Callable

import click

from ..hours import UsageReport
from ..planner import Plan
from .common import (
    ACCOUNT,
    LOOSENED_HEAD,
    SYMBOL,
    Budget,
    Compared,
    action_line,
    budget_line,
    change_lines,
    changed_by_of,
    digest_line,
    grouped,
    in_use,
    in_use_line,
    loosened_line,
    printable,
    summary_line,
    unmanaged_kinds_lines,
    usage_detail,
)

COLOR = {"+": "green", "~": "yellow", ">": "cyan", "-": "red"}

# Colours a line by its symbol (or not); escapes it first either way.
Paint = Callable[[str, str], str]


def render_text(
    plan: Plan,
    budget: Budget | None = None,
    color: bool = False,
    usage: UsageReport | None = None,
    digest_of: Plan | None = None,
    compared: Compared = ACCOUNT,
) -> str:
    """``digest_of``: the plan whose digest to show, when ``plan`` is what is left of it;
    ``compared``: what the manifests are compared with, which the sentences name."""

    def paint(text: str, symbol: str) -> str:
        # Escape first: names and messages must not bring their own terminal codes.
        text = printable(text)
        return click.style(text, fg=COLOR[symbol]) if color else text

    out = [
        *_warnings_first(plan, paint),
        *_changes(plan, usage, compared, paint),
        *_author_notes(plan),
        *_left_alone(plan, compared),
        *_closing(plan, budget, digest_of, compared, paint),
    ]
    return "\n".join(out).rstrip() + "\n"


def _warnings_first(plan: Plan, paint: Paint) -> list[str]:
    """The loosened settings, then the problems: the reviewer reads the rest knowing them."""
    out: list[str] = []
    loosened = plan.provenance.loosened
    if loosened:
        out.append(paint(f"{LOOSENED_HEAD}:", "-"))
        out += [paint(f"  ! {loosened_line(item)}", "-") for item in loosened]
        out.append("")
    out += [paint(f"! {problem}", "-") for problem in plan.problems]
    if plan.problems:
        out.append("")
    return out


def _changes(
    plan: Plan, usage: UsageReport | None, compared: Compared, paint: Paint
) -> list[str]:
    """The calls, entity by entity; or why there are none, in the words of what was compared."""
    if plan.empty and plan.problems:
        return ["No other changes. The plan is refused until the problems above are fixed."]
    if plan.empty and plan.provenance.targeted:
        # Only the changed entries were read: say no more than that about the account.
        since = plan.provenance.targeted
        return [printable(f"No changes for the entries changed since {since}.")]
    if plan.empty and plan.leaves_kinds_alone:
        return ["No changes to the kinds the manifests manage (some kinds are not managed)."]
    if plan.empty:
        return [compared.no_changes()]
    out = _still_in_use(plan, usage, paint)
    out.append("beeplan will make these API calls:" if compared.account else
               printable(f"Changes from {compared.old} to {compared.new}:"))
    out.append("")
    for entity, actions in grouped(plan.actions):
        out.append(printable(f"  {entity} ({actions[0].name})"))
        author = changed_by_of(plan, actions[0])
        if author is not None:  # beside the change: who made the account differ
            out.append(printable(f"    changed outside beeplan: {author.text}"))
            out += [printable(f"      {line}") for line in author.operations]
        for action in actions:
            symbol = SYMBOL[action.op]
            out.append(paint(f"    {symbol} {action_line(action)}", symbol))
            out += [printable(f"        {line}") for line in change_lines(action)]
            detail = usage_detail(action, usage)
            if detail is not None:
                out.append(printable(f"        {detail}"))
    out.append("")
    return out


def _author_notes(plan: Plan) -> list[str]:
    """How far the lookup of who changed drifted entities could see (when it was made)."""
    if not plan.changed_by_notes:
        return []
    return [*(printable(f"Who changed it: {note}") for note in plan.changed_by_notes), ""]


def _still_in_use(plan: Plan, usage: UsageReport | None, paint: Paint) -> list[str]:
    still_used = in_use(plan, usage)
    if not still_used or usage is None:
        return []
    return [
        f"Still in use (hours logged from {usage.start} to {usage.end}):",
        *(paint(f"  - {in_use_line(action, found, usage.days)}", "-")
          for action, found in still_used),
        "",
    ]


def _left_alone(plan: Plan, compared: Compared) -> list[str]:
    """What the manifests do not name (the first 20), and the kinds they do not manage."""
    out: list[str] = []
    if plan.unmanaged:
        why = "their kind is not managed" if plan.prune else "settings.prune: false"
        where = ("live entities are not in the manifests and are left alone" if compared.account
                 else f"entities are in {compared.old} only; apply leaves them alone")
        out.append(printable(f"{len(plan.unmanaged)} {where} ({why}):"))
        for item in plan.unmanaged[:20]:
            state = "" if item.active else ", inactive"
            out.append(printable(f"  ? {item.ref} ({item.name}{state})"))
        if len(plan.unmanaged) > 20:
            out.append(f"  ... and {len(plan.unmanaged) - 20} more")
        out.append("")
    kinds = unmanaged_kinds_lines(plan)
    if kinds:
        out += [*kinds, ""]
    return out


def _closing(
    plan: Plan, budget: Budget | None, digest_of: Plan | None, compared: Compared, paint: Paint
) -> list[str]:
    """Warnings, refusals, the summary with the digest, and the call budget."""
    out = [printable(f"Warning: {warning}") for warning in plan.warnings]
    out += [paint(f"Refused without --allow-destroy: {violation}.", "-")
            for violation in plan.destroy_violations]
    if not plan.empty:
        out.append("Plan: " + summary_line(plan))
        if compared.digest:
            out.append(digest_line(digest_of or plan))
    if budget is not None:
        out.append(budget_line(budget))
    return out
