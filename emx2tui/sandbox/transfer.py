"""CSV and ZIP import and export on top of the store, with EMX2's rules and messages."""

from __future__ import annotations

import io
import json
import posixpath
import time
import zipfile
from collections.abc import Iterable, Mapping

from emx2tui.emx2 import csvfmt
from emx2tui.emx2.errors import CsvFormatError
from emx2tui.emx2.names import loose
from emx2tui.sandbox.errors import SandboxError
from emx2tui.sandbox.store import SYSTEM_COLUMNS, Store, q
from emx2tui.sandbox.tasks import Task

BATCH = 100


def parse_csv(data: str | bytes, what: str = "CSV") -> tuple[list[str], list[dict[str, str]]]:
    try:
        return csvfmt.read_csv(data, what=what)
    except CsvFormatError as exc:
        raise SandboxError(str(exc)) from None


def _is_delete(row: Mapping[str, str]) -> bool:
    value = row.get("mg_delete")
    if not value:
        return False
    try:
        return bool(csvfmt.parse_bool(value))
    except ValueError as exc:
        raise SandboxError(str(exc)) from None


def prescan(store: Store, schema: str, table: str, header: list[str],
            rows: list[dict[str, str]]) -> None:
    """EMX2's primary-key pre-scan: key columns present in the header, no duplicate keys."""
    lay = store.layout(schema, table)
    auto = set(lay.auto_ids)
    for k in lay.key:
        if k not in header and k not in auto:
            row = rows[0] if rows else {}
            raise SandboxError(f"Missing keys found in table '{table}': missing value for key "
                               f"column '{k}'. Row: {row}")
    if not lay.key:
        return
    seen: set[tuple] = set()
    dups: list[str] = []
    for r in rows:
        key = tuple((r.get(k) or "").strip() for k in lay.key)
        if all(v == "" for v in key):
            continue
        if key in seen:
            text = ",".join(key)
            if text not in dups:
                dups.append(text)
        seen.add(key)
    if dups:
        raise SandboxError(f"Duplicate keys found in table {table}: [{', '.join(dups)}]")


def _row_for_store(lay, row: Mapping[str, str]) -> dict[str, object]:
    out: dict[str, object] = {}
    for c in lay.cols:
        v = row.get(c)
        if v is None:
            continue
        out[c] = csvfmt.split_array(v) if c in lay.array_cols else v
    if "mg_draft" in row:
        out["mg_draft"] = row["mg_draft"]
    return out


def import_table_rows(store: Store, schema: str, table: str, header: list[str],
                      rows: list[dict[str, str]], *, batched: bool,
                      user: str = "admin") -> tuple[int, int]:
    """Pre-scan, upsert (whole rows), then delete the `mg_delete` rows. Returns (upserted, deleted).

    With `batched`, every 100 rows commit on their own (the CSV table API); otherwise the
    caller's transaction holds everything (ZIP import).
    """
    prescan(store, schema, table, header, rows)
    lay = store.layout(schema, table)
    upserts = []
    deletes = []
    for r in rows:
        (deletes if _is_delete(r) else upserts).append(r)
    n = 0
    if batched:
        for i in range(0, len(upserts), BATCH):
            chunk = [_row_for_store(lay, r) for r in upserts[i:i + BATCH]]
            try:
                with store.transaction(user=user):
                    n += store.upsert(schema, table, chunk)
            except SandboxError as exc:
                raise SandboxError(f"Upsert into table '{table}' failed: {_tx(exc.message)}") from None
    else:
        n = store.upsert(schema, table, [_row_for_store(lay, r) for r in upserts])
    d = 0
    if deletes:
        keys = [{k: r.get(k) for k in lay.key} for r in deletes]
        if batched:
            try:
                with store.transaction(user=user):
                    d = store.delete(schema, table, keys)
            except SandboxError as exc:
                raise SandboxError(f"Delete into table {table} failed: {_tx(exc.message)}") from None
        else:
            d = store.delete(schema, table, keys)
    return n, d


def _tx(message: str) -> str:
    return message if message.startswith("Transaction failed") else "Transaction failed: " + message


# ----------------------------------------------------------------------------- export
def csv_header(store: Store, schema: str, table: str, *, system: bool = False) -> list[str]:
    model = store.model(schema)
    cols = model.csv_columns(table, include_refbacks=True)
    if system:
        cols += [*SYSTEM_COLUMNS, "mg_tableclass"]
    else:
        cols.append("mg_draft")
    return cols


REFBACK_IN_LIMIT = 5000


