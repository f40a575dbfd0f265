"""One step of a run: its status, a progress bar and the lines it logged."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.widgets import Label, Log, ProgressBar, Static

from emx2tui.jobs.events import STEP_TITLES, ServerTask, StepFinished, StepLog, StepProgress, StepStarted
from emx2tui.ui.text import STATUS_ICONS, count

LEVEL_PREFIX = {"info": "", "warning": "! ", "error": "✖ "}


class StepPane(Vertical):
    """Renders the events of one step; the run screen routes events here by step name."""

    status: reactive[str] = reactive("pending")

    def __init__(self, step: str) -> None:
        super().__init__(id=f"step-{step}", classes="step-pane -pending")
        self.step = step
        self.title = STEP_TITLES.get(step, step)
        self.total: int | None = None
        self.unit = ""
        self.summary = ""
        self.subtasks: tuple[tuple[str, str], ...] = ()
        self._refresh_title()

    def compose(self) -> ComposeResult:
        with Horizontal(classes="step-progress"):
            yield ProgressBar(total=None, show_eta=False, id=f"bar-{self.step}")
            yield Label("waiting", classes="step-count", id=f"count-{self.step}")
        yield Static("", classes="step-subtasks", id=f"tasks-{self.step}")
        yield Log(max_lines=1000, classes="step-log", id=f"log-{self.step}")

    def on_mount(self) -> None:
        self.query_one(".step-subtasks", Static).display = False

    # --------------------------------------------------------------- rendering
    def _refresh_title(self) -> None:
        icon = STATUS_ICONS.get(self.status, "?")
        self.border_title = f"{icon} {self.title}"
        self.border_subtitle = self.status

    def watch_status(self, old: str, new: str) -> None:
        self.remove_class(f"-{old}")
        self.add_class(f"-{new}")
        self._refresh_title()

    @property
    def log_lines(self) -> list[str]:
        return list(self.query_one(Log).lines)

    def _count_label(self, text: str) -> None:
        self.query_one(".step-count", Label).update(text)

    # ------------------------------------------------------------------ events
    def apply(self, event: object) -> None:
        if isinstance(event, StepStarted):
            self.start(event.total, event.unit)
        elif isinstance(event, StepProgress):
            self.progress(event.done, event.total, event.unit, event.table)
        elif isinstance(event, StepLog):
            self.write(event.message, event.level)
        elif isinstance(event, ServerTask):
            self.server_task(event)
        elif isinstance(event, StepFinished):
            self.finish(event.status, event.summary)

    def start(self, total: int | None, unit: str) -> None:
        self.total, self.unit, self.summary = total, unit, ""
        self.status = "running"
        bar = self.query_one(ProgressBar)
        bar.update(total=total, progress=0)
        self._count_label(f"0 / {count(total)} {unit}" if total is not None else "working…")

    def progress(self, done: int, total: int | None, unit: str, table: str | None) -> None:
        if self.status == "pending":
            self.status = "running"
        if total is not None:
            self.total = total
        self.unit = unit or self.unit
        self.query_one(ProgressBar).update(total=self.total, progress=done)
        where = f"  {table}" if table else ""
        of = f" / {count(self.total)}" if self.total is not None else ""
        self._count_label(f"{count(done)}{of} {self.unit}{where}")

    def write(self, message: str, level: str = "info") -> None:
        self.query_one(Log).write_line(f"{LEVEL_PREFIX.get(level, '')}{message}")

    def server_task(self, event: ServerTask) -> None:
        if self.status == "pending":
            self.status = "running"
        self.subtasks = tuple(event.subtasks)
        tasks = self.query_one(".step-subtasks", Static)
        tasks.display = True
        text = Text()
        text.append(f"server task {event.status.lower()}: ", style="bold")
        text.append(event.description)
        for status, description in event.subtasks[-6:]:
            icon = _task_icon(status)
            text.append(f"\n  {icon} {description}")
        if len(event.subtasks) > 6:
            text.append(f"\n  … {len(event.subtasks) - 6} earlier subtasks", style="dim")
        tasks.update(text)

    def finish(self, status: str, summary: str) -> None:
        self.summary = summary
        bar = self.query_one(ProgressBar)
        if status == "done":
            total = self.total if self.total else 1
            bar.update(total=total, progress=total)
        elif bar.total is None:
            bar.update(total=1, progress=0)
        self._count_label(summary or status)
        if summary:
            self.write(summary, "info" if status in ("done", "skipped") else "error")
        self.status = status
        self._refresh_title()


def _task_icon(status: str) -> str:
    status = status.upper()
    if status in ("COMPLETED", "DONE", "SUCCESS"):
        return "✔"
    if status in ("ERROR", "FAILED"):
        return "✖"
    if status in ("RUNNING", "STARTED"):
        return "◐"
    if status == "SKIPPED":
        return "–"
    return "○"
