"""References after the write: what the import would break, found before anything is written.

The state after the import is the target's rows, plus the rows the job upserts, minus the rows it
deletes. Two checks run on it:

* every reference of a row the job writes must name a row that exists then, in the target schema
  or in the schema the reference points into (an ontology term in `CatalogueOntologies`, a
  catalogue table from a staging schema). Keys that are neither written nor deleted by the job
  are looked up on the server with filtered downloads, so only the keys in use are fetched;
* a delete must not leave rows behind that still refer to the deleted row (a cohort's variable
  mapping onto a network variable that is gone from the network's staging area). Such a delete is
  withheld and reported, and so are the deletes the withheld row itself depends on.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import Awaitable, Iterable, Mapping, Sequence
from itertools import compress
from dataclasses import dataclass

from emx2tui.emx2 import csvfmt
from emx2tui.emx2.client import Emx2Client, gather_bounded
from emx2tui.emx2.errors import Emx2Error, ModelError
from emx2tui.emx2.model import Reference, SchemaModel
from emx2tui.emx2.frames import Frame
from emx2tui.emx2.names import table_id
from emx2tui.jobs.plan import UNCHANGED, TablePlan, row_keys

Key = tuple[str, ...]
CHUNK = 200
EXAMPLES = 3


Filter = Mapping | None


def read_key(table: str, flt: Filter) -> tuple[str, str]:
    """A read's cache key: the table and its filter, with a one-item `equals` list as its item."""
    return table, json.dumps(_one_of_one(flt), sort_keys=True)


def _one_of_one(value: object) -> object:
    if isinstance(value, Mapping):
        return {k: (v[0] if k == "equals" and isinstance(v, list) and len(v) == 1 else _one_of_one(v))
                for k, v in value.items()}
    if isinstance(value, list):
        return [_one_of_one(v) for v in value]
    return value


def values_filter(model: SchemaModel, table: str, csv_column: str, values: list[str]) -> dict:
    """The filter JSON that selects rows whose CSV column `csv_column` is one of `values`."""
    owner = model.csv_column_owner(table).get(csv_column)
    if owner is None:
        owner = model.column(table, csv_column)
    if not owner.is_reference:
        return {owner.id: {"equals": values}}
    target = model._target_model(owner)
    if owner.ref_table not in target.tables:
        return {owner.id: {"name": {"equals": values}}}
    part = next(p for p in model.column_parts(owner.table, owner) if p.name == csv_column)
    return {owner.id: values_filter(target, owner.ref_table, part.target, values)}


NARROW = 50  # a key column with at most this many distinct values narrows every chunk's filter


def _narrowing(model: SchemaModel, table: str, columns: Iterable[tuple[str, list[str]]]) -> list[dict]:
    """Filters on the columns with few distinct values, to AND with a chunk's filter."""
    out = []
    for column, values in columns:
        if not values or len(values) > NARROW:
            continue
        try:
            out.append(values_filter(model, table, column, values))
        except (ModelError, StopIteration, Emx2Error):
            continue
    return out


def _and(flt: dict, narrow: list[dict]) -> dict:
    return {"_and": [flt, *narrow]} if narrow else flt


def key_filters(model: SchemaModel, table: str, key_columns: Sequence[str],
                keys: Iterable[Key]) -> list[dict | None]:
    """Filters that together select (at least) the rows with these keys, in chunks; [None] (the
    whole table) when a key column cannot be filtered on.

    The chunks run over the key column with the most distinct values; every other key column
    with few distinct values narrows each chunk further, so a cohort's dozen changed variables
    cost one small read, not a read of every variable of the cohort.
    """
    keys = {tuple(k) for k in keys}
    if not keys or not key_columns:
        return []
    distinct = [sorted({k[i] for k in keys}) for i in range(len(key_columns))]
    pick = max(range(len(key_columns)), key=lambda i: len(distinct[i]))
    narrow = _narrowing(model, table, [(key_columns[i], distinct[i])
                                       for i in range(len(key_columns)) if i != pick])
    values = distinct[pick]
    out: list[dict | None] = []
    for start in range(0, len(values), CHUNK):
        try:
            flt = values_filter(model, table, key_columns[pick], values[start:start + CHUNK])
        except (ModelError, StopIteration, Emx2Error):
            return [None]
        out.append(_and(flt, narrow))
    return out


