"""The EMX2 client against a scripted transport: auth, errors, CSV, ZIP and task polling."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from emx2tui.emx2.client import Connection, Emx2Client, ModelCache
from emx2tui.emx2.errors import (AuthError, ConnectionFailed, CsvFormatError, SchemaNotFound, ServerError,
                                 TaskFailed)

SECRET = "s3cret-pass-word"
TOKEN = "tok-abcdef-123456"


def gql(request: httpx.Request) -> tuple[str, dict]:
    body = json.loads(request.content)
    return body["query"], body.get("variables") or {}


def make(handler, **conn) -> Emx2Client:
    c = Connection("http://emx2.test/", **conn)
    return Emx2Client(c, transport=httpx.MockTransport(handler), backoff=0.0)


def test_connection_repr_and_label_hide_secrets():
    c = Connection("http://h:8080/", token=TOKEN, username="admin", password=SECRET)
    assert SECRET not in repr(c) and TOKEN not in repr(c)
    assert c.label == "admin@http://h:8080"
    assert Connection("h.org").url == "https://h.org"


async def test_password_signin_keeps_cookie_and_failed_signin_is_auth_error():
    seen = []

    def handler(request):
        seen.append(request)
        q, v = gql(request)
        if "signin" in q:
            ok = v["password"] == SECRET
            headers = {"set-cookie": "JSESSIONID=abc; Path=/"} if ok else {}
            return httpx.Response(200, json={"data": {"signin": {
                "status": "SUCCESS" if ok else "FAILED",
                "message": "ok" if ok else "Sign in as 'admin' failed: user or password unknown"}}},
                headers=headers)
        if "_schemas" in q:
            return httpx.Response(200, json={"data": {"_schemas": [{"name": "_SYSTEM_"}, {"name": "catalogue"}]}})
        return httpx.Response(200, json={"data": {"signout": {"status": "SUCCESS"}}})

    async with make(handler, username="admin", password=SECRET) as c:
        assert await c.list_schemas() == ["catalogue"]
    assert "JSESSIONID=abc" in seen[1].headers.get("cookie", "")
    with pytest.raises(AuthError) as err:
        async with make(handler, username="admin", password="wrong-one"):
            pass
    assert "admin" in str(err.value) and "wrong-one" not in str(err.value)


async def test_token_header_and_refused_token():
    def handler(request):
        assert request.headers["x-molgenis-token"] == TOKEN
        return httpx.Response(400, json={"errors": [{"message": "Invalid token or token expired"}]})

    async with make(handler, token=TOKEN) as c:
        with pytest.raises(AuthError) as err:
            await c.session()
    assert TOKEN not in str(err.value) and "emx2.test" in str(err.value)


async def test_unknown_schema_and_server_down_and_not_emx2():
    def handler(request):
        if request.url.path.startswith("/nope"):
            return httpx.Response(404, json={"errors": [{"message": "Schema 'nope' unknown. Might you need to sign in or ask permission?"}]})
        return httpx.Response(200, text="<html>hello</html>", headers={"content-type": "text/html"})

    async with make(handler) as c:
        with pytest.raises(SchemaNotFound) as err:
            await c.schema_model("nope")
        assert "'nope'" in str(err.value) and "emx2.test" in str(err.value)
        with pytest.raises(ConnectionFailed) as err:
            await c.list_schemas()
        assert "EMX2" in str(err.value)

    def down(request):
        raise httpx.ConnectError("connection refused")

    calls = []

    def counting(request):
        calls.append(1)
        return down(request)

    async with make(counting) as c:
        with pytest.raises(ConnectionFailed) as err:
            await c.list_schemas()
    assert "cannot be reached" in str(err.value)
    assert len(calls) == 3  # queries are retried


async def test_mutations_are_not_retried():
    calls = []

    def handler(request):
        calls.append(1)
        return httpx.Response(503, text="busy")

    async with make(handler) as c:
        with pytest.raises(ServerError):
            await c.query("s", "mutation{truncate(tables:[\"T\"]){message}}")
    assert len(calls) == 1


async def test_download_table_sends_filter_and_returns_strings():
    def handler(request):
        assert request.url.path == "/my%20schema/api/csv/Collection%20events" or \
            request.url.raw_path.startswith(b"/my%20schema/api/csv/Collection%20events")
        flt = json.loads(request.url.params["filter"])
        assert flt == {"resource": {"id": {"equals": "X"}}}
        return httpx.Response(200, text="resource,name,count\nX,a,\nX,b,3\n",
                              headers={"content-type": "text/csv"})

    async with make(handler) as c:
        df = await c.download_table("my schema", "Collection events", {"resource": {"id": {"equals": "X"}}})
    assert df.records() == [{"resource": "X", "name": "a", "count": ""},
                                     {"resource": "X", "name": "b", "count": "3"}]
    assert all(type(v) is str for row in df.tuples() for v in row)


async def test_upload_zip_polls_task_and_reports_failure():
    polls = {"n": 0}

    def handler(request):
        if request.url.path == "/s/api/zip":
            assert request.url.params["async"] == "true"
            assert b'filename="upload.zip"' in request.content
            return httpx.Response(200, json={"id": "t1", "url": "/s/api/tasks/t1"})
        q, _ = gql(request)
        assert '_tasks(id:"t1")' in q
        polls["n"] += 1
        if polls["n"] < 3:
            return httpx.Response(200, json={"data": {"_tasks": [{"id": "t1", "status": "RUNNING",
                                                                  "description": "Importing"}]}})
        return httpx.Response(200, json={"data": {"_tasks": [{
            "id": "t1", "status": "ERROR",
            "description": "Import failed: Key (x)=(y) is not present in table \"T\"",
            "subTasks": [{"id": "a", "status": "ERROR", "description": "Import table (T) failed"}]}]}})

    seen = []
    async with make(handler) as c:
        with pytest.raises(TaskFailed) as err:
            await c.upload_zip("s", b"PK..", on_task=seen.append, poll_min=0.0, poll_max=0.0)
    assert "is not present in table" in str(err.value) and "'s'" in str(err.value)
    assert [t["status"] for t in seen] == ["RUNNING", "RUNNING", "ERROR"]


async def test_schema_model_fetches_referenced_schemas():
    def col(name, ctype="STRING", key=None, **kw):
        return {"name": name, "id": name, "columnType": ctype, "key": key, **kw}

    schemas = {
        "main": {"name": "main", "tables": [
            {"name": "Pet", "tableType": "DATA", "columns": [
                {"name": "mg_top_of_form", "id": "mg_top_of_form", "columnType": "SECTION"},
                col("name", key=1), col("kind", "ONTOLOGY", refSchemaName="Onto", refTableName="Kinds"),
                col("mg_draft", "BOOL")]}]},
        "Onto": {"name": "Onto", "tables": [{"name": "Kinds", "tableType": "ONTOLOGIES", "columns": [
            col("name", key=1)]}]},
    }

    def handler(request):
        schema = request.url.path.split("/")[1]
        return httpx.Response(200, json={"data": {"_schema": schemas[schema]}})

    async with make(handler) as c:
        m = await c.schema_model("main")
        assert m.csv_columns("Pet") == ["name", "kind"]
        assert (await c.schema_model("main")) is m


def _ref_schemas() -> dict[str, dict]:
    def col(name, ctype="STRING", key=None, **kw):
        return {"name": name, "id": name, "columnType": ctype, "key": key, **kw}

    return {
        "stagingA": {"name": "stagingA", "tables": [{"name": "Pet", "tableType": "DATA", "columns": [
            col("name", key=1), col("kind", "ONTOLOGY", refSchemaName="Onto", refTableName="Kinds")]}]},
        "catalogue": {"name": "catalogue", "tables": [{"name": "Pet", "tableType": "DATA", "columns": [
            col("name", key=1), col("kind", "ONTOLOGY", refSchemaName="Onto", refTableName="Kinds")]}]},
        "Onto": {"name": "Onto", "tables": [{"name": "Kinds", "tableType": "ONTOLOGIES", "columns": [
            col("name", key=1)]}]},
    }


async def test_two_clients_of_one_cache_ask_for_each_schema_once():
    schemas = _ref_schemas()
    asked: list[str] = []
    both_asking = asyncio.Event()

    async def handler(request):
        schema = request.url.path.split("/")[1]
        asked.append(schema)
        if schema == "stagingA":
            both_asking.set()
        await both_asking.wait()  # the two top-level queries are in flight together
        await asyncio.sleep(0.01)
        return httpx.Response(200, json={"data": {"_schema": schemas[schema]}})

    cache = ModelCache()
    conn = Connection("http://emx2.test/")
    async with Emx2Client(conn, transport=httpx.MockTransport(handler), models=cache) as a, \
            Emx2Client(conn, transport=httpx.MockTransport(handler), models=cache) as b:
        src, tgt = await asyncio.gather(a.schema_model("stagingA"), b.schema_model("catalogue"))
    assert sorted(asked) == ["Onto", "catalogue", "stagingA"]  # Onto once, though both refer to it
    assert set(cache) == {"stagingA", "catalogue", "Onto"}
    assert all(f.done() for f in cache.loading.values())  # nothing left in flight
    assert src.csv_columns("Pet") == tgt.csv_columns("Pet") == ["name", "kind"]


async def test_a_model_answered_but_waiting_for_its_references_is_not_asked_for_again():
    # stagingA refers to catalogue, which refers to Onto (slow to answer). The target's client
    # has catalogue's answer but waits for Onto when the source's client needs catalogue too.
    schemas = _ref_schemas()
    schemas["stagingA"]["tables"][0]["columns"].append(
        {"name": "twin", "id": "twin", "columnType": "REF", "key": None, "refSchemaName": "catalogue",
         "refTableName": "Pet"})
    asked: list[str] = []
    catalogue_answered = asyncio.Event()

    async def handler(request):
        schema = request.url.path.split("/")[1]
        asked.append(schema)
        if schema == "stagingA":
            await catalogue_answered.wait()
        elif schema == "Onto":
            await asyncio.sleep(0.05)
        response = httpx.Response(200, json={"data": {"_schema": schemas[schema]}})
        if schema == "catalogue":
            asyncio.get_running_loop().call_soon(catalogue_answered.set)
        return response

    cache = ModelCache()
    conn = Connection("http://emx2.test/")
    async with Emx2Client(conn, transport=httpx.MockTransport(handler), models=cache) as a, \
            Emx2Client(conn, transport=httpx.MockTransport(handler), models=cache) as b:
        src, tgt = await asyncio.gather(a.schema_model("stagingA"), b.schema_model("catalogue"))
    assert sorted(asked) == ["Onto", "catalogue", "stagingA"]
    assert src.column("Pet", "twin").ref_schema == "catalogue"
    assert set(cache) == {"stagingA", "catalogue", "Onto"}


async def test_a_schema_referring_to_a_missing_schema_is_named_and_not_cached():
    schemas = _ref_schemas()
    del schemas["Onto"]

    def handler(request):
        schema = request.url.path.split("/")[1]
        return httpx.Response(200, json={"data": {"_schema": schemas.get(schema)}})

    async with make(handler) as c:
        with pytest.raises(SchemaNotFound, match="'catalogue' .* refers to schema 'Onto'"):
            await c.schema_model("catalogue")
        schemas["Onto"] = _ref_schemas()["Onto"]  # once it exists, the model loads whole
        m = await c.schema_model("catalogue")
        assert m.csv_columns("Pet") == ["name", "kind"]


def test_credentials_in_the_url_are_taken_out_of_it():
    conn = Connection("http://admin:S3cret%21@127.0.0.1:9/", "catalogue")
    assert conn.url == "http://127.0.0.1:9"
    assert conn.username == "admin" and conn.password == "S3cret!"
    assert "S3cret" not in conn.label and "S3cret" not in repr(conn)
    assert "S3cret!" in conn.secrets


def test_addresses_that_cannot_be_servers_are_named():
    from emx2tui.emx2.client import url_problem

    assert url_problem("https://data.example.org") is None
    assert url_problem("http://127.0.0.1:8080") is None
    assert "http://" in url_problem("ftp://data.example.org")
    assert url_problem("https://htp:/x y") is not None
    # a password the parser does not see as one (a / # ? in it) is never echoed
    for secret in ("Pa/ssW0rd", "Pa#ssW0rd", "Pa?ssW0rd"):
        problem = url_problem(f"http://admin:{secret}@127.0.0.1:18500")
        assert problem and secret not in problem and "admin" not in problem
        assert "***@127.0.0.1:18500" in problem and "percent-encoded" in problem
    assert "not a valid address" in url_problem("http://[::1")


async def test_a_cut_off_csv_answer_is_an_error_naming_the_table():
    def handler(request):
        return httpx.Response(200, text='resource,name\nX,"a\nX,b\n', headers={"content-type": "text/csv"})

    async with make(handler) as c:
        with pytest.raises(CsvFormatError, match="schema 'my schema', table 'Variables'.*cut off"):
            await c.download_table("my schema", "Variables")


async def test_bounded_gather_cancelled_before_its_reads_ran_leaves_none_unawaited(recwarn):
    import gc

    from emx2tui.emx2.client import gather_bounded

    async def read(i: int) -> int:
        await asyncio.sleep(0)
        return i

    assert await gather_bounded([read(i) for i in range(6)], limit=2) == list(range(6))
    task = asyncio.create_task(gather_bounded([read(i) for i in range(10)], limit=2))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    del task
    for _ in range(3):  # the cancelled reads' tasks end, and let their coroutines go
        await asyncio.sleep(0)
    gc.collect()
    assert not [w for w in recwarn if "never awaited" in str(w.message)]
