"""Markdown for a pull-request comment: a summary table and collapsible details.

Code hosts cap a comment at 65,535 characters, so the output never exceeds
``max_chars`` (``MAX_CHARS``, some room to spare): the summary comes first,
the details are folded, and past the cap the details are cut, then the
longest lists of the summary (problems, hours, warnings), each cut said.
"""

from __future__ import annotations

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
    changed_by_lines,
    changed_by_of,
    digest_line,
    fence,
    grouped,
    in_use,
    in_use_line,
    loosened_line,
    markdown,
    printable,
    summary_line,
    unmanaged_kinds_lines,
    usage_detail,
)

MAX_CHARS = 60_000
# Past this many items a list in the summary is cut when the whole is too long.
SHORT_LIST = 20
MARKER = "<!-- beeplan-plan -->"


def render_markdown(
    plan: Plan,
    budget: Budget | None = None,
    graph: str | None = None,
    max_chars: int = MAX_CHARS,
    title: str = "beeplan plan",
    usage: UsageReport | None = None,
    compared: Compared = ACCOUNT,
) -> str:
    """``title`` is beeplan's words (escaped here all the same: it may quote a path);
    ``compared``: what the manifests are compared with, which the sentences name."""
    text = _render(plan, budget, graph, max_chars, title, usage, compared, cap=None)
    if len(text) > max_chars:
        text = _render(plan, budget, None, max_chars, title, usage, compared, cap=SHORT_LIST)
    if len(text) > max_chars:  # a summary of pathological size: cut it, and say so
        note = "\n\n*Cut here: the plan is longer than this text may be. Run `beeplan plan`.*\n"
        text = text[: max_chars - len(note)].rsplit("\n", 1)[0] + note
    return text


def _capped(lines: list[str], cap: int | None, what: str) -> list[str]:
    if cap is None or len(lines) <= cap:
        return lines
    return [*lines[:cap], f"- *... and {len(lines) - cap:,} more {what} (not shown here)*"]


def _render(
    plan: Plan,
    budget: Budget | None,
    graph: str | None,
    max_chars: int,
    title: str,
    usage: UsageReport | None,
    compared: Compared,
    cap: int | None,
) -> str:
    head = [
        MARKER, f"### {markdown(title)}", "",
        *_warnings_first(plan, cap),
        *_summary(plan, usage, compared, cap),
        *(line for note in plan.changed_by_notes
          for line in ("", f"> **Who changed it:** {markdown(note)}")),
        *_notes(plan, budget, compared, cap),
        *_diagram(graph),
    ]
    return _with_details("\n".join(head), _details(plan, usage), max_chars)


def _warnings_first(plan: Plan, cap: int | None) -> list[str]:
    """The loosened settings, then the problems: the reviewer reads the rest knowing them."""
    out: list[str] = []
    loosened = plan.provenance.loosened
    if loosened:
        out += ["> [!WARNING]", f"> **{LOOSENED_HEAD}:**"]
        out += [f"> - {markdown(loosened_line(item))}" for item in loosened]
        out.append("")
    if plan.problems:
        out.append("**Impossible changes** (the plan is refused until they are fixed):")
        out += _capped([f"- {markdown(p)}" for p in plan.problems], cap, "problems")
        out.append("")
    return out


