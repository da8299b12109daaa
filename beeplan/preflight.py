"""What the API would refuse, found while planning: problems and warnings, no calls.

The planner builds actions; these pure checks look at the desired state, the
live one and those actions for calls that cannot succeed (a problem: the plan
is refused before any write) or that do something the reviewer may not mean
(a warning). Apply re-running the same plan would fail the same way each
time, so none of this is left for the API to say.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from .model import KINDS, Entity, Index, Located, Ref, State, entity_key

# A relation value's references, per relation name (customFields and
# specificTasks.enabled hold none).
REF_RELATIONS = ("groups", "members.people", "members.groups", "managers", "leaders",
                 "specificTasks.tasks")


class PlannedAction(Protocol):
    """What these checks read of an action (planner.Action has it)."""

    @property
    def id(self) -> str: ...
    @property
    def op(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def target(self) -> Ref: ...


@dataclass
class Findings:
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # Extra dependencies: action id -> ids of actions it must wait for.
    depends: dict[str, list[str]] = field(default_factory=dict)


def _where(entity: Entity) -> str:
    return f" ({entity.source})" if entity.source else ""


def _who(entity: Entity) -> str:
    """``person #455 'Rosa Parks' (xid rosa)``: everything that names a live entity."""
    if entity.ref.id is None:  # offline (diff): the entity is known by its xid only
        return f"{entity.kind} {entity.ref.xid!r} ({entity.name!r})"
    text = f"{entity.kind} #{entity.ref.id} {entity.name!r}"
    return text + (f" (xid {entity.ref.xid!r})" if entity.ref.xid is not None else "")


def _refs_of(entity: Entity) -> Iterator[tuple[str, Ref]]:
    if entity.parent is not None:
        yield entity.spec.parent_field or "parent", entity.parent
    for rel in REF_RELATIONS:
        for ref in sorted(entity.relations.get(rel) or (), key=lambda r: (r.xid or "", r.id or 0)):
            yield rel, ref


def unknown_ids(desired: State, live: State, index: Index, desired_index: Index) -> list[str]:
    """References ``{id: N}`` to entities the account does not have.

    Only for kinds the live state read whole: elsewhere (``diff``, a partial
    read) a missing id proves nothing.
    """
    out: list[str] = []
    if not live.complete_kinds:
        return out
    for entity in desired.entities:
        for rel, ref in _refs_of(entity):
            if ref.xid is not None or ref.kind not in live.complete_kinds:
                continue
            if index.find(ref) is None and desired_index.find(ref) is None:
                out.append(
                    Located(
                        f"{entity.kind} {entity.ref.label}{_where(entity)}: {rel} refers to "
                        f"{ref.kind} #{ref.id}, which the account does not have; use the id of an "
                        f"existing {ref.kind} (beeplan import lists them) or its xid",
                        entity.source,
                    )
                )
    return out


def inactive_parents(
    index: Index, desired_index: Index, creates: Iterable[Entity]
) -> list[str]:
    """Creates under a parent that is inactive in the account and stays so."""
    out: list[str] = []
    for entity in creates:
        parent = index.find(entity.parent)
        if parent is None or parent.active or not parent.spec.has_active:
            continue
        declared = desired_index.find(entity.parent)
        if declared is not None and declared.active:
            continue  # the plan activates it first
        out.append(
            Located(
                f"{entity.kind} {entity.ref.label}{_where(entity)}: cannot be created under "
                f"{_who(parent)}, which is inactive and stays so (the API refuses to add to an "
                f"inactive {parent.kind}). Declare that {parent.kind} with active: true, "
                f"or leave this {entity.kind} out",
                entity.source,
            )
        )
    return out


def email_clashes(
    desired: State, live: State, index: Index, actions: Sequence[PlannedAction]
) -> Findings:
    """People given an email that another live person holds (the API refuses it).

    A holder whose own email the plan changes first is no clash: the write
    that gives the email away is made a dependency instead.
    """
    found = Findings()
    holders: dict[str, Entity] = {}
    for person in live.of_kind("person"):
        email = person.fields.get("email")
        if isinstance(email, str) and email.strip():
            holders.setdefault(email.strip().casefold(), person)
    if not holders:
        return found
    writes = {(a.op, entity_key(a.target)): a.id for a in actions if a.kind == "person"}
    declared = {index.token(e.ref): e for e in desired.entities if e.kind == "person"}
    # action id -> (the person it writes, the email it takes): to name a cycle's members.
    takers: dict[str, tuple[Entity, str]] = {}
    for want in desired.entities:
        email = want.fields.get("email") if want.kind == "person" else None
        if not isinstance(email, str) or not email.strip():
            continue
        holder = holders.get(email.strip().casefold())
        me = index.find(want.ref)
        if holder is None or (me is not None and index.token(me.ref) == index.token(holder.ref)):
            continue
        key = entity_key(index.best(want.ref))
        action = writes.get(("create", key)) or writes.get(("update", key))
        if action is None:
            continue  # this person's email is not written by the plan
        holder_wants = declared.get(index.token(holder.ref))
        releases = holder_wants is not None and str(
            holder_wants.fields.get("email", email)
        ).strip().casefold() != email.strip().casefold()
        release = writes.get(("update", entity_key(holder.ref)))
        if releases and release is not None:
            found.depends.setdefault(action, []).append(release)
            takers[action] = (want, email)
            continue
        if writes.get(("create", key)) is None:  # an update: this person exists already
            found.problems.append(
                Located(
                    f"person {want.ref.label}{_where(want)}: email {email!r} belongs to live "
                    f"{_who(holder)}{'' if holder.active else ', inactive'}; the API refuses "
                    "a second person with the same email. Give that person another email in "
                    "the manifests (it is then changed first), or keep this one's",
                    want.source,
                )
            )
            continue
        if holder.ref.id is None:
            adopt = f"its xid {holder.ref.xid!r}"
        else:
            adopt = f"`id: {holder.ref.id}`" + (
                f" (or its xid {holder.ref.xid!r})" if holder.ref.xid is not None else ""
            )
        found.problems.append(
            Located(
                f"person {want.ref.label}{_where(want)}: email {email!r} belongs to live "
                f"{_who(holder)}{'' if holder.active else ', inactive'}; the API refuses a "
                f"second person with the same email. If this is that person, declare it with "
                f"{adopt} instead of xid {want.ref.label!r} (an xid is its identity: a new xid "
                f"makes a new person); otherwise give it another email",
                want.source,
            )
        )
    found.problems += _email_cycles(found.depends, takers)
    return found


