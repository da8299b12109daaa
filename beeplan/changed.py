"""Targeted plans: plan only what changed in the manifests since BASE (``--changed-since``).

A pull request changes a handful of entries; reading the whole account to
plan them costs calls in proportion to the account. Here the two manifest
sets are diffed offline, and only what the changed entries need is read:

- each changed, added or removed entity: one get, by xid (or id);
- the relation keys that changed on it (one listing per relation service);
- the parent of each new entity (so the create can rely on it);
- ``custom_field.list`` when a changed relation sets custom fields;
- for the full plan's checks on the changed entries (``read_for_checks``):
  the people of every company when a changed person has an email, the live
  siblings of each new entity, and a get of each ``{id: N}`` reference.

Every other declared entity stands in the live state as a *stub*: the entity
as the manifests declare it, i.e. as the account was when it last matched
BASE. The planner then runs unchanged on these reduced states, so the
changed entries get exactly the actions a full plan would give them, and
the safety threshold counts what the manifests declare. Only the stubs the
planner's lookups can reach are given to it (``_near``: at 10,000 people a
few dozen of 18,000); the rest are only counted, and the plan is the one
every stub gives. Drift outside the changed entries is not looked for: that
is ``beeplan check``'s job.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from . import preflight
from .errors import ConfigError, ManifestError
from .model import (
    KIND_ORDER,
    KINDS,
    CustomField,
    Entity,
    Index,
    Ref,
    Safety,
    Settings,
    State,
    entity_key,
    same_relation,
)
from .planner import Plan, make_plan, with_safety
from .platforms.base import Reader

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
    # Why a targeted plan cannot stand for the full one (settings or managed kinds
    # changed), one phrase each; empty when it can.
    full_reasons: tuple[str, ...] = ()


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
        if before is entity:  # BASE read from PATH's own files where they are the same bytes
            continue
        if before is None:
            changes.append(EntryChange(ADDED, entity, frozenset(entity.relations)))
            continue
        if before == entity and same_relation(  # most entries: equal in every part
            "customFields", before.relations.get("customFields"),
            entity.relations.get("customFields"),
        ):  # (== takes 1 for true: custom field values compare by meaning)
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
    for ident, entity in old_by_id.items():  # BASE's order (an identity is declared once)
        if ident not in new_ids:
            changes.append(EntryChange(REMOVED, entity, frozenset()))
    return ManifestDiff(
        changes=tuple(changes),
        settings_changed=_without_entities(base) != _without_entities(new),
        full_reasons=full_plan_reasons(base, new),
    )


def full_plan_reasons(base: State, new: State) -> tuple[str, ...]:
    """What changed since BASE that concerns entries no diff names. Pure.

    The settings and the kinds the manifests manage decide what happens to
    live entities the manifests do not name (prune, the safety threshold's
    counts, what is listed as unmanaged): only a full read can plan that.
    Each reason names what changed, so a deleted ``absences.yaml`` reads as
    what it is, not as a change of settings.
    """
    out: list[str] = []
    before, after = base.settings, new.settings
    if before.prune != after.prune:
        out.append(f"settings.prune changed ({str(before.prune).lower()} -> "
                   f"{str(after.prune).lower()})")
    if before.safety != after.safety:
        out.append("settings.safety changed")
    if _without_kinds(before) != _without_kinds(after):
        out.append("the settings changed")
    kinds_before, kinds_after = base.managed_kinds(), new.managed_kinds()  # a walk each
    lost = kinds_before - kinds_after
    gained = kinds_after - kinds_before
    if lost:
        out.append(f"{_plurals(lost)} are no longer managed "
                   "(no key for them in the manifests)")
    if gained:
        out.append(f"{_plurals(gained)} are newly managed")
    if not out and _without_entities(base) != _without_entities(new):
        out.append("the settings changed")  # a setting added later: still named as one
    return tuple(out)


def _without_kinds(settings: Settings) -> Settings:
    """The settings other than prune and safety (each named on its own)."""
    return replace(settings, prune=False, safety=Safety())


def _plurals(kinds: frozenset[str]) -> str:
    return ", ".join(KINDS[k].plural for k in KIND_ORDER if k in kinds)


# ---------------------------------------------------------------------------
# BASE: a manifest path, or a git revision of the repository holding PATH

REVISION_PREFIX = "git:"
BASE_SYNTAX = (
    "BASE is a manifest file or directory, or a git revision of the repository holding "
    "PATH (e.g. origin/main). A BASE that is both is refused: write ./origin/main for the "
    "path, git:origin/main for the revision."
)


@dataclass(frozen=True)
class Base:
    """BASE of ``--changed-since``, loaded offline (before any API call).

    ``unusable`` says why the plan cannot be targeted on it (its manifests are
    invalid): the plan is then a full one, with that reason as a warning, so
    the pull request that fixes a broken main still gets its plan.
    """

    state: State
    label: str  # BASE as given
    unusable: str = ""


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)
    except FileNotFoundError:
        raise ConfigError(
            "--changed-since names a git revision, but git is not installed"
        ) from None


def _is_explicit_path(base: str) -> bool:
    """``./x``, ``../x``, ``/x``: no git revision is written so (a ref never starts with .)."""
    return base.startswith(("/", "./", "../", "." + os.sep, ".." + os.sep)) or (
        os.sep != "/" and Path(base).is_absolute()
    )


def _inside_only(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo | None:
    """tarfile's "data" filter, skipping (not failing on) a link that leaves the tree."""
    try:
        return tarfile.data_filter(member, dest)
    except tarfile.FilterError:
        return None  # an absolute or outward symlink: as absent as the loader makes it


