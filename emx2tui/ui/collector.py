"""The cycle collector, kept from stopping the interface.

A pass of Python's cycle collector walks the objects it tracks and holds every thread meanwhile.
The engine reads tables into many small rows in its own thread, which reference counting frees
anyway; the collector's passes over them stopped the interface for 75-180 ms at a time during a
plan or a run at a hundred thousand rows, and longer on larger schemas.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_frozen = False
_lock = threading.Lock()
_paused = 0
STEADY = (10_000, 10, 100)


def steady_gc() -> None:
    """For the interface's lifetime: what was loaded at start-up is frozen out of the passes
    (once per process), young objects are looked at in larger batches, and full passes come
    about a hundred times less often."""
    global _frozen
    if not _frozen:
        gc.freeze()
        _frozen = True
    gc.set_threshold(*STEADY)


YOUNG_ONLY = (10_000, 1_000_000_000, 1_000_000_000)


def pause() -> None:
    """Only the cheap passes over young objects until as many resume() calls: the drawing's
    short-lived cycles are still collected as they come, but no pass walks what the job has
    read and keeps (those took 75-180 ms at a hundred thousand rows, and more on larger
    schemas)."""
    global _paused
    with _lock:
        _paused += 1
        gc.set_threshold(*YOUNG_ONLY)


def resume() -> None:
    """Back to the steady passes. What the job left alive is frozen out of them first: a pass
    over it would stop the interface as the outcome is drawn, and reference counting frees it
    anyway once the run's screen is closed."""
    global _paused
    with _lock:
        _paused = max(0, _paused - 1)
        if not _paused:
            gc.freeze()
            gc.set_threshold(*STEADY)


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cycle collection while the engine plans or runs a job."""
    pause()
    try:
        yield
    finally:
        resume()
