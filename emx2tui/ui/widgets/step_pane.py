"""One step of a run: its status, its progress (per table: rows or bytes, rate, time left), the
server's task while the import runs, and the lines it logged."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from rich.console import Console, ConsoleOptions
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult, RenderResult
from textual.clock import Clock as AnimationClock
from textual.containers import Horizontal, Vertical
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.reactive import reactive
from textual.renderables.bar import Bar as BarRenderable
from textual.widget import Widget
from textual.widgets import Label, ProgressBar, RichLog, Static

from emx2tui.jobs.events import (
    STEP_TITLES,
    ServerTask,
    StepFinished,
    StepLog,
    StepProgress,
    StepStarted,
)
from emx2tui.ui.text import STATUS_ICONS, compact_paths, count

LEVEL_PREFIX = {"info": "", "warning": "! ", "error": "✖ "}
MAX_TABLE_ROWS = 40  # table bars per step; further tables only move the step's own bar
MAX_LOG_LINES = 1000  # per step

Clock = Callable[[], float]


def rate_text(done: int, total: int | None, unit: str, elapsed: float) -> str:
    """'1,204 rows/s · 12 s left' once there is enough to go on, else ''."""
    if elapsed < 0.5 or done <= 0:
        return ""
    rate = done / elapsed
    if unit == "bytes":
        shown = f"{_bytes(rate)}/s"
    elif rate >= 10:
        shown = f"{rate:,.0f} {unit}/s"
    else:
        shown = f"{rate:,.1f} {unit}/s"
    if total is not None and total > done and rate > 0:
        left = (total - done) / rate
        shown += f" · {_left(left)} left"
    return shown


def _bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000:
            return f"{n:,.0f} {unit}"
        n /= 1000
    return f"{n:,.1f} TB"


def _left(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes} min {secs:02d} s"


def amount(done: int, total: int | None, unit: str) -> str:
    if unit == "bytes":
        return f"{_bytes(done)}" + (f" / {_bytes(total)}" if total is not None else "")
    return f"{count(done)}" + (f" / {count(total)}" if total is not None else "") + f" {unit}"


class TableProgress:
    """A table's bar inside a step, on one line: name, bar, done / total, rate and time left.

    Drawn by the step's TableLines, with the other tables' lines, rather than as a widget of its
    own: a step can list dozens of tables, and every widget more costs each restyle and layout
    of the run screen. It looks like two labels and a ProgressBar would (app.tcss styles its
    parts)."""

    def __init__(self, table: str, clock: Clock, box: "TableLines") -> None:
        self.table = table
        self.clock = clock
        self.box = box
        self.started = clock()
        self.done = 0
        self.total: int | None = None
        self.unit = "rows"
        self.finished = False
        self.state = "waiting"
        self.stats = ""
        self.percentage: float | None = None  # None: the bar pulses, its total not known yet
        self._pulse = AnimationClock().clone()

    def set(self, done: int, total: int | None, unit: str) -> None:
        self.done, self.unit = done, unit or self.unit
        if total is not None:
            self.total = total
        self.state = "counting"
        self._redraw()

    def working(self) -> None:
        self.state = "working"
        self._redraw()

    def finish(self) -> None:
        if self.finished:
            return
        self.finished = True
        self.state = "done"
        self._redraw()

    def _redraw(self) -> None:
        if self.state == "done":
            self.percentage = 1.0
            self.stats = (f"✔ {amount(self.done, self.total, self.unit)}" if self.total
                          else "✔ done")
        elif self.state == "working":
            self.stats = "working…"
        elif self.state == "counting":
            self.percentage = _fraction(self.done, self.total)
            stats = amount(self.done, self.total, self.unit)
            rate = rate_text(self.done, self.total, self.unit, self.clock() - self.started)
            self.stats = f"{stats}  {rate}".rstrip()
        self.box.changed()

    def line(self, narrow: bool) -> "_TableLine":
        box = self.box
        name_width, bar_width = (14, 8) if narrow else (24, 20)
        return _TableLine(
            Text(self.table, style=box.get_component_rich_style("table-progress--name")),
            name_width, self._bar(bar_width), bar_width,
            Text(self.stats, style=box.get_component_rich_style("table-progress--stats")))

    def _bar(self, width: int) -> BarRenderable:
        """The bar as Textual's ProgressBar draws it: filled to the half cell, or a pulse."""
        box = self.box
        percentage = self.percentage
        if percentage is None:
            style = box.get_component_rich_style("bar--indeterminate")
            pulse = 0.25 * width
            span = width + pulse
            if box.app.animation_level == "none":
                start, end = 0.0, float(width)
            else:
                start = (30 * self._pulse.time) % (2 * span)
                if start > span:
                    start = 2 * span - start
                start -= pulse
                end = start + pulse
            highlight = (max(0.0, start), min(end, float(width)))
        else:
            style = box.get_component_rich_style("bar--bar" if percentage < 1
                                                 else "bar--complete")
            halves = width * 2
            highlight = (0.0, width * (int(percentage * halves) / halves))
        return BarRenderable(highlight_range=highlight,
                             highlight_style=Style.from_color(style.color),
                             background_style=Style.from_color(style.bgcolor), width=width)


