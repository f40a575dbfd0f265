"""Rows of an EMX2 zip export, found by table and key.

An export writes every row into the file of its own class (`mg_tableclass`), so a key of a
parent table may sit in a subclass's file. `ExportRows` looks a key up in the table's own file
first, then in its subclasses' files, and compares rows on their stored columns only (refbacks
are computed from other tables, the audit columns change on every write).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence

from emx2tui.emx2 import csvfmt
from emx2tui.emx2.model import SchemaModel
from emx2tui.emx2.names import loose

Key = tuple[str, ...]
Row = dict[str, str]


def key_of(row: Mapping[str, str], key_columns: Sequence[str]) -> Key:
    return tuple((row.get(k) or "").strip() for k in key_columns)


class ExportRows:
    """The table files of one export (table name -> CSV text), indexed lazily by key."""

    def __init__(self, entries: Mapping[str, str], model: SchemaModel) -> None:
        self.model = model
        self._text = {loose(name): (name, text) for name, text in entries.items()}
        self._parsed: dict[str, tuple[list[str], list[Row]]] = {}
        self._index: dict[tuple[str, tuple[str, ...]], dict[Key, tuple[str, Row]]] = {}

    # ----------------------------------------------------------------- files
    def file_name(self, table: str) -> str | None:
        found = self._text.get(loose(table))
        return found[0] if found else None

    def table(self, table: str) -> tuple[list[str], list[Row]]:
        """Header and rows of one table's file (empty when the export has none)."""
        name = self.file_name(table)
        if name is None:
            return [], []
        if name not in self._parsed:
            header, rows = csvfmt.read_csv(self._text[loose(name)][1], what=f"{name}.csv")
            self._parsed[name] = (header, rows)
        return self._parsed[name]

    def classes(self, table: str) -> list[str]:
        """The table and every table extending it that the model knows."""
        names = [table]
        if table in self.model.tables:
            names += [t.name for t in self.model.subclasses(table)]
        return names

    # ----------------------------------------------------------------- lookups
    def index(self, table: str, key_columns: Sequence[str]) -> dict[Key, tuple[str, Row]]:
        cache = (table, tuple(key_columns))
        if cache not in self._index:
            out: dict[Key, tuple[str, Row]] = {}
            for cls in self.classes(table):
                header, rows = self.table(cls)
                if not rows or any(k not in header for k in key_columns):
                    continue
                for row in rows:
                    out.setdefault(key_of(row, key_columns), (cls, row))
            self._index[cache] = out
        return self._index[cache]

    def find(self, table: str, key_columns: Sequence[str], key: Sequence[str]) -> tuple[str, Row] | None:
        """(class table, row) of the row with this key, or None."""
        return self.index(table, key_columns).get(tuple(v.strip() for v in key))

    def stored_columns(self, table: str) -> list[str]:
        """The columns a row of this class is written with (no refbacks, no audit columns)."""
        if table in self.model.tables:
            cols = self.model.csv_columns(table)
        else:
            cols = [c for c in self.table(table)[0] if not c.startswith("mg_")]
        return cols + ["mg_draft"]

    def differences(self, table: str, row: Row, other: Row) -> dict[str, tuple[str, str]]:
        """Stored columns whose values differ: column -> (value in `other`, value in `row`)."""
        out = {}
        for c in self.stored_columns(table):
            if c not in row and c not in other:
                continue
            a, b = (other.get(c) or "").strip(), (row.get(c) or "").strip()
            if a != b:
                out[c] = (a, b)
        return out

    # ----------------------------------------------------------------- output
    def subset(self, wanted: Mapping[str, tuple[Sequence[str], Iterable[Key]]]) -> list[tuple[str, str]]:
        """(class table, CSV) with the rows of the given keys, per table: (key columns, keys)."""
        picked: dict[str, dict[Key, Row]] = {}
        for table, (key_columns, keys) in wanted.items():
            for key in keys:
                hit = self.find(table, key_columns, key)
                if hit is not None:
                    picked.setdefault(hit[0], {})[tuple(key)] = hit[1]
        out = []
        for cls, rows in picked.items():
            header = self.table(cls)[0]
            out.append((cls, csvfmt.write_csv(header, list(rows.values()))))
        return out


def rows_digest(items: Iterable[object]) -> str:
    """A fingerprint of JSON-able items (order as given)."""
    h = hashlib.sha256()
    for item in items:
        h.update(json.dumps(item, sort_keys=True, ensure_ascii=False).encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()
