"""The app's screens driven by Pilot over the in-memory engine of test_ui_fakes."""

from __future__ import annotations

import asyncio
import os
import stat

from textual.widgets import DataTable, Input, OptionList, ProgressBar, Select, Static
from test_ui_fakes import (STRATEGIES, BrokenJob, FakeConnection, FakeRestorer, FakeStrategy,
                           ManyRowsJob, ScriptedJob, fake_app, journal_record)

from emx2tui.jobs.events import ServerTask, StepFinished, StepLog, StepStarted, WriteSent
from uiwait import settle, wait_until

from emx2tui.config import Config, ConnectionConfig, SavedJob, load_config
from emx2tui.ui.modals.confirm import ConfirmModal
from emx2tui.ui.modals.confirm_delete import ConfirmDeleteModal
from emx2tui.ui.modals.connection_form import ConnectionForm
from emx2tui.ui.modals.prompt import NameModal, SecretModal
from emx2tui.ui.modals.restore import RestoreModal
from emx2tui.ui.modals.rows import RowsModal
from emx2tui.ui.screens.connections import ConnectionsScreen
from emx2tui.ui.screens.history import HistoryScreen
from emx2tui.ui.screens.jobs import JobsScreen
from emx2tui.ui.screens.main import MainScreen
from emx2tui.ui.screens.preview import PreviewScreen
from emx2tui.ui.screens.run import RunScreen
from emx2tui.ui.widgets.step_pane import StepPane

SIZE = (140, 42)






def cells(table: DataTable) -> list[list[str]]:
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


async def preview(pilot) -> PreviewScreen:
    await settle(pilot)
    await pilot.press("p")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, PreviewScreen))
    await wait_until(pilot, lambda: pilot.app.screen.plan is not None
                   or pilot.app.screen.error is not None)
    await settle(pilot)
    return pilot.app.screen


async def run_confirmed(pilot) -> RunScreen:
    await preview(pilot)
    await pilot.press("r")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, ConfirmDeleteModal))
    await pilot.press(*"NORTHSTAR", "enter")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, RunScreen))
    run = pilot.app.screen
    await wait_until(pilot, lambda: not run.running)
    await pilot.pause()
    return run


# ---------------------------------------------------------------------- main screen
async def test_main_screen_loads_schemas_and_counts():
    app = fake_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, MainScreen)
        assert screen.source_pane.schema == "cohortStaging"
        assert screen.target_pane.schema == "catalogue"
        source = cells(screen.query_one("#source-tables", DataTable))
        assert source == [["Resources", "1"], ["Subpopulations", "4"], ["Contacts", "5"]]
        assert screen.query_one("#target-tables", DataTable).row_count == 4
        badge = str(screen.query_one("#target-model", Static).render())
        assert "DataCatalogue" in badge and "v5.0" in badge
        assert screen.query_one("#source-schemas", OptionList).option_count == 3
        assert screen.picker.strategy.name == "CohortStagingToDataCatalogue"


async def test_filter_and_pick_another_schema():
    app = fake_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("s")
        assert app.screen.focused is app.screen.query_one("#source-filter", Input)
        await pilot.press(*"empty")
        await pilot.pause()
        assert app.screen.query_one("#source-schemas", OptionList).option_count == 1
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen.source_pane.schema == "emptyStaging"
        assert app.screen.query_one("#source-tables", DataTable).row_count == 0
        assert "no tables" in str(app.screen.query_one("#source-message", Static).content)
        # picked: the filter lets go, so the screen's keys work again
        assert app.screen.focused is app.screen.query_one("#source-tables", DataTable)


