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
    if not created:
        return out  # nothing new: no twin to find (most plans; every targeted one's stubs)
    # Without prune, the old entity stays, unmanaged: the account gets two of a name.
    every = {id(e): e for e in (*index.by_xid.values(), *index.by_id.values())}
    kinds = {k[0] for k in created}
    twins = [(twin, new) for twin in every.values() if twin.kind in kinds
             for new in (created.get(key(twin.kind, twin.parent, twin.name)),) if new is not None]
    claimed: set[Any] = set()
    if twins:  # the tokens of every declared entity, only when some live one is named alike
        claimed = {index.token(e.ref) for e in desired_index.by_xid.values()}
        claimed |= {index.token(e.ref) for e in desired_index.by_id.values()}
    for twin, new in twins:
        token = index.token(twin.ref)
        if token in claimed or token in removed:
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


def _stays_active(ref: Ref | None, index: Index, desired_index: Index) -> bool | None:
    """Whether ``ref`` is active once the plan ran (None: unknown, or not a kind with it)."""
    declared = desired_index.find(ref)
    if declared is not None:
        return declared.active
    have = index.find(ref)
    if have is None or not have.spec.has_active:
        return None
    return have.active


def inactive_ancestors(
    index: Index, desired_index: Index, actions: Sequence[PlannedAction]
) -> list[str]:
    """A project or subproject made active under an ancestor that ends inactive.

    The API accepts it, but nobody can log time under an inactive company or
    project: the reactivation does nothing useful until the ancestor is active.
    """
    out: list[str] = []
    for action in actions:
        if action.kind not in ("project", "subproject") or action.op not in ("activate", "create"):
            continue
        want = desired_index.find(action.target)
        if want is None or not want.active:
            continue
        chain: list[Ref] = []
        at: Entity | None = want
        while at is not None and at.parent is not None and len(chain) < 3:
            chain.append(at.parent)
            at = desired_index.find(at.parent) or index.find(at.parent)
        for ref in chain:
            if _stays_active(ref, index, desired_index) is not False:
                continue
            have = index.find(ref)
            if action.op == "create" and ref == chain[0] and have is not None \
                    and not have.active:
                break  # its own parent inactive and staying so: a problem (inactive_parents)
            declared = desired_index.find(ref)
            what = _who(have) if have is not None else (
                _who(declared) if declared is not None else f"{ref.kind} {ref.label}")
            where = (f", declared with active: false at {declared.source}"
                     if declared is not None and declared.source else "")
            done = "is reactivated" if action.op == "activate" else "is created active"
            out.append(
                Located(
                    f"{want.kind} {want.ref.label}{_where(want)} {done} under {what}, which "
                    f"{'stays' if have is not None and not have.active else 'ends'} inactive"
                    f"{where}: nobody can log time on it while its {ref.kind} is inactive. "
                    f"Declare that {ref.kind} with active: true too, or keep this "
                    f"{want.kind} inactive",
                    want.source,
                )
            )
            break
    return out


def leaders_deactivated(
    desired: State, index: Index, actions: Sequence[PlannedAction]
) -> list[str]:
    """A person deactivated while the manifests still name them a leader or manager.

    Their people's timesheets and their projects keep an approver who can no
    longer sign in; the manifests, not only the account, should say who
    replaces them.
    """
    gone = {index.token(a.target): a for a in actions
            if a.kind == "person" and a.op == "deactivate"}
    if not gone:
        return []
    named: dict[Any, list[str]] = {}
    first_source: dict[Any, Entity] = {}
    for entity in desired.entities:
        if not entity.active:
            continue  # an entry going inactive too keeps nobody waiting
        for rel, role in (("leaders", "the leader of"), ("managers", "a manager of")):
            for ref in entity.relations.get(rel) or ():
                token = index.token(ref)
                if token in gone:
                    named.setdefault(token, []).append(
                        f"{role} {entity.kind} {entity.ref.label}{_where(entity)}")
                    first_source.setdefault(token, entity)
    desired_index = Index(State(entities=desired.entities))
    out: list[str] = []
    for token, roles in named.items():
        action = gone[token]
        person = desired_index.find(action.target) or index.find(action.target)
        label = action.target.label if person is None else person.ref.label
        who = f"person {label}" + (f" {person.name!r}" if person is not None else "")
        declared = desired_index.find(action.target)
        source = declared.source if declared is not None else first_source[token].source
        out.append(
            Located(
                f"{who}{_where(declared) if declared is not None else ''} is deactivated, but "
                f"the manifests still name them {', '.join(sorted(roles))}: an inactive "
                f"person cannot approve that time. Remove {label} from those lists (or name "
                f"who replaces them), or keep {label} active",
                source,
            )
        )
    return out


def booleans_for_text(desired: State, live: State, index: Index) -> list[str]:
    """true/false (a boolean) given to a custom field the account holds text in.

    The manifests' own evidence is the loader's (a note on the line); this is
    what only the live values tell.
    """
    in_manifests = {name for e in desired.entities
                    for name, value in (e.relations.get("customFields") or {}).items()
                    if isinstance(value, str)}
    anywhere: dict[str, Entity] = {}
    for holder in live.entities:
        for name, value in (holder.relations.get("customFields") or {}).items():
            if isinstance(value, str):
                anywhere.setdefault(name, holder)
    out: list[str] = []
    for want in desired.entities:
        for name, value in sorted((want.relations.get("customFields") or {}).items()):
            if not isinstance(value, bool) or name in in_manifests:
                continue
            have = index.find(want.ref)
            now = (have.relations.get("customFields") or {}).get(name) if have else None
            if isinstance(now, str):
                evidence = f"its value now is the text {now!r}"
            elif name in anywhere:
                evidence = f"live {_who(anywhere[name])} holds text in it"
            else:
                continue
            word = str(value).lower()
            out.append(
                Located(
                    f"{want.kind} {want.ref.label}{_where(want)}: customFields.{name}: YAML reads "
                    f"{word} as a boolean, but {evidence}; to send the text, quote it "
                    f"({name}: '{word}')",
                    want.source,
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
    findings.warnings += inactive_ancestors(index, desired_index, actions)
    findings.warnings += leaders_deactivated(desired, index, actions)
    findings.warnings += list(desired.notes)
    findings.warnings += booleans_for_text(desired, live, index)
    return findings