def _revision(rev: str, cwd: Path) -> tuple[Path, str] | None:
    """(repository root, commit of ``rev`` or "") of ``cwd``; None outside a repository."""
    top = _git(cwd, "rev-parse", "--show-toplevel")
    if top.returncode != 0:
        return None
    root = Path(top.stdout.decode().strip())
    commit = _git(cwd, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}")
    if commit.returncode != 0:
        return root, ""
    return root, commit.stdout.decode().strip()


def _not_found(base: str, rev: str, root: Path, cwd: Path) -> ConfigError:
    """BASE names no commit here: in a shallow clone, that is the usual cause (and the fix)."""
    shallow = _git(cwd, "rev-parse", "--is-shallow-repository").stdout.decode().strip() == "true"
    branch = rev.split("/", 1)[1] if rev.startswith("origin/") else ""
    # The refspec names the remote-tracking ref: a single-branch clone would
    # otherwise fetch the branch into FETCH_HEAD only, and origin/X still be missing.
    into = f"origin {branch}:refs/remotes/origin/{branch}"
    if shallow:
        fetch = (
            f"'git fetch --depth=1 {into}'" if branch
            else "'git fetch --unshallow' (or 'git fetch --deepen=N' for N more commits)"
        )
        return ConfigError(
            f"--changed-since {base}: the git repository at {root} is a shallow clone, which "
            f"does not hold {rev}. Fetch it first: {fetch}; in GitHub Actions, "
            "actions/checkout with 'fetch-depth: 0'"
        )
    fetch = f"'git fetch {into}'" if branch else "e.g. 'git fetch origin main'"
    return ConfigError(
        f"--changed-since {base}: no such manifest path, nor a revision of the git "
        f"repository at {root} (fetch it first: {fetch})"
    )


