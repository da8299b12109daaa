"""A current-platform manifest set -> the desired account, as plain frozen data. No I/O.

The loader hands over every file's parsed data (``WrittenForOther.files``: MDict and
MList with line numbers). The schema is checked first (``manifest.check``); then what
a schema cannot say (a reference to an xid no file declares, an xid or a name declared
twice, a status not of its category, a value for a field that does not apply) is
checked here, every problem at once with file:line. Names the account may hold
without the manifests declaring them (a role, a task category, a custom field) are
only known once the account is read: the planner checks those.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from ...errors import ManifestError, Problem
from ...model import Loosened, Safety, Source, Threshold
from . import manifest
from .client import DEFAULT_BATCH_SIZE
from .kinds import BY_NAME, XID_FIELD_DEFAULT

# manifest key of an appliesTo entry -> the kind it names
APPLIES_TO_KIND = {"people": "person", "projects": "project", "tags": "tag", "tasks": "task",
                   "absenceTypes": "absenceType"}
KIND_APPLIES_TO = {kind: key for key, kind in APPLIES_TO_KIND.items()}
# the plain fields each kind's entries may carry (left alone when absent)
_FIELDS = {
    "project": ("description", "color"),
    "tag": ("description", "color"),
    "person": ("email", "role", "lang", "startDate"),
    "task": ("status", "description"),
    "absenceType": ("color",),
    "role": (),
}
_RELATIONS = {kind.name: tuple(r.key for r in kind.relations) for kind in BY_NAME.values()}
_CATEGORY_KINDS = {"projectCategories": ("projectCategory", "project", "projects"),
                   "tagCategories": ("tagCategory", "tag", "tags")}


@dataclass(frozen=True)
class Key:
    """A reference as written: an xid, or ``{id: ID}`` (a live entity adopted by id)."""

    xid: str | None = None
    id: str | None = None

    def __str__(self) -> str:
        return self.xid if self.xid is not None else f"{{id: {self.id}}}"


@dataclass(frozen=True)
class Entry:
    """One project, tag, person, task, absence type or role of the manifests.

    ``relations`` holds only the keys the entry states (a key left out is left
    alone); ``custom`` is None when ``customFields`` is left out.
    """

    kind: str
    name: str
    source: Source
    xid: str | None = None
    id: str | None = None
    archived: bool = False
    category: str | None = None  # by name: the category of a project, tag or root task
    parent: Key | None = None
    level: int = 0  # depth in a project or tag tree (0: top)
    fields: tuple[tuple[str, Any], ...] = ()
    relations: tuple[tuple[str, tuple[Key, ...]], ...] = ()
    custom: tuple[tuple[str, Any], ...] | None = None

    @property
    def key(self) -> Key:
        return Key(self.xid, None) if self.id is None else Key(None, self.id)

    def field(self, name: str) -> Any:
        return dict(self.fields).get(name)


@dataclass(frozen=True)
class CategoryEntry:
    """A project, tag or task category: known by name (or adopted by ``id:``)."""

    kind: str  # "projectCategory", "tagCategory", "taskCategory"
    name: str
    source: Source
    id: str | None = None
    level_names: tuple[str, ...] | None = None  # None: left alone
    statuses: tuple[str, ...] | None = None


@dataclass(frozen=True)
class FieldEntry:
    """A custom field definition: known by name (or adopted by ``id:``)."""

    name: str
    type: str
    source: Source
    id: str | None = None
    options: tuple[str, ...] | None = None
    applies_to: tuple[str, ...] | None = None  # appliesTo keys: "people", "projects"...
    archived: bool = False


@dataclass(frozen=True)
class Settings:
    xid_field: str = XID_FIELD_DEFAULT
    prune: bool = False
    safety: Safety = Safety()
    batch_size: int = DEFAULT_BATCH_SIZE
    platform_at: str = ""  # file:line of settings.platform

    def loosened(self) -> tuple[Loosened, ...]:
        """What is looser than the defaults, as the core lists it first in every rendering."""
        from ...model import Settings as CoreSettings

        return CoreSettings(prune=self.prune, safety=self.safety).loosened()


@dataclass(frozen=True)
class Desired:
    """The account the manifests describe."""

    settings: Settings
    categories: tuple[CategoryEntry, ...] = ()
    fields: tuple[FieldEntry, ...] = ()
    entries: tuple[Entry, ...] = ()
    # kinds whose key some file holds (even as []): managed, and pruned under prune
    managed: frozenset[str] = frozenset()

    def of_kind(self, kind: str) -> tuple[Entry, ...]:
        return tuple(e for e in self.entries if e.kind == kind)

    def categories_of(self, kind: str) -> tuple[CategoryEntry, ...]:
        return tuple(c for c in self.categories if c.kind == kind)


def load_desired(files: Sequence[tuple[str, Any]], problems: Iterable[Problem] = ()) -> Desired:
    """The desired account of a set's files, or ManifestError with every problem found."""
    found = list(problems)
    for name, data in files:
        found.extend(manifest.check(data, name))
    if found:
        raise ManifestError(found)
    walk = _Walk()
    for name, data in files:
        walk.file(name, data)
    desired = walk.desired()
    found = check_references(desired)
    if found:
        raise ManifestError(found)
    return desired


