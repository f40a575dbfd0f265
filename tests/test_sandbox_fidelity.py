"""EMX2 behaviours of emx2-api.md §§0-11 that the other sandbox tests do not reach, asserted over
HTTP against a running sandbox: roles, tokens and sessions, GraphQL errors and type names,
mutation messages and transactions, CSV writing and reading rules, ZIP export and import,
queued tasks observed through `_tasks`, filters, files, paths, and a fault armed on the
`sandbox serve` command line."""

from __future__ import annotations

import io
import json
import time
import zipfile

import httpx
import pytest

from emx2tui.sandbox.server import start_sandbox

MODEL = """tableName,tableExtends,columnName,columnType,key,required,refTable
Kind,,,,,,
Kind,,name,,1,,
my things,,,,,,
my things,,thing id,,1,,
my things,,kind,ref,,,Kind
my things,,labels,string_array,,,
my things,,done,bool,,,
my things,,day,date,,,
my things,,amount,decimal,,,
my things,,note,text,,,
big things,my things,,,,,
big things,,size,int,,,
"""
PETS = """tableName,tableExtends,columnName,columnType,key,required,refTable,refBack
Owner,,,,,,,
Owner,,name,,1,,,
Owner,,pets,refback,,,Pet,owner
Pet,,,,,,,
Pet,,name,,1,,,
Pet,,owner,ref,,,Owner,
"""
SIGNIN = "mutation($e:String,$p:String){signin(email:$e,password:$p){status token}}"


@pytest.fixture(scope="module")
def sb(tmp_path_factory):
    folder = tmp_path_factory.mktemp("things")
    (folder / "molgenis.csv").write_text(MODEL, encoding="utf-8")
    (folder / "Kind.csv").write_text("name\nsmall\nbig\n", encoding="utf-8")
    pets = tmp_path_factory.mktemp("pets")
    (pets / "molgenis.csv").write_text(PETS, encoding="utf-8")
    (pets / "Owner.csv").write_text("name\nann\nbob\n", encoding="utf-8")
    (pets / "Pet.csv").write_text("name,owner\nrex,ann\ntom,ann\nfido,bob\n", encoding="utf-8")
    with start_sandbox(load=[("my schema", str(folder)), ("pets", str(pets))]) as handle:
        yield handle


def client(sb, user="admin", password="admin") -> httpx.Client:
    c = httpx.Client(base_url=sb.url, timeout=30)
    r = c.post("/api/graphql", json={"query": SIGNIN, "variables": {"e": user, "p": password}})
    assert r.json()["data"]["signin"]["status"] == "SUCCESS"
    return c


def gql(c, query, variables=None, path="/my%20schema/graphql"):
    return c.post(path, json={"query": query, "variables": variables})


def test_roles_anonymous_viewer_editor_manager(sb):
    admin = client(sb)
    for name in ("viv", "ed", "man"):
        gql(admin, 'mutation($e:String){signup(email:$e,password:"long-password-1"){status}}',
            {"e": name}, "/api/graphql")
    r = gql(admin, 'mutation{change(members:[{email:"viv",role:"Viewer"},{email:"ed",role:"Editor"},'
                   '{email:"man",role:"Manager"}]){message}}')
    assert r.json()["data"]["change"]["message"] == "Meta update success"
    anon = httpx.Client(base_url=sb.url)
    assert anon.post("/my%20schema/graphql", json={"query": "{Kind{name}}"}).status_code == 404
    assert anon.get("/my%20schema/api/csv/Kind").json()["errors"][0]["message"] == \
        "Schema my schema unknown"
    viewer = client(sb, "viv", "long-password-1")
    assert gql(viewer, "{Kind{name}}").json()["data"]["Kind"][0]["name"] in ("small", "big")
    r = gql(viewer, 'mutation{save(Kind:[{name:"huge"}]){message}}')
    assert r.status_code == 400 and "permission denied" in r.json()["errors"][0]["message"]
    r = viewer.post("/my%20schema/api/csv/Kind", content="name\nhuge\n")
    assert r.status_code == 400 and "permission denied" in r.text
    r = gql(viewer, "{_schema{members{email}}}")
    assert "Field 'members' in type 'MolgenisSchema' is undefined" in r.json()["errors"][0]["message"]
    editor = client(sb, "ed", "long-password-1")
    assert gql(editor, 'mutation{save(Kind:[{name:"huge"}]){message}}').json()["data"]["save"][
        "message"] == "upserted 1 records to Kind\n"
    assert editor.get("/my%20schema/api/csv/members").json()["errors"][0]["message"] == \
        "Unauthorized to get schema members"
    manager = client(sb, "man", "long-password-1")
    assert "man,Manager" in manager.get("/my%20schema/api/csv/members").text
    assert gql(editor, "{_session{roles}}").json()["data"]["_session"]["roles"] == ["Viewer", "Editor"]


