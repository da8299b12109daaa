"""Legacy (API v2) manifests -> current-platform manifests, as Beebole's legacy migration maps them.

Pure: it takes the parsed v2 files (``MDict`` trees, already accepted by the v2 loader)
and returns the current-platform documents and a report. Every xid is kept as the
identity (the migration copies it into the External ID field). Every v2 key that has
no counterpart becomes a ``Dropped`` entry with its file and line: nothing is lost
silently. The mapping is documented in docs/moving-to-the-current-platform.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

PROJECT_CATEGORY = "Clients"
PROJECT_LEVELS = ["Company", "Project", "Subproject"]
TASK_CATEGORY = "Activities"
TASK_STATUSES = ["Open", "Done"]
DEFAULT_ROLE = "Employee"
ROLES = {"admin": "Admin", "employee": "Employee", "contractor": "Contractor",
         "pm": "Project manager", "leader": "Team leader"}
# Every file convert writes starts with this line: --force replaces only such files.
HEADER = "# Written by 'beeplan convert' from a v2 manifest set; review before applying.\n"

# Keys with no counterpart, per v2 kind, and why (the report's words).
_NO_COUNTERPART = {
    "id": "a v2 live id means nothing on the current platform; the xid is the identity",
    "corporate": "the current platform has no corporate flag: the company is a top-level project",
    "startDate": "current projects have no start date",
    "company": "on the current platform everything belongs to the one account",
    "invite": "convert never invites: invite people from Beebole's People page when ready",
    "absence.groups": "current absence types are not limited to groups",
    "specificTasks.enabled": "on the current platform a task lists its projects; "
                             "'enabled: false' has no counterpart",
    "group.xid": "a root group becomes a tag category, which has a name and no xid",
    "safety": "safety kinds differ between platforms: set settings.safety again "
              "(docs/manifest-current.md)",
}


@dataclass(frozen=True)
class Dropped:
    """A v2 key that has no counterpart on the current platform."""

    file: str
    line: int
    path: str
    key: str
    why: str

    def text(self) -> str:
        return f"{self.file}:{self.line}: {self.path}: no counterpart: {self.why}"


@dataclass(frozen=True)
class Conversion:
    """The current-platform documents, by file name, and what could not be carried over."""

    documents: dict[str, dict[str, Any]]
    dropped: tuple[Dropped, ...]
    assumed: tuple[Dropped, ...]  # values convert had to choose (a role for no userGroup)


def _line(node: Any, key: str) -> int:
    lines = getattr(node, "key_lines", {})
    return int(lines.get(key, getattr(node, "line", 0)))


class _Converter:
    def __init__(self) -> None:
        self.dropped: list[Dropped] = []
        self.assumed: list[Dropped] = []
        self.projects: list[dict[str, Any]] = []
        self.categories: list[dict[str, Any]] = []
        self.tags_by_xid: dict[str, dict[str, Any]] = {}
        self.pending: list[tuple[str, dict[str, Any], str, Any]] = []  # (parent, tag, file, node)
        self.people: list[dict[str, Any]] = []
        self.roles: list[str] = []
        self.tasks: list[dict[str, Any]] = []
        self.task_projects: dict[str, list[str]] = {}
        self.absences: list[dict[str, Any]] = []
        self.fields: dict[str, dict[str, Any]] = {}
        self.settings: dict[str, Any] = {"platform": "current", "xidField": "External ID"}

    def drop(self, file: str, node: Any, path: str, key: str, reason: str | None = None) -> None:
        why = reason or _NO_COUNTERPART.get(key, "")
        self.dropped.append(Dropped(file, _line(node, key), f"{path}.{key}", key, why))

    def refs(self, file: str, node: Any, path: str, key: str) -> list[Any]:
        """The xids a list names; a reference by v2 live id ({id: N}) cannot be carried over."""
        kept = []
        for n, item in enumerate(node[key]):
            if isinstance(item, dict):
                self.dropped.append(Dropped(
                    file, getattr(item, "line", _line(node, key)), f"{path}.{key}[{n}]", "id",
                    "a reference by v2 live id: name the entity by its xid instead"))
            else:
                kept.append(item)
        return kept

    def field(self, name: str, value: Any, applies: str) -> None:
        kind = "boolean" if isinstance(value, bool) else \
            "number" if isinstance(value, (int, float)) else "text"
        entry = self.fields.setdefault(name, {"name": name, "type": kind, "appliesTo": []})
        if applies not in entry["appliesTo"]:
            entry["appliesTo"].append(applies)
        if entry["type"] != kind:
            entry["type"] = "text"  # mixed values: text holds them all

    def common(self, file: str, node: Any, path: str, out: dict[str, Any],
               applies: str | None = None) -> None:
        """The keys every v2 entity shares: xid, name, active, customFields, groups, id."""
        for key in ("xid", "name"):
            if key in node:
                out[key] = node[key]
        if node.get("active") is False:
            out["archived"] = True
        if "id" in node:
            self.drop(file, node, path, "id")
        if "groups" in node:
            out["tags"] = self.refs(file, node, path, "groups")
        if "customFields" in node and applies:
            out["customFields"] = dict(node["customFields"])
            for name, value in node["customFields"].items():
                self.field(name, value, applies)

    def project(self, file: str, node: Any, path: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        self.common(file, node, path, out, "projects")
        tags = out.pop("tags", None)
        custom = out.pop("customFields", None)
        for key in ("corporate", "startDate"):
            if key in node:
                self.drop(file, node, path, key)
        if "description" in node:
            out["description"] = node["description"]
        if "managers" in node:
            out["managers"] = self.refs(file, node, path, "managers")
        if tags is not None:
            out["tags"] = tags
        members = node.get("members")
        if members is not None:
            assigned = {}
            if members.get("people"):
                assigned["people"] = self.refs(file, members, f"{path}.members", "people")
            if members.get("groups"):
                assigned["tags"] = self.refs(file, members, f"{path}.members", "groups")
            out["assigned"] = assigned
        if custom is not None:
            out["customFields"] = custom
        specific = node.get("specificTasks")
        if specific is not None:
            if specific.get("enabled") is False:
                self.drop(file, specific, f"{path}.specificTasks", "enabled",
                          _NO_COUNTERPART["specificTasks.enabled"])
            for task in (self.refs(file, specific, f"{path}.specificTasks", "tasks")
                         if specific.get("tasks") else []):
                self.task_projects.setdefault(task, []).append(node.get("xid", node.get("name")))
        children = [*(node.get("projects") or []), *(node.get("subprojects") or [])]
        key = "projects" if "projects" in node else "subprojects"
        if children:
            out["projects"] = [self.project(file, child, f"{path}.{key}[{n}]")
                               for n, child in enumerate(children)]
        return out

    def tag(self, file: str, node: Any, path: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        self.common(file, node, path, out)
        out.pop("tags", None)
        if node.get("groups"):
            out["tags"] = [self.tag(file, child, f"{path}.groups[{n}]")
                           for n, child in enumerate(node["groups"])]
        if "xid" in out:
            self.tags_by_xid[out["xid"]] = out
        return out

    def group(self, file: str, node: Any, path: str) -> None:
        if node.get("parent") is not None:  # a child declared apart: placed once all are read
            self.pending.append((node["parent"], self.tag(file, node, path), file, node))
            return
        category: dict[str, Any] = {"name": node["name"]}
        if "xid" in node:
            self.drop(file, node, path, "xid", _NO_COUNTERPART["group.xid"])
        if "id" in node:
            self.drop(file, node, path, "id")
        category["tags"] = [self.tag(file, child, f"{path}.groups[{n}]")
                            for n, child in enumerate(node.get("groups") or [])]
        if "xid" in node:
            self.tags_by_xid[node["xid"]] = category
        self.categories.append(category)

    def person(self, file: str, node: Any, path: str) -> None:
        out: dict[str, Any] = {}
        self.common(file, node, path, out, "people")
        tags = out.pop("tags", None)
        custom = out.pop("customFields", None)
        archived = out.pop("archived", None)
        if "email" in node:
            out["email"] = node["email"]
        group = node.get("userGroup")
        if group is None:
            self.assumed.append(Dropped(file, _line(node, "xid"), path, "userGroup",
                                        f"no userGroup: role {DEFAULT_ROLE} assumed "
                                        "(the current platform needs a role)"))
        role = ROLES.get(group or "", DEFAULT_ROLE)
        out["role"] = role
        if role not in self.roles:
            self.roles.append(role)
        if "leaders" in node:
            out["managers"] = self.refs(file, node, path, "leaders")
        if tags is not None:
            out["tags"] = tags
        if custom is not None:
            out["customFields"] = custom
        if archived:
            out["archived"] = True
        for key in ("company", "invite"):
            if key in node:
                self.drop(file, node, path, key)
        self.people.append(out)

    def task(self, file: str, node: Any, path: str) -> None:
        out: dict[str, Any] = {}
        self.common(file, node, path, out)
        tags = out.pop("tags", None)
        archived = out.pop("archived", None)
        out["category"] = TASK_CATEGORY
        out["status"] = TASK_STATUSES[0]
        if tags is not None:
            out["tags"] = tags
        if archived:
            out["archived"] = True
        if "company" in node:
            self.drop(file, node, path, "company")
        self.tasks.append(out)

    def absence(self, file: str, node: Any, path: str) -> None:
        out: dict[str, Any] = {}
        self.common(file, node, path, out)
        out.pop("tags", None)
        if "company" in node:
            self.drop(file, node, path, "company")
        if "groups" in node:
            self.drop(file, node, path, "groups", _NO_COUNTERPART["absence.groups"])
        self.absences.append(out)

    def read(self, file: str, data: Any) -> None:
        for n, node in enumerate(data.get("companies") or []):
            self.projects.append(self.project(file, node, f"companies[{n}]"))
        for n, node in enumerate(data.get("groups") or []):
            self.group(file, node, f"groups[{n}]")
        for n, node in enumerate(data.get("people") or []):
            self.person(file, node, f"people[{n}]")
        for n, node in enumerate(data.get("tasks") or []):
            self.task(file, node, f"tasks[{n}]")
        for n, node in enumerate(data.get("absences") or []):
            self.absence(file, node, f"absences[{n}]")
        settings = data.get("settings") or {}
        if "prune" in settings:
            self.settings["prune"] = settings["prune"]
        if "safety" in settings:
            self.drop(file, settings, "settings", "safety")

    def place_pending(self) -> None:
        # A group naming its parent: the loader checked the parent exists and no cycle.
        waiting = list(self.pending)
        while waiting:
            rest = []
            for parent, tag, file, node in waiting:
                target = self.tags_by_xid.get(parent)
                if target is None:
                    rest.append((parent, tag, file, node))
                    continue
                target.setdefault("tags", []).append(tag)
            if len(rest) == len(waiting):  # unreachable after the loader's checks
                raise ValueError(f"groups with an unknown parent: {[p for p, *_ in rest]}")
            waiting = rest

    def documents(self) -> dict[str, dict[str, Any]]:
        for task in self.tasks:
            projects = self.task_projects.get(task.get("xid", task["name"]))
            if projects:
                task["projects"] = projects
        docs: dict[str, dict[str, Any]] = {"settings.yaml": {"settings": self.settings}}
        if self.projects:
            docs["projects.yaml"] = {"projectCategories": [{
                "name": PROJECT_CATEGORY, "levelNames": PROJECT_LEVELS,
                "projects": self.projects}]}
        if self.categories:
            docs["tags.yaml"] = {"tagCategories": self.categories}
        if self.people:
            order = [r for r in ROLES.values() if r in self.roles]
            docs["people.yaml"] = {"roles": [{"name": r} for r in order], "people": self.people}
        if self.tasks:
            docs["tasks.yaml"] = {"taskCategories": [{"name": TASK_CATEGORY,
                                                      "statuses": TASK_STATUSES}],
                                  "tasks": self.tasks}
        if self.absences:
            docs["absences.yaml"] = {"absenceTypes": self.absences}
        if self.fields:
            docs["custom-fields.yaml"] = {"customFields": list(self.fields.values())}
        return docs


def convert(files: Iterable[tuple[str, Any]]) -> Conversion:
    """Current-platform documents for the v2 files ``(name, parsed data)``, and the report."""
    converter = _Converter()
    for file, data in files:
        converter.read(file, data)
    converter.place_pending()
    return Conversion(converter.documents(), tuple(converter.dropped), tuple(converter.assumed))


def dump(document: dict[str, Any]) -> str:
    """One document as YAML text, keys in the order convert built them."""
    import yaml

    return HEADER + yaml.safe_dump(_plain(document), sort_keys=False, allow_unicode=True,
                                   width=100)


def _plain(value: Any) -> Any:
    # MDict/MList are dict/list subclasses: safe_dump wants the plain types.
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def report_lines(dropped: Sequence[Dropped]) -> list[str]:
    return [d.text() for d in dropped]
