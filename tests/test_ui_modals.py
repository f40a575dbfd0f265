"""Each modal on its own tiny host app."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Button, DataTable, Label, Static

from emx2tui.ui.modals.confirm_delete import ConfirmDeleteModal
from emx2tui.ui.modals.help import HelpModal


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


async def _open_confirm(pilot, received: list) -> ConfirmDeleteModal:
    modal = ConfirmDeleteModal(TABLES, target="catalogue", resource_id="NORTHSTAR")
    pilot.app.push_screen(modal, received.append)
    await pilot.pause()
    return modal


async def test_confirm_lists_every_table_with_deletes():
    received: list = []
    async with Host().run_test(size=(100, 30)) as pilot:
        modal = await _open_confirm(pilot, received)
        table = modal.query_one("#confirm-tables", DataTable)
        rows = [table.get_row_at(i) for i in range(table.row_count)]
        assert [r[0] for r in rows] == ["Subpopulations", "Contacts"]  # no row: not listed
        assert [r[1] for r in rows] == ["2", "3"]
        assert "5 rows" in str(modal.query_one("#confirm", Button).label)


async def test_confirm_focus_starts_on_cancel_and_enter_cancels():
    received: list = []
    async with Host().run_test(size=(100, 30)) as pilot:
        modal = await _open_confirm(pilot, received)
        assert modal.focused is modal.query_one("#cancel", Button)
        await pilot.press("enter")
        await pilot.pause()
        assert received == [False]


async def test_confirm_escape_cancels():
    received: list = []
    async with Host().run_test(size=(100, 30)) as pilot:
        await _open_confirm(pilot, received)
        await pilot.press("escape")
        await pilot.pause()
        assert received == [False]
        assert not isinstance(pilot.app.screen, ConfirmDeleteModal)


async def test_confirm_key_confirms():
    received: list = []
    async with Host().run_test(size=(100, 30)) as pilot:
        await _open_confirm(pilot, received)
        await pilot.press("y")
        await pilot.pause()
        assert received == [True]


async def test_confirm_button_confirms():
    received: list = []
    async with Host().run_test(size=(100, 30)) as pilot:
        await _open_confirm(pilot, received)
        assert await pilot.click("#confirm")
        await pilot.pause()
        assert received == [True]


async def test_help_lists_keys_and_closes():
    received: list = []
    sections = [("Somewhere", [Binding("p", "preview", "Preview", tooltip="Plan the job"),
                               Binding("x", "hidden", "")])]
    async with Host().run_test(size=(100, 30)) as pilot:
        pilot.app.push_screen(HelpModal(sections), received.append)
        await pilot.pause()
        table = pilot.app.screen.query_one(".help-table", Static).content
        assert table.row_count == 1
        assert [c._cells for c in table.columns] == [["p"], ["Plan the job"]]
        await pilot.press("escape")
        await pilot.pause()
        assert received == [None]
