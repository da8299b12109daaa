"""The saved plan: versioned JSON, described by schemas/plan.schema.json.

It round-trips: ``plan_from_json(plan_to_json(p))`` gives back the actions,
fingerprints and problems that ``apply`` needs. It never holds the token.

``format_version`` is "MAJOR.MINOR" (docs/plan-format.md): a reader refuses
a major version it does not know and ignores the fields a newer minor
version added, so automation written against 1.1 keeps working on 1.5.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from .. import __version__
from ..annotations import plan_annotations
from ..errors import PlanError
from ..hours import UsageReport
from ..model import Loosened, Ref
from ..planner import (
    PLAN_FORMAT_VERSION,
    RELATION_SERVICES,
    V2_PLAN_FORMAT_VERSION,
    Action,
    Change,
    ChangedBy,
    Plan,
    Provenance,
    Unmanaged,
    plan_digest,
)
from ..safetext import json_text
from .common import Budget


def _ref(ref: Ref) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": ref.kind}
    if ref.xid is not None:
        out["xid"] = ref.xid
    if ref.id is not None:
        out["id"] = ref.id
    return out


def plan_document(
    plan: Plan,
    budget: Budget | None = None,
    endpoint: str | None = None,
    usage: UsageReport | None = None,
    partial: str = "",
    account: dict[str, str] | None = None,
) -> dict[str, Any]:
    """``partial``: why the plan compared only part of the account (a budgeted check).

    ``account``: the binding to the account it was made for (``planfile.account_binding``);
    ``apply`` refuses a plan without one.
    """
    reasons = incomplete_reasons(plan) + ([partial] if partial else [])
    made = plan.provenance  # its fields sit where plans always had them: the format is unchanged
    doc: dict[str, Any] = {
        "format_version": PLAN_FORMAT_VERSION if plan.platform else V2_PLAN_FORMAT_VERSION,
        "beeplan_version": __version__,
        # Only for another platform than API v2: v2 plans read as they always did.
        **({"platform": plan.platform} if plan.platform else {}),
        # Near the top, as in every rendering; only when some setting is looser than
        # the defaults, so plans without one read as they always did.
        **({"loosened_safety": [
            {"setting": item.setting, "value": item.value, "default": item.default}
            for item in made.loosened
        ]} if made.loosened else {}),
        "endpoint": endpoint,
        **({"account": dict(account)} if account else {}),
        "plan_digest": plan_digest(plan),
        "changes_present": not plan.empty,
        "applyable": not plan.empty and not plan.problems,
        "complete": not reasons,
        "incomplete_reasons": reasons,
        "summary": plan.counts(),
        "calls": {
            "read": plan.read_calls,
            "apply": len(plan.actions),
            "left_today": budget.left_today if budget else None,
            # a platform without a daily quota: bytes read and requests the apply sends
            **({"read_bytes": budget.read_bytes, "apply_requests": budget.apply_requests}
               if budget is not None and budget.read_bytes is not None else {}),
        },
        "actions": [
            {
                "id": a.id,
                "op": a.op,
                "target": _ref(a.target),
                "name": a.name,
                "service": a.service,
                "payload": a.payload,
                "phase": a.phase,
                "depends_on": list(a.depends_on),
                "changes": [
                    {"field": c.field, "before": c.before, "after": c.after} for c in a.changes
                ],
                "relation": a.relation,
                "detail": a.detail,
                **before_after(a, plan.platform),
            }
            for a in plan.actions
        ],
        "unmanaged": [{**_ref(u.ref), "name": u.name, "active": u.active} for u in plan.unmanaged],
        "problems": list(plan.problems),
        "warnings": list(plan.warnings),
        "destroy_violations": list(plan.destroy_violations),
        "diagnostics": [
            {"severity": n.level, "summary": n.message, "file": n.file, "line": n.line}
            for n in plan_annotations(plan)
        ],
        "fingerprints": dict(sorted(plan.fingerprints.items())),
        "read_relations": {k: list(v) for k, v in sorted(plan.read_relations.items())},
        # Only under prune, so plans without it read as they always did.
        **({"prune": True} if plan.prune else {}),
        **({"unmanaged_kinds": dict(plan.unmanaged_kinds)} if plan.unmanaged_kinds else {}),
    }
    if plan.changed_by or plan.changed_by_notes:  # only when looked up: others read as before
        doc["changed_by"] = [
            {"target": _ref(c.target), "text": c.text, "person": c.person, "email": c.email,
             "at": c.at, "operations": list(c.operations)}
            for c in plan.changed_by
        ]
        doc["changed_by_notes"] = list(plan.changed_by_notes)
    if made.targeted:
        doc["targeted"] = {"since": made.targeted, "entries": made.targeted_entries}
    if usage is not None:
        _add_usage(doc, plan, usage)
    if made.manifest_digest:
        doc["manifests"] = {"path": made.manifest_path, "digest": made.manifest_digest}
        if made.manifest_paths:  # several sets, merged in this order
            doc["manifests"]["paths"] = list(made.manifest_paths)
    if made.variables:  # only when ${NAME} was used: other plans read as they always did
        doc["variables"] = dict(sorted(made.variables.items()))
    return doc


def incomplete_reasons(plan: Plan) -> list[str]:
    """Why applying this plan would not bring the whole account to the manifests."""
    reasons = []
    since = plan.provenance.targeted
    if since:
        reasons.append(f"targeted: only the entries changed since {since} were planned")
    if plan.problems:
        reasons.append(f"problems: {len(plan.problems)} impossible change(s) are not planned")
    return reasons


def before_after(action: Action, platform: str = "") -> dict[str, Any]:
    """The entity's values this action changes, as they are and as they will be.

    ``null`` before a create and after a delete; an attach or detach changes
    one membership, written ``relation[member]`` (true: a member). ``platform``:
    the plan's (another platform's payloads name the member otherwise: its label is
    read from the link the action shows).
    """
    if action.op in ("attach", "detach") and (platform or action.relation in RELATION_SERVICES):
        if platform:
            label = _shown_member(action.detail)
        else:
            label = _member_label(action.payload.get(RELATION_SERVICES[action.relation][2]))
        key = f"{action.relation}[{label}]"
        return {"before": {key: action.op == "detach"}, "after": {key: action.op == "attach"}}
    before = {c.field: c.before for c in action.changes}
    after = {c.field: c.after for c in action.changes}
    if action.op == "create":
        return {"before": None, "after": after}
    if action.op == "delete":
        return {"before": before or {"exists": True}, "after": None}
    return {"before": before, "after": after}


def _shown_member(detail: str) -> str:
    """``jane`` of ``managers += person jane (Jane Clark)`` (``link_detail``)."""
    rest = detail.partition("= ")[2].partition(" ")[2]
    return rest.rsplit(" (", 1)[0] if rest.endswith(")") else rest


def _member_label(member: Any) -> str:
    if isinstance(member, dict):
        if member.get("xid") is not None:
            return str(member["xid"])
        if member.get("id") is not None:
            return f"#{member['id']}"
    return str(member)


def _add_usage(doc: dict[str, Any], plan: Plan, usage: UsageReport) -> None:
    """The hours lookup: a usage object on each deactivation looked up, and its cost."""
    doc["calls"]["usage"] = usage.calls
    doc["usage"] = {
        "days": usage.days,
        "from": usage.start,
        "to": usage.end,
        "calls": usage.calls,
        "jobs": usage.jobs,
        "not_looked_up": list(usage.not_looked_up),
        "notes": list(usage.notes),
    }
    for action, out in zip(plan.actions, doc["actions"], strict=True):
        found = usage.of(action.target) if action.op == "deactivate" else None
        if found is not None:
            out["usage"] = {
                "days": usage.days,
                "hours": found.hours,
                "people": found.people,
                "last": found.last,
            }


def plan_to_json(
    plan: Plan,
    budget: Budget | None = None,
    endpoint: str | None = None,
    usage: UsageReport | None = None,
    partial: str = "",
    account: dict[str, str] | None = None,
) -> str:
    doc = plan_document(plan, budget, endpoint, usage, partial, account)
    return json_text(doc) + "\n"


def plan_schema() -> dict[str, Any]:
    text = resources.files("beeplan").joinpath("schemas/plan.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def validate_plan_document(doc: Any, source: str = "plan file") -> None:
    """Refuse a plan file that does not match schemas/plan.schema.json, saying where."""
    import jsonschema  # here: only reading a plan file needs it, not --help or validate

    validator = jsonschema.Draft202012Validator(plan_schema())
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"  {_where(doc, list(e.absolute_path))}: {e.message}" for e in errors[:10]]
        raise PlanError(f"{source} is not a valid beeplan plan:\n" + "\n".join(lines))


def _where(doc: Any, path: list[Any]) -> str:
    """``actions/3`` names the action too (``action 'x'``): that is what a reviewer looks for."""
    where = "/".join(str(p) for p in path) or "(top)"
    if len(path) >= 2 and path[0] == "actions" and isinstance(path[1], int):
        try:
            action_id = doc["actions"][path[1]].get("id")
        except (AttributeError, IndexError, KeyError, TypeError):
            return where
        if isinstance(action_id, str):
            where += f" (action {action_id!r})"
    return where


def plan_from_json(text: str, source: str = "plan file") -> tuple[Plan, dict[str, Any]]:
    """Parse a saved plan; returns the plan and the raw document (for its endpoint)."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise PlanError(f"{source} is not JSON: {exc}") from None
    except RecursionError:  # nesting deeper than any plan: a hostile file, not a traceback
        raise PlanError(f"{source} is not a beeplan plan (nested too deeply)") from None
    if not isinstance(doc, dict) or "format_version" not in doc:
        raise PlanError(f"{source} is not a beeplan plan (no format_version)")
    check_format_version(doc["format_version"], source)
    validate_plan_document(doc, source)

    def ref(obj: dict[str, Any]) -> Ref:
        return Ref(obj["kind"], xid=obj.get("xid"), id=obj.get("id"))

    actions = tuple(
        Action(
            id=a["id"],
            op=a["op"],
            kind=a["target"]["kind"],
            target=ref(a["target"]),
            name=a["name"],
            service=a["service"],
            payload=a["payload"],
            phase=a["phase"],
            depends_on=tuple(a["depends_on"]),
            changes=tuple(Change(c["field"], c["before"], c["after"]) for c in a["changes"]),
            relation=a.get("relation", ""),
            detail=a.get("detail", ""),
        )
        for a in doc["actions"]
    )
    plan = Plan(
        actions=actions,
        unmanaged=tuple(
            Unmanaged(ref(u), u["name"], u["active"]) for u in doc.get("unmanaged", [])
        ),
        problems=tuple(doc.get("problems", [])),
        warnings=tuple(doc.get("warnings", [])),
        fingerprints=dict(doc.get("fingerprints", {})),
        read_relations={k: tuple(v) for k, v in doc.get("read_relations", {}).items()},
        destroy_violations=tuple(doc.get("destroy_violations", [])),
        read_calls=int(doc.get("calls", {}).get("read", 0)),
        prune=bool(doc.get("prune", False)),
        unmanaged_kinds=dict(doc.get("unmanaged_kinds", {})),
        provenance=_provenance(doc),
        changed_by=tuple(
            ChangedBy(ref(c["target"]), c["text"], c.get("person"), c.get("email"),
                      c.get("at"), tuple(c.get("operations", ())))
            for c in doc.get("changed_by", [])),
        changed_by_notes=tuple(doc.get("changed_by_notes", [])),
        platform=str(doc.get("platform", "")),
    )
    return plan, doc


