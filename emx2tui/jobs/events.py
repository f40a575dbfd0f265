"""The one stream of typed events a job emits. The TUI and the headless runner both consume it.

Steps are named as in the flows: tablesToSync, tablesToDelete, deleteCohort, deleteNetwork,
download, filter, upload (plus `backup`, which runs before the first write).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

Level = Literal["info", "warning", "error"]
StepStatus = Literal["pending", "running", "done", "skipped", "failed", "cancelled"]

STEP_TITLES = {
    "tablesToSync": "Tables to sync",
    "tablesToDelete": "Tables to delete",
    "deleteCohort": "Delete cohort rows",
    "deleteNetwork": "Delete network rows",
    "download": "Download from source",
    "filter": "Filter rows",
    "backup": "Back up target",
    "upload": "Upload to target",
}


@dataclass(frozen=True)
class Event:
    """Base class of every event."""


@dataclass(frozen=True)
class StepStarted(Event):
    step: str
    total: int | None = None  # units of work, when known (tables, rows or bytes)
    unit: str = "tables"


@dataclass(frozen=True)
class StepProgress(Event):
    step: str
    done: int
    total: int | None = None
    unit: str = "rows"
    table: str | None = None


@dataclass(frozen=True)
class StepLog(Event):
    step: str
    message: str
    level: Level = "info"


@dataclass(frozen=True)
class WriteSent(Event):
    """The write is leaving for the target (the import, or the first table of a table-by-table
    upload): from here on it may land, and cancelling cannot call it back."""

    step: str


@dataclass(frozen=True)
class ServerTask(Event):
    """A snapshot of a server task (for example the ZIP import) while it runs."""

    step: str
    status: str
    description: str
    subtasks: tuple[tuple[str, str], ...] = ()  # (status, description)


@dataclass(frozen=True)
class StepFinished(Event):
    step: str
    status: StepStatus = "done"
    summary: str = ""


@dataclass(frozen=True)
class PlanReady(Event):
    plan: Any  # emx2tui.jobs.plan.Plan


@dataclass(frozen=True)
class RunFinished(Event):
    ok: bool
    summary: str = ""
    error: str | None = None
    backup: str | None = None
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # table -> {inserted, updated, deleted}
    # what the run did to the target: "unchanged", "changed", or "unknown" (the write was sent
    # but its outcome could not be learnt: the task list or a comparison with the backup tells)
    target_state: str = "unchanged"


Emit = Callable[[Event], None]


def ignore(_: Event) -> None:
    """An emitter that drops every event."""