async def test_filter_with_several_matches_goes_to_the_list_and_escape_leaves_it():
    app = fake_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("t", *"staging", "enter")
        await pilot.pause()
        screen = app.screen
        schemas = screen.query_one("#target-schemas", OptionList)
        assert schemas.option_count == 2 and screen.focused is schemas
        assert "2 schemas match" in str(screen.query_one("#target-message", Static).content)
        assert screen.target_pane.schema == "catalogue"  # nothing picked yet
        await pilot.press("down", "enter")
        await settle(pilot)
        assert screen.target_pane.schema == "emptyStaging"
        assert screen.focused is screen.query_one("#target-tables", DataTable)
        # Escape clears a filter, then leaves the box for the schema list
        await pilot.press("t", *"xyz")
        box = screen.query_one("#target-filter", Input)
        assert box.value == "xyz" and screen.focused is box
        await pilot.press("escape")
        assert box.value == "" and screen.focused is box
        await pilot.press("escape")
        assert screen.focused is schemas


async def test_picking_a_strategy_shows_its_flow():
    app = fake_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        text = str(app.screen.query_one("#strategy-description", Static).render())
        assert "tablesToDelete" in text and "deleteCohort" in text and "TARGET" in text
        await pilot.press("j", "down")
        await pilot.pause()
        assert app.screen.picker.strategy.name == "FillStaging"
        text = str(app.screen.query_one("#strategy-description", Static).render())
        assert "Flow A" in text and "SOURCE" in text and "tablesToDelete" not in text


async def test_small_terminal_keeps_the_tables_and_a_readable_flow():
    from emx2tui.ui.text import compact_paths, flow_diagram

    app = fake_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        tables = app.screen.query_one("#source-tables", DataTable)
        assert tables.size.height >= 4  # header and rows, under the shrunken schema list
        text = str(app.screen.query_one("#strategy-description", Static).render())
        assert "deleteCohort" in text and "into upload" in text
    narrow = flow_diagram(STRATEGIES[0], 40).plain.split("\n")
    assert max(len(line) for line in narrow) <= 40
    assert "─┘" not in flow_diagram(STRATEGIES[0], 40).plain
    assert "─┘" in flow_diagram(STRATEGIES[0]).plain
    assert compact_paths("Saved 9 bytes to /tmp/x/backups/cat.zip from http://h:1/a") == (
        "Saved 9 bytes to …/cat.zip from http://h:1/a")


class PickyStrategy(FakeStrategy):
    def check_models(self, source, target, source_where, target_where):
        if "DataCatalogue" not in source.profiles():
            raise ValueError(f"The source schema ({source_where}) has model "
                             f"{source.profiles()[0]}; this job expects DataCatalogue.")


async def test_strategies_that_do_not_fit_are_greyed_out_with_the_reason():
    picky = PickyStrategy("FillStaging", "Fill a staging area", "A", "Copy a cohort.",
                          ["tablesToSync", "download", "filter", "upload"])
    app = fake_app(strategy="FillStaging")
    app.strategies = [STRATEGIES[0], picky]
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        picker = app.screen.picker
        assert set(picker.unfit) == {"FillStaging"}
        assert "1 of 2 fit" in str(picker.border_title)
        commands = {c.title: c.help for c in app.get_system_commands(app.screen)}
        assert "Strategy: Cohort staging → data catalogue" in commands
        assert "does not fit: The source schema" in commands["✖ Strategy: Fill a staging area"]
        text = str(app.screen.query_one("#strategy-description", Static).render())
        assert "Does not fit" in text and "expects DataCatalogue" in text
        await pilot.press("p")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)  # refused, with the reason


async def test_table_rows_on_demand():
    app = fake_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#target-tables", DataTable)
        table.focus()
        await pilot.press("down", "down", "down", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, RowsModal))
        await settle(pilot)
        rows = app.screen.query_one("#rows-table", DataTable)
        assert rows.row_count == 12
        assert "Contacts in catalogue" in str(app.screen.query_one(".dialog-heading").render())
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)


