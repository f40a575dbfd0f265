"""One side of the main screen: a server, its schemas (filterable), the chosen schema's data
model and version, its tables with row counts, and a table's rows on demand."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import DataTable, Input, OptionList, Select, Static
from textual.widgets.option_list import Option
from textual.worker import Worker

from emx2tui.ui.connect import Server
from emx2tui.ui.text import count, plural
from emx2tui.ui.workers import ReportsWorkerErrors

if TYPE_CHECKING:
    from emx2tui.ui.app import Emx2App


class SchemaPane(ReportsWorkerErrors, Vertical):
    """Pick a server and a schema on it and see its tables with their row counts."""

    app: "Emx2App"

    class SchemaChosen(Message):
        """The user (or the preselection) picked a schema in this pane, and its model is known."""

        def __init__(self, pane: "SchemaPane", schema: str | None) -> None:
            super().__init__()
            self.pane = pane
            self.schema = schema

    def __init__(self, role: str, servers: list[Server], client_factory: Any, *,
                 initial_server: str | None = None, initial_schema: str | None = None,
                 id: str | None = None) -> None:
        super().__init__(id=id or f"{role}-pane", classes="schema-pane")
        self.role = role
        self.servers = {s.key: s for s in servers}
        self.client_factory = client_factory
        self.initial_server = initial_server if initial_server in self.servers else (
            servers[0].key if servers else None)
        self.initial_schema = initial_schema
        self.server: Server | None = None
        self.connection: Any | None = None
        self.schemas: list[str] = []
        self._schema: str | None = None
        self.counts: dict[str, int] = {}
        self.model: Any | None = None
        self.version: str | None = None
        self.border_title = role.capitalize()

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        with Horizontal(classes="pane-row"):
            yield Select([(s.label, s.key) for s in self.servers.values()],
                         prompt="Pick a server", id=f"{self.role}-server", allow_blank=True,
                         value=self.initial_server if self.initial_server else Select.NULL)
            yield Input(placeholder="filter schemas", id=f"{self.role}-filter",
                        classes="schema-filter")
        yield OptionList(id=f"{self.role}-schemas", classes="schema-list")
        yield Static("", classes="model-badge", id=f"{self.role}-model")
        table: DataTable[Any] = DataTable(id=f"{self.role}-tables", cursor_type="row",
                                          zebra_stripes=True)
        table.add_column("Table", key="table")
        table.add_column("Rows", key="rows")
        table.tooltip = "Enter: show the table's rows"
        yield table
        yield Static("", classes="pane-message", id=f"{self.role}-message")

    def on_mount(self) -> None:
        self.border_subtitle = "no schema"
        if not self.servers:
            self.show_message(
                f"No {self.role} server. Add one with c (connections), or start with "
                f"--{self.role}-url or MG_{self.role.upper()}_URL.", error=True)
            self.query_one(Select).disabled = True
            return
        if self.initial_server:
            self.use_server(self.initial_server)

    # ----------------------------------------------------------------- state
    @property
    def schema(self) -> str | None:
        return self._schema

    def show_message(self, text: str, *, error: bool = False) -> None:
        msg = self.query_one(".pane-message", Static)
        msg.update(text)
        msg.set_class(error, "-error")
        msg.display = bool(text)

    def show_failure(self, worker: Worker, reason: str) -> None:
        """Called by the app's single worker-error handler."""
        self.query_one(DataTable).loading = False
        self.query_one(OptionList).loading = False
        what = {"schemas": "schemas", "tables": "tables"}.get(worker.group, "rows")
        self.show_message(f"Could not load the {what}: {reason}", error=True)

    def set_servers(self, servers: list[Server]) -> None:
        """The server list changed (connections added, edited or removed)."""
        current = self.server.key if self.server else None
        self.servers = {s.key: s for s in servers}
        select = self.query_one(Select)
        select.disabled = not servers
        with self.prevent(Select.Changed):
            select.set_options([(s.label, s.key) for s in servers])
            if current in self.servers:
                select.value = current
        if current is not None and current not in self.servers:
            self.server = self.connection = None
            self._clear_schema()
            self.schemas = []
            self.query_one(OptionList).clear_options()
        elif current is not None and self.servers[current] is not self.server:
            self.use_server(current)

    def reload(self) -> None:
        if self.server is None:
            return
        if self.schema and self.connection is not None:
            self.load_tables(self.schema)
        else:
            self.use_server(self.server.key)

    def open(self, key: str, schema: str | None) -> None:
        """Switch to server `key` and schema `schema` (a saved job)."""
        if key not in self.servers:
            self.show_message(f"The saved connection of this job is gone ({key}).", error=True)
            return
        select = self.query_one(Select)
        with self.prevent(Select.Changed):
            select.value = key
        if self.server is not None and self.server.key == key and schema in self.schemas:
            if schema != self.schema:
                self.choose_schema(schema)
            else:
                self.post_message(self.SchemaChosen(self, schema))
            return
        self.use_server(key, schema)

    def choose_schema(self, schema: str | None) -> None:
        """Make `schema` the pane's schema and load its tables."""
        self._schema = schema
        self._mark_chosen()
        if schema is None:
            self._clear_schema()
            self.post_message(self.SchemaChosen(self, None))
        else:
            self.load_tables(schema)

    def _clear_schema(self) -> None:
        self._schema = None
        self.query_one(DataTable).clear()
        self.counts, self.model, self.version = {}, None, None
        self.border_subtitle = "no schema"
        self.query_one(".model-badge", Static).update("")

    # ------------------------------------------------------------- schema list
    def _fill_schemas(self) -> None:
        needle = self.query_one(".schema-filter", Input).value.strip().lower()
        shown = [s for s in self.schemas if needle in s.lower()] if needle else list(self.schemas)
        options = self.query_one(OptionList)
        options.clear_options()
        options.add_options([Option(self._schema_prompt(s), id=s) for s in shown])
        if self.schema in shown:
            options.highlighted = shown.index(self.schema)
        if needle:
            options.border_subtitle = f"{len(shown)} of {len(self.schemas)}"
        else:
            options.border_subtitle = plural(len(self.schemas), "schema")

    def _schema_prompt(self, name: str) -> Text:
        if name == self.schema:
            return Text.assemble(("● ", "bold"), (name, "bold"))
        return Text.assemble("  ", name)

    def _mark_chosen(self) -> None:
        options = self.query_one(OptionList)
        for i in range(options.option_count):
            option = options.get_option_at_index(i)
            if option.id:
                options.replace_option_prompt(option.id, self._schema_prompt(option.id))

    @on(Input.Changed, ".schema-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._fill_schemas()

    @on(Input.Submitted, ".schema-filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        options = self.query_one(OptionList)
        shown = [options.get_option_at_index(i).id for i in range(options.option_count)]
        needle = event.value.strip().lower()
        exact = [s for s in shown if s and s.lower() == needle]
        if len(shown) == 1 or len(exact) == 1:
            chosen = shown[0] if len(shown) == 1 else exact[0]
            if chosen != self.schema:
                self.choose_schema(chosen)
            # picked: leave the filter, so the screen's keys work again
            self.query_one(DataTable).focus()
        elif shown:
            options.highlighted = options.highlighted or 0
            options.focus()
            self.show_message(f"{len(shown)} schemas match: pick one with ↑/↓ and Enter.")
        else:
            self.show_message(f"No schema matches {event.value.strip()!r}.", error=True)

    def leave_filter(self) -> bool:
        """Escape in the filter box: clear it, or, when empty, go to the schema list."""
        box = self.query_one(".schema-filter", Input)
        if not box.has_focus:
            return False
        if box.value:
            box.value = ""
        else:
            self.query_one(OptionList).focus()
        return True

    @on(OptionList.OptionSelected, ".schema-list")
    def _schema_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id and event.option.id != self.schema:
            self.choose_schema(event.option.id)
        self.show_message("")
        self.query_one(DataTable).focus()

    @on(OptionList.OptionHighlighted, ".schema-list")
    def _schema_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()

    # ----------------------------------------------------------------- workers
    @on(Select.Changed)
    def _server_changed(self, event: Select.Changed) -> None:
        event.stop()
        key = event.value if isinstance(event.value, str) else None
        if key is None:
            return
        if self.server is None or key != self.server.key:
            self.use_server(key)

    @work(exclusive=True, exit_on_error=False, group="schemas", name="load-schemas",
          description="List the schemas of a server")
    async def use_server(self, key: str, schema: str | None = None) -> list[str]:
        server = self.servers[key]
        changed = self.server is not None and self.server.key != key
        self.server = server
        options = self.query_one(OptionList)
        options.loading = True
        self.show_message("")
        try:
            connection = await self.app.connect(server)
            if connection is None:
                self.connection = None
                self.show_message(f"Not signed in to {server.label}. Pick the server again to "
                                  "sign in.", error=True)
                return []
            self.connection = connection
            async with self.client_factory(connection) as client:
                schemas = sorted(await client.list_schemas(), key=str.lower)
        finally:
            options.loading = False
        self.schemas = schemas
        wanted = schema or self.schema or self.initial_schema
        if changed:
            self._clear_schema()
            self.post_message(self.SchemaChosen(self, None))
        self._fill_schemas()
        if wanted in schemas:
            self.choose_schema(wanted)
        elif wanted and not changed:
            self.show_message(f"Schema {wanted!r} is not on this server (or not visible to you).",
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
        model = None
        try:
            async with self.client_factory(self.connection) as client:
                counts = await client.table_counts(schema)
                try:
                    model = await client.schema_model(schema)
                except Exception:  # the badge is a nicety; the counts matter
                    model = None
        finally:
            table.loading = False
        if schema != self.schema:
            return {}
        self.counts = dict(counts)
        self.model = model
        self.version = _call(model, "version")
        table.clear()
        parents = parent_tables(model, self.counts)
        for name, rows in self.counts.items():
            if name in parents:
                # Its count holds the rows of the tables that extend it: shown, not added up.
                table.add_row(Text(name, style="dim"),
                              Text(f"{count(rows)} ⊃", style="dim"), key=name)
            else:
                table.add_row(name, count(rows), key=name)
        total = sum(n for name, n in self.counts.items() if name not in parents)
        self.border_subtitle = f"{schema} · {plural(len(self.counts), 'table')} · " \
                               f"{plural(total, 'row')}"
        if parents:
            table.tooltip = ("Enter: show the table's rows. ⊃: a parent table; its count "
                             "includes the rows of the tables that extend it and is not added "
                             "to the total.")
        badge.update(model_badge(model))
        if not self.counts:
            self.show_message("This schema has no tables.")
        self.post_message(self.SchemaChosen(self, schema))
        return self.counts

    # ------------------------------------------------------------------- rows
    @on(DataTable.RowSelected)
    def _table_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        table = str(event.row_key.value or "")
        if table:
            self.show_table_rows(table)

    def show_table_rows(self, table: str) -> None:
        from emx2tui.ui.modals.rows import RowsModal

        schema, connection, factory = self.schema, self.connection, self.client_factory
        if not schema or connection is None:
            return

        async def load() -> Any:
            async with factory(connection) as client:
                return await client.download_table(schema, table)

        self.app.push_screen(RowsModal(f"{table} in {schema}", load))


def parent_tables(model: Any, counts: dict[str, int]) -> set[str]:
    """Tables extended by another listed table: their rows live in those tables too."""
    subclasses = getattr(model, "subclasses", None)
    if not callable(subclasses):
        return set()
    parents = set()
    for name in counts:
        try:
            if any(t.name in counts for t in subclasses(name)):
                parents.add(name)
        except Exception:
            continue
    return parents


def _call(obj: Any, name: str) -> Any:
    fn = getattr(obj, name, None)
    try:
        return fn() if callable(fn) else None
    except Exception:
        return None


def model_badge(model: Any) -> Text:
    """`[DataCatalogue] v7.1.0`: the data model(s) as badges, then the version."""
    if model is None:
        return Text("model unknown", style="dim")
    names = _call(model, "data_models") or _call(model, "profiles") or []
    version = _call(model, "version")
    text = Text()
    for name in list(names)[:4]:
        text.append(f" {name} ", style="reverse bold")
        text.append(" ")
    if version:
        text.append(f"v{version}", style="bold")
    elif not names:
        text.append("no data model or version in this schema", style="dim")
    else:
        text.append("no version", style="dim")
    return text
