"""The sandbox's ASGI application: EMX2's GraphQL, CSV, ZIP and task routes."""

from __future__ import annotations

import functools
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

from graphql import (FieldNode, GraphQLBoolean, GraphQLEnumType, GraphQLError, GraphQLID,
                     GraphQLList, GraphQLNonNull, GraphQLObjectType, GraphQLScalarType,
                     GraphQLString, OperationDefinitionNode, OperationType, execute_sync,
                     get_operation_ast, parse, validate, validate_schema)
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from emx2tui.emx2 import csvfmt
from emx2tui.sandbox import transfer
from emx2tui.sandbox.auth import ANONYMOUS, Auth
from emx2tui.sandbox.errors import SandboxError
from emx2tui.sandbox.faults import Faults
from emx2tui.sandbox.filters import where_sql
from emx2tui.sandbox.gql import Ctx, build_database_schema, build_schema_schema
from emx2tui.sandbox.store import Store, q
from emx2tui.sandbox.tasks import Task, TaskService

log = logging.getLogger("emx2tui.sandbox")


def error_response(message: str, status: int = 400) -> Response:
    body = json.dumps({"errors": [{"message": message}]}, indent=2)
    return Response(body, status_code=status, media_type="application/json")


class SandboxServer:
    """State shared by the routes: the store, users, tasks and cached GraphQL schemas."""

    def __init__(self, store: Store, *, admin_password: str = "admin",
                 secret_file: Path | None = None) -> None:
        self.store = store
        self.auth = Auth(store, admin_password, secret_file)
        self.faults = Faults()
        self.faults.on_expire_tokens = self.auth.expire_all_tokens
        self.tasks = TaskService(fault_hook=self.faults.task_error)
        self._gql_cache: dict[tuple, object] = {}
        self._meta_answers: dict[tuple, dict] = {}  # `_schema` answers per model version
        self._gql_lock = threading.Lock()

    def warm(self, user: str = "admin") -> None:
        """Build the GraphQL API of every schema for `user` now, and work out each table's
        storage layout and CSV columns, as a running EMX2 server has its metadata loaded
        already, so that the first request of a client does not pay for it."""
        self.graphql_schema(None, user)
        for name in self.store.schema_names():
            self.graphql_schema(name, user)
            model = self.store.model(name)
            for table in model.tables:
                if model.has_columns(table):
                    self.store.layout(name, table)
                    transfer.csv_header(self.store, name, table, system=True)
                    model.references(table)

    def graphql_schema(self, schema: str | None, user: str):
        anonymous = user == ANONYMOUS
        if schema is None:
            key = ("", self.store.meta_version, anonymous)
        else:
            key = (schema, self.store.meta_version, anonymous, self.auth.is_manager(user, schema),
                   self.auth.can_edit(user, schema))
        with self._gql_lock:
            hit = self._gql_cache.get(key)
            if hit is not None:
                return hit
        if schema is None:
            built = build_database_schema(self.store, anonymous=anonymous)
        else:
            built = build_schema_schema(self.store, schema, anonymous=anonymous,
                                        manager=key[3], editor=key[4])
        # graphql-core checks a schema once, on its first query; checked here, it is part of
        # building the API (and of warming it up), not of a client's first answer
        validate_schema(built)
        with self._gql_lock:
            stale = [k for k in self._gql_cache if k[1] != self.store.meta_version]
            for k in stale:
                del self._gql_cache[k]
            self._gql_cache[key] = built
        return built


# ----------------------------------------------------------------------------- helpers
def _user(server: SandboxServer, request: Request) -> tuple[str, str | None]:
    sid = request.cookies.get("JSESSIONID")
    user = server.auth.session_user(sid)
    if user:
        return user, sid
    token = request.headers.get("x-molgenis-token") or request.headers.get("auth-key")
    if token:
        return server.auth.verify(token), None
    return ANONYMOUS, None


def _handler(fn: Callable) -> Callable:
    async def endpoint(request: Request) -> Response:
        try:
            return await fn(request)
        except SandboxError as exc:
            return error_response(exc.message, exc.status)
        except Exception as exc:  # noqa: BLE001 - EMX2 answers every uncaught error with 400
            log.exception("sandbox request failed")
            return error_response(str(exc) or type(exc).__name__, 400)
    return endpoint


