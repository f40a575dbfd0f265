"""History: past runs from the journal, with what they planned and how they ended; restore."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Header, Static
from textual.worker import Worker, get_current_worker

from emx2tui.ui.text import count, duration, short_path
from emx2tui.ui.widgets.footer import Footer
from emx2tui.ui.workers import ReportsWorkerErrors

if TYPE_CHECKING:
    from emx2tui.ui.app import Emx2App

OUTCOMES = {"ok": ("✔ ok", "green"), "failed": ("✖ failed", "red"),
            "cancelled": ("⊘ cancelled", "yellow"), "running": ("◐ running", "cyan")}
LIMIT = 500


class HistoryScreen(ReportsWorkerErrors, Screen[None]):
    app: "Emx2App"

    BINDINGS = [
        Binding("escape", "back", "Back", id="history-back", tooltip="Back to where you were"),
        Binding("R", "restore", "Restore", id="history-restore", key_display="shift+r",
                tooltip="Put the target back as it was before the highlighted run"),
        Binding("ctrl+r", "reload", "Reload", id="history-reload", tooltip="Read the journal again"),
    ]

    def __init__(self) -> None:
        super().__init__(id="history")
        self.records: dict[str, Any] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("[b]History[/b]  ·  every run that wrote (or meant to write) to a target",
                     id="history-title", markup=True)
        with Horizontal(id="history-body"):
            table: DataTable[Any] = DataTable(id="history-table", cursor_type="row",
                                              zebra_stripes=True)
            table.border_title = "Runs"
            yield table
            detail = Static("", id="history-detail")
            detail.border_title = "Run"
            yield detail
        yield Footer()

    def on_mount(self) -> None:
        # The job's name is long and comes last: on a narrow screen it is the one cut.
        self.query_one("#history-table", DataTable).add_columns(
            "Started", "Outcome", "+", "~", "-", "Target", "Job")
        self.action_reload()

    def action_reload(self) -> None:
        self.query_one("#history-table", DataTable).loading = True
        self.load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="history", name="history",
          description="Read the run journal")
    def load(self) -> None:
        records = self.app.journal.list_runs(limit=LIMIT)
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._fill, records)

    def _fill(self, records: list[Any]) -> None:
        table = self.query_one("#history-table", DataTable)
        table.loading = False
        table.clear()
        self.records = {r.run_id: r for r in records}
        for r in records:
            label, style = OUTCOMES.get(r.outcome, (r.outcome, ""))
            totals = r.totals
            job = r.strategy if r.kind == "run" else f"↶ {r.strategy}"
            table.add_row(r.started_local()[:16], Text(label, style=style),
                          count(totals["inserted"]), count(totals["updated"]),
                          count(totals["deleted"]), r.target.schema or "?", job, key=r.run_id)
        table.border_subtitle = f"{len(records)} runs" if records else ""
        detail = self.query_one("#history-detail", Static)
        if not records:
            detail.update(Text("No runs yet. Runs are journalled when they apply a job; dry runs "
                               "and previews are not.", style="dim"))
        else:
            self.show(records[0].run_id)

    def show_failure(self, worker: Worker, reason: str) -> None:
        self.query_one("#history-table", DataTable).loading = False
        self.query_one("#history-detail", Static).update(
            Text(f"Could not read the journal: {reason}", style="red"))

    @on(DataTable.RowHighlighted, "#history-table")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value:
            self.show(str(event.row_key.value))

    def highlighted(self) -> str | None:
        table = self.query_one("#history-table", DataTable)
        if not table.row_count:
            return None
        return str(table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value)

    def show(self, run_id: str) -> None:
        record = self.records.get(run_id)
        if record is None:
            return
        self.query_one("#history-detail", Static).update(describe_record(record))

    def action_back(self) -> None:
        self.dismiss(None)

    def action_restore(self) -> None:
        run_id = self.highlighted()
        if run_id is None:
            self.notify("No run to restore.", severity="warning")
            return
        self.app.restore_run(run_id)


def describe_record(r: Any) -> Text:
    """A run's record in words: what, where, how it ended, and per table what it did."""
    text = Text()
    label, style = OUTCOMES.get(r.outcome, (r.outcome, ""))
    text.append(f"{r.run_id}  ", style="bold")
    text.append(label + "\n", style=f"bold {style}")
    what = "Restore of run " + str(r.restores) if r.kind == "restore" else r.strategy
    text.append(f"{what}" + (f" · flow {r.flow}" if r.flow else "") + "\n")
    if r.source is not None:
        text.append("from   ", style="dim")
        text.append(f"{r.source.label}\n")
    text.append("to     ", style="dim")
    text.append(f"{r.target.label}\n")
    if r.resource_id:
        text.append("id     ", style="dim")
        text.append(f"{r.resource_id}\n")
    text.append("when   ", style="dim")
    took = f" · took {duration(r.duration)}" if r.duration is not None else ""
    who = f" · by {r.emx2_user or r.os_user}" if (r.emx2_user or r.os_user) else ""
    text.append(f"{r.started_local()}{took}{who}\n")
    if r.backup:
        text.append("backup ", style="dim")
        text.append(short_path(str(r.backup)) + "\n")
    if r.error:
        text.append("\nWhy it failed: ", style="bold red")
        text.append(str(r.error) + "\n", style="red")
        if r.atomic:
            text.append("The import is one transaction: the target was not changed.\n",
                        style="dim")
    if r.tables:
        text.append("\n")
        width = max(len(n) for n in r.tables) + 2
        text.append(f"{'table':<{width}}{'insert':>8}{'update':>8}{'same':>8}{'delete':>8}\n",
                    style="bold")
        for name, t in r.tables.items():
            c = t.counts()
            text.append(f"{name:<{width}}{count(c['inserted']):>8}{count(c['updated']):>8}"
                        f"{count(c['unchanged']):>8}{count(c['deleted']):>8}\n",
                        style="" if t.writes else "dim")
    if r.kind == "run":
        text.append("\nshift+r: put the target back as it was before this run", style="dim")
    return text
