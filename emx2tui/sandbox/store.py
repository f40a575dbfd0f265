"""SQLite storage of the sandbox: schemas, their models, rows, transactions and reference checks.

Layout: one SQLite table per inheritance root (`<schema>::<root table>`), holding every CSV
column of the hierarchy as TEXT (array columns as JSON lists), plus `mg_tableclass`,
`mg_draft`, the audit columns and `_tx` (the transaction that last wrote the row). The model
of every schema is kept as JSON in `_mg_schemas`, so data and metadata live in one database
and roll back together.

References are checked when a transaction commits, like EMX2's deferred constraints: rows
written in the transaction must point to existing rows, and rows that remain must not point
to rows deleted in it. One re-entrant lock serialises every access.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
import datetime as dt
import json
import re
import secrets
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from emx2tui.emx2 import csvfmt
from emx2tui.emx2.errors import Emx2Error
from emx2tui.emx2.model import Column, Part, SchemaModel, Table
from emx2tui.sandbox.errors import SandboxError

SYSTEM_COLUMNS = ("mg_draft", "mg_insertedBy", "mg_insertedOn", "mg_updatedBy", "mg_updatedOn")
INT_TYPES = {"int", "long", "non_negative_int"}
NUMERIC_TYPES = INT_TYPES | {"decimal"}


def q(name: str) -> str:
    """A quoted SQLite identifier."""
    return '"' + name.replace('"', '""') + '"'


def lit(value: str) -> str:
    """A quoted SQLite string literal."""
    return "'" + value.replace("'", "''") + "'"


def now_text() -> str:
    return dt.datetime.now().isoformat(sep=" ", timespec="microseconds")


# ----------------------------------------------------------------------------- values
_LOOSE_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?"
                         r"\s*(?:Z|[+-]\d{2}(?::?\d{2})?|\[[^\]]+\])?$")


def _date_text(base: str, text: str) -> str:
    """EMX2's loose date parsing; a zone or offset is dropped, not converted.

    DATE is stored as `yyyy-MM-dd`; DATETIME as Java's `Timestamp.toString()`:
    `yyyy-MM-dd HH:mm:ss.f` with the fraction's trailing zeros dropped (`.0` for whole seconds).
    """
    m = _LOOSE_DATE.match(text)
    try:
        day = dt.date.fromisoformat(m.group(1)) if m else None
    except ValueError:
        day = None
    if day is None:
        raise SandboxError(f"Cannot cast value '{text}' to {base}")
    if base == "date":
        return day.isoformat()
    hh, mm, ss, frac = (m.group(2) or "00"), (m.group(3) or "00"), (m.group(4) or "00"), m.group(5)
    if int(hh) > 23 or int(mm) > 59 or int(ss) > 59:
        raise SandboxError(f"Cannot cast value '{text}' to {base}")
    fraction = (frac or "0")[:6].rstrip("0") or "0"
    return f"{day.isoformat()} {hh}:{mm}:{ss}.{fraction}"


def java_double(x: float) -> str:
    """Java's `Double.toString`: plain between 10^-3 and 10^7, otherwise `1.0E7` style."""
    if x == 0 or x != x or x in (float("inf"), float("-inf")):
        return {"inf": "Infinity", "-inf": "-Infinity", "nan": "NaN"}.get(repr(x), repr(x))
    if 1e-3 <= abs(x) < 1e7:
        return repr(x)
    sign, digits, exp = Decimal(repr(x)).as_tuple()
    ds = "".join(map(str, digits)).rstrip("0") or "0"
    e = exp + len(digits) - 1
    return ("-" if sign else "") + ds[0] + "." + (ds[1:] or "0") + "E" + str(e)


def canon(base: str, value: object) -> str | None:
    """The stored text of one scalar value (None for empty)."""
    if value is None:
        return None
    if isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = str(value).strip()
    if text == "":
        return None
    if base in INT_TYPES:
        try:
            number = int(float(text)) if ("." in text or "e" in text.lower()) else int(text)
        except ValueError:
            raise SandboxError(f"Cannot cast value '{text}' to integer") from None
        if base == "non_negative_int" and number < 0:
            raise SandboxError(f"Validation failed: {text} is not valid NON_NEGATIVE_INT")
        return str(number)
    if base == "decimal":
        try:
            return java_double(float(text))
        except ValueError:
            raise SandboxError(f"Cannot cast value '{text}' to decimal") from None
    if base in ("date", "datetime"):
        return _date_text(base, text)
    if base == "bool":
        try:
            b = csvfmt.parse_bool(text)
        except ValueError as exc:
            raise SandboxError(str(exc)) from None
        return None if b is None else ("true" if b else "false")
    return text