def _schema_param(request: Request) -> str | None:
    schema = request.path_params.get("schema")
    return None if schema in (None, "api", "apps") else schema


def _visible(server: SandboxServer, user: str, schema: str) -> None:
    if not server.auth.can_view(user, schema):
        raise SandboxError(f"Schema {schema} unknown")


def _editable(server: SandboxServer, user: str, schema: str) -> None:
    _visible(server, user, schema)
    if not server.auth.can_edit(user, schema):
        raise SandboxError(f"Transaction failed: permission denied for schema {schema}")


def drop_nulls(value):
    """EMX2 writes GraphQL answers with Jackson's NON_NULL inclusion: null fields are left out."""
    if isinstance(value, dict):
        return {k: drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_nulls(v) for v in value]
    return value


def _text(body: str, media: str = "text/plain") -> Response:
    return Response(body, media_type=media)


# ----------------------------------------------------------------------------- graphql
def _run_graphql(server: SandboxServer, schema: str | None, user: str, sid: str | None,
                 query: str, variables: dict | None, get: bool) -> tuple[int, dict, Ctx]:
    ctx = Ctx(server=server, user=user, schema=schema, session=sid)
    try:
        doc = _parsed(query)
    except GraphQLError as exc:
        return 400, {"errors": [{"message": exc.message}]}, ctx
    op = get_operation_ast(doc)
    is_mutation = op is not None and op.operation == OperationType.MUTATION
    if get and is_mutation:
        return 400, {"errors": [{"message": "Only query operations are allowed via HTTP GET. "
                                            "Use a POST request to execute mutations."}]}, ctx
    gschema = server.graphql_schema(schema, user)
    meta_key = None
    if schema is not None and not is_mutation and _metadata_only(doc):
        # a `_schema` answer depends on the model and the user's rights only: kept until the
        # model changes, since building it field by field costs more than the data reads
        meta_key = (schema, server.store.meta_version, user == ANONYMOUS,
                    server.auth.is_manager(user, schema), server.auth.can_edit(user, schema),
                    query, json.dumps(variables, sort_keys=True, default=str))
        with server._gql_lock:
            hit = server._meta_answers.get(meta_key)
        if hit is not None:
            return 200, hit, ctx
        payload = _projected_meta(gschema, query, doc, ctx)
        if payload is not None:
            _keep_meta_answer(server, meta_key, payload)
            return 200, payload, ctx
    invalid = _validation_errors(gschema, query, doc)
    result = None if invalid else execute_sync(gschema, doc, variable_values=variables,
                                               context_value=ctx)
    errors = invalid or result.errors
    if errors:
        err = errors[0]
        orig = err.original_error
        if orig is not None and not isinstance(orig, GraphQLError):
            msg = getattr(orig, "message", None) or str(orig)
            if not (is_mutation and isinstance(orig, SandboxError)):
                path = "/" + "/".join(str(p) for p in (err.path or []))
                msg = f"Exception while fetching data ({path}) : {msg}"
        else:
            msg = java_wording(err, doc)
        return 400, {"errors": [{"message": msg}]}, ctx
    payload = {"data": drop_nulls(result.data)}
    if meta_key is not None:
        _keep_meta_answer(server, meta_key, payload)
    return 200, payload, ctx


# Only queries up to this size are remembered: the ones sent over and over are small, and a
# long one (the terms of a plan, each named) is seldom sent twice
CACHED_QUERY_CHARS = 4096


@functools.lru_cache(maxsize=512)
def _parsed_small(query: str):
    return parse(query)


def _parsed(query: str):
    """A query's document, parsed once when it is small: clients send the same few queries over
    and over (a task poll, a session check), and executing a document does not change it."""
    return _parsed_small(query) if len(query) <= CACHED_QUERY_CHARS else parse(query)


