"""The kinds of the current platform and their relations: a pure description, no I/O.

The manifest vocabulary (manifest.schema.json), the reader and later the action
factory all take their kinds from here, so that a kind or relation added in one
place is added everywhere. Names are the platform's own (docs/manifest-current.md).
"""

from __future__ import annotations

from dataclasses import dataclass

XID_FIELD_DEFAULT = "External ID"  # the text custom field that carries beeplan's xid


@dataclass(frozen=True)
class Relation:
    """A many-to-many link a manifest states on one side (``key``) to entities of ``target``."""

    key: str  # the manifest key on the owning entity ("assigned.people": nested key)
    target: str  # the kind linked to ("person", "tag", "project", "task")


@dataclass(frozen=True)
class Kind:
    """One kind of managed entity."""

    name: str  # the model's kind name
    manifest_key: str  # the top-level manifest key (nested kinds: the key of their parent)
    query: str  # the GraphQL listing that reads every entity of the kind
    parent: str | None = None  # the kind of the entity it sits under (None: top level)
    tree: bool = False  # children of the same kind, any depth (projects, tags, tasks)
    archivable: bool = True  # removal archives; False: the API has no archive for it
    xid_field: bool = True  # the External ID custom field can be set on it
    relations: tuple[Relation, ...] = ()


KINDS: tuple[Kind, ...] = (
    # Categories have no archived flag and no custom field values in the API:
    # they are matched by xid stored nowhere live, so beeplan matches them by name.
    Kind("projectCategory", "projectCategories", "getProjectCategories",
         archivable=False, xid_field=False),
    Kind("project", "projectCategories", "getProjects", parent="projectCategory", tree=True,
         relations=(Relation("managers", "person"), Relation("tags", "tag"),
                    Relation("assigned.people", "person"), Relation("assigned.tags", "tag"))),
    Kind("tagCategory", "tagCategories", "getTagCategories", archivable=False, xid_field=False),
    Kind("tag", "tagCategories", "getTags", parent="tagCategory", tree=True,
         relations=(Relation("managers", "person"),)),
    # Roles hold no custom field values either: referred to and matched by name.
    Kind("role", "roles", "getRoles", xid_field=False),
    Kind("person", "people", "getPersons",
         relations=(Relation("tags", "tag"), Relation("managers", "person"))),
    Kind("taskCategory", "taskCategories", "getTaskCategories",
         archivable=False, xid_field=False),
    Kind("task", "tasks", "getTasks", parent="taskCategory", tree=True,
         relations=(Relation("projects", "project"), Relation("managers", "person"),
                    Relation("tags", "tag"), Relation("assigned.people", "person"),
                    Relation("assigned.tags", "tag"))),
    Kind("absenceType", "absenceTypes", "getAbsenceTypes"),
    # A custom field cannot hold a custom field value: definitions are matched by name.
    Kind("customField", "customFields", "getCustomFields", xid_field=False),
)

BY_NAME: dict[str, Kind] = {k.name: k for k in KINDS}

# Which kinds carry custom field values (the API's entityType for each).
VALUE_ENTITY_TYPES: dict[str, str] = {
    "person": "Person", "project": "Project", "tag": "Tag", "task": "Task",
    "absenceType": "AbsenceType",
}

# Custom field types the API accepts in addCustomField(fieldType:).
FIELD_TYPES: tuple[str, ...] = ("text", "number", "date", "datetime", "url", "boolean")


def archivable_kinds() -> frozenset[str]:
    """Kinds whose removal archives them (the counterpart of v2's deactivation)."""
    return frozenset(k.name for k in KINDS if k.archivable)


def order() -> tuple[str, ...]:
    """Kinds in an order where each comes after the kinds it refers to."""
    done: list[str] = []
    pending = list(KINDS)
    while pending:
        for kind in pending:
            # relations (managers, assignments) are links added once both ends exist,
            # so only the parent orders kinds
            if kind.parent is None or kind.parent in done:
                done.append(kind.name)
                pending.remove(kind)
                break
        else:  # pragma: no cover - KINDS has no parent cycle
            raise AssertionError("a parent cycle in KINDS")
    return tuple(done)
