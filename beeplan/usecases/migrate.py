"""``beeplan sandbox migrate``: rehearse Beebole's one-time legacy migration on a sandbox file.

The file's API v2 account is read with the v2 platform's own reader (over HTTP, as
Beebole's migration reads the legacy account with its API key), handed as plain data
to the current platform's sandbox, which builds the file's current account from it
(``beeplan/platforms/current/sandbox/migrate.py``). Through the registry: neither
platform imports the other.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .. import platforms
from ..errors import ConfigError
from ..model import RELATION_TARGET, Ref, State
from ..safetext import printable

if TYPE_CHECKING:
    from ..platforms.current.sandbox.migrate import LegacyAccount, MigrationReport


def _key(ref: Ref | None, by_xid: dict[tuple[str, str], str]) -> str | None:
    """The v2 live id of a reference, as text (a reference the reader left by xid: looked up)."""
    if ref is None:
        return None
    if ref.id is not None:
        return str(ref.id)
    return by_xid.get((ref.kind, ref.xid or ""))


def legacy_account(live: State) -> LegacyAccount:
    """The v2 account the v2 reader read, as the plain data the migration takes."""
    # Imported on use: the sandbox package loads werkzeug and graphql-core
    from ..platforms.current.sandbox.migrate import LegacyAccount, LegacyEntity, LegacyField

    by_xid = {(e.ref.kind, e.ref.xid): str(e.ref.id) for e in live.entities
              if e.ref.xid is not None and e.ref.id is not None}
    entities = []
    for e in live.entities:
        # sorted by key: Refs of one kind, some with an xid and some without, do not compare
        links = {name: tuple(sorted(k for k in (_key(r, by_xid) for r in value) if k))
                 for name, value in e.relations.items() if isinstance(value, frozenset)}
        fields = dict(e.fields)
        if "specificTasks.enabled" in e.relations:
            fields["specificTasks.enabled"] = e.relations["specificTasks.enabled"]
        if e.parent is not None and e.kind != "group":
            fields["company" if e.parent.kind == "company" else "parent"] = e.parent.label
        entities.append(LegacyEntity(
            kind=e.kind, key=str(e.ref.id), name=e.name, xid=e.ref.xid,
            parent=_key(e.parent, by_xid), active=e.active, fields=fields, links=links,
            custom=dict(e.relations.get("customFields") or {})))
    definitions = tuple(
        LegacyField(f.name, tuple(x for x in f.available_for.split(", ") if x))
        for f in live.custom_fields)
    return LegacyAccount(tuple(entities), definitions)


def read_v2_account(db: str) -> LegacyAccount:
    """The v2 account of the file, read through the v2 platform's own reader (over HTTP,
    as Beebole's migration reads the legacy account with its API key)."""
    v2 = platforms.get("v2")
    relations = tuple(RELATION_TARGET)
    with v2.sandbox(db) as server, v2.client(server.url, server.token) as client:
        reader = v2.reader(client, 1, None)
        live = reader.read_everything_relations(reader.read_everything_lists(relations),
                                                relations)
    return legacy_account(live)


def migrate_sandbox(db: str, *, only_active: bool = False) -> MigrationReport:
    """Migrate the v2 account of the sandbox file ``db`` into its current account."""
    # Imported on use: the sandbox package loads werkzeug and graphql-core
    from ..platforms.current.sandbox.migrate import MigrationError, migrate_from_v2

    if db == ":memory:" or not Path(db).is_file():
        raise ConfigError(
            f"{printable(db)}: no such sandbox database; apply your v2 manifests to it first "
            f"(beeplan apply DIR --endpoint sandbox:{printable(db)} --auto-approve)")
    account = read_v2_account(db)
    if not account.entities:
        raise ConfigError(f"{printable(db)}: its API v2 account is empty, nothing to migrate; "
                          f"apply your v2 manifests to it first (beeplan apply DIR "
                          f"--endpoint sandbox:{printable(db)} --auto-approve)")
    server = platforms.get("current").sandbox(db)
    try:
        return migrate_from_v2(account, server.app, active_only=only_active)
    except MigrationError as exc:
        raise ConfigError(f"{printable(db)}: {exc}; rehearse on a new database file (apply "
                          "the v2 manifests to it, then migrate)") from None
    finally:
        server.close()
