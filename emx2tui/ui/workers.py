"""Worker failures go to one place: the app's `report_worker_error`."""

from __future__ import annotations

from textual.worker import Worker, WorkerState


class ReportsWorkerErrors:
    """Mix into a widget or screen whose workers use exit_on_error=False.

    Worker.StateChanged does not bubble, so every node that owns workers forwards its
    failures to the app, which turns them into plain words in one place.
    """

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.app.report_worker_error(self, event.worker)  # type: ignore[attr-defined]
