"""Row transforms on frames: filters (server JSON and local), class selection, projection.

Pure functions: frames in, frames out. Every cell is a `str`; `""` is empty.
"""

from __future__ import annotations

from emx2tui.emx2 import csvfmt
from emx2tui.emx2.errors import ModelError
from emx2tui.emx2.frames import Frame, empty_frame
from emx2tui.jobs.plan import row_keys
from emx2tui.emx2.model import SchemaModel
from emx2tui.jobs.strategy import GdprSpec, TableSpec

Key = tuple[str, ...]


def filter_csv_column(model: SchemaModel, table: str, column: str) -> str:
    """The CSV column that holds the value a filter column is compared with."""
    col = model.column(table, column)
    if not col.is_reference:
        return col.name
    parts = model.column_parts(col.table, col)
    if len(parts) != 1:
        raise ModelError(f"Filter column '{table}.{column}' of schema '{model.name}' is a reference "
                         f"with a composite key ({', '.join(p.name for p in parts)}); a job can only "
                         f"filter on a single-key reference", schema=model.name, table=table)
    return parts[0].name


def server_filter(model: SchemaModel, table: str, column: str | None, value: str | None) -> dict | None:
    """The GraphQL/CSV filter JSON for `column = value`, with column ids and nested ref filters.

    `{"id": {"equals": "X"}}` for a plain column, `{"resource": {"id": {"equals": "X"}}}` for a
    reference to a table keyed on `id`.
    """
    if not column or value is None:
        return None
    col = model.column(table, column)
    if not col.is_reference:
        return {col.id: {"equals": value}}
    target = model._target_model(col)
    key = target.primary_key(col.ref_table) if col.ref_table in target.tables else []
    if len(key) != 1 or key[0].is_reference:
        parts = model.column_parts(col.table, col)
        if len(parts) == 1:
            return {col.id: {"equals": [{parts[0].target: value}]}}
        raise ModelError(f"Cannot filter '{table}.{column}' of schema '{model.name}' on one value",
                         schema=model.name, table=table)
    return {col.id: {key[0].id: {"equals": value}}}


def table_classes(df: Frame, table: str) -> list[str]:
    """The class of each row, as a bare table name (`mg_tableclass` may be schema-qualified);
    `table` itself when the frame has no classes."""
    if "mg_tableclass" not in df.columns:
        return [table] * len(df)
    return [v.rsplit(".", 1)[-1] if v else table for v in df["mg_tableclass"]]


def own_class_rows(df: Frame, table: str) -> Frame:
    """Rows whose `mg_tableclass` is the table itself (a parent table also lists its subclasses)."""
    if "mg_tableclass" not in df.columns or not len(df):
        return df
    return df.where(c == table for c in table_classes(df, table))


def local_filter(df: Frame, model: SchemaModel, spec: TableSpec, value: str | None) -> Frame:
    """The rows of a downloaded frame that the table spec selects (same rule as the server filter)."""
    out = df
    if spec.own_class_only:
        out = own_class_rows(out, spec.table)
    if spec.filter and value is not None and len(out):
        col = filter_csv_column(model, spec.table, spec.filter)
        if col not in out.columns:
            raise ModelError(f"Table '{spec.table}' of schema '{model.name}' has no column '{col}' "
                             f"to filter on", schema=model.name, table=spec.table)
        out = out.where(v == value for v in out[col])
    return out


def upload_columns(model: SchemaModel, table: str, *, files: bool = False) -> list[str]:
    """The CSV columns of a table that carry data on upload (no refbacks or computed values).

    File columns (`<col>`, `<col>_filename`) only with `files`: a plain CSV cannot carry them.
    """
    owner = model.csv_column_owner(table)
    cols = []
    for c in model.csv_columns(table):
        o = owner.get(c)
        if o is not None and ((o.is_file and not files) or o.computed):
            continue
        cols.append(c)
    for k in model.key_columns(table):
        if k not in cols:
            cols.insert(0, k)
    return cols


def project(df: Frame, target_columns: list[str]) -> tuple[Frame, list[str], list[str]]:
    """Rows reduced to the target columns the source has, in target order.

    Returns (frame, source columns dropped, target columns the source does not have).
    """
    keep = [c for c in target_columns if c in df.columns]
    dropped = [c for c in df.columns if c not in target_columns and not c.startswith("mg_")]
    missing = [c for c in target_columns if c not in df.columns]
    if not len(df):
        return empty_frame(keep), dropped, missing
    return df.select(keep), dropped, missing