async def test_unreachable_target_is_shown_in_its_pane():
    app = fake_app(target=FakeConnection("http://unreachable.test"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        message = app.screen.query_one("#target-message", Static)
        assert message.display
        assert "could not reach the server" in str(message.content)
        assert app.screen.query_one("#source-tables", DataTable).row_count == 3
        await pilot.press("p")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)


# -------------------------------------------------------------------------- preview
async def test_preview_shows_plan_tables_and_row_diffs():
    app = fake_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await preview(pilot)
        sync = cells(screen.query_one("#sync-tables", DataTable))
        assert sync == [["Resources", "1", "0", "1", "0", ""], ["Contacts", "4", "3", "1", "0", "!"]]
        assert cells(screen.query_one("#delete-tables", DataTable)) == [["Subpopulations", "2"]]
        warnings = str(screen.query_one("#plan-warnings", Static).render())
        assert "empty email" in warnings and "clear values of phone (1)" in warnings
        rows = screen.query_one("#plan-rows", DataTable)
        assert rows.row_count == 1
        await pilot.press("down")
        await settle(pilot)
        assert rows.row_count == 4
        assert [str(rows.get_row_at(i)[0]) for i in range(4)] == [
            "~ update", "+ insert", "+ insert", "+ insert"]
        assert "1 update · 3 insert" in str(rows.border_subtitle)
        # The updated row: its changed cell is highlighted and the old value shown below.
        assert "reverse" in str(rows.get_row_at(0)[3].style)
        await pilot.press("w")
        await pilot.pause()
        detail = str(screen.query_one("#row-detail", Static).render())
        assert "old@example.org" in detail and "person0@example.org" in detail
        await pilot.press("d")
        await settle(pilot)
        assert rows.row_count == 2 and str(rows.get_row_at(0)[0]) == "- delete"
        assert "Rows to delete" in str(rows.border_title)


async def test_preview_lists_only_the_tables_with_rows_to_delete():
    from test_ui_fakes import FakeJob, FakeTablePlan

    class CheckedMore(FakeJob):
        async def plan(self, emit):
            plan = await super().plan(emit)
            plan.delete += [FakeTablePlan(name, "resource = NORTHSTAR", 0, deletes=0)
                            for name in ("Contacts", "Collections", "Publications")]
            return plan

    app = fake_app(job_class=CheckedMore)
    async with app.run_test(size=SIZE) as pilot:
        screen = await preview(pilot)
        delete = screen.query_one("#delete-tables", DataTable)
        assert cells(delete) == [["Subpopulations", "2"]]
        assert str(delete.border_subtitle) == "1 table · 2 rows · 3 with nothing to delete not shown"


async def test_broken_references_refuse_the_run():
    app = fake_app(job_kwargs={"broken": ("Contacts.resource NORTHSTAR: not in Resources",)})
    async with app.run_test(size=SIZE) as pilot:
        screen = await preview(pilot)
        box = screen.query_one("#plan-warnings", Static)
        assert box.has_class("-broken") and "1 broken reference" in str(box.render())
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, PreviewScreen)


async def test_escape_in_confirmation_deletes_nothing():
    app = fake_app()
    async with app.run_test(size=SIZE) as pilot:
        await preview(pilot)
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDeleteModal)
        assert app.screen.focused.id == "cancel"
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, PreviewScreen)


# ------------------------------------------------------------------------------ run
async def test_confirmed_run_finishes_with_summary():
    app = fake_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await run_confirmed(pilot)
        panes = list(screen.query(StepPane).results(StepPane))
        assert [p.step for p in panes] == ["tablesToDelete", "deleteCohort", "tablesToSync",
                                           "download", "filter", "backup", "upload"]
        assert all(p.status == "done" for p in panes)
        assert "Import Contacts" in str(screen.query_one("#tasks-upload", Static).content)
        summary = str(screen.query_one("#summary-text", Static).content)
        assert "Finished" in summary and "/backups/catalogue.zip" in summary
        assert "20260101-120000-cafe" in summary
        assert ["Contacts", "3", "1", "0", "0"] in cells(screen.query_one("#summary-counts",
                                                                          DataTable))
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
        await settle(pilot)


