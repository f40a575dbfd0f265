"""The sandbox behaves like an EMX2 server, checked with the real catalogue models."""

from __future__ import annotations

import io
import json
import time
import zipfile

import httpx
import pytest

from emx2tui.emx2 import csvfmt
from emx2tui.sandbox.app import create_app
from emx2tui.sandbox.loader import load_path
from emx2tui.sandbox.server import start_sandbox
from emx2tui.sandbox.store import Store

SIGNIN = "mutation($e:String,$p:String){signin(email:$e,password:$p){status message token}}"


@pytest.fixture(scope="module")
def sandbox(models_dir):
    with start_sandbox(load=[
        f"CatalogueOntologies={models_dir / 'catalogue-ontologies'}",
        f"catalogue={models_dir / 'catalogue'}",
        f"testCohort={models_dir / 'cohort-staging'}",
    ]) as handle:
        yield handle


@pytest.fixture()
def admin(sandbox):
    with httpx.Client(base_url=sandbox.url, timeout=30) as client:
        r = client.post("/api/graphql", json={"query": SIGNIN, "variables": {"e": "admin", "p": "admin"}})
        assert r.json()["data"]["signin"]["status"] == "SUCCESS"
        yield client


def gql(client, path, query, variables=None, status=200):
    r = client.post(path, json={"query": query, "variables": variables})
    assert r.status_code == status, r.text
    return r.json()


def count(client, schema, table_id, flt=None):
    q = "query($f:%sFilter){%s_agg(filter:$f){count}}" % (table_id, table_id)
    return gql(client, f"/{schema}/graphql", q, {"f": flt})["data"][f"{table_id}_agg"]["count"]


