"""The app's screens driven by Pilot over the in-memory engine of test_ui_fakes."""

from __future__ import annotations

from contextlib import suppress

from textual.widgets import DataTable, Select, Static
from textual.worker import WorkerCancelled, WorkerFailed

from test_ui_fakes import BrokenJob, FakeConnection, fake_app

from emx2tui.ui.modals.confirm_delete import ConfirmDeleteModal
from emx2tui.ui.screens.main import MainScreen
from emx2tui.ui.screens.preview import PreviewScreen
from emx2tui.ui.screens.run import RunScreen
from emx2tui.ui.widgets.step_pane import StepPane

SIZE = (140, 42)


async def settle(pilot, delay: float | None = None) -> None:
    with suppress(WorkerFailed, WorkerCancelled):
        await pilot.app.workers.wait_for_complete()
    await pilot.pause(delay)


def cells(table: DataTable) -> list[list[str]]:
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


async def preview(pilot) -> PreviewScreen:
    await settle(pilot)
    await pilot.press("p")
    await pilot.pause()
    await settle(pilot)
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, PreviewScreen)
    return screen


async def test_main_screen_loads_schemas_and_counts():
    app = fake_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, MainScreen)
        assert screen.query_one("#source-schema", Select).value == "cohortStaging"
        assert screen.query_one("#target-schema", Select).value == "catalogue"
        source = cells(screen.query_one("#source-tables", DataTable))
        assert source == [["Resources", "1"], ["Subpopulations", "4"], ["Contacts", "5"]]
        target = screen.query_one("#target-tables", DataTable)
        assert target.row_count == 4
        assert "v5.0" in str(screen.query_one("#target-model", Static).content)
        assert screen.picker.strategy.name == "CohortStagingToDataCatalogue"


async def test_switching_schema_reloads_tables():
    app = fake_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.screen.query_one("#source-schema", Select).value = "emptyStaging"
        await settle(pilot)
        assert app.screen.query_one("#source-tables", DataTable).row_count == 0
        assert "no tables" in str(app.screen.query_one("#source-message", Static).content)


async def test_picking_a_strategy_updates_the_description():
    app = fake_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("j", "down")
        await pilot.pause()
        assert app.screen.picker.strategy.name == "FillStaging"
        assert "Flow A" in str(app.screen.query_one("#strategy-description", Static).content)


async def test_preview_shows_plan_tables_and_rows():
    app = fake_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await preview(pilot)
        sync = cells(screen.query_one("#sync-tables", DataTable))
        assert sync == [["Resources", "1", "0", "1", "0"], ["Contacts", "4", "3", "1", "0"]]
        delete = cells(screen.query_one("#delete-tables", DataTable))
        assert delete == [["Subpopulations", "2", "2"]]
        assert "empty email" in str(screen.query_one("#plan-warnings", Static).content)
        rows = screen.query_one("#plan-rows", DataTable)
        assert rows.row_count == 1
        # Move to Contacts: its four rows show.
        await pilot.press("down")
        await settle(pilot, 0.1)
        assert rows.row_count == 4
        assert "Contacts" in str(rows.border_title)
        assert "resource = NORTHSTAR" in str(rows.border_subtitle)
        # Switch to the rows that will be deleted.
        await pilot.press("d")
        await settle(pilot, 0.1)
        assert rows.row_count == 2
        assert "Rows to delete" in str(rows.border_title)


async def test_escape_in_confirmation_deletes_nothing():
    app = fake_app()
    async with app.run_test(size=SIZE) as pilot:
        await preview(pilot)
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDeleteModal)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, PreviewScreen)


async def test_confirmed_run_finishes_with_summary():
    app = fake_app()
    async with app.run_test(size=SIZE) as pilot:
        await preview(pilot)
        await pilot.press("r")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        await settle(pilot, 0.1)
        screen = app.screen
        assert isinstance(screen, RunScreen)
        panes = list(screen.query(StepPane).results(StepPane))
        assert [p.step for p in panes] == ["tablesToDelete", "deleteCohort", "tablesToSync",
                                           "download", "filter", "backup", "upload"]
        assert all(p.status == "done" for p in panes)
        assert "Import Contacts" in str(screen.query_one("#tasks-upload", Static).content)
        summary = str(screen.query_one("#summary-text", Static).content)
        assert "Finished" in summary and "/backups/catalogue.zip" in summary
        counts = cells(screen.query_one("#summary-counts", DataTable))
        assert ["Contacts", "3", "1", "0", "0"] in counts
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)


async def test_plan_without_deletes_skips_confirmation():
    app = fake_app(job_kwargs={"deletes": False})
    async with app.run_test(size=SIZE) as pilot:
        await preview(pilot)
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, RunScreen)
        await settle(pilot, 0.1)


async def test_failed_import_shows_reason():
    app = fake_app(job_kwargs={"fail_upload": True})
    async with app.run_test(size=SIZE) as pilot:
        await preview(pilot)
        await pilot.press("r", "y")
        await pilot.pause()
        await settle(pilot, 0.1)
        screen = app.screen
        assert isinstance(screen, RunScreen)
        assert screen.query_one("#step-upload", StepPane).status == "failed"
        summary = str(screen.query_one("#summary-text", Static).content)
        assert "failed" in summary and "email is not valid" in summary
        assert "not changed" in summary


async def test_crashing_job_shows_reason_without_crash():
    app = fake_app(job_class=BrokenJob)
    async with app.run_test(size=SIZE) as pilot:
        await preview(pilot)
        await pilot.press("r", "y")
        await pilot.pause()
        await settle(pilot, 0.1)
        screen = app.screen
        assert isinstance(screen, RunScreen)
        summary = str(screen.query_one("#summary-text", Static).content)
        assert "connection refused by the target server" in summary
        assert screen.query_one("#step-tablesToDelete", StepPane).status == "failed"


async def test_unreachable_target_is_shown_in_its_pane():
    app = fake_app(target=FakeConnection("http://unreachable.test"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        message = app.screen.query_one("#target-message", Static)
        assert message.display
        assert "could not reach the server" in str(message.content)
        # The source side still works, and preview refuses politely.
        assert app.screen.query_one("#source-tables", DataTable).row_count == 3
        await pilot.press("p")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)


async def test_help_and_theme_toggle():
    app = fake_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f1")
        await pilot.pause()
        assert app.screen.id == "help-modal"
        await pilot.press("escape")
        await pilot.pause()
        dark = app.current_theme.dark
        await pilot.press("ctrl+t")
        assert app.current_theme.dark is not dark


async def test_command_palette_lists_main_actions():
    app = fake_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Preview the job" in titles and "Reload schemas" in titles
