"""Each modal on its own tiny host app."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Button, Checkbox, DataTable, Input, Label, Select, Static

from test_ui_fakes import FakeRestorePlan, journal_record
from uiwait import settle, wait_until

from emx2tui.config import ConnectionConfig
from emx2tui.emx2.frames import Frame
from emx2tui.ui.modals.confirm import ConfirmModal
from emx2tui.ui.modals.confirm_delete import ConfirmDeleteModal
from emx2tui.ui.modals.connection_form import ConnectionForm
from emx2tui.ui.modals.help import HelpModal
from emx2tui.ui.modals.prompt import NameModal
from emx2tui.ui.modals.restore import RestoreModal
from emx2tui.ui.modals.rows import RowsModal
from emx2tui.ui.modals.prompt import SecretModal
from emx2tui.ui.rowtext import PAGE

SIZE = (110, 40)


@dataclass
class Deleted:
    table: str
    filter_text: str
    rows: int
    deletes: int


TABLES = [Deleted("Subpopulations", "resource = NORTHSTAR", 9, 2),
          Deleted("Contacts", "resource = NORTHSTAR", 12, 3),
          Deleted("Collections", "id = NORTHSTAR", 1, 0)]


class Host(App[None]):
    def compose(self) -> ComposeResult:
        yield Label("host")


async def _open(pilot, modal) -> list:
    received: list = []
    pilot.app.push_screen(modal, received.append)
    await pilot.pause()
    return received


# ----------------------------------------------------------------- delete confirmation
def _confirm() -> ConfirmDeleteModal:
    return ConfirmDeleteModal(TABLES, target="catalogue", resource_id="NORTHSTAR")


async def test_confirm_lists_every_table_with_deletes():
    async with Host().run_test(size=SIZE) as pilot:
        modal = _confirm()
        await _open(pilot, modal)
        table = modal.query_one("#confirm-tables", DataTable)
        rows = [table.get_row_at(i) for i in range(table.row_count)]
        assert [r[0] for r in rows] == ["Subpopulations", "Contacts"]  # no row: not listed
        assert [r[1] for r in rows] == ["2", "3"]
        assert "5 rows" in str(modal.query_one("#confirm", Button).label)
        assert "NORTHSTAR" in str(modal.query_one("#confirm-prompt", Label).content)


async def test_confirm_focus_starts_on_cancel_and_enter_cancels():
    async with Host().run_test(size=SIZE) as pilot:
        modal = _confirm()
        received = await _open(pilot, modal)
        assert modal.focused is modal.query_one("#cancel", Button)
        assert modal.query_one("#confirm", Button).disabled
        await pilot.press("enter")
        await pilot.pause()
        assert received == [False]


async def test_confirm_escape_cancels():
    async with Host().run_test(size=SIZE) as pilot:
        received = await _open(pilot, _confirm())
        await pilot.press("escape")
        await pilot.pause()
        assert received == [False]
        assert not isinstance(pilot.app.screen, ConfirmDeleteModal)


async def test_confirm_needs_the_id_typed():
    async with Host().run_test(size=SIZE) as pilot:
        modal = _confirm()
        received = await _open(pilot, modal)
        # Typing while Cancel has focus goes into the id field.
        await pilot.press(*"NORTH", "enter")
        await pilot.pause()
        assert received == []  # a wrong id does nothing
        assert modal.query_one("#confirm", Button).disabled
        await pilot.press(*"STAR")
        await pilot.pause()
        assert modal.query_one("#confirm-id", Input).value == "NORTHSTAR"
        assert not modal.query_one("#confirm", Button).disabled
        await pilot.press("enter")
        await pilot.pause()
        assert received == [True]


async def test_confirm_button_confirms_once_typed():
    async with Host().run_test(size=SIZE) as pilot:
        modal = _confirm()
        received = await _open(pilot, modal)
        assert await pilot.click("#confirm")
        await pilot.pause()
        assert received == []
        modal.query_one("#confirm-id", Input).value = "NORTHSTAR"
        await pilot.pause()
        assert await pilot.click("#confirm")
        await pilot.pause()
        assert received == [True]


async def test_confirm_without_resource_id_asks_for_the_schema():
    async with Host().run_test(size=SIZE) as pilot:
        modal = ConfirmDeleteModal(TABLES, target="catalogue")
        received = await _open(pilot, modal)
        await pilot.press(*"catalogue", "enter")
        await pilot.pause()
        assert received == [True]


# ------------------------------------------------------------------ yes / no question
async def test_question_focus_on_cancel_and_answers():
    async with Host().run_test(size=SIZE) as pilot:
        modal = ConfirmModal("Cancel the run?", "Nothing has been written.", confirm="Stop")
        received = await _open(pilot, modal)
        assert modal.focused is modal.query_one("#cancel", Button)
        await pilot.press("enter")
        await pilot.pause()
        received2 = await _open(pilot, ConfirmModal("Again?", "body"))
        await pilot.press("y")
        await pilot.pause()
        received3 = await _open(pilot, ConfirmModal("Again?", "body"))
        await pilot.press("escape")
        await pilot.pause()
        assert (received, received2, received3) == ([False], [True], [False])


# --------------------------------------------------------------------- small inputs
async def test_secret_prompt_returns_the_secret_or_none():
    async with Host().run_test(size=SIZE) as pilot:
        modal = SecretModal("staging · ann@staging.example.org")
        received = await _open(pilot, modal)
        assert modal.query_one("#prompt-value", Input).password
        await pilot.press(*"s3cret", "enter")
        await pilot.pause()
        received2 = await _open(pilot, SecretModal("x"))
        await pilot.press("escape")
        await pilot.pause()
        assert received == ["s3cret"] and received2 == [None]


async def test_name_prompt():
    async with Host().run_test(size=SIZE) as pilot:
        received = await _open(pilot, NameModal("Save this job", "body", "weekly"))
        await pilot.press("end", "backspace", "backspace", "enter")
        await pilot.pause()
        received2 = await _open(pilot, NameModal("Save", "body", "x"))
        await pilot.press("escape")
        await pilot.pause()
        assert received == ["week"] and received2 == [None]


# ------------------------------------------------------------------- connection form
async def test_connection_form_saves_without_the_secret_unless_asked():
    async with Host().run_test(size=SIZE) as pilot:
        modal = ConnectionForm(None, taken={"other"})
        received = await _open(pilot, modal)
        modal.query_one("#form-name", Input).value = "staging"
        modal.query_one("#form-url", Input).value = "https://staging.example.org"
        modal.query_one("#form-username", Input).value = "ann"
        modal.query_one("#form-secret", Input).value = "pw-secret"
        await pilot.press("ctrl+s")
        await pilot.pause()
        conn, secret = received[0]
        assert (conn.name, conn.auth, conn.username, secret) == ("staging", "password", "ann",
                                                                 "pw-secret")
        assert conn.password is None and "password" not in conn.to_toml()


async def test_connection_form_saves_the_secret_when_ticked():
    async with Host().run_test(size=SIZE) as pilot:
        modal = ConnectionForm(None, taken=set())
        received = await _open(pilot, modal)
        modal.query_one("#form-name", Input).value = "cat"
        modal.query_one("#form-url", Input).value = "https://catalogue.example.org"
        modal.query_one("#form-auth", Select).value = "token"
        await pilot.pause()
        assert not modal.query_one("#form-username", Input).display
        assert modal.query_one("#form-env", Input).placeholder == "e.g. MG_TARGET_TOKEN"
        assert "Token" in str(modal.query_one("#form-secret-label", Label).content)
        modal.query_one("#form-secret", Input).value = "tok-secret"
        modal.query_one("#form-save-secret", Checkbox).value = True
        await pilot.click("#save")
        await pilot.pause()
        conn, _ = received[0]
        assert conn.to_toml()["token"] == "tok-secret"


async def test_connection_form_says_what_is_missing_and_escape_cancels():
    async with Host().run_test(size=SIZE) as pilot:
        modal = ConnectionForm(None, taken={"staging"})
        received = await _open(pilot, modal)
        modal.query_one("#form-name", Input).value = "staging"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "already a connection" in str(modal.query_one("#form-status", Static).content)
        modal.query_one("#form-name", Input).value = "new"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "URL" in str(modal.query_one("#form-status", Static).content)
        await pilot.press("escape")
        await pilot.pause()
        assert received == [None]


async def test_connection_form_tests_the_connection():
    calls = []

    async def tester(conn, secret):
        calls.append((conn.url, secret))
        if secret == "wrong":
            raise ValueError("Sign-in failed: wrong user name or password")
        return "signed in, 3 schemas visible"

    async with Host().run_test(size=SIZE) as pilot:
        existing = ConnectionConfig("cat", "https://catalogue.example.org", "password", "ann")
        modal = ConnectionForm(existing, taken={"cat"}, tester=tester)
        await _open(pilot, modal)
        modal.query_one("#form-secret", Input).value = "wrong"
        await pilot.press("ctrl+t")
        status = modal.query_one("#form-status", Static)
        await wait_until(pilot, lambda: "wrong user name" in str(status.content))
        assert "wrong user name" in str(status.content) and status.has_class("-error")
        modal.query_one("#form-secret", Input).value = "right"
        await pilot.click("#test")
        await wait_until(pilot, lambda: "3 schemas" in str(status.content))
        assert "3 schemas" in str(status.content)
        assert calls == [("https://catalogue.example.org", "wrong"),
                         ("https://catalogue.example.org", "right")]


# ----------------------------------------------------------------------------- rows
async def test_rows_modal_pages_through_rows():
    frame = Frame(["id", "name"], [(str(i), "x") for i in range(PAGE + 20)])

    async def load():
        return frame

    async with Host().run_test(size=SIZE) as pilot:
        modal = RowsModal("Contacts in catalogue", load)
        received = await _open(pilot, modal)
        await settle(pilot)
        table = modal.query_one("#rows-table", DataTable)
        assert table.row_count == PAGE
        assert "of 520" in str(modal.query_one("#rows-status", Static).content)
        await pilot.press("right_square_bracket")
        await settle(pilot)
        assert table.row_count == 20 and str(table.get_row_at(0)[0]) == str(PAGE)
        await pilot.press("escape")
        await pilot.pause()
        assert received == [None]


async def test_rows_modal_reports_a_failed_download():
    async def load():
        await asyncio.sleep(0)
        raise ConnectionError("connection refused")

    async with Host().run_test(size=SIZE) as pilot:
        modal = RowsModal("Contacts", load)
        await _open(pilot, modal)
        await settle(pilot)
        assert "could not reach the server" in str(modal.query_one("#rows-status", Static).content)


# --------------------------------------------------------------------------- restore
async def test_restore_modal_asks_and_focuses_cancel():
    async with Host().run_test(size=SIZE) as pilot:
        plan = FakeRestorePlan(journal_record(), None, "catalogue")
        modal = RestoreModal(plan)
        received = await _open(pilot, modal)
        assert modal.focused is modal.query_one("#cancel", Button)
        assert "Restore of run" in str(modal.query_one("#restore-text", Static).content)
        await pilot.click("#restore")
        await pilot.pause()
        assert received == [False]  # go ahead, no force needed


async def test_restore_modal_with_conflicts_needs_the_tick():
    async with Host().run_test(size=SIZE) as pilot:
        plan = FakeRestorePlan(journal_record(), None, "catalogue",
                               conflicts=["Contacts (NORTHSTAR, a): changed since the run"])
        modal = RestoreModal(plan)
        received = await _open(pilot, modal)
        assert modal.query_one("#restore", Button).disabled
        modal.query_one("#restore-force", Checkbox).value = True
        await pilot.pause()
        await pilot.click("#restore")
        await pilot.pause()
        received2 = await _open(pilot, RestoreModal(plan))
        await pilot.press("escape")
        await pilot.pause()
        assert received == [True] and received2 == [None]


# ------------------------------------------------------------------------------ help
async def test_help_lists_keys_after_remapping_and_closes():
    sections = [("Somewhere", [Binding("p", "preview", "Preview", tooltip="Plan the job",
                                       id="preview"),
                               Binding("x", "hidden", "")])]
    async with Host().run_test(size=SIZE) as pilot:
        received = await _open(pilot, HelpModal(sections, {"preview": "f5"}))
        table = pilot.app.screen.query_one(".help-table", Static).content
        assert table.row_count == 1
        assert [c._cells for c in table.columns] == [["f5"], ["Plan the job"], ["preview"]]
        titles = [str(s.render()) for s in pilot.app.screen.query(".help-section")]
        assert titles[0] == "Somewhere"
        assert {"Connection form", "Rows of a table", "Restore dialog"} <= set(titles)
        ids = " ".join(str(c._cells) for t in pilot.app.screen.query(".help-table")
                       for c in t.content.columns)
        assert "form-save" in ids and "rows-next" in ids and "restore-cancel" in ids
        await pilot.press("escape")
        await pilot.pause()
        assert received == [None]