async def test_failed_import_shows_reason_and_target_state():
    app = fake_app(job_kwargs={"fail_upload": True})
    async with app.run_test(size=SIZE) as pilot:
        screen = await run_confirmed(pilot)
        assert screen.query_one("#step-upload", StepPane).status == "failed"
        summary = str(screen.query_one("#summary-text", Static).content)
        assert "failed" in summary and "email is not valid" in summary
        assert "not changed" in summary


async def test_crashing_job_shows_reason_without_crash():
    app = fake_app(job_class=BrokenJob)
    async with app.run_test(size=SIZE) as pilot:
        screen = await run_confirmed(pilot)
        summary = str(screen.query_one("#summary-text", Static).content)
        assert "connection refused by the target server" in summary
        assert "catalogue was not changed" in summary
        assert screen.query_one("#step-tablesToDelete", StepPane).status == "failed"


async def test_cancel_asks_first_and_stops_safely():
    app = fake_app(job_kwargs={"hold": True})
    async with app.run_test(size=SIZE) as pilot:
        await preview(pilot)
        await pilot.press("r")
        await pilot.pause()
        await pilot.press(*"NORTHSTAR", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, RunScreen))
        run = app.screen
        await pilot.press("x")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        body = str(app.screen.query_one(".dialog-body", Static).render())
        assert "Nothing has been written to catalogue" in body
        await pilot.press("escape")  # keep running
        await pilot.pause()
        assert app.screen is run and run.running and not run.job.cancelled
        await pilot.press("x")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("y")
        await pilot.pause()
        assert run.job.cancelled
        run.job.gate.set()
        await wait_until(pilot, lambda: not run.running)
        summary = str(run.query_one("#summary-text", Static).content)
        assert "Cancelled" in summary and "catalogue was not changed" in summary
        assert run.check_action("cancel_run", ()) is False  # x leaves the footer


async def test_restore_after_a_run_with_one_key():
    restorer = FakeRestorer()
    app = fake_app(restorer=restorer)
    async with app.run_test(size=SIZE) as pilot:
        journal_record()
        await run_confirmed(pilot)
        await pilot.press("R")
        await wait_until(pilot, lambda: isinstance(app.screen, RestoreModal))
        await pilot.click("#restore")
        await wait_until(pilot, lambda: isinstance(app.screen, RunScreen)
                       and app.screen.kind == "restore")
        restore = app.screen
        await wait_until(pilot, lambda: not restore.running)
        await pilot.pause()
        assert [p.step for p in restore.query(StepPane).results(StepPane)] == ["backup", "upload"]
        assert "Finished" in str(restore.query_one("#summary-text", Static).content)
        assert restorer.applied and restorer.applied[0][1] is False


# -------------------------------------------------------------------------- history
async def test_history_lists_runs_and_restores_with_force_on_conflicts():
    restorer = FakeRestorer(conflicts=["Contacts (NORTHSTAR, a): changed since the run"])
    app = fake_app(restorer=restorer)
    async with app.run_test(size=SIZE) as pilot:
        journal_record("20260101-110000-aaaa", outcome="failed", error="Contacts row 3: bad email")
        journal_record()
        await settle(pilot)
        await pilot.press("h")
        await wait_until(pilot, lambda: isinstance(app.screen, HistoryScreen))
        await settle(pilot)
        screen = app.screen
        table = screen.query_one("#history-table", DataTable)
        assert table.row_count == 2
        detail = str(screen.query_one("#history-detail", Static).render())
        assert "20260101-120000-cafe" in detail and "Contacts" in detail
        table.focus()
        await pilot.press("down")
        await pilot.pause()
        detail = str(screen.query_one("#history-detail", Static).render())
        assert "Why it failed" in detail and "bad email" in detail
        await pilot.press("up", "R")
        await wait_until(pilot, lambda: isinstance(app.screen, RestoreModal))
        assert app.screen.query_one("#restore").disabled
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen and not restorer.applied


async def test_history_without_runs_says_so():
    app = fake_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.action_history()
        await wait_until(pilot, lambda: isinstance(app.screen, HistoryScreen))
        await settle(pilot)
        assert "No runs yet" in str(app.screen.query_one("#history-detail", Static).render())
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)


