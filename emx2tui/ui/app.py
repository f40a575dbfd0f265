"""The emx2tui Textual app. Domain objects (connections, strategies, the client and job
factories, the config) are built by launch.py and injected here, so tests can hand in their own."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from typing import Any

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from emx2tui.config import Config, ConfigError, ConnectionConfig, config_path, save_config
from emx2tui.ui.collector import steady_gc
from emx2tui.ui.connect import Server, command_line_servers, saved_servers, with_schema
from emx2tui.ui.screens.main import MainScreen
from emx2tui.ui.text import describe_error

WORKER_WHAT = {
    "load-schemas": "Loading the schemas",
    "load-tables": "Counting the tables",
    "plan": "Planning the job",
    "run": "The run",
    "rows": "Showing the rows",
    "restore-plan": "Planning the restore",
    "history": "Reading the history",
    "test-connection": "Testing the connection",
}


def _bindings(bindings: Iterable[Any]) -> list[Binding]:
    return [b if isinstance(b, Binding) else Binding(*b) for b in bindings]


class RestoreJob:
    """A restore, in the shape the run screen drives: apply(plan, emit) and cancel()."""

    def __init__(self, apply: Callable[..., Any], plan: Any, force: bool) -> None:
        self._apply = apply
        self.plan = plan
        self.force = force

    async def apply(self, plan: Any, emit: Any) -> Any:
        return await self._apply(plan, emit, force=self.force)

    def cancel(self) -> None:
        cancel = getattr(self.plan, "cancel", None)
        if callable(cancel):
            cancel()


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
        config: Config | None = None,
        journal: Any = None,
        restorer: Any = None,
        clock: Callable[[], float] | None = None,
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
        self.config = config if config is not None else Config()
        self.clock = clock or time.monotonic
        self._journal = journal
        self._restorer = restorer
        self.session_secrets: dict[str, str] = {}
        self._secret_questions: dict[str, asyncio.Future[str | None]] = {}
        self.given_servers = command_line_servers(source, target)
        self.servers: list[Server] = self.given_servers + saved_servers(self.config)
        self.source_server, self.target_server = self._initial_servers()
        chosen = theme or self.config.theme
        if chosen and chosen in self.available_themes:
            self.theme = chosen

    def _initial_servers(self) -> tuple[str | None, str | None]:
        keys = {s.key for s in self.given_servers}
        if "given" in keys:
            return "given", "given"
        source = "given-source" if "given-source" in keys else None
        target = "given-target" if "given-target" in keys else None
        saved = [s.key for s in self.servers if s.saved is not None]
        if saved and source is None and target is None:
            return saved[0], saved[0]
        return source, target

    def get_default_screen(self) -> Screen[Any]:
        return MainScreen()

    def on_mount(self) -> None:
        if self.config.keys:
            self.set_keymap(self.config.keys)
        steady_gc()

    @property
    def main_screen(self) -> MainScreen | None:
        for screen in self.screen_stack:
            if isinstance(screen, MainScreen):
                return screen
        return None

    @property
    def journal(self) -> Any:
        if self._journal is None:
            from emx2tui.jobs import journal

            self._journal = journal
        return self._journal

    @property
    def restorer(self) -> Any:
        if self._restorer is None:
            from emx2tui.jobs import restore

            self._restorer = restore
        return self._restorer

    @property
    def config_location(self) -> str:
        from emx2tui.ui.text import short_path

        return short_path(str(self.config.path or config_path()))

    # ---------------------------------------------------------- worker errors
    def report_worker_error(self, node: Any, worker: Worker) -> None:
        """The one place where a failed worker becomes words on the screen."""
        reason = describe_error(worker.error)
        what = WORKER_WHAT.get(worker.name, worker.description or "A background task")
        self.log.error(f"worker {worker.name!r} failed: {type(worker.error).__name__}")
        show = getattr(node, "show_failure", None)
        if callable(show):
            show(worker, reason)
        self.notify(reason, title=f"{what} failed", severity="error", timeout=8)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.report_worker_error(self, event.worker)

    # ------------------------------------------------------------ connections
    async def secret_for(self, conn: ConnectionConfig) -> str | None:
        """The password or token of a saved connection; asks when nothing else has it."""
        from emx2tui.ui.modals.prompt import SecretModal

        if conn.auth == "none":
            return None
        secret = self.session_secrets.get(conn.name) or conn.resolve_secret()
        if secret:
            return secret
        # Both panes may need the same connection's secret at once: one question, one answer
        # (or one refusal) for both.
        asked = self._secret_questions.get(conn.name)
        if asked is not None:
            return await asyncio.shield(asked)
        asked = asyncio.get_running_loop().create_future()
        self._secret_questions[conn.name] = asked
        secret = None
        try:
            hint = (f"Set ${conn.secret_env} to skip this question." if conn.secret_env else "")
            secret = await self.push_screen_wait(SecretModal(conn.label, conn.secret_kind or
                                                             "password", hint))
            if secret:
                self.session_secrets[conn.name] = secret
        finally:
            del self._secret_questions[conn.name]
            asked.set_result(secret)
        return secret

    async def connect(self, server: Server) -> Any | None:
        """An engine connection for a server; None when the user declined to sign in."""
        if server.connection is not None:
            return server.connection
        conn = server.saved
        secret = await self.secret_for(conn)
        if conn.auth != "none" and not secret:
            return None
        return conn.connection(secret)

    async def connection_for_url(self, url: str) -> Any | None:
        from emx2tui.emx2.client import normalise_url

        wanted = normalise_url(url)
        for server in self.servers:
            if normalise_url(server.url) == wanted:
                return await self.connect(server)
        return None

    async def test_connection(self, conn: ConnectionConfig, secret: str | None) -> str:
        """Sign in and list the schemas; raises what the server said."""
        connection = conn.connection(secret if secret else self.session_secrets.get(conn.name))
        async with self.client_factory(connection) as client:
            schemas = await client.list_schemas()
        if secret:
            self.session_secrets[conn.name] = secret
        return f"signed in, {len(schemas)} schema{'' if len(schemas) == 1 else 's'} visible"

    def save_config(self) -> bool:
        try:
            save_config(self.config)
        except ConfigError as exc:
            self.notify(str(exc), title="Config not saved", severity="error")
            return False
        return True

    def _servers_changed(self) -> None:
        self.servers = self.given_servers + saved_servers(self.config)
        main = self.main_screen
        if main is not None:
            main.refresh_servers()

    def put_connection(self, conn: ConnectionConfig, secret: str | None = None, *,
                       replaces: str | None = None) -> None:
        if replaces and replaces != conn.name:
            self.config.connections.pop(replaces, None)
            self.session_secrets.pop(replaces, None)
            for job in self.config.jobs.values():
                job.source = conn.name if job.source == replaces else job.source
                job.target = conn.name if job.target == replaces else job.target
        self.config.connections[conn.name] = conn
        if secret:
            self.session_secrets[conn.name] = secret
        self.save_config()
        self._servers_changed()

    def remove_connection(self, name: str) -> None:
        self.config.connections.pop(name, None)
        self.session_secrets.pop(name, None)
        for job in [j for j in self.config.jobs.values() if name in (j.source, j.target)]:
            self.config.jobs.pop(job.name, None)
        self.save_config()
        self._servers_changed()

    # ---------------------------------------------------------------- restore
    @work(exclusive=True, exit_on_error=False, group="restore", name="restore-plan",
          description="Plan a restore")
    async def restore_run(self, run_id: str) -> None:
        from emx2tui.ui.modals.restore import RestoreModal
        from emx2tui.ui.screens.run import RunScreen

        record = await asyncio.to_thread(self.journal.get_run, run_id)
        connection = await self.connection_for_url(record.target.url)
        if connection is None:
            self.notify(f"No connection to {record.target.url}: add it with the connections "
                        "screen (c), then restore again.", title="Restore", severity="error",
                        timeout=10)
            return
        # the server's credentials, pointed at the schema the run wrote to (the connection that
        # matched the URL may be the source side's, pointed at the staging schema)
        connection = with_schema(connection, record.target.schema)
        self.notify(f"Planning the restore of run {record.run_id}…", timeout=3)
        plan = await self.restorer.plan_restore(record, connection)
        force = await self.push_screen_wait(RestoreModal(plan))
        if force is None or plan.is_empty:
            return
        job = RestoreJob(self.restorer.apply_restore, plan, bool(force))
        schema = getattr(plan, "schema", None) or record.target.schema or "the target"
        await self.push_screen(RunScreen(
            job, plan, None, target=schema, steps=["backup", "upload"], kind="restore",
            title=f"[b]Restore[/b] of run {record.run_id}  ·  {schema}"))

    # ---------------------------------------------------------------- actions
    def help_sections(self) -> list[tuple[str, list[Binding]]]:
        from emx2tui.ui.modals.confirm_delete import ConfirmDeleteModal
        from emx2tui.ui.screens.connections import ConnectionsScreen
        from emx2tui.ui.screens.history import HistoryScreen
        from emx2tui.ui.screens.jobs import JobsScreen
        from emx2tui.ui.screens.preview import PreviewScreen
        from emx2tui.ui.screens.run import RunScreen

        return [
            ("Everywhere", _bindings(self.BINDINGS) + [
                Binding("ctrl+p", "command_palette", "Commands",
                        tooltip="Open the command palette"),
                Binding("tab", "focus_next", "Next", tooltip="Move to the next field"),
            ]),
            ("Schemas and strategy", _bindings(MainScreen.BINDINGS) + [
                Binding("enter", "select", "Open",
                        tooltip="On a schema: use it; on a table: show its rows"),
            ]),
            ("Preview", _bindings(PreviewScreen.BINDINGS)),
            ("Delete confirmation", _bindings(ConfirmDeleteModal.BINDINGS)),
            ("Run", _bindings(RunScreen.BINDINGS)),
            ("History", _bindings(HistoryScreen.BINDINGS)),
            ("Connections", _bindings(ConnectionsScreen.BINDINGS)),
            ("Saved jobs", _bindings(JobsScreen.BINDINGS)),
        ]

    def action_help(self) -> None:
        from emx2tui.ui.modals.help import HelpModal

        if isinstance(self.screen, HelpModal):
            return
        self.push_screen(HelpModal(self.help_sections(), self.config.keys))

    def action_toggle_theme(self) -> None:
        self.theme = "textual-light" if self.current_theme.dark else "textual-dark"
        self.config.theme = self.theme
        if self.config.path is not None and self.config.path.exists():
            self.save_config()

    def _push_once(self, kind: type[Screen[Any]]) -> None:
        if isinstance(self.screen, kind):
            return
        for screen in self.screen_stack:
            if isinstance(screen, kind):
                self.notify("That screen is already open underneath; press Escape to get back "
                            "to it.", timeout=3)
                return
        self.push_screen(kind())

    def action_history(self) -> None:
        from emx2tui.ui.screens.history import HistoryScreen

        self._push_once(HistoryScreen)

    def action_connections(self) -> None:
        from emx2tui.ui.screens.connections import ConnectionsScreen

        self._push_once(ConnectionsScreen)

    def action_jobs(self) -> None:
        from emx2tui.ui.screens.jobs import JobsScreen

        self._push_once(JobsScreen)

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        from emx2tui.ui.screens.connections import ConnectionsScreen
        from emx2tui.ui.screens.history import HistoryScreen
        from emx2tui.ui.screens.jobs import JobsScreen
        from emx2tui.ui.screens.preview import PreviewScreen
        from emx2tui.ui.screens.run import RunScreen

        if isinstance(screen, MainScreen):
            yield SystemCommand("Preview the job", "Plan the job and show what will change",
                                screen.action_preview)
            yield SystemCommand("Reload schemas", "Reload both schemas and their row counts",
                                screen.action_reload)
            yield SystemCommand("Pick the source schema", "Filter and pick the source schema",
                                screen.action_focus_source)
            yield SystemCommand("Pick the target schema", "Filter and pick the target schema",
                                screen.action_focus_target)
            yield SystemCommand("Pick the strategy", "Move to the strategy list",
                                screen.action_focus_strategy)
            yield SystemCommand("Save this job", "Save strategy, source and target as a job",
                                screen.action_save_job)
            for strategy in self.strategies:
                yield SystemCommand(*screen.picker.palette_entry(strategy),
                                    lambda name=strategy.name: screen.picker.select(name),
                                    discover=False)
            for job in self.config.jobs.values():
                yield SystemCommand(f"Saved job: {job.name}", job.describe(),
                                    lambda job=job: screen.open_job(job), discover=False)
        elif isinstance(screen, PreviewScreen):
            yield SystemCommand("Run the job", "Run it (asks before deleting)", screen.action_run)
            yield SystemCommand("Show tables to sync", "Rows that will be uploaded",
                                screen.action_focus_sync)
            yield SystemCommand("Show tables to delete", "Rows that will be deleted",
                                screen.action_focus_delete)
            yield SystemCommand("Next page of rows", "Show the next rows of the table",
                                lambda: screen.action_page(1))
            yield SystemCommand("Previous page of rows", "Show the previous rows of the table",
                                lambda: screen.action_page(-1))
            yield SystemCommand("Back to the schemas", "Leave the preview", screen.action_back)
        elif isinstance(screen, RunScreen):
            yield SystemCommand("Cancel the run", "Stop the running job (asks first)",
                                screen.action_cancel_run)
            yield SystemCommand("Restore the target", "Undo this run from its backup",
                                screen.action_restore)
            yield SystemCommand("Close the run", "Back to the schemas once it has ended",
                                screen.action_close)
        elif isinstance(screen, HistoryScreen):
            yield SystemCommand("Restore the highlighted run", "Put the target back as it was",
                                screen.action_restore)
            yield SystemCommand("Reload the history", "Read the journal again",
                                screen.action_reload)
        elif isinstance(screen, ConnectionsScreen):
            yield SystemCommand("Add a connection", "A new server", screen.action_add)
            yield SystemCommand("Edit the connection", "Change the highlighted server",
                                screen.action_edit)
            yield SystemCommand("Test the connection", "Sign in and list the schemas",
                                screen.action_test)
            yield SystemCommand("Remove the connection", "Remove the highlighted server",
                                screen.action_remove)
        elif isinstance(screen, JobsScreen):
            yield SystemCommand("Preview the saved job", "Open it and preview", screen.action_open)
            yield SystemCommand("Remove the saved job", "Remove the highlighted job",
                                screen.action_remove)
        yield SystemCommand("Connections", "Add, edit, test and remove servers",
                            self.action_connections)
        yield SystemCommand("Saved jobs", "Run a saved job again", self.action_jobs)
        yield SystemCommand("History", "Past runs, their outcomes, and restore",
                            self.action_history)
        yield SystemCommand("Help: keys", "Show the keys of every screen", self.action_help)
        yield SystemCommand("Toggle light/dark theme", "Switch between light and dark",
                            self.action_toggle_theme)
        yield from super().get_system_commands(screen)
