"""Markdown for a pull-request comment: a summary table and collapsible details.

Code hosts cap a comment near 65,535 characters, so the output never
exceeds ``MAX_CHARS``: past that, details are cut and the cut is said.
"""

from __future__ import annotations

from ..planner import Plan
from ..usage import UsageReport, describe
from .common import (
    SYMBOL,
    Budget,
    action_line,
    budget_line,
    change_lines,
    digest_line,
    fence,
    grouped,
    in_use,
    in_use_line,
    printable,
    summary_line,
    unmanaged_kinds_lines,
)

MAX_CHARS = 60_000
MARKER = "<!-- beeplan-plan -->"


def _escape(text: str) -> str:
    return printable(text).replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def render_markdown(
    plan: Plan,
    budget: Budget | None = None,
    graph: str | None = None,
    max_chars: int = MAX_CHARS,
    title: str = "beeplan plan",
    usage: UsageReport | None = None,
) -> str:
    head: list[str] = [MARKER, f"### {title}", ""]
    if plan.problems:
        head.append("**Impossible changes** (the plan is refused until they are fixed):")
        head += [f"- {_escape(p)}" for p in plan.problems]
        head.append("")
    if plan.empty and plan.problems:
        head.append("No other changes.")
    elif plan.empty and plan.leaves_kinds_alone:
        head.append(
            "**No changes** to the kinds the manifests manage (some kinds are not managed)."
        )
    elif plan.empty:
        head.append("**No changes.** The account matches the manifests.")
    else:
        c = plan.counts()
        head += [
            "| create | update | attach | detach | deactivate |",
            "|---:|---:|---:|---:|---:|",
            f"| {c['create']} | {c['update']} | {c['attach']} | {c['detach']} | "
            f"{c['deactivate']} |",
            "",
            f"Plan: {summary_line(plan)}",
            "",
            f"{digest_line(plan)} (`beeplan apply` prints it too: they must match)",
        ]
        still_used = in_use(plan, usage)
        if still_used and usage is not None:
            head += ["", f"**Still in use** (hours logged from {usage.start} to {usage.end}):"]
            head += [
                f"- {_escape(in_use_line(action, found, usage.days))}"
                for action, found in still_used
            ]
        if usage is not None and usage.notes:
            head.append("")
            head += [f"> Hours: {_escape(note)}" for note in usage.notes]
    if budget is not None:
        head.append("")
        head.append(budget_line(budget))
    for violation in plan.destroy_violations:
        head.append("")
        head.append(f"> **Refused without `--allow-destroy`:** {_escape(violation)}.")
    if plan.unmanaged:
        head.append("")
        head.append(f"{len(plan.unmanaged)} live entities are not in the manifests (left alone).")
    for line in unmanaged_kinds_lines(plan):
        head += ["", _escape(line)]
    for warning in plan.warnings:
        head += ["", f"> **Warning:** {_escape(warning)}"]
    if graph:
        graph_open, graph_close = fence(graph.splitlines(), "mermaid")
        head += [
            "",
            "<details><summary>What changes (diagram)</summary>",
            "",
            graph_open,
            graph.rstrip(),
            graph_close,
            "",
            "</details>",
        ]

    body: list[str] = []
    for entity, actions in grouped(plan.actions):
        body.append(printable(f"  {entity} ({actions[0].name})"))
        for action in actions:
            symbol = SYMBOL[action.op]
            # diff fences colour lines by their first character
            prefix = {"+": "+", "-": "-", "~": "!", ">": "+"}[symbol]
            body.append(printable(f"{prefix}   {symbol} {action_line(action)}"))
            body += [printable(f"        {line}") for line in change_lines(action)]
            found = usage.of(action.target) if usage and action.op == "deactivate" else None
            if usage is not None and found is not None and found.used:
                body.append(printable(f"        {describe(found, usage.days)}"))
    body_open, body_close = fence(body, "diff")
    tail_open = ["", "<details><summary>Details</summary>", "", body_open]
    tail_close = [body_close, "", "</details>", ""]

    text = "\n".join(head)
    if not body:
        return text + "\n"
    fixed = len(text) + len("\n".join(tail_open + tail_close)) + 200
    kept: list[str] = []
    size = fixed
    for line in body:
        if size + len(line) + 1 > max_chars:
            break
        kept.append(line)
        size += len(line) + 1
    if len(kept) < len(body):
        kept.append(body_close)
        kept.append(
            f"\n*Details truncated: {len(body) - len(kept) + 1} of {len(body)} lines not shown "
            "(a comment is capped near 65,535 characters). Run `beeplan plan` for the full plan.*"
        )
        return "\n".join([text, *tail_open, *kept, "", "</details>", ""])
    return "\n".join([text, *tail_open, *kept, *tail_close])