def _provenance(doc: dict[str, Any]) -> Provenance:
    """What a saved plan says it was made from (``plan_document`` writes it)."""
    manifests, targeted = doc.get("manifests", {}), doc.get("targeted", {})
    return Provenance(
        manifest_path=manifests.get("path", ""),
        manifest_digest=manifests.get("digest", ""),
        variables=dict(doc.get("variables", {})),
        manifest_paths=tuple(manifests.get("paths", ())),
        targeted=str(targeted.get("since", "")),
        targeted_entries=int(targeted.get("entries", 0) or 0),
        loosened=tuple(Loosened(item["setting"], item["value"], item["default"])
                       for item in doc.get("loosened_safety", [])),
    )


def format_version(text: Any) -> tuple[int, int] | None:
    """``(major, minor)`` of a "MAJOR.MINOR" format_version; None when it is not one."""
    if not isinstance(text, str):
        return None
    major, dot, minor = text.partition(".")
    if not (dot and major.isdigit() and minor.isdigit()):
        return None
    return int(major), int(minor)


def check_format_version(value: Any, source: str = "plan file") -> None:
    """Refuse a plan of another major format version (newer or older); any minor reads."""
    ours = format_version(PLAN_FORMAT_VERSION)
    assert ours is not None
    theirs = format_version(value)
    if theirs is None or theirs[0] != ours[0]:
        newer = theirs is not None and theirs[0] > ours[0]
        why = ("a newer beeplan made it: upgrade beeplan to apply it" if newer
               else "make the plan again with this version")
        raise PlanError(
            f"{source} has plan format {json.dumps(value)}; this beeplan reads format "
            f"{ours[0]}.x (up to {PLAN_FORMAT_VERSION}): {why}."
        )
