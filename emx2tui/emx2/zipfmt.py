"""EMX2 ZIP files: build an import zip from table CSVs, read one back, make exports re-importable."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable, Mapping

from emx2tui.emx2.names import loose

METADATA_ENTRIES = ("molgenis.csv", "molgenis_settings.csv", "molgenis_members.csv", "molgenis_roles.csv")


def build_zip(tables: Iterable[tuple[str, str]] | Mapping[str, str], *,
              metadata: str | None = None, files: Mapping[str, bytes] | None = None) -> bytes:
    """A zip with one `<Table name>.csv` per (table, csv text), in the order given.

    `files` are attachments: entry name (`_files/<id>.<ext>`) -> bytes, written after the tables.

    Without `metadata` there is no molgenis.csv, so the import touches data only. Two entries
    whose names EMX2 would match to the same table are refused, because the server would fail
    the whole import on them.
    """
    items = list(tables.items()) if isinstance(tables, Mapping) else list(tables)
    seen: dict[str, str] = {}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        if metadata is not None:
            zf.writestr("molgenis.csv", metadata)
        for name, text in items:
            key = loose(name)
            if key in seen:
                raise ValueError(f"tables '{seen[key]}' and '{name}' would share one file in the zip")
            seen[key] = name
            zf.writestr(f"{name}.csv", text)
        for entry, content in sorted((files or {}).items()):
            if not entry.startswith("_files/"):
                entry = f"_files/{entry}"
            zf.writestr(entry, content)
    return buf.getvalue()


def read_files(data: bytes) -> dict[str, bytes]:
    """The `_files/` attachments of a zip: entry name -> bytes."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist()
                if not i.is_dir() and i.filename.startswith("_files/")}


def read_zip(data: bytes) -> dict[str, str]:
    """Entry name -> text for every CSV entry of a zip (base names, `_files/` left out)."""
    out: dict[str, str] = {}
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for info in zf.infolist():
            if info.is_dir() or info.filename.startswith("_files/"):
                continue
            base = info.filename.rsplit("/", 1)[-1]
            out[base] = zf.read(info).decode("utf-8")
    return out


def table_entries(data: bytes) -> dict[str, str]:
    """Table name -> CSV text of the data entries of a zip (metadata entries left out)."""
    return {name[:-4]: text for name, text in read_zip(data).items()
            if name.endswith(".csv") and name not in METADATA_ENTRIES}


def _rewrite_csv_column(text: str, column: str, fn) -> str:
    reader = csv.reader(io.StringIO(text, newline=""))
    rows = list(reader)
    if not rows or column not in rows[0]:
        return text
    idx = rows[0].index(column)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(rows[0])
    for row in rows[1:]:
        if idx < len(row):
            row[idx] = fn(row[idx])
        writer.writerow(row)
    return out.getvalue()


def make_reimportable(data: bytes) -> bytes:
    """An export made re-importable: `mg_tableclass` values reduced to bare table names.

    EMX2 writes `<schema>.<Table>` there, and on import a qualified value sends the row into the
    named schema (for the first row of a batch only). Bare names are qualified with the importing
    schema, and the per-class file layout already puts every row in its own table.
    """
    src = zipfile.ZipFile(io.BytesIO(data))
    buf = io.BytesIO()
    with src, zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            content = src.read(info)
            if info.filename.endswith(".csv") and not info.filename.startswith("_files/") \
                    and info.filename.rsplit("/", 1)[-1] not in METADATA_ENTRIES:
                text = content.decode("utf-8")
                if "mg_tableclass" in text.split("\n", 1)[0]:
                    text = _rewrite_csv_column(text, "mg_tableclass", lambda v: v.rsplit(".", 1)[-1])
                    content = text.encode("utf-8")
            dst.writestr(info, content)
    return buf.getvalue()