def refback_values(store: Store, schema: str, table: str, colname: str,
                   first_keys: Iterable | None = None) -> dict[tuple, list[str]]:
    """For a refback column: key of each row of `table` -> keys of the rows referring to it.

    With `first_keys` (the first key column's values of the rows to show), only the referring
    rows that may point at one of them are read, so a filtered download costs what it returns,
    not what the table holds.
    """
    model = store.model(schema)
    col = next(c for c in model.columns(table) if c.name == colname)
    tschema = col.ref_schema or schema
    tmodel = store.model(tschema)
    if col.ref_table not in tmodel.tables:
        return {}
    ref = next((r for r in tmodel.references(col.ref_table) if r.column.name == col.ref_back), None)
    if ref is None:
        return {}
    tlay = store.layout(tschema, col.ref_table)
    froms, conds, exprs, parts = store._ref_parts_sql(tmodel, tlay.root, ref, "s")
    own_parts = {p.name for p in parts}
    shown = [k for k in tlay.key if k not in own_parts] or tlay.key
    if not shown:
        return {}
    lay = store.layout(schema, table)
    target_order = [p.target for p in parts]
    where = conds + [tlay.class_filter('s')]
    params: list = []
    if first_keys is not None and lay.key and lay.key[0] in target_order:
        first = sorted({v for v in first_keys if v is not None})
        if not first:
            return {}
        if len(first) <= REFBACK_IN_LIMIT:
            where.append(f"{exprs[target_order.index(lay.key[0])]} IN ({', '.join('?' * len(first))})")
            params = first
    sql = (f"SELECT {', '.join(exprs)}, {', '.join('s.' + q(k) for k in shown)} FROM {q(tlay.phys)} s"
           f"{', ' + froms if froms else ''} WHERE {' AND '.join(where)}")
    at = {k: i for i, k in enumerate(target_order)}  # (the last part naming a key column wins)
    key_at = [at.get(k) for k in lay.key]
    n = len(parts)
    out: dict[tuple, list[str]] = {}
    with store.lock:
        for r in store.conn.execute(sql, params):
            key = tuple([None if i is None else r[i] for i in key_at])
            text = ",".join([str(v) for v in r[n:] if v is not None])
            found = out.get(key)
            if found is None:
                out[key] = [text]
            else:
                found.append(text)
    return out


def rows_to_csv(store: Store, schema: str, table: str, names: list[str], rows: list[tuple], *,
                system: bool = False, sep: str = ",") -> str:
    """The CSV of storage rows (tuples of the storage columns `names`, as `Store.select_rows` gives)."""
    header = csv_header(store, schema, table, system=system)
    lay = store.layout(schema, table)
    model = store.model(schema)
    at = {n: i for i, n in enumerate(names)}

    def cells(column: str) -> list:
        i = at.get(column)
        return [None] * len(rows) if i is None else [r[i] for r in rows]

    backs = [c.name for c in model.columns(table) if c.is_refback and c.name in header]
    refbacks = {name: refback_values(store, schema, table, name, cells(lay.key[0]) if lay.key else None)
                for name in backs}
    join = csvfmt.join_array
    rkeys = list(zip(*(cells(k) for k in lay.key))) if refbacks and lay.key else []
    # column by column: each cell kind handled in one pass, each stored array decoded once
    columns: list[list] = []
    for h in header:
        back = refbacks.get(h)
        if back is not None:
            columns.append([join(v) if (v := back.get(rk)) else None for rk in rkeys]
                           if rkeys else [None] * len(rows))
        elif h in lay.array_cols:
            memo: dict[str, str] = {}
            out: list = []
            for v in cells(h):
                if v is None:
                    out.append(None)
                    continue
                text = memo.get(v)
                if text is None:
                    text = memo[v] = join(json.loads(v))
                out.append(text)
            columns.append(out)
        else:
            columns.append(cells(h))
    return csvfmt.write_rows(header, zip(*columns) if columns else [], sep=sep)


def metadata_csv(store: Store, schema: str) -> str:
    return store.model(schema).to_molgenis_csv()


def export_zip(store: Store, schema: str, *, system: bool = False) -> bytes:
    with store.lock:
        model = store.model(schema)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("molgenis.csv", metadata_csv(store, schema))
            settings = [{"table": "", "key": k, "value": v} for k, v in model.settings.items()]
            if settings:
                zf.writestr("molgenis_settings.csv",
                            csvfmt.write_csv(["table", "key", "value"], settings))
            written: set[str] = set()
            for name in sorted(model.tables):
                if not model.has_columns(name):
                    continue
                names, rows = store.select_rows(schema, name, exact=True, order="s.rowid")
                zf.writestr(f"{name}.csv", rows_to_csv(store, schema, name, names, rows, system=system))
                for c in model.columns(name):
                    if not c.is_file or c.name not in names:
                        continue
                    i = names.index(c.name)
                    for r in rows:
                        fid = r[i]
                        stored = store.get_file(fid) if fid and fid not in written else None
                        if stored is None:
                            continue
                        contents, _fname, ext, _mime = stored
                        zf.writestr(f"_files/{fid}{'.' + ext if ext else ''}", contents or b"")
                        written.add(fid)
        return buf.getvalue()