def ref_keys(row: dict[str, str], ref: Reference, target_key: list[str]) -> list[Key]:
    """The keys (in the target table's key order) a row's reference names; [] when empty."""
    if ref.is_array:
        own = [p for p in ref.parts if not p.shared]
        if len(own) != 1:
            return []
        items = csvfmt.split_array(row.get(own[0].name, ""))
        out = []
        for item in items:
            values = {p.target: (item if p is own[0] else (row.get(p.name) or "").strip())
                      for p in ref.parts}
            if all(values.get(k) for k in target_key):
                out.append(tuple(values[k] for k in target_key))
        return out
    values = {p.target: (row.get(p.name) or "").strip() for p in ref.parts}
    if not any(values.get(p.target) for p in ref.parts if not p.shared):
        return []
    if not all(values.get(k) for k in target_key):
        return []
    return [tuple(values[k] for k in target_key)]


def _plain_ref_keys(ref: Reference, cols: list[str], target_key: list[str]):
    """`ref_keys` as a function of the row's cells in `cols` order (None when the reference
    needs the general path): what it gives, without a dict per row."""
    if len({p.target for p in ref.parts}) != len(ref.parts):
        return None
    if ref.is_array:
        return _array_ref_keys(ref, cols, target_key)
    at = {p.target: cols.index(p.name) for p in ref.parts}
    if not all(k in at for k in target_key):
        return lambda cells: []  # a key column no part names: never a whole key
    own = [cols.index(p.name) for p in ref.parts if not p.shared]
    pick = [at[k] for k in target_key]

    def keys_of(cells: tuple) -> list[Key]:
        values = [(c or "").strip() for c in cells]
        if not any(values[i] for i in own):
            return []
        key = tuple(values[i] for i in pick)
        return [key] if all(key) else []

    return keys_of


def _array_ref_keys(ref: Reference, cols: list[str], target_key: list[str]):
    own = [p for p in ref.parts if not p.shared]
    if len(own) != 1:
        return lambda cells: []
    at = {p.target: cols.index(p.name) for p in ref.parts}
    if not all(k in at for k in target_key):
        return lambda cells: []
    items_at = cols.index(own[0].name)
    # per key column: None for the item's own part, else the index of the shared cell
    pick = [None if k == own[0].target else at[k] for k in target_key]

    def keys_of(cells: tuple) -> list[Key]:
        items = csvfmt.split_array(cells[items_at])
        if not items:
            return []
        shared = [None if i is None else (cells[i] or "").strip() for i in pick]
        if not all(v for v, i in zip(shared, pick) if i is not None):
            return []
        return [tuple(item if i is None else v for v, i in zip(shared, pick)) for item in items]

    return keys_of


@dataclass
class _Use:
    table: str
    column: str
    row: Key


def _short(key: Key) -> str:
    return "/".join(key)


def _family(model: SchemaModel, table: str) -> list[str]:
    """The table and its subclasses (the tables whose rows a reference to `table` may name)."""
    if table not in model.tables:
        return [table]
    return [table] + [t.name for t in model.subclasses(table)]


async def existing_keys(client: Emx2Client, model: SchemaModel, table: str, keys: set[Key]) -> set[Key]:
    """Which of `keys` exist in `table` of the model's schema (filtered downloads)."""
    if not keys:
        return set()
    key_cols = model.key_columns(table) if table in model.tables else ["name"]
    if table in model.tables:
        filters = key_filters(model, table, key_cols, keys)
    else:
        names = sorted({k[0] for k in keys})
        filters = [{"name": {"equals": names[i:i + CHUNK]}} for i in range(0, len(names), CHUNK)]
    found: set[Key] = set()
    for flt in filters:
        try:
            df = await client.download_table(model.name, table, flt)
        except (Emx2Error, ModelError):
            df = await client.download_table(model.name, table)
        if len(df) and all(c in df.columns for c in key_cols):
            found |= set(row_keys(df, key_cols)) & keys
    return found


def _is_term_table(model: SchemaModel, table: str) -> bool:
    """An ontology table of the model, keyed by its name alone."""
    return (table in model.tables and model.table(table).is_ontology
            and model.key_columns(table) == ["name"])