# ---------------------------------------------------------------------------


def _line(container: Any, key: str | int) -> int | None:
    if isinstance(key, int):
        lines = getattr(container, "item_lines", [])
        return lines[key] if key < len(lines) else getattr(container, "line", None)
    return getattr(container, "key_lines", {}).get(key) or getattr(container, "line", None)


def _key(value: Any) -> Key:
    return Key(id=str(value["id"])) if isinstance(value, Mapping) else Key(xid=str(value))


class _Walk:
    """Collects the entries of every file, in file order (top-level lists merge across files)."""

    def __init__(self) -> None:
        self.settings: dict[str, Any] = {}
        self.platform_at = ""
        self.categories: list[CategoryEntry] = []
        self.fields: list[FieldEntry] = []
        self.entries: list[Entry] = []
        self.managed: set[str] = set()

    def desired(self) -> Desired:
        s = self.settings
        safety = _safety(s.get("safety"))
        settings = Settings(
            xid_field=str(s.get("xidField") or XID_FIELD_DEFAULT), prune=s.get("prune") is True,
            safety=safety, batch_size=int(s.get("batchSize") or DEFAULT_BATCH_SIZE),
            platform_at=self.platform_at)
        return Desired(settings, tuple(self.categories), tuple(self.fields),
                       tuple(self.entries), frozenset(self.managed))

    def file(self, name: str, data: Any) -> None:
        if not isinstance(data, Mapping):
            return
        settings = data.get("settings")
        if isinstance(settings, Mapping):
            self.settings.update(settings)
            if "platform" in settings and not self.platform_at:
                line = _line(settings, "platform")
                self.platform_at = f"{name}:{line}" if line else name
        for key, (cat_kind, kind, child_key) in _CATEGORY_KINDS.items():
            if key in data:
                self.managed |= {cat_kind, kind}
            for i, cat in enumerate(data.get(key) or ()):
                src = Source(name, _line(data[key], i))
                self.categories.append(CategoryEntry(
                    cat_kind, str(cat["name"]), src, _opt(cat.get("id")),
                    _tuple(cat.get("levelNames"))))
                self.tree(name, kind, cat.get(child_key), child_key, str(cat["name"]), None, 0)
        if "taskCategories" in data:
            self.managed.add("taskCategory")
        for i, cat in enumerate(data.get("taskCategories") or ()):
            self.categories.append(CategoryEntry(
                "taskCategory", str(cat["name"]), Source(name, _line(data["taskCategories"], i)),
                _opt(cat.get("id")), None, _tuple(cat.get("statuses"))))
        if "customFields" in data:
            self.managed.add("customField")
        for i, f in enumerate(data.get("customFields") or ()):
            self.fields.append(FieldEntry(
                str(f["name"]), str(f["type"]), Source(name, _line(data["customFields"], i)),
                _opt(f.get("id")), _tuple(f.get("options")), _tuple(f.get("appliesTo")),
                f.get("archived") is True))
        for key, kind in (("roles", "role"), ("people", "person"), ("tasks", "task"),
                          ("absenceTypes", "absenceType")):
            if key in data:
                self.managed.add(kind)
            for i, item in enumerate(data.get(key) or ()):
                self.entries.append(self.entry(kind, item, Source(name, _line(data[key], i))))

    def tree(self, name: str, kind: str, items: Any, child_key: str, category: str,
             parent: Key | None, level: int) -> None:
        # Depth first without recursion limits mattering: trees are a few levels deep.
        for i, item in enumerate(items or ()):
            entry = self.entry(kind, item, Source(name, _line(items, i)), category=category,
                               parent=parent, level=level)
            self.entries.append(entry)
            self.tree(name, kind, item.get(child_key), child_key, category, entry.key, level + 1)

    def entry(self, kind: str, item: Mapping[str, Any], src: Source, *,
              category: str | None = None, parent: Key | None = None, level: int = 0) -> Entry:
        fields = tuple((k, item[k]) for k in _FIELDS.get(kind, ()) if k in item)
        relations: list[tuple[str, tuple[Key, ...]]] = []
        for rel in _RELATIONS.get(kind, ()):
            head, _, tail = rel.partition(".")
            value = item.get(head)
            if tail:
                value = value.get(tail) if isinstance(value, Mapping) else None
            if value is not None:
                relations.append((rel, tuple(_key(v) for v in value)))
        custom = item.get("customFields")
        if kind == "task":
            category = _opt(item.get("category"))
            parent = _key(item["parent"]) if item.get("parent") is not None else None
        return Entry(
            kind, str(item["name"]), src, _opt(item.get("xid")), _opt(item.get("id")),
            item.get("archived") is True, category, parent, level, fields, tuple(relations),
            None if custom is None else tuple(sorted(custom.items())))


