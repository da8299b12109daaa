"""Each family of emulated operations, read back over HTTP as a configuration tool reads it."""

from __future__ import annotations

from .conftest import Gql

PROJECT = "id name archived level parent { id } category { id name levelNames }"


def test_seeded_account_reads_every_kind(gql: Gql) -> None:
    ids = gql.ids
    data = gql("""{
      cats: getProjectCategories { id name levelNames childrenIds }
      tagCats: getTagCategories { name levelNames }
      taskCats: getTaskCategories { id name statuses { id name category } }
      projects: getProjects(archived: true) { id name level archived parent { name } }
      tags: getTags { name level parent { name } category { name } }
      people: getPersons { name email lang startDate { ts iso } role { name }
                           relations { taggedBy { value { name } }
                                       managedBy { value { name } } } }
      roles: getRoles { name persons { name } }
      tasks: getTasks { name category { name } status { name } }
      absences: getAbsenceTypes { name unit }
      fields: getCustomFields { name fieldType }
      values: getCustomFieldValues { entityType textValue project { name } customField { name } }
    }""")
    assert data["cats"] == [{"id": ids["clients"], "name": "Clients",
                             "levelNames": ["Client", "Project", "Subproject"],
                             "childrenIds": [ids["acme"], ids["globex"]]}]
    assert data["tagCats"] == [{"name": "Departments", "levelNames": ["Department", "Team"]}]
    statuses = data["taskCats"][0]["statuses"]
    assert [s["name"] for s in statuses] == ["To do", "Done"]
    assert all(s["category"] == ids["dev"] for s in statuses)
    tree = {p["name"]: (p["level"], p["parent"] and p["parent"]["name"], p["archived"])
            for p in data["projects"]}
    assert tree == {"Acme": (0, None, False), "Globex": (0, None, True),
                    "Website": (1, "Acme", False), "Homepage": (2, "Website", False)}
    assert {(t["name"], t["level"]) for t in data["tags"]} == {("Engineering", 0), ("Backend", 1)}
    people = {p["email"]: p for p in data["people"]}
    alice, bob = people["alice@example.com"], people["bob@example.com"]
    assert alice["role"] == {"name": "Employee"} and alice["lang"] == "en"
    assert alice["startDate"]["iso"].endswith("Z")
    assert [r["value"]["name"] for r in alice["relations"]["taggedBy"]] == ["Backend"]
    assert [r["value"]["name"] for r in bob["relations"]["managedBy"]] == ["Alice Martin"]
    assert bob["relations"]["taggedBy"] == []  # a person without tags
    assert {r["name"] for r in data["roles"]} == {"Admin", "Employee"}
    assert data["tasks"] == [{"name": "Build", "category": {"name": "Development"},
                              "status": {"name": "To do"}}]
    assert {a["name"] for a in data["absences"]} == {"Vacation", "Sick leave"}
    assert data["fields"] == [{"name": "External ID", "fieldType": "text"}]
    assert data["values"] == [{"entityType": "Project", "textValue": "acme",
                               "project": {"name": "Acme"},
                               "customField": {"name": "External ID"}}]