def _validation_errors(gschema, query: str, doc) -> list[GraphQLError]:
    """What is wrong with `doc` against `gschema`; a query found valid is remembered on the
    schema (a model change builds a new one), since checking it is most of answering a small
    query."""
    valid: set[str] | None = getattr(gschema, "emx2tui_valid_queries", None)
    if valid is None:
        valid = gschema.emx2tui_valid_queries = set()
    if query in valid:
        return []
    errors = validate(gschema, doc)
    if not errors and len(valid) < 512 and len(query) <= CACHED_QUERY_CHARS:
        valid.add(query)
    return errors


def _keep_meta_answer(server, meta_key: tuple, payload: dict) -> None:
    """Cache a metadata answer; answers of another metadata version are dropped first."""
    with server._gql_lock:
        for k in [k for k in server._meta_answers if k[1] != meta_key[1]]:
            del server._meta_answers[k]
        if len(server._meta_answers) < 64:
            server._meta_answers[meta_key] = payload


class _NeedsExecutor(Exception):
    """The query asks for something the projection of `_projected_meta` does not do."""


class _ResolveInfo:
    def __init__(self, context: Ctx) -> None:
        self.context = context


def _projected_meta(gschema, query: str, doc, ctx: Ctx) -> dict | None:
    """The answer to a valid `_schema`-only query, projected from the metadata dict its resolver
    returns along the query's fields, each leaf through its type's serialiser and null fields
    left out: what graphql-core's executor gives (default resolvers read dict keys) after
    `drop_nulls`, many times faster for a catalogue's model. None when the query needs the
    executor: errors, arguments, directives, fragments, field resolvers, or a null where the type
    forbids one."""
    try:
        if _validation_errors(gschema, query, doc):
            return None
        top = doc.definitions[0].selection_set.selections[0]
        if top.arguments or top.directives or doc.definitions[0].variable_definitions:
            return None
        field = gschema.query_type.fields["_schema"]
        project = _projector(field.type, top.selection_set)
        value = project(field.resolve(None, _ResolveInfo(ctx)))
    except _NeedsExecutor:
        return None
    except Exception:  # noqa: BLE001 - the executor reports it the way EMX2 does
        return None
    key = top.alias.value if top.alias else "_schema"
    return {"data": {} if value is None else {key: value}}


_STR_SCALARS = (GraphQLString, GraphQLID)


def _projector(gtype, selection_set) -> Callable:
    """A function that projects a resolved value of `gtype` along `selection_set`, built once
    per query so that the walk over a model's thousands of column fields does no type tests.
    Raises _NeedsExecutor for what only the executor answers."""
    if isinstance(gtype, GraphQLNonNull):
        inner = _projector(gtype.of_type, selection_set)

        def non_null(value):
            if value is None:
                raise _NeedsExecutor()
            return inner(value)
        return non_null
    if isinstance(gtype, GraphQLList):
        item = _projector(gtype.of_type, selection_set)

        def as_list(value):
            if value is None:
                return None
            if isinstance(value, (str, bytes, dict)):
                raise _NeedsExecutor()
            return [item(v) for v in value]
        return as_list
    if isinstance(gtype, (GraphQLScalarType, GraphQLEnumType)):
        serialize = gtype.serialize
        # what the serialisers of these return unchanged
        same = str if gtype in _STR_SCALARS else bool if gtype is GraphQLBoolean else None

        def leaf(value):
            if value is None or value.__class__ is same:
                return value
            return serialize(value)
        return leaf
    if not isinstance(gtype, GraphQLObjectType) or selection_set is None:
        raise _NeedsExecutor()
    # (key, field name, projector, text): text fields, nullable String/ID (most of a model), are
    # copied without a call; __typename has no field name and its value as projector
    fields: list[tuple[str, str | None, Callable | str, bool]] = []
    for sel in selection_set.selections:
        if not isinstance(sel, FieldNode) or sel.arguments or sel.directives:
            raise _NeedsExecutor()
        name = sel.name.value
        key = sel.alias.value if sel.alias else name
        if name == "__typename":
            fields.append((key, None, gtype.name, False))
            continue
        f = gtype.fields.get(name)
        if f is None or f.resolve is not None:
            raise _NeedsExecutor()
        if f.type in _STR_SCALARS:
            fields.append((key, name, f.type.serialize, True))
        else:
            fields.append((key, name, _projector(f.type, sel.selection_set), False))

    def obj(value):
        if value is None:
            return None
        if not isinstance(value, dict):
            raise _NeedsExecutor()
        out = {}
        for key, name, project, text in fields:
            if name is None:
                out[key] = project
                continue
            v = value.get(name)
            if text:
                if v is None:
                    continue
                if v.__class__ is str:
                    out[key] = v
                    continue
            if callable(v):
                raise _NeedsExecutor()
            v = project(v)  # raises for a null where the type forbids one
            if v is not None:  # EMX2 leaves null fields out (see drop_nulls)
                out[key] = v
        return out
    return obj


