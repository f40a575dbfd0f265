"""EMX2 filters (the GraphQL `filter:` JSON, also CSV `?filter=`) and GraphQL inputs, as SQL."""

from __future__ import annotations

import itertools
from collections.abc import Mapping

from emx2tui.emx2.model import Column
from emx2tui.sandbox.errors import SandboxError
from emx2tui.sandbox.store import NUMERIC_TYPES, Store, canon, q

_alias_counter = itertools.count()


def _alias() -> str:
    return f"a{next(_alias_counter) % 1_000_000}"


# ----------------------------------------------------------------------------- inputs
def flatten_key(store: Store, schema: str, table: str, obj: Mapping | None) -> dict[str, object]:
    """A (nested) primary-key input object as values of the table's key CSV columns."""
    obj = obj or {}
    model = store.model(schema)
    out: dict[str, object] = {}
    for kc in model.primary_key(table):
        v = obj.get(kc.id, obj.get(kc.name))
        if kc.is_reference and not kc.is_ref_array:
            sub = flatten_key(store, kc.ref_schema or schema, kc.ref_table, v if isinstance(v, Mapping) else {})
            for p in model.column_parts(kc.table, kc):
                if p.shared and out.get(p.name) is not None:
                    continue
                out[p.name] = sub.get(p.target)
        else:
            out[kc.name] = v
    return out


def input_to_row(store: Store, schema: str, table: str, obj: Mapping) -> dict[str, object]:
    """A GraphQL row input (column ids, nested refs) as a row keyed by CSV column name."""
    model = store.model(schema)
    row: dict[str, object] = {}
    shared_fill: dict[str, object] = {}
    for c in model.hierarchy_columns(table):
        if c.is_layout or c.is_refback or c.id not in obj:
            continue
        v = obj[c.id]
        if c.is_reference:
            parts = model.column_parts(c.table, c)
            tschema = c.ref_schema or schema
            if c.is_ref_array:
                items = [flatten_key(store, tschema, c.ref_table, x) for x in (v or [])]
                for p in parts:
                    if p.shared:
                        if items:
                            shared_fill.setdefault(p.name, items[0].get(p.target))
                        continue
                    row[p.name] = [it.get(p.target) for it in items]
            else:
                flat = flatten_key(store, tschema, c.ref_table, v) if v else {}
                for p in parts:
                    if p.shared:
                        shared_fill.setdefault(p.name, flat.get(p.target))
                    else:
                        row[p.name] = flat.get(p.target)
        elif c.is_file:
            row[c.name] = v.get("id") if isinstance(v, Mapping) else v
        else:
            row[c.name] = v
    for k, v in shared_fill.items():
        if row.get(k) is None:
            row[k] = v
    if "mg_draft" in obj:
        row["mg_draft"] = obj["mg_draft"]
    return row


# ----------------------------------------------------------------------------- filters
def _scalar_expr(col_sql: str, base: str) -> str:
    if base in NUMERIC_TYPES:
        return f"CAST({col_sql} AS REAL)"
    return col_sql


def _val(base: str, v: object) -> object:
    if base in NUMERIC_TYPES and v is not None:
        try:
            return float(v)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise SandboxError(f"Cannot cast value '{v}' to number") from None
    return canon(base, v)


def _as_list(v: object) -> list:
    if v is None:
        return []
    return list(v) if isinstance(v, (list, tuple)) else [v]


