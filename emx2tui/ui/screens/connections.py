"""The connection manager: add, edit, test and remove saved servers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Header, Static
from textual.worker import Worker

from emx2tui.ui.widgets.footer import Footer
from emx2tui.ui.workers import ReportsWorkerErrors

if TYPE_CHECKING:
    from emx2tui.config import ConnectionConfig
    from emx2tui.ui.app import Emx2App


class ConnectionsScreen(ReportsWorkerErrors, Screen[None]):
    app: "Emx2App"

    BINDINGS = [
        Binding("escape", "back", "Back", id="connections-back", tooltip="Back to the schemas"),
        Binding("a", "add", "Add", id="connection-add", tooltip="Add a server"),
        Binding("e", "edit", "Edit", id="connection-edit",
                tooltip="Edit the highlighted server (Enter too)"),
        Binding("t", "test", "Test", id="connection-test",
                tooltip="Sign in to the highlighted server and list its schemas"),
        Binding("delete,d", "remove", "Remove", id="connection-remove",
                tooltip="Remove the highlighted server (asks first)"),
    ]

    def __init__(self) -> None:
        super().__init__(id="connections")

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("[b]Connections[/b]  ·  saved in the config file; passwords and tokens only "
                     "when you ask", id="connections-title", markup=True)
        table: DataTable[Any] = DataTable(id="connections-table", cursor_type="row",
                                          zebra_stripes=True)
        table.add_columns("Name", "Server", "Sign-in", "Password or token")
        yield table
        yield Static("", id="connections-status")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = str(self.app.config_location)
        self.fill()

    @property
    def table(self) -> DataTable[Any]:
        return self.query_one("#connections-table", DataTable)

    def fill(self, select: str | None = None) -> None:
        table = self.table
        current = select or self.highlighted_name()
        table.clear()
        for name, c in self.app.config.connections.items():
            who = c.username if c.auth == "password" else c.auth
            table.add_row(name, c.url, who or "", c.where_secret_comes_from(), key=name)
        if not self.app.config.connections:
            self.status("No saved connections yet. Press a to add one.")
        if current in self.app.config.connections:
            table.move_cursor(row=table.get_row_index(current))

    def highlighted_name(self) -> str | None:
        table = self.table
        if not table.row_count:
            return None
        return str(table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value)

    def status(self, text: str, *, error: bool = False) -> None:
        box = self.query_one("#connections-status", Static)
        box.update(text)
        box.set_class(error, "-error")

    def show_failure(self, worker: Worker, reason: str) -> None:
        self.status(f"✖ {reason}", error=True)

    # ---------------------------------------------------------------- actions
    @on(DataTable.RowSelected, "#connections-table")
    def _selected(self) -> None:
        self.action_edit()

    def action_back(self) -> None:
        self.dismiss(None)

    def _form(self, existing: "ConnectionConfig | None") -> None:
        from emx2tui.ui.modals.connection_form import ConnectionForm

        self.app.push_screen(
            ConnectionForm(existing, taken=set(self.app.config.connections),
                           tester=self.app.test_connection),
            callback=lambda result: self._saved(existing, result))

    def action_add(self) -> None:
        self._form(None)

    def action_edit(self) -> None:
        name = self.highlighted_name()
        if name is None:
            self.action_add()
            return
        self._form(self.app.config.connections[name])

    def _saved(self, existing: "ConnectionConfig | None", result: Any) -> None:
        if not result:
            return
        conn, secret = result
        self.app.put_connection(conn, secret, replaces=existing.name if existing else None)
        self.fill(select=conn.name)
        self.status(f"Saved {conn.name}.")

    def action_test(self) -> None:
        name = self.highlighted_name()
        if name is None:
            return
        self.status(f"Testing {name}…")
        self.test(name)

    @work(exclusive=True, exit_on_error=False, group="test", name="test-connection",
          description="Test a connection")
    async def test(self, name: str) -> str:
        conn = self.app.config.connections[name]
        secret = await self.app.secret_for(conn)
        if conn.auth != "none" and not secret:
            self.status(f"Not tested: no {conn.secret_kind} for {name}.", error=True)
            return ""
        message = await self.app.test_connection(conn, secret)
        self.status(f"✔ {name}: {message}")
        return message

    def action_remove(self) -> None:
        from emx2tui.ui.modals.confirm import ConfirmModal

        name = self.highlighted_name()
        if name is None:
            return
        jobs = [j.name for j in self.app.config.jobs.values() if name in (j.source, j.target)]
        body = f"Remove the connection {name} from the config file?"
        if jobs:
            body += f" The saved jobs that use it are removed too: {', '.join(jobs)}."
        self.app.push_screen(ConfirmModal("Remove connection", body, confirm="Remove"),
                             callback=lambda yes: self._remove(name) if yes else None)

    def _remove(self, name: str) -> None:
        self.app.remove_connection(name)
        self.fill()
        self.status(f"Removed {name}.")