def _summary(
    plan: Plan, usage: UsageReport | None, compared: Compared, cap: int | None
) -> list[str]:
    """The counts, the digest and what is still in use; or why there are no changes."""
    if plan.empty and plan.problems:
        return ["No other changes."]
    if plan.empty and plan.provenance.targeted:
        since = markdown(plan.provenance.targeted)
        return [f"**No changes** for the entries changed since {since}."]
    if plan.empty and plan.leaves_kinds_alone:
        return ["**No changes** to the kinds the manifests manage (some kinds are not managed)."]
    if plan.empty:
        return [compared.no_changes_markdown()]
    c = plan.counts()
    out = [
        "| create | update | attach | detach | deactivate |",
        "|---:|---:|---:|---:|---:|",
        f"| {c['create']} | {c['update']} | {c['attach']} | {c['detach']} | "
        f"{c['deactivate']} |",
        "",
        f"Plan: {summary_line(plan)}",
    ]
    if compared.digest:
        out += ["", f"{digest_line(plan)} (`beeplan apply` prints it too: they must match)"]
    still_used = in_use(plan, usage)
    if still_used and usage is not None:
        out += ["", f"**Still in use** (hours logged from {usage.start} to {usage.end}):"]
        out += _capped([
            f"- {markdown(in_use_line(action, found, usage.days))}"
            for action, found in still_used
        ], cap, "entities in use")
    authors = changed_by_lines(plan)
    if authors:
        out += ["", "**Changed outside beeplan** (who last edited each, as the account says):"]
        out += _capped([f"- {markdown(line)}" for line in authors], cap, "entities")
    return out


def _notes(
    plan: Plan, budget: Budget | None, compared: Compared, cap: int | None
) -> list[str]:
    """The budget, refusals, what is left alone, and the warnings (cut past ``cap``)."""
    out: list[str] = []
    if budget is not None:
        out += ["", budget_line(budget)]
    for violation in plan.destroy_violations:
        out += ["", f"> **Refused without `--allow-destroy`:** {markdown(violation)}."]
    if plan.unmanaged:
        where = (
            "live entities are not in the manifests (left alone)" if compared.account
            else f"entities are in {markdown(compared.old or '')} only; apply leaves them alone"
        )
        out += ["", f"{len(plan.unmanaged)} {where}."]
    for line in unmanaged_kinds_lines(plan):
        out += ["", line]  # beeplan's words only (kinds and counts)
    warnings = plan.warnings if cap is None else plan.warnings[:cap]
    for warning in warnings:
        out += ["", f"> **Warning:** {markdown(warning)}"]
    if len(warnings) < len(plan.warnings):
        out += ["", f"> *... and {len(plan.warnings) - len(warnings):,} more warnings "
                "(not shown here)*"]
    return out


def _diagram(graph: str | None) -> list[str]:
    if not graph:
        return []
    graph_open, graph_close = fence(graph.splitlines(), "mermaid")
    return [
        "",
        "<details><summary>What changes (diagram)</summary>",
        "",
        graph_open,
        "\n".join(printable(line) for line in graph.rstrip().splitlines()),
        graph_close,
        "",
        "</details>",
    ]


def _details(plan: Plan, usage: UsageReport | None) -> list[str]:
    """Every call, entity by entity, as diff lines (a diff fence colours them)."""
    body: list[str] = []
    for entity, actions in grouped(plan.actions):
        body.append(printable(f"  {entity} ({actions[0].name})"))
        author = changed_by_of(plan, actions[0])
        if author is not None:
            body.append(printable(f"    changed outside beeplan: {author.text}"))
            body += [printable(f"      {line}") for line in author.operations]
        for action in actions:
            symbol = SYMBOL[action.op]
            # diff fences colour lines by their first character
            prefix = {"+": "+", "-": "-", "~": "!", ">": "+"}[symbol]
            body.append(printable(f"{prefix}   {symbol} {action_line(action)}"))
            body += [printable(f"        {line}") for line in change_lines(action)]
            detail = usage_detail(action, usage)
            if detail is not None:
                body.append(printable(f"        {detail}"))
    return body


def _with_details(text: str, body: list[str], max_chars: int) -> str:
    """The summary ``text``, then the details folded, cut to fit ``max_chars`` (and said)."""
    if not body:
        return text + "\n"
    body_open, body_close = fence(body, "diff")
    tail_open = ["", "<details><summary>Details</summary>", "", body_open]
    tail_close = [body_close, "", "</details>", ""]
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
            f"\n*Details truncated: {len(body) - len(kept) + 1:,} of {len(body):,} lines not shown "
            f"(this text is capped at {max_chars:,} characters). Run `beeplan plan` for the "
            "full plan.*"
        )
        return "\n".join([text, *tail_open, *kept, "", "</details>", ""])
    return "\n".join([text, *tail_open, *kept, *tail_close])