def test_project_tree_any_depth_edit_move_archive(gql: Gql) -> None:
    ids = gql.ids
    deep = gql.ids["homepage"]
    for depth in range(3, 7):
        deep = gql("mutation($p: BeeboleId!) { addProject(name: \"L\", parentId: $p) { id level "
                   "category { id } } }", p=deep)["addProject"]
        assert deep["level"] == depth and deep["category"]["id"] == ids["clients"]
        deep = deep["id"]
    moved = gql("""mutation($id: BeeboleId!, $p: BeeboleId!) {
      n: editProjectName(id: $id, name: "Web site") { name }
      m: editProjectParent(id: $id, parentId: $p) { level parent { name } }
    }""", id=ids["website"], p=ids["globex"])
    assert moved == {"n": {"name": "Web site"}, "m": {"level": 1, "parent": {"name": "Globex"}}}
    assert "cannot move under itself" in gql.errors(
        "mutation($id: BeeboleId!, $p: BeeboleId!) { editProjectParent(id: $id, parentId: $p) "
        "{ id } }", id=ids["acme"], p=ids["acme"])[0]
    archived = gql("mutation($id: BeeboleId!) { archiveProject(id: $id) { name archived } }",
                   id=ids["website"])["archiveProject"]
    assert {p["name"] for p in archived} >= {"Web site", "Homepage", "L"}
    assert all(p["archived"] for p in archived)
    active = {p["name"] for p in gql("{ getProjects { name } }")["getProjects"]}
    assert active == {"Acme"}
    back = gql("mutation($id: BeeboleId!) { unarchiveProject(id: $id) { archived } }",
               id=ids["website"])
    assert back == {"unarchiveProject": {"archived": False}}
    # deleting a project takes its subprojects; check: true only checks
    under = {p["name"] for p in gql("{ getProjects(archived: true) { name } }")["getProjects"]}
    gql("mutation($id: BeeboleId!) { deleteProject(id: $id, check: true) { id } }",
        id=ids["globex"])
    assert {p["name"] for p in gql("{ getProjects(archived: true) { name } }")
            ["getProjects"]} == under
    gql("""mutation($p: BeeboleId!, $home: BeeboleId!) { addTimeRecord(personId: $p,
          startTime: 1750000000000, duration: 60000, projectIds: [$home]) { id } }""",
        p=ids["alice"], home=ids["homepage"])
    assert "InUse: time records are logged on this Project" in gql.errors(
        "mutation($id: BeeboleId!) { deleteProject(id: $id) { id } }", id=ids["globex"])[0]
    assert "InUse: Person entities still refer to this Role" in gql.errors(
        "mutation($id: BeeboleId!) { deleteRole(id: $id) { id } }", id=ids["employee"])[0]
    leaf = gql("mutation($p: BeeboleId!) { addProject(name: \"Leaf\", parentId: $p) { id } }",
               p=ids["acme"])["addProject"]["id"]
    assert gql("mutation($id: BeeboleId!) { deleteProject(id: $id) { name } }",
               id=leaf) == {"deleteProject": {"name": "Leaf"}}
    cleared = gql("mutation($c: BeeboleId!) { editProjectCategoryLevelNames(id: $c, "
                  "levelNames: null) { levelNames } }", c=ids["clients"])
    assert cleared == {"editProjectCategoryLevelNames": {"levelNames": []}}
    msg = gql.errors('mutation { addProject(name: "Orphan") { id } }')[0]
    assert msg == "InvalidArgument: addProject needs a categoryId or a parentId"


def test_categories_tags_roles_absence_types(gql: Gql) -> None:
    made = gql("""mutation {
      pc: addProjectCategory(name: "Internal") { id levelNames }
      tc: addTagCategory(name: "Offices") { id }
      role: addRole(name: "Manager", authorisations: []) { id name archived }
      abs: addAbsenceType(name: "Training") { id unit archived }
    }""")
    assert made["pc"]["levelNames"] == [] and made["role"]["archived"] is False
    ids = {k: v["id"] for k, v in made.items()}
    data = gql("""mutation($pc: BeeboleId!, $tc: BeeboleId!, $role: BeeboleId!,
                          $abs: BeeboleId!) {
      a: editProjectCategoryLevelNames(id: $pc, levelNames: ["Area", "Stream"]) { levelNames }
      b: editTagCategoryName(id: $tc, name: "Sites") { name }
      paris: addTag(name: "Paris", categoryId: $tc) { id level category { name } }
      c: editRoleName(id: $role, name: "Lead") { name }
      d: editAbsenceTypeUnit(id: $abs, unit: "hour") { unit }
      e: archiveAbsenceType(id: $abs) { archived }
      f: archiveRole(id: $role) { archived }
    }""", **ids)
    assert data["a"]["levelNames"] == ["Area", "Stream"]
    assert data["paris"]["category"] == {"name": "Sites"} and data["paris"]["level"] == 0
    assert data["c"] == {"name": "Lead"} and data["d"] == {"unit": "hour"}
    assert data["e"] == data["f"] == {"archived": True}
    assert "Training" not in {a["name"] for a in gql("{ getAbsenceTypes { name } }")
                              ["getAbsenceTypes"]}
    assert "Lead" in {r["name"] for r in gql("{ getRoles(archived: true) { name } }")["getRoles"]}
    tag = gql("mutation($p: BeeboleId!) { addTag(name: \"Left bank\", parentId: $p) "
              "{ level parent { name } } }", p=data["paris"]["id"])["addTag"]
    assert tag == {"level": 1, "parent": {"name": "Paris"}}


