"""EMX2's CSV conventions, in one place for the client, the engine and the sandbox.

Every value is a string; an empty cell means null; nothing is coerced to NA. Array cells hold
comma-separated items, and an item that contains a comma or a quote is wrapped in double quotes
(its quotes doubled), so `["a,b", "c"]` is the cell `"a,b",c`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence

from emx2tui.emx2.errors import CsvFormatError

BOM = "\ufeff"


def split_array(cell: str | None) -> list[str]:
    """Items of an EMX2 array cell (quotes group items that contain commas)."""
    if cell is None:
        return []
    text = cell.strip()
    if not text:
        return []
    if '"' not in text:  # the common case: no item is quoted
        return [item for item in map(str.strip, text.split(",")) if item]
    items: list[str] = []
    buf: list[str] = []
    in_quotes = False
    i = 0
    while i < len(text):
        ch = text[i]
        if in_quotes:
            if ch == '"':
                if i + 1 < len(text) and text[i + 1] == '"':
                    buf.append('"')
                    i += 1
                else:
                    in_quotes = False
            else:
                buf.append(ch)
        elif ch == '"':
            in_quotes = True
        elif ch == ",":
            items.append("".join(buf).strip())
            buf = []
        else:
            buf.append(ch)
        i += 1
    items.append("".join(buf).strip())
    return [item for item in items if item != ""]


def join_array(items: Iterable[str]) -> str:
    """One EMX2 array cell from its items."""
    out = []
    for item in items:
        item = "" if item is None else str(item)
        if "," in item or '"' in item:
            out.append('"' + item.replace('"', '""') + '"')
        else:
            out.append(item)
    return ",".join(out)


def sniff_separator(header_line: str) -> str:
    """EMX2 picks `;` if the header has one, else TAB if it has one, else `,`."""
    if ";" in header_line:
        return ";"
    if "\t" in header_line:
        return "\t"
    return ","


def read_csv(data: str | bytes, *, what: str = "CSV") -> tuple[list[str], list[dict[str, str]]]:
    """Header and rows of a CSV body, read the way EMX2 reads uploads.

    A UTF-8 BOM is skipped, the separator is sniffed from the header line, unquoted values are
    trimmed, and fully empty rows are skipped. Cells missing at a row's end read as empty.
    """
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CsvFormatError(f"{what} is not UTF-8 text ({exc})") from exc
    if data.startswith(BOM):
        data = data[1:]
    if not data.strip():
        return [], []
    first_line = data.split("\n", 1)[0]
    sep = sniff_separator(first_line)
    reader = csv.reader(io.StringIO(data, newline=""), delimiter=sep, skipinitialspace=False)
    try:
        header = [h.strip() for h in next(reader)]
    except (StopIteration, csv.Error) as exc:
        raise CsvFormatError(f"{what} has no readable header ({exc})") from exc
    rows: list[dict[str, str]] = []
    width = len(header)
    try:
        for record in reader:
            if not record or all(not c.strip() for c in record):
                continue
            if len(record) < width:
                record = record + [""] * (width - len(record))
            rows.append({header[i]: record[i].strip() for i in range(width)})
    except csv.Error as exc:
        raise CsvFormatError(f"{what} line {reader.line_num}: {exc}") from exc
    return header, rows


def write_csv(header: Sequence[str], rows: Iterable[Mapping[str, object]], *, sep: str = ",") -> str:
    """A CSV body as EMX2 writes it: `\\n` line ends, minimal RFC 4180 quoting, None as empty."""
    return write_rows(header, ([row.get(h) for h in header] for row in rows), sep=sep)


def write_rows(header: Sequence[str], rows: Iterable[Sequence[object]], *, sep: str = ",") -> str:
    """As `write_csv`, from rows given as value sequences in the header's order."""
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=sep, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(header)
    writer.writerows(rows)  # the csv module writes None as empty and str() of other values
    return buf.getvalue()


TRUE_WORDS = {"true", "yes", "1"}
FALSE_WORDS = {"false", "no", "0"}


def parse_bool(value: str | None) -> bool | None:
    """EMX2's loose boolean: true/false/yes/no/1/0 in any case; empty is None."""
    if value is None:
        return None
    text = str(value).strip().lower()
    if text == "":
        return None
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise ValueError(f"Cannot cast value '{value}' to boolean")