@contextmanager
def base_manifests(base: str, path: Path) -> Iterator[tuple[Path, str] | None]:
    """The manifest path BASE stands for, as a local path for the duration, and its name.

    ``git:REV`` is a revision; ``./X``, ``../X`` and absolute paths are paths;
    anything else is whichever of the two exists, and refused when both do
    (as git refuses an argument that is both a revision and a file): a pull
    request must not be able to turn ``origin/main`` into a folder of its own.
    A revision's manifests at the place of ``path`` are extracted into a
    temporary directory, named as git names it (``origin/main:manifests``).
    Yields None when the revision has no manifests there.
    """
    if not base.strip():  # Path("") is ".": an empty BASE would silently be the cwd
        raise ConfigError("--changed-since needs a BASE: a manifest path or a git revision")
    where = path.resolve()
    cwd = where if where.is_dir() else where.parent
    as_path: Path | None = None
    rev = base
    if base.startswith(REVISION_PREFIX):
        rev = base[len(REVISION_PREFIX):]
        if not rev:
            raise ConfigError(f"--changed-since {base}: name a git revision after 'git:'")
    elif _is_explicit_path(base) or shutil.which("git") is None:
        if not Path(base).exists():
            raise ConfigError(f"--changed-since {base}: no such manifest file or directory")
        yield Path(base), base
        return
    else:
        as_path = Path(base)
    found = _revision(rev, cwd)
    if found is None:
        if as_path is not None and as_path.exists():
            yield as_path, base
            return
        raise ConfigError(
            f"--changed-since {base}: no such manifest file or directory, and {path} is not "
            f"in a git repository (so {rev!r} is not a git revision either)"
        )
    root, commit = found
    if as_path is not None and as_path.exists():
        if not commit:
            yield as_path, base
            return
        raise ConfigError(
            f"--changed-since {base} is ambiguous: it is both a path here and a revision of "
            f"the git repository at {root}. Say which: --changed-since git:{base} for the "
            f"revision, --changed-since ./{base} for the path"
        )
    if not commit:
        raise _not_found(base, rev, root, cwd)
    rel = where.relative_to(root.resolve()).as_posix() or "."
    # Only the manifest folder, unless it holds symlinks (mode 120000): then
    # the whole revision, so one to a folder shared between environments
    # (../../common) resolves as it does in the checkout.
    listing = _git(root, "ls-tree", "-r", commit, "--", rel)
    links = any(line.startswith(b"120000 ") for line in listing.stdout.splitlines())
    archive = _git(root, "archive", "--format=tar", commit, *(() if links else ("--", rel)))
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
        yield (target, f"{rev}:{rel}") if target.exists() else None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def holds_manifests(path: Path) -> bool:
    """Whether ``path`` declares anything: a file, or a directory with a *.yaml/*.yml file.

    A base folder that holds only a ``.gitkeep`` or a README is an empty
    manifest set (a new team's first pull request), not an error. Same walk
    as ``manifest.manifest_files``: dot-names are skipped.
    """
    if not path.is_dir():
        return True
    for _, dirs, files in os.walk(path):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        if any(n.endswith((".yaml", ".yml")) and not n.startswith(".") for n in files):
            return True
    return False


def load_manifest_set(where: Path) -> State:
    """The manifests at ``where``; an existing folder without YAML is the empty set."""
    from .manifest import load

    return load(where) if holds_manifests(where) else State()


def read_base(base: str, path: Path, head: State | None = None) -> Base:
    """BASE loaded: its state, or why no targeted plan can be made on it.

    ``head``: the manifests at ``path``, loaded; BASE is then read only where
    its files differ from them (``partial_base``).
    """
    with base_manifests(base, path) as found:
        if found is None:
            return Base(State(), base)
        where, name = found
        try:
            partial = partial_base(where, path, head) if head is not None else None
            return Base(partial if partial is not None else load_manifest_set(where), base)
        except ManifestError as exc:
            shown = [str(p) for p in exc.problems[:3]]
            if str(where) != name:  # name the revision, not the temporary copy
                shown = [line.replace(str(where), name) for line in shown]
            more = len(exc.problems) - len(shown)
            return Base(State(), base, (
                f"the manifests at {base} are invalid ({'; '.join(shown)}"
                f"{f'; and {more} more' if more else ''}), so there is nothing to compare with"
            ))