def test_people_fields_tags_and_managers(gql: Gql) -> None:
    ids = gql.ids
    carol = gql("""mutation($r: BeeboleId!) { addPerson(name: "Carol", email: "carol@example.com",
                   roleId: $r) { id archived role { name } } }""", r=ids["employee"])["addPerson"]
    data = gql("""mutation($id: BeeboleId!, $admin: BeeboleId!, $eng: BeeboleId!,
                          $alice: BeeboleId!) {
      a: editPersonEmail(id: $id, email: "carol.d@example.com") { email }
      b: editPersonRole(id: $id, roleId: $admin) { role { name } }
      c: editPersonStartDate(id: $id, startDate: 1735689600000) { startDate { ts iso } }
      d: editPersonLang(id: $id, lang: "fr") { lang }
      e: tagPerson(tagId: $eng, personId: $id) { sourceId targetId }
      f: makeManagerOfPerson(managerId: $alice, personId: $id) { sourceId targetId }
    }""", id=carol["id"], admin=gql.server.store.get(gql.server.person_id())["roleId"],
        eng=ids["eng"], alice=ids["alice"])
    assert data["a"] == {"email": "carol.d@example.com"} and data["b"]["role"]["name"] == "Admin"
    assert data["c"]["startDate"] == {"ts": 1735689600000, "iso": "2025-01-01T00:00:00Z"}
    assert data["e"] == {"sourceId": ids["eng"], "targetId": carol["id"]}
    assert data["f"] == {"sourceId": ids["alice"], "targetId": carol["id"]}
    read = gql("""query($id: BeeboleId!, $alice: BeeboleId!) {
      p: getPerson(id: $id) { lang relations { taggedBy { value { name } }
                                                managedBy { value { name } } } }
      a: getPerson(id: $alice) { relations { managerOf { persons { value { name } } } } }
      t: getPersons(filter: [{tagIds: [$id]}]) { name }
    }""", id=carol["id"], alice=ids["alice"])
    assert read["p"]["lang"] == "fr"
    assert [r["value"]["name"] for r in read["p"]["relations"]["taggedBy"]] == ["Engineering"]
    assert [r["value"]["name"] for r in read["p"]["relations"]["managedBy"]] == ["Alice Martin"]
    assert {r["value"]["name"] for r in read["a"]["relations"]["managerOf"]["persons"]} == {
        "Bob Stone", "Carol"}
    assert "DuplicateEmail" in gql.errors(
        'mutation($r: BeeboleId!) { addPerson(name: "X", email: "ALICE@example.com", '
        "roleId: $r) { id } }", r=ids["employee"])[0]
    gone = gql("""mutation($id: BeeboleId!, $alice: BeeboleId!) {
      a: removeManagerOfPerson(managerId: $alice, personId: $id) { id }
      b: archivePerson(id: $id) { archived }
    }""", id=carol["id"], alice=ids["alice"])
    assert gone["b"] == {"archived": True}
    assert "Carol" not in {p["name"] for p in gql("{ getPersons { name } }")["getPersons"]}
    assert "NotFound" in gql.errors(
        "mutation($id: BeeboleId!, $alice: BeeboleId!) { removeManagerOfPerson(managerId: $alice,"
        " personId: $id) { id } }", id=carol["id"], alice=ids["alice"])[0]