def _opt(value: Any) -> str | None:
    return None if value is None else str(value)


def _tuple(value: Any) -> tuple[Any, ...] | None:
    return None if value is None else tuple(value)


def _safety(data: Any) -> Safety:
    if not isinstance(data, Mapping):
        return Safety()
    base = Threshold()

    def rule(d: Any, default: Threshold) -> Threshold:
        if not isinstance(d, Mapping):
            return default
        return Threshold(float(d.get("ratio", default.ratio)), int(d.get("min", default.min)))

    default = rule(data, base)
    kinds = data.get("kinds") if isinstance(data.get("kinds"), Mapping) else {}
    return Safety(default, {k: rule(v, default) for k, v in (kinds or {}).items()},
                  refuse_in_use=data.get("refuseInUse") is True)


# ---------------------------------------------------------------------------
# What the schema cannot say


def _problem(src: Source, message: str) -> Problem:
    return Problem(src.file, src.line, "", message)


def check_references(desired: Desired) -> list[Problem]:
    """Every problem of references and duplicates, in file order."""
    problems: list[Problem] = []
    xids: dict[tuple[str, str], Entry] = {}
    ids: dict[tuple[str, str], Entry] = {}
    for e in desired.entries:
        for table, value, what in ((xids, e.xid, "xid"), (ids, e.id, "id")):
            if value is None:
                continue
            first = table.setdefault((e.kind, value), e)
            if first is not e:
                problems.append(_problem(e.source, f"{e.kind} {what} {value!r} is declared "
                                         f"twice (first at {first.source}): a {what} names one "
                                         f"{e.kind}; rename or remove one"))
    _check_names(desired, problems)
    emails: dict[str, Entry] = {}
    for e in desired.of_kind("person"):
        email = str(e.field("email") or "").casefold()
        first = emails.setdefault(email, e)
        if email and first is not e:
            problems.append(_problem(e.source, f"email {e.field('email')!r} is also "
                                     f"{first.name}'s ({first.source}): an email is one "
                                     "person's login; give each person their own"))
    declared_fields = {f.name: f for f in desired.fields}
    statuses = {c.name: c.statuses for c in desired.categories_of("taskCategory")}
    xid_field = desired.settings.xid_field
    if xid_field in declared_fields:
        f = declared_fields[xid_field]
        problems.append(_problem(f.source, f"{xid_field!r} is the xid field (settings.xidField):"
                                 " beeplan manages it; remove this definition"))
    for e in desired.entries:
        for rel, keys in e.relations:
            target = _target(e.kind, rel)
            for key in keys:
                if key.xid is not None and (target, key.xid) not in xids:
                    problems.append(_problem(e.source, f"{e.kind} {e.key}: {rel} names "
                                             f"{target} {key.xid!r}, which no manifest declares;"
                                             f" declare it, or fix the xid"))
        if e.kind == "task" and e.parent is not None and e.parent.xid is not None \
                and ("task", e.parent.xid) not in xids:
            problems.append(_problem(e.source, f"task {e.key}: parent names task "
                                     f"{e.parent.xid!r}, which no manifest declares"))
        status = e.field("status")
        if e.kind == "task" and status is not None and e.category in statuses \
                and statuses[e.category] is not None and status not in (statuses[e.category] or ()):
            problems.append(_problem(e.source, f"task {e.key}: status {status!r} is not one of "
                                     f"category {e.category!r}'s statuses "
                                     f"({', '.join(statuses[e.category] or ())})"))
        for name, value in e.custom or ():
            problems.extend(_value_problems(e, name, value, declared_fields, xid_field))
    problems.extend(_task_cycles(desired, xids))
    return sorted(problems, key=lambda p: (p.file, p.line or 0))