def _metadata_only(doc) -> bool:
    """Whether a parsed query asks for `_schema` alone (no fragments, one operation)."""
    if len(doc.definitions) != 1 or not isinstance(doc.definitions[0], OperationDefinitionNode):
        return False
    fields = doc.definitions[0].selection_set.selections
    return (len(fields) == 1 and isinstance(fields[0], FieldNode) and fields[0].name.value == "_schema"
            and fields[0].alias is None)


_UNDEFINED = re.compile(r"Cannot query field '([^']+)' on type '([^']+)'")


def _field_path(doc, target) -> str:
    """graphql-java's path of a field node: the names of the fields leading to it."""
    stack: list[str] = []
    found: list[str] = []

    def walk(node) -> None:
        if found:
            return
        if isinstance(node, FieldNode):
            stack.append(node.name.value)
            # an error's node is the document's own, or one of a copy at the same position
            if node is target or (node.loc is not None and target.loc is not None
                                  and node.loc.start == target.loc.start):
                found.extend(stack)
        sel = getattr(node, "selection_set", None)
        for child in (sel.selections if sel else ()):
            walk(child)
        if isinstance(node, FieldNode):
            stack.pop()

    for definition in doc.definitions:
        walk(definition)
    return "/".join(found)


def java_wording(err: GraphQLError, doc) -> str:
    """A validation error in graphql-java's words, which EMX2 clients match on."""
    m = _UNDEFINED.match(err.message)
    if m and err.nodes:
        path = _field_path(doc, err.nodes[0]) or m.group(1)
        return (f"Validation error (FieldUndefined@[{path}]) : Field '{m.group(1)}' in type "
                f"'{m.group(2)}' is undefined")
    return err.message


def graphql_endpoint(server: SandboxServer):
    async def handle(request: Request) -> Response:
        schema = _schema_param(request)
        if schema is None and request.path_params.get("schema") is None:
            schema = request.path_params.get("schema2")
        user, sid = _user(server, request)
        if schema is not None and not server.auth.can_view(user, schema):
            return error_response(f"Schema '{schema}' unknown. Might you need to sign in or ask "
                                  "permission?", 404)
        variables = None
        if request.method == "GET":
            query = request.query_params.get("query") or "{__schema{types{name}}}"
        else:
            ctype = request.headers.get("content-type") or ""
            if ctype.startswith("multipart/form-data"):
                async with request.form() as form:
                    query = form.get("query")
                    raw = form.get("variables")
                if raw:
                    try:
                        variables = json.loads(raw)
                    except ValueError as exc:
                        raise SandboxError(f"Parsing of graphql variables failed. {exc}") from None
            else:
                try:
                    body = json.loads(await request.body() or b"{}")
                except ValueError as exc:
                    raise SandboxError(f"Unexpected character in request body: {exc}") from None
                query = body.get("query")
                variables = body.get("variables")
                if isinstance(variables, str):
                    try:
                        variables = json.loads(variables) if variables else None
                    except ValueError as exc:
                        raise SandboxError(f"Parsing of graphql variables failed. {exc}") from None
            if not query:
                raise SandboxError("Cannot invoke \"String.length()\" because \"query\" is null")
        status, payload, ctx = await run_in_threadpool(
            _run_graphql, server, schema, user, sid, query, variables, request.method == "GET")
        resp = Response(json.dumps(payload, indent=2 if status != 200 else None),
                        status_code=status, media_type="application/json")
        if ctx.new_session:
            resp.set_cookie("JSESSIONID", ctx.new_session, path="/", httponly=True)
        elif ctx.end_session:
            resp.delete_cookie("JSESSIONID", path="/")
        return resp
    return _handler(handle)


