"""The main screen: source and target side by side, the strategies, and Preview."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Button, Header, Input

from emx2tui.ui.connect import with_schema
from emx2tui.ui.widgets.footer import Footer
from emx2tui.ui.widgets.schema_pane import SchemaPane
from emx2tui.ui.widgets.strategy_picker import StrategyPicker
from emx2tui.ui.workers import ReportsWorkerErrors

if TYPE_CHECKING:
    from emx2tui.config import SavedJob
    from emx2tui.ui.app import Emx2App


class MainScreen(ReportsWorkerErrors, Screen[None]):
    app: "Emx2App"

    # The strategy list does not swallow letters (the filters and the id field take typing).
    AUTO_FOCUS = "#strategies"
    # Short or narrow terminals: the strategies take less room, so the tables keep some.
    VERTICAL_BREAKPOINTS = [(0, "-short"), (36, "-tall")]
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]

    BINDINGS = [
        Binding("p", "preview", "Preview", id="preview",
                tooltip="Plan the job and show which tables and rows will be synced and deleted"),
        Binding("ctrl+r", "reload", "Reload", id="reload",
                tooltip="Reload the schemas and their row counts"),
        Binding("c", "connections", "Connections", id="connections",
                tooltip="Add, edit, test and remove servers"),
        Binding("o", "jobs", "Saved jobs", id="saved-jobs",
                tooltip="Run a saved job again (strategy, source and target)"),
        Binding("ctrl+s", "save_job", "Save job", id="save-job", show=False,
                tooltip="Save this strategy, source and target as a job"),
        Binding("h", "history", "History", id="history",
                tooltip="Past runs, their plans and outcomes, and restore"),
        Binding("s", "focus_source", "Source", id="focus-source", show=False,
                tooltip="Filter and pick the source schema"),
        Binding("t", "focus_target", "Target", id="focus-target", show=False,
                tooltip="Filter and pick the target schema"),
        Binding("j", "focus_strategy", "Strategy", id="focus-strategy", show=False,
                tooltip="Pick the job strategy"),
        Binding("escape", "leave_filter", "Leave filter", id="leave-filter", show=False,
                tooltip="Clear the schema filter, or leave it"),
    ]

    def __init__(self) -> None:
        super().__init__(id="main")
        self.pending_job: SavedJob | None = None

    def compose(self) -> ComposeResult:
        app = self.app
        yield Header()
        with Horizontal(id="panes"):
            yield SchemaPane("source", app.servers, app.client_factory,
                             initial_server=app.source_server, initial_schema=app.source_schema)
            yield SchemaPane("target", app.servers, app.client_factory,
                             initial_server=app.target_server, initial_schema=app.target_schema)
        yield StrategyPicker(app.strategies, initial=app.strategy_name)
        yield Footer()

    def on_mount(self) -> None:
        self._update_subtitle()

    # ------------------------------------------------------------------ state
    @property
    def source_pane(self) -> SchemaPane:
        return self.query_one("#source-pane", SchemaPane)

    @property
    def target_pane(self) -> SchemaPane:
        return self.query_one("#target-pane", SchemaPane)

    @property
    def picker(self) -> StrategyPicker:
        return self.query_one(StrategyPicker)

    def _update_subtitle(self) -> None:
        source = self.source_pane.schema if self.is_mounted else None
        target = self.target_pane.schema if self.is_mounted else None
        strategy = self.picker.strategy if self.is_mounted else None
        self.sub_title = (f"{source or '?'} → {target or '?'}"
                          + (f"  ·  {strategy.name}" if strategy else ""))

    @on(SchemaPane.SchemaChosen)
    def _schema_chosen(self, _: SchemaPane.SchemaChosen) -> None:
        source, target = self.source_pane, self.target_pane
        self.picker.update_fit(source.model if source.schema else None,
                               target.model if target.schema else None,
                               _where(source), _where(target))
        self._update_subtitle()
        job = self.pending_job
        if job is not None and source.schema == job.source_schema \
                and target.schema == job.target_schema and source.counts is not None \
                and target.model is not None and source.model is not None:
            self.pending_job = None
            self.action_preview()

    @on(StrategyPicker.Chosen)
    def _strategy_chosen(self, _: StrategyPicker.Chosen) -> None:
        self._update_subtitle()

    def refresh_servers(self) -> None:
        for pane in (self.source_pane, self.target_pane):
            pane.set_servers(self.app.servers)

    # ---------------------------------------------------------------- actions
    @on(Button.Pressed, "#preview-button")
    def _preview_pressed(self) -> None:
        self.action_preview()

    def action_preview(self) -> None:
        from emx2tui.ui.screens.preview import PreviewScreen

        source, target = self.source_pane, self.target_pane
        strategy = self.picker.strategy
        missing = []
        if source.connection is None or not source.schema:
            missing.append("a source schema")
        if target.connection is None or not target.schema:
            missing.append("a target schema")
        if strategy is None:
            missing.append("a job strategy")
        if missing:
            self.notify("Pick " + " and ".join(missing) + " first.", title="Preview",
                        severity="warning")
            return
        same_server = source.server is not None and target.server is not None and \
            source.server.url == target.server.url
        if same_server and source.schema == target.schema:
            self.notify("Source and target are the same schema.", title="Preview",
                        severity="warning")
            return
        reason = self.picker.unfit.get(strategy.name)
        if reason:
            self.notify(reason, title=f"{strategy.name} does not fit", severity="error",
                        timeout=10)
            return
        src = with_schema(source.connection, source.schema)
        tgt = with_schema(target.connection, target.schema)
        resource_id = self.picker.resource_id
        job = self.app.job_factory(strategy, src, tgt, resource_id=resource_id)
        self.app.push_screen(PreviewScreen(job, strategy, source=source.schema or "",
                                           target=target.schema or "", resource_id=resource_id))

    def action_reload(self) -> None:
        self.source_pane.reload()
        self.target_pane.reload()
        self.notify("Reloading schemas…", timeout=2)

    def action_focus_source(self) -> None:
        self.source_pane.query_one(".schema-filter", Input).focus()

    def action_focus_target(self) -> None:
        self.target_pane.query_one(".schema-filter", Input).focus()

    def action_leave_filter(self) -> None:
        for pane in (self.source_pane, self.target_pane):
            if pane.leave_filter():
                return

    def action_focus_strategy(self) -> None:
        self.query_one("#strategies").focus()

    def action_connections(self) -> None:
        self.app.action_connections()

    def action_jobs(self) -> None:
        self.app.action_jobs()

    def action_history(self) -> None:
        self.app.action_history()

    def action_save_job(self) -> None:
        from emx2tui.ui.modals.prompt import NameModal

        source, target = self.source_pane, self.target_pane
        strategy = self.picker.strategy
        if not (source.server and target.server and source.schema and target.schema
                and strategy is not None):
            self.notify("Pick a source schema, a target schema and a strategy first.",
                        title="Save job", severity="warning")
            return
        if not (source.server.saved and target.server.saved):
            self.notify("Only jobs between saved connections can be saved: add the servers "
                        "with c (connections) first.", title="Save job", severity="warning")
            return
        default = f"{strategy.name}-{source.schema}"
        self.app.push_screen(
            NameModal("Save this job", f"{strategy.name}: {source.schema} → {target.schema}. "
                      "Run it again later from the saved jobs (o).", default),
            callback=self._save_job_named)

    def _save_job_named(self, name: str | None) -> None:
        from emx2tui.config import SavedJob, safe_name

        if not name:
            return
        source, target = self.source_pane, self.target_pane
        strategy = self.picker.strategy
        assert source.server and target.server and strategy is not None
        job = SavedJob(name=safe_name(name, "job"), strategy=strategy.name,
                       source=source.server.saved.name, target=target.server.saved.name,
                       source_schema=source.schema, target_schema=target.schema,
                       resource_id=self.picker.resource_id)
        self.app.config.jobs[job.name] = job
        if self.app.save_config():
            self.notify(f"Saved as {job.name}.", title="Saved job")

    def open_job(self, job: "SavedJob", *, preview: bool = True) -> None:
        """Point both panes and the picker at a saved job, then preview it once loaded."""
        if not self.picker.select(job.strategy):
            self.notify(f"Saved job {job.name} names the strategy '{job.strategy}', which is not "
                        f"known here. Known: {', '.join(self.picker.strategies)}.",
                        title="Saved job", severity="error", timeout=10)
            return
        self.picker.set_resource_id(job.resource_id)
        self.pending_job = job if preview else None
        self.source_pane.open(f"saved:{job.source}", job.source_schema)
        self.target_pane.open(f"saved:{job.target}", job.target_schema)


def _where(pane: SchemaPane) -> str:
    return pane.server.label if pane.server is not None else pane.role
