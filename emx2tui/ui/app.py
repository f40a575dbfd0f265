"""The emx2tui Textual app. Domain objects (connections, strategies, the client and job
factories) are built by launch.py and injected here, so tests can hand in their own."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.worker import Worker

from emx2tui.ui.screens.main import MainScreen
from emx2tui.ui.text import describe_error

WORKER_WHAT = {
    "load-schemas": "Loading the schemas",
    "load-tables": "Counting the tables",
    "plan": "Planning the job",
    "run": "The run",
    "rows": "Showing the rows",
}


def _bindings(bindings: Iterable[Any]) -> list[Binding]:
    out = []
    for b in bindings:
        out.append(b if isinstance(b, Binding) else Binding(*b))
    return out


class Emx2App(App[None]):
    """Source and target side by side; preview, confirm and run a job strategy."""

    CSS_PATH = "app.tcss"
    TITLE = "emx2tui"
    SUB_TITLE = ""
    ENABLE_COMMAND_PALETTE = True

    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", id="quit", priority=True,
                tooltip="Quit emx2tui"),
        Binding("f1", "help", "Help", id="help", tooltip="Show the keys of every screen"),
        Binding("ctrl+t", "toggle_theme", "Theme", id="toggle-theme", show=False,
                tooltip="Switch between the light and the dark theme"),
    ]

    def __init__(
        self,
        *,
        source: Any,
        target: Any,
        strategies: list[Any],
        client_factory: Callable[[Any], Any],
        job_factory: Callable[..., Any],
        source_schema: str | None = None,
        target_schema: str | None = None,
        strategy: str | None = None,
        theme: str | None = None,
    ) -> None:
        super().__init__()
        self.source = source
        self.target = target
        self.strategies = list(strategies)
        self.client_factory = client_factory
        self.job_factory = job_factory
        self.source_schema = source_schema
        self.target_schema = target_schema
        self.strategy_name = strategy
        if theme:
            self.theme = theme

    def get_default_screen(self) -> Screen[Any]:
        return MainScreen()

    @property
    def main_screen(self) -> MainScreen | None:
        for screen in self.screen_stack:
            if isinstance(screen, MainScreen):
                return screen
        return None

    # ---------------------------------------------------------- worker errors
    def report_worker_error(self, node: Any, worker: Worker) -> None:
        """The one place where a failed worker becomes words on the screen."""
        reason = describe_error(worker.error)
        what = WORKER_WHAT.get(worker.name, worker.description or "A background task")
        self.log.error(f"worker {worker.name!r} failed: {worker.error!r}")
        show = getattr(node, "show_failure", None)
        if callable(show):
            show(worker, reason)
        self.notify(reason, title=f"{what} failed", severity="error", timeout=8)

    # ---------------------------------------------------------------- actions
    def action_help(self) -> None:
        from emx2tui.ui.modals.help import HelpModal
        from emx2tui.ui.modals.confirm_delete import ConfirmDeleteModal
        from emx2tui.ui.screens.preview import PreviewScreen
        from emx2tui.ui.screens.run import RunScreen

        if isinstance(self.screen, HelpModal):
            return
        sections = [
            ("Everywhere", _bindings(self.BINDINGS) + [
                Binding("ctrl+p", "command_palette", "Commands",
                        tooltip="Open the command palette"),
                Binding("tab", "focus_next", "Next", tooltip="Move to the next field"),
            ]),
            ("Schemas and strategy", _bindings(MainScreen.BINDINGS)),
            ("Preview", _bindings(PreviewScreen.BINDINGS)),
            ("Delete confirmation", _bindings(ConfirmDeleteModal.BINDINGS)),
            ("Run", _bindings(RunScreen.BINDINGS)),
        ]
        self.push_screen(HelpModal(sections))

    def action_toggle_theme(self) -> None:
        self.theme = "textual-light" if self.current_theme.dark else "textual-dark"

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        from emx2tui.ui.screens.preview import PreviewScreen
        from emx2tui.ui.screens.run import RunScreen

        if isinstance(screen, MainScreen):
            yield SystemCommand("Preview the job", "Plan the job and show what will change",
                                screen.action_preview)
            yield SystemCommand("Reload schemas", "Reload both schemas and their row counts",
                                screen.action_reload)
            yield SystemCommand("Pick the source schema", "Focus the source schema picker",
                                screen.action_focus_source)
            yield SystemCommand("Pick the target schema", "Focus the target schema picker",
                                screen.action_focus_target)
            for strategy in self.strategies:
                yield SystemCommand(
                    f"Strategy: {getattr(strategy, 'title', None) or strategy.name}",
                    f"Flow {getattr(strategy, 'flow', '?')} · {strategy.name}",
                    lambda name=strategy.name: screen.picker.select(name),
                    discover=False)
        elif isinstance(screen, PreviewScreen):
            yield SystemCommand("Run the job", "Run it (asks before deleting)", screen.action_run)
            yield SystemCommand("Show tables to sync", "Rows that will be uploaded",
                                screen.action_focus_sync)
            yield SystemCommand("Show tables to delete", "Rows that will be deleted",
                                screen.action_focus_delete)
            yield SystemCommand("Back to the schemas", "Leave the preview", screen.action_back)
        elif isinstance(screen, RunScreen):
            yield SystemCommand("Cancel the run", "Stop the running job", screen.action_cancel_run)
        yield SystemCommand("Help: keys", "Show the keys of every screen", self.action_help)
        yield SystemCommand("Toggle light/dark theme", "Switch between light and dark",
                            self.action_toggle_theme)
        yield from super().get_system_commands(screen)