async def existing_terms(client: Emx2Client, model: SchemaModel,
                         wanted: Mapping[str, set[Key]]) -> dict[str, set[Key]]:
    """Which of the wanted terms exist, for several ontology tables of the model's schema: one
    GraphQL query (a field per table and chunk of names) instead of a download per table. When
    the server refuses the query, each table is read as `existing_keys` reads it."""
    wanted = {t: keys for t, keys in wanted.items() if keys}
    fields: list[str] = []
    alias_table: dict[str, str] = {}
    for table, keys in wanted.items():
        names = sorted({k[0] for k in keys})
        for start in range(0, len(names), CHUNK):
            alias = f"t{len(alias_table)}"
            alias_table[alias] = table
            # a JSON list of strings is a GraphQL list literal of the same strings
            chunk = json.dumps(names[start:start + CHUNK], ensure_ascii=False)
            fields.append(f"{alias}: {table_id(table)}(filter: {{name: {{equals: {chunk}}}}}) {{ name }}")
    if not fields:
        return {}
    try:
        data = await client.query(model.name, "{ " + "\n  ".join(fields) + " }")
    except Emx2Error:
        found = await gather_bounded(existing_keys(client, model, t, keys) for t, keys in wanted.items())
        return dict(zip(wanted, found))
    out: dict[str, set[Key]] = {t: set() for t in wanted}
    for alias, table in alias_table.items():
        names = {(str(row.get("name", "")).strip(),) for row in data.get(alias) or ()
                 if isinstance(row, dict)}
        out[table] |= names & wanted[table]
    return out


@dataclass
class _Named:
    """What the written rows refer to: per slot (schema, table) the keys any synced row names and
    those rows the job writes name; the slots' models; per reference, each row's keys."""

    named_in: dict[tuple[str, str], set[Key]]
    sent: dict[tuple[str, str], set[Key]]
    models: dict[tuple[str, str], SchemaModel]
    scans: list[tuple[str, Reference, tuple[str, str], list[Key], list[list[Key]]]]


