"""Messages the UI passes around. Engine events travel to the screens wrapped in `JobEvent`."""

from __future__ import annotations

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