def make_zip(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return buf.getvalue()


def wait_task(client, task_id, path="/api/graphql"):
    q = ("query($id:String){_tasks(id:$id){id status description subTasks{status description "
         "subTasks{status description}}}}")
    for _ in range(500):
        task = gql(client, path, q, {"id": task_id})["data"]["_tasks"][0]
        if task["status"] in ("COMPLETED", "ERROR", "CANCELLED", "SKIPPED"):
            return task
        time.sleep(0.02)
    raise AssertionError("task did not end")


# ----------------------------------------------------------------------------- auth
def test_signin_failure_and_success_shapes(sandbox):
    with httpx.Client(base_url=sandbox.url) as c:
        bad = gql(c, "/api/graphql", SIGNIN, {"e": "admin", "p": "nope"})
        # EMX2 leaves null fields out of GraphQL answers (Jackson NON_NULL), so no "token" key
        assert bad == {"data": {"signin": {"status": "FAILED",
                                           "message": "Sign in as 'admin' failed: user or password unknown"}}}
        assert "JSESSIONID" not in c.cookies
        ok = gql(c, "/apps/central/graphql", SIGNIN, {"e": "admin", "p": "admin"})["data"]["signin"]
        assert ok["status"] == "SUCCESS" and ok["message"] == "Signed in as 'admin'" and ok["token"]
        assert "JSESSIONID" in c.cookies
        token = ok["token"]
        out = gql(c, "/api/graphql", "mutation{signout{status message}}")["data"]["signout"]
        assert out["message"] == "User 'admin' has signed out"
    with httpx.Client(base_url=sandbox.url, headers={"x-molgenis-token": token}) as c:
        s = gql(c, "/catalogue/graphql", "{_session{email admin roles}}")["data"]["_session"]
        assert s["email"] == "admin" and s["admin"] is True and "Editor" in s["roles"]
        named = gql(c, "/api/graphql", 'mutation{createToken(email:"admin",tokenName:"mig"){status message token}}')
        assert named["data"]["createToken"]["message"] == "Token 'mig' created for user 'admin'"
    with httpx.Client(base_url=sandbox.url, headers={"auth-key": named["data"]["createToken"]["token"]}) as c:
        assert gql(c, "/api/graphql", "{_session{email}}")["data"]["_session"]["email"] == "admin"


def test_bad_token_is_400_everywhere(sandbox):
    with httpx.Client(base_url=sandbox.url) as c:
        c.post("/api/graphql", json={"query": 'mutation{signin(email:"admin",password:"admin"){status}}'})
        real = gql(c, "/api/graphql", "{_session{token}}")["data"]["_session"]["token"]
    forged = real.rsplit(".", 1)[0] + ".c2lnbmVkIGJ5IHNvbWVvbmUgZWxzZQ"    # a JWT, badly signed
    for token, message in (("not-a-token", "Cannot parse token"),
                           (forged, "Invalid token or token expired")):
        with httpx.Client(base_url=sandbox.url, headers={"x-molgenis-token": token}) as c:
            for r in (c.post("/api/graphql", json={"query": "{_manifest{SpecificationVersion}}"}),
                      c.get("/CatalogueOntologies/api/csv/Countries"),
                      c.get("/catalogue/api/zip")):
                assert r.status_code == 400
                assert r.json() == {"errors": [{"message": message}]}


@pytest.mark.parametrize("query", [
    None,  # the client's own metadata query
    "{ _schema { __typename name roles { name permissions { table select } } tables { id t: tableType"
    " semantics settings { key value } columns { name key required semantics readonly position"
    " labels { locale value } } } } }",
    "{ s: _schema { settings { value } tables { name columns { id refTableName refSchemaName } } } }",
])
def test_metadata_answer_is_the_executors(sandbox, query):
    """The fast `_schema` answer equals graphql-core's executor's, null fields left out, keys in
    the order asked, for every schema of the catalogue's models."""
    from graphql import graphql_sync, parse

    from emx2tui.emx2.client import _SCHEMA_QUERY
    from emx2tui.sandbox.app import _projected_meta, drop_nulls
    from emx2tui.sandbox.gql import Ctx

    query = query or _SCHEMA_QUERY
    for schema in ("catalogue", "testCohort", "CatalogueOntologies"):
        gschema = sandbox.server.graphql_schema(schema, "admin")
        ctx = Ctx(server=sandbox.server, user="admin", schema=schema, session=None)
        fast = _projected_meta(gschema, query, parse(query), ctx)
        slow = graphql_sync(gschema, query, context_value=ctx)
        assert fast is not None and not slow.errors
        assert json.dumps(fast) == json.dumps({"data": drop_nulls(slow.data)})
        assert len(json.dumps(fast)) > 1000


def test_a_query_checked_once_is_checked_again_after_the_model_changes(models_dir):
    """Queries are parsed and checked once per API; dropping a column builds a new API, so the
    same query, valid before, is refused after, in graphql-java's words."""
    query = "{ Contacts { firstName initials } }"
    with start_sandbox(load=[f"CatalogueOntologies={models_dir / 'catalogue-ontologies'}",
                             f"catalogue={models_dir / 'catalogue'}",
                             f"testCohort={models_dir / 'cohort-staging'}"]) as handle:
        with httpx.Client(base_url=handle.url, timeout=30) as client:
            gql(client, "/api/graphql", SIGNIN, {"e": "admin", "p": "admin"})
            first = gql(client, "/testCohort/graphql", query)
            again = gql(client, "/testCohort/graphql", query)
            assert first == again and len(first["data"]["Contacts"]) > 0
            r = client.post("/testCohort/api/csv", content="tableName,columnName,drop\n"
                                                           "Contacts,initials,true\n")
            assert r.status_code == 200, r.text
            refused = gql(client, "/testCohort/graphql", query, status=400)
            assert refused["errors"][0]["message"] == (
                "Validation error (FieldUndefined@[Contacts/initials]) : Field 'initials' in type "
                "'Contacts' is undefined")
            # a query that was never valid is refused each time it is asked
            for _ in range(2):
                gql(client, "/testCohort/graphql", "{ Contacts { nosuch } }", status=400)


def test_anonymous_sees_only_ontologies(sandbox):
    with httpx.Client(base_url=sandbox.url) as c:
        data = gql(c, "/api/graphql", "{_schemas{name} _session{email} _manifest{SpecificationVersion "
                                      "ImplementationVersion DatabaseVersion}}")["data"]
        assert [s["name"] for s in data["_schemas"]] == ["CatalogueOntologies"]
        assert data["_session"]["email"] == "anonymous"
        assert all(isinstance(v, str) for v in data["_manifest"].values())
        r = c.post("/catalogue/graphql", json={"query": "{_schema{name}}"})
        assert r.status_code == 404
        assert "Schema 'catalogue' unknown" in r.json()["errors"][0]["message"]
        r = c.post("/api/graphql", json={"query": "mutation{signout{status}}"})
        assert r.status_code == 400 and "signout" in r.json()["errors"][0]["message"]
        assert count(c, "CatalogueOntologies", "Countries") > 100


# ----------------------------------------------------------------------------- metadata and queries
def test_schema_metadata_shape(admin):
    meta = gql(admin, "/catalogue/graphql", "{_schema{id name tables{name id tableType inheritName "
               "columns{name id columnType key required readonly position refSchemaName refTableName "
               "refTableId inherited}}}}")["data"]["_schema"]
    assert meta["name"] == "catalogue"
    names = [t["name"] for t in meta["tables"]]
    assert names == sorted(names)
    coll = next(t for t in meta["tables"] if t["name"] == "Collections")
    assert coll["inheritName"] == "Resources" and coll["tableType"] == "DATA"
    cols = coll["columns"]
    assert cols[0]["id"] == "mg_top_of_form" and cols[0]["columnType"] == "SECTION"
    assert [c["name"] for c in cols[-6:]] == ["mg_draft", "mg_insertedBy", "mg_insertedOn",
                                              "mg_updatedBy", "mg_updatedOn", "mg_tableclass"]
    by = {c["name"]: c for c in cols}
    assert by["id"]["key"] == 1 and by["id"]["required"] == "true" and by["id"]["inherited"] is True
    assert "key" not in by["description"] and "readonly" not in by["description"]
    assert "inherited" not in by["mg_top_of_form"]
    assert by["countries"]["columnType"] == "ONTOLOGY_ARRAY"
    assert by["countries"]["refSchemaName"] == "CatalogueOntologies"
    assert by["publisher"]["refSchemaName"] == "catalogue" and by["publisher"]["refTableId"] == "Organisations"


def test_counts_filters_and_nested_refs(admin, models_dir):
    expected = len(csvfmt.read_csv((models_dir / "catalogue" / "Variables.csv").read_bytes())[1])
    assert count(admin, "catalogue", "Variables") == expected
    # the parent table holds the rows of all its subclasses
    assert count(admin, "catalogue", "Resources") == sum(
        len(csvfmt.read_csv((models_dir / "catalogue" / f"{n}.csv").read_bytes())[1])
        for n in ("Collections", "Networks", "Catalogues"))
    assert count(admin, "catalogue", "Variables", {"resource": {"id": {"equals": "LifeCycle"}}}) > 0
    both = count(admin, "catalogue", "Resources", {"_or": [{"id": {"equals": "testCohort1"}},
                                                           {"id": {"equals": "LifeCycle"}}]})
    assert both == 2
    assert count(admin, "catalogue", "Resources", {"equals": [{"id": "testCohort2"}]}) == 1
    assert count(admin, "catalogue", "Collections", {"countries": {"name": {"equals": "Bermuda"}}}) == 1
    rows = gql(admin, "/catalogue/graphql", '{Variables(filter:{name:{like:"apgar"}}, orderby:{name:ASC}, '
               'limit:2){name resource{id mg_tableclass} table{name resource{id}}}}')["data"]["Variables"]
    assert rows and rows[0]["resource"]["mg_tableclass"] == "catalogue.Catalogues"
    assert rows[0]["table"]["resource"]["id"] == rows[0]["resource"]["id"]


def test_csv_download_with_nested_filter(admin, models_dir):
    flt = json.dumps({"resource": {"id": {"equals": "LifeCycle"}}})
    r = admin.get("/catalogue/api/csv/Variables", params={"filter": flt})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    header, rows = csvfmt.read_csv(r.text)
    ref_header = csvfmt.read_csv((models_dir / "catalogue" / "Variables.csv").read_bytes())[0]
    assert header[0:3] == ["resource", "table", "name"] and header[-1] == "mg_draft"
    assert set(ref_header) <= set(header)
    assert rows and all(r_["resource"] == "LifeCycle" for r_ in rows)
    bad = admin.get("/catalogue/api/csv/Variables", params={"filter": json.dumps({"foo": {"equals": "x"}})})
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["message"] == "Graphql API error: Column foo unknown in table Variables"
    assert admin.get("/catalogue/api/csv/Nope").json()["errors"][0]["message"] == "Table Nope unknown"


def test_parent_csv_includes_subclass_rows(admin):
    header, rows = csvfmt.read_csv(admin.get("/catalogue/api/csv/Resources").text)
    assert {"testCohort1", "LifeCycle"} <= {r["id"] for r in rows}
    assert "design" not in header  # a Collections-only column


# ----------------------------------------------------------------------------- writes
def test_csv_upload_upsert_clears_omitted_and_deletes(admin):
    gql(admin, "/api/graphql", 'mutation{createSchema(name:"csvtest"){status}}')
    meta = "tableName,columnName,columnType,key,required,refTable\nTag,,,,,\nTag,name,,1,,\n" \
           "Tag,colour,,,,\nTag,weight,int,,,\nPet,,,,,\nPet,name,,1,,\nPet,tag,ref,,,Tag\n"
    r = admin.post("/csvtest/api/csv", content=meta, headers={"fileName": "molgenis.csv"})
    assert r.status_code == 200, r.text
    r = admin.post("/csvtest/api/csv/Tag", content="name,colour,weight\nred,r,1\nblue,b,2\n")
    assert r.status_code == 200 and r.text == "null"
    admin.post("/csvtest/api/csv/Tag", content="name,weight\nred,5\n")
    rows = {r_["name"]: r_ for r_ in csvfmt.read_csv(admin.get("/csvtest/api/csv/Tag").text)[1]}
    assert rows["red"]["colour"] == "" and rows["red"]["weight"] == "5"
    assert rows["blue"]["colour"] == "b"
    dup = admin.post("/csvtest/api/csv/Tag", content="name\nred\nred\n")
    assert dup.status_code == 400
    assert dup.json()["errors"][0]["message"] == "Duplicate keys found in table Tag: [red]"
    missing = admin.post("/csvtest/api/csv/Tag", content="colour\nx\n")
    assert "missing value for key column 'name'" in missing.json()["errors"][0]["message"]
    admin.post("/csvtest/api/csv/Tag", content="name,mg_delete\nblue,true\ngreen,\n")
    names = {r_["name"] for r_ in csvfmt.read_csv(admin.get("/csvtest/api/csv/Tag").text)[1]}
    assert names == {"red", "green"}
    bad = admin.post("/csvtest/api/csv/Pet", content="name,tag\npooky,purple\n")
    assert bad.status_code == 400
    assert 'is not present in table "Tag"' in bad.json()["errors"][0]["message"]
    admin.post("/csvtest/api/csv/Pet", content="name,tag\npooky,red\n")
    refused = admin.request("DELETE", "/csvtest/api/csv/Tag", content="name\nred\n")
    assert refused.status_code == 400
    assert 'is still referenced from table "Pet"' in refused.json()["errors"][0]["message"]
    assert admin.request("DELETE", "/csvtest/api/csv/Tag", content="name\ngreen\nnothere\n").text == "1"
    res = gql(admin, "/csvtest/graphql", 'mutation{save(Tag:[{name:"x",weight:3},{name:"y"}]){status message}}')
    assert res["data"]["save"]["message"] == "upserted 2 records to Tag\n"
    res = gql(admin, "/csvtest/graphql", 'mutation{delete(Tag:[{name:"x"},{name:"zz"}]){message}}')
    assert res["data"]["delete"]["message"] == "delete 1 records from Tag\n"
    gql(admin, "/api/graphql", 'mutation{deleteSchema(id:"csvtest"){status}}')


def test_cross_schema_ontology_reference_refused_when_term_missing(admin):
    r = admin.post("/catalogue/api/csv/Collections",
                   content="id,name,type,countries\nnewCohort,New,Cohort study,Atlantis\n")
    assert r.status_code == 400
    msg = r.json()["errors"][0]["message"]
    assert "(Atlantis) is not present in table \"Countries\"" in msg
    assert count(admin, "catalogue", "Collections", {"id": {"equals": "newCohort"}}) == 0


def test_deleting_referenced_row_is_refused(admin):
    res = admin.post("/catalogue/graphql", json={"query": 'mutation{delete(Collections:[{id:"testCohort1"}]){message}}'})
    assert res.status_code == 400
    assert "is still referenced from table" in res.json()["errors"][0]["message"]
    assert count(admin, "catalogue", "Collections", {"id": {"equals": "testCohort1"}}) == 1


# ----------------------------------------------------------------------------- zip
def test_zip_export_layout_and_round_trip(admin):
    r = admin.get("/catalogue/api/zip")
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    zf = zipfile.ZipFile(io.BytesIO(r.content))
    names = set(zf.namelist())
    assert "molgenis.csv" in names and "Collections.csv" in names
    assert csvfmt.read_csv(zf.read("Resources.csv"))[1] == []  # rows sit in the subclass files
    coll = csvfmt.read_csv(zf.read("Collections.csv"))[1]
    assert {c["id"] for c in coll} == {"testCohort1", "testCohort2", "testCohort3"}
    gql(admin, "/api/graphql", 'mutation{createSchema(name:"roundtrip"){status}}')
    up = admin.post("/roundtrip/api/zip", files={"file": ("cat.zip", r.content, "application/zip")})
    assert up.status_code == 200 and up.text.startswith("Import success in ")
    again = zipfile.ZipFile(io.BytesIO(admin.get("/roundtrip/api/zip").content))
    for name in names - {"molgenis.csv"}:
        assert sorted(csvfmt.read_csv(again.read(name))[1], key=json.dumps) == \
            sorted(csvfmt.read_csv(zf.read(name))[1], key=json.dumps), name
    gql(admin, "/api/graphql", 'mutation{deleteSchema(id:"roundtrip"){status}}')


def test_async_zip_import_is_atomic(admin):
    before = admin.get("/catalogue/api/csv/Contacts").text
    n_var = count(admin, "catalogue", "Variables")
    files = {
        "data/contacts.csv": "resource,first name,last name,email\ntestCohort1,Ann,Other,ann@example.org\n",
        "Variables.csv": "resource,table,name\ntestCohort1,no such table,v1\n",
    }
    r = admin.post("/catalogue/api/zip?async=true",
                   files={"file": ("bad.zip", make_zip(files), "application/zip")})
    assert r.status_code == 200
    ref = r.json()
    assert set(ref) == {"id", "url"} and ref["url"] == f"/catalogue/api/tasks/{ref['id']}"
    task = wait_task(admin, ref["id"], "/catalogue/graphql")
    assert task["status"] == "ERROR"
    assert task["description"].startswith("Import failed: ")
    assert "is not present in table" in task["description"]
    assert admin.get("/catalogue/api/csv/Contacts").text == before
    assert count(admin, "catalogue", "Variables") == n_var
    rest = admin.get(f"/api/tasks/{ref['id']}")
    assert rest.headers["content-type"].startswith("text/plain")
    assert json.loads(rest.text)["status"] == "ERROR"

    good = {"Contacts.csv": "resource,first name,last name\ntestCohort1,Ann,Other\n"}
    r = admin.post("/catalogue/api/zip?async=true",
                   files={"file": ("ok.zip", make_zip(good), "application/zip")})
    task = wait_task(admin, r.json()["id"])
    assert task["status"] == "COMPLETED", task
    assert any(s["description"].startswith("Modified 1 rows in Contacts") for s in
               task["subTasks"][0]["subTasks"])
    assert task["subTasks"][-1]["description"] == "Committing"
    delete = {"Contacts.csv": "resource,first name,last name,mg_delete\ntestCohort1,Ann,Other,true\n"}
    admin.post("/catalogue/api/zip", files={"file": ("del.zip", make_zip(delete), "application/zip")})
    assert admin.get("/catalogue/api/csv/Contacts").text == before


def test_staging_refers_into_catalogue(admin, models_dir):
    expected = len(csvfmt.read_csv((models_dir / "cohort-staging" / "Variable mappings.csv").read_bytes())[1])
    assert count(admin, "testCohort", "VariableMappings") == expected
    rows = gql(admin, "/testCohort/graphql", "{VariableMappings(limit:1){target{id} targetVariable{name}}}")
    row = rows["data"]["VariableMappings"][0]
    assert row["target"]["id"] and row["targetVariable"]["name"]


# ----------------------------------------------------------------------------- storage
def test_data_survives_restart(tmp_path, models_dir):
    with start_sandbox(data_dir=tmp_path, load=[
            f"CatalogueOntologies={models_dir / 'catalogue-ontologies'}"]) as h:
        with httpx.Client(base_url=h.url) as c:
            n = count(c, "CatalogueOntologies", "Countries")
    with start_sandbox(data_dir=tmp_path) as h:
        with httpx.Client(base_url=h.url) as c:
            assert count(c, "CatalogueOntologies", "Countries") == n
            meta = gql(c, "/CatalogueOntologies/graphql", "{_schema{tables{name tableType}}}")
            assert {"name": "Countries", "tableType": "ONTOLOGIES"} in meta["data"]["_schema"]["tables"]


def test_demo_data_folder_keeps_its_changes_across_restarts(tmp_path):
    import csv as csvmod
    import io as iomod

    def signed_in(url: str) -> httpx.Client:
        c = httpx.Client(base_url=url)
        c.headers["x-molgenis-token"] = c.post("/api/graphql", json={
            "query": SIGNIN, "variables": {"e": "admin", "p": "admin"}}).json()["data"]["signin"]["token"]
        return c

    def contacts(c: httpx.Client) -> list[dict]:
        return list(csvmod.DictReader(iomod.StringIO(c.get("/NORTHSTAR/api/csv/Contacts").text)))

    with start_sandbox(data_dir=tmp_path, demo=True) as h:
        c = signed_in(h.url)
        rows = contacts(c)
        first = dict(rows[0], email="changed@example.org")
        out = iomod.StringIO()
        w = csvmod.DictWriter(out, fieldnames=list(first), lineterminator="\n")
        w.writeheader()
        w.writerow(first)
        r = c.post("/NORTHSTAR/api/csv/Contacts", content=out.getvalue())
        assert r.status_code == 200, r.text
        c.close()
    with start_sandbox(data_dir=tmp_path, demo=True) as h:  # the same command again
        c = signed_in(h.url)
        again = contacts(c)
        c.close()
        assert len(again) == len(rows)
        assert [r["email"] for r in again if r["first name"] == first["first name"]
                and r["last name"] == first["last name"]] == ["changed@example.org"]


async def test_asgi_app_serves_every_reference_schema(models_dir):
    store = Store()
    for schema, folder in (("CatalogueOntologies", "catalogue-ontologies"), ("catalogue", "catalogue"),
                           ("testCohort", "cohort-staging"), ("testNetwork", "network-staging"),
                           ("SharedStaging", "shared-staging"), ("UMCG", "catalogue"),
                           ("testCohortUMCG", "umcg-cohort-staging")):
        load_path(store, schema, models_dir / folder)
    assert {"catalogue", "UMCG", "testCohortUMCG", "SharedStaging"} <= set(store.schema_names())
    app = create_app(store)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sandbox") as c:
        r = await c.post("/api/graphql", json={"query": SIGNIN, "variables": {"e": "admin", "p": "admin"}})
        token = r.json()["data"]["signin"]["token"]
        r = await c.post("/testNetwork/graphql", json={"query": "{Networks_agg{count}}"},
                         headers={"x-molgenis-token": token})
        assert r.status_code == 200 and r.json()["data"]["Networks_agg"]["count"] >= 1
    app.state.server.tasks.stop()
