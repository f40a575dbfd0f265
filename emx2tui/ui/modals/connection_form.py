"""Add or edit a saved connection: URL, how to sign in, and where the secret comes from."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select, Static
from textual.worker import Worker, WorkerState

from emx2tui.config import ConfigError, ConnectionConfig, safe_name
from emx2tui.ui.text import describe_error

Tester = Callable[[ConnectionConfig, "str | None"], Awaitable[str]]
AUTH_OPTIONS = [("Username and password", "password"), ("API token", "token"),
                ("No sign-in (public data)", "none")]


class ConnectionForm(ModalScreen["tuple[ConnectionConfig, str | None] | None"]):
    """Dismisses with (connection, secret typed for this session) or None."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="form-cancel", tooltip="Close without saving"),
        Binding("ctrl+s", "save", "Save", id="form-save", tooltip="Save the connection"),
        Binding("ctrl+t", "test", "Test", id="form-test",
                tooltip="Sign in and list the schemas, without saving"),
    ]

    def __init__(self, existing: ConnectionConfig | None, *, taken: set[str],
                 tester: Tester | None = None) -> None:
        super().__init__(id="connection-form")
        self.existing = existing
        self.taken = taken - ({existing.name} if existing else set())
        self.tester = tester

    def compose(self) -> ComposeResult:
        c = self.existing
        with Vertical(classes="dialog -wide"):
            yield Label("Edit connection" if c else "Add a connection", classes="dialog-heading")
            with VerticalScroll(id="form-fields"):
                yield Label("Name", classes="field-label")
                yield Input(c.name if c else "", placeholder="e.g. staging", id="form-name")
                yield Label("Server URL", classes="field-label")
                yield Input(c.url if c else "", placeholder="https://data.example.org",
                            id="form-url")
                yield Label("Sign in with", classes="field-label")
                yield Select(AUTH_OPTIONS, value=c.auth if c else "password", allow_blank=False,
                             id="form-auth")
                yield Label("Username", classes="field-label -password")
                yield Input(c.username or "" if c else "", id="form-username",
                            classes="-password")
                yield Label("Password (leave empty to be asked, or to read it from the "
                            "variable below)", classes="field-label -secret", id="form-secret-label")
                yield Input(password=True, id="form-secret", classes="-secret",
                            placeholder="not saved unless ticked below")
                yield Label("Environment variable holding it", classes="field-label -secret")
                yield Input(c.secret_env or "" if c else "", id="form-env",
                            placeholder="e.g. MG_TARGET_PASSWORD", classes="-secret")
                yield Checkbox("Save the password or token in the config file (readable by "
                               "you only)", c.save_secret if c else False, id="form-save-secret",
                               classes="-secret")
            yield Static("", id="form-status")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Test (ctrl+t)", id="test")
                yield Button("Save (ctrl+s)", id="save", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#form-name", Input).focus()
        self._auth_changed()

    @on(Select.Changed, "#form-auth")
    def _auth_changed(self) -> None:
        auth = self.query_one("#form-auth", Select).value
        for w in self.query(".-password"):
            w.display = auth == "password"
        for w in self.query(".-secret"):
            w.display = auth in ("password", "token")
        secret = "Token" if auth == "token" else "Password"
        self.query_one("#form-secret-label", Label).update(
            f"{secret} (leave empty to be asked, or to read it from the variable below)")
        self.query_one("#form-env", Input).placeholder = (
            "e.g. MG_TARGET_TOKEN" if auth == "token" else "e.g. MG_TARGET_PASSWORD")

    def status(self, text: str, *, error: bool = False) -> None:
        box = self.query_one("#form-status", Static)
        box.update(text)
        box.set_class(error, "-error")

    # ------------------------------------------------------------------ values
    def read(self) -> tuple[ConnectionConfig, str | None]:
        """The connection the form describes; ConfigError says what is missing."""
        name = safe_name(self.query_one("#form-name", Input).value, "")
        url = self.query_one("#form-url", Input).value.strip()
        auth = str(self.query_one("#form-auth", Select).value)
        if not name:
            raise ConfigError("Give the connection a name.")
        if name in self.taken:
            raise ConfigError(f"There is already a connection called '{name}'.")
        if not url:
            raise ConfigError("Give the server's URL.")
        username = self.query_one("#form-username", Input).value.strip() or None
        if auth == "password" and not username:
            raise ConfigError("Give the username (or choose token or no sign-in).")
        secret = self.query_one("#form-secret", Input).value or None
        env = self.query_one("#form-env", Input).value.strip() or None
        save = bool(self.query_one("#form-save-secret", Checkbox).value) and auth != "none"
        old = self.existing
        kept = old.stored_secret() if old is not None and old.auth == auth else None
        conn = ConnectionConfig(
            name=name, url=url, auth=auth, username=username if auth == "password" else None,
            token_env=env if auth == "token" else None,
            password_env=env if auth == "password" else None,
            env_file=old.env_file if old is not None and old.auth == auth else None,
            save_secret=save)
        if save:
            value = secret or kept
            if auth == "token":
                conn.token = value
            elif auth == "password":
                conn.password = value
        return conn, secret

    # ----------------------------------------------------------------- actions
    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        {"cancel": self.action_cancel, "test": self.action_test,
         "save": self.action_save}[event.button.id or "cancel"]()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_save(self) -> None:
        try:
            conn, secret = self.read()
        except ConfigError as exc:
            self.status(str(exc), error=True)
            return
        self.dismiss((conn, secret))

    def action_test(self) -> None:
        if self.tester is None:
            return
        try:
            conn, secret = self.read()
        except ConfigError as exc:
            self.status(str(exc), error=True)
            return
        self.status("Testing…")
        self.test_connection(conn, secret)

    @work(exclusive=True, exit_on_error=False, group="test", name="test-connection",
          description="Test a connection")
    async def test_connection(self, conn: ConnectionConfig, secret: str | None) -> str:
        assert self.tester is not None
        message = await self.tester(conn, secret)
        self.status(f"✔ {message}")
        return message

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.status(f"✖ {describe_error(event.worker.error)}", error=True)
