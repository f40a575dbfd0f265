"""Ask before anything is deleted: every table and count, and the cohort or network id typed in.

Focus starts on Cancel; Escape cancels. The delete button only works once the id typed matches
the id the plan deletes (or, for a plan without one, the target schema's name)."""

from __future__ import annotations

from typing import Any

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Input, Label, Static

from emx2tui.ui.text import attr, count, plural
from emx2tui.ui.widgets.footer import Footer


class ConfirmDeleteModal(ModalScreen[bool]):
    """Dismisses with True only when the id is typed and the delete button is pressed."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="confirm-cancel",
                tooltip="Go back without deleting anything"),
    ]

    def __init__(self, delete_tables: list[Any], *, target: str = "the target",
                 resource_id: str | None = None) -> None:
        super().__init__(id="confirm-delete-modal")
        self.delete_tables = [t for t in delete_tables if _rows(t) > 0]
        self.target = target
        self.resource_id = resource_id
        self.expected = resource_id or target
        self.total = sum(_rows(t) for t in self.delete_tables)

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-dialog"):
            yield Label("Delete rows before the upload?", id="confirm-heading")
            whose = f" of [b]{self.resource_id}[/b]" if self.resource_id else ""
            yield Static(
                f"This run deletes [b]{plural(self.total, 'row')}[/b]{whose} in "
                f"[b]{plural(len(self.delete_tables), 'table')}[/b] of [b]{self.target}[/b]. "
                "The target is backed up first, and the deletes and the upload go to the server "
                "as one transaction.",
                id="confirm-text", markup=True)
            table: DataTable[Any] = DataTable(id="confirm-tables", cursor_type="none",
                                              zebra_stripes=True)
            table.can_focus = False
            table.add_column("Table", key="table")
            table.add_column("Rows to delete", key="rows")
            table.add_column("Filter", key="filter")
            for t in self.delete_tables:
                table.add_row(t.table, count(_rows(t)), attr(t, "filter_text") or "", key=t.table)
            yield table
            what = "cohort or network id" if self.resource_id else "target schema's name"
            yield Label(f"To confirm, type the {what}: [b]{self.expected}[/b]",
                        id="confirm-prompt", markup=True)
            yield Input(placeholder=self.expected, id="confirm-id", select_on_focus=False)
            with Horizontal(id="confirm-buttons"):
                yield Button("Cancel", id="cancel", variant="primary")
                yield Button(f"Delete {plural(self.total, 'row')}", id="confirm",
                             variant="error", disabled=True)
        yield Footer()  # the dialog's own keys, not those of the screen below

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def on_key(self, event: events.Key) -> None:
        """Typing while a button has focus goes into the id field (Cancel keeps Enter)."""
        box = self.query_one("#confirm-id", Input)
        if event.is_printable and event.character and not box.has_focus:
            event.stop()
            event.prevent_default()
            box.focus()
            box.insert_text_at_cursor(event.character)

    @property
    def typed_ok(self) -> bool:
        return self.query_one("#confirm-id", Input).value.strip() == self.expected

    @on(Input.Changed, "#confirm-id")
    def _typed(self) -> None:
        self.query_one("#confirm", Button).disabled = not self.typed_ok

    @on(Input.Submitted, "#confirm-id")
    def _submitted(self) -> None:
        if self.typed_ok:
            self.dismiss(True)
        else:
            self.notify(f"Type {self.expected} exactly to delete, or press Escape.",
                        severity="warning", timeout=3)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "confirm":
            if self.typed_ok:
                self.dismiss(True)
            return
        self.dismiss(False)

    def action_cancel(self) -> None:
        self.dismiss(False)


def _rows(table_plan: Any) -> int:
    deletes = attr(table_plan, "deletes")
    return int(deletes if deletes is not None else attr(table_plan, "rows", 0) or 0)
