"""One side of the main screen: a server, a schema picker, the model badge and the tables."""

from __future__ import annotations

from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Select, Static
from textual.worker import Worker

from emx2tui.ui.connect import server_label
from emx2tui.ui.text import count, plural
from emx2tui.ui.workers import ReportsWorkerErrors


class SchemaPane(ReportsWorkerErrors, Vertical):
    """Pick a schema on one server and see its tables with their row counts."""

    class SchemaChosen(Message):
        """The user (or the preselection) picked a schema in this pane."""

        def __init__(self, pane: "SchemaPane", schema: str | None) -> None:
            super().__init__()
            self.pane = pane
            self.schema = schema

    def __init__(
        self,
        role: str,
        connection: Any,
        client_factory: Any,
        *,
        initial_schema: str | None = None,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id or f"{role}-pane", classes="schema-pane")
        self.role = role
        self.connection = connection
        self.client_factory = client_factory
        self.initial_schema = initial_schema
        self.counts: dict[str, int] = {}
        self.version: str | None = None
        self.border_title = role.capitalize()

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        yield Static(f"[b]server[/b]  {server_label(self.connection)}", classes="server-line",
                     id=f"{self.role}-server", markup=True)
        yield Select[str]([], prompt="Pick a schema", id=f"{self.role}-schema",
                          allow_blank=True)
        yield Static("", classes="model-badge", id=f"{self.role}-model")
        table: DataTable[Any] = DataTable(id=f"{self.role}-tables", cursor_type="row",
                                          zebra_stripes=True)
        table.add_column("Table", key="table")
        table.add_column("Rows", key="rows")
        yield table
        yield Static("", classes="pane-message", id=f"{self.role}-message")

    def on_mount(self) -> None:
        self.border_subtitle = "no schema"
        if self.connection is None:
            self.show_message(
                f"No {self.role} server. Start with --{self.role}-url or set "
                f"MG_{self.role.upper()}_URL.", error=True)
            self.query_one(Select).disabled = True
            return
        self.load_schemas()

    # ----------------------------------------------------------------- state
    @property
    def schema(self) -> str | None:
        value = self.query_one(Select).value
        return value if isinstance(value, str) else None

    def show_message(self, text: str, *, error: bool = False) -> None:
        msg = self.query_one(".pane-message", Static)
        msg.update(text)
        msg.set_class(error, "-error")
        msg.display = bool(text)

    def show_failure(self, worker: Worker, reason: str) -> None:
        """Called by the app's single worker-error handler."""
        self.query_one(DataTable).loading = False
        what = "schemas" if worker.group.endswith("schemas") else "tables"
        self.show_message(f"Could not load the {what}: {reason}", error=True)

    def reload(self) -> None:
        if self.connection is None:
            return
        if self.schema:
            self.load_tables(self.schema)
        else:
            self.load_schemas()

    # ----------------------------------------------------------------- workers
    @work(exclusive=True, exit_on_error=False, group="schemas", name="load-schemas",
          description="List the schemas of a server")
    async def load_schemas(self) -> list[str]:
        select = self.query_one(Select)
        select.loading = True
        self.show_message("")
        try:
            async with self.client_factory(self.connection) as client:
                schemas = sorted(await client.list_schemas(), key=str.lower)
        finally:
            select.loading = False
        current = self.schema or self.initial_schema
        select.set_options([(name, name) for name in schemas])
        if current in schemas:
            select.value = current
        elif current:
            self.show_message(f"Schema {current!r} is not on this server (or not visible to you).",
                              error=True)
        if not schemas:
            self.show_message("This server has no schemas you can see.")
        return schemas

    @work(exclusive=True, exit_on_error=False, group="tables", name="load-tables",
          description="Count the rows of a schema's tables")
    async def load_tables(self, schema: str) -> dict[str, int]:
        table = self.query_one(DataTable)
        badge = self.query_one(".model-badge", Static)
        table.loading = True
        self.show_message("")
        try:
            async with self.client_factory(self.connection) as client:
                counts = await client.table_counts(schema)
                version, profiles = None, []
                try:
                    model = await client.schema_model(schema)
                    version, profiles = model.version(), list(model.profiles())
                except Exception:  # the badge is a nicety; the counts matter
                    version, profiles = None, []
        finally:
            table.loading = False
        self.counts = dict(counts)
        self.version = version
        table.clear()
        for name, rows in self.counts.items():
            table.add_row(name, count(rows), key=name)
        total = sum(self.counts.values())
        self.border_subtitle = f"{plural(len(self.counts), 'table')} · {plural(total, 'row')}"
        parts = []
        if version:
            parts.append(f"[b]model[/b] v{version}")
        if profiles:
            parts.append(" ".join(f"[reverse] {p} [/reverse]" for p in profiles[:4]))
        badge.update("  ".join(parts) if parts else "[dim]model version unknown[/dim]")
        if not self.counts:
            self.show_message("This schema has no tables.")
        return self.counts

    # ------------------------------------------------------------------ events
    @on(Select.Changed)
    def _schema_changed(self, event: Select.Changed) -> None:
        event.stop()
        schema = event.value if isinstance(event.value, str) else None
        table = self.query_one(DataTable)
        if schema is None:
            table.clear()
            self.counts = {}
            self.border_subtitle = "no schema"
            self.query_one(".model-badge", Static).update("")
        else:
            self.load_tables(schema)
        self.post_message(self.SchemaChosen(self, schema))