class TableLines(ScrollView):
    """A step's table lines, one TableProgress a line, drawn by this one widget: a line that
    changes repaints the box without a restyle or layout, and a new table adds a line, not a
    widget."""

    COMPONENT_CLASSES = {"table-progress--name", "table-progress--stats", "bar--bar",
                         "bar--complete", "bar--indeterminate"}

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.lines: list[TableProgress] = []

    def add(self, table: str, clock: Clock) -> TableProgress:
        row = TableProgress(table, clock, self)
        self.lines.append(row)
        self.virtual_size = Size(0, len(self.lines))
        self.scroll_end(animate=False)
        return row

    def changed(self) -> None:
        # The bars pulse while a total is unknown, as a ProgressBar's does.
        pulsing = any(row.percentage is None for row in self.lines)
        self.auto_refresh = 1 / 15 if pulsing else None
        self.refresh()

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        index = self.scroll_offset.y + y
        style = self.rich_style
        if index >= len(self.lines) or width <= 0:
            return Strip.blank(width, style)
        console = self.app.console
        line = self.lines[index].line(self.screen.has_class("-narrow"))
        segments = console.render(line, console.options.update(width=width, height=1))
        return Strip(Segment.apply_style(segments, style), width).crop_extend(0, width, style)


class _TableLine:
    """Name, bar and stats side by side on one line, each cut to its width with an ellipsis."""

    def __init__(self, name: Text, name_width: int, bar: BarRenderable, bar_width: int,
                 stats: Text) -> None:
        self.name, self.name_width = name, name_width
        self.bar, self.bar_width = bar, bar_width
        self.stats = stats

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        name_width = min(self.name_width, width)
        bar_width = min(self.bar_width, width - name_width)
        stats_width = width - name_width - bar_width - 1  # one column between bar and stats
        yield _cut(self.name, name_width)
        if bar_width > 0:
            yield from console.render(self.bar, options.update(width=bar_width, height=1))
        if stats_width > 0:
            yield Segment(" ")
            yield _cut(self.stats, stats_width)


def _cut(text: Text, width: int) -> Segment:
    """One styled segment of exactly `width` cells: cut with an ellipsis, or padded."""
    text.truncate(width, overflow="ellipsis", pad=True)
    return Segment(text.plain, text.style if isinstance(text.style, Style) else None)


def _fraction(done: int, total: int | None) -> float | None:
    """A ProgressBar's percentage: None without a total, complete for a total of 0."""
    if total is None:
        return None
    if total == 0:
        return 1.0
    return max(0.0, min(1.0, done / total))


