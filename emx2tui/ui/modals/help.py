"""The keys of every screen, read from the bindings themselves so the list never goes stale."""

from __future__ import annotations

from collections.abc import Mapping

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static


def key_text(binding: Binding, keymap: Mapping[str, str] | None = None) -> str:
    """The keys of a binding as shown to people, after the user's remapping."""
    keys = binding.key
    if keymap and binding.id and binding.id in keymap:
        keys = keymap[binding.id]
    elif binding.key_display:
        return binding.key_display
    return " / ".join(k.strip() for k in keys.split(","))


def _keys_table(bindings: list[Binding], keymap: Mapping[str, str] | None = None) -> Table:
    """Key, what it does, and the id to remap it by under [keys] in the config."""
    table = Table(box=None, show_header=False, padding=(0, 2, 0, 0), expand=True)
    table.add_column("key", width=14, style="bold")
    table.add_column("action", ratio=1)
    table.add_column("id", width=18, style="dim", no_wrap=True, overflow="ellipsis")
    seen: set[str] = set()
    for b in bindings:
        if b.action in seen or not (b.description or b.tooltip):
            continue
        seen.add(b.action)
        table.add_row(key_text(b, keymap), b.tooltip or b.description, b.id or "")
    return table


def dialog_sections() -> list[tuple[str, list[Binding]]]:
    """The keys of the dialogs, which the screens' sections do not cover."""
    from emx2tui.ui.modals.confirm import ConfirmModal
    from emx2tui.ui.modals.connection_form import ConnectionForm
    from emx2tui.ui.modals.restore import RestoreModal
    from emx2tui.ui.modals.rows import RowsModal

    return [(title, [b for b in bindings if isinstance(b, Binding)]) for title, bindings in (
        ("Connection form", ConnectionForm.BINDINGS),
        ("Rows of a table", RowsModal.BINDINGS),
        ("Restore dialog", RestoreModal.BINDINGS),
        ("Yes/no questions", ConfirmModal.BINDINGS),
        ("This help", HelpModal.BINDINGS),
    )]


class HelpModal(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,f1,q", "close", "Close", id="help-close", tooltip="Close the help"),
    ]

    def __init__(self, sections: list[tuple[str, list[Binding]]],
                 keymap: Mapping[str, str] | None = None, *, dialogs: bool = True) -> None:
        super().__init__(id="help-modal")
        titles = {title for title, _ in sections}
        self.sections = list(sections) + ([s for s in dialog_sections() if s[0] not in titles]
                                          if dialogs else [])
        self.keymap = dict(keymap or {})

    def compose(self) -> ComposeResult:
        with Vertical(id="help-dialog"):
            yield Label("emx2tui keys", id="help-heading")
            yield Static(
                "Pick a server and schema on each side and a job strategy, preview what will "
                "change, confirm the deletes, and watch each step run. Every run is journalled "
                "and can be restored from the history. ctrl+p opens the command palette. To remap "
                "a key, put its id (the grey column) in the [keys] table of the config file, "
                'e.g. preview = "f5".',
                id="help-intro", markup=False)
            with VerticalScroll(id="help-body"):
                for title, bindings in self.sections:
                    yield Label(title, classes="help-section")
                    yield Static(_keys_table(bindings, self.keymap), classes="help-table")

    def action_close(self) -> None:
        self.dismiss(None)
