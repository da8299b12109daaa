"""The loader's fast paths answer exactly as the slow reference they replace (issue 24).

The YAML builder looks PyYAML's implicit resolvers up by first character
instead of calling ``Resolver.resolve``, and ``--changed-since`` copies the
stubs of unchanged entries without ``dataclasses.replace``. Each shortcut is
only right while its assumption holds; these tests fail the day it stops.
"""

from __future__ import annotations

import dataclasses

import pytest
import yaml
from yaml.resolver import Resolver

from beeplan.changed import _copy
from beeplan.manifest._yaml import _resolve
from beeplan.model import Entity, Ref, Source, new_entity

# Every first character a resolver claims, and the values YAML 1.1 types.
_SCALARS = [
    "", "~", "null", "Null", "NULL", "n", "N", "no", "No", "NO", "y", "yes", "on", "Off",
    "true", "False", "TRUE", "0", "12", "-3", "+4", "0x1F", "0o17", "017", "0b101", "1_000",
    "1:30", "1.5", "-.5", ".5", ".inf", "-.Inf", ".nan", ".NaN", "1e3", "6.8523015e+5",
    "2024-01-31", "2001-12-14t21:59:43.10-05:00", "2023-02-30", "=", "<<", "<", "<<<",
    "!x", "&x", "*x", "ana", "Zoe", "rosa@example.com", "12 apples", "ñandú", " ", "-", ".",
    "0b_", "._", "+", "2024", "1.10", "yes please",
]


@pytest.mark.parametrize("value", _SCALARS)
@pytest.mark.parametrize("implicit", [(True, False), (False, True), (False, False)])
def test_the_first_letter_lookup_gives_pyyaml_s_tag(
        value: str, implicit: tuple[bool, bool]) -> None:
    expected = Resolver().resolve(yaml.ScalarNode, value, implicit)
    assert _resolve(value, implicit) == expected


def test_the_lookup_still_mirrors_pyyaml_s_resolvers() -> None:
    # The table is built from these at import: no path resolver (the tag would depend
    # on where a scalar sits) and no wildcard (every first letter would need a regex).
    assert not Resolver.yaml_path_resolvers
    assert None not in Resolver.yaml_implicit_resolvers


def test_a_stub_copy_equals_dataclasses_replace() -> None:
    entity = Entity(kind="person", ref=Ref("person", xid="rosa"), name="Rosa",
                    parent=Ref("company", xid="acme"), fields={"email": "r@x.io"},
                    relations={"groups": frozenset({Ref("group", xid="dev")})},
                    invite=True, new_xid=None, source=Source("people.yaml", 3))
    changes = {"fields": {}, "source": None, "invite": False}
    copied = _copy(entity, **changes)
    expected = dataclasses.replace(entity, **changes)
    assert copied == expected and type(copied) is Entity
    assert copied.source is None and entity.source == Source("people.yaml", 3)  # original kept
    assert {f.name: getattr(copied, f.name) for f in dataclasses.fields(Entity)} == {
        f.name: getattr(expected, f.name) for f in dataclasses.fields(Entity)}
    with pytest.raises(dataclasses.FrozenInstanceError):
        copied.name = "x"  # type: ignore[misc]


def test_new_entity_equals_the_dataclass_s_own() -> None:
    values = {"kind": "person", "ref": Ref("person", xid="rosa"), "name": "Rosa",
              "parent": Ref("company", xid="acme"), "active": False,
              "fields": {"email": "r@x.io"}, "relations": {"groups": frozenset()},
              "invite": True, "new_xid": None, "source": Source("people.yaml", 3)}
    made = new_entity(**values)
    assert made == Entity(**values) and type(made) is Entity
    assert {f.name: getattr(made, f.name) for f in dataclasses.fields(Entity)} == values
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.name = "x"  # type: ignore[misc]
    with pytest.raises(AssertionError):  # a field left out would have no value at all
        new_entity(**{k: v for k, v in values.items() if k != "source"})


def test_entity_has_nothing_a_copy_would_skip() -> None:
    # _copy skips __init__: a __post_init__ (a check, a derived field) or __slots__
    # on Entity would make it wrong. Then it must go back to dataclasses.replace.
    assert not hasattr(Entity, "__post_init__")
    assert not hasattr(Entity, "__slots__")
