"""API v2's action factory: one builder per operation, in a table.

Each builder checks that a change means exactly what the planner would have
made of it and returns the service suffix, the action id's key and the
payload. ``build_action`` does the checks every operation shares, then
dispatches; a meaning outside the table raises ``ActionError``, so no
service outside the planner's vocabulary can run from a saved plan.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ...model import KINDS, KindSpec, Ref, entity_key
from ...planner import (
    CATEGORY,
    DELETE_DETAIL,
    RELATION_SERVICES,
    Action,
    ActionError,
    Change,
    action_phase,
    parse_label,
    parse_link_detail,
)

_RELATION_OPS = frozenset({"attach", "detach", "set", "clear", "enable", "disable", "leaders"})
_DETAIL_OPS = frozenset({"attach", "detach", "delete"})


@dataclass(frozen=True)
class _Ask:
    """One operation as asked: what every builder reads."""

    op: str
    kind: str
    spec: KindSpec
    target: Ref
    name: str
    relation: str
    detail: str
    changes: tuple[Change, ...]
    custom_field_ids: Mapping[str, int]

    @property
    def fields(self) -> list[str]:
        return [c.field for c in self.changes]

    def ref(self) -> dict[str, Any]:
        return dict(self.target.payload())

    def expect(self, *wanted: Change) -> None:
        if self.changes != wanted:
            raise ActionError(f"a {self.op} shows exactly: " + ", ".join(str(c) for c in wanted))


# (service suffix, id key, payload)
_Built = tuple[str, str, dict[str, Any]]


def _create_or_update(a: _Ask) -> _Built:
    op, kind, spec, fields = a.op, a.kind, a.spec, a.fields
    if op == "create" and a.target.xid is None:
        raise ActionError("beeplan creates only entities with an xid")
    body: dict[str, Any] = {"xid": a.target.xid} if op == "create" else a.ref()
    body["name"] = a.name
    for change in a.changes:
        if op == "create" and change.field == "leaders" and kind == "person":
            # A new person's leaders go with its create (one call, not two).
            if change.before != [] or not isinstance(change.after, list):
                raise ActionError("a create shows its leaders as a new list")
            body["leaders"] = [parse_label("person", x).payload() for x in change.after]
            continue
        if op == "create" and change.before is not None:
            raise ActionError(f"a create changes {change.field} from nothing")
        if change.field == "name":
            if change.after != a.name:
                raise ActionError("its name change does not end at its name")
        elif op == "create" and spec.parent_field and change.field == spec.parent_field:
            body[change.field] = parse_label(spec.parent_kind or kind, change.after).payload()
        elif change.field in spec.fields:
            body[change.field] = change.after
        elif change.field == "invite" and kind == "person" and change.after is True:
            body["invite"] = True
        else:
            raise ActionError(f"beeplan never sets {change.field!r} with {kind}.{op}")
    if op == "create" and "name" not in fields:
        raise ActionError("a create shows its name")
    if op == "update" and not set(fields) - {"invite"}:
        raise ActionError("an update changes something")
    if op == "update" and "invite" in fields and "email" not in fields:
        raise ActionError("an invitation goes only with a new email")
    return op, "", {kind: body}


def _set_xid(a: _Ask) -> _Built:
    # An entity adopted by id gets an xid: X.update with its id and the new xid.
    if a.target.id is None or a.target.xid is not None:
        raise ActionError("a set_xid names its entity by its live id only")
    changes = a.changes
    if (
        len(changes) != 1
        or changes[0].field != "xid"
        or changes[0].before is not None
        or not isinstance(changes[0].after, str)
        or not changes[0].after.strip()
    ):
        raise ActionError("a set_xid shows exactly: xid from nothing to the new xid")
    return "update", "", {a.kind: {"id": a.target.id, "xid": changes[0].after, "name": a.name}}


def _activation(a: _Ask) -> _Built:
    if not a.spec.has_active:
        raise ActionError(f"a {a.kind} cannot be {a.op}d")
    a.expect(Change("active", a.op == "deactivate", a.op == "activate"))
    return a.op, "", a.ref()


def _delete(a: _Ask) -> _Built:
    if a.kind != "group":
        raise ActionError("beeplan deletes only groups (when pruning)")
    if a.detail != DELETE_DETAIL:
        raise ActionError(f"a delete shows '{DELETE_DETAIL}'")
    a.expect(Change("exists", True, False))
    return a.op, "", {**a.ref(), "force": True}


def _leaders(a: _Ask) -> _Built:
    if a.kind != "person" or a.relation != "leaders":
        raise ActionError("leaders are set on people, as the relation 'leaders'")
    if a.fields != ["leaders"] or not isinstance(a.changes[0].after, list):
        raise ActionError("a leaders update shows the new list of leaders")
    leaders = [parse_label("person", label).payload() for label in a.changes[0].after]
    return "update", "", {"person": {**a.ref(), "name": a.name, "leaders": leaders}}


def _link(a: _Ask) -> _Built:
    if a.relation not in RELATION_SERVICES or a.relation not in a.spec.relations:
        raise ActionError(f"a {a.kind} has no relation {a.relation!r} to {a.op}")
    a.expect()
    other = parse_link_detail(a.relation, a.op, a.detail)
    add_suffix, remove_suffix, payload_key = RELATION_SERVICES[a.relation]
    suffix = add_suffix if a.op == "attach" else remove_suffix
    key = f":{a.relation}:{entity_key(other)}"
    return suffix, key, {**a.ref(), payload_key: other.payload()}


def _custom_value(a: _Ask) -> _Built:
    op = a.op
    if a.relation != "customFields" or a.relation not in a.spec.relations:
        raise ActionError(f"a {op} acts on the custom fields of a company, project or person")
    if len(a.changes) != 1 or not a.changes[0].field.startswith("customFields."):
        raise ActionError(f"a {op} shows one change of customFields.<name>")
    change = a.changes[0]
    field_name = change.field[len("customFields.") :]
    field_id = a.custom_field_ids.get(field_name)
    if field_id is None:
        raise ActionError(f"the account has no custom field {field_name!r}")
    if op == "set" and change.after is None:
        raise ActionError("a set has a value")
    if op == "clear" and (change.after is not None or change.before is None):
        raise ActionError("a clear removes a value")
    value = {"id": field_id, "value": change.after} if op == "set" else {"id": field_id}
    payload = {**a.ref(), "customField": value}
    return f"{op}_custom_field_value", f":customFields:{field_name}", payload


def _specific_tasks(a: _Ask) -> _Built:
    if a.relation != "specificTasks.enabled" or a.relation not in a.spec.relations:
        raise ActionError(f"a {a.op} acts on the specific tasks of a {a.kind}")
    a.expect(Change("specificTasks.enabled", a.op == "disable", a.op == "enable"))
    return f"{a.op}_specific_tasks", ":specificTasks", a.ref()


BUILDERS: Mapping[str, Callable[[_Ask], _Built]] = {
    "create": _create_or_update,
    "update": _create_or_update,
    "set_xid": _set_xid,
    "activate": _activation,
    "deactivate": _activation,
    "delete": _delete,
    "leaders": _leaders,
    "attach": _link,
    "detach": _link,
    "set": _custom_value,
    "clear": _custom_value,
    "enable": _specific_tasks,
    "disable": _specific_tasks,
}


def build_action(
    op: str,
    kind: str,
    target: Ref,
    name: str,
    *,
    relation: str = "",
    detail: str = "",
    changes: Iterable[Change] = (),
    depends_on: Iterable[str] = (),
    custom_field_ids: Mapping[str, int] | None = None,
) -> Action:
    """The one action (id, service, payload, phase) that an operation on an entity means.

    The planner makes every action with this function, and ``apply`` rebuilds
    each action of a saved plan with it: what a plan file shows (op, target,
    name, relation, detail, changes) is then exactly what is sent.
    """
    spec = KINDS.get(kind)
    if spec is None or target.kind != kind:
        raise ActionError(f"{kind!r} is not a kind beeplan manages, or not its target's kind")
    if op not in CATEGORY or op not in BUILDERS:
        raise ActionError(f"{op!r} is not an operation beeplan plans")
    changes = tuple(changes)
    fields = [c.field for c in changes]
    if len(set(fields)) != len(fields):
        raise ActionError("it changes the same field twice")
    if op not in _RELATION_OPS and relation:
        raise ActionError(f"a {op} acts on no relation")
    if op not in _DETAIL_OPS and detail:
        raise ActionError(f"a {op} has no detail")
    ask = _Ask(op, kind, spec, target, name, relation, detail, changes, custom_field_ids or {})
    suffix, key, payload = BUILDERS[op](ask)
    return Action(
        id=f"{op}:{entity_key(target)}{key}",
        op=op,
        kind=kind,
        target=target,
        name=name,
        service=f"{kind}.{suffix}",
        payload=payload,
        phase=action_phase(op, kind),
        depends_on=tuple(depends_on),
        changes=changes,
        relation=relation,
        detail=detail,
    )
