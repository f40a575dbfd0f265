"""Tables of strings, the EMX2 way: every cell a plain `str`, empty cells `""`.

A `Frame` is a header and a list of rows, each row a sequence of exactly one cell per column.
EMX2 tables are strings through and through (CSV in, CSV out, compared by text), so the engine
needs little more than the csv module gives: select rows, pick columns, zip keys. Keeping to
that makes a command start in a fraction of the time a dataframe library takes to import.

Frames never change in place: every operation returns a new frame, and rows may be shared
between frames.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import compress
from operator import itemgetter

from emx2tui.emx2 import csvfmt
from emx2tui.emx2.errors import CsvFormatError

Row = Sequence[str]


class Frame:
    """Rows of string cells under one header (column names unique)."""

    __slots__ = ("_at", "_rows", "columns")

    def __init__(self, columns: Iterable[str] = (), rows: list[Row] | None = None) -> None:
        self.columns: tuple[str, ...] = tuple(columns)
        self._rows: list[Row] = rows if rows is not None else []
        self._at: dict[str, int] = {c: i for i, c in enumerate(self.columns)}
        if len(self._at) != len(self.columns):
            raise ValueError(f"duplicate column names in {list(self.columns)}")

    # ----------------------------------------------------------------- reading
    def __len__(self) -> int:
        return len(self._rows)

    def __repr__(self) -> str:
        return f"Frame({len(self._rows)} rows x {list(self.columns)})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Frame):
            return NotImplemented
        return self.columns == other.columns and self.tuples() == other.tuples()

    __hash__ = None  # type: ignore[assignment]

    def __contains__(self, column: object) -> bool:
        return column in self._at

    def __getitem__(self, column: str) -> list[str]:
        """The cells of one column, as a new list (KeyError if the frame lacks it)."""
        i = self._at[column]
        return list(map(itemgetter(i), self._rows))

    def get(self, column: str, default: str = "") -> list[str]:
        """The cells of `column`, or `default` in every row when the frame lacks it."""
        if column in self._at:
            return self[column]
        return [default] * len(self._rows)

    def tuples(self, columns: Sequence[str] | None = None) -> list[tuple[str, ...]]:
        """The rows as tuples of `columns` (a column the frame lacks is all `""`)."""
        cols = self.columns if columns is None else tuple(columns)
        if not self._rows:
            return []
        if not cols:
            return [()] * len(self._rows)
        if all(c in self._at for c in cols):
            if cols == self.columns:
                return list(map(tuple, self._rows))
            if len(cols) == 1:
                i = self._at[cols[0]]
                return [(r[i],) for r in self._rows]
            return list(map(itemgetter(*(self._at[c] for c in cols)), self._rows))
        return list(zip(*(self.get(c) for c in cols)))

    def records(self) -> list[dict[str, str]]:
        """The rows as dicts of column -> cell."""
        cols = self.columns
        return [dict(zip(cols, r)) for r in self._rows]

    def __iter__(self) -> Iterator[Row]:
        return iter(self._rows)

    # ----------------------------------------------------------------- deriving
    def where(self, mask: Iterable[bool]) -> Frame:
        """The rows whose mask value is true (the mask has one value per row)."""
        flags = _one_per_row(mask, len(self._rows))
        return Frame(self.columns, list(compress(self._rows, flags)))

    def slice(self, start: int, stop: int | None = None) -> Frame:
        return Frame(self.columns, self._rows[start:stop])

    def select(self, columns: Sequence[str]) -> Frame:
        """Only `columns`, in that order (a column the frame lacks is all `""`)."""
        cols = tuple(columns)
        if cols == self.columns:
            return self
        return Frame(cols, self.tuples(cols))  # type: ignore[arg-type]

    def drop(self, columns: Iterable[str]) -> Frame:
        gone = set(columns)
        return self.select([c for c in self.columns if c not in gone])

    def assign(self, column: str, values: str | Sequence[str]) -> Frame:
        """A frame with `column` set to `values` (one per row, or one value for every row),
        replacing the column or adding it at the end."""
        n = len(self._rows)
        cells = [values] * n if isinstance(values, str) else list(values)
        if len(cells) != n:
            raise ValueError(f"{len(cells)} values for {n} rows of column '{column}'")
        if column in self._at:
            i = self._at[column]
            rows = [(*r[:i], v, *r[i + 1:]) for r, v in zip(self._rows, cells)]
            return Frame(self.columns, rows)  # type: ignore[arg-type]
        return Frame((*self.columns, column), [(*r, v) for r, v in zip(self._rows, cells)])

    def blank(self, mask: Sequence[bool], columns: Iterable[str]) -> Frame:
        """A frame with the cells of `columns` emptied in the rows whose mask value is true."""
        idx = {self._at[c] for c in columns if c in self._at}
        mask = _one_per_row(mask, len(self._rows))
        if not idx:
            return self
        rows = [tuple("" if i in idx else v for i, v in enumerate(r)) if m else r
                for r, m in zip(self._rows, mask)]
        return Frame(self.columns, rows)  # type: ignore[arg-type]


def _one_per_row(mask: Iterable[bool], rows: int) -> list:
    flags = mask if isinstance(mask, list) else list(mask)
    if len(flags) != rows:
        raise ValueError(f"a mask of {len(flags)} values for {rows} rows")
    return flags


def concat(frames: Sequence[Frame]) -> Frame:
    """The rows of every frame, under the union of their columns (missing cells `""`)."""
    frames = list(frames)
    if not frames:
        return Frame()
    columns = list(frames[0].columns)
    for f in frames[1:]:
        columns += [c for c in f.columns if c not in columns]
    rows: list[Row] = []
    for f in frames:
        rows += f._rows if tuple(columns) == f.columns else f.tuples(columns)
    return Frame(columns, rows)


# ----------------------------------------------------------------------------- reading CSV
def read_frame(text: str | bytes) -> Frame:
    """A CSV body (as EMX2 writes it) to a frame of strings, without any coercion.

    Blank lines are skipped; a short row is padded with empty cells, and empty cells past the
    header's width (a trailing separator) are dropped; an empty or repeated header name is made
    unique (`Unnamed: 3`, `name.1`). A body that ends inside a quoted cell (cut off or corrupt)
    or has a row with more values than the header raises CsvFormatError: it cannot be read
    without losing or shifting cells.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    if text.startswith(csvfmt.BOM):
        text = text[1:]
    if not text.strip():
        return Frame()
    first = text.split("\n", 1)[0]
    sep = csvfmt.sniff_separator(first)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep, strict=True)
    try:
        rows = [r for r in reader if r]
    except csv.Error as exc:
        raise CsvFormatError(f"The CSV answer could not be read at line {reader.line_num}: {exc} "
                             f"(was it cut off?)") from None
    if not rows:
        return Frame()
    header = _unique(rows[0])
    width = len(header)
    body = rows[1:]
    if any(len(r) != width for r in body):
        body = [r if len(r) == width else _fit(r, width, i + 1) for i, r in enumerate(body)]
    return Frame(header, body)  # type: ignore[arg-type]