def test_tokens_expire_and_invalid_token_refused_everywhere(sb):
    admin = client(sb)
    token = gql(admin, 'mutation{createToken(email:"admin",tokenName:"t1"){token}}',
                path="/api/graphql").json()["data"]["createToken"]["token"]
    h = {"x-molgenis-token": token}
    assert httpx.get(f"{sb.url}/my%20schema/api/csv/Kind", headers=h).status_code == 200
    sb.faults.expire_tokens()
    for method, path in (("POST", "/api/graphql"), ("GET", "/my%20schema/api/csv/Kind"),
                         ("GET", "/my%20schema/api/zip"), ("POST", "/my%20schema/graphql")):
        r = httpx.request(method, sb.url + path, headers=h, json={"query": "{_session{email}}"})
        assert r.status_code == 400, path
        assert r.json() == {"errors": [{"message": "Invalid token or token expired"}]}
    fresh = gql(admin, 'mutation{createToken(email:"admin",tokenName:"t2"){token}}',
                path="/api/graphql").json()["data"]["createToken"]["token"]
    assert httpx.get(f"{sb.url}/my%20schema/api/csv/Kind",
                     headers={"x-molgenis-token": fresh}).status_code == 200


def test_names_with_spaces_csv_rules_and_subclass_rows(sb):
    admin = client(sb)
    body = ("\ufeffthing id;kind;labels;done;day;amount;note;mg_draft\n"
            'a2;small;"""x,y"",z";YES;2024-01-31T10:00;1e7;  padded  ;\n'
            "a10;big;;0;;9.40;;\n")
    assert admin.post("/my%20schema/api/csv/my%20things", content=body.encode()).text == "null"
    assert admin.post("/my%20schema/api/csv/BigThings",
                      content="thing id,kind,size\nb1,big,3\n").status_code == 200
    r = admin.get("/my%20schema/api/csv/MyThings")      # the id, or the name, works in paths
    assert r.headers["content-disposition"] == 'attachment; filename="my things.csv"'
    lines = r.text.splitlines()
    assert lines[0] == "thing id,kind,labels,done,day,amount,note,mg_draft"
    assert 'a2,small,"""x,y"",z",true,2024-01-31,1.0E7,padded,' in lines
    assert "a10,big,,false,,9.4,," in lines
    assert any(line.startswith("b1,big,") for line in lines)   # the subclass row, parent columns
    tab = admin.get("/my%20schema/api/csv/my%20things", params={"separator": "TAB"}).text
    assert tab.splitlines()[0].split("\t")[:2] == ["thing id", "kind"]
    data = gql(admin, "{MyThings(orderby:{thingId:ASC}){thingId labels done amount}}").json()
    rows = data["data"]["MyThings"]
    assert [r["thingId"] for r in rows] == ["a2", "a10", "b1"]     # numeric-aware ordering
    assert rows[0]["labels"] == ["x,y", "z"] and rows[0]["amount"] == 1.0e7
    full = admin.get("/my%20schema/api/csv/my%20things",
                     params={"includeSystemColumns": "true"}).text.splitlines()[0]
    assert full.endswith("mg_draft,mg_insertedBy,mg_insertedOn,mg_updatedBy,mg_updatedOn,mg_tableclass")