def _scalar_clause(col: Column, col_sql: str, op: str, value: object, params: list) -> str:
    base = col.base_type()
    is_arr = col.is_array
    x = _scalar_expr("je.value" if is_arr else col_sql, base)

    def wrap(cond: str) -> str:
        if not is_arr:
            return cond
        return f"EXISTS (SELECT 1 FROM json_each({col_sql}) je WHERE {cond})"

    if op == "is_null":
        return f"{col_sql} IS NULL" if value else f"{col_sql} IS NOT NULL"
    vals = _as_list(value)
    if op in ("equals", "match_any"):
        if not vals:
            return "1"
        params.extend(_val(base, v) for v in vals)
        return wrap(f"{x} IN ({','.join('?' for _ in vals)})")
    if op == "not_equals":
        if not vals:
            return "1"
        params.extend(_val(base, v) for v in vals)
        return f"NOT ({wrap(f'{x} IN ({chr(44).join(chr(63) for _ in vals)})')})" if is_arr else \
            f"({col_sql} IS NULL OR {x} NOT IN ({','.join('?' for _ in vals)}))"
    if op in ("like", "text_search", "trigram_search", "not_like"):
        if not vals:
            return "1"
        conds = []
        for v in vals:
            params.append(f"%{v}%")
            conds.append(f"{x} LIKE ?")
        cond = wrap("(" + " OR ".join(conds) + ")")
        return f"NOT ({cond})" if op == "not_like" else cond
    if op in ("between", "not_between"):
        conds = []
        for i in range(0, len(vals), 2):
            lo = vals[i]
            hi = vals[i + 1] if i + 1 < len(vals) else None
            parts = []
            if lo is not None:
                params.append(_val(base, lo))
                parts.append(f"{x} >= ?")
            if hi is not None:
                params.append(_val(base, hi))
                parts.append(f"{x} <= ?")
            conds.append("(" + (" AND ".join(parts) or "1") + ")")
        cond = wrap("(" + (" OR ".join(conds) or "1") + ")")
        return f"NOT ({cond})" if op == "not_between" else cond
    if op == "match_all":
        out = []
        for v in vals:
            params.append(_val(base, v))
            out.append(f"EXISTS (SELECT 1 FROM json_each({col_sql}) je WHERE {x} = ?)")
        return "(" + (" AND ".join(out) or "1") + ")"
    raise SandboxError(f"Operator {op} not supported for column {col.name}")


def where_sql(store: Store, schema: str, table: str, f: Mapping | None, alias: str,
              params: list) -> str:
    """SQL condition for an EMX2 filter on `table`, whose physical row has alias `alias`."""
    if not f:
        return "1"
    model = store.model(schema)
    by_id = {c.id: c for c in model.hierarchy_columns(table) if not c.is_layout}
    lay = store.layout(schema, table)
    clauses: list[str] = []
    for k, v in f.items():
        if v is None:
            continue
        if k in ("_or", "_and"):
            subs = [where_sql(store, schema, table, s, alias, params) for s in _as_list(v)]
            joiner = " OR " if k == "_or" else " AND "
            clauses.append("(" + (joiner.join(subs) or "1") + ")")
        elif k == "_search":
            conds = []
            for c in lay.cols:
                params.append(f"%{v}%")
                conds.append(f"{alias}.{q(c)} LIKE ?")
            clauses.append("(" + (" OR ".join(conds) or "0") + ")")
        elif k in ("equals", "not_equals"):
            keys = [flatten_key(store, schema, table, item) for item in _as_list(v)]
            ors = []
            for key in keys:
                ands = []
                for kc in lay.key:
                    params.append(canon(lay.base.get(kc, "string"), key.get(kc)))
                    ands.append(f"{alias}.{q(kc)} = ?")
                ors.append("(" + (" AND ".join(ands) or "1") + ")")
            cond = "(" + (" OR ".join(ors) or "0") + ")"
            clauses.append(cond if k == "equals" else f"NOT {cond}")
        elif k in ("_is_null", "_match_any", "_match_all", "_match_any_including_children",
                   "_match_any_including_parents", "_match_path", "_search_including_parents"):
            continue  # handled by the referring column
        elif k in by_id:
            clauses.append(_column_clause(store, schema, table, by_id[k], v, alias, params))
        else:
            raise SandboxError(f"Graphql API error: Column {k} unknown in table {table}")
    return "(" + (" AND ".join(clauses) or "1") + ")"


