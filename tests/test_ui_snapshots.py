"""Snapshots of the main screens over the in-memory engine (deterministic data, fixed size,
a frozen clock, no paths of this machine).

Update after reviewing a deliberate change: pytest tests/test_ui_snapshots.py --snapshot-update
"""

from __future__ import annotations

import time
import pytest

from test_ui_fakes import fake_app, journal_record
from uiwait import drawn, wait_until

from emx2tui.ui.modals.confirm_delete import ConfirmDeleteModal
from emx2tui.ui.screens.history import HistoryScreen

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
    await drawn(pilot)


async def _preview(pilot) -> None:
    await drawn(pilot)
    await pilot.press("p")
    await wait_until(pilot, lambda: getattr(pilot.app.screen, "plan", None) is not None)
    await drawn(pilot)
    await pilot.press("down")  # Contacts: inserts, an update with a changed cell
    await wait_until(pilot, lambda: pilot.app.screen.shown == ("sync", "Contacts"))
    await drawn(pilot)
    await pilot.press("w")
    await drawn(pilot)


def test_main_screen_snapshot(snap_compare):
    assert snap_compare(fake_app(), terminal_size=SIZE, run_before=_settle)


def test_preview_snapshot(snap_compare):
    assert snap_compare(fake_app(), terminal_size=SIZE, run_before=_preview)


def test_confirm_delete_snapshot(snap_compare):
    async def run_before(pilot) -> None:
        await _preview(pilot)
        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, ConfirmDeleteModal))
        await drawn(pilot)

    assert snap_compare(fake_app(), terminal_size=SIZE, run_before=run_before)


def test_history_snapshot(snap_compare):
    async def run_before(pilot) -> None:
        journal_record("20260101-110000-aaaa", outcome="failed", error="Contacts row 3: bad email")
        journal_record()
        await _settle(pilot)
        await pilot.press("h")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, HistoryScreen))
        await drawn(pilot)

    assert snap_compare(fake_app(), terminal_size=SIZE, run_before=run_before)
