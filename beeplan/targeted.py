"""Targeted plans: plan only what changed in the manifests since BASE (``--changed-since``).

A pull request changes a handful of entries; reading the whole account to
plan them costs calls in proportion to the account. Here the two manifest
sets are diffed offline, and only what the changed entries need is read:

- each changed, added or removed entity: one get, by xid (or id);
- the relation keys that changed on it (one listing per relation service);
- the parent of each new entity (so the create can rely on it);
- ``custom_field.list`` when a changed relation sets custom fields.

Every other declared entity stands in the live state as a *stub*: the entity
as the manifests declare it, i.e. as the account was when it last matched
BASE. The planner then runs unchanged on these reduced states, so the
changed entries get exactly the actions a full plan would give them, and
the safety threshold counts what the manifests declare. Drift outside the
changed entries is not looked for: that is ``beeplan check``'s job.
"""

from __future__ import annotations

import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from .errors import ConfigError, ManifestError
from .live import LiveReader
from .model import CustomField, Entity, Index, Ref, State, entity_key, same_relation
from .planner import Plan, make_plan

ADDED, CHANGED, REMOVED = "added", "changed", "removed"


@dataclass(frozen=True)
class EntryChange:
    """One manifest entry that differs between BASE and PATH."""

    how: str  # added | changed | removed
    entity: Entity  # the PATH version (the BASE version for a removed one)
    relations: frozenset[str]  # relation keys to read and plan (changed, or all of a new one)

    @property
    def key(self) -> str:
        return entity_key(self.entity.ref)


@dataclass(frozen=True)
class ManifestDiff:
    changes: tuple[EntryChange, ...]
    settings_changed: bool


def _identity(entity: Entity) -> tuple[str, str, object]:
    ref = entity.ref
    return (entity.kind, "xid", ref.xid) if ref.xid is not None else (entity.kind, "id", ref.id)


def _without_entities(state: State) -> State:
    # Variables are not settings: a ${NAME} used differently shows in its entries.
    return replace(state, entities=(), custom_fields=(), variables={})


def diff_manifests(base: State, new: State) -> ManifestDiff:
    """The entries of ``new`` that differ from ``base``, and the ones it dropped. Pure."""
    old_by_id = {_identity(e): e for e in base.entities}
    new_ids = set()
    changes: list[EntryChange] = []
    for entity in new.entities:
        ident = _identity(entity)
        new_ids.add(ident)
        before = old_by_id.get(ident)
        if before is None:
            changes.append(EntryChange(ADDED, entity, frozenset(entity.relations)))
            continue
        # A key dropped from the manifests is no longer managed: nothing to read or do.
        rels = frozenset(
            rel
            for rel, value in entity.relations.items()
            if rel not in before.relations or not same_relation(rel, before.relations[rel], value)
        )
        scalars_same = replace(before, relations={}) == replace(entity, relations={})
        if scalars_same and not rels:
            continue  # only unmanaged keys went away
        changes.append(EntryChange(CHANGED, entity, rels))
    for entity in base.entities:
        if _identity(entity) not in new_ids:
            changes.append(EntryChange(REMOVED, entity, frozenset()))
    return ManifestDiff(
        changes=tuple(changes),
        settings_changed=_without_entities(base) != _without_entities(new),
    )


# ---------------------------------------------------------------------------
# BASE: a manifest path, or a git revision of the repository holding PATH


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)
    except FileNotFoundError:
        raise ConfigError(
            "--changed-since names a git revision, but git is not installed"
        ) from None