def _column_clause(store: Store, schema: str, table: str, col: Column, ops: object, alias: str,
                   params: list) -> str:
    model = store.model(schema)
    if not isinstance(ops, Mapping):
        raise SandboxError(f"Filter of column {col.name} must be an object")
    if col.is_reference:
        ref = next(r for r in model.references(col.table) if r.column.name == col.name)
        root = model.root(table).name
        froms, conds, exprs, _ = store._ref_parts_sql(model, root, ref, alias)
        if "_is_null" in ops and ops["_is_null"] is not None:
            present = " AND ".join(
                f"{alias}.{q(p.name)} IS NOT NULL" for p in ref.parts if not p.shared) or "0"
            return f"NOT ({present})" if ops["_is_null"] else f"({present})"
        t = _alias()
        tschema = ref.target_schema or schema
        tl = store.layout(tschema, ref.target_table)
        match = store.ref_match_sql(schema, alias, ref, t, exprs)
        nested_params: list = []
        nested = where_sql(store, tschema, ref.target_table, ops, t, nested_params)
        params.extend(nested_params)
        if not froms:
            # a reference of plain columns: the matching targets once, then the referring rows
            # by value (the index on the column, or on the composite reference's columns, serves
            # it) instead of a lookup per referring row
            inner = [tl.class_filter(t)] if set(tl.classes) != store._all_classes(tl) else []
            values = ", ".join(f"{t}.{q(p.target)}" for p in ref.parts)
            return (f"({' AND '.join(conds)} AND ({', '.join(exprs)}) IN (SELECT {values} "
                    f"FROM {q(tl.phys)} {t} WHERE {' AND '.join(inner + [nested])}))")
        return (f"EXISTS (SELECT 1 FROM {froms + ', ' if froms else ''}{q(tl.phys)} {t} WHERE "
                f"{' AND '.join(conds + [match, nested])})")
    if col.is_refback:
        tschema = col.ref_schema or schema
        tmodel = store.model(tschema)
        back = next((r for r in tmodel.references(col.ref_table) if r.column.name == col.ref_back), None)
        if back is None:
            return "1"
        y = _alias()
        tl = store.layout(tschema, col.ref_table)
        froms, conds, exprs, parts = store._ref_parts_sql(tmodel, tl.root, back, y)
        link = [f"{e} = {alias}.{q(p.target)}" for p, e in zip(parts, exprs)]
        if "_is_null" in ops and ops["_is_null"] is not None:
            ex = (f"EXISTS (SELECT 1 FROM {q(tl.phys)} {y}{', ' + froms if froms else ''} WHERE "
                  f"{' AND '.join(conds + link)})")
            return f"NOT {ex}" if ops["_is_null"] else ex
        nested_params: list = []
        nested = where_sql(store, tschema, col.ref_table, ops, y, nested_params)
        params.extend(nested_params)
        return (f"EXISTS (SELECT 1 FROM {q(tl.phys)} {y}{', ' + froms if froms else ''} WHERE "
                f"{' AND '.join(conds + link + [tl.class_filter(y), nested])})")
    real = {k: v for k, v in ops.items() if v is not None}
    if len(real) > 1:
        raise SandboxError(f"Can only have one operator, found multiple for {col.name}")
    if not real:
        return "1"
    (op, value), = real.items()
    return _scalar_clause(col, f"{alias}.{q(col.name)}", op, value, params)


def order_sql(store: Store, schema: str, table: str, orderby: object, alias: str = "s") -> str:
    model = store.model(schema)
    by_id = {c.id: c for c in model.hierarchy_columns(table)}
    out = []
    for item in _as_list(orderby):
        for k, direction in (item or {}).items():
            c = by_id.get(k)
            if c is None or c.is_refback or c.is_layout:
                continue
            d = "DESC" if str(direction).upper() == "DESC" else "ASC"
            if c.is_reference:
                for p in model.column_parts(c.table, c):
                    out.append(f"{alias}.{q(p.name)} {d}")
                continue
            base = c.base_type()
            if base in NUMERIC_TYPES:
                out.append(f"CAST({alias}.{q(c.name)} AS REAL) {d}")
            elif base in ("string", "text", "email", "hyperlink"):
                out.append(f"{alias}.{q(c.name)} COLLATE mg_numeric {d}")
            else:
                out.append(f"{alias}.{q(c.name)} {d}")
    return ", ".join(out)
