"""Scoped reads of a target: only the rows a run can change, laid out as an EMX2 export.

A full export of a catalogue costs as much as the catalogue; one cohort is a few percent of it.
These helpers read what a run needs with filtered CSV downloads and give it back in the layout
of `GET /{schema}/api/zip?includeSystemColumns=true` made re-importable: one `<Class>.csv` per
table class, every row in the file of its own class (`mg_tableclass`, as a bare table name), with
the system and refback columns an export carries, plus the `_files/` of its FILE cells. So a
scoped backup is a plain EMX2 zip that `emx2tui.jobs.rowsets.ExportRows` and an EMX2 import read
like a full one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from emx2tui.emx2.client import Emx2Client, gather_bounded
from emx2tui.emx2.errors import Emx2Error
from emx2tui.emx2.frames import Frame, concat, write_frame
from emx2tui.emx2.model import SchemaModel
from emx2tui.emx2.zipfmt import build_zip
from emx2tui.jobs.plan import Key, row_keys
from emx2tui.jobs.refs import Filter, key_filters, read_key
from emx2tui.jobs.transform import table_classes

READ_AHEAD = 4  # filtered reads in flight at once


class ClassRows:
    """Rows per table class, each row once (by the class's key), in the order first seen."""

    def __init__(self, model: SchemaModel) -> None:
        self.model = model
        self.frames: dict[str, list[Frame]] = {}
        self.seen: dict[str, set[Key]] = {}

    def add(self, cls: str, df: Frame) -> None:
        if not len(df):
            return
        keys = self.model.key_columns(cls) if cls in self.model.tables else []
        if keys and all(k in df.columns for k in keys):
            seen = self.seen.setdefault(cls, set())
            ks = row_keys(df, keys)
            mask = []
            for k in ks:
                mask.append(k not in seen)
                seen.add(k)
            df = df.where(mask)
        if len(df):
            if "mg_tableclass" in df.columns:
                df = df.assign("mg_tableclass", cls)
            self.frames.setdefault(cls, []).append(df)

    def entries(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for cls, parts in self.frames.items():
            df = concat(parts) if len(parts) > 1 else parts[0]
            out[cls] = write_frame(df, list(df.columns))
        return out

    def rows(self) -> int:
        return sum(len(p) for parts in self.frames.values() for p in parts)

    def by_key(self, table: str, key_columns: Sequence[str]) -> dict[Key, dict[str, str]]:
        """The rows of `table` and its subclasses, by their key (subclass rows with all their columns)."""
        family = [table] + ([t.name for t in self.model.subclasses(table)] if table in self.model.tables
                            else [])
        out: dict[Key, dict[str, str]] = {}
        for cls in family:
            for df in self.frames.get(cls, ()):
                if all(k in df.columns for k in key_columns):
                    out.update(zip(row_keys(df, list(key_columns)), df.records()))
        return out


async def read_classes(client: Emx2Client, model: SchemaModel, table: str,
                       filters: Sequence[Filter], into: ClassRows,
                       prefetched: Mapping[tuple[str, str], Frame] | None = None) -> None:
    """Add the rows of `table` that any of `filters` selects, each to its own class's file.

    A table's CSV lists the rows of its subclasses too, with the table's columns only; those
    rows are read again from their own class, which has all their columns. `prefetched` holds
    reads made already, by `_read_key`.
    """
    sub: dict[str, None] = {}
    for flt in filters:
        df = (prefetched or {}).get(read_key(table, flt))
        if df is None:
            df = await client.download_table(model.name, table, flt, include_system_columns=True)
        if not len(df):
            continue
        classes = table_classes(df, table)
        into.add(table, df.where(c == table for c in classes))
        for cls in dict.fromkeys(classes):
            if cls != table:
                sub[cls] = None
    for cls in sub:
        if cls not in model.tables:
            continue
        await read_classes(client, model, cls, filters, into, prefetched)


async def attachments(client: Emx2Client, model: SchemaModel, rows: ClassRows) -> dict[str, bytes]:
    """`_files/<id>.<ext>` entries for the FILE cells of the rows (as an export carries them)."""
    files: dict[str, bytes] = {}
    for cls, parts in rows.frames.items():
        if cls not in model.tables:
            continue
        cols = [c.name for c in model.columns(cls) if c.is_file]
        for df in parts:
            for col in cols:
                if col not in df.columns:
                    continue
                for fid, fname in zip(df[col], df.get(f"{col}_filename")):
                    fid = (fid or "").strip()
                    if not fid:
                        continue
                    ext = fname.rsplit(".", 1)[-1] if fname and "." in fname else "bin"
                    try:
                        files[f"_files/{fid}.{ext}"] = await client.download_file(
                            model.name, cls, col, fid)
                    except Emx2Error:
                        continue
    return files


async def keyed_backup(client: Emx2Client, model: SchemaModel,
                       wanted: Mapping[str, tuple[Sequence[str], Iterable[Key]]]) -> tuple[bytes, int]:
    """A re-importable zip holding (at least) the target's rows of the given keys, with their files.

    `wanted` is table -> (key columns, keys). Returns the zip and the number of rows in it.
    """
    return await backup_zip(client, model, await keyed_rows(client, model, wanted))


async def backup_zip(client: Emx2Client, model: SchemaModel, rows: ClassRows) -> tuple[bytes, int]:
    """The rows as a re-importable zip, with their files; and the number of rows in it."""
    files = await attachments(client, model, rows)
    return build_zip(rows.entries(), files=files), rows.rows()


async def keyed_rows(client: Emx2Client, model: SchemaModel,
                      wanted: Mapping[str, tuple[Sequence[str], Iterable[Key]]]) -> ClassRows:
    rows = ClassRows(model)
    plan: list[tuple[str, list[Filter]]] = []
    for table, (key_columns, keys) in wanted.items():
        if table not in model.tables:
            continue
        filters = key_filters(model, table, key_columns, keys)
        if filters:
            plan.append((table, filters))
    # the tables' reads run a few at a time; their rows are then taken in the order given
    reads = list({read_key(t, f): (t, f) for t, fs in plan for f in fs}.items())
    frames = await gather_bounded(
        (client.download_table(model.name, t, f, include_system_columns=True) for _, (t, f) in reads),
        limit=READ_AHEAD)
    prefetched = {k: df for (k, _), df in zip(reads, frames)}
    for table, filters in plan:
        await read_classes(client, model, table, filters, rows, prefetched)
    return rows


async def keyed_entries(client: Emx2Client, model: SchemaModel,
                        wanted: Mapping[str, tuple[Sequence[str], Iterable[Key]]]) -> dict[str, str]:
    """Table class -> CSV holding (at least) the rows of the given keys, per table: (key columns, keys)."""
    return (await keyed_rows(client, model, wanted)).entries()