def partial_base(where: Path, path: Path, head: State) -> State | None:
    """BASE at ``where`` as HEAD (``path``, loaded as ``head``) with only the files that
    differ read again; None when that cannot stand for loading BASE whole.

    A pull request changes a few files of a set: loading and validating BASE whole
    cost as much as HEAD again (about 1.5 s of CPU at 10,000 people, issue 24). A
    file with the same bytes declares the same entries on both sides, as long as
    what concerns every file is the same: no changed file holds settings, the
    changed files give the same xids to ids on both sides, the kinds BASE declares
    are known, and HEAD has no notes (warnings a plan repeats). Otherwise, and
    when most files changed, BASE is loaded whole. BASE's changed files are parsed
    and schema-checked; the checks across files (references, cycles) are HEAD's
    business: the diff only needs BASE's entries.
    """
    from .manifest import Part, boundary_of, manifest_files, part_facts, read_part

    if head.notes or not (where.is_dir() and path.is_dir()) or not holds_manifests(where):
        return None
    head_files = {f.relative_to(path).as_posix(): f for f in manifest_files(path)}
    base_files = {f.relative_to(where).as_posix(): f for f in manifest_files(where)}
    names = {str(f) for f in head_files.values()}
    if any(e.source is None or e.source.file not in names for e in head.entities):
        return None  # not the files this function sees: load BASE whole
    changed = sorted(
        rel for rel in head_files.keys() | base_files.keys()
        if rel not in head_files or rel not in base_files
        or head_files[rel].read_bytes() != base_files[rel].read_bytes()
    )
    if 2 * len(changed) > len(head_files | base_files):
        return None  # reading BASE whole costs about the same
    alias = {(e.kind, e.new_xid): e.ref.id for e in head.entities
             if e.new_xid is not None and e.ref.id is not None}
    try:  # HEAD's changed files: what load found in them, not a second parse
        our_kinds, our_aliases, our_settled = part_facts(
            [head_files[r] for r in changed if r in head_files], boundary_of(path), alias)
    except ManifestError:
        return None
    theirs: Part = read_part([base_files[r] for r in changed if r in base_files],
                             boundary_of(where), alias)
    if not (our_settled and theirs.settled) or our_aliases != theirs.aliases:
        return None
    gone = {str(head_files[r]) for r in changed if r in head_files}
    kept = [e for e in head.entities if e.source is not None and e.source.file not in gone]
    # The kinds BASE declares: those of its changed files, and those of the same files,
    # i.e. HEAD's less its changed files' own, unless a kept entry shows one is there too.
    kept_kinds = {e.kind for e in kept}
    if (our_kinds - theirs.declared_kinds) - kept_kinds:
        return None  # declared (perhaps empty) in HEAD's changed files: in a same file too?
    declared = (head.declared_kinds - our_kinds) | theirs.declared_kinds | kept_kinds
    order = {rel: n for n, rel in enumerate(sorted(head_files.keys() | base_files.keys()))}
    rank = {kind: n for n, kind in enumerate(KIND_ORDER)}
    by_name = {str(f): order[rel] for rel, f in (*head_files.items(), *base_files.items())}
    entities = sorted(  # as a whole load orders them: kinds, then files, then file order
        enumerate((*kept, *theirs.entities)),
        key=lambda item: (rank[item[1].kind],
                          by_name[item[1].source.file if item[1].source else ""], item[0]),
    )
    return replace(head, entities=tuple(e for _, e in entities), declared_kinds=declared)


def load_base(base: str, path: Path) -> State:
    """The desired state at BASE (empty when it has no manifests); invalid ones raise."""
    found = read_base(base, path)
    if found.unusable:
        raise ConfigError(f"--changed-since {base}: {found.unusable}")
    return found.state


# ---------------------------------------------------------------------------
# Reading and planning


