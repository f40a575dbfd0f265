"""The app against the real engine and the sandbox server with the demo data."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable, Static

from emx2tui.emx2.client import Connection
from emx2tui.sandbox.demo import DEMO
from emx2tui.sandbox.server import start_sandbox
from emx2tui.ui.launch import DEMO_STRATEGY, build_app, connection_from, demo_names
from emx2tui.ui.modals.confirm_delete import ConfirmDeleteModal
from emx2tui.ui.screens.main import MainScreen
from emx2tui.ui.screens.preview import PreviewScreen
from emx2tui.ui.screens.run import RunScreen
from emx2tui.ui.widgets.step_pane import StepPane
from uiwait import settle, wait_until

SIZE = (140, 42)


@pytest.fixture
def sandbox():
    with start_sandbox(demo=True) as handle:
        yield handle


def demo_app(url: str, strategy: str = DEMO_STRATEGY):
    server = Connection(url, username="admin", password="admin")
    names = demo_names()
    return build_app(server, server, source_schema=names["source"],
                     target_schema=names["target"], strategy=strategy)






def table_counts(table: DataTable) -> dict[str, str]:
    return {str(table.get_row_at(i)[0]): str(table.get_row_at(i)[1]) for i in range(table.row_count)}


async def loaded(pilot) -> None:
    """Both panes show their tables (the table counts start after the schema list is in)."""
    screen = pilot.app.screen
    await wait_until(pilot, lambda: screen.query_one("#source-tables", DataTable).row_count > 0
                   and screen.query_one("#target-tables", DataTable).row_count > 0)
    await settle(pilot)


async def open_preview(pilot) -> PreviewScreen:
    await loaded(pilot)
    await pilot.press("p")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, PreviewScreen))
    screen = pilot.app.screen
    await wait_until(pilot, lambda: screen.plan is not None or screen.error is not None)
    await pilot.pause()
    return screen


def test_demo_names_match_the_demo_data():
    assert demo_names() == {"source": DEMO["staging"], "target": DEMO["catalogue"]}


def test_connections_from_environment_keep_secrets_out_of_the_label():
    from argparse import Namespace

    env = {"MG_SOURCE_URL": "https://staging.example.org", "MG_SOURCE_SCHEMA": "testCohort",
           "MG_SOURCE_USERNAME": "ann", "MG_SOURCE_PASSWORD": "pw-secret",
           "MG_TARGET_URL": "https://catalogue.example.org", "MG_TARGET_TOKEN": "tok-secret"}
    args = Namespace(source_url=None, source_schema=None, target_url=None, target_schema="cat",
                     source_token=None, target_token=None)
    source = connection_from(args, "source", env)
    target = connection_from(args, "target", env)
    assert (source.schema, source.username, source.password) == ("testCohort", "ann", "pw-secret")
    assert (target.schema, target.token) == ("cat", "tok-secret")
    assert "secret" not in source.label and "secret" not in target.label
    assert connection_from(args, "source", {}) is None


async def test_schema_panes_load_tables_with_counts(sandbox):
    app = demo_app(sandbox.url)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        screen = app.screen
        assert screen.source_pane.schema == DEMO["staging"]
        source = table_counts(screen.query_one("#source-tables", DataTable))
        target = table_counts(screen.query_one("#target-tables", DataTable))
        assert source and target
        assert target["Collections"] != "0"
        assert all(v.replace(",", "").removesuffix(" ⊃").isdigit() for v in source.values())
        # Resources is the parent of Collections and the others: marked, not added to the total.
        assert target["Resources"].endswith("⊃")
        total = sum(int(v.replace(",", "")) for v in target.values() if not v.endswith("⊃"))
        assert screen.target_pane.border_subtitle.endswith(f"{total:,} rows")
        assert "v" in str(screen.query_one("#target-model", Static).render())
        # The empty staging area holds only its cohort's Collections row.
        screen.source_pane.choose_schema(DEMO["empty_staging"])
        await settle(pilot)
        await wait_until(pilot, lambda: screen.source_pane.schema == DEMO["empty_staging"]
                       and "Collections" in table_counts(screen.query_one("#source-tables",
                                                                        DataTable)))
        await settle(pilot)
        empty = table_counts(screen.query_one("#source-tables", DataTable))
        assert empty["Collections"] == "1" and empty["Contacts"] == "0"


async def test_preview_confirm_and_run_to_completion(sandbox):
    app = demo_app(sandbox.url)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_preview(pilot)
        assert screen.error is None
        plan = screen.plan
        assert plan.resource_id == DEMO["staging_cohort"]
        assert plan.has_deletes and plan.total_sync_rows > 0
        sync = screen.query_one("#sync-tables", DataTable)
        assert sync.row_count == len(plan.sync)
        first = plan.sync[0]
        assert [str(c) for c in sync.get_row_at(0)][:5] == [
            first.table, str(first.rows), str(first.inserts), str(first.updates),
            str(first.unchanged)]
        await settle(pilot)
        assert screen.query_one("#plan-rows", DataTable).row_count == first.rows

        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDeleteModal))
        modal = app.screen
        listed = table_counts(modal.query_one("#confirm-tables", DataTable))
        assert listed == {t.table: str(t.deletes) for t in plan.delete if t.deletes}
        await pilot.press(*plan.resource_id, "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, RunScreen))
        run = app.screen
        await wait_until(pilot, lambda: not run.running)
        await pilot.pause()
        panes = list(run.query(StepPane).results(StepPane))
        assert [p.step for p in panes] == ["tablesToDelete", "deleteCohort", "tablesToSync",
                                           "download", "filter", "backup", "upload"]
        assert {p.step: p.status for p in panes} == {p.step: "done" for p in panes}
        summary = str(run.query_one("#summary-text", Static).content)
        assert "Finished" in summary and "Backup of the target" in summary
        assert run.result.ok and run.result.backup_path
        assert run.query_one("#summary-counts", DataTable).row_count > 0

        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen))
        await settle(pilot)


async def test_strategy_that_does_not_fit_is_greyed_out(sandbox):
    app = demo_app(sandbox.url, strategy="FillStaging")
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        picker = app.screen.picker
        await wait_until(pilot, lambda: "FillStaging" in picker.unfit)
        assert DEMO["staging"] in picker.unfit["FillStaging"]
        assert DEMO_STRATEGY not in picker.unfit
        await pilot.press("p")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)  # refused with the reason, no crash


async def test_server_gone_during_run_shows_the_reason(sandbox):
    app = demo_app(sandbox.url)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_preview(pilot)
        assert screen.plan is not None
        sandbox.stop()
        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDeleteModal))
        await pilot.press(*screen.plan.resource_id, "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, RunScreen))
        run = app.screen
        await wait_until(pilot, lambda: not run.running)
        await pilot.pause()
        summary = str(run.query_one("#summary-text", Static).content)
        assert "failed" in summary
        assert not run.result.ok and run.result.error
        assert "admin" not in summary.replace("admin@", "")  # no password in the reason


async def test_unreachable_target_is_reported_in_its_pane(sandbox):
    server = Connection(sandbox.url, username="admin", password="admin")
    nowhere = Connection("http://127.0.0.1:9", username="admin", password="admin")
    app = build_app(server, nowhere, source_schema=DEMO["staging"], target_schema="catalogue",
                    strategy=DEMO_STRATEGY)
    async with app.run_test(size=SIZE) as pilot:
        # The table counts start only once the schema list is in: wait for both, not workers.
        await wait_until(pilot, lambda: app.screen.query_one("#source-tables", DataTable)
                         .row_count > 0
                         and app.screen.query_one("#target-message", Static).display, timeout=60)
        await settle(pilot)
        message = app.screen.query_one("#target-message", Static)
        assert "Could not load the schemas" in str(message.content)
        await pilot.press("p")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