class ReferenceCheck:
    """Runs both checks for one plan; results are messages for the plan."""

    def __init__(self, client: Emx2Client, model: SchemaModel, sync: list[TablePlan],
                 delete: list[TablePlan], read: Mapping[tuple[str, str], Frame] | None = None) -> None:
        self.client = client
        self.model = model
        self.sync = {t.table: t for t in sync}
        self.delete = {t.table: t for t in delete}
        self.broken: list[str] = []
        self.withheld: list[str] = []
        # read_key(table, filter) -> the target's rows it selects; the plan's reads are not made again
        self._reads: dict[tuple[str, str], Frame] = dict(read or {})
        self._written_cache: dict[str, set[Key]] = {}

    # ------------------------------------------------------------------ key sets
    def _written(self, table: str) -> set[Key]:
        """Keys of the rows the job writes to the table's family (the sync frames stay as they are
        during the check, so each family's set is made once)."""
        cached = self._written_cache.get(table)
        if cached is not None:
            return cached
        out: set[Key] = set()
        for t in _family(self.model, table):
            tp = self.sync.get(t)
            if tp is not None and len(tp.frame):
                out |= set(row_keys(tp.frame, self.model.key_columns(t)))
        self._written_cache[table] = out
        return out

    def _deleted(self, table: str) -> set[Key]:
        out: set[Key] = set()
        for t in _family(self.model, table):
            dp = self.delete.get(t)
            if dp is not None and dp.deletes:
                out |= set(row_keys(dp.deleted_frame, self.model.key_columns(t)))
        return out

    def _own_target(self, ref: Reference) -> bool:
        return ref.target_schema == self.model.name

    def _target_model(self, ref: Reference) -> SchemaModel:
        return self.model._target_model(ref.column)

    # ------------------------------------------------------------------ deletes still referenced
    async def withhold_referenced_deletes(self) -> None:
        """Deletes that rows staying in the target still refer to are taken out of the plan."""
        targets = {name for name, dp in self.delete.items() if dp.deletes}
        if not targets:
            return
        keep: dict[str, dict[Key, str]] = defaultdict(dict)  # table -> key -> reason
        scans: list[tuple[str, list[tuple[Reference, list[str], dict[Key, str], list[dict | None]]]]] = []
        for holder in self.model.tables.values():
            if holder.is_ontology or not self.model.has_columns(holder.name):
                continue
            if holder.extends:  # the root's download lists the rows of every subclass
                continue
            refs = [r for t in _family(self.model, holder.name) for r in self.model.references(t)
                    if self._own_target(r)]
            refs = [r for r in refs if any(x in targets for x in _family(self.model, r.target_table))]
            if refs:
                scans.append((holder.name, self._holder_scans(refs)))
        # the reads are independent: a few at a time; the rows are then scanned in table order,
        # so that the reasons given do not depend on which answer came first
        reads = {read_key(holder, flt): (holder, flt) for holder, plan in scans
                 for *_, filters in plan for flt in filters}
        await gather_bounded(self._holder_rows(holder, flt) for holder, flt in reads.values())
        for holder, plan in scans:
            hkeys = self.model.key_columns(holder)
            leaving = self._written(holder) | self._deleted(holder)
            for ref, tkey, doomed, filters in plan:
                for flt in filters:
                    self._scan_rows(holder, await self._holder_rows(holder, flt), hkeys, leaving, ref,
                                    tkey, doomed, keep)
        # a withheld row keeps what it refers to: follow its own references among the deletes
        changed = True
        while changed:
            changed = False
            for name, reasons in list(keep.items()):
                dp = self.delete.get(name)
                if dp is None:
                    continue
                kcols = self.model.key_columns(name)
                rows = [r for k, r in zip(row_keys(dp.deleted_frame, kcols),
                                          dp.deleted_frame.records()) if k in reasons]
                for ref in self.model.references(name):
                    if not self._own_target(ref):
                        continue
                    tkey = self.model.key_columns(ref.target_table)
                    for row in rows:
                        for k in ref_keys(row, ref, tkey):
                            for fam in _family(self.model, ref.target_table):
                                d = self.delete.get(fam)
                                if d is None or not d.deletes:
                                    continue
                                fam_keys = set(row_keys(d.deleted_frame, self.model.key_columns(fam)))
                                if k in fam_keys and k not in keep[fam]:
                                    keep[fam][k] = (f"the kept {name} row {_short(row_keys_one(row, kcols))} "
                                                    f"refers to it ({ref.column.name})")
                                    changed = True
        for name, reasons in keep.items():
            dp = self.delete.get(name)
            if dp is None or not reasons:
                continue
            kcols = self.model.key_columns(name)
            dp.deleted_frame = dp.deleted_frame.where(
                k not in reasons for k in row_keys(dp.deleted_frame, kcols))
            dp.deletes = len(dp.deleted_frame)
            for key, why in sorted(reasons.items()):
                msg = f"{name} {_short(key)} is not deleted: {why}"
                dp.withheld.append(msg)
                self.withheld.append(msg)

    async def _holder_rows(self, holder: str, flt: dict | None) -> Frame:
        """The holder's rows a filter selects (the whole table without one); each read once."""
        cache_key = read_key(holder, flt)
        if cache_key not in self._reads:
            try:
                if flt is None:
                    raise ModelError("no filter")
                df = await self.client.download_table(self.model.name, holder, flt)
            except (Emx2Error, ModelError):
                df = await self.client.download_table(self.model.name, holder)
            self._reads[cache_key] = df
        return self._reads[cache_key]

    def _holder_scans(self, refs: list[Reference]) -> list[tuple[Reference, list[str], dict[Key, str],
                                                                  list[dict | None]]]:
        """Per reference of a holder table: the target's key columns, the deleted keys it may name
        (key -> table) and the filters that read the holder's rows naming them."""
        out = []
        for ref in refs:
            doomed: dict[Key, str] = {}
            for fam in _family(self.model, ref.target_table):
                dp = self.delete.get(fam)
                if dp is not None and dp.deletes:
                    for k in row_keys(dp.deleted_frame, self.model.key_columns(fam)):
                        doomed[k] = fam
            if not doomed:
                continue
            tkey = self.model.key_columns(ref.target_table)
            usable = [p for p in ref.parts if p.target in tkey]
            if not usable:
                continue
            distinct = {p.name: sorted({k[tkey.index(p.target)] for k in doomed}) for p in usable}
            narrow: list[dict] = []
            if ref.is_array:
                part = min(usable, key=lambda p: len(distinct[p.name]))
            else:
                # chunks over the part with the most distinct values, narrowed by the parts with
                # few: the rows that name a deleted key, not every row of the resource
                part = max(usable, key=lambda p: len(distinct[p.name]))
                narrow = _narrowing(self.model, ref.table, [(p.name, distinct[p.name])
                                                            for p in usable if p is not part])
            values = distinct[part.name]
            filters: list[dict | None] = []
            for start in range(0, len(values), CHUNK):
                chunk = values[start:start + CHUNK]
                try:
                    filters.append(_and(values_filter(self.model, ref.table, part.name, chunk), narrow))
                except (ModelError, StopIteration):
                    filters.append(None)
            out.append((ref, tkey, doomed, filters))
        return out

    def _scan_rows(self, holder: str, df: Frame, hkeys: list[str], leaving: set[Key], ref: Reference,
                   tkey: list[str], doomed: dict[Key, str], keep: dict[str, dict[Key, str]]) -> None:
        """Note the deletes that rows of `df` staying in the target (not in `leaving`) refer to."""
        if not len(df) or not all(c in df.columns for c in hkeys):
            return
        rks = row_keys(df, hkeys)
        staying = [rk not in leaving for rk in rks]
        if not any(staying):  # every row is written or deleted by the job: none stays as it is
            return
        for rk, row in zip(compress(rks, staying), df.where(staying).records()):
            for k in ref_keys(row, ref, tkey):
                fam = doomed.get(k)
                if fam is not None and k not in keep[fam]:
                    keep[fam][k] = f"{holder} {_short(rk)} still refers to it ({ref.column.name})"

    # ------------------------------------------------------------------ written rows
    def named_references(self) -> _Named:
        """What the rows the job writes refer to, slot by slot (from the sync frames alone, which
        the check does not change)."""
        named_in: dict[tuple[str, str], set[Key]] = defaultdict(set)  # slot -> keys rows name
        # keys only rows the job writes name are looked up: the target holds its unchanged rows as
        # they are, so their references resolve there already, unless the job deletes what they name
        sent: dict[tuple[str, str], set[Key]] = defaultdict(set)
        models: dict[tuple[str, str], SchemaModel] = {}
        scans: list[tuple[str, Reference, tuple[str, str], list[Key], list[list[Key]]]] = []
        for name, tp in self.sync.items():
            if not len(tp.frame):
                continue
            rkeys = row_keys(tp.frame, self.model.key_columns(name))
            writes = [a != UNCHANGED for a in tp.actions] if len(tp.actions) == len(rkeys) \
                else [True] * len(rkeys)
            for ref in self.model.references(name):
                if not all(p.name in tp.frame.columns for p in ref.parts if not p.shared):
                    continue
                tmodel = self._target_model(ref)
                tkey = tmodel.key_columns(ref.target_table) if ref.target_table in tmodel.tables else ["name"]
                slot = (tmodel.name, ref.target_table)
                models[slot] = tmodel
                cols = list(dict.fromkeys(p.name for p in ref.parts))
                cache: dict[tuple[str, ...], list[Key]] = {}  # the same cells name the same keys
                per_row: list[list[Key]] = []
                keys_of = _plain_ref_keys(ref, cols, tkey)
                for cells in tp.frame.tuples(cols):
                    ks = cache.get(cells)
                    if ks is None:
                        ks = cache[cells] = (keys_of(cells) if keys_of is not None
                                             else ref_keys(dict(zip(cols, cells)), ref, tkey))
                    per_row.append(ks)
                everything, lookups = named_in[slot], sent[slot]
                for ks in cache.values():
                    everything.update(ks)
                for ks, written in zip(per_row, writes):
                    if written and ks:
                        lookups.update(ks)
                scans.append((name, ref, slot, rkeys, per_row))
        return _Named(named_in, sent, models, scans)

    async def look_up_outside(self, named: _Named) -> dict[tuple[str, str], set[Key]]:
        """Which keys the written rows name exist in other schemas (ontology terms, catalogue
        rows): what this job's deletes, in its own schema, cannot change."""
        return await self._look_up([(schema, table, set(named.sent[(schema, table)]))
                                    for schema, table in named.named_in if schema != self.model.name],
                                   named.models)

    async def _look_up(self, slots: list[tuple[str, str, set[Key]]],
                       models: Mapping[tuple[str, str], SchemaModel]) -> dict[tuple[str, str], set[Key]]:
        """(schema, table) -> the keys of each slot that exist. The lookups are independent: a
        few at a time; the terms of each ontology schema are asked for in one query."""
        terms: dict[str, dict[str, set[Key]]] = defaultdict(dict)  # schema -> table -> keys
        reads: list[tuple[str, str, set[Key]]] = []
        for schema, table, keys in slots:
            if keys and _is_term_table(models[(schema, table)], table):
                terms[schema][table] = keys
            else:
                reads.append((schema, table, keys))
        answers = await gather_bounded(
            [existing_terms(self.client, models[(schema, next(iter(tables)))], tables)
             for schema, tables in terms.items()]
            + [existing_keys(self.client, models[(schema, table)], table, keys)
               for schema, table, keys in reads])
        found_in: dict[tuple[str, str], set[Key]] = {}
        for schema, per_table in zip(terms, answers):
            for table, found in per_table.items():
                found_in[(schema, table)] = found
        for (schema, table, _keys), found in zip(reads, answers[len(terms):]):
            found_in[(schema, table)] = found
        return found_in

    async def find_broken(self, named: _Named | None = None,
                          outside: Awaitable[dict[tuple[str, str], set[Key]]] | None = None) -> None:
        """References of the rows the job writes that would not resolve after the import.
        `outside`: the answer of `look_up_outside(named)`, when it was started earlier."""
        named = named or self.named_references()
        named_in, sent, models, scans = named.named_in, named.sent, named.models, named.scans
        slots: list[tuple[str, str, set[Key], set[Key]]] = []
        for (schema, table), named_keys in named_in.items():
            keys = set(sent[(schema, table)])
            gone: set[Key] = set()
            if schema == self.model.name:
                written, deleted = self._written(table), self._deleted(table)
                gone = named_keys & deleted - written
                keys -= written | deleted
            slots.append((schema, table, keys, gone))
        own = [(schema, table, keys) for schema, table, keys, _gone in slots
               if outside is None or schema == self.model.name]
        found_in = await self._look_up(own, models)
        if outside is not None:
            found_in.update(await outside)
        founds = [found_in.get((schema, table), set()) for schema, table, _keys, _gone in slots]
        bad: dict[tuple[str, str], dict[Key, str]] = {}
        for (schema, table, keys, gone), found in zip(slots, founds):
            tmodel = models[(schema, table)]
            what = ("which is not a term of" if table not in tmodel.tables or tmodel.table(table).is_ontology
                    else "which does not exist in")
            why = {k: "which this job deletes" for k in gone}
            why.update({k: f"{what} {schema}.{table}" for k in keys - found})
            if why:
                bad[(schema, table)] = why
        if not bad:
            return
        # only now, for the few keys that do not resolve: which rows name them
        uses: dict[tuple[str, str], dict[Key, list[_Use]]] = defaultdict(lambda: defaultdict(list))
        for name, ref, slot, rkeys, per_row in scans:
            why = bad.get(slot)
            if not why:
                continue
            for rk, ks in zip(rkeys, per_row):
                for k in ks:
                    if k in why:
                        uses[slot][k].append(_Use(name, ref.column.name, rk))
        for (schema, table, _keys, gone) in slots:
            why = bad.get((schema, table), {})
            for k in sorted(gone) + sorted(set(why) - gone):
                self._report(uses[(schema, table)][k], schema, table, k, why[k])

    def _report(self, uses: list[_Use], schema: str, table: str, key: Key, why: str) -> None:
        by_col: dict[tuple[str, str], list[Key]] = defaultdict(list)
        for u in uses:
            by_col[(u.table, u.column)].append(u.row)
        for (t, c), rows in by_col.items():
            shown = ", ".join(_short(r) for r in rows[:EXAMPLES])
            more = f" and {len(rows) - EXAMPLES} more" if len(rows) > EXAMPLES else ""
            self.broken.append(f"{t}.{c} = '{_short(key)}' ({len(rows)} row{'s' if len(rows) != 1 else ''}: "
                               f"{shown}{more}) refers to a row {why}")


def row_keys_one(row: dict[str, str], columns: Iterable[str]) -> Key:
    return tuple(str(row.get(c, "")).strip() for c in columns)


async def check(client: Emx2Client, model: SchemaModel, sync: list[TablePlan],
                delete: list[TablePlan], read: Mapping[tuple[str, str], Frame] | None = None,
                ) -> tuple[list[str], list[str]]:
    """(broken references, withheld deletes) of a plan; the delete plans are updated in place.

    `read` holds target rows the plan has read already, by `read_key(table, filter)`.
    """
    rc = ReferenceCheck(client, model, sync, delete, read)
    named = rc.named_references()
    # keys in other schemas do not depend on which deletes are withheld: asked for meanwhile
    outside = asyncio.ensure_future(rc.look_up_outside(named))
    try:
        await rc.withhold_referenced_deletes()
        await rc.find_broken(named, outside)
    finally:
        if not outside.done():
            outside.cancel()
        await asyncio.gather(outside, return_exceptions=True)
    return rc.broken, rc.withheld