def _copy(entity: Entity, **changes: Any) -> Entity:
    """``dataclasses.replace`` for the stubs of every unchanged entry (36,000 copies at
    10,000 people): Entity has no ``__post_init__`` to run, so its fields are copied
    as they are, at a quarter of the CPU."""
    copied: Entity = object.__new__(Entity)
    copied.__dict__.update(entity.__dict__, **changes)
    return copied


def _stub(entity: Entity) -> Entity:
    """A declared entity assumed to be live as declared (fields unknown: never compared)."""
    return _copy(entity, fields={}, source=None, invite=False)


def _given_its_xid(stub: Entity) -> Entity:
    """The live stub of an entry adopted by id and given an xid (``id: N`` with
    ``xid: X``): unchanged since BASE, the account has had X since BASE was applied."""
    if stub.new_xid is None or stub.ref.id is None:
        return stub
    return _copy(stub, ref=Ref(stub.kind, xid=stub.new_xid, id=stub.ref.id), new_xid=None)


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


def label(changed: int, base: str, checks: str = "") -> str:
    entries = f"{changed} entr{'y' if changed == 1 else 'ies'}"
    return (
        f"targeted plan: {entries} changed since {base}; only those were read and planned"
        f"{f' ({checks})' if checks else ''}. "
        "Drift elsewhere in the account is not checked here (that is 'beeplan check')."
    )


@dataclass(frozen=True)
class CheckReads:
    """What was read so the changed entries get the full plan's checks."""

    entities: tuple[Entity, ...] = ()  # listed siblings, people, and entities named by id
    looked_up: frozenset[Ref] = frozenset()  # references {id: N} looked up, found or not
    calls: int = 0
    why: tuple[str, ...] = ()  # what was read, and for which check

    def note(self) -> str:
        if not self.calls:
            return ""
        return (f"{self.calls} call{'s' if self.calls != 1 else ''} of them for the full "
                f"plan's checks on these entries: {'; '.join(self.why)}")


def _has_email(entity: Entity) -> bool:
    email = entity.fields.get("email")
    return entity.kind == "person" and isinstance(email, str) and bool(email.strip())


def _id_refs(entity: Entity) -> Iterator[Ref]:
    """The references by id alone that an entry holds: itself, its parent, its relations."""
    for ref in (entity.ref, entity.parent):
        if ref is not None and ref.xid is None and ref.id is not None:
            yield ref
    for rel in preflight.REF_RELATIONS:
        for ref in entity.relations.get(rel) or ():
            if ref.xid is None and ref.id is not None:
                yield ref


def _email_key(entity: Entity) -> str | None:
    """A person's email as the uniqueness check compares it (stripped, case-folded)."""
    return str(entity.fields["email"]).strip().casefold() if _has_email(entity) else None