async def test_restore_with_source_and_target_on_one_server_uses_the_runs_schema():
    # two connections to one server: the first that matches the run's URL is the source's,
    # pointed at the staging schema; the restore must go to the schema the run wrote to
    restorer = FakeRestorer()
    app = fake_app(source=FakeConnection("http://target.test", schema="cohortStaging"),
                   target=FakeConnection("http://target.test", schema="catalogue"),
                   restorer=restorer)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        journal_record()
        await settle(pilot)
        app.restore_run("20260101-120000-cafe")
        await wait_until(pilot, lambda: isinstance(app.screen, RestoreModal))
        assert app.screen.plan.connection.schema == "catalogue"
        assert not any("failed" in (n.title or "") for n in app._notifications)


async def test_restore_needs_a_connection_to_the_target():
    app = fake_app(target=FakeConnection("http://elsewhere.test"),
                   source=FakeConnection("http://elsewhere2.test"), restorer=FakeRestorer())
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        journal_record()
        await settle(pilot)
        app.restore_run("20260101-120000-cafe")
        await settle(pilot)
        assert not isinstance(app.screen, RestoreModal)
        assert any("No connection to http://target.test" in n.message
                   for n in app._notifications)


# ------------------------------------------------------------- connections and jobs
def _saved_config(**extra) -> Config:
    config = Config(connections={
        "staging": ConnectionConfig("staging", "http://source.test", "password", "admin",
                                    password_env="TEST_STAGING_PW"),
        "cat": ConnectionConfig("cat", "http://target.test", "none")}, **extra)
    return config


async def test_connection_manager_adds_tests_and_removes(monkeypatch):
    app = fake_app(source=None, target=None, config=Config())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "No source server" in str(app.screen.query_one("#source-message",
                                                              Static).content)
        await pilot.press("c")
        await wait_until(pilot, lambda: isinstance(app.screen, ConnectionsScreen))
        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(app.screen, ConnectionForm))
        form = app.screen
        form.query_one("#form-name", Input).value = "staging"
        form.query_one("#form-url", Input).value = "http://source.test"
        form.query_one("#form-username", Input).value = "admin"
        form.query_one("#form-secret", Input).value = "pw-secret"
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(app.screen, ConnectionsScreen))
        path = app.config.path
        assert path is not None and stat.S_IMODE(os.stat(path).st_mode) == 0o600
        text = path.read_text()
        assert "staging" in text and "pw-secret" not in text
        # Test: the secret typed in the form is used for this session.
        await pilot.press("t")
        await settle(pilot)
        assert "3 schemas" in str(app.screen.query_one("#connections-status", Static).content)
        # The new server is offered in both panes.
        main = app.main_screen
        assert [s.key for s in app.servers] == ["saved:staging"]
        assert len(main.query_one("#source-server", Select)._options) == 2
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("y")
        await pilot.pause()
        assert not app.config.connections and "staging" not in load_config(path).connections


async def test_saved_server_asks_for_its_password():
    app = fake_app(source=None, target=None, config=_saved_config(), source_schema=None,
                   target_schema=None)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, SecretModal))
        await pilot.press("escape")
        await settle(pilot)
        assert "Not signed in" in str(app.screen.query_one("#source-message", Static).content)
        app.screen.query_one("#source-server", Select).value = "saved:cat"
        await settle(pilot)
        assert app.screen.source_pane.schemas == ["catalogue", "cohortStaging", "emptyStaging"]


async def test_both_panes_on_one_saved_server_ask_once():
    app = fake_app(source=None, target=None, config=_saved_config(), source_schema=None,
                   target_schema=None)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, SecretModal))
        main = app.main_screen
        assert main.source_pane.initial_server == main.target_pane.initial_server == "saved:staging"
        await pilot.press(*"pw", "enter")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)  # one question, not two
        for pane in (main.source_pane, main.target_pane):
            assert pane.schemas == ["catalogue", "cohortStaging", "emptyStaging"]
            assert "Could not" not in str(pane.query_one(".pane-message", Static).content)


