"""EMX2 behaviours of emx2-api.md §§3-11 that the other sandbox tests do not reach: roles,
tokens, names with spaces, CSV writing and reading rules, queued tasks, filters, files."""

from __future__ import annotations

import io
import json
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
SIGNIN = "mutation($e:String,$p:String){signin(email:$e,password:$p){status token}}"


@pytest.fixture(scope="module")
def sb(tmp_path_factory):
    folder = tmp_path_factory.mktemp("things")
    (folder / "molgenis.csv").write_text(MODEL, encoding="utf-8")
    (folder / "Kind.csv").write_text("name\nsmall\nbig\n", encoding="utf-8")
    with start_sandbox(load=[("my schema", str(folder))]) as handle:
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


def test_tasks_wait_in_a_queue_and_report_per_table(sb):
    admin = client(sb)
    first = admin.post("/my%20schema/api/zip", params={"async": "true"}, files={
        "file": ("a.zip", _zip({"Kind.csv": "name\n" + "\n".join(f"k{i}" for i in range(3000))}))})
    second = admin.post("/my%20schema/api/zip", params={"async": "true"}, files={
        "file": ("b.zip", _zip({"data/my things.csv": "thing id,kind\nq1,nokind\n",
                                "notes.txt": "x"}))})
    assert set(first.json()) == {"id", "url"} and first.json()["url"].startswith("/my schema/api/tasks/")
    statuses = {sb.server.tasks.get(second.json()["id"]).status}
    sb.server.tasks.wait(first.json()["id"])
    done = sb.server.tasks.wait(second.json()["id"])
    assert "WAITING" in statuses or sb.server.tasks.get(first.json()["id"]).end_ms <= done.start_ms
    assert done.status == "ERROR"
    assert done.description.startswith("Import failed: ") and "is not present in table" in done.description
    task = sb.server.tasks.get(first.json()["id"]).to_json()
    descriptions = [s["description"] for s in task["subTasks"][0]["subTasks"]]
    assert any(d.startswith("Modified 3000 rows in Kind in ") for d in descriptions)
    r = admin.get(f"/api/tasks/{first.json()['id']}")
    assert r.headers["content-type"].startswith("text/plain") and json.loads(r.text)["status"] == "COMPLETED"
    viewer_view = httpx.get(f"{sb.url}/api/tasks/{first.json()['id']}")
    assert viewer_view.json()["errors"][0]["message"] == "Unable to get task: can only be done by admin"


def test_zip_without_attachment_fails_whole_import(sb):
    admin = client(sb)
    model = MODEL + "Docs,,,,,,\nDocs,,name,,1,,\nDocs,,pdf,file,,,\n"
    r = admin.post("/my%20schema/api/zip", files={"file": ("c.zip", _zip({
        "molgenis.csv": model, "Kind.csv": "name\nzzz\n", "Docs.csv": "name,pdf\nd1,f00\n"}))})
    assert r.status_code == 400 and "Import failed: file 'f00'" in r.json()["errors"][0]["message"]
    assert "zzz" not in admin.get("/my%20schema/api/csv/Kind").text