def test_filters_equals_like_and_nested_ref(sb):
    admin = client(sb)
    admin.post("/my%20schema/api/csv/my%20things", content="thing id,kind\nf1,small\nf2,big\n")
    q = "query($f:MyThingsFilter){MyThings(filter:$f){thingId}}"
    def ids(f):
        return sorted(r["thingId"] for r in gql(admin, q, {"f": f}).json()["data"]["MyThings"] or [])
    assert ids({"thingId": {"equals": "f1"}}) == ["f1"]
    assert ids({"thingId": {"like": "F"}}) == ["f1", "f2"]          # like is case-insensitive
    assert ids({"kind": {"name": {"equals": "big"}}, "thingId": {"like": "f"}}) == ["f2"]
    csv = admin.get("/my%20schema/api/csv/my%20things",
                    params={"filter": json.dumps({"kind": {"name": {"equals": "small"}},
                                                  "thingId": {"like": "f"}})}).text
    assert csv.splitlines()[1:] == ["f1,small,,,,,,"]
    bad = admin.get("/my%20schema/api/csv/my%20things", params={"filter": '{"nope":{"equals":1}}'})
    assert bad.status_code == 400 and "nope" in bad.json()["errors"][0]["message"]


def _zip(files: dict) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for k, v in files.items():
            zf.writestr(k, v)
    return buf.getvalue()


TASK = "query($id:String){_tasks(id:$id){id status description subTasks{status description subTasks{status description}}}}"


