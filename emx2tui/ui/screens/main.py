"""The main screen: source and target side by side, the strategies, and Preview."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, Select

from emx2tui.ui.connect import with_schema
from emx2tui.ui.widgets.schema_pane import SchemaPane
from emx2tui.ui.widgets.strategy_picker import StrategyPicker
from emx2tui.ui.workers import ReportsWorkerErrors

if TYPE_CHECKING:
    from emx2tui.ui.app import Emx2App


class MainScreen(ReportsWorkerErrors, Screen[None]):
    app: "Emx2App"

    # The strategy list does not swallow letters (the schema pickers search as you type).
    AUTO_FOCUS = "#strategies"

    BINDINGS = [
        Binding("p", "preview", "Preview", id="preview",
                tooltip="Plan the job and show which tables and rows will be synced and deleted"),
        Binding("ctrl+r", "reload", "Reload", id="reload",
                tooltip="Reload the schemas and their row counts"),
        Binding("s", "focus_source", "Source", id="focus-source", show=False,
                tooltip="Pick the source schema"),
        Binding("t", "focus_target", "Target", id="focus-target", show=False,
                tooltip="Pick the target schema"),
        Binding("j", "focus_strategy", "Strategy", id="focus-strategy", show=False,
                tooltip="Pick the job strategy"),
    ]

    def __init__(self) -> None:
        super().__init__(id="main")

    def compose(self) -> ComposeResult:
        app = self.app
        yield Header()
        with Horizontal(id="panes"):
            yield SchemaPane("source", app.source, app.client_factory,
                             initial_schema=app.source_schema)
            yield SchemaPane("target", app.target, app.client_factory,
                             initial_schema=app.target_schema)
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
    @on(StrategyPicker.Chosen)
    def _selection_changed(self, _: Any) -> None:
        self._update_subtitle()

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
        if source.connection is target.connection and source.schema == target.schema:
            self.notify("Source and target are the same schema.", title="Preview",
                        severity="warning")
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
        self.source_pane.query_one(Select).focus()

    def action_focus_target(self) -> None:
        self.target_pane.query_one(Select).focus()

    def action_focus_strategy(self) -> None:
        self.query_one("#strategies").focus()
