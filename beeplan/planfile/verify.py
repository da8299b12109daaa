"""A saved plan is data, not a script: the checks ``apply plan.json`` makes before any call.

A plan file travels (a CI artifact from the PR job to the merge job), so
anyone who can touch it could otherwise make apply call any service with
any payload. Nothing in it is trusted:

- each action is rebuilt from what it shows (op, target, name, relation,
  detail, changes) with the planner's own ``build_action``; its id, service,
  payload and phase must be the rebuilt ones, so no call outside the
  planner's vocabulary runs and what is shown is what is sent;
- action ids are unique, dependencies name actions of the plan and form no
  cycle; every target is fingerprinted (its live state is then re-checked);
- the account is required and must be this one: the plan records a salted
  fingerprint of the token it was made with (``account_binding``), checked
  before anything else and before any API call;
- the endpoint is required and must be this one; the recorded digest must
  match the plan's content, and the manifests, when at hand, their digest;
- ``--manifests`` names the manifests being applied: a plan recording other
  paths (compared resolved) is refused; without it, the recorded paths are
  used and ``apply`` says which, calling out a hidden or outside folder;
- impossible changes and the safety threshold are recomputed by ``apply``
  from the actions and the live account, never read from the file.

Every refusal is one ``PlanError`` naming the first offending action and why.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ManifestError, PlanError, Problem
from ..model import State, entity_key
from ..planner import Action, ActionError, Plan, build_action, plan_digest
from ..safetext import printable

if TYPE_CHECKING:
    from ..platforms.base import Client

PAYLOAD_SHOWN = 160  # characters of an expected payload quoted in a refusal


def manifest_digest(
    path: str | Path | Sequence[str | Path], variables: Mapping[str, str | None] | None = None
) -> str:
    """A hash of the manifest set at ``path``: each file's path (below it) and bytes.

    Several paths (merged sets): a hash of each set's digest, in order, so the
    same sets in another order (another merge) have another digest.
    With ``variables`` (what the sets' ``${NAME}`` read, see ``State.variables``)
    their values too: the same files with STAGE=a and STAGE=b are two sets.
    Without any, the digest is the files' alone, as before variables existed.
    """
    if not isinstance(path, (str, os.PathLike)):
        paths = list(path)
        if len(paths) == 1:
            return manifest_digest(paths[0], variables)
        digest = hashlib.sha256(b"beeplan manifest sets\0")
        for one in paths:
            digest.update(f"{manifest_digest(one)}\n".encode())
        _digest_variables(digest, variables)
        return digest.hexdigest()
    from ..manifest import boundary_of, manifest_files, read_manifest

    root = Path(path)
    boundary = boundary_of(root)
    digest = hashlib.sha256()
    for file in manifest_files(root, boundary):
        name = file.relative_to(root).as_posix() if root.is_dir() else file.name
        if not file.is_file():  # a path a plan file names may be /dev/zero or a FIFO
            raise PlanError(printable(f"{file} is not a regular file: it cannot be a manifest"))
        try:  # the loader's own rules: no FIFO, no outside link, at most 5 MiB
            data = read_manifest(file, boundary)
        except ValueError as exc:  # changed since the walk: refused the same way
            raise ManifestError([Problem(str(file), None, "", str(exc))]) from None
        # Lengths first, so no two different sets hash the same bytes.
        digest.update(f"{len(name.encode())}:{name}{len(data)}:".encode())
        digest.update(data)
    _digest_variables(digest, variables)
    return digest.hexdigest()


def _digest_variables(digest: Any, variables: Mapping[str, str | None] | None) -> None:
    """Add what ``${NAME}`` read to ``digest``; nothing when no variable was read."""
    if variables:
        text = json.dumps(sorted(variables.items()), ensure_ascii=False)
        digest.update(f"variables:{len(text.encode())}:{text}".encode())


def account_binding(client: Client, plan: Plan, endpoint: str) -> dict[str, str]:
    """What a saved plan records of the account it was made for, and its seal.

    ``fingerprint``: a salted HMAC of the token (``Client.token_fingerprint``):
    never the token, never the endpoint alone (the same URL for every Beebole
    customer). ``seal``: the same keyed by the plan's digest and endpoint, so
    a binding copied from another plan of this account does not fit.
    """
    salt = secrets.token_hex(16)
    return {
        "binding": BINDING,
        "salt": salt,
        "fingerprint": client.token_fingerprint(salt),
        "seal": client.token_fingerprint(salt, seal_text(plan, endpoint)),
    }


BINDING = "token-hmac-sha256"


def seal_text(plan: Plan, endpoint: str) -> str:
    """What a plan's seal is keyed by: its endpoint and digest (which covers its actions,
    fingerprints and manifests digest)."""
    return f"{endpoint}\0{plan_digest(plan)}"


def check_account(doc: Mapping[str, Any], client: Client, source: str) -> None:
    """Refuse a plan made with another token (another account): before any API call."""
    account = doc.get("account")
    if not isinstance(account, Mapping) or account.get("binding") != BINDING:
        raise _refuse(source, None, "it records no account it was made for (made by an older "
                      "beeplan, or the field was removed); make a new plan with this token")
    salt, recorded, seal = account.get("salt"), account.get("fingerprint"), account.get("seal")
    if not all(isinstance(v, str) for v in (salt, recorded, seal)):
        raise _refuse(source, None, "its account binding is malformed; make a new plan")
    assert isinstance(salt, str) and isinstance(recorded, str) and isinstance(seal, str)
    if not hmac.compare_digest(client.token_fingerprint(salt), recorded):
        raise PlanError(printable(
            f"{source} was made for another account: the API token in use (BEEBOLE_TOKEN or "
            "--token-file) is not the one it was planned with. Apply it with the token of "
            "the account it was made for, or make a new plan for this account. "
            "Nothing was applied."))


def check_seal(doc: Mapping[str, Any], plan: Plan, client: Client, source: str) -> None:
    """Refuse a plan whose content is not what this token's account planned (after
    ``check_account`` and ``check_document``, which say more precisely what is wrong)."""
    account = doc["account"]
    endpoint = doc.get("endpoint")
    sealed = seal_text(plan, endpoint if isinstance(endpoint, str) else "")
    if not hmac.compare_digest(client.token_fingerprint(account["salt"], sealed),
                               account["seal"]):
        raise _refuse(source, None, "its content is not what was planned with this account's "
                      "token (edited after it was made, or its account binding copied from "
                      "another plan); make a new plan")


def recorded_paths(plan: Plan) -> tuple[str, ...]:
    """The manifest path(s) a plan records, in order."""
    return plan.provenance.paths


def _shown(paths: Sequence[str | Path]) -> str:
    return " ".join(str(p) for p in paths)


def unusual_path(path: str) -> str:
    """Why a recorded manifest path deserves a look (hidden, outside here), or ''."""
    parts = Path(path).parts
    if any(part.startswith(".") and part not in (".", "..") for part in parts):
        return "a hidden (dot) folder"
    here = Path.cwd().resolve()
    resolved = Path(path).resolve()
    if resolved != here and here not in resolved.parents:
        return f"outside the current directory ({here})"
    return ""


def manifests_line(plan: Plan, given: Sequence[Path], source: str) -> str:
    """The first line ``apply PLANFILE`` prints: which manifests the plan is verified against."""
    recorded = recorded_paths(plan)
    if given:
        return printable(f"Applying {source}, made from {_shown(recorded)}: the manifests named "
                         "by --manifests, unchanged since.")
    if not recorded:
        return printable(f"Applying {source}: it records no manifests to verify it against.")
    if not all(Path(p).exists() for p in recorded):
        return printable(f"Applying {source}, made from {_shown(recorded)}, which are not here: "
                         "not verified (pass --manifests PATH).")
    line = (f"Applying {source}, verified against the manifests it records: {_shown(recorded)} "
            "(unchanged since; --manifests PATH names the ones you mean).")
    for path in recorded:
        why = unusual_path(path)
        if why:
            line += (f" Note: {path} is {why}: check that these are the manifests you "
                     "reviewed, or pass --manifests PATH.")
    return printable(line)


def _canonical(value: Any) -> str:
    # sort_keys, and JSON's own types: true is not 1, "1" is not 1.
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def _refuse(source: str, action: Action | None, why: str) -> PlanError:
    what = f"action {action.id!r}: " if action is not None else ""
    return PlanError(printable(f"{source} refused: {what}{why}. Nothing was applied."))


def _custom_field_ids(actions: tuple[Action, ...], source: str) -> dict[str, int]:
    """The custom field ids the plan's set/clear actions send, one per field name.

    They cannot be rebuilt from the file alone; ``apply`` compares them with
    the account's own ids before any write.
    """
    ids: dict[str, int] = {}
    for action in actions:
        if action.op not in ("set", "clear") or not action.changes:
            continue
        name = action.changes[0].field.partition(".")[2]
        value = action.payload.get("customField")
        field_id = value.get("id") if isinstance(value, Mapping) else None
        if not isinstance(field_id, int) or isinstance(field_id, bool):
            raise _refuse(source, action, "its payload names no custom field id")
        if ids.setdefault(name, field_id) != field_id:
            raise _refuse(source, action, f"custom field {name!r} has two different ids")
    return ids


def check_actions(plan: Plan, source: str) -> None:
    """Refuse actions the planner would not have made exactly so."""
    seen: set[str] = set()
    for action in plan.actions:
        if action.id in seen:
            raise _refuse(source, action, "a second action with this id")
        seen.add(action.id)
    ids = _custom_field_ids(plan.actions, source)
    for action in plan.actions:
        try:
            rebuilt = build_action(
                action.op,
                action.kind,
                action.target,
                action.name,
                relation=action.relation,
                detail=action.detail,
                changes=action.changes,
                depends_on=action.depends_on,
                custom_field_ids=ids,
            )
        except ActionError as exc:
            raise _refuse(source, action, f"beeplan never plans this ({exc})") from None
        if action.service != rebuilt.service:
            raise _refuse(
                source,
                action,
                f"it calls {action.service}, but {action.op} on {action.target} "
                f"calls {rebuilt.service}",
            )
        if _canonical(action.payload) != _canonical(rebuilt.payload):
            expected = _canonical(rebuilt.payload)
            if len(expected) > PAYLOAD_SHOWN:
                expected = expected[:PAYLOAD_SHOWN] + "..."
            raise _refuse(
                source,
                action,
                f"its payload is not the one its op, target and changes make ({expected})",
            )
        if action.id != rebuilt.id:
            raise _refuse(source, action, f"its id does not match what it does ({rebuilt.id})")
        if action.phase != rebuilt.phase:
            raise _refuse(source, action, f"its phase is {action.phase}, not {rebuilt.phase}")


def check_dependencies(plan: Plan, source: str) -> None:
    """Dependencies name actions of this plan and form no cycle."""
    by_id = {a.id: a for a in plan.actions}
    for action in plan.actions:
        for dep in action.depends_on:
            if dep not in by_id:
                raise _refuse(source, action, f"it depends on {dep!r}, which is not in the plan")
            if dep == action.id:
                raise _refuse(source, action, "it depends on itself")
    # Iterative depth-first search: white 0, on the current path 1, done 2.
    state = dict.fromkeys(by_id, 0)
    for start in by_id:
        if state[start]:
            continue
        stack = [(start, iter(by_id[start].depends_on))]
        state[start] = 1
        while stack:
            node, deps = stack[-1]
            dep = next(deps, "")
            if not dep:
                state[node] = 2
                stack.pop()
            elif state[dep] == 1:
                raise _refuse(source, by_id[dep], "its dependencies form a cycle")
            elif state[dep] == 0:
                state[dep] = 1
                stack.append((dep, iter(by_id[dep].depends_on)))


def check_fingerprints(plan: Plan, source: str) -> None:
    """Every target's live state was recorded, with exactly the relations its actions change.

    The planner fingerprints the targets of its actions and nothing else, so
    a fingerprint of anything else would only make apply read what it names.
    """
    wanted: dict[str, set[str]] = {}
    for action in plan.actions:
        key = entity_key(action.target)
        rels = wanted.setdefault(key, set())
        if action.relation:
            rels.add(action.relation)
        if key not in plan.fingerprints:
            raise _refuse(source, action, f"its target {key} has no fingerprint")
        covered = plan.read_relations.get(key)
        if covered is None or (action.relation and action.relation not in covered):
            raise _refuse(
                source, action, f"the fingerprint of {key} does not cover {action.relation or 'it'}"
            )
    for key in sorted(set(plan.fingerprints) | set(plan.read_relations)):
        if key not in wanted:
            raise _refuse(source, None, f"it fingerprints {key}, which no action acts on")
        if set(plan.read_relations.get(key, ())) != wanted[key]:
            raise _refuse(
                source, None, f"the fingerprint of {key} covers other relations than its actions"
            )


def check_document(plan: Plan, doc: Mapping[str, Any], endpoint: str, source: str) -> None:
    """Every check of a plan file that needs no API call; raises ``PlanError``."""
    check_endpoint(doc, endpoint, source)
    check_actions(plan, source)
    check_dependencies(plan, source)
    check_fingerprints(plan, source)
    check_digest(plan, doc, source)


def check_endpoint(doc: Mapping[str, Any], endpoint: str, source: str) -> None:
    """A plan applies only against the endpoint it was made on."""
    recorded = doc.get("endpoint")
    if not isinstance(recorded, str) or not recorded:
        raise _refuse(source, None, "it records no endpoint; make a new plan with this beeplan")
    if recorded != endpoint:
        raise PlanError(
            f"{source} was made against {recorded}, not {endpoint}; "
            "make a new plan against this endpoint"
        )


def check_digest(plan: Plan, doc: Mapping[str, Any], source: str) -> None:
    """The recorded digest is the plan's content's."""
    digest = plan_digest(plan)
    if "plan_digest" not in doc:
        raise _refuse(source, None, "it records no plan digest; make a new plan with this beeplan")
    if doc.get("plan_digest") != digest:
        raise _refuse(
            source,
            None,
            f"its content has digest {digest}, not the recorded {doc.get('plan_digest')!r} "
            "(edited after it was made?)",
        )


def check_manifests(plan: Plan, given: Sequence[Path], source: str) -> State | None:
    """The manifests the plan was made from, when at hand: refused if they changed since.

    ``given`` is ``--manifests`` (in order): refused unless they are the
    paths the plan records (compared resolved), then their digest. Without
    it, the paths the plan records, when they exist (the same checkout in a
    later CI job). None: nothing to check.
    """
    recorded = recorded_paths(plan)
    paths: Sequence[Path]
    if given:
        if not recorded:
            raise _refuse(source, None, f"it records no manifest path to check "
                          f"--manifests {_shown(given)} against; make a new plan")
        if [Path(p).resolve() for p in recorded] != [Path(p).resolve() for p in given]:
            raise PlanError(printable(
                f"{source} was made from the manifests at {_shown(recorded)}, not "
                f"{_shown(given)} (--manifests): a saved plan applies only with the "
                f"manifests it was made from. Make a new plan: beeplan plan {_shown(given)} "
                "-o FILE. Nothing was applied."))
        paths = list(given)
    else:
        if not recorded:
            return None
        missing = [p for p in recorded if not Path(p).exists()]
        if missing:
            logging.getLogger("beeplan").warning(
                "%s",
                printable(
                    f"the manifests {source} was made from ({_shown(missing)}) are not "
                    "here: their digest is not checked (pass --manifests PATH), and the "
                    "safety threshold counts every removal as if the account were empty"
                ),
            )
            return None
        for path in recorded:
            why = unusual_path(path)
            if why:
                logging.getLogger("beeplan").warning("%s", printable(
                    f"{source} records the manifests at {path}, {why}: check that these "
                    "are the manifests you reviewed (apply PLANFILE --manifests PATH)"))
        paths = [Path(p) for p in recorded]
    shown = _shown(paths)
    made = plan.provenance
    if not made.manifest_digest:
        raise _refuse(source, None, f"it records no manifest digest to check {shown} against")
    # The variables the plan says the manifests read, as this environment has them.
    now = {name: os.environ.get(name) for name in made.variables}
    digest = manifest_digest(paths, now)
    if digest != made.manifest_digest:
        changed = sorted(name for name in now if now[name] != made.variables[name])
        if changed and manifest_digest(paths, made.variables) == made.manifest_digest:
            raise _refuse(source, None, _variables_changed(changed, made.variables, now))
        raise _refuse(
            source,
            None,
            f"the manifests at {shown} are not the ones it was made from "
            f"(digest {digest[:12]}, the plan's {made.manifest_digest[:12]}); make a new plan",
        )
    from ..manifest import load
    from ..manifest._written import WrittenForOther

    try:
        desired = load(paths)
    except WrittenForOther:
        return None  # another platform's set, its digest checked: its engine loads it
    if plan.platform:  # a plan of another platform from a v2 set: not what it was made from
        raise _refuse(source, None, f"the manifests at {shown} are written for API v2, not "
                      f"for the {plan.platform} platform it was made for; make a new plan")
    if dict(desired.variables) != now:  # the file's list of variables was edited
        raise _refuse(source, None, f"the variables it records are not the ones the manifests "
                      f"at {shown} read ({', '.join(desired.variables) or 'none'}); "
                      "make a new plan")
    if desired.settings.loosened() != made.loosened:
        # The list apply shows first is outside the plan digest: a file that
        # drops it would apply a prune or a raised threshold unannounced.
        raise _refuse(source, None, "the loosened safety settings it records are not the ones "
                      f"of the manifests at {shown}; make a new plan")
    return desired


def _variables_changed(names: list[str], then: Mapping[str, str | None],
                       now: Mapping[str, str | None]) -> str:
    def shown(value: str | None) -> str:
        return "unset" if value is None else json.dumps(value, ensure_ascii=False)

    parts = [f"{name} was {shown(then[name])}, now {shown(now[name])}" for name in names]
    return ("the environment variables its manifests read have changed since it was made ("
            + "; ".join(parts) + "): set them as they were, or make a new plan with these values")