def attach_files(store: Store, schema: str, table: str, rows: list[dict[str, str]],
                 files: Mapping[str, bytes | str]) -> None:
    """Store the `_files/` attachment of every FILE cell and put its new id in the row.

    EMX2 finds the attachment by the cell value (an entry whose base name starts with
    `<value>.`, in any folder), stores it under a fresh id, and fails the import when it is missing.
    """
    cols = [c for c in store.model(schema).columns(table) if c.is_file]
    if not cols:
        return
    by_stem: dict[str, str] = {}
    for path in files:
        base = posixpath.basename(path.replace("\\", "/"))
        if "." in base:
            by_stem.setdefault(base.rsplit(".", 1)[0], path)
    for r in rows:
        for c in cols:
            value = (r.get(c.name) or "").strip()
            if not value:
                continue
            path = by_stem.get(value)
            if path is None:
                raise SandboxError(f"Import failed: file '{value}' not found in the '_files' "
                                   f"folder of the zip (table {table}, column {c.name})")
            data = files[path]
            name = r.get(c.name + "_filename") or posixpath.basename(path)
            r[c.name] = store.put_file(data if isinstance(data, bytes) else data.encode("utf-8"),
                                       name)
            r.setdefault(c.name + "_filename", name)


# ----------------------------------------------------------------------------- import
def unzip(data: bytes) -> dict[str, bytes]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            return {i.filename: zf.read(i) for i in zf.infolist() if not i.is_dir()}
    except zipfile.BadZipFile as exc:
        raise SandboxError(f"Import failed: {exc}") from None


def _match_files(files: Mapping[str, bytes | str]) -> dict[str, list[str]]:
    """Loose base name (no extension) -> entry paths."""
    out: dict[str, list[str]] = {}
    for path in files:
        base = posixpath.basename(path.replace("\\", "/"))
        if not base or base.startswith("."):
            continue
        stem = base.split(".", 1)[0] if "." in base else base
        out.setdefault(loose(stem), []).append(path)
    return out


def import_files(store: Store, schema: str, files: Mapping[str, bytes | str], *,
                 task: Task | None = None, user: str = "admin") -> None:
    """Import an EMX2 file set (molgenis.csv and table CSVs) into a schema in ONE transaction."""
    matched = _match_files(files)
    with store.transaction(user=user):
        meta = [p for p in matched.get("molgenis", []) if p.lower().endswith((".csv", ".tsv"))]
        if meta:
            sub = task.sub("Import metadata") if task else None
            t0 = time.monotonic()
            _, rows = parse_csv(files[meta[0]], "molgenis.csv")
            store.merge_metadata(schema, rows)
            if sub:
                sub.complete(f"Import metadata in {int((time.monotonic() - t0) * 1000)}ms")
        settings = [p for p in matched.get("molgenis_settings", [])]
        if settings:
            _, rows = parse_csv(files[settings[0]], "molgenis_settings.csv")
            st = store._writable(schema)
            for r in rows:
                k = (r.get("key") or "").strip()
                if k and not k.startswith("mg_") and not (r.get("table") or "").strip():
                    st.model.settings[k] = r.get("value") or ""
            store._save_meta(st)
        model = store.model(schema)
        data_task = task.sub("Import data") if task else None
        t_all = time.monotonic()
        for name in sorted(model.tables):
            entries = matched.get(loose(name), [])
            if not entries:
                continue
            if len(entries) > 1:
                raise SandboxError(f"Import failed, contains multiple files of name {name} in "
                                   "different subfolders")
            path = entries[0]
            if not path.lower().endswith((".csv", ".tsv")):
                raise SandboxError(f"Import failed: Table '{name}' has unsupported extension "
                                   f"{posixpath.splitext(path)[1]}")
            sub = data_task.sub(f"Import table {name}") if data_task else None
            t0 = time.monotonic()
            header, rows = parse_csv(files[path], name)
            if not rows:
                if sub:
                    sub.skip(f"Skipped table {name}: sheet was empty")
                continue
            try:
                attach_files(store, schema, name, rows, files)
                n, d = import_table_rows(store, schema, name, header, rows, batched=False)
            except SandboxError as exc:
                if sub:
                    sub.fail(f"Import table ({name}) failed: {exc.message}")
                raise
            if sub:
                ms = max(1, int((time.monotonic() - t0) * 1000))
                text = f"Modified {n} rows in {name} in {ms}ms ({int((n + d) * 1000 / ms)} items/sec)"
                if d:
                    text = f"Modified {n} rows and deleted {d} rows in {name} in {ms}ms " \
                           f"({int((n + d) * 1000 / ms)} items/sec)"
                sub.complete(text, total=n + d)
        known = {loose(n) for n in model.tables} | {"molgenis", "molgenis_settings",
                                                     "molgenis_members", "molgenis_roles"}
        if data_task:
            for key, paths in matched.items():
                if key not in known:
                    for p in paths:
                        if not p.startswith("_files/"):
                            data_task.sub(f"Skipped sheet with name '{p}': no table with that "
                                          "name found").skip()
            data_task.complete(f"Import from store in {int((time.monotonic() - t_all) * 1000)}ms")
        commit = task.sub("Committing") if task else None
    if commit:
        commit.complete("Committing")