# ----------------------------------------------------------------------------- csv
def csv_table(server: SandboxServer):
    async def handle(request: Request) -> Response:
        schema = request.path_params["schema"]
        user, _ = _user(server, request)
        store = server.store
        _visible(server, user, schema)
        special = request.path_params["table"]
        if request.method == "GET" and special in ("members", "settings"):
            # these routes shadow tables of the same name on GET, as in EMX2
            if special == "members":
                if not server.auth.is_manager(user, schema):
                    raise SandboxError("Unauthorized to get schema members")
                rows = [{"user": m["email"], "role": m["role"]}
                        for m in server.auth.member_list(schema)]
                body = csvfmt.write_csv(["user", "role"], rows)
            else:
                rows = [{"table": "", "key": k, "value": v}
                        for k, v in store.model(schema).settings.items()]
                body = csvfmt.write_csv(["table", "key", "value"], rows)
            return Response(body, media_type="text/csv; charset=UTF-8")
        table = store.find_table(schema, special)
        if request.method == "GET":
            qp = request.query_params
            system = (qp.get("includeSystemColumns") or "").lower() == "true"
            sep = "\t" if (qp.get("separator") or "").upper() == "TAB" else ","
            raw_filter = qp.get("filter")

            def work() -> str:
                params: list = []
                where = ""
                if raw_filter:
                    try:
                        f = json.loads(raw_filter)
                    except ValueError as exc:
                        raise SandboxError(f"Invalid filter: {exc}") from None
                    where = where_sql(store, schema, table, f, "s", params)
                names, rows = store.select_rows(schema, table, where=where, params=params,
                                                order="s.rowid")
                return transfer.rows_to_csv(store, schema, table, names, rows, system=system, sep=sep)

            body = await run_in_threadpool(work)
            return Response(body, media_type="text/csv; charset=UTF-8", headers={
                "Content-Disposition": f'attachment; filename="{table}.csv"'})
        _editable(server, user, schema)
        text = (await request.body()).decode("utf-8", errors="replace")
        header, rows = transfer.parse_csv(text, table)
        if request.method == "POST":
            def upload() -> None:
                transfer.import_table_rows(store, schema, table, header, rows, batched=True,
                                           user=user)
            await run_in_threadpool(upload)
            return Response("null", media_type="text/csv")
        lay = store.layout(schema, table)

        def remove() -> int:
            try:
                with store.transaction(user=user):
                    return store.delete(schema, table, [{k: r.get(k) for k in lay.key} for r in rows])
            except SandboxError as exc:
                raise SandboxError(f"Delete into table {table} failed: {transfer._tx(exc.message)}") from None
        n = await run_in_threadpool(remove)
        return Response(str(n), media_type="text/csv")
    return _handler(handle)


def csv_schema(server: SandboxServer):
    async def handle(request: Request) -> Response:
        schema = request.path_params["schema"]
        user, _ = _user(server, request)
        store = server.store
        _visible(server, user, schema)
        if request.method == "GET":
            body = await run_in_threadpool(transfer.metadata_csv, store, schema)
            return Response(body, media_type="text/csv", headers={
                "Content-Disposition": f'attachment; filename="{schema}_{int(time.time() * 1000)}.csv"'})
        _editable(server, user, schema)
        text = (await request.body()).decode("utf-8", errors="replace")
        file_name = request.headers.get("fileName") or request.headers.get("filename") or ""
        model = store.model(schema)
        target = model.find_table(file_name) if file_name else None
        header, rows = transfer.parse_csv(text, file_name or "molgenis.csv")
        if request.method == "DELETE":
            def drop() -> None:
                with store.transaction(user=user):
                    names = {(r.get("tableName") or "").strip() for r in rows}
                    store.merge_metadata(schema, [{"tableName": n, "drop": "true"} for n in names if n])
            await run_in_threadpool(drop)
            return _text("remove metadata items success")
        if target is not None:
            if "async" in request.query_params:
                task = Task(f"Import table {target.name}", user=user)

                def work(t: Task) -> None:
                    if not rows:
                        # EMX2's bare ImportTableTask ends SKIPPED when the sheet has no data rows
                        t.skip(f"Skipped table {target.name}: sheet was empty")
                        return
                    t0 = time.monotonic()
                    with store.transaction(user=user):
                        n, d = transfer.import_table_rows(store, schema, target.name, header, rows,
                                                          batched=False)
                    ms = max(1, int((time.monotonic() - t0) * 1000))
                    t.complete(f"Modified {n + d} rows in {target.name} in {ms}ms "
                               f"({int((n + d) * 1000 / ms)} items/sec)", total=n + d)
                server.tasks.submit(task, work)
                return _text(json.dumps({"id": task.id, "url": f"/{schema}/api/tasks/{task.id}"}))

            def save() -> int:
                lay = store.layout(schema, target.name)
                with store.transaction(user=user):
                    return store.upsert(schema, target.name,
                                        [transfer._row_for_store(lay, r) for r in rows])
            n = await run_in_threadpool(save)
            return Response('{ "message": "imported number of rows: ' + str(n) + '" }',
                            media_type="text/csv")

        def merge() -> None:
            store.merge_metadata(schema, rows)
        await run_in_threadpool(merge)
        return JSONResponse({"message": "add/update metadata success"})
    return _handler(handle)


