"""Preview: plan the job, then show every table and row it will sync and delete."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Header, Label, ProgressBar, Static
from textual.worker import Worker, get_current_worker

from emx2tui.jobs.events import STEP_TITLES, Event, StepFinished, StepLog, StepProgress, StepStarted
from emx2tui.ui import collector
from emx2tui.ui.messages import EventRelay, JobEvent
from emx2tui.ui.rowtext import PAGE, RowPage, describe_changes, plan_page
from emx2tui.ui.text import FLOW_NAMES, attr, count, plural
from emx2tui.ui.widgets.footer import Footer
from emx2tui.ui.workers import ReportsWorkerErrors

if TYPE_CHECKING:
    from emx2tui.ui.app import Emx2App

LEGEND = Text.assemble(("+ insert", "bold green"), "  ", ("~ update", "bold yellow"), "  ",
                       ("= same", "dim"), "  ", ("- delete", "bold red"), "  ",
                       ("changed cell", "bold reverse"))


class PreviewScreen(ReportsWorkerErrors, Screen[None]):
    app: "Emx2App"

    class Planned(Message):
        """Posted after the plan's own events, so it is handled after all of them."""

        def __init__(self, plan: Any) -> None:
            super().__init__()
            self.plan = plan

    BINDINGS = [
        Binding("escape", "back", "Back", id="preview-back", tooltip="Back to the schemas"),
        Binding("r", "run", "Run…", id="run",
                tooltip="Run the job (asks first when rows will be deleted)"),
        Binding("s", "focus_sync", "Sync tables", id="show-sync",
                tooltip="Show the tables to sync and their rows"),
        Binding("d", "focus_delete", "Delete tables", id="show-delete",
                tooltip="Show the tables with rows to delete and those rows"),
        Binding("w", "focus_rows", "Rows", id="focus-rows",
                tooltip="Move into the rows of the highlighted table"),
        Binding("right_square_bracket", "page(1)", "Next rows", id="preview-next",
                key_display="]", tooltip="Show the next page of rows"),
        Binding("left_square_bracket", "page(-1)", "Previous rows", id="preview-previous",
                show=False, key_display="[", tooltip="Show the previous page of rows"),
    ]

    def __init__(self, job: Any, strategy: Any, *, source: str, target: str,
                 resource_id: str | None = None) -> None:
        super().__init__(id="preview")
        self.job = job
        self.strategy = strategy
        self.source = source
        self.target = target
        self.resource_id = resource_id
        self.plan: Any | None = None
        self.error: str | None = None
        self.events: list[Event] = []
        self.shown: tuple[str, str] | None = None  # (kind, table) in the rows view
        self.filter_text = ""
        self.page: RowPage | None = None

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        yield Header()
        flow = attr(self.strategy, "flow", "?")
        yield Static(
            f"[b]{attr(self.strategy, 'title') or self.strategy.name}[/b]  ·  "
            f"{FLOW_NAMES.get(flow, 'Flow ' + str(flow))}  ·  "
            f"[b]{self.source}[/b] → [b]{self.target}[/b]",
            id="preview-title", markup=True)
        with Horizontal(id="plan-progress"):
            yield ProgressBar(total=None, show_eta=False, id="plan-bar")
            yield Label("Planning…", id="plan-status")
        yield Static("", id="plan-warnings")
        with Horizontal(id="plan-body"):
            with Vertical(id="plan-tables"):
                sync: DataTable[Any] = DataTable(id="sync-tables", cursor_type="row",
                                                 zebra_stripes=True)
                sync.border_title = "Tables to sync"
                yield sync
                delete: DataTable[Any] = DataTable(id="delete-tables", cursor_type="row",
                                                   zebra_stripes=True)
                delete.border_title = "Tables to delete"
                yield delete
            with Vertical(id="plan-right"):
                rows: DataTable[Any] = DataTable(id="plan-rows", cursor_type="row",
                                                 zebra_stripes=True)
                rows.border_title = "Rows"
                yield rows
                yield Static(LEGEND, id="row-detail")
        yield Footer()

    def on_mount(self) -> None:
        sync = self.query_one("#sync-tables", DataTable)
        sync.add_columns("Table", "Rows", "Insert", "Update", "Same", "!")
        delete = self.query_one("#delete-tables", DataTable)
        delete.add_columns("Table", "Delete")
        self.query_one("#plan-warnings", Static).display = False
        self.query_one("#plan-body").loading = True
        self.make_plan()

    # --------------------------------------------------------------- planning
    def _emit(self, event: Event) -> None:
        self.post_message(JobEvent(event))

    @work(thread=True, exclusive=True, exit_on_error=False, group="plan", name="plan",
          description="Plan the job")
    async def make_plan(self) -> Any:
        # A thread of its own with its own event loop: the engine's CSV parsing and diffs must
        # not hold up the interface. Events come back by post_message, which is thread-safe.
        relay = EventRelay(self)
        try:
            with collector.collector_paused():
                plan = await self.job.plan(relay)
        except BaseException:
            relay.flush()
            self.post_message(self.Planned(None))
            raise
        relay.flush()
        self.post_message(self.Planned(plan))
        return plan

    @on(Planned)
    def _planned(self, message: Planned) -> None:
        self.query_one("#plan-body").loading = False
        self.show_plan(message.plan)

    @on(JobEvent)
    def _job_event(self, message: JobEvent) -> None:
        event = message.event
        self.events.append(event)
        if self.plan is not None:
            return
        status = self.query_one("#plan-status", Label)
        bar = self.query_one("#plan-bar", ProgressBar)
        if isinstance(event, StepStarted):
            bar.update(total=event.total, progress=0)
            status.update(f"{STEP_TITLES.get(event.step, event.step)}…")
        elif isinstance(event, StepProgress):
            bar.update(total=event.total, progress=event.done)
            where = f" · {event.table}" if event.table else ""
            status.update(f"{STEP_TITLES.get(event.step, event.step)}: "
                          f"{count(event.done)} {event.unit}{where}")
        elif isinstance(event, StepLog):
            status.update(event.message)
        elif isinstance(event, StepFinished) and event.summary:
            status.update(event.summary)

    def show_failure(self, worker: Worker, reason: str) -> None:
        """Called by the app's single worker-error handler."""
        if worker.group != "plan":
            return
        self.error = reason
        bar = self.query_one("#plan-bar", ProgressBar)
        bar.update(total=1, progress=0)
        status = self.query_one("#plan-status", Label)
        status.update(f"✖ Planning failed: {reason}")
        status.add_class("-error")

    def show_plan(self, plan: Any) -> None:
        if plan is None or plan is self.plan:
            return
        self.plan = plan
        bar = self.query_one("#plan-bar", ProgressBar)
        bar.update(total=1, progress=1)
        n_sync, n_del = len(plan.sync), len([t for t in plan.delete if _deletes(t)])
        status = self.query_one("#plan-status", Label)
        status.update(
            f"✔ {plural(plan.total_sync_rows, 'row')} in {plural(n_sync, 'table')} to sync · "
            f"{plural(plan.total_delete_rows, 'row')} in {plural(n_del, 'table')} to delete"
            + ("" if attr(plan, "atomic", True) else " · not atomic"))
        rid = attr(plan, "resource_id")
        if rid:
            self.resource_id = rid
            self.sub_title = f"{self.source} → {self.target} · {rid}"
        self._show_warnings(plan)
        sync = self.query_one("#sync-tables", DataTable)
        sync.clear()
        for t in plan.sync:
            changes = (attr(t, "inserts") or 0) + (attr(t, "updates") or 0)
            cleared = attr(t, "cleared") or {}
            mark = Text("!", style="bold yellow") if cleared else Text("")
            sync.add_row(*_cells(t.table, attr(t, "rows"), attr(t, "inserts"), attr(t, "updates"),
                                 attr(t, "unchanged"), quiet=not changes), mark, key=t.table)
        sync.border_subtitle = f"{plural(n_sync, 'table')} · {plural(plan.total_sync_rows, 'row')}"
        delete = self.query_one("#delete-tables", DataTable)
        delete.clear()
        # Only the tables the run deletes from; those checked and found empty are counted.
        deleting = [t for t in plan.delete if _deletes(t)]
        for t in deleting:
            delete.add_row(*_cells(t.table, _deletes(t)), key=t.table)
        none = len(plan.delete) - len(deleting)
        delete.border_subtitle = (f"{plural(n_del, 'table')} · "
                                  f"{plural(plan.total_delete_rows, 'row')}"
                                  + (f" · {none} with nothing to delete not shown" if none else ""))
        delete.display = bool(plan.delete) or attr(self.strategy, "flow") == "B"
        if plan.sync:
            sync.focus()
            self.show_rows("sync", plan.sync[0].table)
        elif deleting:
            delete.focus()
            self.show_rows("delete", deleting[0].table)
        else:
            self.query_one("#plan-rows", DataTable).border_title = "Nothing to sync"

    def _show_warnings(self, plan: Any) -> None:
        """Broken references (the run is refused), columns an upsert would clear, other warnings."""
        text = Text()
        broken = list(attr(plan, "broken") or [])
        if broken:
            text.append(f"✖ {plural(len(broken), 'broken reference')}: the run is refused until "
                        "they are fixed in the source or the target.\n", style="bold red")
            for b in broken[:5]:
                text.append(f"  {b}\n", style="red")
            if len(broken) > 5:
                text.append(f"  … {len(broken) - 5} more\n", style="red")
        warnings = list(attr(plan, "warnings") or [])
        for t in plan.sync:
            cleared = attr(t, "cleared") or {}
            said = any(t.table in w and all(c in w for c in cleared) for w in warnings)
            if cleared and not said:
                cols = ", ".join(f"{c} ({n})" for c, n in cleared.items())
                warnings.append(f"{t.table}: the upsert would clear values of {cols}")
        if not attr(plan, "atomic", True):
            warnings.append("This run is not one transaction: a failure part way leaves the "
                            "target half updated (the backup can restore it).")
        for w in warnings:
            text.append(f"! {w}\n")
        for note in list(attr(plan, "notes") or [])[:3]:
            text.append(f"· {note}\n", style="dim")
        box = self.query_one("#plan-warnings", Static)
        text.rstrip()
        box.update(text)
        box.display = bool(text.plain)
        box.set_class(bool(broken), "-broken")

    # -------------------------------------------------------------- rows view
    def _table_plan(self, kind: str, table: str) -> Any | None:
        if self.plan is None:
            return None
        for t in (self.plan.sync if kind == "sync" else self.plan.delete):
            if t.table == table:
                return t
        return None

    def show_rows(self, kind: str, table: str, start: int = 0) -> None:
        if self.shown == (kind, table) and start == (self.page.start if self.page else 0):
            return
        self.shown = (kind, table)
        sync_plan = self._table_plan("sync", table)
        delete_plan = self._table_plan("delete", table)
        plan = sync_plan if kind == "sync" else delete_plan
        rows = self.query_one("#plan-rows", DataTable)
        rows.border_title = f"{'Rows to sync' if kind == 'sync' else 'Rows to delete'} · {table}"
        where = attr(plan, "filter_text")
        self.filter_text = f"where {where}" if where else "all rows"
        rows.border_subtitle = ""
        rows.loading = True
        if kind == "delete":
            sync_plan = None
        self.load_rows(kind, table, sync_plan, delete_plan, start)

    @work(thread=True, exclusive=True, exit_on_error=False, group="rows", name="rows",
          description="Turn a table's rows into text")
    def load_rows(self, kind: str, table: str, sync_plan: Any, delete_plan: Any,
                  start: int = 0) -> None:
        page = plan_page(sync_plan, delete_plan, start, PAGE)
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._fill_rows, kind, table, page)

    def _fill_rows(self, kind: str, table: str, page: RowPage) -> None:
        if self.shown != (kind, table):
            return
        self.page = page
        view = self.query_one("#plan-rows", DataTable)
        view.clear(columns=True)
        view.add_columns(*page.columns)
        view.add_rows(page.rows)
        view.loading = False
        counts = " · ".join(f"{count(n)} {a if a != 'unchanged' else 'same'}"
                            for a, n in page.counts.items() if a)
        more = "  ] [ pages" if page.total > PAGE else ""
        view.border_subtitle = f"{self.filter_text} · {page.describe()}" + (
            f" · {counts}" if counts else "") + more
        self.query_one("#row-detail", Static).update(LEGEND)

    @on(DataTable.RowHighlighted, "#plan-rows")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        detail = self.query_one("#row-detail", Static)
        page = self.page
        if page is None or not (0 <= event.cursor_row < len(page.changes)):
            return
        changed = page.changes[event.cursor_row]
        detail.update(describe_changes(changed) if changed else LEGEND)

    def action_page(self, step: int) -> None:
        if self.page is None or self.shown is None:
            return
        start = self.page.start + step * PAGE
        if 0 <= start < self.page.total:
            kind, table = self.shown
            self.shown = None
            self.show_rows(kind, table, start)

    @on(DataTable.RowHighlighted, "#sync-tables")
    def _sync_highlighted(self, event: DataTable.RowHighlighted) -> None:
        # Filling a table highlights its first row too; only the focused table drives the view.
        if event.row_key.value and event.data_table.has_focus:
            self.show_rows("sync", str(event.row_key.value))

    @on(DataTable.RowHighlighted, "#delete-tables")
    def _delete_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value and event.data_table.has_focus:
            self.show_rows("delete", str(event.row_key.value))

    @on(DataTable.RowSelected, "#sync-tables")
    @on(DataTable.RowSelected, "#delete-tables")
    def _table_selected(self) -> None:
        self.query_one("#plan-rows", DataTable).focus()

    # ---------------------------------------------------------------- actions
    def action_back(self) -> None:
        if self.plan is None and self.error is None:
            # The plan runs in a thread: ask the engine to stop at its next table.
            cancel = getattr(self.job, "cancel", None)
            if callable(cancel):
                cancel()
        self.workers.cancel_group(self, "plan")
        self.dismiss(None)

    def action_focus_sync(self) -> None:
        table = self.query_one("#sync-tables", DataTable)
        table.focus()
        if self.plan is not None and table.row_count:
            key = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
            self.show_rows("sync", str(key))

    def action_focus_delete(self) -> None:
        table = self.query_one("#delete-tables", DataTable)
        if not table.display:
            self.notify("This job deletes nothing.", severity="information")
            return
        table.focus()
        if self.plan is not None and table.row_count:
            key = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
            self.show_rows("delete", str(key))

    def action_focus_rows(self) -> None:
        self.query_one("#plan-rows", DataTable).focus()

    def action_run(self) -> None:
        from emx2tui.ui.modals.confirm_delete import ConfirmDeleteModal

        if self.plan is None:
            self.notify(self.error or "The plan is not ready yet.", title="Run",
                        severity="warning")
            return
        broken = list(attr(self.plan, "broken") or [])
        if broken:
            self.notify(f"{plural(len(broken), 'broken reference')} in the plan: the run would be "
                        "refused. Fix them, then preview again.", title="Run",
                        severity="error")
            return
        if not self.plan.total_sync_rows and not self.plan.has_deletes:
            self.notify("Nothing to do: the plan has no rows to sync or delete.", title="Run",
                        severity="warning")
            return
        if self.plan.has_deletes:
            # no cycle collection while the question is up and the run screen comes: a pass
            # over the plan's rows would stop the dialog and the run screen's first drawing
            collector.pause()
            self.app.push_screen(
                ConfirmDeleteModal(self.plan.delete, target=self.target,
                                   resource_id=self.resource_id),
                callback=self._confirmed)
        else:
            self._start_run()

    def _confirmed(self, confirmed: bool | None) -> None:
        try:
            if confirmed:
                self._start_run()  # the run screen holds the collector from here
            else:
                self.notify("Nothing was deleted.", title="Run cancelled", timeout=3)
        finally:
            collector.resume()

    def _start_run(self) -> None:
        from emx2tui.ui.screens.run import RunScreen

        self.app.switch_screen(RunScreen(self.job, self.plan, self.strategy,
                                         source=self.source, target=self.target,
                                         resource_id=self.resource_id,
                                         plan_events=list(self.events)))


def _cells(name: str, *numbers: int | None, quiet: bool = False) -> list[Text]:
    """A row of a plan table; rows where nothing changes are dimmed."""
    style = "dim" if quiet else ""
    return [Text(name, style=style)] + [Text(count(n), style=style)
                                        for n in numbers]


def _deletes(table_plan: Any) -> int | None:
    deletes = attr(table_plan, "deletes")
    return deletes if deletes is not None else attr(table_plan, "rows")
