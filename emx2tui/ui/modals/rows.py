"""A table's rows, fetched on demand and shown a page at a time."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label, Static
from textual.worker import Worker, WorkerState, get_current_worker

from emx2tui.ui.rowtext import PAGE, RowPage, frame_page
from emx2tui.ui.text import describe_error
from emx2tui.ui.widgets.footer import Footer


class RowsModal(ModalScreen[None]):
    """`loader` returns the engine's frame of the rows; this only pages through it."""

    BINDINGS = [
        Binding("escape,q", "close", "Close", id="rows-close", tooltip="Close the rows"),
        Binding("right_square_bracket", "page(1)", "Next page", id="rows-next",
                key_display="]", tooltip="Show the next page of rows"),
        Binding("left_square_bracket", "page(-1)", "Previous page", id="rows-previous",
                key_display="[", tooltip="Show the previous page of rows"),
    ]

    def __init__(self, title: str, loader: Callable[[], Awaitable[Any]]) -> None:
        super().__init__(id="rows-modal")
        self.title_text = title
        self.loader = loader
        self.frame: Any = None
        self.start = 0
        self.page: RowPage | None = None

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog -large"):
            yield Label(self.title_text, classes="dialog-heading")
            table: DataTable[Any] = DataTable(id="rows-table", zebra_stripes=True)
            yield table
            yield Static("Loading…", id="rows-status")
        yield Footer()  # the dialog's own keys, not those of the screen below

    def on_mount(self) -> None:
        self.query_one(DataTable).loading = True
        self.fetch()

    @work(exclusive=True, exit_on_error=False, group="fetch", name="fetch-rows",
          description="Download the rows of a table")
    async def fetch(self) -> None:
        self.frame = await self.loader()
        self.format_page(0)

    @work(thread=True, exclusive=True, exit_on_error=False, group="format", name="format-rows",
          description="Turn rows into text")
    def format_page(self, start: int) -> None:
        page = frame_page(self.frame, start, PAGE)
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show, page)

    def _show(self, page: RowPage) -> None:
        self.page = page
        self.start = page.start
        table = self.query_one(DataTable)
        table.clear(columns=True)
        table.add_columns(*page.columns)
        table.add_rows(page.rows)
        table.loading = False
        more = "  ·  ] next page, [ previous" if page.total > PAGE else ""
        self.query_one("#rows-status", Static).update(f"{page.describe()}{more}")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.query_one(DataTable).loading = False
            self.query_one("#rows-status", Static).update(
                f"✖ Could not load the rows: {describe_error(event.worker.error)}")

    def action_page(self, step: int) -> None:
        if self.page is None:
            return
        start = self.start + step * PAGE
        if 0 <= start < self.page.total:
            self.format_page(start)

    def action_close(self) -> None:
        self.dismiss(None)
