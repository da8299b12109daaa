"""`beeplan usage` output: hours per managed entity and the unused ones, in four formats."""

from __future__ import annotations

import csv
import io
from typing import Any

from ..hours import AccountUsage, Line, hours_text, last_days
from ..safetext import code_span, csv_cell, json_text, markdown, printable

FORMATS = ("text", "markdown", "json", "csv")
NOTHING = (
    "The manifests declare no company, project, subproject, task, absence type or person: "
    "no hours to report."
)


def _days(report: AccountUsage) -> str:
    return f"{report.days} day{'' if report.days == 1 else 's'}"


def render_usage(report: AccountUsage, fmt: str) -> str:
    return {"text": _text, "markdown": _markdown, "json": _json, "csv": _csv}[fmt](report)


def _figures(line: Line) -> tuple[str, str, str]:
    if line.active is None:
        return "-", "-", "not in the account"
    if line.usage is None:
        return "?", "?", "not looked up"
    people = f"{line.usage.people} {'person' if line.usage.people == 1 else 'people'}"
    return f"{hours_text(line.usage.hours)} h", people, line.usage.last or "-"


def _state(line: Line) -> str:
    return "" if line.active in (True, None) else " [inactive]"


def _calls(report: AccountUsage) -> str:
    left = f"; {report.left_today} left today" if report.left_today is not None else ""
    # No export job (the current platform reads time records in one query): say what ran.
    hours = (f"{report.export_calls} on {report.jobs} export job(s)" if report.jobs
             or not report.export_calls else f"{report.export_calls} reading the time records")
    return (
        f"API calls: {report.read_calls + report.export_calls} ({report.read_calls} reading, "
        f"{hours}){left}."
    )


def _text(report: AccountUsage) -> str:
    out = [f"Hours logged from {report.start} to {report.end} ({_days(report)}):", ""]
    labels = [printable(f"{line.ref} ({line.name}){_state(line)}") for line in report.lines]
    width = min(max((len(label) for label in labels), default=0), 60)
    for label, line in zip(labels, report.lines, strict=True):
        hours, people, last = _figures(line)
        last = last if line.active is None or line.usage is None else f"last {last}"
        out.append(f"  {label:<{width}}  {hours:>10}  {people:>10}  {last}")
    out.append("")
    unused = report.unused
    if not report.lines:
        out.append(NOTHING)
    elif unused:
        out.append(
            f"{len(unused)} managed active entit{'y has' if len(unused) == 1 else 'ies have'} "
            f"no hours in {last_days(report.days)} (candidates to deactivate):"
        )
        out += [printable(f"  - {line.ref} ({line.name})") for line in unused]
    elif any(line.active and line.usage is not None for line in report.lines):
        partial = any(line.active and line.usage is None for line in report.lines)
        out.append(
            f"Every managed active entity {'looked up ' if partial else ''}has hours in "
            f"{last_days(report.days)}."
        )
    out.append("")
    out += [printable(f"Note: {note}") for note in report.notes]
    out.append(_calls(report))
    return "\n".join(out) + "\n"


def _markdown(report: AccountUsage) -> str:
    out = [
        "### beeplan usage",
        "",
        f"Hours logged from {report.start} to {report.end} ({_days(report)}).",
        "",
    ]
    if report.lines:
        out += ["| entity | name | hours | people | last entry |", "|---|---|---:|---:|---|"]
    for line in report.lines:
        hours, people, last = _figures(line)
        name = markdown(line.name) + (" *(inactive)*" if line.active is False else "")
        out.append(f"| {code_span(str(line.ref))} | {name} | {hours} | {people} | "
                   f"{markdown(last)} |")
    out.append("")
    unused = report.unused
    if not report.lines:
        out += [NOTHING, ""]
    if unused:
        out.append(f"**No hours in {last_days(report.days)}** (candidates to deactivate):")
        out += [f"- {code_span(str(line.ref))} ({markdown(line.name)})" for line in unused]
        out.append("")
    out += [f"> {markdown(note)}" for note in report.notes]
    out.append(_calls(report))
    return "\n".join(out) + "\n"


def _entity(line: Line) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": line.ref.kind}
    if line.ref.xid is not None:
        out["xid"] = line.ref.xid
    if line.ref.id is not None:
        out["id"] = line.ref.id
    out["name"] = line.name
    out["active"] = line.active
    out["hours"] = line.usage.hours if line.usage else None
    out["people"] = line.usage.people if line.usage else None
    out["last"] = line.usage.last if line.usage else None
    return out


def _json(report: AccountUsage) -> str:
    doc = {
        "days": report.days,
        "from": report.start,
        "to": report.end,
        "entities": [_entity(line) for line in report.lines],
        "unused": [_entity(line) for line in report.unused],
        "calls": {
            "read": report.read_calls,
            "export": report.export_calls,
            "jobs": report.jobs,
            "left_today": report.left_today,
        },
        "notes": list(report.notes),
    }
    return json_text(doc) + "\n"


def _csv(report: AccountUsage) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["kind", "xid", "id", "name", "active", "hours", "people", "last", "unused"])
    unused = {line.ref for line in report.unused}
    for line in report.lines:
        row = _entity(line)
        # Names and xids come from manifests and the account: none may run as a formula.
        cells = [
            row["kind"],
            row.get("xid", ""),
            row.get("id", ""),
            row["name"],
            "" if line.active is None else str(line.active).lower(),
            "" if row["hours"] is None else hours_text(row["hours"]),
            "" if row["people"] is None else row["people"],
            row["last"] or "",
            "true" if line.ref in unused else "false",
        ]
        writer.writerow([csv_cell(cell) for cell in cells])
    return out.getvalue()
