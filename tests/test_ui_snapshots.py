"""Snapshots of the main screens over the in-memory engine (deterministic data, fixed size,
a frozen clock, no paths of this machine).

Update after reviewing a deliberate change: pytest tests/test_ui_snapshots.py --snapshot-update
"""

from __future__ import annotations

import time
from contextlib import suppress

import pytest
from textual.worker import WorkerCancelled, WorkerFailed

from test_ui_fakes import fake_app, journal_record

SIZE = (140, 42)


@pytest.fixture(autouse=True)
def _utc(monkeypatch):
    """Run times are shown in local time: pin the zone so the pictures match everywhere."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


async def _settle(pilot) -> None:
    with suppress(WorkerFailed, WorkerCancelled):
        await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def _preview(pilot) -> None:
    await _settle(pilot)
    await pilot.press("p")
    await pilot.pause()
    await _settle(pilot)
    await pilot.press("down")  # Contacts: inserts, an update with a changed cell
    await _settle(pilot)
    await pilot.press("w")
    await pilot.pause(0.2)


def test_main_screen_snapshot(snap_compare):
    assert snap_compare(fake_app(), terminal_size=SIZE, run_before=_settle)


def test_preview_snapshot(snap_compare):
    assert snap_compare(fake_app(), terminal_size=SIZE, run_before=_preview)


def test_confirm_delete_snapshot(snap_compare):
    async def run_before(pilot) -> None:
        await _preview(pilot)
        await pilot.press("r")
        await pilot.pause(0.2)

    assert snap_compare(fake_app(), terminal_size=SIZE, run_before=run_before)


def test_history_snapshot(snap_compare):
    async def run_before(pilot) -> None:
        journal_record("20260101-110000-aaaa", outcome="failed", error="Contacts row 3: bad email")
        journal_record()
        await _settle(pilot)
        await pilot.press("h")
        await pilot.pause()
        await _settle(pilot)
        await pilot.pause(0.2)

    assert snap_compare(fake_app(), terminal_size=SIZE, run_before=run_before)