def test_task_categories_statuses_and_tasks(gql: Gql) -> None:
    ids = gql.ids
    data = gql("""mutation($k: BeeboleId!, $todo: BeeboleId!, $done: BeeboleId!,
                          $build: BeeboleId!) {
      review: addTaskCategoryStatus(categoryId: $k, name: "Review") { id name }
      rename: editTaskCategoryStatusName(statusId: $done, name: "Closed") { name }
      child: addTask(name: "Tests", parentId: $build, statusId: $todo) { id level parent { name }
                     category { name } }
      moved: editTaskStatus(id: $build, statusId: $done) { status { name } }
    }""", k=ids["dev"], todo=ids["todo"], done=ids["done"], build=ids["build"])
    assert data["child"] == {"id": data["child"]["id"], "level": 1, "parent": {"name": "Build"},
                             "category": {"name": "Development"}}
    assert data["moved"] == {"status": {"name": "Closed"}}
    order = gql("""mutation($k: BeeboleId!, $a: BeeboleId!, $b: BeeboleId!, $c: BeeboleId!) {
      editTaskCategoryStatusOrder(id: $k, statusIds: [$c, $b, $a]) { statuses { name taskIds } }
    }""", k=ids["dev"], a=ids["todo"], b=ids["done"], c=data["review"]["id"])
    statuses = order["editTaskCategoryStatusOrder"]["statuses"]
    assert [s["name"] for s in statuses] == ["Review", "Closed", "To do"]
    assert statuses[1]["taskIds"] == [ids["build"]]
    loose = gql('mutation { addTask(name: "Loose") { category { name } level status { name } '
                "} }")["addTask"]
    # the account's first category, and its first status (the real API's default)
    assert loose == {"category": {"name": "Development"}, "level": 0,
                     "status": {"name": "Review"}}
    assert "InUse" in gql.errors("mutation($k: BeeboleId!, $s: BeeboleId!) { "
                                 "deleteTaskCategoryStatus(categoryId: $k, statusId: $s) "
                                 "{ id } }", k=ids["dev"], s=ids["done"])[0]
    read = gql("""query($b: BeeboleId!, $w: BeeboleId!) {
      t: getTask(id: $b) { childrenIds relations { projects { value { name } } } }
      f: getTasks(filter: [{projectId: $w}]) { name }
    }""", b=ids["build"], w=ids["website"])
    assert read["t"]["childrenIds"] == [data["child"]["id"]]
    assert [r["value"]["name"] for r in read["t"]["relations"]["projects"]] == ["Website"]
    assert read["f"] == [{"name": "Build"}]
    archived = gql("mutation($b: BeeboleId!) { archiveTask(id: $b) { name } }", b=ids["build"])
    assert {t["name"] for t in archived["archiveTask"]} == {"Build", "Tests"}


def test_assignments_of_people_and_tags_on_projects_subprojects_and_tasks(gql: Gql) -> None:
    ids = gql.ids
    gql("""mutation($alice: BeeboleId!, $acme: BeeboleId!, $home: BeeboleId!, $eng: BeeboleId!,
                    $build: BeeboleId!, $backend: BeeboleId!) {
      a: assignProjectToPerson(personId: $alice, projectId: $acme) { id }
      again: assignProjectToPerson(personId: $alice, projectId: $acme) { id }
      b: assignProjectToPerson(personId: $alice, projectId: $home) { id }
      c: assignProjectToTag(tagId: $backend, projectId: $home) { id }
      d: assignTaskToPerson(taskId: $build, personId: $alice) { id }
      e: assignTaskToTag(taskId: $build, tagId: $eng) { id }
      f: makeManagerOfTag(managerId: $alice, tagId: $eng) { id }
      g: makeManagerOfTask(managerId: $alice, taskId: $build) { id }
    }""", **{k: ids[k] for k in ("alice", "acme", "eng", "build", "backend")},
        home=ids["homepage"])
    read = gql("""query($alice: BeeboleId!, $home: BeeboleId!, $build: BeeboleId!,
                        $eng: BeeboleId!) {
      p: getPerson(id: $alice) { relations { projects { value { name } }
                                             subProjects { value { name } }
                                             personsOfTask { value { name } } } }
      h: getProject(id: $home) { relations { subProjectsOfPerson { value { name } }
                                             subProjectsOfTag { value { name } } } }
      t: getTask(id: $build) { relations { persons { value { name } } tags { value { name } }
                                           managedBy { value { name } } } }
      g: getTag(id: $eng) { memberOfTasks { name } relations { managedBy { value { name } } } }
      byPerson: getProjects(filter: [{assignedPersonId: $alice}]) { name }
    }""", alice=ids["alice"], home=ids["homepage"], build=ids["build"], eng=ids["eng"])

    def names(rels: list[dict[str, dict[str, str]]]) -> list[str]:
        return [r["value"]["name"] for r in rels]

    assert names(read["p"]["relations"]["projects"]) == ["Acme"]  # assigned twice, kept once
    assert names(read["p"]["relations"]["subProjects"]) == ["Homepage"]
    assert names(read["p"]["relations"]["personsOfTask"]) == ["Build"]
    assert names(read["h"]["relations"]["subProjectsOfPerson"]) == ["Alice Martin"]
    assert names(read["h"]["relations"]["subProjectsOfTag"]) == ["Backend"]
    assert names(read["t"]["relations"]["persons"]) == ["Alice Martin"]
    assert names(read["t"]["relations"]["tags"]) == ["Engineering"]
    assert names(read["t"]["relations"]["managedBy"]) == ["Alice Martin"]
    assert read["g"]["memberOfTasks"] == [{"name": "Build"}]
    assert names(read["g"]["relations"]["managedBy"]) == ["Alice Martin"]
    assert {p["name"] for p in read["byPerson"]} == {"Acme", "Homepage"}
    gql("""mutation($alice: BeeboleId!, $acme: BeeboleId!) {
      unassignProjectFromPerson(personId: $alice, projectId: $acme) { id } }""",
        alice=ids["alice"], acme=ids["acme"])
    left = gql("query($a: BeeboleId!) { getPerson(id: $a) { relations { projects { relationId } "
               "} } }", a=ids["alice"])
    assert left["getPerson"]["relations"]["projects"] == []
    assert "NotFound: no Project" in gql.errors(
        'mutation($a: BeeboleId!) { assignProjectToPerson(personId: $a, '
        'projectId: "000000000000000000000000") { id } }', a=ids["alice"])[0]


