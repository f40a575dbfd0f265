"""Saved jobs: a strategy between two saved connections' schemas, to run again from a list."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Header, Static

from emx2tui.ui.widgets.footer import Footer

if TYPE_CHECKING:
    from emx2tui.ui.app import Emx2App


class JobsScreen(Screen[None]):
    app: "Emx2App"

    BINDINGS = [
        Binding("escape", "back", "Back", id="jobs-back", tooltip="Back to the schemas"),
        Binding("enter", "open", "Preview", id="job-open",
                tooltip="Open the highlighted job on the main screen and preview it"),
        Binding("delete,d", "remove", "Remove", id="job-remove",
                tooltip="Remove the highlighted saved job (asks first)"),
    ]

    def __init__(self) -> None:
        super().__init__(id="jobs")

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("[b]Saved jobs[/b]  ·  Enter previews the job again; save one from the "
                     "main screen with ctrl+s", id="jobs-title", markup=True)
        table: DataTable[Any] = DataTable(id="jobs-table", cursor_type="row", zebra_stripes=True)
        table.add_columns("Name", "Strategy", "Source", "Target", "Id")
        yield table
        yield Static("", id="jobs-status")
        yield Footer()

    def on_mount(self) -> None:
        self.fill()

    def fill(self) -> None:
        table = self.query_one("#jobs-table", DataTable)
        table.clear()
        for name, job in self.app.config.jobs.items():
            table.add_row(name, job.strategy, f"{job.source_schema or '?'} @ {job.source}",
                          f"{job.target_schema or '?'} @ {job.target}", job.resource_id or "",
                          key=name)
        self.query_one("#jobs-status", Static).update(
            "" if self.app.config.jobs else
            "No saved jobs yet. Pick a source, a target and a strategy on the main screen and "
            "press ctrl+s, or import an old .env with emx2tui --import-env FILE.")

    def highlighted(self) -> str | None:
        table = self.query_one("#jobs-table", DataTable)
        if not table.row_count:
            return None
        return str(table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value)

    @on(DataTable.RowSelected, "#jobs-table")
    def _selected(self) -> None:
        self.action_open()

    def action_back(self) -> None:
        self.dismiss(None)

    def action_open(self) -> None:
        name = self.highlighted()
        if name is None:
            return
        job = self.app.config.jobs[name]
        missing = [c for c in (job.source, job.target) if c not in self.app.config.connections]
        if missing:
            self.notify(f"The job uses connections that are gone: {', '.join(missing)}.",
                        severity="error")
            return
        self.dismiss(None)
        main = self.app.main_screen
        if main is not None:
            main.open_job(job)

    def action_remove(self) -> None:
        from emx2tui.ui.modals.confirm import ConfirmModal

        name = self.highlighted()
        if name is None:
            return
        self.app.push_screen(ConfirmModal("Remove saved job", f"Remove the saved job {name}?",
                                          confirm="Remove"),
                             callback=lambda yes: self._remove(name) if yes else None)

    def _remove(self, name: str) -> None:
        self.app.config.jobs.pop(name, None)
        self.app.save_config()
        self.fill()
