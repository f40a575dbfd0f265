"""Waiting in Pilot tests on what the test needs, never on a fixed delay.

A busy machine can take any time to load a schema or plan a job, and one worker can start the
next (the schema list starts the table counts), so a single wait for the workers is not enough.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import suppress

from textual.worker import WorkerCancelled, WorkerFailed, WorkerState

BUSY = (WorkerState.PENDING, WorkerState.RUNNING)


def busy_workers(app) -> list:
    return [w for w in app.workers if w.state in BUSY]


async def settle(pilot, timeout: float = 60.0) -> None:
    """Wait until no worker is pending or running twice in a row, and the screen is drawn."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    quiet = 0
    while quiet < 2:
        assert loop.time() < deadline, f"workers still busy: {busy_workers(pilot.app)}"
        busy = busy_workers(pilot.app)
        if busy:
            quiet = 0
            with suppress(WorkerFailed, WorkerCancelled):
                await pilot.app.workers.wait_for_complete(busy)
        else:
            quiet += 1
        await pilot.pause()
    await pilot.wait_for_scheduled_animations()


async def wait_until(pilot, condition: Callable[[], object], timeout: float = 20.0) -> None:
    """Pause in a loop until `condition()` is true; fail with a clear message after `timeout`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "timed out waiting for the app"
        await pilot.pause(0.02)
    await pilot.pause()


async def drawn(pilot) -> None:
    """Every worker done and the layout settled: for snapshots."""
    await settle(pilot)
    await pilot.pause()
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()
