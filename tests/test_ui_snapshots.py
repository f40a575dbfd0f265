"""Snapshots of the main screen and the preview over the in-memory engine (deterministic data).

Update after reviewing a deliberate change: pytest tests/test_ui_snapshots.py --snapshot-update
"""

from __future__ import annotations

from contextlib import suppress

from textual.worker import WorkerCancelled, WorkerFailed

from test_ui_fakes import fake_app

SIZE = (140, 42)


async def _settle(pilot) -> None:
    with suppress(WorkerFailed, WorkerCancelled):
        await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def test_main_screen_snapshot(snap_compare):
    assert snap_compare(fake_app(), terminal_size=SIZE, run_before=_settle)


def test_preview_snapshot(snap_compare):
    async def run_before(pilot) -> None:
        await _settle(pilot)
        await pilot.press("p")
        await pilot.pause()
        await _settle(pilot)
        await pilot.press("down")
        await _settle(pilot)
        await pilot.pause(0.2)

    assert snap_compare(fake_app(), terminal_size=SIZE, run_before=run_before)
