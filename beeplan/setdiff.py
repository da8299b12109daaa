"""Manifest set against manifest set, offline: what a pull request changes.

The planner does the entity work, with OLD playing an account that matches
it exactly. What the planner cannot express is said here: a change of
``settings`` (prune, safety), which changes what apply does to entities
neither set names, and keys that NEW stops managing (their live values are
then left as they are, which no API call shows).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .model import (
    KIND_ORDER,
    KINDS,
    CustomField,
    Entity,
    Index,
    Ref,
    Safety,
    State,
    entity_key,
)
from .planner import Plan, Unmanaged, make_plan

# Manifest keys as written, for the model's relation names and fields.
RELATION_KEYS = {
    "groups": "groups",
    "members.people": "members",
    "members.groups": "members",
    "managers": "managers",
    "leaders": "leaders",
    "customFields": "customFields",
    "specificTasks.enabled": "specificTasks",
    "specificTasks.tasks": "specificTasks",
}


@dataclass(frozen=True)
class Released:
    """An entity of both sets whose manifest entry dropped some keys."""

    entity: Entity
    keys: tuple[str, ...]

    def line(self) -> str:
        return f"{self.entity.kind} {self.entity.ref.label} ({self.entity.name}): " + ", ".join(
            self.keys
        )


@dataclass(frozen=True)
class SetDiff:
    plan: Plan
    settings: tuple[str, ...] = ()  # what the change of settings means, line by line
    released: tuple[Released, ...] = ()

    @property
    def changed(self) -> bool:
        return not self.plan.empty or bool(self.settings) or bool(self.released)


def diff_sets(old: State, new: State) -> SetDiff:
    return SetDiff(diff_states(old, new), settings_lines(old, new), released(old, new))


def diff_states(old: State, new: State) -> Plan:
    """What applying NEW would change in an account that matches OLD exactly.

    Custom field ids are not known offline, so every name used stands for itself.
    """
    names = sorted(
        {
            name
            for e in (*old.entities, *new.entities)
            for name in e.relations.get("customFields", {})
        }
    )
    fields = tuple(CustomField(i + 1, name) for i, name in enumerate(names))
    # An account that matches OLD has the xids OLD gives (id: N with xid: X).
    applied = tuple(
        replace(e, ref=Ref(e.kind, xid=e.new_xid, id=e.ref.id), new_xid=None)
        if e.new_xid is not None
        else e
        for e in old.entities
    )
    live = replace(old, entities=applied, custom_fields=fields, complete_kinds=frozenset())
    plan = make_plan(new, live)
    # A kind dropped from the manifests altogether becomes unmanaged, so the
    # planner does not list it; a reviewer still needs to see what left.
    acted_on = {entity_key(a.target) for a in plan.actions}
    in_new = Index(new)
    gone = tuple(
        Unmanaged(e.ref, e.name, e.active)
        for e in old.entities
        if in_new.find(e.ref) is None and entity_key(e.ref) not in acted_on
    )
    # Counts of unmanaged kinds need the account; the settings lines say it in words.
    return replace(plan, unmanaged=gone, unmanaged_kinds={})


def _plurals(kinds: frozenset[str] | set[str]) -> str:
    return ", ".join(KINDS[k].plural for k in KIND_ORDER if k in kinds) or "none"


def _safety_text(safety: Safety) -> str:
    text = f"ratio {safety.default.ratio:g}, min {safety.default.min}"
    for kind, rule in sorted(safety.kinds.items()):
        text += f"; {kind}: ratio {rule.ratio:g}, min {rule.min}"
    if safety.refuse_in_use:
        text += "; refuseInUse"
    return text


def settings_lines(old: State, new: State) -> tuple[str, ...]:
    """The settings that change, and what that means for an account diff cannot see."""
    out: list[str] = []
    before, after = old.settings, new.settings
    managed = new.managed_kinds()
    left_out = set(KIND_ORDER) - managed
    if before.prune != after.prune:
        out.append(f"~ settings.prune: {str(before.prune).lower()} -> {str(after.prune).lower()}")
        if after.prune:
            out.append(
                "  apply will deactivate every live entity of a managed kind that the "
                f"manifests do not name (and delete such groups), within the safety "
                f"threshold. Managed kinds: {_plurals(managed)}."
            )
            out.append(
                "  diff cannot see the account: entities that exist there and in neither set "
                "are not listed here. Run 'beeplan plan' on the new set to see them."
            )
            if left_out:
                out.append(
                    f"  Not managed (no key in the new set), left alone: {_plurals(left_out)}."
                )
        else:
            out.append(
                "  apply will leave live entities the manifests do not name alone (it only "
                "reports them)."
            )
    elif after.prune and new.declared_kinds != old.declared_kinds:
        gained = new.managed_kinds() - old.managed_kinds()
        lost = old.managed_kinds() - managed
        if gained:
            out.append(
                f"~ under settings.prune: true, now managed: {_plurals(gained)}; apply will "
                "deactivate their live entities the manifests do not name (diff cannot see "
                "the account: run 'beeplan plan' to see which)."
            )
        if lost:
            out.append(f"~ under settings.prune: true, no longer managed: {_plurals(lost)}.")
    if before.safety != after.safety:
        out.append(
            f"~ settings.safety: {_safety_text(before.safety)} -> {_safety_text(after.safety)}"
        )
        out.append("  (the share and count of removals apply refuses without --allow-destroy)")
    if before.safety.refuse_in_use and not after.safety.refuse_in_use:
        # Said on its own line: a reviewer must not have to spot "; refuseInUse" gone.
        out.append(
            "~ settings.safety.refuseInUse: true -> false: apply no longer refuses to "
            "deactivate what has hours logged lately"
        )
    return tuple(out)


def released(old: State, new: State) -> tuple[Released, ...]:
    """Entities in both sets whose NEW entry drops a relation key or a managed field."""
    in_old = Index(old)
    out = []
    for entity in new.entities:
        before = in_old.find(entity.ref)
        if before is None:
            continue
        keys = {RELATION_KEYS[r] for r in before.relations if r not in entity.relations}
        keys |= {f for f in before.fields if f not in entity.fields}
        if keys:
            out.append(Released(entity, tuple(sorted(keys))))
    return tuple(out)