def test_custom_field_definitions_and_values_on_each_kind(gql: Gql) -> None:
    ids = gql.ids
    made = gql("""mutation {
      level: addCustomField(name: "Level", fieldType: "text") { id }
      rate: addCustomField(name: "Rate", fieldType: "number") { id }
      remote: addCustomField(name: "Remote", fieldType: "boolean") { id }
    }""")
    level, rate, remote = (made[k]["id"] for k in ("level", "rate", "remote"))
    data = gql("""mutation($level: BeeboleId!, $rate: BeeboleId!, $remote: BeeboleId!,
                          $clients: BeeboleId!, $alice: BeeboleId!, $acme: BeeboleId!,
                          $eng: BeeboleId!, $build: BeeboleId!) {
      a: addCustomFieldTextOptionAllowedValue(id: $level, value: "junior") { id }
      b: addCustomFieldTextOptionAllowedValue(id: $level, value: "senior") { id }
      c: editCustomFieldTextOptionUseAllowedValues(id: $level, useAllowedValues: true) { id }
      d: editCustomFieldVisibilityPersons(id: $level, enabled: true) { id }
      e: addCustomFieldVisibilityProject(id: $rate, categoryId: $clients, levels: [0, 1]) { id }
      f: editCustomFieldNumberOptionDecimalPlaces(id: $rate, decimalPlaces: 2) { id }
      v1: addCustomFieldValue(customFieldId: $level, entityType: "Person", entityId: $alice,
                              textValue: "senior") { id }
      v2: addCustomFieldValue(customFieldId: $rate, entityType: "Project", entityId: $acme,
                              numberValue: 120.5) { id }
      v3: addCustomFieldValue(customFieldId: $remote, entityType: "Tag", entityId: $eng,
                              booleanValue: true) { id }
      v4: addCustomFieldValue(customFieldId: $level, entityType: "Task", entityId: $build,
                              textValue: "junior") { id }
      r: assignCustomFieldToPerson(personId: $alice, customFieldId: $level) { id }
    }""", level=level, rate=rate, remote=remote,
        **{k: ids[k] for k in ("clients", "alice", "acme", "eng", "build")})
    gql("mutation($id: BeeboleId!) { editCustomFieldValueText(id: $id, textValue: \"junior\") "
        "{ id } }", id=data["v1"]["id"])
    read = gql("""query($level: BeeboleId!, $rate: BeeboleId!, $alice: BeeboleId!) {
      l: getCustomField(id: $level) { textOptions { allowedValues useAllowedValues }
                                      visibility { persons projects { categoryId levels } }
                                      relations { customFieldsOfPerson { value { name } } } }
      r: getCustomField(id: $rate) { numberOptions { decimalPlaces }
                                     visibility { projects { categoryId levels } } }
      onAlice: getCustomFieldValues(filter: [{entityId: $alice}]) { textValue person { name } }
      all: getCustomFieldValues { entityType textValue numberValue booleanValue }
      p: getPerson(id: $alice) { relations { customFields { value { name } } } }
    }""", level=level, rate=rate, alice=ids["alice"])
    assert read["l"]["textOptions"] == {"allowedValues": ["junior", "senior"],
                                        "useAllowedValues": True}
    assert read["l"]["visibility"] == {"persons": True, "projects": None}
    assert read["l"]["relations"]["customFieldsOfPerson"] == [{"value": {"name": "Alice Martin"}}]
    assert read["r"]["numberOptions"] == {"decimalPlaces": 2}
    assert read["r"]["visibility"]["projects"] == [{"categoryId": ids["clients"],
                                                    "levels": [0, 1]}]
    assert read["onAlice"] == [{"textValue": "junior", "person": {"name": "Alice Martin"}}]
    kinds = {(v["entityType"], v["textValue"], v["numberValue"], v["booleanValue"])
             for v in read["all"]}
    assert {("Person", "junior", None, None), ("Project", None, 120.5, None),
            ("Tag", None, None, True), ("Task", "junior", None, None)} <= kinds
    assert read["p"]["relations"]["customFields"] == [{"value": {"name": "Level"}}]
    assert "NotFound" in gql.errors(
        'mutation($f: BeeboleId!) { addCustomFieldValue(customFieldId: $f, entityType: "Person",'
        ' entityId: "000000000000000000000000", textValue: "x") { id } }', f=level)[0]
    add = """mutation($f: BeeboleId!, $e: BeeboleId!, $t: String, $n: Float) {
      addCustomFieldValue(customFieldId: $f, entityType: "Person", entityId: $e, textValue: $t,
                          numberValue: $n) { id } }"""
    # one value per field and entity: a retried create cannot make a second one
    assert "AlreadySet: 'Level' already has a value on this Person" in gql.errors(
        add, f=level, e=ids["alice"], t="senior")[0]
    assert "not an allowed value of 'Level'" in gql.errors(
        add, f=level, e=ids["bob"], t="principal")[0]
    assert "is a number field; textValue does not fit it" in gql.errors(
        add, f=rate, e=ids["bob"], t="12")[0]
    assert "not an allowed value" in gql.errors(
        'mutation($id: BeeboleId!) { editCustomFieldValueText(id: $id, textValue: "boss") '
        "{ id } }", id=data["v1"]["id"])[0]
    assert "entityType must be one of Person, Project" in gql.errors(
        'mutation($f: BeeboleId!, $e: BeeboleId!) { addCustomFieldValue(customFieldId: $f, '
        'entityType: "person", entityId: $e, textValue: "junior") { id } }',
        f=level, e=ids["bob"])[0]
    assert "fieldType must be one of text, number" in gql.errors(
        'mutation { addCustomField(name: "Odd", fieldType: "colour") { id } }')[0]


