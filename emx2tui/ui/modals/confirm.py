"""A yes/no question before something that cannot be taken back. Focus starts on the safe answer."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from emx2tui.ui.widgets.footer import Footer


class ConfirmModal(ModalScreen[bool]):
    """Dismisses with True only on the confirm button or `y`; Escape, `n` and Cancel say no."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="ask-cancel", tooltip="Answer no"),
        Binding("n", "cancel", "No", show=False, id="ask-no"),
        Binding("y", "confirm", "Yes", id="ask-yes", tooltip="Answer yes"),
    ]

    def __init__(self, title: str, body: str | Text, *, confirm: str = "Yes",
                 cancel: str = "Cancel", danger: bool = True, id: str | None = "confirm-modal"
                 ) -> None:
        super().__init__(id=id)
        self.title_text = title
        self.body = body
        self.confirm_label = confirm
        self.cancel_label = cancel
        self.danger = danger

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog" + (" -danger" if self.danger else "")):
            yield Label(self.title_text, classes="dialog-heading")
            yield Static(self.body, classes="dialog-body")
            with Horizontal(classes="dialog-buttons"):
                yield Button(self.cancel_label, id="cancel", variant="primary")
                yield Button(f"{self.confirm_label} (y)", id="confirm",
                             variant="error" if self.danger else "success")
        yield Footer()  # the dialog's own keys, not those of the screen below

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def set_body(self, body: str | Text) -> None:
        """Change the text while the question is open (the state it describes moved on)."""
        self.body = body
        if self.is_mounted:
            self.query_one(".dialog-body", Static).update(body)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "confirm")

    def action_cancel(self) -> None:
        self.dismiss(False)

    def action_confirm(self) -> None:
        self.dismiss(True)