def poll_task(c, task_id: str, timeout: float = 60) -> tuple[list[str], dict]:
    """Poll `_tasks(id:)` without pause until the task ends: (the statuses seen, in order, the
    final answer)."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = gql(c, TASK, {"id": task_id}).json()["data"]["_tasks"][0]
        if not seen or seen[-1] != task["status"]:
            seen.append(task["status"])
        if task["status"] in ("COMPLETED", "ERROR", "CANCELLED", "SKIPPED"):
            return seen, task
    raise AssertionError(f"task {task_id} did not end; statuses seen {seen}")


def test_tasks_wait_in_a_queue_and_report_per_table(sb):
    admin = client(sb)
    first = admin.post("/my%20schema/api/zip", params={"async": "true"}, files={
        "file": ("a.zip", _zip({"Kind.csv": "name\n" + "\n".join(f"k{i}" for i in range(20000))}))})
    second = admin.post("/my%20schema/api/zip", params={"async": "true"}, files={
        "file": ("b.zip", _zip({"data/my things.csv": "thing id,kind\n"
                                + "".join(f"q{i},small\n" for i in range(20000)) + "q-last,nokind\n",
                                "notes.txt": "x"}))})
    assert set(first.json()) == {"id", "url"} and first.json()["url"].startswith("/my schema/api/tasks/")
    # one task at a time: the second waits while the first runs, then runs itself
    seen, done = poll_task(admin, second.json()["id"])
    assert seen == ["WAITING", "RUNNING", "ERROR"], seen
    assert done["description"].startswith("Import failed: ")
    assert "is not present in table" in done["description"]
    seen_first, task = poll_task(admin, first.json()["id"])
    assert seen_first == ["COMPLETED"]          # it ended before the second one started
    descriptions = [s["description"] for s in task["subTasks"][0]["subTasks"]]
    assert any(d.startswith("Modified 20000 rows in Kind in ") for d in descriptions)
    r = admin.get(f"/api/tasks/{first.json()['id']}")
    assert r.headers["content-type"].startswith("text/plain") and json.loads(r.text)["status"] == "COMPLETED"
    rest = json.loads(r.text)
    assert rest["endTimeMilliseconds"] <= json.loads(
        admin.get(f"/api/tasks/{second.json()['id']}").text)["startTimeMilliseconds"]
    viewer_view = httpx.get(f"{sb.url}/api/tasks/{first.json()['id']}")
    assert viewer_view.json()["errors"][0]["message"] == "Unable to get task: can only be done by admin"
    assert "q1" not in admin.get("/my%20schema/api/csv/my%20things").text   # all or nothing


def test_zip_without_attachment_fails_whole_import(sb):
    admin = client(sb)
    model = MODEL + "Docs,,,,,,\nDocs,,name,,1,,\nDocs,,pdf,file,,,\n"
    r = admin.post("/my%20schema/api/zip", files={"file": ("c.zip", _zip({
        "molgenis.csv": model, "Kind.csv": "name\nzzz\n", "Docs.csv": "name,pdf\nd1,f00\n"}))})
    assert r.status_code == 400 and "Import failed: file 'f00'" in r.json()["errors"][0]["message"]
    assert "zzz" not in admin.get("/my%20schema/api/csv/Kind").text


def test_session_beats_token_and_anonymous_has_no_token_mutations(sb):
    admin = client(sb)
    # with a session cookie the token header is not even read: garbage or a forged JWT pass
    for token in ("garbage", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.Zm9yZ2Vk"):
        r = admin.post("/api/graphql", json={"query": "{_session{email}}"},
                       headers={"x-molgenis-token": token})
        assert r.status_code == 200 and r.json()["data"]["_session"]["email"] == "admin"
    anon = httpx.Client(base_url=sb.url)
    for token, message in (("garbage", "Cannot parse token"),
                           ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.Zm9yZ2Vk",
                            "Invalid token or token expired")):
        r = anon.post("/api/graphql", json={"query": "{_session{email}}"},
                      headers={"x-molgenis-token": token})
        assert (r.status_code, r.json()) == (400, {"errors": [{"message": message}]})
    for field in ("createToken", "signout"):
        args = '(email:"admin",tokenName:"x")' if field == "createToken" else ""
        r = anon.post("/api/graphql", json={"query": f"mutation{{{field}{args}{{status}}}}"})
        assert r.status_code == 400
        assert r.json() == {"errors": [{"message": f"Validation error (FieldUndefined@[{field}]) : "
                                                   f"Field '{field}' in type 'Save' is undefined"}]}


def test_graphql_errors_carry_no_partial_data_and_java_paths(sb):
    admin = client(sb)
    # Kind would resolve; the failing _tasks lookup takes the whole answer with it
    r = gql(admin, '{Kind{name} _tasks(id:"no-such-task"){id}}')
    assert r.status_code == 400
    assert list(r.json()) == ["errors"] and len(r.json()["errors"]) == 1
    assert r.json()["errors"][0]["message"].startswith(
        "Exception while fetching data (/_tasks) : getTask(no-such-task) failed")
    # two validation errors: only the first is reported, with graphql-java's field path
    r = gql(admin, "{Kind{name foo} MyThings{bar}}")
    assert r.status_code == 400 and list(r.json()) == ["errors"]
    assert r.json()["errors"] == [{"message": "Validation error (FieldUndefined@[Kind/foo]) : "
                                              "Field 'foo' in type 'Kind' is undefined"}]


def test_derived_type_names(sb):
    admin = client(sb)
    names = ["MyThingsInput", "MyThingsFilter", "MyThingsorderby", "MyThingsPkeyInput",
             "MyThingsAggregate"]
    query = "{" + " ".join(f'{n}:__type(name:"{n}"){{name}}' for n in names) + \
        ' Query:__type(name:"Query"){fields{name}}}'
    data = gql(admin, query).json()["data"]
    assert {n: (data.get(n) or {}).get("name") for n in names} == {n: n for n in names}
    assert {"MyThings", "MyThings_agg", "BigThings_agg"} <= {f["name"] for f in data["Query"]["fields"]}
    # the names work where clients use them: typed variables
    r = gql(admin, "mutation($r:[KindInput]){save(Kind:$r){message}}", {"r": [{"name": "typed"}]})
    assert r.json()["data"]["save"]["message"] == "upserted 1 records to Kind\n"
    r = gql(admin, "query($o:[Kindorderby]){Kind(orderby:$o, limit:1){name}}", {"o": [{"name": "DESC"}]})
    assert r.json()["data"]["Kind"] == [{"name": "typed"}]


def test_mutation_messages_and_per_table_transactions(sb):
    admin = client(sb)
    def message(q):
        r = gql(admin, q)
        assert r.status_code == 200, r.text
        return r.json()["data"][q.split("{")[1].split("(")[0]]["message"]
    assert message('mutation{insert(Kind:[{name:"m1"},{name:"m2"}]){message}}') == \
        "inserted 2 records to Kind\n"
    assert message('mutation{update(Kind:[{name:"m1"},{name:"m2"}]){message}}') == \
        "updated 2 records to Kind\n"
    assert message('mutation{insert(Kind:[{name:"m3"}], MyThings:[{thingId:"m3", kind:{name:"m3"}}])'
                   '{message}}') == "inserted 1 records to Kind\ninserted 1 records to my things\n"
    assert message('mutation{delete(Kind:[{name:"m2"},{name:"never"}]){message}}') == \
        "delete 1 records from Kind\n"
    # each table is its own transaction: Kind (first in the schema) commits, my things fails
    r = gql(admin, 'mutation{save(MyThings:[{thingId:"p1", kind:{name:"p-kind"}}], '
                   'Kind:[{name:"p-ok"}]){message}}')
    assert r.status_code == 400
    assert r.json()["errors"][0]["message"].startswith("Upsert into table 'my things' failed: "
                                                       "Transaction failed: ")
    assert "Key (kind)=(p-kind) is not present in table \"Kind\"" in r.json()["errors"][0]["message"]
    kinds = admin.get("/my%20schema/api/csv/Kind").text.splitlines()
    assert "p-ok," in kinds
    assert "p1," not in admin.get("/my%20schema/api/csv/my%20things").text


def test_refback_column_in_csv_download_ignored_on_upload(sb):
    admin = client(sb)
    r = admin.get("/pets/api/csv/Owner")
    assert r.text.splitlines()[0] == "name,pets,mg_draft"
    assert set(r.text.splitlines()[1:]) == {'ann,"rex,tom",', "bob,fido,"}
    assert admin.post("/pets/api/csv/Owner", content='name,pets\ncyd,"rex"\n').status_code == 200
    assert "cyd,," in admin.get("/pets/api/csv/Owner").text.splitlines()   # nothing moved


def test_empty_key_cell_passes_the_prescan_and_fails_its_batch(sb):
    admin = client(sb)
    body = "thing id,kind\n" + "".join(f"ek{i:03},small\n" for i in range(150)) + ",small\n,small\n"
    r = admin.post("/my%20schema/api/csv/my%20things", content=body)
    assert r.status_code == 400
    message = r.json()["errors"][0]["message"]
    assert "Missing keys" not in message and "Duplicate keys" not in message   # not the pre-scan
    assert message.startswith("Upsert into table 'my things' failed: ") and "is required" in message
    stored = [line for line in admin.get("/my%20schema/api/csv/my%20things").text.splitlines()
              if line.startswith("ek")]
    assert len(stored) == 100          # the first batch of 100 stays committed
    r = admin.post("/my%20schema/api/csv/my%20things", content="kind\nsmall\n")
    assert r.json()["errors"][0]["message"].startswith(
        "Missing keys found in table 'my things': missing value for key column 'thing id'")


def _read_zip(data: bytes) -> dict[str, str]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {n: zf.read(n).decode("utf-8") for n in zf.namelist()}


def test_zip_export_settings_and_system_columns(sb):
    admin = client(sb)
    r = gql(admin, 'mutation{change(settings:[{key:"menu",value:"[1, 2]"}]){message}}')
    assert r.json()["data"]["change"]["message"] == "Meta update success"
    admin.post("/my%20schema/api/csv/BigThings", content="thing id,kind,size\nzb1,big,7\n")
    plain = _read_zip(admin.get("/my%20schema/api/zip").content)
    assert plain["molgenis_settings.csv"].splitlines() == ["table,key,value", ',menu,"[1, 2]"']
    assert {"molgenis.csv", "Kind.csv", "my things.csv", "big things.csv"} <= set(plain)
    assert plain["my things.csv"].splitlines()[0] == \
        "thing id,kind,labels,done,day,amount,note,mg_draft"
    assert plain["big things.csv"].splitlines()[0] == \
        "thing id,kind,labels,done,day,amount,note,size,mg_draft"
    assert "zb1,big,,,,,,7," in plain["big things.csv"].splitlines()
    assert not any(line.startswith("zb1,") for line in plain["my things.csv"].splitlines())
    full = _read_zip(admin.get("/my%20schema/api/zip", params={"includeSystemColumns": "TRUE"}).content)
    header = full["big things.csv"].splitlines()[0].split(",")
    assert header[-6:] == ["mg_draft", "mg_insertedBy", "mg_insertedOn", "mg_updatedBy",
                           "mg_updatedOn", "mg_tableclass"]
    row = next(line for line in full["big things.csv"].splitlines() if line.startswith("zb1,"))
    assert row.endswith(",my schema.big things") and ",admin," in row
    # only the text `true` (any case) switches them on
    yes = _read_zip(admin.get("/my%20schema/api/zip", params={"includeSystemColumns": "yes"}).content)
    assert yes["big things.csv"].splitlines()[0] == plain["big things.csv"].splitlines()[0]


def test_zip_import_file_matching_and_errors(sb):
    admin = client(sb)
    def post(files, name="x.zip"):
        return admin.post("/my%20schema/api/zip", files={"file": (name, _zip(files))})
    r = post({"a/Kind.csv": "name\nzz1\n", "b/kind.tsv": "name\nzz2\n"})
    assert r.status_code == 400 and r.json()["errors"][0]["message"] == \
        "Import failed, contains multiple files of name Kind in different subfolders"
    r = post({"Kind.txt": "name\nzz3\n"})
    assert r.status_code == 400 and r.json()["errors"][0]["message"] == \
        "Import failed: Table 'Kind' has unsupported extension .txt"
    r = post({"Kind.csv": "name\nzz4\n"}, name="x.tar")
    assert r.status_code == 400 and r.json()["errors"][0]["message"] == \
        "File upload failed: extension .tar not supported"
    assert not any(k in admin.get("/my%20schema/api/csv/Kind").text for k in ("zz1", "zz2", "zz3", "zz4"))
    # a .tsv, named without spaces and in another case, reaches table "my things"
    r = post({"deep/folder/MYTHINGS.tsv": "thing id\tkind\tlabels\nts1\tsmall\t\"a,b\"\n"})
    assert r.status_code == 200 and r.text.startswith("Import success in ")
    rows = admin.get("/my%20schema/api/csv/my%20things", params={
        "filter": json.dumps({"thingId": {"equals": "ts1"}})}).text.splitlines()
    assert rows[1:] == ['ts1,small,"a,b",,,,,']


def test_zip_foreign_keys_checked_at_commit(sb):
    admin = client(sb)
    admin.post("/pets/api/csv/Owner", content="name\ndan\n")
    admin.post("/pets/api/csv/Pet", content="name,owner\nrio,dan\n")
    # Owner is imported (and its row deleted) before Pet, whose referring row goes later
    r = admin.post("/pets/api/zip", files={"file": ("x.zip", _zip({
        "Owner.csv": "name,mg_delete\ndan,true\n", "Pet.csv": "name,owner,mg_delete\nrio,dan,true\n"}))})
    assert r.status_code == 200, r.text
    assert "dan" not in admin.get("/pets/api/csv/Owner").text
    assert "rio" not in admin.get("/pets/api/csv/Pet").text
    # the same delete without the referrer fails at commit, as one transaction
    r = admin.post("/pets/api/zip", files={"file": ("x.zip", _zip({
        "Owner.csv": "name,mg_delete\nbob,true\neve,\n"}))})
    assert r.status_code == 400 and "is still referenced" in r.json()["errors"][0]["message"]
    assert "eve" not in admin.get("/pets/api/csv/Owner").text


def test_schemas_list_id_name_label_description(sb):
    admin = client(sb)
    r = gql(admin, 'mutation{createSchema(name:"described", description:"for the list"){status}}',
            path="/api/graphql")
    assert r.json()["data"]["createSchema"]["status"] == "SUCCESS"
    r = gql(admin, "{_schemas{id name label description}}", path="/api/graphql")
    schemas = {s["name"]: s for s in r.json()["data"]["_schemas"]}
    assert schemas["described"] == {"id": "described", "name": "described", "label": "described",
                                    "description": "for the list"}
    # no description: the key is left out (Jackson NON_NULL), the others are there
    assert schemas["my schema"] == {"id": "my schema", "name": "my schema", "label": "my schema"}


def test_bare_table_async_csv_import_ends_skipped_without_rows(sb):
    admin = client(sb)
    r = admin.post("/my%20schema/api/csv", params={"async": "true"}, content="name\n",
                   headers={"fileName": "kind"})
    assert r.headers["content-type"].startswith("text/plain")
    ref = json.loads(r.text)
    assert ref["url"] == f"/my schema/api/tasks/{ref['id']}"
    seen, task = poll_task(admin, ref["id"])
    assert task["status"] == "SKIPPED" and seen[-1] == "SKIPPED"
    assert task["description"] == "Skipped table Kind: sheet was empty"
    r = admin.post("/my%20schema/api/csv", params={"async": "true"}, content="name\nbare1\nbare2\n",
                   headers={"fileName": "Kind"})
    seen, task = poll_task(admin, json.loads(r.text)["id"])
    assert task["status"] == "COMPLETED" and task["description"].startswith("Modified 2 rows in Kind in ")
    assert {"bare1,", "bare2,"} <= set(admin.get("/my%20schema/api/csv/Kind").text.splitlines())


def test_paths_ignore_trailing_and_double_slashes(sb):
    admin = client(sb)
    for path in ("/my%20schema/graphql/", "//api/graphql", "/api/graphql/", "//my%20schema//graphql"):
        r = admin.post(sb.url + path, json={"query": "{_session{email}}"}, follow_redirects=False)
        assert r.request.url.raw_path.decode() == path       # sent as written
        assert r.status_code == 200 and r.json()["data"]["_session"]["email"] == "admin", path
    assert admin.get("/my%20schema/api/csv/Kind/").text.startswith("name,mg_draft")
    assert admin.get("/no/such/route").status_code == 404


def test_task_error_fault_from_the_command_line_hits_sync_and_async_imports(tmp_path,
                                                                           sandbox_process):
    folder = tmp_path / "things"
    folder.mkdir()
    (folder / "molgenis.csv").write_text(MODEL, encoding="utf-8")
    (folder / "Kind.csv").write_text("name\nsmall\n", encoding="utf-8")
    with sandbox_process(tmp_path / "serve.log", "--load", f"my schema={folder}",
                         "--fault", "task-error:times=2,message=disk full, try later") as url:
        admin = httpx.Client(base_url=url, timeout=30)
        admin.post("/api/graphql", json={"query": SIGNIN, "variables": {"e": "admin", "p": "admin"}})
        upload = {"file": ("k.zip", _zip({"Kind.csv": "name\nfault1\n"}))}
        r = admin.post("/my%20schema/api/zip", files=upload)               # synchronous: 400
        assert (r.status_code, r.json()) == (400, {"errors": [{"message": "disk full, try later"}]})
        r = admin.post("/my%20schema/api/zip", params={"async": "true"}, files=upload)
        seen, task = poll_task(admin, r.json()["id"])
        assert task["status"] == "ERROR" and task["description"] == "Import failed: disk full, try later"
        assert "fault1" not in admin.get("/my%20schema/api/csv/Kind").text
        r = admin.post("/my%20schema/api/zip", files=upload)               # the fault is spent
        assert r.status_code == 200 and r.text.startswith("Import success in ")
        assert "fault1" in admin.get("/my%20schema/api/csv/Kind").text
    assert "faults: task-error" in (tmp_path / "serve.log").read_text()