def test_time_records_create_count_get_with_filters(gql: Gql) -> None:
    ids = gql.ids
    hour = 3600 * 1000
    day = 1750000000000
    add = """mutation($p: BeeboleId!, $s: BeeboleTimestamp!, $d: Int!, $t: BeeboleId,
                      $pr: [BeeboleId], $a: BeeboleId) {
      addTimeRecord(personId: $p, startTime: $s, duration: $d, taskId: $t, projectIds: $pr,
                    absenceId: $a) { id duration startTime { ts } projects { name } } }"""
    one = gql(add, p=ids["alice"], s=day, d=2 * hour, t=ids["build"],
              pr=[ids["homepage"]])["addTimeRecord"]
    assert one["duration"] == 7200000 and one["projects"] == [{"name": "Homepage"}]
    gql(add, p=ids["bob"], s=day + 86400000, d=hour, pr=[ids["acme"]])
    gql(add, p=ids["bob"], s=day, d=8 * hour, a=ids["vacation"])
    count = """query($s: BeeboleTimestamp, $e: BeeboleTimestamp, $f: [BeeboleTimeRecordFilter],
                     $absence: Boolean) {
      countTimeRecords(startTime: $s, endTime: $e, filter: $f, absence: $absence) }"""
    assert gql(count)["countTimeRecords"] == 3
    assert gql(count, f=[{"projectIds": [ids["acme"]]}])["countTimeRecords"] == 2  # subprojects
    assert gql(count, f=[{"personId": ids["bob"]}])["countTimeRecords"] == 2
    assert gql(count, f=[{"taskIds": [ids["build"]]}])["countTimeRecords"] == 1
    assert gql(count, s=day + 1)["countTimeRecords"] == 1
    # without an endTime a record ends at the end of its start's day
    end_of_day = day - day % 86400000 + 86400000 - 1
    assert gql(count, e=day + 2 * hour)["countTimeRecords"] == 0
    assert gql(count, e=end_of_day)["countTimeRecords"] == 2
    assert gql(count, absence=True)["countTimeRecords"] == 1
    assert gql(count, f=[{"personIds": [ids["alice"], ids["bob"]], "isAbsence": False}]
               )["countTimeRecords"] == 2
    got = gql("""query($id: BeeboleId!, $f: [BeeboleTimeRecordFilter]) {
      one: getTimeRecord(id: $id) { person { name } task { name } comment wfh nonBillable }
      many: getTimeRecords(filter: $f) { duration absence { name } }
    }""", id=one["id"], f=[{"personId": ids["bob"], "isAbsence": True}])
    assert got["one"] == {"person": {"name": "Alice Martin"}, "task": {"name": "Build"},
                          "comment": "", "wfh": False, "nonBillable": False}
    assert got["many"] == [{"duration": 8 * hour, "absence": {"name": "Vacation"}}]
    assert "not emulated" in gql.errors(count, f=[{"status": "a"}])[0]
    assert "needs a task, projects or an absence" in gql.errors(
        add, p=ids["alice"], s=day, d=hour)[0]


