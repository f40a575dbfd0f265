"""The plan: per table, the rows to insert, update, leave unchanged and delete.

Computed by key from two frames of strings (the filtered source rows, projected onto the
upload columns, and the target's rows of the same resource). Updates record which columns
changed, so the preview can show per-cell differences. EMX2's upsert replaces the whole row, so
for every row that stays the target's value of a column the source model lacks is sent back
(`kept` counts those values); `cleared` counts the values the strategy chose to empty instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from emx2tui.emx2 import csvfmt
from emx2tui.emx2.frames import Frame, empty_frame
from emx2tui.emx2.zipfmt import build_zip

INSERT, UPDATE, UNCHANGED = "insert", "update", "unchanged"

Key = tuple[str, ...]


@dataclass
class TablePlan:
    table: str
    filter_text: str
    rows: int = 0
    inserts: int = 0
    updates: int = 0
    unchanged: int = 0
    deletes: int = 0
    frame: Frame = field(default_factory=Frame, repr=False)
    deleted_frame: Frame = field(default_factory=Frame, repr=False)
    key_columns: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)  # columns sent on upload
    actions: list[str] = field(default_factory=list, repr=False)  # per row of `frame`
    changes: dict[Key, dict[str, tuple[str, str]]] = field(default_factory=dict, repr=False)
    cleared: dict[str, int] = field(default_factory=dict)  # column -> target values an upsert empties
    dropped_columns: list[str] = field(default_factory=list)  # source columns the target lacks
    blanked: dict[str, int] = field(default_factory=dict)  # reference -> rows emptied
    # the target's rows the plan saw (all of them, not only those it writes): what the apply
    # and the check after a lost answer compare the target with, by `target_digest`
    target: Frame | None = field(default=None, repr=False)
    kept: dict[str, int] = field(default_factory=dict)  # column -> target values sent back unchanged
    notes: list[str] = field(default_factory=list)  # transforms applied (GDPR, blanked refs, ...)
    files: dict[str, bytes] = field(default_factory=dict, repr=False)  # `_files/` entry -> bytes
    withheld: list[str] = field(default_factory=list)  # deletes not made: rows still referenced

    @property
    def writes(self) -> int:
        return self.inserts + self.updates

    @property
    def target_digest(self) -> str:
        """The fingerprint of `target` ("" when the plan kept none), worked out when first asked for."""
        if self.target is None:
            return ""
        cached = self.__dict__.get("_digest")
        if cached is None:
            cached = self.__dict__["_digest"] = digest(self.target, self.key_columns)
        return cached

    def rows_with(self, action: str) -> Frame:
        if not len(self.frame):
            return self.frame
        return self.frame.where(a == action for a in self.actions)

    def upsert_frame(self) -> Frame:
        """The rows an apply sends as upserts: inserts and updates (unchanged rows are left alone)."""
        if not len(self.frame):
            return self.frame
        return self.frame.where(a in (INSERT, UPDATE) for a in self.actions)


@dataclass
class Plan:
    strategy: str
    flow: str
    source_label: str
    target_label: str
    resource_id: str | None
    sync: list[TablePlan] = field(default_factory=list)
    delete: list[TablePlan] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # the warnings to show before anything else and in the confirmation (also in `warnings`)
    alerts: list[str] = field(default_factory=list)
    atomic: bool = True
    source_schema: str | None = None
    target_schema: str | None = None
    order: list[str] = field(default_factory=list)  # target load order of every table involved
    broken: list[str] = field(default_factory=list)  # references the write would break: apply refuses
    withheld: list[str] = field(default_factory=list)  # deletes left out: other rows still refer to them
    notes: list[str] = field(default_factory=list)  # rules the job applied (GDPR, kept columns, ...)
    transport: str = "zip"
    source_version: str | None = None
    target_version: str | None = None
    # the target's data model as the plan read it (SchemaModel.data_shape): apply refuses
    # when the target's model no longer has this shape
    target_shape: tuple | None = field(default=None, repr=False)

    @property
    def total_sync_rows(self) -> int:
        return sum(t.rows for t in self.sync)

    @property
    def total_writes(self) -> int:
        return sum(t.writes for t in self.sync)

    @property
    def total_delete_rows(self) -> int:
        return sum(t.deletes for t in self.delete)

    @property
    def has_deletes(self) -> bool:
        return self.total_delete_rows > 0

    @property
    def is_empty(self) -> bool:
        return self.total_writes == 0 and not self.has_deletes

    def table(self, name: str) -> TablePlan | None:
        return next((t for t in self.sync if t.table == name), None)

    def deleted(self, name: str) -> TablePlan | None:
        return next((t for t in self.delete if t.table == name), None)

    def import_tables(self) -> list[tuple[str, str]]:
        """(table, CSV text) for the one zip import: upserts, then `mg_delete` rows, in load order."""
        return import_tables(self)

    def files(self) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        for t in self.sync:
            out.update(t.files)
        return out

    def build_zip(self) -> bytes:
        """Exactly what an apply uploads (with the `_files/` attachments of the rows it writes)."""
        return build_zip(import_tables(self), files=self.files())

    def counts(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for t in self.sync:
            out.setdefault(t.table, {})
            out[t.table].update(inserted=t.inserts, updated=t.updates, unchanged=t.unchanged)
        for t in self.delete:
            out.setdefault(t.table, {}).update(deleted=t.deletes)
        for v in out.values():
            for k in ("inserted", "updated", "unchanged", "deleted"):
                v.setdefault(k, 0)
        return out


# ----------------------------------------------------------------------------- diff
def _norm(value: str, is_array: bool) -> object:
    value = (value or "").strip()
    if is_array:
        return tuple(csvfmt.split_array(value))
    return value


def row_keys(df: Frame, key_columns: list[str]) -> list[Key]:
    if not len(df):
        return []
    missing = [k for k in key_columns if k not in df.columns]
    if missing:
        raise ValueError(f"key columns {missing} are missing")
    if not key_columns:
        return [()] * len(df)
    return list(zip(*(_stripped(df[k]) for k in key_columns)))


def _stripped(values: list) -> list[str]:
    try:
        return list(map(str.strip, values))  # the common case: every cell a str
    except TypeError:
        return [v.strip() if isinstance(v, str) else str(v).strip() for v in values]


def diff_table(source: Frame, target: Frame, key_columns: list[str],
               columns: list[str], array_columns: Iterable[str] = (),
               ignore: Iterable[str] = ()) -> tuple[
                   list[str], dict[Key, dict[str, tuple[str, str]]], Frame]:
    """Compare by key: (action per source row, changed cells per updated key, target rows to delete).

    Only `columns` are compared (the columns the upload carries), except `ignore` (file ids, which
    the server regenerates on every import); a column the target frame lacks counts as empty there.
    """
    arrays = set(array_columns)
    skip = set(ignore)
    cols = [c for c in columns if c in source.columns and c not in skip]
    tkeys = row_keys(target, key_columns) if len(target) else []
    # the compared cells of each target row by key (a column the target lacks is empty there)
    t_index: dict[Key, tuple[str, ...]] = dict(zip(tkeys, target.tuples(cols))) if len(target) else {}
    actions: list[str] = []
    changes: dict[Key, dict[str, tuple[str, str]]] = {}
    seen: set[Key] = set()
    if len(source):
        for key, new in zip(row_keys(source, key_columns), source.tuples(cols)):
            seen.add(key)
            old = t_index.get(key)
            if old is None:
                actions.append(INSERT)
                continue
            if new == old:  # the common case: not one cell differs
                actions.append(UNCHANGED)
                continue
            diff = {}
            for c, new_v, old_v in zip(cols, new, old):
                new_v, old_v = new_v or "", old_v or ""
                if new_v != old_v and _norm(new_v, c in arrays) != _norm(old_v, c in arrays):
                    diff[c] = (old_v, new_v)
            if diff:
                actions.append(UPDATE)
                changes[key] = diff
            else:
                actions.append(UNCHANGED)
    if len(target):
        gone = target.where(k not in seen for k in tkeys)
    else:
        gone = empty_frame(list(target.columns) or list(key_columns))
    return actions, changes, gone


def cleared_columns(target: Frame, keys: set[Key], key_columns: list[str],
                    upload_cols: list[str], target_upload_cols: list[str]) -> dict[str, int]:
    """Target columns outside the upload that hold values on rows an upsert rewrites."""
    out: dict[str, int] = {}
    if not len(target) or not keys:
        return out
    extra = [c for c in target_upload_cols if c not in upload_cols and c in target.columns]
    if not extra:
        return out
    rows = target.where(k in keys for k in row_keys(target, key_columns))
    for c in extra:
        n = sum(1 for v in rows[c] if v.strip())
        if n:
            out[c] = n
    return out


def digest(df: Frame, key_columns: list[str]) -> str:
    """A fingerprint of a frame's content, independent of row and column order.

    Compared only within one process (a plan and its apply, or the check after a write whose
    answer was lost): it adds up Python's (salted, per process) hashes of the rows' text, which
    costs one pass over the rows instead of sorting them. The text of a row, its tuple's repr,
    is unambiguous, and a string's hash is a keyed one: a tuple's own hash is not, and swapped
    cells can cancel out in a sum of them.
    """
    if not len(df):
        return "empty"
    cols = sorted(c for c in df.columns if not c.startswith("mg_"))
    rows = df.tuples(cols)
    mask = (1 << 64) - 1
    return f"{len(rows)}:{hash(repr(cols)) & mask:x}:{sum(map(hash, map(repr, rows))) & mask:x}"


def build_table_plan(table: str, filter_text: str, source: Frame, target: Frame,
                     key_columns: list[str], columns: list[str], *, array_columns: Iterable[str] = (),
                     target_columns: list[str] | None = None, with_deletes: bool = False,
                     seen: Frame | None = None, ignore: Iterable[str] = ()) -> tuple[TablePlan, TablePlan | None]:
    """The sync plan of one table and, when `with_deletes`, its delete plan.

    `seen` is the target's rows as read (all columns), kept for the plan's fingerprint of them.
    """
    actions, changes, gone = diff_table(source, target, key_columns, columns, array_columns, ignore)
    rewritten = ({k for k, a in zip(row_keys(source, key_columns), actions) if a == UPDATE}
                 if UPDATE in actions else set())
    plan = TablePlan(
        table=table, filter_text=filter_text, rows=len(source),
        inserts=actions.count(INSERT), updates=actions.count(UPDATE),
        unchanged=actions.count(UNCHANGED), frame=source, actions=actions, changes=changes,
        key_columns=list(key_columns), columns=[c for c in columns if c in source.columns],
        cleared=cleared_columns(target, rewritten, key_columns, list(source.columns),
                                target_columns or []),
        target=seen,
    )
    dplan = None
    if with_deletes:
        dplan = TablePlan(table=table, filter_text=filter_text, rows=len(target), deletes=len(gone),
                          deleted_frame=gone, key_columns=list(key_columns),
                          frame=empty_frame(list(source.columns)), target=seen)
    return plan, dplan


def delete_only_plan(table: str, filter_text: str, target: Frame, key_columns: list[str],
                     kept_keys: set[Key]) -> TablePlan:
    """Deletes for a table that is not synced: the target rows whose key is not kept."""
    if len(target):
        gone = target.where(k not in kept_keys for k in row_keys(target, key_columns))
    else:
        gone = empty_frame(list(key_columns))
    return TablePlan(table=table, filter_text=filter_text, rows=len(target), deletes=len(gone),
                     deleted_frame=gone, key_columns=list(key_columns), target=target)


# ----------------------------------------------------------------------------- zip
def import_tables(plan: Plan) -> list[tuple[str, str]]:
    names = list(plan.order) or [t.table for t in plan.sync]
    for t in plan.sync + plan.delete:
        if t.table not in names:
            names.append(t.table)
    out = []
    for name in names:
        sp, dp = plan.table(name), plan.deleted(name)
        upserts = sp.upsert_frame() if sp is not None else empty_frame([])
        deletes = dp.deleted_frame if dp is not None and dp.deletes else empty_frame([])
        if not len(upserts) and not len(deletes):
            continue
        columns = list(sp.columns) if sp is not None and sp.columns else []
        keys = (dp.key_columns if dp is not None else sp.key_columns) if (dp or sp) else []
        for k in keys:
            if k not in columns:
                columns.insert(0, k)
        rows: list[dict[str, str]] = []
        if len(upserts):
            rows += [dict(zip(columns, r)) for r in upserts.tuples(columns)]
        if len(deletes):
            header = columns + ["mg_delete"]
            for r in deletes.tuples(keys):
                row = dict(zip(keys, r))
                row["mg_delete"] = "true"
                rows.append(row)
        else:
            header = columns
        out.append((name, csvfmt.write_csv(header, rows)))
    return out
