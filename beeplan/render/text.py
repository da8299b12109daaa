"""Terraform-like text: one block per entity, field-level before -> after."""

from __future__ import annotations

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


def render_text(  # noqa: C901 - ratchet: to break up (docs/architecture.md)
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

    out: list[str] = []
    if plan.loosened:  # first: the reviewer reads the rest knowing what apply may remove
        out.append(paint(f"{LOOSENED_HEAD}:", "-"))
        out += [paint(f"  ! {loosened_line(item)}", "-") for item in plan.loosened]
        out.append("")
    for problem in plan.problems:
        out.append(paint(f"! {problem}", "-"))
    if plan.problems:
        out.append("")
    if plan.empty and plan.problems:
        out.append("No other changes. The plan is refused until the problems above are fixed.")
    elif plan.empty and plan.targeted:
        # Only the changed entries were read: say no more than that about the account.
        out.append(printable(f"No changes for the entries changed since {plan.targeted}."))
    elif plan.empty and plan.leaves_kinds_alone:
        out.append("No changes to the kinds the manifests manage (some kinds are not managed).")
    elif plan.empty:
        out.append(compared.no_changes())
    else:
        still_used = in_use(plan, usage)
        if still_used and usage is not None:
            out.append(f"Still in use (hours logged from {usage.start} to {usage.end}):")
            out += [
                paint(f"  - {in_use_line(action, found, usage.days)}", "-")
                for action, found in still_used
            ]
            out.append("")
        out.append("beeplan will make these API calls:" if compared.account else
                   printable(f"Changes from {compared.old} to {compared.new}:"))
        out.append("")
        for entity, actions in grouped(plan.actions):
            first = actions[0]
            out.append(printable(f"  {entity} ({first.name})"))
            author = changed_by_of(plan, first)
            if author is not None:  # beside the change: who made the account differ
                out.append(printable(f"    changed outside beeplan: {author.text}"))
                out += [printable(f"      {line}") for line in author.operations]
            for action in actions:
                symbol = SYMBOL[action.op]
                out.append(paint(f"    {symbol} {action_line(action)}", symbol))
                for line in change_lines(action):
                    out.append(printable(f"        {line}"))
                detail = usage_detail(action, usage)
                if detail is not None:
                    out.append(printable(f"        {detail}"))
        out.append("")
    if plan.changed_by_notes:
        out += [printable(f"Who changed it: {note}") for note in plan.changed_by_notes]
        out.append("")
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
    for warning in plan.warnings:
        out.append(printable(f"Warning: {warning}"))
    for violation in plan.destroy_violations:
        out.append(paint(f"Refused without --allow-destroy: {violation}.", "-"))
    if not plan.empty:
        out.append("Plan: " + summary_line(plan))
        if compared.digest:
            out.append(digest_line(digest_of or plan))
    if budget is not None:
        out.append(budget_line(budget))
    return "\n".join(out).rstrip() + "\n"