def _email_cycles(
    depends: dict[str, list[str]], takers: dict[str, tuple[Entity, str]]
) -> list[str]:
    """People who swap emails (or pass them round): no order of writes works.

    Each write waits for the one that frees its email; in a cycle every write
    waits for another, so apply would skip them all, run after run.
    """
    out: list[str] = []
    done: set[str] = set()
    for start in sorted(depends):
        path: list[str] = []
        at: str | None = start
        while at is not None and at not in done and at not in path:
            path.append(at)
            nxt = depends.get(at)
            at = nxt[0] if nxt else None
        done.update(path)
        if at is None or at not in path:
            continue
        cycle = path[path.index(at):]
        members = [takers[a] for a in cycle if a in takers]
        if len(members) != len(cycle):
            continue
        names = ", ".join(f"person {p.ref.label} takes {email!r}" for p, email in members)
        first = members[0][0]
        out.append(
            Located(
                f"person {first.ref.label}{_where(first)}: emails go round in a cycle ({names}); "
                "the API refuses an email another person still holds, so no order of updates "
                "works. Apply a temporary email for one of them first, then these",
                first.source,
            )
        )
    return out


def replacements(
    index: Index, desired_index: Index, actions: Sequence[PlannedAction]
) -> list[str]:
    """A create and a removal of the same name under the same parent: a replacement."""
    def key(kind: str, parent: Ref | None, name: str) -> tuple[Any, ...]:
        return (kind, index.token(parent) if parent is not None else None,
                " ".join(name.split()).casefold())

    created: dict[tuple[Any, ...], Entity] = {}
    for action in actions:
        if action.op == "create":
            entity = desired_index.find(action.target)
            if entity is not None:
                created.setdefault(key(entity.kind, entity.parent, entity.name), entity)
    out: list[str] = []
    removed: set[Any] = set()
    for action in actions:
        if action.op not in ("deactivate", "delete"):
            continue
        old = index.find(action.target)
        if old is not None:
            removed.add(index.token(old.ref))
        if old is None:
            continue
        new = created.get(key(old.kind, old.parent, old.name))
        if new is None:
            continue
        keep = f"xid {old.ref.xid!r}" if old.ref.xid is not None else f"`id: {old.ref.id}`"
        gone = "deleted" if action.op == "delete" else "deactivated"
        # Groups log no time; deleting one drops what it was assigned to.
        lost = ("its assignments and exclusive memberships go with it" if action.op == "delete"
                else "its time entries stay on the old one")
        out.append(
            Located(
                f"{new.kind} {new.ref.label}{_where(new)} replaces {_who(old)}: a new "
                f"{KINDS[new.kind].kind} named {new.name!r} is created under the same parent and "
                f"the old one {gone}; {lost}. If you meant to change "
                f"its xid: beeplan never renames an xid, so declare it with {keep} to keep the "
                f"entity and its history",
                new.source,
            )
        )
    # Without prune, the old entity stays, unmanaged: the account gets two of a name.
    claimed = {index.token(e.ref) for e in desired_index.by_xid.values()}
    claimed |= {index.token(e.ref) for e in desired_index.by_id.values()}
    every = {id(e): e for e in (*index.by_xid.values(), *index.by_id.values())}
    for twin in every.values():
        new = created.get(key(twin.kind, twin.parent, twin.name))
        token = index.token(twin.ref)
        if new is None or token in claimed or token in removed:
            continue
        keep = f"xid {twin.ref.xid!r}" if twin.ref.xid is not None else f"`id: {twin.ref.id}`"
        out.append(
            Located(
                f"{new.kind} {new.ref.label}{_where(new)} is created next to live {_who(twin)}, "
                f"which has the same name and parent and no manifest entry: the account will "
                f"hold two. If {new.ref.label!r} is that {new.kind} with a new xid, declare it "
                f"with {keep} instead (beeplan never renames an xid; its time entries are there)",
                new.source,
            )
        )
    return out


def check(
    desired: State, live: State, index: Index, actions: Sequence[PlannedAction]
) -> Findings:
    """Every preflight check at once."""
    desired_index = Index(State(entities=desired.entities))
    creates = [
        e for e in (desired_index.find(a.target) for a in actions if a.op == "create")
        if e is not None
    ]
    findings = email_clashes(desired, live, index, actions)
    findings.problems += inactive_parents(index, desired_index, creates)
    findings.problems += unknown_ids(desired, live, index, desired_index)
    findings.warnings += replacements(index, desired_index, actions)
    return findings