def _inside_only(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo | None:
    """tarfile's "data" filter, skipping (not failing on) a link that leaves the tree."""
    try:
        return tarfile.data_filter(member, dest)
    except tarfile.FilterError:
        return None  # an absolute or outward symlink: as absent as the loader makes it


@contextmanager
def base_manifests(base: str, path: Path) -> Iterator[Path | None]:
    """The manifest path BASE stands for, as a local path for the duration.

    An existing file or directory is used as it is. Anything else is a git
    revision of the repository that holds ``path``: the manifests at the
    same place in that revision are extracted into a temporary directory.
    Yields None when the revision has no manifests at that place (all new).
    """
    as_path = Path(base)
    if as_path.exists():
        yield as_path
        return
    where = path.resolve()
    cwd = where if where.is_dir() else where.parent
    top = _git(cwd, "rev-parse", "--show-toplevel")
    if top.returncode != 0:
        raise ConfigError(
            f"--changed-since {base}: no such manifest file or directory, and {path} is not "
            "in a git repository (so it is not a git revision either)"
        )
    root = Path(top.stdout.decode().strip())
    commit = _git(cwd, "rev-parse", "--verify", "--quiet", f"{base}^{{commit}}")
    if commit.returncode != 0:
        raise ConfigError(
            f"--changed-since {base}: no such manifest path, nor a revision of the git "
            f"repository at {root} (fetch it first, e.g. 'git fetch origin main')"
        )
    rev = commit.stdout.decode().strip()
    rel = where.relative_to(root.resolve()).as_posix() or "."
    # Only the manifest folder, unless it holds symlinks (mode 120000): then
    # the whole revision, so one to a folder shared between environments
    # (../../common) resolves as it does in the checkout.
    listing = _git(root, "ls-tree", "-r", rev, "--", rel)
    links = any(line.startswith(b"120000 ") for line in listing.stdout.splitlines())
    archive = _git(root, "archive", "--format=tar", rev, *(() if links else ("--", rel)))
    tmp = Path(tempfile.mkdtemp(prefix="beeplan-base-"))
    try:
        if archive.returncode != 0:
            yield None  # the path did not exist at that revision
            return
        tar_path = tmp / "base.tar"
        tar_path.write_bytes(archive.stdout)
        tree = tmp / "tree"
        with tarfile.open(tar_path) as tar:
            tar.extractall(tree, filter=_inside_only)
        # The extracted revision stands for the work tree: the loader's
        # symlink boundary (beeplan.manifest._files) is the folder with a .git.
        (tree / ".git").mkdir(exist_ok=True)
        target = tree / rel
        yield target if target.exists() else None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def load_base(base: str, path: Path) -> State:
    """The desired state at BASE (empty when a git revision had no manifests there)."""
    from .manifest import load

    with base_manifests(base, path) as where:
        if where is None:
            return State()
        try:
            return load(where)
        except ManifestError as exc:
            text = str(exc)
            if not Path(base).exists():  # name the revision, not the temporary copy
                text = text.replace(str(where), f"{base}:{path}")
            raise ConfigError(
                f"--changed-since {base}: the manifests there are invalid, so they cannot be "
                f"compared with {path}:\n{text}"
            ) from None


# ---------------------------------------------------------------------------
# Reading and planning


def _stub(entity: Entity) -> Entity:
    """A declared entity assumed to be live as declared (fields unknown: never compared)."""
    return replace(entity, fields={}, source=None, invite=False)


def _declared(entity: Entity, relations: frozenset[str] | None = None) -> Entity:
    """The desired entity, managing only ``relations`` (none by default)."""
    rels = {k: v for k, v in entity.relations.items() if relations and k in relations}
    return replace(entity, relations=rels)


@dataclass(frozen=True)
class TargetedPlan:
    plan: Plan
    live: State  # what was read (and stubs): the usage lookup finds live ids there
    changed: int  # entries changed since BASE
    full: bool  # True when it fell back to a full plan (settings changed)


def label(changed: int, base: str) -> str:
    entries = f"{changed} entr{'y' if changed == 1 else 'ies'}"
    return (
        f"targeted plan: {entries} changed since {base}; only those were read and planned. "
        "Drift elsewhere in the account is not checked here (that is 'beeplan check')."
    )


def plan_changes(
    reader: LiveReader,
    desired: State,
    diff: ManifestDiff,
    owed: frozenset[str] = frozenset(),
) -> tuple[Plan, State]:
    """Read what the changed entries need and plan them (see the module docstring).

    Returns the plan and the reduced live state it was made from.
    """
    client = reader.client
    before = client.usage.total_requests
    desired_index = Index(desired)
    changed_keys = {c.key for c in diff.changes}

    wanted: dict[Ref, tuple[str, ...]] = {}
    for change in diff.changes:
        wanted[change.entity.ref] = tuple(sorted(change.relations))
    # The parents of new entities, unless they are changed entries themselves.
    parents: dict[Ref, Entity] = {}
    for change in diff.changes:
        parent_ref = change.entity.parent if change.how == ADDED else None
        parent = desired_index.find(parent_ref)
        if parent is not None and entity_key(parent.ref) not in changed_keys:
            parents[parent.ref] = parent
            wanted.setdefault(parent.ref, ())
    read = _with_xids(reader, reader.read_entities(wanted), desired)
    custom_fields: tuple[CustomField, ...] = ()
    if any("customFields" in c.relations for c in diff.changes if c.how != REMOVED):
        found = client.call("custom_field.list").get("customFields", [])
        custom_fields = tuple(_custom_field(cf) for cf in found)

    live_entities: list[Entity] = []
    desired_entities: list[Entity] = []
    read_keys: set[str] = set()
    for change in diff.changes:
        have = read.get(change.entity.ref)
        if have is not None:
            read_keys.add(entity_key(change.entity.ref))
            # Unchanged relation keys are assumed as declared: they count for the threshold.
            assumed = {
                k: v for k, v in change.entity.relations.items() if k not in change.relations
            }
            live_entities.append(replace(have, relations={**assumed, **have.relations}))
        if change.how != REMOVED:
            desired_entities.append(_declared(change.entity, change.relations))
    for ref, parent in parents.items():
        have = read.get(ref)
        read_keys.add(entity_key(ref))
        if have is not None and have.active:
            # Present and usable: its own drift is not this plan's business.
            live_entities.append(replace(have, relations=parent.relations))
            desired_entities.append(replace(have, relations={}))
        else:
            # Missing or inactive: the new entries need it created or activated first.
            if have is not None:
                live_entities.append(have)
            desired_entities.append(_declared(parent))
    for entity in desired.entities:
        if entity_key(entity.ref) in read_keys or entity_key(entity.ref) in changed_keys:
            continue
        live_entities.append(_stub(entity))
        desired_entities.append(_declared(_stub(entity)))

    live = State(entities=tuple(live_entities), custom_fields=custom_fields)
    reduced = replace(desired, entities=tuple(desired_entities))
    return make_plan(reduced, live, client.usage.total_requests - before, owed), live


def _with_xids(
    reader: LiveReader, read: Mapping[Ref, Entity | None], desired: State
) -> dict[Ref, Entity | None]:
    """Relation values whose items the API named by id only get their xid, by a get each.

    A full plan learns every xid from the lists; here an item named by id
    alone would not match the manifests' xid, and the plan would detach and
    attach the same entity. The reference's answers carry the xid, so this
    normally reads nothing.
    """
    by_id = {
        (e.kind, e.ref.id): e.ref for e in read.values() if e is not None and e.ref.id is not None
    }
    adopted = {(e.kind, e.ref.id) for e in desired.entities if e.ref.xid is None}
    unknown = {
        Ref(r.kind, id=r.id)
        for e in read.values()
        if e is not None
        for value in e.relations.values()
        if isinstance(value, frozenset)
        for r in value
        if r.xid is None and (r.kind, r.id) not in by_id and (r.kind, r.id) not in adopted
    }
    if not unknown:
        return dict(read)
    for entity in reader.read_entities({ref: () for ref in unknown}).values():
        if entity is not None and entity.ref.id is not None:
            by_id[(entity.kind, entity.ref.id)] = entity.ref

    def fix(value: object) -> object:
        if not isinstance(value, frozenset):
            return value
        return frozenset(by_id.get((r.kind, r.id), r) if r.xid is None else r for r in value)

    return {
        ref: None
        if e is None
        else replace(e, relations={k: fix(v) for k, v in e.relations.items()})
        for ref, e in read.items()
    }


def _custom_field(obj: Mapping[str, object]) -> CustomField:
    return CustomField(
        int(str(obj["id"])), str(obj.get("name", "")), str(obj.get("availableFor", ""))
    )