# ----------------------------------------------------------------------------- zip
def zip_endpoint(server: SandboxServer):
    async def handle(request: Request) -> Response:
        schema = request.path_params["schema"]
        user, _ = _user(server, request)
        store = server.store
        _visible(server, user, schema)
        if request.method == "GET":
            system = (request.query_params.get("includeSystemColumns") or "").lower() == "true"
            data = await run_in_threadpool(transfer.export_zip, store, schema, system=system)
            return Response(data, media_type="application/zip", headers={
                "Content-Disposition": f"attachment; filename={schema}{int(time.time() * 1000)}.zip"})
        _editable(server, user, schema)
        async with request.form(max_part_size=1024 * 1024 * 1024) as form:
            upload = form.get("file")
            if upload is None or not hasattr(upload, "filename"):
                raise SandboxError("File upload failed: no part named 'file' found")
            name = upload.filename or ""
            ext = name.rsplit(".", 1)[-1] if "." in name else ""
            if not name.endswith(".zip"):
                raise SandboxError(f"File upload failed: extension .{ext} not supported")
            data = await upload.read()
        files = await run_in_threadpool(transfer.unzip, data)
        if "async" in request.query_params:
            task = Task("Import csv file", user=user)

            def work(t: Task) -> None:
                t0 = time.monotonic()
                transfer.import_files(store, schema, files, task=t, user=user)
                t.complete(f"Import csv file in {int((time.monotonic() - t0) * 1000)}ms")
            server.tasks.submit(task, work)
            return JSONResponse({"id": task.id, "url": f"/{schema}/api/tasks/{task.id}"})
        injected = server.faults.task_error()
        if injected is not None:
            # the `task-error` fault: a synchronous import fails as EMX2 rethrows the error
            raise SandboxError(injected)
        t0 = time.monotonic()
        await run_in_threadpool(lambda: transfer.import_files(store, schema, files, user=user))
        return _text(f"Import success in {int((time.monotonic() - t0) * 1000)}ms")
    return _handler(handle)


def file_endpoint(server: SandboxServer):
    async def handle(request: Request) -> Response:
        schema = request.path_params["schema"]
        user, _ = _user(server, request)
        _visible(server, user, schema)
        store = server.store
        model = store.model(schema)
        name = request.path_params["table"]
        # only the exact table name or id, and the exact column name (unlike the CSV/ZIP routes)
        table = name if name in model.tables else next(
            (t.name for t in model.tables.values() if t.id == name), None)
        if table is None:
            raise SandboxError(f"Table {name} unknown")
        column = request.path_params["column"]
        col = next((c for c in model.columns(table) if c.name == column and c.is_file), None)
        if col is None:
            raise SandboxError(f"Column {column} unknown in table {table}")
        fid = request.path_params["id"]
        params: list = [fid]
        rows = store.select(schema, table, where=f"s.{q(col.name)} = ?", params=params)
        stored = store.get_file(fid) if rows else None
        if stored is None:
            raise SandboxError(f"Download failed: file id '{fid}' not found in table {table}")
        contents, filename, ext, mime = stored
        shown = filename or f"{column}.{ext or ''}"
        return Response(contents or b"", media_type=mime or "application/octet-stream",
                        headers={"Content-Disposition": f"inline; filename={shown}"})
    return _handler(handle)


