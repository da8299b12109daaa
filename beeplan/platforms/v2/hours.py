"""API v2's export of logged hours, for ``beeplan/usage.py`` (``Platform.hours_export``).

``time_entry.export`` starts a job filtered to one entity (or none: the whole
account), asking only for the columns needed (``keys``), as arrays
(``outputFormat: "array"``), with every status (drafts are hours people logged
too); ``time_entry.get_job_info`` is polled until ``job.status`` is ``done``
(or ``error``). The core decides which jobs to run and when to poll; this says
how each call is written and how each answer is read.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Any

from ...errors import UsageError
from ..base import Client

ALL_STATUSES = ("d", "s", "a", "r", "l")


def export_request(
    where: tuple[str, int] | None, keys: Sequence[str], start: str, end: str
) -> dict[str, Any]:
    """The payload of ``time_entry.export``: dates, columns, every status, one filter."""
    out: dict[str, Any] = {
        "from": start,
        "to": end,
        "keys": list(keys),
        "statusFilters": list(ALL_STATUSES),
        "outputFormat": "array",
    }
    if where is not None:
        out[where[0]] = {"id": where[1]}
    return out


class HoursExport:
    """The ``HoursExport`` of API v2 (``platforms/base.py``)."""

    def start(
        self, client: Client, where: tuple[str, int] | None, keys: Sequence[str],
        start: str, end: str,
    ) -> tuple[int, list[dict[str, Any]] | None]:
        answer = client.call("time_entry.export", **export_request(where, keys, start, end))
        job_id, result = _job_state(answer, "time_entry.export")
        return job_id, None if result is None else parse_rows(result, keys)

    def poll(
        self, client: Client, job_id: int, keys: Sequence[str]
    ) -> list[dict[str, Any]] | None:
        answer = client.call("time_entry.get_job_info", id=job_id, outputFormat="array")
        _, result = _job_state(answer, "time_entry.get_job_info")
        return None if result is None else parse_rows(result, keys)


HOURS_EXPORT = HoursExport()


def _job_state(answer: Mapping[str, Any], service: str) -> tuple[int, Any]:
    """(job id, result or None while it runs); a failed job raises."""
    job = answer.get("job")
    if not isinstance(job, Mapping) or "id" not in job:
        raise UsageError(f"{service}: the answer has no job object")
    try:
        job_id = int(job["id"])
    except (TypeError, ValueError):
        raise UsageError(f"{service}: the job id {job['id']!r} is not a number") from None
    status = job.get("status")
    if status == "error":
        detail = job.get("message") or job.get("result") or "no detail given"
        raise UsageError(f"the time export job {job_id} failed: {str(detail)[:200]}")
    # "done" counts only once the result is there (a string, or rows with "array").
    if status == "done" and isinstance(job.get("result"), (str, list)):
        return job_id, job["result"]
    return job_id, None


def parse_rows(result: Any, keys: Sequence[str]) -> list[dict[str, Any]]:
    """The entries of a job result (rows of arrays, or CSV text), as dicts by key.

    A first row that is not an entry (the column titles, perhaps translated:
    the reference's example answers ``Entreprise,Heures``) is skipped.
    """
    rows: list[Any] = list(csv.reader(io.StringIO(result))) if isinstance(result, str) else result
    out = []
    for n, row in enumerate(rows):
        if not isinstance(row, (list, tuple)) or not row:
            continue
        if len(row) < len(keys):
            raise UsageError(f"the time export answered a row of {len(row)} columns, "
                             f"{len(keys)} asked for")
        entry = dict(zip(keys, row, strict=False))
        hours = parse_hours(entry["hours"])
        if hours is None:
            if n == 0:
                continue  # the title row
            raise UsageError(f"the time export answered hours {str(entry['hours'])[:40]!r}")
        entry["hours"] = hours
        out.append(entry)
    return out


def parse_hours(value: Any) -> float | None:
    """Hours as a number: 7.5, "7.50", "7,500" (a decimal comma), "1,234.5", "7:30"."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if not isinstance(value, str) or not value.strip():
        return 0.0 if value in (None, "") else None
    text = value.strip().replace("\u00a0", "").replace(" ", "")
    try:
        if ":" in text:
            h, _, m = text.partition(":")
            return int(h) + int(m) / 60
        if "," in text and "." in text:
            # The later separator is the decimal one.
            thousands = "," if text.rfind(",") < text.rfind(".") else "."
            text = text.replace(thousands, "")
        return float(text.replace(",", "."))
    except ValueError:
        return None
