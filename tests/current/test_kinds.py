"""The kinds description agrees with the manifest schema and with what the reader returns."""

from __future__ import annotations

from typing import Any

from beeplan.platforms.current.client import CurrentClient
from beeplan.platforms.current.kinds import BY_NAME, KINDS, archivable_kinds, order
from beeplan.platforms.current.manifest import manifest_schema
from beeplan.platforms.current.reader import read_account

from .conftest import Gql


def test_parents_come_first() -> None:
    done: list[str] = []
    for name in order():
        parent = BY_NAME[name].parent
        assert parent is None or parent in done, (name, parent)
        done.append(name)
    assert sorted(done) == sorted(k.name for k in KINDS)


def test_categories_do_not_archive_and_entities_do() -> None:
    assert archivable_kinds() == {"project", "tag", "role", "person", "task", "absenceType",
                                  "customField"}


def _props(defn: dict[str, Any], key: str) -> dict[str, Any]:
    defs = manifest_schema()["$defs"]
    props: dict[str, Any] = defn["properties"]
    head, _, rest = key.partition(".")
    assert head in props, key
    if rest:
        target = props[head]
        target = defs[target["$ref"].rsplit("/", 1)[1]] if "$ref" in target else target
        return _props(target, rest)
    return props


def test_every_relation_key_is_a_manifest_key() -> None:
    defs = manifest_schema()["$defs"]
    for kind in KINDS:
        for relation in kind.relations:
            _props(defs[kind.name], relation.key)


def test_the_reader_returns_every_relation_of_every_kind(gql: Gql) -> None:
    with CurrentClient(gql.server.url, gql.server.token) as client:
        live = read_account(client)
    kinds = {n.kind for n in live.nodes}
    assert kinds == {"project", "tag", "role", "person", "task", "absenceType"}
    for node in live.nodes:
        assert {k for k, _ in node.relations} == {r.key for r in BY_NAME[node.kind].relations}


def test_an_xid_held_twice_is_reported(gql: Gql) -> None:
    gql("""mutation($f: BeeboleId!, $globex: BeeboleId!) {
      a: addCustomFieldValue(customFieldId: $f, entityType: "Project", entityId: $globex,
                             textValue: "acme") { id }
    }""", f=gql.ids["xid"], globex=gql.ids["globex"])
    with CurrentClient(gql.server.url, gql.server.token) as client:
        live = read_account(client)
    assert live.duplicate_xids() == {
        ("project", "acme"): tuple(sorted((gql.ids["acme"], gql.ids["globex"])))}