def read_for_checks(
    reader: Reader, desired: State, diff: ManifestDiff, read: Mapping[Ref, Entity | None],
    desired_index: Index | None = None, every_person: bool = False,
) -> CheckReads:
    """Read the live entities that the full plan's checks compare the changed entries with.

    A full plan sees every live entity of a managed kind; a targeted one only
    the changed entries. Three checks look further, and get what they need here:
    - a person given an email: every live person (the API refuses an email
      another person holds), i.e. the companies and the people of each;
    - a new entity: its live siblings (same kind, same parent), so a new
      entry named like a live unmanaged entity is warned about;
    - a reference ``{id: N}`` (or an entry adopted by id): a get of that id,
      so one the account does not have is a problem, as in the full plan.

    Of the people listed for emails alone, only those holding a changed entry's
    email are kept (the check looks no further); ``every_person`` keeps them all,
    as the tests' reference.
    """
    client = reader.client
    before = client.usage.total_requests
    desired_index = desired_index or Index(desired)  # (``desired``'s, when the caller has it)
    current = [c.entity for c in diff.changes if c.how != REMOVED]
    known = {(e.kind, e.ref.id) for e in read.values() if e is not None}
    by_id = {ref for entity in current for ref in _id_refs(entity)}
    # What the planner's reads got (found, or absent: None) needs no second get.
    wanted = {ref: () for ref in by_id if (ref.kind, ref.id) not in known and ref not in read}
    got = reader.read_entities(wanted) if wanted else {}
    why: list[str] = []
    if wanted:
        why.append(f"{len(wanted)} entit{'y' if len(wanted) == 1 else 'ies'} named by id")

    wanted_emails = frozenset(k for k in map(_email_key, current) if k is not None)
    emails = bool(wanted_emails)
    top: set[str] = {"company"} if emails else set()
    under: dict[tuple[str, str, int], str] = {}  # (kind, parent kind, parent id) -> parent name
    for change in diff.changes:
        entity = change.entity
        if change.how != ADDED:
            continue
        if entity.parent is None or entity.kind == "group":
            top.add(entity.kind)  # companies and groups come in one list each
            continue
        declared = desired_index.find(entity.parent)
        live_parent = read.get(declared.ref) if declared is not None else got.get(entity.parent)
        if live_parent is None or live_parent.ref.id is None:
            continue  # a new or missing parent: no live siblings
        under[(entity.kind, entity.parent.kind, live_parent.ref.id)] = live_parent.name
    siblings = set(under)  # listed whole: any of them may be named like a new entry

    entities = [e for e in got.values() if e is not None]
    entities += [e for ref, e in read.items() if e is not None and ref in by_id]
    # The services each read calls, for the KB estimate that stops a fan-out before it
    # passes today's quota (a people list can be 95 KB, a relation 0.3 KB).
    tops = sorted(top)
    for found in reader.pmap(reader.list_top, tops,
                             ["group.tree" if k == "group" else "company.list" for k in tops]):
        entities += found
    if "company" in top:
        why.append("the company list")
    if "group" in top:
        why.append("the group tree")
    if emails:
        # Email uniqueness spans the account: the people of every company.
        for company in entities:
            if company.kind == "company" and company.ref.id is not None:
                under[("person", "company", company.ref.id)] = company.name
        why.append("the people of every company, for email uniqueness")
    calls = sorted(under)

    whole = set(under) if every_person else siblings

    def listing(call: tuple[str, str, int]) -> list[Entity]:
        return _listed_for_checks(reader, call, call in whole, wanted_emails)

    for found in reader.pmap(listing, calls, [f"{kind}.list" for kind, _, _ in calls]):
        entities += found
    named = sorted({f"{KINDS[k].plural} of {pk} {under[(k, pk, i)]!r}"
                    for k, pk, i in calls if not (emails and k == "person")})
    if named:
        why.append(", ".join(named) + ", for names like the new entries'")
    return CheckReads(
        tuple(entities), frozenset(by_id), client.usage.total_requests - before, tuple(why)
    )


def _listed_for_checks(
    reader: Reader, call: tuple[str, str, int], whole: bool, emails: frozenset[str]
) -> list[Entity]:
    """The entities of ``kind`` under a parent (kind, id): all of them, or only the
    people holding one of ``emails`` (a list of people read for emails alone)."""
    kind, parent_kind, parent_id = call
    if whole:
        return reader.list_under(kind, Ref(parent_kind, id=parent_id))
    return reader.people_with_emails(Ref(parent_kind, id=parent_id), emails)


