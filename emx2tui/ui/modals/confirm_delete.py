"""Ask before anything is deleted: every table and row count, Cancel focused."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Label, Static

from emx2tui.ui.text import attr, count, plural


class ConfirmDeleteModal(ModalScreen[bool]):
    """Dismisses with True only on an explicit confirm (button or `y`)."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="confirm-cancel",
                tooltip="Go back without deleting anything"),
        Binding("n", "cancel", "No", show=False, id="confirm-no"),
        Binding("y", "confirm", "Yes, delete", id="confirm-delete",
                tooltip="Delete these rows and run the job"),
    ]

    def __init__(self, delete_tables: list[Any], *, target: str = "the target",
                 resource_id: str | None = None) -> None:
        super().__init__(id="confirm-delete-modal")
        self.delete_tables = [t for t in delete_tables if _rows(t) > 0]
        self.target = target
        self.resource_id = resource_id
        self.total = sum(_rows(t) for t in self.delete_tables)

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-dialog"):
            yield Label("Delete rows before the upload?", id="confirm-heading")
            whose = f" of [b]{self.resource_id}[/b]" if self.resource_id else ""
            yield Static(
                f"This run deletes [b]{plural(self.total, 'row')}[/b]{whose} in "
                f"[b]{plural(len(self.delete_tables), 'table')}[/b] of [b]{self.target}[/b]. "
                "The target is backed up first.",
                id="confirm-text", markup=True)
            table: DataTable[Any] = DataTable(id="confirm-tables", cursor_type="none",
                                              zebra_stripes=True)
            table.add_column("Table", key="table")
            table.add_column("Rows to delete", key="rows")
            table.add_column("Filter", key="filter")
            for t in self.delete_tables:
                table.add_row(t.table, count(_rows(t)), attr(t, "filter_text") or "", key=t.table)
            yield table
            with Horizontal(id="confirm-buttons"):
                yield Button("Cancel", id="cancel", variant="primary")
                yield Button(f"Delete {plural(self.total, 'row')} (y)", id="confirm", variant="error")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "confirm")

    def action_cancel(self) -> None:
        self.dismiss(False)

    def action_confirm(self) -> None:
        self.dismiss(True)


def _rows(table_plan: Any) -> int:
    deletes = attr(table_plan, "deletes")
    return int(deletes if deletes is not None else attr(table_plan, "rows", 0) or 0)