def test_the_other_operations_the_api_pages_list(gql: Gql) -> None:
    ids = gql.ids
    day, hour = 1750000000000, 3600 * 1000
    made = gql("""mutation($alice: BeeboleId!, $acme: BeeboleId!, $build: BeeboleId!,
                          $s: BeeboleTimestamp!) {
      travel: addExpenseType(name: "Travel") { id isCurrency }
      org: editOrganisationName(name: "Acme Holdings") { name }
      owners: editTaskPeriod(id: $build, startTime: $s, effort: 90) { startTime { ts } effort }
      rec: addTimeRecord(personId: $alice, startTime: $s, duration: 3600000,
                         projectIds: [$acme]) { id }
      sheet: submitTimesheet(personId: $alice, startTime: $s, endTime: $s) { id status
                                                                            person { name } }
    }""", alice=ids["alice"], acme=ids["acme"], build=ids["build"], s=day)
    assert made["org"] == {"name": "Acme Holdings"}
    assert made["owners"] == {"startTime": {"ts": day}, "effort": 90.0}
    assert made["sheet"]["status"] == "s" and made["sheet"]["person"]["name"] == "Alice Martin"
    expense = gql("""mutation($t: BeeboleId!, $acme: BeeboleId!, $d: BeeboleTimestamp!) {
      addExpenseRecord(date: $d, expenseTypeId: $t, value: 4200, projectId: $acme,
                       comment: "train") { id amount { value currency } person { name }
                       expenseType { name } project { name } comment } }""",
                  t=made["travel"]["id"], acme=ids["acme"], d=day)["addExpenseRecord"]
    assert expense["amount"] == {"value": 4200, "currency": "EUR"}
    assert expense["person"] is None  # charged to the project only
    assert "needs a personId or a projectId" in gql.errors(
        "mutation($t: BeeboleId!) { addExpenseRecord(date: 1750000000000, expenseTypeId: $t, "
        "value: 1) { id } }", t=made["travel"]["id"])[0]
    assert (expense["expenseType"], expense["project"]) == ({"name": "Travel"}, {"name": "Acme"})
    gql("mutation($id: BeeboleId!) { editExpenseRecordAmountValue(id: $id, value: 5000) { id } }",
        id=expense["id"])
    found = gql("""query($acme: BeeboleId!, $s: BeeboleTimestamp) {
      getExpenseRecords(startTime: $s, filter: [{projectId: $acme}]) { amount { value } } }""",
                acme=ids["acme"], s=day)["getExpenseRecords"]
    assert found == [{"amount": {"value": 5000}}]
    assert gql("{ getExpenseRecords(startTime: 1750000000001) { id } }") == {
        "getExpenseRecords": []}
    clones = gql("""mutation($alice: BeeboleId!, $s: BeeboleTimestamp!, $e: BeeboleTimestamp!,
                            $ts: BeeboleTimestamp!, $te: BeeboleTimestamp!) {
      cloneTimeRecords(personId: $alice, sourceStartTime: $s, sourceEndTime: $e,
                       targetStartTime: $ts, targetEndTime: $te) { startTime { ts } duration } }""",
                 alice=ids["alice"], s=day, e=day + hour, ts=day + 7 * 86400000,
                 te=day + 8 * 86400000)["cloneTimeRecords"]
    assert clones == [{"startTime": {"ts": day + 7 * 86400000}, "duration": hour}]
    events = gql("""query($alice: BeeboleId!, $id: BeeboleId!) {
      w: getApprovalEvents(personId: $alice, startTime: 1750000000000, endTime: 1750000000000)
        { id }
      all: getPersonApprovalEvents(personId: $alice) { id }
      one: getApprovalEventById(id: $id) { status }
      none: getApprovalEvents(personId: $alice, startTime: 1760000000000,
                              endTime: 1760000000001) { id }
    }""", alice=ids["alice"], id=made["sheet"]["id"])
    assert events["w"] == events["all"] == [{"id": made["sheet"]["id"]}]
    assert events["one"] == {"status": "s"} and events["none"] == []
    assert "InUse: ExpenseRecord entities" in gql.errors(
        "mutation($id: BeeboleId!) { deleteExpenseType(id: $id) { id } }",
        id=made["travel"]["id"])[0]
    decided = gql("""mutation($id: BeeboleId!) {
      approveTimesheet(id: $id) { status ts { ts } } }""", id=made["sheet"]["id"])
    assert decided["approveTimesheet"]["status"] == "a"
    assert "only a submitted timesheet" in gql.errors(
        'mutation($id: BeeboleId!) { rejectTimesheet(id: $id, stage: 0, comment: "no") { id } }',
        id=made["sheet"]["id"])[0]
    copy = gql("""mutation($acme: BeeboleId!, $bob: BeeboleId!) {
      p: duplicateProject(id: $acme, name: "Acme copy") { name level category { name } }
      q: duplicatePerson(id: $bob, name: "Bob Two", email: "bob2@example.com") { name email
                                                                               role { name } }
      r: sendTimesheetReminder(personIds: [$bob], startTime: 1750000000000,
                               endTime: 1750000000001)
    }""", acme=ids["acme"], bob=ids["bob"])
    assert copy["p"] == {"name": "Acme copy", "level": 0, "category": {"name": "Clients"}}
    tree = gql("""{ getProjects { name parent { name } managedBy { name }
                                 relations { projectsOfTag { value { name } } } } }""")
    copies = {p["name"]: p for p in tree["getProjects"]}
    assert copies["Acme copy"]["managedBy"] == [{"name": "Alice Martin"}]
    assert copies["Acme copy"]["relations"]["projectsOfTag"] == [
        {"value": {"name": "Engineering"}}]
    assert sum(1 for p in tree["getProjects"]
               if p["parent"] == {"name": "Acme copy"}) == 1  # Website, copied under it
    assert copy["q"] == {"name": "Bob Two", "email": "bob2@example.com",
                         "role": {"name": "Employee"}}
    assert copy["r"] is True
    moved = gql("""mutation($b: BeeboleId!, $done: BeeboleId!, $k: BeeboleId!) {
      c: editTaskCategoryStatusColor(statusId: $done, color: 5) { color }
      m: moveTasksToStatus(taskIds: [$b], targetStatusId: $done, orderedTaskIds: [$b])
         { name taskIds }
      t: editCategoryTaskMove(categoryId: $k, taskMove: 1) { category }
    }""", b=ids["build"], done=ids["done"], k=ids["dev"])
    assert moved == {"c": {"color": 5}, "m": {"name": "Done", "taskIds": [ids["build"]]},
                     "t": {"category": ids["dev"]}}
    settings = gql('mutation($a: BeeboleId!) { editPersonTaskSettings(id: $a, settings: "{}") '
                   "{ taskSettings } }", a=ids["alice"])
    assert settings == {"editPersonTaskSettings": {"taskSettings": "{}"}}
    # an edit the sandbox could not show back is refused, not silently stored
    for doc in ('mutation($a: BeeboleId!) { editProjectAvailability(id: $a, availability: true) '
                "{ id } }",
                'mutation($a: BeeboleId!) { editAbsenceTypeAccrualQuantity(id: $a, quantity: 2) '
                "{ id } }"):
        target = ids["acme"] if "Project" in doc else ids["vacation"]
        assert "is not emulated by the sandbox" in gql.errors(doc, a=target)[0]
    owners = gql("query($p: BeeboleId!) { getPotentialProjectOwners(projectId: $p) { name } }",
                 p=ids["acme"])["getPotentialProjectOwners"]
    assert {"Alice Martin", "Bob Stone"} <= {o["name"] for o in owners}
