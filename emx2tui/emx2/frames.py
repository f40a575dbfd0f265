"""Tables as pandas DataFrames, the EMX2 way: every cell a plain `str`, empty cells `""`.

pandas 3 reads `dtype=str` into its own string dtype whose missing value is NaN; the engine
wants plain Python strings in object columns, so every frame made here is converted.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from pandas.api import types as pd_lib

from emx2tui.emx2 import csvfmt


def normalise(df: pd.DataFrame) -> pd.DataFrame:
    """Object columns holding `str` only; missing values become `""`."""
    data = {}
    for i, c in enumerate(df.columns):
        data[str(c)] = pd.Series(_strings(df.iloc[:, i]), dtype=object)
    out = pd.DataFrame(data, columns=list(data))
    return out


def _strings(column: pd.Series) -> np.ndarray:
    """A column as an object array of `str`, missing values as `""` (column-wise, not per cell)."""
    values = column.to_numpy(dtype=object, copy=True)
    if pd_lib.infer_dtype(values, skipna=False) == "string":
        return values  # the common case: every cell already a str
    missing = pd.isna(values)
    if missing.any():
        values[missing] = ""
    if pd_lib.infer_dtype(values, skipna=False) != "string":
        values = np.array([v if isinstance(v, str) else str(v) for v in values], dtype=object)
    return values


def read_frame(text: str | bytes) -> pd.DataFrame:
    """A CSV body (as EMX2 writes it) to a frame of strings, without NA coercion."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    if text.startswith(csvfmt.BOM):
        text = text[1:]
    if not text.strip():
        return pd.DataFrame()
    first = text.split("\n", 1)[0]
    sep = csvfmt.sniff_separator(first)
    df = _read_regular(text, sep) if len(text) < SMALL_BODY else None
    if df is not None:
        return df
    # object columns of str straight from the parser: nothing is missing without NA filtering
    df = pd.read_csv(io.StringIO(text), dtype=object, keep_default_na=False, na_filter=False,
                     sep=sep, skip_blank_lines=True)
    if all(isinstance(c, str) for c in df.columns) and all(d == object for d in df.dtypes):
        return df
    return normalise(df)


SMALL_BODY = 100_000  # characters; larger bodies parse faster in pandas' C reader


def _read_regular(text: str, sep: str) -> pd.DataFrame | None:
    """A CSV body whose rows all have the header's width, parsed by the csv module into one
    object array; None when the body needs pandas' handling (ragged rows, duplicate or empty
    column names). Several times faster than `pd.read_csv` for small bodies: most of a plan's reads.
    """
    try:
        rows = [r for r in csv.reader(io.StringIO(text, newline=""), delimiter=sep) if r]
    except csv.Error:
        return None
    if not rows:
        return None
    header = rows[0]
    width = len(header)
    if not width or len(set(header)) != width or not all(header) or any(len(r) != width for r in rows):
        return None
    values = np.empty((len(rows) - 1, width), dtype=object)
    if len(rows) > 1:
        values[:] = rows[1:]
    return pd.DataFrame(values, columns=header, dtype=object, copy=False)


def columns_of(df: pd.DataFrame, columns: Sequence[str]) -> list[list[str]]:
    """The cells of `columns` as plain lists (a column the frame lacks is all `""`)."""
    n = len(df)
    return [df[c].tolist() if c in df.columns else [""] * n for c in columns]


def tuples(df: pd.DataFrame, columns: Sequence[str] | None = None) -> list[tuple[str, ...]]:
    """The rows of a frame as tuples of `columns` (a column the frame lacks is all `""`).

    Many times faster than `itertuples` or `to_dict`.
    """
    cols = list(df.columns) if columns is None else list(columns)
    if not len(df):
        return []
    if not cols:
        return [()] * len(df)
    # column by column (each a flat list), zipped into rows: some 4 times faster than the
    # frame's 2-D object array made into nested lists
    return list(zip(*columns_of(df, cols)))


def records(df: pd.DataFrame) -> list[dict[str, str]]:
    """The rows of a frame as dicts (what `to_dict("records")` gives, without its per-cell cost)."""
    if not len(df):
        return []
    cols = [str(c) for c in df.columns]
    return [dict(zip(cols, row)) for row in tuples(df)]


def empty_frame(columns: Sequence[str]) -> pd.DataFrame:
    columns = list(columns)
    if not columns or len(set(columns)) != len(columns):
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})
    # from one empty object array: some 25 times faster than a dict of empty Series
    return pd.DataFrame(np.empty((0, len(columns)), dtype=object), columns=columns, dtype=object,
                        copy=False)


def frame_from_rows(rows: Iterable[Mapping[str, str]], columns: Sequence[str] | None = None) -> pd.DataFrame:
    rows = list(rows)
    if columns is None:
        seen: dict[str, None] = {}
        for r in rows:
            for k in r:
                seen.setdefault(k, None)
        columns = list(seen)
    if not rows:
        return empty_frame(columns)
    return normalise(pd.DataFrame([{c: r.get(c, "") for c in columns} for r in rows], columns=list(columns)))


def write_frame(df: pd.DataFrame, columns: Sequence[str] | None = None) -> str:
    """A frame as an EMX2 CSV body (`\\n` line ends, minimal quoting)."""
    cols = list(columns) if columns is not None else list(df.columns)
    if not len(df):
        return csvfmt.write_rows(cols, [])
    return csvfmt.write_rows(cols, tuples(df, cols))
