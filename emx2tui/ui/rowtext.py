"""Turn engine frames into rows of text for a DataTable, one page at a time.

Runs in thread workers: the frames come from the engine, this only reads them. Each row gets a
leading mark saying what the job does with it, and changed cells are highlighted."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.text import Text

PAGE = 500
CELL_WIDTH = 40

MARKS = {"insert": "+ insert", "update": "~ update", "unchanged": "= same", "delete": "- delete"}
# Rich styles (the DataTable renders Rich Text): colours that read on light and dark themes.
ROW_STYLES = {"insert": "green", "update": "yellow", "unchanged": "dim", "delete": "red"}
CHANGED = "bold reverse"


def cell_text(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    text = str(value).replace("\n", " ")
    return text if len(text) <= CELL_WIDTH else text[: CELL_WIDTH - 1] + "…"


@dataclass
class RowPage:
    """One page of rows, ready for DataTable.add_rows."""

    columns: list[str]
    rows: list[list[Text]]
    total: int
    start: int
    counts: dict[str, int] = field(default_factory=dict)  # action -> rows in the whole view
    changes: list[dict[str, tuple[str, str]]] = field(default_factory=list)  # per row on the page

    @property
    def end(self) -> int:
        return self.start + len(self.rows)

    def describe(self) -> str:
        if self.total == 0:
            return "no rows"
        if self.start == 0 and self.end >= self.total:
            return f"{self.total:,} row{'' if self.total == 1 else 's'}"
        return f"rows {self.start + 1:,}–{self.end:,} of {self.total:,}"


def _keys(frame: Any, key_columns: list[str]) -> list[tuple[str, ...]]:
    if not key_columns or not all(k in frame.columns for k in key_columns):
        return []
    try:
        from emx2tui.jobs.plan import row_keys

        return [tuple(k) for k in row_keys(frame, key_columns)]
    except Exception:  # a frame the engine's key reader does not accept: no cell highlights
        return [tuple(str(v) for v in values) for values in frame.tuples(key_columns)]


def plan_page(sync_plan: Any, delete_plan: Any, start: int = 0, limit: int = PAGE) -> RowPage:
    """The rows of one table of a plan: its synced rows with their actions, then the rows the
    job deletes, with changed cells of updated rows highlighted."""
    parts: list[tuple[Any, list[str]]] = []
    key_columns: list[str] = []
    changes: dict[tuple[str, ...], dict[str, tuple[str, str]]] = {}
    if sync_plan is not None:
        frame = getattr(sync_plan, "frame", None)
        if frame is not None and len(frame.columns):
            actions = list(getattr(sync_plan, "actions", None) or [])
            if len(actions) != len(frame):
                actions = [""] * len(frame)
            parts.append((frame, actions))
        key_columns = list(getattr(sync_plan, "key_columns", None) or [])
        changes = dict(getattr(sync_plan, "changes", None) or {})
    if delete_plan is not None:
        frame = getattr(delete_plan, "deleted_frame", None)
        if frame is None or not len(frame.columns):
            frame = getattr(delete_plan, "frame", None)
        deletes = getattr(delete_plan, "deletes", None)
        if frame is not None and len(frame.columns) and (deletes is None or deletes):
            parts.append((frame, ["delete"] * len(frame)))
        key_columns = key_columns or list(getattr(delete_plan, "key_columns", None) or [])
    columns: list[str] = []
    for frame, _ in parts:
        for c in frame.columns:
            if str(c) not in columns:
                columns.append(str(c))
    counts: dict[str, int] = {}
    for _, actions in parts:
        for a in actions:
            counts[a] = counts.get(a, 0) + 1
    total = sum(len(f) for f, _ in parts)
    rows: list[list[Text]] = []
    row_changes: list[dict[str, tuple[str, str]]] = []
    offset = 0
    for frame, actions in parts:
        n = len(frame)
        lo, hi = max(start - offset, 0), min(start + limit - offset, n)
        if lo < hi:
            window = frame.slice(lo, hi)
            keys = _keys(window, key_columns) if changes else []
            cols = [str(c) for c in frame.columns]
            for i, values in enumerate(window.tuples()):
                action = actions[lo + i]
                changed = changes.get(keys[i], {}) if keys and action == "update" else {}
                row_changes.append(changed)
                by_col = dict(zip(cols, values))
                rows.append(_row(action, [by_col.get(c) for c in columns], columns, changed))
        offset += n
    return RowPage(["", *columns], rows, total, start, counts, row_changes)


def frame_page(frame: Any, start: int = 0, limit: int = PAGE) -> RowPage:
    """A page of any frame of rows, without actions."""
    if frame is None:
        return RowPage([], [], 0, start)
    window = frame.slice(start, start + limit)
    rows = [[Text(cell_text(v)) for v in values] for values in window.tuples()]
    return RowPage([str(c) for c in frame.columns], rows, len(frame), start)


def _row(action: str, values: list[Any], columns: list[str],
         changed: dict[str, tuple[str, str]]) -> list[Text]:
    label = MARKS.get(action, action)
    style = ROW_STYLES.get(action, "")
    cells = [Text(label, style=f"bold {style}".strip())]
    for column, value in zip(columns, values):
        if column in changed:
            cells.append(Text(cell_text(value), style=f"{CHANGED} {style}".strip()))
        else:
            cells.append(Text(cell_text(value), style="" if action == "update" else style))
    return cells


def describe_changes(changed: dict[str, tuple[str, str]]) -> Text:
    """'email: a@x → b@x; name: …' for the detail line under the rows."""
    text = Text()
    for i, (column, (old, new)) in enumerate(changed.items()):
        if i:
            text.append("   ")
        text.append(f"{column}: ", style="bold")
        text.append(cell_text(old) or "(empty)", style="red")
        text.append(" → ")
        text.append(cell_text(new) or "(empty)", style="green")
    return text
