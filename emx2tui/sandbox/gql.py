"""GraphQL schemas of the sandbox, built with graphql-core from the schema models.

`build_database_schema` is the `/api/graphql` level, `build_schema_schema` the `/{schema}/graphql`
level. Resolvers get a `Ctx` as `info.context`; rows travel between resolvers as the store's
row dicts (CSV column name -> stored text).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    GraphQLArgument, GraphQLBoolean, GraphQLEnumType, GraphQLField, GraphQLFloat,
    GraphQLInputField, GraphQLInputObjectType, GraphQLInt, GraphQLList, GraphQLObjectType,
    GraphQLSchema, GraphQLString,
)

from emx2tui.emx2.model import Column, SchemaModel
from emx2tui.emx2.names import column_id, schema_type_prefix, table_id
from emx2tui.sandbox.auth import SYSTEM_ROLES
from emx2tui.sandbox.errors import SandboxError
from emx2tui.sandbox.filters import input_to_row, order_sql, where_sql
from emx2tui.sandbox.store import NUMERIC_TYPES, Store

SPEC_VERSION = "13.183.2"
IMPL_VERSION = "emx2tui-sandbox"
DB_VERSION = "34"


@dataclass
class Ctx:
    """Per-request context handed to resolvers."""

    server: Any          # the app state (store, tasks, auth)
    user: str
    schema: str | None = None
    session: Any = None
    cache: dict = field(default_factory=dict)
    new_session: str | None = None
    end_session: bool = False

    @property
    def store(self) -> Store:
        return self.server.store

    @property
    def admin(self) -> bool:
        return self.user == "admin"


def L(t):  # noqa: N802 - short helper for list types
    return GraphQLList(t)


# ----------------------------------------------------------------------------- shared types
Status = GraphQLEnumType("MolgenisMutationResultStatus", {"SUCCESS": "SUCCESS", "FAILED": "FAILED"})
Order = GraphQLEnumType("MolgenisOrderByEnum", {"ASC": "ASC", "DESC": "DESC"})
Manifest = GraphQLObjectType("MolgenisManifest", {
    "SpecificationVersion": GraphQLField(GraphQLString),
    "ImplementationVersion": GraphQLField(GraphQLString),
    "DatabaseVersion": GraphQLField(GraphQLString),
})
KeyValue = GraphQLObjectType("MolgenisSettingsType", {
    "key": GraphQLField(GraphQLString), "value": GraphQLField(GraphQLString)})
KeyValueInput = GraphQLInputObjectType("MolgenisSettingsInput", {
    "key": GraphQLInputField(GraphQLString), "value": GraphQLInputField(GraphQLString),
    "tableId": GraphQLInputField(GraphQLString)})
Locale = GraphQLObjectType("MolgenisLocaleValue", {
    "locale": GraphQLField(GraphQLString), "value": GraphQLField(GraphQLString)})
SchemaInfo = GraphQLObjectType("MolgenisSchemaInfo", {
    "id": GraphQLField(GraphQLString), "name": GraphQLField(GraphQLString),
    "label": GraphQLField(GraphQLString), "description": GraphQLField(GraphQLString)})
TablePermission = GraphQLObjectType("MolgenisTablePermission", {
    k: GraphQLField(GraphQLBoolean if k.startswith(("can", "is")) else GraphQLString)
    for k in ("id", "name", "canView", "canInsert", "canUpdate", "canDelete", "isRowLevel")})
Session = GraphQLObjectType("MolgenisSession", {
    "email": GraphQLField(GraphQLString), "admin": GraphQLField(GraphQLBoolean),
    "roles": GraphQLField(L(GraphQLString)), "schemas": GraphQLField(L(GraphQLString)),
    "token": GraphQLField(GraphQLString), "settings": GraphQLField(L(KeyValue)),
    "tablePermissions": GraphQLField(L(TablePermission)),
})
TaskType: GraphQLObjectType = GraphQLObjectType("MolgenisTask", lambda: {
    "id": GraphQLField(GraphQLString), "status": GraphQLField(GraphQLString),
    "description": GraphQLField(GraphQLString), "total": GraphQLField(GraphQLInt),
    "progress": GraphQLField(GraphQLInt), "subTasks": GraphQLField(L(TaskType)),
})
SigninResult = GraphQLObjectType("MolgenisSignInResult", {
    "status": GraphQLField(Status), "message": GraphQLField(GraphQLString),
    "token": GraphQLField(GraphQLString)})
Result = GraphQLObjectType("MolgenisResult", {
    "status": GraphQLField(Status), "message": GraphQLField(GraphQLString),
    "taskId": GraphQLField(GraphQLString)})
FileType = GraphQLObjectType("MolgenisFileType", {
    k: GraphQLField(GraphQLInt if k == "size" else GraphQLString)
    for k in ("id", "size", "filename", "extension", "url")})

_COLUMN_FIELDS = ["table", "id", "name", "label", "description", "columnType", "required",
                  "defaultValue", "refSchemaId", "refSchemaName", "refTableId", "refTableName",
                  "refLinkId", "refLinkName", "refBackId", "refBackName", "refLabel",
                  "refLabelDefault", "validation", "visible", "computed", "formLabel", "section",
                  "heading"]
ColumnMeta = GraphQLObjectType("MolgenisColumn", {
    **{k: GraphQLField(GraphQLString) for k in _COLUMN_FIELDS},
    "position": GraphQLField(GraphQLInt), "key": GraphQLField(GraphQLInt),
    "readonly": GraphQLField(GraphQLBoolean), "inherited": GraphQLField(GraphQLBoolean),
    "semantics": GraphQLField(L(GraphQLString)), "labels": GraphQLField(L(Locale)),
    "descriptions": GraphQLField(L(Locale)),
})
TableMeta = GraphQLObjectType("MolgenisTable", {
    **{k: GraphQLField(GraphQLString) for k in (
        "id", "name", "label", "description", "schemaId", "schemaName", "tableType",
        "inheritName", "inheritId", "inheritSchemaName")},
    "semantics": GraphQLField(L(GraphQLString)), "labels": GraphQLField(L(Locale)),
    "descriptions": GraphQLField(L(Locale)), "settings": GraphQLField(L(KeyValue)),
    "columns": GraphQLField(L(ColumnMeta)),
})
Permission = GraphQLObjectType("MolgenisPermission", {
    "table": GraphQLField(GraphQLString), "select": GraphQLField(GraphQLBoolean),
    "insert": GraphQLField(GraphQLBoolean), "update": GraphQLField(GraphQLBoolean),
    "delete": GraphQLField(GraphQLBoolean), "isRowLevel": GraphQLField(GraphQLBoolean)})
Role = GraphQLObjectType("MolgenisRole", {
    "name": GraphQLField(GraphQLString), "system": GraphQLField(GraphQLBoolean),
    "permissions": GraphQLField(L(Permission))})
MemberInput = GraphQLInputObjectType("MolgenisMembersInput", {
    "email": GraphQLInputField(GraphQLString), "role": GraphQLInputField(GraphQLString)})
DropSettingInput = GraphQLInputObjectType("DropSettingsInput", {
    "key": GraphQLInputField(GraphQLString), "tableId": GraphQLInputField(GraphQLString)})
Member = GraphQLObjectType("MolgenisMember", {
    "email": GraphQLField(GraphQLString), "role": GraphQLField(GraphQLString)})


def _schema_meta_type(with_members: bool) -> GraphQLObjectType:
    fields = {
        "id": GraphQLField(GraphQLString), "name": GraphQLField(GraphQLString),
        "label": GraphQLField(GraphQLString), "description": GraphQLField(GraphQLString),
        "settings": GraphQLField(L(KeyValue)), "tables": GraphQLField(L(TableMeta)),
        "roles": GraphQLField(L(Role)),
    }
    if with_members:
        fields["members"] = GraphQLField(L(Member))
    return GraphQLObjectType("MolgenisSchema", fields)


SchemaMetaAdmin = _schema_meta_type(True)
SchemaMetaPlain = _schema_meta_type(False)


# ----------------------------------------------------------------------------- metadata view
def _system_columns(table: str) -> list[dict]:
    out = []
    for name, ctype in (("mg_draft", "BOOL"), ("mg_insertedBy", "STRING"),
                        ("mg_insertedOn", "DATETIME"), ("mg_updatedBy", "STRING"),
                        ("mg_updatedOn", "DATETIME"), ("mg_tableclass", "STRING")):
        out.append({"table": table, "id": name, "name": name, "label": name,
                    "columnType": ctype, "readonly": True if name != "mg_draft" else None})
    return out


def _required(c: Column) -> str | None:
    if c.key == 1:
        return "true"
    r = c.required
    if r is not None and r.strip().lower() in ("true", "false"):
        return r.strip().lower()
    return r


def column_meta(schema: str, table: str, c: Column) -> dict:
    ref = c.is_reference or c.is_refback
    return {
        "table": c.table, "id": c.id, "name": c.name, "label": c.label or c.name,
        "description": c.description, "position": c.position or None,
        "columnType": c.type.upper(), "key": c.key or None, "required": _required(c),
        "readonly": True if c.readonly else None, "defaultValue": c.default_value,
        "refSchemaId": (c.ref_schema or schema) if ref else None,
        "refSchemaName": (c.ref_schema or schema) if ref else None,
        "refTableId": table_id(c.ref_table) if c.ref_table else None,
        "refTableName": c.ref_table,
        "refLinkId": column_id(c.ref_link) if c.ref_link else None, "refLinkName": c.ref_link,
        "refBackId": column_id(c.ref_back) if c.ref_back else None, "refBackName": c.ref_back,
        "refLabel": c.ref_label, "refLabelDefault": None, "validation": c.validation,
        "visible": c.visible, "computed": c.computed,
        "semantics": [s.strip() for s in c.semantics.split(",")] if c.semantics else None,
        "inherited": True if c.table != table else None,
        "formLabel": None, "labels": None, "descriptions": None,
    }


def schema_meta(store: Store, schema: str) -> dict:
    st = store.state(schema)
    model = st.model
    tables = []
    for name in sorted(model.tables):
        t = model.tables[name]
        cols = sorted(model.columns(name), key=lambda c: c.position)
        out_cols = []
        if not cols or cols[0].type != "section":
            out_cols.append({"table": name, "id": "mg_top_of_form", "name": "mg_top_of_form",
                             "label": "mg_top_of_form", "columnType": "SECTION"})
        out_cols += [column_meta(schema, name, c) for c in cols]
        out_cols += _system_columns(name)
        tables.append({
            "id": t.id, "name": name, "label": t.label or name, "description": t.description,
            "schemaId": schema, "schemaName": schema, "tableType": t.table_type,
            "inheritName": t.extends, "inheritId": table_id(t.extends) if t.extends else None,
            "inheritSchemaName": t.extends_schema,
            "semantics": [s.strip() for s in t.semantics.split(",")] if t.semantics else None,
            "labels": None, "descriptions": None, "settings": [], "columns": out_cols,
        })
    return {
        "id": schema, "name": schema, "label": schema, "description": st.description,
        "settings": [{"key": k, "value": v} for k, v in model.settings.items()],
        "tables": tables, "roles": [{"name": r, "system": True, "permissions": []} for r in SYSTEM_ROLES],
        "members": [],
    }


# ----------------------------------------------------------------------------- output values
def _scalar_out(base: str, text: str | None):
    if text is None:
        return None
    if base in ("int", "non_negative_int"):
        return int(text)
    if base == "decimal":
        return float(text)
    if base == "bool":
        return text == "true"
    if base == "datetime":
        # Postgres' JSON form of a timestamp: ISO with a T, no fraction when it is zero
        day, _, time_ = text.partition(" ")
        if time_.endswith(".0"):
            time_ = time_[:-2]
        return f"{day}T{time_}" if time_ else day
    return text


def _key_of(parts, values) -> dict:
    return {p.target: v for p, v in zip(parts, values)}


class TypeBuilder:
    """Builds the per-table GraphQL types of one schema endpoint (with cross-schema tables)."""

    def __init__(self, store: Store, home: str) -> None:
        self.store = store
        self.home = home
        self.out: dict[tuple[str, str], GraphQLObjectType] = {}
        self.filters: dict[tuple[str, str], GraphQLInputObjectType] = {}
        self.inputs: dict[tuple[str, str], GraphQLInputObjectType] = {}
        self.pkeys: dict[tuple[str, str], GraphQLInputObjectType] = {}
        self.orders: dict[tuple[str, str], GraphQLInputObjectType] = {}
        self.scalar_filters: dict[str, GraphQLInputObjectType] = {}

    def tname(self, schema: str, table: str) -> str:
        tid = table_id(table)
        return tid if schema == self.home else schema_type_prefix(schema) + tid

    def model(self, schema: str) -> SchemaModel:
        return self.store.model(schema)

    @staticmethod
    def scalar_type(base: str):
        if base in ("int", "non_negative_int"):
            return GraphQLInt
        if base == "decimal":
            return GraphQLFloat
        if base == "bool":
            return GraphQLBoolean
        return GraphQLString

    def _cols(self, schema: str, table: str) -> list[Column]:
        return [c for c in self.model(schema).hierarchy_columns(table)
                if not c.is_layout and not c.name.startswith("mg_")]

    # ---------------------------------------------------------------- output
    def output(self, schema: str, table: str) -> GraphQLObjectType:
        k = (schema, table)
        if k not in self.out:
            self.out[k] = GraphQLObjectType(self.tname(schema, table),
                                            lambda: self._output_fields(schema, table))
        return self.out[k]

    def _output_fields(self, schema: str, table: str) -> dict:
        fields: dict[str, GraphQLField] = {}
        model = self.model(schema)
        for c in self._cols(schema, table):
            tschema = c.ref_schema or schema
            if c.is_reference or c.is_refback:
                if not c.ref_table or c.ref_table not in self.model(tschema).tables:
                    continue
                target = self.output(tschema, c.ref_table)
                if c.is_ref:
                    fields[c.id] = GraphQLField(target, resolve=self._ref_resolver(schema, table, c))
                else:
                    fields[c.id] = GraphQLField(
                        L(target), args=self._list_args(tschema, c.ref_table),
                        resolve=self._ref_array_resolver(schema, table, c) if c.is_ref_array
                        else self._refback_resolver(schema, table, c))
            elif c.is_file:
                fields[c.id] = GraphQLField(FileType, resolve=self._file_resolver(schema, table, c))
            else:
                base = c.base_type()
                t = self.scalar_type(base)
                if c.is_array:
                    fields[c.id] = GraphQLField(L(t), resolve=self._array_resolver(c.name, base))
                else:
                    fields[c.id] = GraphQLField(t, resolve=self._scalar_resolver(c.name, base))
        fields["mg_draft"] = GraphQLField(GraphQLBoolean, resolve=self._scalar_resolver("mg_draft", "bool"))
        for name in ("mg_insertedBy", "mg_insertedOn", "mg_updatedBy", "mg_updatedOn", "mg_tableclass"):
            fields[name] = GraphQLField(GraphQLString, resolve=self._scalar_resolver(name, "string"))
        del model
        return fields

    def _list_args(self, schema: str, table: str) -> dict:
        return {"filter": GraphQLArgument(self.filter(schema, table)),
                "limit": GraphQLArgument(GraphQLInt), "offset": GraphQLArgument(GraphQLInt),
                "orderby": GraphQLArgument(L(self.orderby(schema, table)))}

    @staticmethod
    def _scalar_resolver(name: str, base: str):
        def resolve(row, info):
            return _scalar_out(base, row.get(name))
        return resolve

    @staticmethod
    def _array_resolver(name: str, base: str):
        def resolve(row, info):
            v = row.get(name)
            return [_scalar_out(base, x) for x in json.loads(v)] if v else None
        return resolve

    def _file_resolver(self, schema: str, table: str, c: Column):
        def resolve(row, info):
            fid = row.get(c.name)
            if not fid:
                return None
            fname = row.get(c.name + "_filename")
            ext = fname.rsplit(".", 1)[1] if fname and "." in fname else None
            stored = self.store.get_file(fid)
            size = len(stored[0] or b"") if stored else None
            return {"id": fid, "filename": fname, "extension": ext, "size": size,
                    "url": f"/{schema}/api/file/{table}/{c.name}/{fid}"}
        return resolve

    def _fetch(self, ctx: Ctx, schema: str, table: str, key: dict) -> dict | None:
        ck = (schema, table, tuple(sorted(key.items())))
        if ck not in ctx.cache:
            ctx.cache[ck] = self.store.get_by_key(schema, table, key)
        return ctx.cache[ck]

    def _ref_resolver(self, schema: str, table: str, c: Column):
        tschema = c.ref_schema or schema

        def resolve(row, info):
            parts = self.model(schema).column_parts(c.table, c)
            values = [row.get(p.name) for p in parts]
            if any(v is None for v in values):
                return None
            return self._fetch(info.context, tschema, c.ref_table, _key_of(parts, values))
        return resolve

    def _ref_array_resolver(self, schema: str, table: str, c: Column):
        tschema = c.ref_schema or schema

        def resolve(row, info, filter=None, limit=None, offset=None, orderby=None):  # noqa: A002
            model = self.model(schema)
            owner = model.csv_column_owner(model.root(table).name)
            parts = model.column_parts(c.table, c)
            lists = []
            n = None
            for p in parts:
                v = row.get(p.name)
                col = owner.get(p.name)
                if v is not None and (not p.shared or (col is not None and col.is_array)):
                    items = json.loads(v)
                    lists.append(items)
                    n = len(items) if n is None else min(n, len(items))
                else:
                    lists.append(v)
            if not n:
                return None
            out = []
            for i in range(n):
                vals = [lst[i] if isinstance(lst, list) else lst for lst in lists]
                r = self._fetch(info.context, tschema, c.ref_table, _key_of(parts, vals))
                if r is not None:
                    out.append(r)
            return out[(offset or 0):(offset or 0) + limit if limit is not None else None]
        return resolve

    def _refback_resolver(self, schema: str, table: str, c: Column):
        def resolve(row, info, filter=None, limit=None, offset=None, orderby=None):  # noqa: A002
            rows = self.store.refback_keys(schema, table, c, row)
            start = offset or 0
            return rows[start:start + limit if limit is not None else None] or None
        return resolve

    # ---------------------------------------------------------------- inputs
    def scalar_filter(self, c: Column) -> GraphQLInputObjectType:
        base = c.base_type()
        name = "Molgenis" + base.capitalize() + ("_arrayFilter" if c.is_array else "Filter")
        if name not in self.scalar_filters:
            t = self.scalar_type(base)
            fields = {"equals": GraphQLInputField(L(t)), "not_equals": GraphQLInputField(L(t)),
                      "is_null": GraphQLInputField(GraphQLBoolean),
                      "match_any": GraphQLInputField(L(t))}
            if base in NUMERIC_TYPES or base in ("date", "datetime", "period"):
                fields["between"] = GraphQLInputField(L(t))
                fields["not_between"] = GraphQLInputField(L(t))
            elif base not in ("bool", "uuid", "file"):
                for op in ("like", "not_like", "trigram_search", "text_search"):
                    fields[op] = GraphQLInputField(L(t))
            if c.is_array:
                fields["match_all"] = GraphQLInputField(L(t))
            self.scalar_filters[name] = GraphQLInputObjectType(name, fields)
        return self.scalar_filters[name]

    def filter(self, schema: str, table: str) -> GraphQLInputObjectType:
        k = (schema, table)
        if k not in self.filters:
            self.filters[k] = GraphQLInputObjectType(self.tname(schema, table) + "Filter",
                                                     lambda: self._filter_fields(schema, table))
        return self.filters[k]

    def _filter_fields(self, schema: str, table: str) -> dict:
        me = self.filter(schema, table)
        fields = {"_search": GraphQLInputField(GraphQLString), "_or": GraphQLInputField(L(me)),
                  "_and": GraphQLInputField(L(me))}
        cols = self._cols(schema, table)
        if self.model(schema).primary_key(table):
            pk = self.pkey(schema, table)
            fields["equals"] = GraphQLInputField(L(pk))
            fields["not_equals"] = GraphQLInputField(L(pk))
        if any(c.is_reference or c.is_refback for c in cols):
            fields["_is_null"] = GraphQLInputField(GraphQLBoolean)
            fields["_match_any"] = GraphQLInputField(L(GraphQLString))
            fields["_match_all"] = GraphQLInputField(L(GraphQLString))
        for c in cols:
            tschema = c.ref_schema or schema
            if c.is_reference or c.is_refback:
                if c.ref_table and c.ref_table in self.model(tschema).tables:
                    fields[c.id] = GraphQLInputField(self.filter(tschema, c.ref_table))
            elif c.is_file:
                fields[c.id] = GraphQLInputField(self.scalar_filter(Column(c.name, c.table, "string")))
            else:
                fields[c.id] = GraphQLInputField(self.scalar_filter(c))
        return fields

    def orderby(self, schema: str, table: str) -> GraphQLInputObjectType:
        k = (schema, table)
        if k not in self.orders:
            self.orders[k] = GraphQLInputObjectType(
                self.tname(schema, table) + "orderby",
                lambda: {c.id: GraphQLInputField(Order) for c in self._cols(schema, table)
                         if not c.is_file} | {"mg_insertedOn": GraphQLInputField(Order),
                                              "mg_updatedOn": GraphQLInputField(Order)})
        return self.orders[k]

    def pkey(self, schema: str, table: str) -> GraphQLInputObjectType:
        k = (schema, table)
        if k not in self.pkeys:
            self.pkeys[k] = GraphQLInputObjectType(self.tname(schema, table) + "PkeyInput",
                                                   lambda: self._input_fields(schema, table, True))
        return self.pkeys[k]

    def input(self, schema: str, table: str) -> GraphQLInputObjectType:
        k = (schema, table)
        if k not in self.inputs:
            self.inputs[k] = GraphQLInputObjectType(self.tname(schema, table) + "Input",
                                                    lambda: self._input_fields(schema, table, False))
        return self.inputs[k]

    def _input_fields(self, schema: str, table: str, key_only: bool) -> dict:
        model = self.model(schema)
        cols = model.primary_key(table) if key_only else self._cols(schema, table)
        fields: dict[str, GraphQLInputField] = {}
        for c in cols:
            tschema = c.ref_schema or schema
            if c.is_refback:
                continue
            if c.is_reference:
                if not c.ref_table or c.ref_table not in self.model(tschema).tables:
                    continue
                t = self.pkey(tschema, c.ref_table) if key_only else self.input(tschema, c.ref_table)
                fields[c.id] = GraphQLInputField(L(t) if c.is_ref_array else t)
            elif c.is_file:
                fields[c.id] = GraphQLInputField(GraphQLString)
            else:
                t = self.scalar_type(c.base_type())
                fields[c.id] = GraphQLInputField(L(t) if c.is_array else t)
        if not key_only:
            fields["mg_draft"] = GraphQLInputField(GraphQLBoolean)
            for name in ("mg_insertedBy", "mg_insertedOn", "mg_updatedBy", "mg_updatedOn",
                         "mg_tableclass"):
                fields[name] = GraphQLInputField(GraphQLString)
        return fields


# ----------------------------------------------------------------------------- root fields
def _manifest(_root, _info):
    return {"SpecificationVersion": SPEC_VERSION, "ImplementationVersion": IMPL_VERSION,
            "DatabaseVersion": DB_VERSION}


def _tasks(_root, info, id=None):  # noqa: A002
    server = info.context.server
    if id is None:
        if not info.context.admin or info.context.session is None:
            raise SandboxError("Listing all tasks is only allowed for admin users")
        return [t.to_graphql() for t in server.tasks.tasks.values()]
    t = server.tasks.get(id)
    if t is None:
        raise SandboxError(f"getTask({id}) failed: task unknown")
    return [t.to_graphql()]


def _session(_root, info):
    ctx: Ctx = info.context
    server = ctx.server
    roles = None
    perms = None
    if ctx.schema:
        roles = server.auth.roles(ctx.user, ctx.schema)
        model = ctx.store.model(ctx.schema)
        can_edit = any(r in roles for r in ("Editor", "Manager", "Owner"))
        perms = [{"id": t.id, "name": t.name, "canView": True, "canInsert": can_edit,
                  "canUpdate": can_edit, "canDelete": can_edit, "isRowLevel": False}
                 for t in model.tables.values()]
    return {"email": ctx.user, "admin": ctx.admin, "roles": roles,
            "schemas": server.auth.visible_schemas(ctx.user),
            "token": server.auth.temporary_token(ctx.user), "settings": [],
            "tablePermissions": perms}


def _settings_field(_root, info, keys=None):
    ctx: Ctx = info.context
    settings = dict(ctx.store.model(ctx.schema).settings) if ctx.schema else {}
    out = [{"key": k, "value": v} for k, v in settings.items() if not keys or k in keys]
    out.append({"key": "isOidcEnabled", "value": "false"})
    return out


def _session_mutations(anonymous: bool) -> dict:
    def signin(_root, info, email=None, password=None):
        return info.context.server.auth.signin(info.context, email, password)

    def signout(_root, info):
        return info.context.server.auth.signout(info.context)

    def create_token(_root, info, email=None, tokenName=None):  # noqa: N803
        return info.context.server.auth.create_token(info.context, email, tokenName)

    def signup(_root, info, email=None, password=None):
        return info.context.server.auth.signup(email, password)

    out = {
        "signin": GraphQLField(SigninResult, args={"email": GraphQLArgument(GraphQLString),
                                                   "password": GraphQLArgument(GraphQLString)},
                               resolve=signin),
        "signup": GraphQLField(Result, args={"email": GraphQLArgument(GraphQLString),
                                             "password": GraphQLArgument(GraphQLString)},
                               resolve=signup),
    }
    if not anonymous:
        out["signout"] = GraphQLField(Result, resolve=signout)
        out["createToken"] = GraphQLField(SigninResult, args={
            "email": GraphQLArgument(GraphQLString), "tokenName": GraphQLArgument(GraphQLString)},
            resolve=create_token)
    return out


def _common_queries() -> dict:
    return {
        "_manifest": GraphQLField(Manifest, resolve=_manifest),
        "_tasks": GraphQLField(L(TaskType), args={"id": GraphQLArgument(GraphQLString)}, resolve=_tasks),
        "_session": GraphQLField(Session, resolve=_session),
        "_settings": GraphQLField(L(KeyValue), args={"keys": GraphQLArgument(L(GraphQLString))},
                                  resolve=_settings_field),
    }


def build_database_schema(store: Store, *, anonymous: bool) -> GraphQLSchema:
    def schemas(_root, info):
        ctx: Ctx = info.context
        out = []
        for name in ctx.server.auth.visible_schemas(ctx.user):
            st = store.state(name)
            out.append({"id": name, "name": name, "label": name, "description": st.description})
        return out

    def create_schema(_root, info, name=None, description=None, template=None,
                      includeDemoData=None, parentJob=None):  # noqa: N803
        ctx: Ctx = info.context
        if not ctx.admin:
            raise SandboxError("Create schema failed: permission denied for database")
        if template:
            raise SandboxError(f"Cannot create schema from template '{template}'.")
        store.create_schema(name, description)
        return {"status": "SUCCESS", "message": f"Schema {name} created", "taskId": None}

    def delete_schema(_root, info, id=None):  # noqa: A002
        ctx: Ctx = info.context
        if not ctx.admin:
            raise SandboxError("Transaction failed: Drop schema failed: permission denied")
        store.delete_schema(id)
        return {"status": "SUCCESS", "message": f"Schema {id} dropped"}

    def update_schema(_root, info, name=None, description=None):
        ctx: Ctx = info.context
        if not ctx.admin:
            raise SandboxError("permission denied for schema")
        store.update_schema(name, description)
        return {"status": "SUCCESS", "message": f"Schema {name} updated"}

    query = GraphQLObjectType("Query", {
        **_common_queries(),
        "_schemas": GraphQLField(L(SchemaInfo), resolve=schemas),
    })
    s = GraphQLArgument(GraphQLString)
    mutation = GraphQLObjectType("Save", {
        **_session_mutations(anonymous),
        "createSchema": GraphQLField(Result, args={
            "name": s, "description": s, "template": s,
            "includeDemoData": GraphQLArgument(GraphQLBoolean), "parentJob": s},
            resolve=create_schema),
        "deleteSchema": GraphQLField(Result, args={"id": s}, resolve=delete_schema),
        "updateSchema": GraphQLField(Result, args={"name": s, "description": s},
                                     resolve=update_schema),
    })
    return GraphQLSchema(query=query, mutation=mutation)


def query_rows(store: Store, schema: str, table: str, *, filter=None, search=None,  # noqa: A002
               limit=None, offset=None, orderby=None) -> list[dict]:
    params: list = []
    f = dict(filter or {})
    if search:
        f["_search"] = search
    where = where_sql(store, schema, table, f, "s", params) if f else ""
    order = order_sql(store, schema, table, orderby) if orderby else ""
    return store.select(schema, table, where=where, params=params, order=order,
                        limit=limit, offset=offset)


def build_schema_schema(store: Store, schema: str, *, anonymous: bool, manager: bool,
                        editor: bool) -> GraphQLSchema:
    tb = TypeBuilder(store, schema)
    model = store.model(schema)
    fields = dict(_common_queries())

    def schema_field(_root, info):
        meta = schema_meta(store, schema)
        meta["members"] = info.context.server.auth.member_list(schema)
        return meta

    fields["_schema"] = GraphQLField(SchemaMetaAdmin if manager else SchemaMetaPlain,
                                     resolve=schema_field)
    Aggregate: dict[str, GraphQLObjectType] = {}
    table_args: dict[str, dict] = {}
    for name in sorted(model.tables):
        t = model.tables[name]
        if not model.has_columns(name):
            continue
        tid = t.id
        args = {"filter": GraphQLArgument(tb.filter(schema, name)),
                "search": GraphQLArgument(GraphQLString)}
        table_args[name] = args

        def rows(_root, info, _n=name, filter=None, search=None, limit=None, offset=None,  # noqa: A002
                 orderby=None):
            return query_rows(store, schema, _n, filter=filter, search=search, limit=limit,
                              offset=offset, orderby=orderby) or None

        def agg(_root, info, _n=name, filter=None, search=None):  # noqa: A002
            params: list = []
            f = dict(filter or {})
            if search:
                f["_search"] = search
            where = where_sql(store, schema, _n, f, "s", params) if f else ""
            n = store.count(schema, _n, where=where, params=params)
            return {"count": n, "exists": n > 0}

        Aggregate[name] = GraphQLObjectType(tid + "Aggregate", {
            "count": GraphQLField(GraphQLInt), "exists": GraphQLField(GraphQLBoolean)})
        fields[tid] = GraphQLField(L(tb.output(schema, name)), args={
            **args, "limit": GraphQLArgument(GraphQLInt), "offset": GraphQLArgument(GraphQLInt),
            "orderby": GraphQLArgument(L(tb.orderby(schema, name)))}, resolve=rows)
        fields[tid + "_agg"] = GraphQLField(Aggregate[name], args=args, resolve=agg)
    query = GraphQLObjectType("Query", fields)

    tables_with_cols = [n for n in sorted(model.tables) if model.has_columns(n)]

    def row_mutation(kind: str):
        verbs = {"insert": ("inserted", "to"), "update": ("updated", "to"),
                 "save": ("upserted", "to"), "delete": ("delete", "from")}

        def resolve(_root, info, strict=False, **kwargs):
            ctx: Ctx = info.context
            if not editor:
                raise SandboxError(f"Transaction failed: permission denied for table "
                                   f"{next(iter(kwargs), '')}")
            given = {model.tables[n].id: n for n in tables_with_cols}
            if not any(kwargs.get(tid) is not None for tid in given):
                raise SandboxError(f"Error with {kind}: no data provided")
            lines = []
            for tid, name in given.items():
                items = kwargs.get(tid)
                if items is None:
                    continue
                try:
                    with store.transaction(user=ctx.user):
                        if kind == "delete":
                            keys = [input_to_row(store, schema, name, it) for it in items]
                            n = store.delete(schema, name, keys, strict=bool(strict))
                        else:
                            rows = [input_to_row(store, schema, name, it) for it in items]
                            n = store.upsert(schema, name, rows, mode=kind)
                except SandboxError as exc:
                    msg = exc.message
                    if not msg.startswith("Transaction failed"):
                        msg = "Transaction failed: " + msg
                    prefix = {"insert": f"Update into table '{name}' failed.: ",
                              "update": f"Update into table '{name}' failed.: ",
                              "save": f"Upsert into table '{name}' failed: ",
                              "delete": f"Delete into table {name} failed: "}[kind]
                    raise SandboxError(prefix + msg) from None
                verb, prep = verbs[kind]
                lines.append(f"{verb} {n} records {prep} {name}\n")
            return {"status": "SUCCESS", "message": "".join(lines)}
        return resolve

    mfields = dict(_session_mutations(anonymous))
    for kind in ("insert", "update", "save", "delete"):
        args = {model.tables[n].id: GraphQLArgument(L(tb.input(schema, n)))
                for n in tables_with_cols}
        if kind == "delete":
            args["strict"] = GraphQLArgument(GraphQLBoolean)
        if args:
            mfields[kind] = GraphQLField(Result, args=args, resolve=row_mutation(kind))

    def truncate(_root, info, tables=None, **_kw):
        ctx: Ctx = info.context
        if not editor:
            raise SandboxError("Transaction failed: permission denied")
        names = []
        with store.transaction(user=ctx.user):
            for t in tables or []:
                found = model.find_table(t)
                if found is None:
                    raise SandboxError(f"Transaction failed: Truncate failed: table {t} unknown")
                store.truncate(schema, found.name)
                names.append(found.name)
        return {"status": "SUCCESS", "message": f"Truncated tables: {', '.join(names)}"}

    def change(_root, info, settings=None, members=None, **_kw):
        ctx: Ctx = info.context
        if not manager:
            raise SandboxError("Transaction failed: permission denied")
        auth = ctx.server.auth
        for m in members or []:
            if m.get("role") not in SYSTEM_ROLES:
                raise SandboxError(f"Transaction failed: Add member(s) failed: Role {m.get('role')} "
                                   f"doesn't exist in schema {schema}")
        with store.transaction(user=ctx.user):
            st = store._writable(schema)
            for s in settings or []:
                if s.get("key"):
                    st.model.settings[s["key"]] = s.get("value")
            store._save_meta(st)
        for m in members or []:
            auth.set_member(schema, m.get("email"), m.get("role"))
        return {"status": "SUCCESS", "message": "Meta update success"}

    def drop(_root, info, members=None, settings=None, **_kw):
        ctx: Ctx = info.context
        if not manager:
            raise SandboxError("Transaction failed: permission denied")
        with store.transaction(user=ctx.user):
            st = store._writable(schema)
            for s in settings or []:
                if not s.get("tableId"):
                    st.model.settings.pop(s.get("key"), None)
            store._save_meta(st)
        for name in members or []:
            ctx.server.auth.remove_member(schema, name)
        # EMX2 reports its text under an internal key the result type does not expose
        return {}

    mfields["truncate"] = GraphQLField(Result, args={
        "tables": GraphQLArgument(L(GraphQLString)), "async": GraphQLArgument(GraphQLBoolean)},
        resolve=truncate)
    mfields["change"] = GraphQLField(Result, args={"settings": GraphQLArgument(L(KeyValueInput)),
                                                   "members": GraphQLArgument(L(MemberInput))},
                                     resolve=change)
    mfields["drop"] = GraphQLField(Result, args={"members": GraphQLArgument(L(GraphQLString)),
                                                 "settings": GraphQLArgument(L(DropSettingInput))},
                                   resolve=drop)
    return GraphQLSchema(query=query, mutation=GraphQLObjectType("Save", mfields))