def check_changes(
    plan: Plan, desired: State, live: State, changed: State, extra: CheckReads
) -> Plan:
    """The plan with the problems and warnings a full plan gives its changed entries.

    The preflight checks run again on the reduced live state completed with
    what ``extra`` read; what they find beyond the planner's own run is
    added. Only problems and warnings: the actions stay the planner's.
    ``changed`` holds the changed entries as declared (not the stubs).
    """
    if not extra.entities and not extra.looked_up:
        return plan
    ids = {(e.kind, e.ref.id) for e in extra.entities if e.ref.id is not None}
    xids = {(e.kind, e.ref.xid) for e in extra.entities if e.ref.xid is not None}
    kept = [
        e for e in live.entities
        if (e.kind, e.ref.id) not in ids and (e.kind, e.ref.xid) not in xids
    ]
    # Kinds whose ids were all looked up: an id missing there is missing from the account.
    complete = frozenset(ref.kind for ref in extra.looked_up)
    seen = State(entities=(*extra.entities, *kept), custom_fields=live.custom_fields,
                 complete_kinds=complete)
    index = Index(seen)
    desired_index = Index(State(entities=desired.entities))
    found = preflight.email_clashes(desired, seen, index, plan.actions)
    problems = [*found.problems]
    problems += preflight.unknown_ids(changed, seen, index, desired_index)
    # An entry adopted by id that the account lacks: the planner's own words, on it alone.
    for entity in changed.entities:
        if entity.ref in extra.looked_up and index.find(entity.ref) is None:
            alone = State(entities=(replace(entity, parent=None, relations={}),))
            problems += make_plan(alone, State(complete_kinds=frozenset({entity.kind}))).problems
    twins = preflight.replacements(index, desired_index, plan.actions)
    new_problems = [p for p in dict.fromkeys(problems) if p not in plan.problems]
    warnings = [w for w in twins if w not in plan.warnings]
    if not new_problems and not warnings:
        return plan
    return replace(
        plan,
        problems=(*plan.problems, *new_problems),
        warnings=(*plan.warnings, *warnings),
    )


def _refs_in(entity: Entity) -> Iterator[Ref]:
    """Every reference an entity holds: itself, its parent, its relation values, its new xid."""
    yield entity.ref
    if entity.parent is not None:
        yield entity.parent
    if entity.new_xid is not None:
        yield Ref(entity.kind, xid=entity.new_xid)  # whoever holds that xid already
    for value in entity.relations.values():
        if isinstance(value, frozenset):
            yield from value


def _near(
    desired: State, index: Index, planned: set[int], wants: list[Entity],
    seeds: Iterable[Entity],
) -> set[int]:
    """The unchanged entries (``id()`` of the declared entity) whose stubs the plan of the
    changed entries can tell from absent ones; the others only count.

    A stub is the same on both sides (no fields, no relations in the desired
    copy): it makes no action, and is claimed by itself, so it shows only where
    the planner and its checks look a reference up. Those lookups start at the
    changed entries, what was read for them (relation values, parents, siblings,
    holders of an email) and walk up parents; each reference finds a declared
    entry by its xid or its id, so both are taken. Also stubbed: an entry with
    ``id:`` and ``xid:`` (its stub is given the xid again, as in every targeted
    plan so far), and the first one holding text in a custom field a changed entry
    sets to true/false (the warning names it). ``planned``: the changed and read
    entries (``id()``), which are not stubbed; ``wants``: what the planner is given of them.
    """
    near: set[int] = set()
    todo: list[Ref] = []
    for entity in seeds:
        todo.extend(_refs_in(entity))
    bools = {name for e in wants for name, value in (e.relations.get("customFields") or {}).items()
             if isinstance(value, bool)}
    for entity in desired.entities:
        if entity.new_xid is not None and id(entity) not in planned:
            near.add(id(entity))
            todo.extend(_refs_in(entity))
    if bools:  # rare: a scan of the relations of every entry
        for entity in desired.entities:
            texts = [n for n, v in (entity.relations.get("customFields") or {}).items()
                     if n in bools and isinstance(v, str)]
            if texts and id(entity) not in planned:
                bools.difference_update(texts)
                near.add(id(entity))
                todo.extend(_refs_in(entity))
    while todo:
        ref = todo.pop()
        for found in (
            index.by_xid.get((ref.kind, ref.xid)) if ref.xid is not None else None,
            index.by_id.get((ref.kind, ref.id)) if ref.id is not None else None,
        ):
            if found is None or id(found) in near or id(found) in planned:
                continue
            near.add(id(found))
            todo.extend(_refs_in(found))
    return near


