"""Editing one cell of an engine frame, for tests that corrupt or change a planned row."""

from __future__ import annotations

from emx2tui.emx2.frames import Frame


def with_cell(frame: Frame, row: int, column: str, value: str) -> Frame:
    """A copy of `frame` with one cell changed."""
    records = frame.records()
    records[row][column] = value
    return Frame(frame.columns, [tuple(r[c] for c in frame.columns) for r in records])
