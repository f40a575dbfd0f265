"""What a restore will change, and the question whether to go ahead."""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Label, Static

from emx2tui.ui.widgets.footer import Footer


class RestoreModal(ModalScreen["bool | None"]):
    """Dismisses with None (cancel) or with `force`: False, or True when rows changed since
    the run and the user ticked that the restored rows should win."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="restore-cancel",
                        tooltip="Go back without restoring")]

    def __init__(self, plan: Any) -> None:
        super().__init__(id="restore-modal")
        self.plan = plan
        self.empty = bool(getattr(plan, "is_empty", False))
        self.needs_force = bool(getattr(plan, "needs_force", False))

    def compose(self) -> ComposeResult:
        record = getattr(self.plan, "record", None)
        run_id = getattr(record, "run_id", "?")
        with Vertical(classes="dialog -wide -danger"):
            yield Label(f"Restore the target to before run {run_id}?", classes="dialog-heading")
            with VerticalScroll(id="restore-body"):
                yield Static("\n".join(self.plan.describe()), id="restore-text", markup=False)
            if self.needs_force:
                yield Checkbox("Restore anyway: the rows from before the run win over changes "
                               "made since", id="restore-force")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Close" if self.empty else "Cancel", id="cancel", variant="primary")
                if not self.empty:
                    yield Button("Restore", id="restore", variant="error",
                                 disabled=self.needs_force)
        yield Footer()  # the dialog's own keys, not those of the screen below

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    @on(Checkbox.Changed, "#restore-force")
    def _forced(self, event: Checkbox.Changed) -> None:
        self.query_one("#restore", Button).disabled = not event.value

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "restore":
            self.dismiss(self.needs_force)
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