def _fit(row: list[str], width: int, number: int) -> list[str]:
    if len(row) < width:
        return row + [""] * (width - len(row))
    if any(v.strip() for v in row[width:]):
        raise CsvFormatError(f"Row {number} of the CSV answer has {len(row)} values for {width} "
                             f"columns; it cannot be read without losing or shifting cells")
    return row[:width]


def _unique(header: list[str]) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    for i, name in enumerate(header):
        name = name or f"Unnamed: {i}"
        base, n = name, 0
        while name in seen:
            n += 1
            name = f"{base}.{n}"
        seen.add(name)
        out.append(name)
    return out


# ----------------------------------------------------------------------------- helpers
def empty_frame(columns: Sequence[str]) -> Frame:
    return Frame(_unique(list(columns)))


def frame_from_rows(rows: Iterable[Mapping[str, str]], columns: Sequence[str] | None = None) -> Frame:
    """A frame from dicts; a cell a dict lacks (or holds as None) is `""`, any other value its text."""
    rows = list(rows)
    if columns is None:
        seen: dict[str, None] = {}
        for r in rows:
            for k in r:
                seen.setdefault(k, None)
        columns = list(seen)
    cols = list(columns)
    return Frame(cols, [tuple(_text(r.get(c)) for c in cols) for r in rows])


def _text(value: object) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def write_frame(df: Frame, columns: Sequence[str] | None = None) -> str:
    """A frame as an EMX2 CSV body (`\\n` line ends, minimal quoting)."""
    cols = list(columns) if columns is not None else list(df.columns)
    return csvfmt.write_rows(cols, df.tuples(cols))
