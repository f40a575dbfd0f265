"""The run: one pane per step with status, progress and log, then the summary."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static
from textual.worker import Worker

from emx2tui.jobs.events import Event, RunFinished
from emx2tui.ui.messages import JobEvent
from emx2tui.ui.text import FLOW_NAMES, FLOW_STEPS, attr, count, duration, plural, short_path
from emx2tui.ui.widgets.step_pane import StepPane
from emx2tui.ui.workers import ReportsWorkerErrors

if TYPE_CHECKING:
    from emx2tui.ui.app import Emx2App


def _step_names(strategy: Any) -> list[str]:
    steps = attr(strategy, "steps") or FLOW_STEPS.get(attr(strategy, "flow", "A"), [])
    names = []
    for s in steps:
        name = s if isinstance(s, str) else (attr(s, "name") or str(s))
        if name not in names:
            names.append(name)
    # The target is backed up before the first write; that step is part of every apply.
    if "upload" in names and "backup" not in names:
        names.insert(names.index("upload"), "backup")
    return names


class RunScreen(ReportsWorkerErrors, Screen[None]):
    app: "Emx2App"

    running: reactive[bool] = reactive(False)

    class Ended(Message):
        """Posted after the run's own events, so the summary comes after all of them."""

        def __init__(self, result: Any = None, reason: str | None = None) -> None:
            super().__init__()
            self.result = result
            self.reason = reason

    BINDINGS = [
        Binding("x", "cancel_run", "Cancel run", id="cancel-run",
                tooltip="Stop the run; a ZIP import still running on the server ends on its own"),
        Binding("escape", "close", "Close", id="run-close",
                tooltip="Back to the schemas (once the run has ended)"),
    ]

    def __init__(self, job: Any, plan: Any, strategy: Any, *, source: str, target: str,
                 resource_id: str | None = None, plan_events: list[Event] | None = None) -> None:
        super().__init__(id="run")
        self.job = job
        self.plan = plan
        self.strategy = strategy
        self.source = source
        self.target = target
        self.resource_id = resource_id
        self.plan_events = plan_events or []
        self.steps = _step_names(strategy)
        self.result: Any | None = None
        self.finished_event: RunFinished | None = None
        self.started = 0.0

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        yield Header()
        flow = attr(self.strategy, "flow", "?")
        rid = f" · {self.resource_id}" if self.resource_id else ""
        yield Static(
            f"[b]{attr(self.strategy, 'title') or self.strategy.name}[/b]  ·  "
            f"{FLOW_NAMES.get(flow, 'Flow ' + str(flow))}  ·  "
            f"[b]{self.source}[/b] → [b]{self.target}[/b]{rid}",
            id="run-title", markup=True)
        with Grid(id="steps"):
            for step in self.steps:
                yield StepPane(step)
        with Vertical(id="summary"):
            yield Static("", id="summary-text")
            counts: DataTable[Any] = DataTable(id="summary-counts", cursor_type="row",
                                               zebra_stripes=True)
            yield counts
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#summary").display = False
        self.query_one("#summary-counts", DataTable).add_columns(
            "Table", "Inserted", "Updated", "Unchanged", "Deleted")
        for event in self.plan_events:
            self._route(event)
        self.started = time.monotonic()
        self.running = True
        self.sub_title = "running…"
        self.run_job()

    # ------------------------------------------------------------------- run
    def _emit(self, event: Event) -> None:
        self.post_message(JobEvent(event))

    @work(exclusive=True, exit_on_error=False, group="run", name="run",
          description="Apply the job to the target")
    async def run_job(self) -> Any:
        result = await self.job.apply(self.plan, self._emit)
        self.result = result
        self.post_message(self.Ended(result))
        return result

    @on(Ended)
    def _ended(self, message: Ended) -> None:
        if message.reason is not None:
            self._fail(message.reason)
        else:
            self.show_result(message.result)

    def pane(self, step: str) -> StepPane:
        panes = self.query(f"#step-{step}").results(StepPane)
        for pane in panes:
            return pane
        pane = StepPane(step)
        self.query_one("#steps", Grid).mount(pane)
        self.steps.append(step)
        return pane

    def _route(self, event: Event) -> None:
        step = getattr(event, "step", None)
        if step:
            self.pane(step).apply(event)

    @on(JobEvent)
    def _job_event(self, message: JobEvent) -> None:
        event = message.event
        if isinstance(event, RunFinished):
            self.finished_event = event
            return
        self._route(event)

    # --------------------------------------------------------------- results
    def show_result(self, result: Any) -> None:
        self.running = False
        ok = bool(attr(result, "ok"))
        elapsed = attr(result, "duration")
        if elapsed is None:
            elapsed = time.monotonic() - self.started
        error = attr(result, "error") or attr(self.finished_event, "error")
        backup = attr(result, "backup_path") or attr(self.finished_event, "backup")
        counts = attr(result, "counts") or attr(self.finished_event, "counts") or {}
        self._settle_panes(ok)
        text = Text()
        if attr(result, "cancelled"):
            text.append("⊘ Cancelled", style="bold yellow")
            text.append(f" after {duration(elapsed)}: {error or 'stopped'}. ")
            text.append(f"Nothing was written to {self.target}.")
        elif ok:
            text.append("✔ Finished", style="bold green")
            text.append(f" in {duration(elapsed)}. ")
            totals = {k: sum(int(c.get(k, 0) or 0) for c in counts.values())
                      for k in ("inserted", "updated", "deleted")}
            text.append(f"{count(totals['inserted'])} inserted, {count(totals['updated'])} "
                        f"updated, {count(totals['deleted'])} deleted in {self.target}.")
        else:
            text.append("✖ The run failed", style="bold red")
            text.append(f" after {duration(elapsed)}: ")
            text.append(str(error or "unknown error"), style="bold")
            if attr(self.plan, "atomic", True):
                text.append(f"\nThe upload is one transaction, so {self.target} was not changed "
                            "by the failed import.")
        if backup:
            text.append("\nBackup of the target: ", style="dim")
            text.append(short_path(str(backup)))
        self._show_summary(text, counts, ok)

    def _show_summary(self, text: Text, counts: dict[str, dict[str, int]], ok: bool) -> None:
        table = self.query_one("#summary-counts", DataTable)
        table.clear()
        changed = {name: c for name, c in counts.items()
                   if any(c.get(k) for k in ("inserted", "updated", "deleted"))}
        if len(changed) < len(counts):
            text.append(f"\n{plural(len(changed), 'table')} changed; "
                        f"{plural(len(counts) - len(changed), 'other table')} left as they were.",
                        style="dim")
        self.query_one("#summary-text", Static).update(text)
        for name, c in changed.items():
            table.add_row(name, count(c.get("inserted", 0)), count(c.get("updated", 0)),
                          count(c.get("unchanged", 0)), count(c.get("deleted", 0)), key=name)
        table.display = bool(changed)
        summary = self.query_one("#summary")
        summary.set_class(not ok, "-failed")
        summary.display = True
        summary.border_title = "Summary"
        summary.border_subtitle = "Escape: back to the schemas"
        self.sub_title = "finished" if ok else "failed"
        if ok:
            self.notify(f"{self.target} is up to date.", title="Run finished")
        else:
            self.notify("See the summary for the reason.", title="Run failed", severity="error")

    def _settle_panes(self, ok: bool) -> None:
        for pane in self.query(StepPane).results(StepPane):
            if pane.status == "running":
                pane.finish("done" if ok else "failed", pane.summary)

    def show_failure(self, worker: Worker, reason: str) -> None:
        """Called by the app's single worker-error handler."""
        if worker.group != "run":
            return
        self.result = None
        self.post_message(self.Ended(reason=reason))

    def _fail(self, reason: str) -> None:
        self.running = False
        self._settle_panes(False)
        text = Text()
        text.append("✖ The run failed: ", style="bold red")
        text.append(reason, style="bold")
        if attr(self.plan, "atomic", True):
            text.append(f"\nThe upload is one transaction, so {self.target} was not changed by "
                        "the failed import.")
        self._show_summary(text, {}, False)

    # ---------------------------------------------------------------- actions
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Cancel only while running, close only after: the footer greys out the other."""
        if action == "cancel_run":
            return True if self.running else None
        if action == "close":
            return None if self.running else True
        return True

    def watch_running(self) -> None:
        self.refresh_bindings()

    def action_cancel_run(self) -> None:
        if not self.running:
            self.notify("The run has already ended.", timeout=2)
            return
        cancel = getattr(self.job, "cancel", None)
        if callable(cancel):
            cancel()
        self.notify("Cancelling the run…", title="Run", severity="warning")

    def action_close(self) -> None:
        if self.running:
            self.notify("The run is still going. Press x to cancel it first.", severity="warning")
            return
        self.dismiss(None)
        main = self.app.main_screen
        if main is not None:
            main.action_reload()