async def test_saved_job_is_saved_listed_and_previewed(monkeypatch):
    monkeypatch.setenv("TEST_STAGING_PW", "from-env")
    app = fake_app(source=None, target=None, config=_saved_config())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        main = app.screen
        main.target_pane.query_one(Select).value = "saved:cat"
        await settle(pilot)
        assert main.source_pane.schema == "cohortStaging"
        assert main.target_pane.schema == "catalogue"
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(app.screen, NameModal))
        await pilot.press("ctrl+a")
        app.screen.query_one("#prompt-value", Input).value = "weekly"
        await pilot.press("enter")
        await pilot.pause()
        job = load_config(app.config.path).jobs["weekly"]
        assert (job.source, job.source_schema, job.target, job.target_schema) == (
            "staging", "cohortStaging", "cat", "catalogue")
        # Point the panes elsewhere, then open the job again from the list.
        main.source_pane.choose_schema("emptyStaging")
        await settle(pilot)
        await pilot.press("o")
        await wait_until(pilot, lambda: isinstance(app.screen, JobsScreen))
        assert cells(app.screen.query_one("#jobs-table", DataTable))[0][0] == "weekly"
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, PreviewScreen))
        assert app.screen.source == "cohortStaging"


async def test_saved_job_in_another_spelling_runs_and_an_unknown_strategy_is_refused(monkeypatch):
    monkeypatch.setenv("TEST_STAGING_PW", "from-env")
    config = _saved_config(jobs={
        "old": SavedJob("old", "cohort-staging-to-data-catalogue", "staging", "cat",
                        "cohortStaging", "catalogue"),
        "bogus": SavedJob("bogus", "BogusStrategy", "staging", "cat", "cohortStaging",
                          "catalogue")})
    app = fake_app(source=None, target=None, config=config)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot)
        main = app.screen
        main.open_job(config.jobs["bogus"])
        await settle(pilot)
        assert app.screen is main and main.pending_job is None
        assert any("BogusStrategy" in n.message and "not known" in n.message
                   for n in app._notifications)
        main.open_job(config.jobs["old"])
        await wait_until(pilot, lambda: isinstance(app.screen, PreviewScreen))
        assert app.screen.strategy.name == "CohortStagingToDataCatalogue"


async def test_saved_jobs_without_jobs_explain_how():
    app = fake_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.action_jobs()
        await wait_until(pilot, lambda: isinstance(app.screen, JobsScreen))
        assert "--import-env" in str(app.screen.query_one("#jobs-status", Static).content)


# ------------------------------------------------------------- keys, help, palette
async def test_keymap_from_config_and_help():
    app = fake_app(config=Config(keys={"preview": "f5"}))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("p")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        await pilot.press("f5")
        await wait_until(pilot, lambda: isinstance(app.screen, PreviewScreen))
        await settle(pilot)
        await pilot.press("f1")
        await pilot.pause()
        assert app.screen.id == "help-modal"
        text = " ".join(str(s.render()) for s in app.screen.query(".help-section"))
        assert "History" in text and "Connections" in text
        await pilot.press("escape")
        await pilot.pause()
        dark = app.current_theme.dark
        await pilot.press("ctrl+t")
        assert app.current_theme.dark is not dark


async def test_command_palette_has_every_action():
    app = fake_app(config=Config(jobs={"weekly": SavedJob("weekly", "FillStaging", "a", "b")}))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for wanted in ("Preview the job", "Reload schemas", "Save this job", "Connections",
                       "Saved jobs", "History", "Help: keys", "Toggle light/dark theme",
                       "Saved job: weekly"):
            assert wanted in titles
        await preview(pilot)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Run the job" in titles and "Next page of rows" in titles


