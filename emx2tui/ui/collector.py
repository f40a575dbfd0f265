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


def steady_gc() -> None:
    """For the interface's lifetime: what was loaded at start-up is frozen out of the passes
    (once per process), young objects are looked at in larger batches, and full passes come
    about a hundred times less often."""
    global _frozen
    if not _frozen:
        gc.freeze()
        _frozen = True
    gc.set_threshold(10_000, 10, 100)


def pause() -> None:
    """No cycle collection until as many resume() calls (as Textual pauses it for smooth
    scrolling); what is left in cycles meanwhile is collected afterwards."""
    global _paused
    with _lock:
        _paused += 1
        gc.disable()


def resume() -> None:
    global _paused
    with _lock:
        _paused = max(0, _paused - 1)
        if not _paused:
            gc.enable()


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cycle collection while the engine plans or runs a job."""
    pause()
    try:
        yield
    finally:
        resume()
