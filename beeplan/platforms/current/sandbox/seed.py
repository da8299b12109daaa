"""The account a new sandbox starts with, and an optional demo account built through the API."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .engine import btime, now_ms
from .store import Store

if TYPE_CHECKING:
    from .app import CurrentSandboxApp


def ensure_account(store: Store) -> None:
    """An organisation, an Admin role and the token's person (once per database)."""
    if store.meta("person"):
        return
    at = {"at": btime(now_ms()), "byId": None}
    org = store.put({"__kind": "Organisation", "name": "Sandbox organisation", "locked": False,
                     "legacyMigrationDone": False, "lastEdited": at})
    role = store.put({"__kind": "Role", "name": "Admin", "archived": False, "lastEdited": at,
                      "authorisations": []})
    person = store.put({"__kind": "Person", "name": "Sandbox Admin",
                        "email": "admin@sandbox.invalid", "roleId": role["id"],
                        "archived": False, "lang": "en", "startDate": btime(now_ms()),
                        "hasJoined": True, "hasBeenInvited": True, "hasPasskey": False,
                        "lastEdited": at})
    for doc in (org, role, person):  # made by the account's own first person
        doc["lastEdited"] = {"at": at["at"], "byId": person["id"]}
        store.put(doc)
    store.set_meta("org", org["id"])
    store.set_meta("person", person["id"])


def _run(app: CurrentSandboxApp, query: str, **variables: Any) -> dict[str, Any]:
    answer = app.run(query, variables)
    if answer.get("errors"):
        raise RuntimeError(f"seeding the demo account failed: {answer['errors']}")
    return dict(answer["data"])


def seed_demo(app: CurrentSandboxApp) -> dict[str, str]:
    """A small account of every kind, made with the API's own mutations; names -> ids."""
    d = _run(app, """mutation {
      clients: addProjectCategory(name: "Clients") { id }
      depts: addTagCategory(name: "Departments") { id }
      dev: addTaskCategory(name: "Development") { id }
      vacation: addAbsenceType(name: "Vacation") { id }
      sick: addAbsenceType(name: "Sick leave") { id }
      employee: addRole(name: "Employee", authorisations: []) { id }
      xid: addCustomField(name: "External ID", fieldType: "text") { id }
    }""")
    ids = {k: v["id"] for k, v in d.items()}
    _run(app, """mutation($c: BeeboleId!, $t: BeeboleId!) {
      a: editProjectCategoryLevelNames(id: $c, levelNames: ["Client", "Project", "Subproject"])
        { id }
      b: editTagCategoryLevelNames(id: $t, levelNames: ["Department", "Team"]) { id }
    }""", c=ids["clients"], t=ids["depts"])
    d = _run(app, """mutation($c: BeeboleId!, $t: BeeboleId!, $k: BeeboleId!, $r: BeeboleId!) {
      acme: addProject(name: "Acme", categoryId: $c) { id }
      globex: addProject(name: "Globex", categoryId: $c) { id }
      eng: addTag(name: "Engineering", categoryId: $t) { id }
      todo: addTaskCategoryStatus(categoryId: $k, name: "To do") { id }
      done: addTaskCategoryStatus(categoryId: $k, name: "Done") { id }
      alice: addPerson(name: "Alice Martin", email: "alice@example.com", roleId: $r) { id }
      bob: addPerson(name: "Bob Stone", email: "bob@example.com", roleId: $r) { id }
    }""", c=ids["clients"], t=ids["depts"], k=ids["dev"], r=ids["employee"])
    ids.update({k: v["id"] for k, v in d.items()})
    d = _run(app, """mutation($acme: BeeboleId!, $eng: BeeboleId!, $k: BeeboleId!,
                              $todo: BeeboleId!) {
      website: addProject(name: "Website", parentId: $acme) { id }
      backend: addTag(name: "Backend", parentId: $eng) { id }
      build: addTask(name: "Build", categoryId: $k, statusId: $todo) { id }
    }""", acme=ids["acme"], eng=ids["eng"], k=ids["dev"], todo=ids["todo"])
    ids.update({k: v["id"] for k, v in d.items()})
    d = _run(app, """mutation($website: BeeboleId!) {
      homepage: addProject(name: "Homepage", parentId: $website) { id }
    }""", website=ids["website"])
    ids.update({k: v["id"] for k, v in d.items()})
    _run(app, """mutation($alice: BeeboleId!, $bob: BeeboleId!, $acme: BeeboleId!,
                          $website: BeeboleId!, $backend: BeeboleId!, $build: BeeboleId!,
                          $xid: BeeboleId!, $globex: BeeboleId!, $eng: BeeboleId!) {
      t1: tagPerson(tagId: $backend, personId: $alice) { id }
      m1: makeManagerOfPerson(managerId: $alice, personId: $bob) { id }
      m2: makeManagerOfProject(managerId: $alice, projectId: $acme) { id }
      a1: assignProjectToPerson(personId: $bob, projectId: $website) { id }
      a2: assignProjectToTag(tagId: $eng, projectId: $acme) { id }
      a3: assignTaskToProject(taskId: $build, projectId: $website) { id }
      c1: addCustomFieldValue(customFieldId: $xid, entityType: "Project", entityId: $acme,
                              textValue: "acme") { id }
      old: archiveProject(id: $globex) { id }
    }""", **{k: ids[k] for k in ("alice", "bob", "acme", "website", "backend", "build", "xid",
                                  "globex", "eng")})
    return ids