def _check_names(desired: Desired, problems: list[Problem]) -> None:
    named: dict[tuple[str, str], Source] = {}
    items: list[tuple[str, str, Source]] = [(c.kind, c.name, c.source) for c in desired.categories]
    items += [("customField", f.name, f.source) for f in desired.fields]
    items += [("role", e.name, e.source) for e in desired.of_kind("role")]
    for kind, name, src in items:
        first = named.setdefault((kind, name.casefold()), src)
        if first is not src:
            problems.append(_problem(src, f"{kind} {name!r} is declared twice (first at "
                                     f"{first}): a {kind} is known by its name; merge them"))


def _target(kind: str, rel: str) -> str:
    return next(r.target for r in BY_NAME[kind].relations if r.key == rel)


def _value_problems(e: Entry, name: str, value: Any, declared: Mapping[str, FieldEntry],
                    xid_field: str) -> list[Problem]:
    where = f"{e.kind} {e.key}: customFields.{name}"
    if name == xid_field:
        return [_problem(e.source, f"{where}: {name!r} is the xid field (settings.xidField); "
                         "set it with xid:, not customFields")]
    f = declared.get(name)
    if f is None:
        return []  # perhaps a field of the account: the planner checks it
    if f.applies_to is not None and KIND_APPLIES_TO[e.kind] not in f.applies_to:
        return [_problem(e.source, f"{where}: the field applies to {', '.join(f.applies_to)}, "
                         f"not {KIND_APPLIES_TO[e.kind]} ({f.source}); add "
                         f"{KIND_APPLIES_TO[e.kind]} to its appliesTo, or remove the value")]
    wrong = value_problem(f.type, value, f.options)
    return [_problem(e.source, f"{where}: {wrong}")] if wrong else []


def value_problem(ftype: str, value: Any, options: Sequence[str] | None = None) -> str | None:
    """Why ``value`` cannot be a value of a field of type ``ftype``, or None."""
    if ftype == "boolean":
        ok = isinstance(value, bool)
        want = "true or false"
    elif ftype == "number":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        want = "a number"
    elif ftype in ("date", "datetime"):
        ok = isinstance(value, str) and _is_date(value)
        want = "a date YYYY-MM-DD (quoted)"
    else:
        ok = isinstance(value, str)
        want = "text (quote it in YAML)"
    if not ok:
        return f"{value!r} is not a value of this {ftype} field: write {want}"
    if options and value not in options:
        return f"{value!r} is not one of the field's options ({', '.join(options)})"
    return None


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text[:10])
    except ValueError:
        return False
    return len(text) == 10


def _task_cycles(desired: Desired, xids: Mapping[tuple[str, str], Entry]) -> list[Problem]:
    problems = []
    for e in desired.of_kind("task"):
        seen = {id(e)}
        node = e
        while node.parent is not None and node.parent.xid is not None:
            parent = xids.get(("task", node.parent.xid))
            if parent is None:
                break
            if id(parent) in seen:
                problems.append(_problem(e.source, f"task {e.key}: its parents loop back to it; "
                                         "a task cannot be its own ancestor"))
                break
            seen.add(id(parent))
            node = parent
    return problems


@dataclass(frozen=True)
class Index:
    """Lookups over the desired entries (by kind and xid or id)."""

    by_key: Mapping[tuple[str, Key], Entry] = field(default_factory=dict)

    @classmethod
    def of(cls, desired: Desired) -> Index:
        table: dict[tuple[str, Key], Entry] = {}
        for e in desired.entries:
            if e.xid is not None:
                table.setdefault((e.kind, Key(xid=e.xid)), e)
            if e.id is not None:
                table.setdefault((e.kind, Key(id=e.id)), e)
        return cls(table)

    def get(self, kind: str, key: Key) -> Entry | None:
        return self.by_key.get((kind, key))
