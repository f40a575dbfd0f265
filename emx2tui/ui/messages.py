"""Messages the UI passes around. Engine events travel to the screens wrapped in `JobEvent`."""

from __future__ import annotations

import threading
import time
from typing import Any

from textual.message import Message

from emx2tui.jobs.events import Event, StepProgress


class JobEvent(Message):
    """One engine event, delivered on the UI's event loop (posting is thread-safe)."""

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event

    def can_replace(self, message: Message) -> bool:
        # A burst of progress updates of one step collapses to the newest one.
        if not isinstance(message, JobEvent):
            return False
        new, old = self.event, message.event
        return (
            isinstance(new, StepProgress)
            and isinstance(old, StepProgress)
            and new.step == old.step
            and new.table == old.table
        )


class EventRelay:
    """The emitter a job gets when it runs in a worker thread: hands its events to `node`.

    Progress events are kept per step and table and sent on at most every `interval` seconds
    (and before any other event, so the order holds), so a flood of them costs the interface a
    few messages instead of thousands of cross-thread wake-ups. Call flush() when the job ends.
    """

    def __init__(self, node: Any, interval: float = 0.05) -> None:
        self.node = node
        self.interval = interval
        self._lock = threading.Lock()
        self._progress: dict[tuple[str, str | None], StepProgress] = {}
        self._sent = 0.0

    def __call__(self, event: Event) -> None:
        if isinstance(event, StepProgress):
            with self._lock:
                self._progress[(event.step, event.table)] = event
            if time.monotonic() - self._sent < self.interval:
                return
            self.flush()
            return
        self.flush()
        self.node.post_message(JobEvent(event))

    def flush(self) -> None:
        with self._lock:
            pending, self._progress = list(self._progress.values()), {}
            self._sent = time.monotonic()
        for event in pending:
            self.node.post_message(JobEvent(event))