class StepPane(Vertical):
    """Renders the events of one step; the run screen routes events here by step name."""

    status: reactive[str] = reactive("pending")

    def __init__(self, step: str, clock: Clock = time.monotonic, *, fill_later: bool = False) -> None:
        super().__init__(id=f"step-{step}", classes="step-pane -pending")
        # fill_later: the pane starts as its border alone and gets its bar, lines and log from
        # fill(), so that a screen of many panes is not styled and drawn all in one go
        self.fill_later = fill_later
        self._filled = False
        self.step = step
        self.clock = clock
        self.title = STEP_TITLES.get(step, step)
        self.total: int | None = None
        self.unit = ""
        self.summary = ""
        self.started: float | None = None
        self.subtasks: tuple[tuple[str, str], ...] = ()
        self.tables: dict[str, TableProgress] = {}
        self._log_lines: deque[str] = deque(maxlen=MAX_LOG_LINES)
        self._restyle_pending = False
        self._refresh_title()

    @property
    def ready(self) -> bool:
        """Mounted with its bar, lines and log: events can be drawn in it."""
        return self._filled if self.fill_later else self.is_mounted and bool(self.children)

    def compose(self) -> ComposeResult:
        if not self.fill_later:
            yield from self._parts()

    async def fill(self) -> None:
        """Mount the bar, lines and log of a pane made with fill_later."""
        if self.fill_later and not self.children:
            await self.mount_all(self._parts())
            self._filled = True

    def _parts(self) -> list[Widget]:
        progress = Horizontal(
            ProgressBar(total=None, show_eta=False, id=f"bar-{self.step}"),
            Label("waiting", classes="step-count", id=f"count-{self.step}"),
            classes="step-progress")
        # Hidden until the step has tables or a server task; hidden before they are mounted, so
        # hiding them costs no restyle.
        tables = TableLines(classes="step-tables", id=f"tables-{self.step}")
        tasks = Static("", classes="step-subtasks", id=f"tasks-{self.step}")
        tables.display = tasks.display = False
        # Wrapped, so the end of a long line (a file name, a URL) is not cut at the pane's edge.
        log = RichLog(max_lines=MAX_LOG_LINES, min_width=1, wrap=True, classes="step-log",
                      id=f"log-{self.step}")
        return [progress, tables, tasks, log]

    # --------------------------------------------------------------- rendering
    def _refresh_title(self) -> None:
        icon = STATUS_ICONS.get(self.status, "?")
        self.border_title = f"{icon} {self.title}"
        self.border_subtitle = self.status

    def watch_status(self) -> None:
        self._refresh_title()
        # The status class restyles the pane: once, after the events at hand (a step that starts
        # and ends in one batch of events is restyled once, not twice).
        if not self._restyle_pending:
            self._restyle_pending = True
            self.call_later(self._restyle)

    def _restyle(self) -> None:
        self._restyle_pending = False
        self.update_classes({f"-{status}": status == self.status for status in STATUS_ICONS},
                            update=False)
        # The status classes style only the pane's own border (app.tcss): the pane is restyled,
        # not the bars, lines and log it holds.
        self.app.stylesheet.update_nodes([self])

    @property
    def log_lines(self) -> list[str]:
        return list(self._log_lines)

    def _count_label(self, text: str) -> None:
        # A path shows as its file name: the pane is too narrow for the folders.
        self.query_one(".step-count", Label).update(compact_paths(text))

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
        self.started = self.clock()
        self.status = "running"
        bar = self.query_one(ProgressBar)
        bar.update(total=total, progress=0)
        self._count_label(f"0 / {count(total)} {unit}" if total is not None else "working…")

    def progress(self, done: int, total: int | None, unit: str, table: str | None) -> None:
        if self.status == "pending":
            self.status = "running"
        if self.started is None:
            self.started = self.clock()
        unit = unit or self.unit
        if table and unit != "tables":
            # Rows or bytes of one table: that table's own bar.
            row = self._table_row(table)
            if row is not None:
                row.set(done, total, unit)
            return
        if total is not None:
            self.total = total
        self.unit = unit
        self.query_one(ProgressBar).update(total=self.total, progress=done)
        rate = rate_text(done, self.total, self.unit, self.clock() - self.started)
        where = f"  {table}" if table else ""
        text = amount(done, self.total, self.unit)
        self._count_label(f"{text}{' · ' + rate if rate else ''}{where}")
        if table:
            # Tables one after the other: the earlier ones are done, this one is under way.
            for other in self.tables.values():
                if other.table != table and other.total is None:
                    other.finish()
            row = self._table_row(table)
            if row is not None and not row.finished and row.total is None:
                row.working()

    def _table_row(self, table: str) -> TableProgress | None:
        row = self.tables.get(table)
        if row is None:
            if len(self.tables) >= MAX_TABLE_ROWS:
                return None
            box = self.query_one(".step-tables", TableLines)
            box.display = True
            row = self.tables[table] = box.add(table, self.clock)
        return row

    def describe(self, text: str) -> None:
        """Replace the step's count with a plainer account (the run screen knows the plan)."""
        self.summary = text
        self._count_label(text)

    def write(self, message: str, level: str = "info") -> None:
        line = f"{LEVEL_PREFIX.get(level, '')}{message}"
        self._log_lines.append(line)
        self.query_one(RichLog).write(Text(line))

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
            for row in self.tables.values():
                row.finish()
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
