"""The keys of every screen, read from the bindings themselves so the list never goes stale."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from rich.table import Table
from textual.widgets import Label, Static


def _keys_table(bindings: list[Binding]) -> Table:
    table = Table(box=None, show_header=False, padding=(0, 2, 0, 0), expand=True)
    table.add_column("key", width=12, style="bold")
    table.add_column("action", ratio=1)
    seen: set[str] = set()
    for b in bindings:
        if b.action in seen or not (b.description or b.tooltip):
            continue
        seen.add(b.action)
        keys = b.key_display or " / ".join(k.strip() for k in b.key.split(","))
        table.add_row(keys, b.tooltip or b.description)
    return table


class HelpModal(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,f1,q", "close", "Close", id="help-close", tooltip="Close the help"),
    ]

    def __init__(self, sections: list[tuple[str, list[Binding]]]) -> None:
        super().__init__(id="help-modal")
        self.sections = sections

    def compose(self) -> ComposeResult:
        with Vertical(id="help-dialog"):
            yield Label("emx2tui keys", id="help-heading")
            yield Static(
                "Pick a source and a target schema and a job strategy, preview what will change, "
                "confirm the deletes, and watch each step run. ctrl+p opens the command palette.",
                id="help-intro")
            with VerticalScroll(id="help-body"):
                for title, bindings in self.sections:
                    yield Label(title, classes="help-section")
                    yield Static(_keys_table(bindings), classes="help-table")

    def action_close(self) -> None:
        self.dismiss(None)
