"""The run: one pane per step with status, progress and log, then the summary.

Progress events can come by the thousand; they are coalesced (JobEvent.can_replace). On top of
that, every event is queued and the queue is drawn a few times a second, each time with only
the newest progress per step and table, so a burst of events costs one redraw instead of one per
event. A long queue (the plan's events at the start) is drawn over several ticks, a time budget
at a time, so the interface stays responsive while it catches up."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import DataTable, Header, Static
from textual.worker import Worker

from emx2tui.jobs.events import (Event, RunFinished, ServerTask, StepFinished, StepProgress,
                                 StepStarted, WriteSent)
from emx2tui.ui import collector
from emx2tui.ui.messages import EventRelay, JobEvent
from emx2tui.ui.modals.confirm import ConfirmModal
from emx2tui.ui.text import FLOW_NAMES, attr, count, duration, plural, short_path, step_names
from emx2tui.ui.widgets.footer import Footer
from emx2tui.ui.widgets.step_pane import StepPane
from emx2tui.ui.workers import ReportsWorkerErrors

if TYPE_CHECKING:
    from emx2tui.ui.app import Emx2App

REFRESH = 0.1  # seconds between redraws of the run's events
BUDGET = 0.015  # seconds of drawing events per redraw; the rest waits for the next one
CATCH_UP = 0.02  # seconds to the next redraw while events wait


def what_title(kind: str) -> str:
    return "Restore" if kind == "restore" else "Run"


def run_steps(strategy: Any) -> list[str]:
    names = step_names(strategy)
    # The target is backed up before the first write; that step is part of every apply.
    if "upload" in names and "backup" not in names:
        names.insert(names.index("upload"), "backup")
    return names


class RunScreen(ReportsWorkerErrors, Screen[None]):
    app: "Emx2App"

    running: reactive[bool] = reactive(False)

    # Below 130 columns each step pane is too narrow for full-length bars and their words.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (130, "-wide")]

    class Ended(Message):
        """Posted after the run's own events, so the summary comes after all of them."""

        def __init__(self, result: Any = None, reason: str | None = None) -> None:
            super().__init__()
            self.result = result
            self.reason = reason

    BINDINGS = [
        Binding("x", "cancel_run", "Cancel run", id="cancel-run",
                tooltip="Stop the run (asks first, and says what state the target is in)"),
        Binding("R", "restore", "Restore", id="restore-run", key_display="shift+r",
                tooltip="Put the target back as it was before this run, from its backup"),
        Binding("h", "history", "History", id="run-history",
                tooltip="Past runs, their outcomes and restore"),
        Binding("escape", "close", "Close", id="run-close",
                tooltip="Back to the schemas (once the run has ended)"),
    ]

    def __init__(self, job: Any, plan: Any, strategy: Any = None, *, source: str = "",
                 target: str, resource_id: str | None = None,
                 plan_events: list[Event] | None = None, title: str | None = None,
                 steps: list[str] | None = None, kind: str = "run") -> None:
        super().__init__(id="run" if kind == "run" else None, classes=self._breakpoint())
        # No cycle collection from here until the outcome is drawn (_end, or on_unmount): the
        # job, this screen and the drawing of the run allocate a lot, and a pass of the collector
        # would stop the drawing. From here, not from on_mount: the screen's first drawing comes
        # before its mount is handled.
        collector.pause()
        self.collector_paused = True
        self.job = job
        self.plan = plan
        self.strategy = strategy
        self.source = source
        self.target = target
        self.resource_id = resource_id
        self.plan_events = plan_events or []
        self.title_text = title
        self.kind = kind
        self.steps = list(steps) if steps is not None else run_steps(strategy)
        self.result: Any | None = None
        self.finished_event: RunFinished | None = None
        self.started = 0.0
        self.ended_ok: bool | None = None
        self.upload_started = False
        self.import_sent = False  # the write left for the server: cancelling cannot call it back
        self.upload_ended = False
        self.running_steps: set[str] = set()
        self.cancel_requested = False
        self.cancel_modal: ConfirmModal | None = None
        # Events not drawn yet, in order; a callable in it is called when its turn comes.
        self.queue: list[Event | Callable[[], None]] = []
        self.panes: dict[str, StepPane] = {}
        self.catching_up = False
        self.summary_parts: tuple[Vertical, Static, DataTable[Any]] | None = None
        self.events_seen = 0

    def _breakpoint(self) -> str | None:
        """The width class the screen will get once shown, set from the start: set when it is
        shown, it would restyle the whole screen a second time."""
        try:
            width = self.app.size.width
        except RuntimeError:  # no running app: Textual sets it when the screen is shown
            return None
        return [name for least, name in self.HORIZONTAL_BREAKPOINTS if width >= least][-1]

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        yield Header()
        if self.title_text:
            title = self.title_text
        else:
            flow = attr(self.strategy, "flow", "?")
            rid = f" · {self.resource_id}" if self.resource_id else ""
            title = (f"[b]{attr(self.strategy, 'title') or attr(self.strategy, 'name')}[/b]  ·  "
                     f"{FLOW_NAMES.get(flow, 'Flow ' + str(flow))}  ·  "
                     f"[b]{self.source}[/b] → [b]{self.target}[/b]{rid}")
        yield Static(title, id="run-title", markup=True)
        with Grid(id="steps"):
            for step in self.steps:
                self.panes[step] = pane = StepPane(step, clock=self.app.clock, fill_later=True)
                yield pane
        # The summary is mounted when the run ends (_summary): until then it would only add to
        # every restyle of the screen.
        yield Footer()

    def on_mount(self) -> None:
        for event in self.plan_events:
            self._track(event)
        # The delete step's count is described once the plan's own account of it is drawn.
        self.queue.extend([*self.plan_events, self._describe_deletes])
        self.call_after_refresh(self._flush)
        self.started = self.app.clock()
        self.running = True
        self.sub_title = "running…"
        self.set_interval(REFRESH, self._flush, name="progress")
        # The screen is first drawn with the panes' borders alone, then filled a pane a frame:
        # styled and drawn in one go, the whole screen stopped the interface for ~60 ms (at
        # 140 columns). The job starts once the screen is drawn: its thread would otherwise
        # share the interpreter with that first drawing and double the time it takes.
        self.call_after_refresh(self._fill_next_pane)
        self.call_after_refresh(self.run_job)

    async def _fill_next_pane(self) -> None:
        for pane in self.panes.values():
            if pane.fill_later and not pane.children:
                await pane.fill()
                self.call_after_refresh(self._fill_next_pane)
                return

    @property
    def panes_ready(self) -> bool:
        return all(pane.ready for pane in self.panes.values())

    def _describe_deletes(self) -> None:
        """The delete step ran while planning and counted the resource's rows in the target;
        say how many of those the run deletes, from the plan, so the count is not read as the
        number deleted."""
        tables = list(attr(self.plan, "delete") or [])
        if not tables:
            return
        existing = sum(int(attr(t, "rows") or 0) for t in tables)
        deleting = [t for t in tables if int(attr(t, "deletes") or 0) > 0]
        rows = sum(int(attr(t, "deletes") or 0) for t in deleting)
        whose = f" of {self.resource_id}" if self.resource_id else ""
        verb = "deleted" if self.ended_ok and self.kind == "run" else "to delete"
        text = (f"{count(rows)} of {plural(existing, 'row')}{whose} {verb}, in "
                f"{len(deleting)} of {plural(len(tables), 'table')}")
        for step in ("deleteCohort", "deleteNetwork"):
            if step in self.panes:
                self.panes[step].describe(text)

    # ------------------------------------------------------------------- run
    def _emit(self, event: Event) -> None:
        self.post_message(JobEvent(event))

    @work(thread=True, exclusive=True, exit_on_error=False, group="run", name="run",
          description="Apply the job to the target")
    async def run_job(self) -> Any:
        # Runs in a thread with its own event loop (see PreviewScreen.make_plan); cancel() only
        # sets a flag the engine reads between tables, so calling it from here is safe.
        relay = EventRelay(self)
        try:
            result = await self.job.apply(self.plan, relay)
        finally:
            relay.flush()
        self.result = result
        self.post_message(self.Ended(result))
        return result

    @on(Ended)
    def _ended(self, message: Ended) -> None:
        # The outcome is drawn after the events still queued, a budget at a time like them.
        self.queue.append(lambda: self._end(message))
        self._flush()

    def _end(self, message: Ended) -> None:
        if message.reason is not None:
            self._fail(message.reason)
        else:
            self.show_result(message.result)
        self._resume_collector()

    def on_unmount(self) -> None:
        self._resume_collector()

    def _resume_collector(self) -> None:
        if self.collector_paused:
            self.collector_paused = False
            collector.resume()

    def pane(self, step: str) -> StepPane:
        pane = self.panes.get(step)
        if pane is None:
            pane = self.panes[step] = StepPane(step, clock=self.app.clock)
            self.query_one("#steps", Grid).mount(pane)
            self.steps.append(step)
        return pane

    def _route(self, event: Event) -> bool:
        """Draw one event in its step's pane; False if that pane is not ready for it yet."""
        step = getattr(event, "step", None)
        if not step:
            return True
        pane = self.pane(step)
        if not pane.ready:
            return False
        pane.apply(event)
        return True

    def _track(self, event: Event) -> None:
        """Follow where the run is, for what cancelling would mean now."""
        step = getattr(event, "step", None)
        if isinstance(event, StepStarted):
            self.running_steps.add(step)
        elif isinstance(event, StepFinished):
            self.running_steps.discard(step)
        if step != "upload":
            return
        if isinstance(event, StepStarted):
            self.upload_started = True
        elif isinstance(event, StepFinished):
            self.upload_ended = True
        elif isinstance(event, (WriteSent, ServerTask, StepProgress)):
            self.import_sent = True

    def _flush(self) -> None:
        """Draw the queued events in order, each step and table's progress only at its newest,
        for at most BUDGET seconds."""
        if not self.queue:
            return
        queue, self.queue = self.queue, []
        ends = time.perf_counter() + BUDGET
        progress: dict[tuple[str, str | None], StepProgress] = {}
        done = 0
        try:
            for event in queue:
                if isinstance(event, StepProgress):
                    progress[(event.step, event.table)] = event
                    done += 1
                    continue
                if not self._draw(progress):
                    break
                if callable(event):
                    if not self.panes_ready:
                        break  # the outcome and notes are drawn in panes that are all there
                    event()
                elif not self._route(event):
                    break
                done += 1
                if time.perf_counter() > ends:
                    break
            else:
                self._draw(progress)
        finally:
            # Progress not drawn yet is still in `progress`; it came before the rest.
            self.queue = list(progress.values()) + queue[done:] + self.queue
        self._refresh_cancel_text()
        if self.queue and not self.catching_up:
            # A backlog: draw the next part soon, once the screen has been drawn in between.
            self.catching_up = True
            self.set_timer(CATCH_UP, self._catch_up)

    def _catch_up(self) -> None:
        self.catching_up = False
        self._flush()

    def _draw(self, progress: dict[tuple[str, str | None], StepProgress]) -> bool:
        """Draw the collected progress; what cannot be drawn yet stays in `progress`."""
        for key, event in list(progress.items()):
            if not self._route(event):
                return False
            del progress[key]
        return True

    @on(JobEvent)
    def _job_event(self, message: JobEvent) -> None:
        event = message.event
        self.events_seen += 1
        # Where the run is counts at once (for what cancelling would mean); drawing can wait.
        self._track(event)
        if isinstance(event, RunFinished):
            self.finished_event = event
            return
        self.queue.append(event)

    # --------------------------------------------------------------- results
    def show_result(self, result: Any) -> None:
        self.running = False
        ok = bool(attr(result, "ok"))
        self.ended_ok = ok
        elapsed = attr(result, "duration")
        if elapsed is None:
            elapsed = self.app.clock() - self.started
        error = attr(result, "error") or attr(self.finished_event, "error")
        backup = attr(result, "backup_path") or attr(self.finished_event, "backup")
        counts = attr(result, "counts") or attr(self.finished_event, "counts") or {}
        cancelled = bool(attr(result, "cancelled"))
        self._settle_panes(ok, cancelled=cancelled)
        text = Text()
        what = "restore" if self.kind == "restore" else "run"
        state = attr(result, "target_state") or attr(self.finished_event, "target_state")
        if cancelled:
            text.append("⊘ Cancelled", style="bold yellow")
            text.append(f" after {duration(elapsed)}: {error or 'stopped'}. ")
            text.append(self._target_state_after_failure(bool(backup), state))
        elif ok:
            text.append("✔ Finished", style="bold green")
            text.append(f" in {duration(elapsed)}. ")
            totals = {k: sum(int(c.get(k, 0) or 0) for c in counts.values())
                      for k in ("inserted", "updated", "deleted")}
            if any(totals.values()):
                text.append(f"{count(totals['inserted'])} inserted, {count(totals['updated'])} "
                            f"updated, {count(totals['deleted'])} deleted in {self.target}.")
            else:
                text.append(f"{self.target} already held these rows; nothing was written.")
            if self.cancel_requested:
                text.append("\nThe cancel came too late: ", style="bold yellow")
                text.append(f"the {what} had already sent its write, so it ran to the end.")
        else:
            text.append(f"✖ The {what} failed", style="bold red")
            text.append(f" after {duration(elapsed)}: ")
            text.append(str(error or "unknown error"), style="bold")
            text.append("\n")
            text.append(self._target_state_after_failure(bool(backup), state))
            if self.cancel_requested:
                text.append(f"\nThe {what} ended before the cancel took effect.", style="dim")
        if ok and self.kind == "run":
            self._describe_deletes()
        if backup:
            text.append("\nBackup of the target: ", style="dim")
            text.append(short_path(str(backup)))
        run_id = attr(result, "run_id")
        if run_id:
            text.append(f"\nJournalled as run {run_id}", style="dim")
        self._show_summary(text, counts, ok, cancelled=cancelled, state=state)
        self._refresh_cancel_text()

    def _target_state_after_failure(self, has_backup: bool, state: str | None = None) -> str:
        """What a failed or cancelled run did to the target, as the engine reported it."""
        restore = " Press shift+r to restore it from the backup." if has_backup else ""
        if state == "unchanged" or (state is None and not self.upload_started):
            return f"{self.target} was not changed: it is as it was before the run."
        if state == "changed":
            return f"The import was applied to {self.target} before the run failed.{restore}"
        if not attr(self.plan, "atomic", True):
            return (f"The upload went table by table, so {self.target} may be part-written."
                    f"{restore}")
        return (f"The import may have been applied to {self.target}: compare with the backup or "
                "restore with shift+r.")

    def _summary(self) -> tuple[Vertical, Static, DataTable[Any]]:
        """The summary's box, text and counts, mounted the first time they are asked for."""
        if self.summary_parts is None:
            text = Static("", id="summary-text")
            counts: DataTable[Any] = DataTable(id="summary-counts", cursor_type="row",
                                               zebra_stripes=True)
            counts.add_columns("Table", "Inserted", "Updated", "Unchanged", "Deleted")
            box = Vertical(text, counts, id="summary")
            self.mount(box, before=self.query_one(Footer))
            self.summary_parts = (box, text, counts)
        return self.summary_parts

    def _show_summary(self, text: Text, counts: dict[str, dict[str, int]], ok: bool, *,
                      cancelled: bool = False, state: str | None = None) -> None:
        summary, summary_text, table = self._summary()
        table.clear()
        changed = {name: c for name, c in counts.items()
                   if any(c.get(k) for k in ("inserted", "updated", "deleted"))}
        if len(changed) < len(counts):
            text.append(f"\n{plural(len(changed), 'table')} changed; "
                        f"{plural(len(counts) - len(changed), 'other table')} left as they were.",
                        style="dim")
        summary_text.update(text)
        for name, c in changed.items():
            table.add_row(name, count(c.get("inserted", 0)), count(c.get("updated", 0)),
                          count(c.get("unchanged", 0)), count(c.get("deleted", 0)), key=name)
        table.display = bool(changed)
        summary.set_class(not ok, "-failed")
        summary.border_title = "Summary"
        keys = "Escape: back to the schemas · h: history"
        if self.kind == "run" and attr(self.result, "run_id"):
            keys += " · shift+r: restore"
        summary.border_subtitle = keys
        self.sub_title = "finished" if ok else "cancelled" if cancelled else "failed"
        self.refresh_bindings()
        if ok and self.cancel_requested:
            self.notify(f"The write had already been sent, so the {self.kind} finished: "
                        f"{self.target} was changed.",
                        title="The cancel came too late", severity="warning")
        elif ok:
            self.notify(f"{self.target} is up to date." if self.kind == "run"
                        else f"{self.target} is restored.", title="Finished")
        elif cancelled:
            self.notify(f"{self.target} was not changed." if state in (None, "unchanged") else
                        self._target_state_after_failure(False, state),
                        title=f"{what_title(self.kind)} cancelled", severity="warning")
        else:
            self.notify("See the summary for the reason.",
                        title=f"{what_title(self.kind)} failed", severity="error")

    def _settle_panes(self, ok: bool, *, cancelled: bool = False) -> None:
        """End every pane: those still running with the run, those never started as not run."""
        for pane in self.query(StepPane).results(StepPane):
            if pane.status == "running":
                status = "done" if ok else "cancelled" if cancelled else "failed"
                pane.finish(status, pane.summary)
            elif pane.status == "pending":
                reason = ("not needed: nothing to write" if ok else
                          "not run: the run was cancelled" if cancelled else
                          "not run: an earlier step failed")
                pane.finish("cancelled" if cancelled else "skipped", reason)

    def show_failure(self, worker: Worker, reason: str) -> None:
        """Called by the app's single worker-error handler."""
        if worker.group != "run":
            return
        self.result = None
        self.post_message(self.Ended(reason=reason))

    def _fail(self, reason: str) -> None:
        self.running = False
        self.ended_ok = False
        self._settle_panes(False)
        text = Text()
        text.append("✖ The run failed: ", style="bold red")
        text.append(reason, style="bold")
        text.append("\n")
        text.append(self._target_state_after_failure(False))
        self._show_summary(text, {}, False)
        self._refresh_cancel_text()

    # ---------------------------------------------------------------- actions
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Cancel only while running; close, history and restore only after."""
        # False hides the key: the footer shows only what works now.
        if action == "cancel_run":
            return self.running
        if action in ("close", "history"):
            return not self.running
        if action == "restore":
            return bool(not self.running and self.kind == "run" and attr(self.result, "run_id"))
        return True

    def watch_running(self) -> None:
        self.refresh_bindings()

    def target_state(self) -> str:
        """What cancelling now means for the target, in plain words, as far as the run's events
        tell."""
        what = "restore" if self.kind == "restore" else "run"
        if not self.running:
            return f"The {what} has ended ({self.sub_title}): there is nothing left to cancel."
        if self.upload_ended:
            return (f"The upload has ended; the {what} is finishing. Cancelling changes nothing "
                    "now.")
        if self.import_sent:
            if attr(self.plan, "atomic", True):
                return (f"The import has been sent to {self.target} and the server is running it "
                        "as one transaction: it will end with all of it or none of it. "
                        "Cancelling cannot call it back; the outcome will say which.")
            return (f"The upload to {self.target} is under way table by table: cancelling stops "
                    "it before the next table, and tables already sent stay written. Restore "
                    "from the backup afterwards if needed.")
        if self.upload_started:
            return (f"The upload is about to be sent. If the cancel comes first, nothing is "
                    f"written and {self.target} stays as it was; if the upload has left already, "
                    "the server applies it. The outcome will say which.")
        if "backup" in self.running_steps:
            return (f"{self.target} is being backed up; nothing has been written to it yet. "
                    f"Cancelling stops the {what} once the backup is read, before anything is "
                    f"written: {self.target} stays as it was.")
        return f"Nothing has been written to {self.target} yet; it stays as it was."

    def _refresh_cancel_text(self) -> None:
        """Keep an open cancel question in step with the run."""
        modal = self.cancel_modal
        if modal is None:
            return
        text = self.target_state()
        if str(modal.body) != text:
            modal.set_body(Text(text))

    def action_cancel_run(self) -> None:
        if not self.running:
            self.notify("The run has already ended.", timeout=2)
            return
        self.cancel_modal = ConfirmModal("Cancel the run?", Text(self.target_state()),
                                         confirm="Cancel the run", cancel="Keep running",
                                         id="cancel-run-modal")
        self.app.push_screen(self.cancel_modal, callback=self._cancel_answered)

    def _cancel_answered(self, yes: bool | None) -> None:
        self.cancel_modal = None
        if not yes:
            return
        if not self.running:
            self.notify(f"The {self.kind} had already ended; nothing was cancelled.",
                        severity="warning")
            return
        cancel = getattr(self.job, "cancel", None)
        if callable(cancel):
            cancel()
        self.cancel_requested = True
        if self.import_sent or self.upload_ended:
            body = ("The write has already been sent; the server finishes it. The summary will "
                    f"say what it did to {self.target}.")
        elif self.upload_started:
            body = ("If the upload has not left yet, nothing is written; if it has, the server "
                    f"finishes it. The summary will say what happened to {self.target}.")
        else:
            body = (f"The {self.kind} stops before it writes anything; {self.target} stays as it "
                    "was. The summary will confirm it.")
        self.notify(body, title="Cancelling…", severity="warning")

    def action_restore(self) -> None:
        run_id = attr(self.result, "run_id")
        if self.running or not run_id:
            self.notify("This run has no journal record to restore from.", severity="warning")
            return
        self.app.restore_run(run_id)

    def action_history(self) -> None:
        if not self.running:
            self.app.action_history()

    def action_close(self) -> None:
        if self.running:
            self.notify("The run is still going. Press x to cancel it first.", severity="warning")
            return
        self.dismiss(None)
        main = self.app.main_screen
        if main is not None and self.app.screen is main:
            main.action_reload()