# --------------------------------------------------------------------- performance
async def test_event_loop_stays_responsive_during_a_large_run():
    """100 000 rows in 4 tables, a progress event every 50 rows: the loop keeps ticking."""
    app = fake_app(job_class=ManyRowsJob, job_kwargs={"deletes": False}, clock=None)
    async with app.run_test(size=SIZE) as pilot:
        await preview(pilot)
        lags: list[float] = []
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()

        async def ticker() -> None:
            while not stop.is_set():
                before = loop.time()
                await asyncio.sleep(0.01)
                lags.append(loop.time() - before - 0.01)

        tick = asyncio.create_task(ticker())
        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(app.screen, RunScreen))
        run = app.screen
        await wait_until(pilot, lambda: not run.running, timeout=120)
        stop.set()
        await tick
        await pilot.pause()
        assert run.job.sent >= 8000
        assert run.events_seen < run.job.sent  # progress events were coalesced
        assert run.query_one("#step-download", StepPane).status == "done"
        assert len(run.query_one("#step-download", StepPane).tables) == 4
        # Generous: a 2-core CI box under load still keeps this well below a second.
        assert max(lags) < 1.0, f"event loop stalled for {max(lags):.2f} s"


# ------------------------------------------------------------------ what the screens say
async def test_delete_pane_says_how_many_rows_the_plan_deletes():
    app = fake_app()
    async with app.run_test(size=SIZE) as pilot:
        run = await run_confirmed(pilot)
        pane = run.query_one("#step-deleteCohort", StepPane)
        text = str(pane.query_one(".step-count").render())
        assert "2 of 2 rows of NORTHSTAR deleted" in text and "in 1 of 1 table" in text


async def test_failure_summary_follows_the_engine_target_state():
    expected = {"unchanged": "catalogue was not changed",
                "changed": "The import was applied to catalogue",
                "unknown": "compare with the backup or restore with shift+r"}
    for state, words in expected.items():
        app = fake_app(job_kwargs={"fail_upload": True, "fail_state": state})
        async with app.run_test(size=SIZE) as pilot:
            run = await run_confirmed(pilot)
            summary = str(run.query_one("#summary-text", Static).content)
            assert words in summary, (state, summary)
            if state != "unchanged":
                assert "not changed" not in summary


async def test_footer_shows_only_the_keys_that_work_now():
    def shown(screen) -> set[str]:
        return {b.binding.action for b in screen.active_bindings.values()
                if b.binding.show and screen.check_action(b.binding.action, ()) is True}

    app = fake_app(job_kwargs={"hold": True})
    async with app.run_test(size=SIZE) as pilot:
        await preview(pilot)
        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDeleteModal))
        modal = app.screen
        assert modal.query_one("Footer") is not None
        assert "run" not in shown(modal) and "cancel" in shown(modal)
        await pilot.press(*"NORTHSTAR", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, RunScreen))
        run = app.screen
        assert "cancel_run" in shown(run) and "close" not in shown(run)
        run.job.gate.set()
        await wait_until(pilot, lambda: not run.running)
        assert "cancel_run" not in shown(run) and "close" in shown(run)
        assert "restore" in shown(run)


async def test_cancelled_run_is_not_called_a_failure():
    app = fake_app(job_kwargs={"hold": True})
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await preview(pilot)
        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDeleteModal))
        await pilot.press(*"NORTHSTAR", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, RunScreen))
        run = app.screen
        await pilot.press("x")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("y")
        await wait_until(pilot, lambda: run.job.cancelled)
        run.job.gate.set()
        await wait_until(pilot, lambda: not run.running)
        titles = [n.title for n in app._notifications]
        assert "Run cancelled" in titles and "Run failed" not in titles


BACKUP_THEN_UPLOAD = [StepStarted("backup", unit="bytes"), 0,
                      StepFinished("backup", "done", "1,024 bytes"), "check",
                      StepStarted("upload"), StepLog("upload", "Sending 4 upserts as one import"),
                      WriteSent("upload"),
                      ServerTask("upload", "RUNNING", "Import zip"), 1,
                      StepFinished("upload", "done", "4 rows written")]


