"""Ask for one line of text: a name for a saved job, or a password that is not saved."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from emx2tui.ui.widgets.footer import Footer


class PromptModal(ModalScreen["str | None"]):
    """Dismisses with the text typed (Enter or the OK button), or None on Escape / Cancel."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="prompt-cancel", tooltip="Go back")]

    def __init__(self, title: str, body: str, value: str = "", *, ok: str = "OK",
                 password: bool = False, placeholder: str = "", id: str | None = None) -> None:
        super().__init__(id=id)
        self.title_text = title
        self.body = body
        self.value = value
        self.ok = ok
        self.password = password
        self.placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-heading")
            yield Static(self.body, classes="dialog-body")
            yield Input(value=self.value, password=self.password, placeholder=self.placeholder,
                        id="prompt-value")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel")
                yield Button(self.ok, id="ok", variant="primary")
        yield Footer()  # the dialog's own keys, not those of the screen below

    def on_mount(self) -> None:
        self.query_one("#prompt-value", Input).focus()

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self._ok()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "ok":
            self._ok()
        else:
            self.dismiss(None)

    def _ok(self) -> None:
        value = self.query_one("#prompt-value", Input).value
        value = value if self.password else value.strip()
        if value:
            self.dismiss(value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class NameModal(PromptModal):
    """A short name (for a saved job)."""

    def __init__(self, title: str, body: str, value: str = "") -> None:
        super().__init__(title, body, value, ok="Save", id="name-modal")


class SecretModal(PromptModal):
    """A password or token for this session only: nothing is written to disk."""

    def __init__(self, server: str, kind: str = "password", hint: str = "") -> None:
        body = (f"The {kind} is used for this session only and is not written to disk. "
                f"{hint}").strip()
        super().__init__(f"Sign in to {server}", body, ok="Sign in", password=True,
                         placeholder=kind, id="secret-modal")