def task_endpoint(server: SandboxServer):
    async def handle(request: Request) -> Response:
        user, sid = _user(server, request)
        if user != "admin":
            raise SandboxError("Unable to get task: can only be done by admin")
        task_id = request.path_params.get("id")
        if task_id is None:
            tasks = [{"id": t.id, "description": t.description, "status": t.status,
                      "url": f"/api/tasks/{t.id}", "deleteUrl": f"/api/tasks/{t.id}"}
                     for t in server.tasks.tasks.values()]
            return _text(json.dumps({"clearUrl": "/api/tasks/clear", "tasks": tasks}, indent=2))
        t = server.tasks.get(task_id)
        if t is None:
            raise SandboxError(f"getTask({task_id}) failed: task unknown")
        return _text(json.dumps(t.to_json(), indent=2))
    return _handler(handle)


async def home(request: Request) -> Response:
    """The landing page (EMX2 serves its web app here; clients only probe that it answers)."""
    return Response("<!doctype html><title>MOLGENIS EMX2 sandbox</title>"
                    "<p>EMX2-compatible sandbox: <a href='/api/graphql'>/api/graphql</a></p>",
                    media_type="text/html")


def create_app(store: Store, *, admin_password: str = "admin", secret_file: Path | None = None,
               server: SandboxServer | None = None) -> Starlette:
    """The ASGI app over a store (also usable with httpx.ASGITransport)."""
    server = server or SandboxServer(store, admin_password=admin_password, secret_file=secret_file)
    gql = graphql_endpoint(server)
    methods = ["GET", "POST"]
    routes = [
        Route("/", home, methods=["GET", "HEAD"]),
        Route("/api/graphql", gql, methods=methods),
        Route("/api/tasks", task_endpoint(server), methods=["GET"]),
        Route("/api/tasks/{id}", task_endpoint(server), methods=["GET"]),
        Route("/apps/{app}/graphql", gql, methods=methods),
        Route("/apps/{app}/{schema2}/graphql", gql, methods=methods),
        Route("/{schema}/graphql", gql, methods=methods),
        Route("/{schema}/api/csv", csv_schema(server), methods=["GET", "POST", "DELETE"]),
        Route("/{schema}/api/csv/{table}", csv_table(server), methods=["GET", "POST", "DELETE"]),
        Route("/{schema}/api/zip", zip_endpoint(server), methods=["GET", "POST"]),
        Route("/{schema}/api/file/{table}/{column}/{id}", file_endpoint(server), methods=["GET"]),
        Route("/{schema}/api/tasks/{id}", task_endpoint(server), methods=["GET"]),
        Route("/{schema}/{app}/graphql", gql, methods=methods),
    ]
    app = Starlette(routes=routes)
    app.router.redirect_slashes = False   # Javalin ignores trailing slashes instead (see below)
    app.state.server = server
    return FaultingApp(app, server)


_SLASHES = re.compile(r"/{2,}")


def _normalise_path(scope) -> None:
    """Javalin ignores trailing slashes and treats `//` as `/`: so does the sandbox."""
    path = scope.get("path", "")
    clean = _SLASHES.sub("/", path)
    if len(clean) > 1 and clean.endswith("/"):
        clean = clean.rstrip("/") or "/"
    if clean != path:
        scope["path"] = clean
        raw = scope.get("raw_path")
        if raw:
            rclean = re.sub(rb"/{2,}", b"/", raw)
            if len(rclean) > 1 and rclean.endswith(b"/"):
                rclean = rclean.rstrip(b"/") or b"/"
            scope["raw_path"] = rclean


class FaultingApp:
    """The Starlette app behind the fault-injection middleware (`server.faults`)."""

    def __init__(self, app: Starlette, server: SandboxServer) -> None:
        self.app = app
        self.state = app.state
        self.server = server
        self._wrapped = server.faults.wrap(app)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            _normalise_path(scope)
        await self._wrapped(scope, receive, send)