def plan_changes(
    reader: Reader,
    desired: State,
    diff: ManifestDiff,
    owed: frozenset[str] = frozenset(),
    every_stub: bool = False,
) -> tuple[Plan, State, CheckReads]:
    """Read what the changed entries need and plan them (see the module docstring).

    Returns the plan, the reduced live state it was made from, and what was
    read for the full plan's checks on the changed entries. Only the stubs the
    plan can tell apart are given to the planner (``_near``); the others are
    counted by the safety threshold, so the plan is the one every stub gives
    (``every_stub``: given them all, and every person listed, as the tests'
    reference; 0.5 s of CPU at 10,000 people).
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
    for change in diff.changes:
        have = read.get(change.entity.ref)
        if have is not None:
            # Unchanged relation keys are assumed as declared: they count for the threshold.
            assumed = {
                k: v for k, v in change.entity.relations.items() if k not in change.relations
            }
            live_entities.append(replace(have, relations={**assumed, **have.relations}))
        if change.how != REMOVED:
            desired_entities.append(_declared(change.entity, change.relations))
    for ref, parent in parents.items():
        have = read.get(ref)
        if have is not None and have.active:
            # Present and usable: its own drift is not this plan's business.
            live_entities.append(replace(have, relations=parent.relations))
            desired_entities.append(replace(have, relations={}))
        else:
            # Missing or inactive: the new entries need it created or activated first.
            if have is not None:
                live_entities.append(have)
            desired_entities.append(_declared(parent))
    extra = read_for_checks(reader, desired, diff, read, desired_index, every_stub)
    # The changed and read entries, as declared (an identity is declared once: by object,
    # not by entity_key, which costs 20 ms over 18,000 entries).
    planned = {id(c.entity) for c in diff.changes if c.how != REMOVED}
    planned |= {id(parent) for parent in parents.values()}
    near = None if every_stub else _near(
        desired, desired_index, planned, desired_entities,
        (*live_entities, *desired_entities, *(c.entity for c in diff.changes), *extra.entities),
    )
    counted: list[Entity] = []  # unchanged entries left out: live as declared, only counted
    for entity in desired.entities:
        if id(entity) in planned:
            continue
        if near is not None and id(entity) not in near:
            counted.append(entity)
            continue
        stub = _stub(entity)  # once: two copies of 18,000 entities cost 0.1 s
        live_entities.append(_given_its_xid(stub))
        desired_entities.append(_copy(stub, relations={}))

    live = State(entities=tuple(live_entities), custom_fields=custom_fields)
    # The kinds stay managed when no entry of one is left (strays of it are still pruned).
    reduced = replace(desired, entities=tuple(desired_entities),
                      declared_kinds=desired.managed_kinds())
    plan = make_plan(reduced, live, client.usage.total_requests - before, owed)
    if counted:
        # The thresholds are shares of every live entity and link of a managed kind: the
        # entries left out are live as declared (their relations are the links).
        plan = with_safety(plan, State(entities=(*live.entities, *counted)), reduced, owed)
    changed = State(entities=tuple(c.entity for c in diff.changes if c.how != REMOVED))
    return check_changes(plan, reduced, live, changed, extra), live, extra


def _with_xids(
    reader: Reader, read: Mapping[Ref, Entity | None], desired: State
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
    unknown = {
        Ref(r.kind, id=r.id)
        for e in read.values()
        if e is not None
        for value in e.relations.values()
        if isinstance(value, frozenset)
        for r in value
        if r.xid is None and (r.kind, r.id) not in by_id
    }
    if unknown:  # (rare: the entries adopted by id are looked for only then)
        adopted = {(e.kind, e.ref.id) for e in desired.entities if e.ref.xid is None}
        unknown = {ref for ref in unknown if (ref.kind, ref.id) not in adopted}
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