def to_items(value: object) -> list:
    """Items of an array value given as a CSV cell, a JSON text or a list."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return csvfmt.split_array(str(value))


# ----------------------------------------------------------------------------- layout
@dataclass
class ClassLayout:
    """How rows of one table (class) are stored."""

    schema: str
    table: str
    root: str
    phys: str
    cols: list[str]                       # CSV columns of the class, in order
    array_cols: set[str]
    base: dict[str, str]                  # CSV column -> scalar base type
    key: list[str]                        # key CSV columns
    classes: list[str]                    # mg_tableclass values of the table and its subclasses
    tableclass: str
    required: list[tuple[str, list[str]]]  # (column name, its CSV columns)
    auto_ids: list[str]
    refback: list[Column] = field(default_factory=list)

    def class_filter(self, alias: str = "s", exact: bool = False) -> str:
        values = [self.tableclass] if exact else self.classes
        return f"{alias}.mg_tableclass IN ({','.join(lit(v) for v in values)})"


@dataclass
class SchemaState:
    name: str
    description: str | None
    model: SchemaModel


def model_to_json(model: SchemaModel) -> str:
    return json.dumps({
        "settings": model.settings,
        "tables": [
            {**{k: v for k, v in dataclasses.asdict(t).items() if k != "columns"},
             "columns": [dataclasses.asdict(c) for c in t.columns]}
            for t in model.tables.values()
        ],
    })


def model_from_json(name: str, text: str, resolver) -> SchemaModel:
    data = json.loads(text)
    tables = []
    for t in data["tables"]:
        cols = [Column(**c) for c in t.pop("columns")]
        tables.append(Table(**t, columns=cols))
    model = SchemaModel(name, resolver=resolver, settings=data.get("settings") or {})
    for t in tables:
        model.tables[t.name] = t
    model._invalidate()
    return model


def clone_model(model: SchemaModel, resolver) -> SchemaModel:
    out = SchemaModel(model.name, resolver=resolver, settings=dict(model.settings))
    for t in model.tables.values():
        out.tables[t.name] = dataclasses.replace(
            t, columns=[dataclasses.replace(c) for c in t.columns])
    return out


_DIGITS = re.compile(r"(\d+)")


def _numeric_key(text: str) -> list:
    return [(0, int(p), "") if p.isdigit() else (1, 0, p)
            for p in _DIGITS.split(text.lower()) if p != ""]


def numeric_collation(a: str, b: str) -> int:
    """EMX2 orders text case-insensitively with numeric-aware collation: a2 before a10."""
    ka, kb = _numeric_key(a), _numeric_key(b)
    return (ka > kb) - (ka < kb)


class Store:
    """All schemas of one sandbox server."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else None
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(str(self.path) if self.path else ":memory:",
                                    check_same_thread=False, isolation_level=None)
        self.conn.execute("PRAGMA foreign_keys=OFF")
        self.conn.create_collation("mg_numeric", numeric_collation)
        if self.path:
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA cache_size=-65536")
        self.lock = threading.RLock()
        self._schemas: dict[str, SchemaState] = {}
        self._work: dict[str, SchemaState | None] | None = None
        self._in_tx = False
        self._tx_thread: int | None = None
        self.txid = 0
        self.user = "admin"
        self.meta_version = 0
        self._meta_changed = False
        self._dirty_out: set[tuple[str, str]] = set()
        self._dirty_in: set[tuple[str, str]] = set()
        # (schema, root) -> stored key tuples deleted in this transaction; None: any row may be gone
        self._deleted: dict[tuple[str, str], list[list] | None] = {}
        self._layouts: dict[tuple[str, str, int], ClassLayout] = {}
        self.conn.execute("CREATE TABLE IF NOT EXISTS _mg_schemas (name TEXT PRIMARY KEY, "
                          "description TEXT, model TEXT NOT NULL)")
        # contents of FILE columns, by file id (the id is what the row's FILE column holds)
        self.conn.execute("CREATE TABLE IF NOT EXISTS _mg_files (id TEXT PRIMARY KEY, "
                          "contents BLOB, filename TEXT, extension TEXT, mimetype TEXT)")
        for name, desc, text in self.conn.execute("SELECT name, description, model FROM _mg_schemas"):
            self._schemas[name] = SchemaState(name, desc, model_from_json(name, text, self._resolve))

    def close(self) -> None:
        with self.lock:
            self.conn.close()

    # ------------------------------------------------------------------ files
    def put_file(self, contents: bytes, filename: str | None, mimetype: str | None = None) -> str:
        """Store the bytes of a FILE cell under a new random 32-hex id (inside a transaction)."""
        fid = uuid.uuid4().hex
        ext = filename.rsplit(".", 1)[1] if filename and "." in filename else None
        self.conn.execute("INSERT INTO _mg_files(id, contents, filename, extension, mimetype) "
                          "VALUES (?,?,?,?,?)", (fid, contents, filename, ext, mimetype))
        return fid

    def get_file(self, fid: str) -> tuple[bytes, str | None, str | None, str | None] | None:
        """(contents, filename, extension, mimetype) of a stored file, or None."""
        with self.lock:
            row = self.conn.execute("SELECT contents, filename, extension, mimetype FROM _mg_files "
                                    "WHERE id=?", (fid,)).fetchone()
        return tuple(row) if row else None  # type: ignore[return-value]

    # ------------------------------------------------------------------ schemas
    def _overlay(self) -> dict[str, SchemaState | None] | None:
        """Uncommitted metadata, visible only to the thread running the transaction."""
        work = self._work
        if work is None or self._tx_thread != threading.get_ident():
            return None
        return work

    def _states(self) -> dict[str, SchemaState]:
        work = self._overlay()
        if work is None:
            return dict(self._schemas)
        out = dict(self._schemas)
        for k, v in work.items():
            if v is None:
                out.pop(k, None)
            else:
                out[k] = v
        return out

    def _resolve(self, name: str) -> SchemaModel | None:
        state = self._states().get(name)
        return state.model if state else None

    def schema_names(self) -> list[str]:
        return sorted(self._states())

    def has_schema(self, name: str) -> bool:
        return name in self._states()

    def state(self, name: str) -> SchemaState:
        st = self._states().get(name)
        if st is None:
            raise SandboxError(f"Schema {name} unknown")
        return st

    def model(self, name: str) -> SchemaModel:
        return self.state(name).model

    def _writable(self, name: str) -> SchemaState:
        assert self._work is not None, "metadata changes need a transaction"
        if name in self._work and self._work[name] is not None:
            return self._work[name]  # type: ignore[return-value]
        st = self._states().get(name)
        if st is None:
            raise SandboxError(f"Schema {name} unknown")
        copy = SchemaState(st.name, st.description, clone_model(st.model, self._resolve))
        self._work[name] = copy
        self._meta_changed = True
        return copy

    def _save_meta(self, st: SchemaState) -> None:
        self.conn.execute("INSERT INTO _mg_schemas(name, description, model) VALUES (?,?,?) "
                          "ON CONFLICT(name) DO UPDATE SET description=excluded.description, "
                          "model=excluded.model", (st.name, st.description, model_to_json(st.model)))

    def create_schema(self, name: str, description: str | None = None) -> None:
        from emx2tui.emx2.names import SCHEMA_NAME
        with self.transaction():
            if name in self._states():
                raise SandboxError(f"Create schema failed: Schema with name '{name}' already exists")
            if not SCHEMA_NAME.match(name or ""):
                raise SandboxError(f"Create schema failed: Invalid schema name '{name}': must start "
                                   "with a letter, followed by letters, numbers, spaces, - or _")
            st = SchemaState(name, description or None, SchemaModel(name, resolver=self._resolve))
            self._work[name] = st  # type: ignore[index]
            self._meta_changed = True
            self._save_meta(st)

    def update_schema(self, name: str, description: str | None) -> None:
        with self.transaction():
            st = self._writable(name)
            st.description = description or None
            self._save_meta(st)

    def delete_schema(self, name: str) -> None:
        with self.transaction():
            if name not in self._states():
                raise SandboxError(f"Transaction failed: Drop schema failed: Schema '{name}' unknown")
            for other, st in self._states().items():
                if other == name:
                    continue
                for t in st.model.tables.values():
                    for c in t.columns:
                        if c.is_ref and c.ref_schema == name:
                            raise SandboxError(
                                f"Transaction failed: Drop schema failed: cannot drop table "
                                f"\"{c.ref_table}\" because other objects depend on it: column "
                                f"'{c.name}' of table '{t.name}' in schema '{other}' refers to it")
            model = self._states()[name].model
            for t in model.tables.values():
                if not t.extends:
                    self.conn.execute(f"DROP TABLE IF EXISTS {q(self.phys(name, t.name))}")
            self.conn.execute("DELETE FROM _mg_schemas WHERE name=?", (name,))
            self._work[name] = None  # type: ignore[index]
            self._meta_changed = True

    # ------------------------------------------------------------------ transactions
    @contextmanager
    def transaction(self, user: str | None = None) -> Iterator["Store"]:
        with self.lock:
            if self._in_tx:
                yield self
                return
            self.conn.execute("BEGIN IMMEDIATE")
            self._in_tx = True
            self._tx_thread = threading.get_ident()
            self.txid = secrets.randbits(52)
            self.user = user or "admin"
            self._work = {}
            self._meta_changed = False
            self._dirty_out.clear()
            self._dirty_in.clear()
            self._deleted.clear()
            try:
                yield self
                self._check_references()
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                self._work = None
                self._layouts.clear()
                for st in self._schemas.values():
                    st.model._invalidate()
                raise
            else:
                for k, v in self._work.items():
                    if v is None:
                        self._schemas.pop(k, None)
                    else:
                        self._schemas[k] = v
                self._work = None
                if self._meta_changed:
                    self.meta_version += 1
                    self._layouts.clear()
                    for st in self._schemas.values():
                        st.model._invalidate()
            finally:
                self._in_tx = False
                self._tx_thread = None
                self._work = None

    # ------------------------------------------------------------------ metadata
    @staticmethod
    def phys(schema: str, root: str) -> str:
        return f"{schema}::{root}"

    def merge_metadata(self, schema: str, rows: list[dict[str, str]]) -> None:
        """Merge molgenis.csv rows into a schema (EMX2's migrate), inside a transaction."""
        with self.transaction():
            st = self._writable(schema)
            model = st.model
            keep: list[dict[str, str]] = []
            for row in rows:
                tname = (row.get("tableName") or "").strip()
                cname = (row.get("columnName") or "").strip()
                old = (row.get("oldName") or "").strip()
                if (row.get("drop") or "").strip().lower() == "true":
                    if cname and tname in model.tables:
                        t = model.tables[tname]
                        t.columns = [c for c in t.columns if c.name != cname]
                    elif not cname and tname in model.tables:
                        self._drop_table(schema, model, tname)
                    continue
                if old:
                    if cname and tname in model.tables:
                        c = model.tables[tname].own(old)
                        if c is not None:
                            self._rename_column(schema, model, tname, old, cname)
                    elif not cname and old in model.tables and tname not in model.tables:
                        self._rename_table(schema, model, old, tname)
                keep.append(row)
            table_rows = {(r.get("tableName") or "").strip() for r in keep
                          if not (r.get("columnName") or "").strip()}
            try:
                incoming = SchemaModel.from_molgenis_csv(keep, schema)
            except Emx2Error as exc:
                raise SandboxError(str(exc)) from None
            for t in incoming.tables.values():
                cur = model.tables.get(t.name)
                if cur is None:
                    t.schema = schema
                    model.tables[t.name] = t
                    continue
                if t.name in table_rows:
                    cur.extends = t.extends
                    cur.extends_schema = t.extends_schema
                    cur.table_type = t.table_type
                    if t.description is not None:
                        cur.description = t.description
                    cur.label = t.label or cur.label
                    cur.semantics = t.semantics or cur.semantics
                    cur.profiles = t.profiles or cur.profiles
                for c in t.columns:
                    for i, existing in enumerate(cur.columns):
                        if existing.name == c.name:
                            cur.columns[i] = c
                            break
                    else:
                        cur.columns.append(c)
            for t in list(model.tables.values()):
                if t.is_ontology and not t.columns:
                    model.add_table(t)
            self._after_model_change(schema)

    def _drop_table(self, schema: str, model: SchemaModel, name: str) -> None:
        if not model.tables[name].extends:
            self.conn.execute(f"DROP TABLE IF EXISTS {q(self.phys(schema, name))}")
        else:
            self.conn.execute(f"DELETE FROM {q(self.phys(schema, model.root(name).name))} "
                              f"WHERE mg_tableclass = ?", (f"{schema}.{name}",))
        del model.tables[name]

    def _rename_table(self, schema: str, model: SchemaModel, old: str, new: str) -> None:
        t = model.tables.pop(old)
        t.name = new
        for c in t.columns:
            c.table = new
        model.tables[new] = t
        for other in model.tables.values():
            if other.extends == old:
                other.extends = new
            for c in other.columns:
                if c.ref_table == old and (not c.ref_schema or c.ref_schema == schema):
                    c.ref_table = new
        root = model.root(new).name
        if not t.extends:
            self.conn.execute(f"ALTER TABLE {q(self.phys(schema, old))} RENAME TO "
                              f"{q(self.phys(schema, new))}")
        self.conn.execute(f"UPDATE {q(self.phys(schema, root))} SET mg_tableclass=? "
                          f"WHERE mg_tableclass=?", (f"{schema}.{new}", f"{schema}.{old}"))

    def _rename_column(self, schema: str, model: SchemaModel, table: str, old: str, new: str) -> None:
        c = model.tables[table].own(old)
        assert c is not None
        c.name = new
        phys = self.phys(schema, model.root(table).name)
        existing = {r[1] for r in self.conn.execute(f"PRAGMA table_info({q(phys)})")}
        if old in existing and new not in existing:
            self.conn.execute(f"ALTER TABLE {q(phys)} RENAME COLUMN {q(old)} TO {q(new)}")

    def _after_model_change(self, schema: str) -> None:
        """Renumber positions, create missing ontology tables, validate, and sync storage."""
        st = self._writable(schema)
        model = st.model
        pos = 0
        for t in model.tables.values():
            for c in t.columns:
                pos += 1
                c.position = pos
        for t in list(model.tables.values()):
            for c in t.columns:
                if not c.is_ontology or not c.ref_table:
                    continue
                target = c.ref_schema or schema
                if target not in self._states():
                    raise SandboxError(f"Add column '{t.name}.{c.name}' failed: refSchema '{target}' "
                                       "does not exist")
                tst = self._writable(target) if target != schema else st
                if c.ref_table not in tst.model.tables:
                    tst.model.add_table(Table(name=c.ref_table, schema=target, table_type="ONTOLOGIES"))
                    if target != schema:
                        self._sync_storage(target)
                        self._save_meta(tst)
        for states in self._states().values():
            states.model._invalidate()
        self._layouts.clear()
        for t in model.tables.values():
            for c in t.columns:
                if c.is_reference or c.is_refback:
                    tgt = self._resolve(c.ref_schema or schema)
                    if tgt is None:
                        raise SandboxError(f"Add column '{t.name}.{c.name}' failed: refSchema "
                                           f"'{c.ref_schema}' does not exist")
                    if not c.ref_table or c.ref_table not in tgt.tables:
                        raise SandboxError(f"Add column '{t.name}.{c.name}' failed: refTable "
                                           f"'{c.ref_table}' does not exist in schema '{tgt.name}'")
            if t.extends and t.extends not in model.tables:
                raise SandboxError(f"Table '{t.name}' extends '{t.extends}', which does not exist")
        self._sync_storage(schema)
        self._save_meta(st)

    def _sync_storage(self, schema: str) -> None:
        model = self._states()[schema].model
        try:
            for t in model.tables.values():
                if t.extends:
                    continue
                self._sync_root(schema, model, t.name)
        except Emx2Error as exc:
            raise SandboxError(str(exc)) from None

    def _sync_root(self, schema: str, model: SchemaModel, root: str) -> None:
        phys = self.phys(schema, root)
        cols = model.csv_columns(root, hierarchy=True)
        system = ["mg_tableclass", *SYSTEM_COLUMNS, "_tx"]
        existing = [r[1] for r in self.conn.execute(f"PRAGMA table_info({q(phys)})")]
        if not existing:
            defs = ", ".join(f"{q(c)} TEXT" for c in cols + system if c != "_tx")
            self.conn.execute(f"CREATE TABLE {q(phys)} ({defs}{', ' if defs else ''}\"_tx\" INTEGER)")
        else:
            for c in cols + system:
                if c not in existing:
                    self.conn.execute(f"ALTER TABLE {q(phys)} ADD COLUMN {q(c)} "
                                      f"{'INTEGER' if c == '_tx' else 'TEXT'}")
        key = model.key_columns(root)
        wanted = f"{phys}::pk::" + "|".join(key)
        singles = {f"{phys}::key::{col}" for col in key[1:]}
        for row in self.conn.execute(f"PRAGMA index_list({q(phys)})").fetchall():
            if ((row[1].startswith(f"{phys}::pk::") and row[1] != wanted)
                    or (row[1].startswith(f"{phys}::key::") and row[1] not in singles)):
                self.conn.execute(f"DROP INDEX {q(row[1])}")
        if key:
            try:
                self.conn.execute(f"CREATE UNIQUE INDEX IF NOT EXISTS {q(wanted)} ON {q(phys)} "
                                  f"({', '.join(q(k) for k in key)})")
            except sqlite3.IntegrityError as exc:
                raise SandboxError(f"Cannot set primary key of table '{root}': {exc}") from None
        self.conn.execute(f"CREATE INDEX IF NOT EXISTS {q(phys + '::tx')} ON {q(phys)} (\"_tx\")")
        # every later key column on its own: a filter through a reference often names only the
        # last part of the key (a variable's name, with its resource shared), which the primary
        # key's index cannot serve
        for col in key[1:]:
            self.conn.execute(f"CREATE INDEX IF NOT EXISTS {q(phys + '::key::' + col)} ON "
                              f"{q(phys)} ({q(col)})")
        # single-column references: filters such as resource.id = X read through these
        for _name, ref in self._owned_refs(schema, model, root):
            if len(ref.parts) == 1 and not ref.column.is_ref_array and not ref.parts[0].shared:
                col = ref.parts[0].name
                self.conn.execute(f"CREATE INDEX IF NOT EXISTS {q(phys + '::ref::' + col)} ON "
                                  f"{q(phys)} ({q(col)})")
            elif len(ref.parts) > 1 and not self._ref_parts_sql(model, root, ref, "s")[0]:
                # a composite reference of plain columns: the reference check after a delete
                # looks up the rows naming the deleted keys through it
                cols = [p.name for p in ref.parts]
                self.conn.execute(f"CREATE INDEX IF NOT EXISTS "
                                  f"{q(phys + '::ref::' + '|'.join(cols))} ON {q(phys)} "
                                  f"({', '.join(q(c) for c in cols)})")

    # ------------------------------------------------------------------ layout
    def layout(self, schema: str, table: str) -> ClassLayout:
        k = (schema, table, self.meta_version)
        # a transaction that changed no metadata sees the committed model: its layouts hold
        cacheable = not self._overlay()
        hit = self._layouts.get(k)
        if hit is not None and cacheable:
            return hit
        model = self.model(schema)
        t = model.tables.get(table)
        if t is None:
            raise SandboxError(f"Table {table} unknown")
        try:
            root = model.root(table).name
            owner = model.csv_column_owner(root)
            cols = model.csv_columns(table)
            array_cols = set()
            base: dict[str, str] = {}
            for c in cols:
                o = owner.get(c)
                if o is None:
                    continue
                if o.is_array:
                    array_cols.add(c)
                base[c] = "string" if o.is_reference or o.is_file else o.base_type()
            required = []
            auto_ids = []
            for c in model.columns(table):
                if c.is_layout or c.is_refback or c.name.startswith("mg_"):
                    continue
                if c.type == "auto_id":
                    auto_ids.append(c.name)
                    continue
                if c.is_required and not c.computed:
                    if c.is_reference:
                        parts = [p.name for p in model.column_parts(c.table, c)]
                    else:
                        parts = [c.name]
                    required.append((c.name, parts))
            classes = [f"{schema}.{table}"] + [f"{schema}.{s.name}" for s in model.subclasses(table)]
            lay = ClassLayout(
                schema=schema, table=table, root=root, phys=self.phys(schema, root), cols=cols,
                array_cols=array_cols, base=base, key=model.key_columns(table), classes=classes,
                tableclass=f"{schema}.{table}", required=required, auto_ids=auto_ids,
                refback=[c for c in model.columns(table) if c.is_refback],
            )
        except Emx2Error as exc:
            raise SandboxError(str(exc)) from None
        if cacheable:
            self._layouts[k] = lay
        return lay

    def find_table(self, schema: str, name: str) -> str:
        model = self.model(schema)
        t = model.find_table(name)
        if t is None:
            raise SandboxError(f"Table {name} unknown")
        return t.name

    # ------------------------------------------------------------------ writes
    def _row_values(self, lay: ClassLayout, row: Mapping[str, object]) -> list[str | None]:
        vals: list[str | None] = []
        for c in lay.cols:
            v = row.get(c)
            if c in lay.array_cols:
                items = [canon(lay.base.get(c, "string"), i) for i in to_items(v)]
                items = [i for i in items if i is not None]
                vals.append(json.dumps(items) if items else None)
            else:
                vals.append(canon(lay.base.get(c, "string"), v))
        return vals

    def upsert(self, schema: str, table: str, rows: Iterable[Mapping[str, object]], *,
               mode: str = "save") -> int:
        """Whole-row upsert (`save`), `insert` or `update` of rows keyed by CSV column name."""
        with self.transaction():
            lay = self.layout(schema, table)
            idx = {c: i for i, c in enumerate(lay.cols)}
            now = now_text()
            tuples = []
            for row in rows:
                vals = self._row_values(lay, row)
                for a in lay.auto_ids:
                    if a in idx and vals[idx[a]] is None:
                        vals[idx[a]] = uuid.uuid4().hex[:16]
                draft = canon("bool", row.get("mg_draft"))
                if draft != "true":
                    for cname, parts in lay.required:
                        if any(p in idx and vals[idx[p]] is None for p in parts):
                            keytext = ", ".join(f"{k}={vals[idx[k]] or ''}" for k in lay.key if k in idx)
                            raise SandboxError(f"column '{cname}' is required in ROW({keytext})")
                tuples.append(vals + [lay.tableclass, draft, self.user, now, self.user, now, self.txid])
            if not tuples:
                return 0
            names = lay.cols + ["mg_tableclass", *SYSTEM_COLUMNS, "_tx"]
            collist = ", ".join(q(c) for c in names)
            marks = ", ".join("?" for _ in names)
            sql = f"INSERT INTO {q(lay.phys)} ({collist}) VALUES ({marks})"
            if mode == "update":
                return self._update(lay, tuples, names)
            if lay.key and mode == "save":
                sets = ", ".join(f"{q(c)}=excluded.{q(c)}" for c in names if c not in lay.key)
                sql += (f" ON CONFLICT ({', '.join(q(k) for k in lay.key)}) DO UPDATE SET {sets} "
                        f"WHERE {q(lay.phys)}.mg_tableclass = excluded.mg_tableclass")
            before = self.conn.total_changes
            try:
                self.conn.executemany(sql, tuples)
            except sqlite3.IntegrityError:
                key = self._first_duplicate(lay, tuples, idx)
                raise SandboxError(f"duplicate key value violates unique constraint "
                                   f"\"{lay.root}_pkey\". Details: Key ({','.join(lay.key)})="
                                   f"({key}) already exists.") from None
            if self.conn.total_changes - before < len(tuples):
                key = self._first_class_clash(lay, tuples, idx)
                raise SandboxError(f"insert or update on table \"{lay.table}\" violates primary key "
                                   f"constraint: Key ({','.join(lay.key)})=({key}) already exists in "
                                   f"inherited table \"{lay.root}\" with another mg_tableclass")
            self._dirty_out.add((schema, lay.root))
            return len(tuples)

    def _update(self, lay: ClassLayout, tuples: list[list], names: list[str]) -> int:
        if not lay.key:
            return 0
        nkey = len(lay.key)
        idx = {c: i for i, c in enumerate(names)}
        sets = ", ".join(f"{q(c)}=?" for c in names if c not in lay.key and c not in
                         ("mg_insertedBy", "mg_insertedOn"))
        where = " AND ".join(f"{q(k)}=?" for k in lay.key)
        sql = f"UPDATE {q(lay.phys)} SET {sets} WHERE {where} AND {lay.class_filter(q(lay.phys))}"
        params = []
        for t in tuples:
            vals = [t[i] for c, i in idx.items() if c not in lay.key and c not in
                    ("mg_insertedBy", "mg_insertedOn")]
            params.append(vals + [t[idx[k]] for k in lay.key])
        before = self.conn.total_changes
        self.conn.executemany(sql, params)
        self._dirty_out.add((lay.schema, lay.root))
        del nkey
        return self.conn.total_changes - before

    def _first_duplicate(self, lay: ClassLayout, tuples: list[list], idx: dict[str, int]) -> str:
        seen = set()
        for t in tuples:
            key = tuple(t[idx[k]] for k in lay.key)
            if key in seen or self._exists(lay, key):
                return ",".join(v or "" for v in key)
            seen.add(key)
        return ""

    def _exists(self, lay: ClassLayout, key: tuple, exact_class: bool = False) -> bool:
        where = " AND ".join(f"{q(k)}=?" for k in lay.key)
        cls = f" AND mg_tableclass = {lit(lay.tableclass)}" if exact_class else ""
        return self.conn.execute(f"SELECT 1 FROM {q(lay.phys)} WHERE {where}{cls} LIMIT 1",
                                 key).fetchone() is not None

    def _first_class_clash(self, lay: ClassLayout, tuples: list[list], idx: dict[str, int]) -> str:
        for t in tuples:
            key = tuple(t[idx[k]] for k in lay.key)
            if self._exists(lay, key) and not self._exists(lay, key, exact_class=True):
                return ",".join(v or "" for v in key)
        return ""

    def delete(self, schema: str, table: str, keys: Iterable[Mapping[str, object]], *,
               strict: bool = False) -> int:
        """Delete rows by primary key (CSV column names); missing keys are ignored unless strict."""
        with self.transaction():
            lay = self.layout(schema, table)
            if not lay.key:
                return 0
            params = []
            for k in keys:
                params.append([canon(lay.base.get(c, "string"), k.get(c)) for c in lay.key])
            where = " AND ".join(f"{q(k)}=?" for k in lay.key)
            before = self.conn.total_changes
            self.conn.executemany(f"DELETE FROM {q(lay.phys)} WHERE {where} AND "
                                  f"{lay.class_filter(q(lay.phys))}", params)
            n = self.conn.total_changes - before
            if strict and n < len(params):
                raise SandboxError(f"Delete failed: attempted to delete {len(params)} rows but only "
                                   f"deleted {n} rows. Some specified rows do not exist in table "
                                   f"{table}. Transaction rolled back.")
            if n:
                self._dirty_in.add((schema, lay.root))
                gone = self._deleted.setdefault((schema, lay.root), [])
                if gone is not None:
                    gone.extend(params)
            return n

    def truncate(self, schema: str, table: str) -> int:
        with self.transaction():
            lay = self.layout(schema, table)
            before = self.conn.total_changes
            self.conn.execute(f"DELETE FROM {q(lay.phys)} WHERE mg_tableclass = ?", (lay.tableclass,))
            n = self.conn.total_changes - before
            if n:
                self._dirty_in.add((schema, lay.root))
                self._deleted[(schema, lay.root)] = None
            return n

    # ------------------------------------------------------------------ reference checks
    def _ref_parts_sql(self, model: SchemaModel, root: str, ref, alias: str) -> tuple[str, list[str], list[str], list[Part]]:
        """FROM fragments, conditions and value expressions for the parts of a reference."""
        owner = model.csv_column_owner(root)
        froms: list[str] = []
        conds: list[str] = []
        exprs: list[str] = []
        first_arr = None
        for i, p in enumerate(ref.parts):
            col = owner.get(p.name)
            is_arr = (ref.column.is_ref_array if not p.shared else bool(col and col.is_array))
            if is_arr:
                a = f"{alias}_j{i}"
                froms.append(f"json_each({alias}.{q(p.name)}) {a}")
                if first_arr is None:
                    first_arr = a
                else:
                    conds.append(f"{a}.key = {first_arr}.key")
                exprs.append(f"{a}.value")
            else:
                conds.append(f"{alias}.{q(p.name)} IS NOT NULL")
                exprs.append(f"{alias}.{q(p.name)}")
        return ", ".join(froms), conds, exprs, list(ref.parts)

    def target_layout(self, schema: str, ref) -> ClassLayout:
        return self.layout(ref.target_schema or schema, ref.target_table)

    def ref_match_sql(self, schema: str, src_alias: str, ref, tgt_alias: str,
                      exprs: list[str]) -> str:
        tl = self.target_layout(schema, ref)
        cond = [f"{tgt_alias}.{q(p.target)} = {e}" for p, e in zip(ref.parts, exprs)]
        if set(tl.classes) != self._all_classes(tl):
            cond.append(tl.class_filter(tgt_alias))
        return " AND ".join(cond)

    def _all_classes(self, lay: ClassLayout) -> set[str]:
        model = self.model(lay.schema)
        return {f"{lay.schema}.{lay.root}"} | {f"{lay.schema}.{s.name}" for s in model.subclasses(lay.root)}

    def _owned_refs(self, schema: str, model: SchemaModel, root: str):
        names = [root] + [s.name for s in model.subclasses(root)]
        for name in names:
            for ref in model.references(name):
                if ref.column.table == name:
                    yield name, ref

    def _find_dangling(self, schema: str, root: str, ref, restrict: str,
                       gone: list[list] | None = None) -> tuple | None:
        """The first reference value of `root`'s rows (those `restrict` admits) that names no row.

        With `gone` (the stored keys of the target rows deleted in this transaction), only the
        rows whose reference names one of those keys are looked at, through the reference
        column's index: a row that names a key no delete touched cannot have lost its target.
        """
        model = self.model(schema)
        froms, conds, exprs, parts = self._ref_parts_sql(model, root, ref, "s")
        tl = self.target_layout(schema, ref)
        match = self.ref_match_sql(schema, "s", ref, "t", exprs)
        params: list[str] = []
        if gone is not None:
            narrowed = False
            for p, e in zip(parts, exprs):
                if p.target not in tl.key or tl.base.get(p.target, "string") != "string":
                    continue
                i = tl.key.index(p.target)
                values = sorted({k[i] for k in gone if k[i] is not None})
                conds.append(f"{e} IN (SELECT value FROM json_each(?))")
                params.append(json.dumps(values))
                narrowed = True
            if not narrowed:
                params = []
        sql = (f"SELECT {', '.join(exprs)} FROM {q(self.phys(schema, root))} s"
               f"{', ' + froms if froms else ''} WHERE {' AND '.join(conds + [restrict]) or '1'} "
               f"AND NOT EXISTS (SELECT 1 FROM {q(tl.phys)} t WHERE {match}) LIMIT 1")
        return self.conn.execute(sql, params).fetchone()

    def _check_references(self) -> None:
        if not self._dirty_in and not self._dirty_out:
            return
        states = self._states()
        try:
            for tschema, troot in sorted(self._dirty_in):
                for sschema, st in states.items():
                    for t in st.model.tables.values():
                        if t.extends:
                            continue
                        for owner_table, ref in self._owned_refs(sschema, st.model, t.name):
                            tgt_schema = ref.target_schema or sschema
                            if tgt_schema != tschema or tgt_schema not in states:
                                continue
                            if states[tgt_schema].model.root(ref.target_table).name != troot:
                                continue
                            bad = self._find_dangling(sschema, t.name, ref,
                                                      f"(s._tx IS NULL OR s._tx != {self.txid})",
                                                      self._deleted.get((tschema, troot)))
                            if bad:
                                raise SandboxError("Transaction failed: " + self._still_referenced(
                                    owner_table, ref, bad))
            for schema, root in sorted(self._dirty_out):
                if schema not in states:
                    continue
                model = states[schema].model
                if root not in model.tables:
                    continue
                for owner_table, ref in self._owned_refs(schema, model, root):
                    bad = self._find_dangling(schema, root, ref, f"s._tx = {self.txid}")
                    if bad:
                        raise SandboxError("Transaction failed: " + self._not_present(owner_table, ref, bad))
        except Emx2Error as exc:
            raise SandboxError(str(exc)) from None

    @staticmethod
    def _not_present(table: str, ref, values: tuple) -> str:
        names = ",".join(p.name for p in ref.parts)
        vals = ",".join(str(v) for v in values)
        if ref.column.is_ref_array:
            targets = ",".join(f'"{p.target}"' for p in ref.parts)
            return (f"insert or update on table \"{table}\" violates foreign key (ref_array) "
                    f"constraint. Details: Key (\"{ref.column.name}\")=({vals}) is not present in "
                    f"table \"{ref.target_table}\", column(s)({targets})")
        return (f"insert or update on table \"{table}\" violates foreign key constraint "
                f"\"{table}.{ref.column.name} REFERENCES {ref.target_table}\". Details: Key "
                f"({names})=({vals}) is not present in table \"{ref.target_table}\".")

    @staticmethod
    def _still_referenced(table: str, ref, values: tuple) -> str:
        targets = ",".join(p.target for p in ref.parts)
        vals = ",".join(str(v) for v in values)
        if ref.column.is_ref_array:
            return (f"delete on table \"{ref.target_table}\" violates foreign key constraint. "
                    f"Details: Key (\"{targets}\")=({vals}) is still referenced from table "
                    f"\"{table}\", column(s)(\"{ref.column.name}\")")
        return (f"update or delete on table \"{ref.target_table}\" violates foreign key constraint "
                f"\"{table}.{ref.column.name} REFERENCES {ref.target_table}\" on table \"{table}\". "
                f"Details: Key ({targets})=({vals}) is still referenced from table \"{table}\".")

    # ------------------------------------------------------------------ reads
    def select(self, schema: str, table: str, *, where: str = "", params: Iterable = (),
               order: str = "", limit: int | None = None, offset: int | None = None,
               exact: bool = False) -> list[dict]:
        names, rows = self.select_rows(schema, table, where=where, params=params, order=order,
                                       limit=limit, offset=offset, exact=exact)
        return [dict(zip(names, r)) for r in rows]

    def select_rows(self, schema: str, table: str, *, where: str = "", params: Iterable = (),
                    order: str = "", limit: int | None = None, offset: int | None = None,
                    exact: bool = False) -> tuple[list[str], list[tuple]]:
        """As `select`: the storage column names and the rows as tuples (no dict per row)."""
        with self.lock:
            lay = self.layout(schema, table)
            sql = f"SELECT * FROM {q(lay.phys)} s WHERE {lay.class_filter('s', exact)}"
            if where:
                sql += f" AND ({where})"
            sql += f" ORDER BY {order or 's.rowid'}"
            if limit is not None or offset:
                sql += f" LIMIT {int(limit) if limit is not None else -1} OFFSET {int(offset or 0)}"
            cur = self.conn.execute(sql, list(params))
            return [d[0] for d in cur.description], cur.fetchall()

    def count(self, schema: str, table: str, *, where: str = "", params: Iterable = ()) -> int:
        with self.lock:
            lay = self.layout(schema, table)
            sql = f"SELECT count(*) FROM {q(lay.phys)} s WHERE {lay.class_filter('s')}"
            if where:
                sql += f" AND ({where})"
            return self.conn.execute(sql, list(params)).fetchone()[0]

    def get_by_key(self, schema: str, table: str, key: Mapping[str, object]) -> dict | None:
        lay = self.layout(schema, table)
        if not lay.key:
            return None
        where = " AND ".join(f"s.{q(k)} = ?" for k in lay.key)
        rows = self.select(schema, table, where=where, params=[key.get(k) for k in lay.key], limit=1)
        return rows[0] if rows else None

    def refback_keys(self, schema: str, table: str, col: Column, row: Mapping) -> list[dict]:
        """Rows of col.ref_table whose col.ref_back points at `row` (as storage rows)."""
        model = self.model(schema)
        tschema = col.ref_schema or schema
        tmodel = self.model(tschema)
        back = next((c for c in tmodel.columns(col.ref_table) if c.name == col.ref_back), None)
        if back is None or not back.is_reference:
            return []
        ref = next((r for r in tmodel.references(col.ref_table) if r.column.name == back.name), None)
        if ref is None:
            return []
        troot = tmodel.root(col.ref_table).name
        froms, conds, exprs, parts = self._ref_parts_sql(tmodel, troot, ref, "s")
        lay = self.layout(schema, table)
        me = [f"{e} = ?" for p, e in zip(parts, exprs)]
        params = [row.get(p.target) for p in parts]
        del model
        rl = self.layout(tschema, col.ref_table)
        sql = (f"SELECT DISTINCT s.* FROM {q(rl.phys)} s{', ' + froms if froms else ''} WHERE "
               f"{' AND '.join(conds + me + [rl.class_filter('s')])}")
        del lay
        with self.lock:
            cur = self.conn.execute(sql, params)
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r)) for r in cur.fetchall()]
