"""``beeplan usage`` on the current platform: hours per managed entity, from time records.

Two requests whatever the size of the set: one read of the account (to find each
entry's live id by its External ID or ``id:``), one query of time records with an
alias per person, project and task and one for every absence record (``hours.py``).
Durations on this platform are milliseconds; an answer the key may not read fails
the command (``strict``), never reads as no hours.
"""

from __future__ import annotations

from datetime import date

from ...errors import ConfigError
from ...hours import AccountUsage, Line
from ...model import Ref
from .client import CurrentClient
from .desired import Desired, Entry
from .hours import HOURS_KINDS, Archive, bounds_ms, look_up_hours
from .reader import LiveAccount, Node, read_account


def _live_node(entry: Entry, live: LiveAccount) -> Node | None:
    if entry.id is not None:
        return next((n for n in live.of_kind(entry.kind) if n.id == entry.id), None)
    if entry.xid is not None:
        return live.by_xid(entry.kind).get(entry.xid)
    return None


def _ref(entry: Entry, node: Node | None) -> Ref:
    # Ref.id is typed for v2's integer ids; the current platform's are opaque text.
    live_id: object = node.id if node is not None else entry.id
    return Ref(entry.kind, xid=entry.xid, id=live_id)  # type: ignore[arg-type]


REQUESTS = 2  # the account, then every entity's time records: whatever the set's size


def account_usage(client: CurrentClient, desired: Desired, days: int, *,
                  today: date | None = None, max_calls: int | None = None) -> AccountUsage:
    """Hours logged on every person, project, task and absence type the manifests declare."""
    if max_calls is not None and max_calls < REQUESTS:
        # Refused before the read: a run stopped half-way would spend calls for nothing.
        raise ConfigError(f"usage of a current-platform set takes {REQUESTS} requests (the "
                          f"account, then its time records), more than --max-calls "
                          f"{max_calls}: raise it to {REQUESTS}")
    start, end, _start_ms, _end_ms = bounds_ms(days, today)
    before = client.usage.total_requests
    live = read_account(client, xid_field=desired.settings.xid_field)
    read_calls = client.usage.total_requests - before
    found = [(e, _live_node(e, live)) for e in desired.entries if e.kind in HOURS_KINDS]
    archives = [Archive(_ref(e, node), node.id) for e, node in found if node is not None]
    report = look_up_hours(client, archives, days, today=today, strict=True)
    lines = []
    for entry, node in found:
        ref = _ref(entry, node)
        if node is None:  # declared, not in the account (yet): nothing to look up
            lines.append(Line(ref, entry.name, None, None))
        else:
            lines.append(Line(ref, entry.name, not node.archived, report.of(ref)))
    return AccountUsage(days, start, end, tuple(lines), read_calls=read_calls,
                        export_calls=report.calls, notes=report.notes)