def blank_outside(df: Frame, model: SchemaModel, table: str, column: str, filter_column: str,
                  value: str) -> tuple[Frame, int]:
    """Empty a reference wherever it points at another resource than `value`.

    The part of the reference that names the resource is the one whose target is the filter
    column (e.g. `useExternalDefinition.resource`). Returns the frame and the number of rows changed.
    """
    col = model.column(table, column)
    parts = model.column_parts(col.table, col)
    own = [p.name for p in parts if not p.shared and p.name in df.columns]
    res = next((p.name for p in parts if p.target == filter_column), None)
    if not own or not len(df):
        return df, 0
    if res is None or res not in df.columns:
        # the resource part is shared with the row's own resource: the reference stays inside
        return df, 0
    mask = [v != "" and v != value for v in df[res]]
    changed = sum(mask)
    if changed:
        df = df.blank(mask, own)
    return df, changed


# ----------------------------------------------------------------------------- GDPR
def consent_given(value: str | None) -> bool:
    """True only for an explicit true (`true`, `TRUE`, `yes`, `1`); empty or unreadable is no."""
    try:
        return csvfmt.parse_bool(value) is True
    except ValueError:
        return False


def gdpr_filter(df: Frame, model: SchemaModel, spec: GdprSpec) -> tuple[Frame, list[Key], int]:
    """Rows with consent for personal data, the keys of the rows left out, and emails emptied.

    A frame without the consent column has no consent at all: every row is left out.
    """
    if not len(df):
        return df, [], 0
    keys = model.key_columns(spec.table)
    if spec.consent_column in df.columns:
        mask = [consent_given(v) for v in df[spec.consent_column]]
    else:
        mask = [False] * len(df)
    dropped = row_keys(df.where(not m for m in mask), keys)
    out = df.where(mask)
    blanked = 0
    if spec.email == "blank" and spec.email_column in out.columns:
        blanked = sum(1 for v in out[spec.email_column] if v.strip())
        out = out.assign(spec.email_column, "")
    return out, dropped, blanked


def blank_references_to(df: Frame, model: SchemaModel, table: str, target_table: str,
                        gone: set[Key]) -> tuple[Frame, dict[str, int]]:
    """Empty every reference of `table` that names a row of `target_table` in `gone`.

    A single reference is emptied (its own CSV parts); from an array reference with one own part
    the items naming a gone row are removed. Returns the frame and, per column, the rows changed.
    """
    changed: dict[str, int] = {}
    if not len(df) or not gone:
        return df, changed
    family = {target_table} | {t.name for t in model.subclasses(target_table)} \
        if target_table in model.tables else {target_table}
    out = df
    for ref in model.references(table):
        if ref.target_schema != model.name or ref.target_table not in family:
            continue
        own = [p for p in ref.parts if not p.shared]
        if not own or not all(p.name in out.columns for p in own):
            continue
        tkey = model.key_columns(ref.target_table)
        hits = 0
        rows = out.records()
        for row in rows:
            values = {p.target: (row.get(p.name) or "").strip() for p in ref.parts}
            if ref.is_array:
                if len(own) != 1:
                    continue
                items = csvfmt.split_array(row.get(own[0].name, ""))
                kept = [it for it in items
                        if tuple({**values, own[0].target: it}.get(k, "") for k in tkey) not in gone]
                if len(kept) != len(items):
                    row[own[0].name] = csvfmt.join_array(kept)
                    hits += 1
            elif tuple(values.get(k, "") for k in tkey) in gone:
                for p in own:
                    row[p.name] = ""
                hits += 1
        if hits:
            out = Frame(out.columns, [tuple(r[c] for c in out.columns) for r in rows])
            changed[ref.column.name] = hits
    return out, changed


# ----------------------------------------------------------------------------- kept columns
def keep_target_values(df: Frame, target: Frame, key_columns: list[str],
                       columns: list[str]) -> tuple[Frame, dict[str, int]]:
    """Add `columns` to the rows, holding the target's value for rows it has (empty for new rows).

    Returns the frame and, per column, how many rows carry a target value that is kept.
    """
    out = df
    counts: dict[str, int] = {}
    if not columns:
        return out, counts
    has_target = bool(len(target)) and all(k in target.columns for k in key_columns)
    tkeys = row_keys(target, key_columns) if has_target else []
    keys = row_keys(out, key_columns) if len(out) else []
    for c in columns:
        held = dict(zip(tkeys, target[c])) if has_target and c in target.columns else {}
        values = [held.get(k, "") or "" for k in keys]
        out = out.assign(c, values)
        n = sum(1 for v in values if v.strip())
        if n:
            counts[c] = n
    return out, counts