async def scripted_run(pilot, script) -> RunScreen:
    pilot.app.job_factory = lambda s, src, tgt, resource_id=None: ScriptedJob(
        s, src, tgt, resource_id, deletes=False, script=script)
    await preview(pilot)
    await pilot.press("r")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, RunScreen))
    return pilot.app.screen


async def cancel_asked_during_backup(pilot) -> RunScreen:
    """A scripted run, held in its backup, with the cancel question open."""
    run = await scripted_run(pilot, BACKUP_THEN_UPLOAD)
    await wait_until(pilot, lambda: "backup" in run.running_steps)
    await pilot.press("x")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, ConfirmModal))
    return run


def dialog_text(app) -> str:
    return str(app.screen.query_one(".dialog-body", Static).render())


async def test_cancel_question_follows_the_run_and_a_late_cancel_is_told():
    app = fake_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        run = await cancel_asked_during_backup(pilot)
        assert "being backed up" in dialog_text(app)
        run.job.gates[0].set()  # the backup ends and the import leaves while the question is open
        await wait_until(pilot, lambda: "import has been sent" in dialog_text(app))
        await pilot.press("y")
        await wait_until(pilot, lambda: run.job.cancelled)
        run.job.gates[1].set()
        await wait_until(pilot, lambda: not run.running)
        summary = str(run.query_one("#summary-text", Static).content)
        assert "Finished" in summary and "cancel came too late" in summary
        titles = [n.title for n in app._notifications]
        assert "The cancel came too late" in titles and "Finished" not in titles
        assert run.sub_title == "finished"


async def test_open_cancel_question_says_when_the_run_has_ended():
    app = fake_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        run = await cancel_asked_during_backup(pilot)
        run.job.gates[0].set()
        run.job.gates[1].set()
        await wait_until(pilot, lambda: not run.running)
        await wait_until(pilot, lambda: "nothing left to cancel" in dialog_text(app))
        await pilot.press("y")
        await pilot.pause()
        assert not run.job.cancelled
        assert "nothing was cancelled" in " ".join(n.message for n in app._notifications)


async def test_cancel_during_backup_ends_every_pane_and_says_cancelled():
    app = fake_app()
    async with app.run_test(size=SIZE) as pilot:
        run = await cancel_asked_during_backup(pilot)
        await pilot.press("y")
        await wait_until(pilot, lambda: run.job.cancelled)
        run.job.gates[0].set()
        await wait_until(pilot, lambda: not run.running)
        await pilot.pause()
        assert run.sub_title == "cancelled"
        upload = run.query_one("#step-upload", StepPane)
        assert upload.status == "cancelled"
        assert upload.query_one(ProgressBar).total is not None  # the bar stopped
        assert "Cancelled" in str(run.query_one("#summary-text", Static).content)
        assert all(p.status not in ("pending", "running")
                   for p in run.query(StepPane).results(StepPane))


async def test_nothing_to_write_ends_backup_and_upload_as_not_needed():
    script = [StepLog("upload", "Nothing to write: the target already holds these rows")]
    app = fake_app()
    async with app.run_test(size=SIZE) as pilot:
        run = await scripted_run(pilot, script)
        await wait_until(pilot, lambda: not run.running)
        await pilot.pause()
        for step in ("backup", "upload"):
            pane = run.query_one(f"#step-{step}", StepPane)
            assert pane.status == "skipped" and "not needed" in pane.summary
            assert pane.query_one(ProgressBar).total is not None
        assert run.sub_title == "finished"


async def test_resource_hint_follows_the_strategy():
    from emx2tui.jobs.strategy import load_strategy
    from emx2tui.ui.widgets.strategy_picker import resource_hint

    assert "source" in resource_hint(load_strategy("CohortStagingToDataCatalogue"))
    assert "target" in resource_hint(load_strategy("FillStaging"))
    assert "target" in resource_hint(load_strategy("DataCatalogueToNetworkStaging"))
