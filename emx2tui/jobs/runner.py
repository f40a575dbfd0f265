"""The runner: a job is a strategy between two connections; plan it (read only), then apply it.

    job = Job(load_strategy("CohortStagingToDataCatalogue"), source, target)
    plan = await job.plan(emit)          # tablesToDelete ... filter; nothing is written
    result = await job.apply(plan, emit) # check the plan still holds, back up, one zip import

Both feed one stream of events (emx2tui.jobs.events) to the TUI or the headless printer.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from emx2tui.emx2.client import Connection, Emx2Client, ModelCache, scrub
from emx2tui.emx2.errors import ConnectionFailed, Emx2Error, ServerError, TaskFailed
from emx2tui.emx2.zipfmt import make_reimportable
from emx2tui.jobs import scoped
from emx2tui.jobs.events import Emit, PlanReady, RunFinished, StepLog, ignore
from emx2tui.jobs.plan import Plan
from emx2tui.jobs.steps import (STEPS, BrokenReferences, JobCancelled, JobContext, JobSkipped, both_models,
                                PlanOutdated, cancel_reads_ahead, check_plan_current,
                                plan_still_current, preflight, refuse_broken, rows_as_planned,
                                run_step, upload, verify_applied)
from emx2tui.jobs.strategy import Strategy, StrategyError, load_strategy

if TYPE_CHECKING:
    from emx2tui.emx2.model import SchemaModel
    from emx2tui.jobs import journal

# The journal and the backup files are what an apply needs: they are imported by it, so that a
# dry run does not load them.

__all__ = ["Job", "RunResult", "JobCancelled", "JobSkipped", "PlanOutdated", "BrokenReferences"]

# RunResult.target_state and RunFinished.target_state
UNCHANGED, CHANGED, UNKNOWN = "unchanged", "changed", "unknown"


@dataclass
class RunResult:
    ok: bool
    backup_path: str | None = None
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    error: str | None = None
    duration: float = 0.0
    cancelled: bool = False
    run_id: str | None = None  # the run's id in the journal (emx2tui history / restore)
    # what the run did to the target: "unchanged", "changed", or "unknown" (the write was sent
    # and its outcome could not be learnt)
    target_state: str = "unchanged"


class Job:
    """One strategy between a source and a target connection."""

    def __init__(self, strategy: Strategy | str, source: Connection, target: Connection, *,
                 resource_id: str | None = None, backup_dir: str | Path | None = None,
                 transport: str | None = None, full_backup: bool = False) -> None:
        self.strategy = load_strategy(strategy) if isinstance(strategy, str) else strategy
        self.transport = transport or self.strategy.transport
        if self.transport not in ("zip", "csv"):
            raise StrategyError(f"transport must be 'zip' or 'csv', not '{self.transport}'")
        self.source = source
        self.target = target
        self.resource_id = resource_id
        self.backup_dir = backup_dir
        # False: the backup holds the target's rows of every key the run inserts, updates or
        # deletes (what a restore needs); True: the whole target schema
        self.full_backup = full_backup
        self._cancel = False
        self._writing = False
        self.last_plan: Plan | None = None
        # schema metadata read by the last plan, per server and user: the apply reuses it (the
        # target schema's own metadata is read again) and so does the journal's read-back
        self._models: dict[tuple[str, str, str], dict] = {}

    # ----------------------------------------------------------------- helpers
    @property
    def secrets(self) -> list[str]:
        return self.source.secrets + self.target.secrets

    def _message(self, exc: BaseException) -> str:
        text = str(exc) or type(exc).__name__
        if not isinstance(exc, (Emx2Error, StrategyError, JobCancelled, OSError)):
            text = f"{type(exc).__name__}: {text}"
        return scrub(text, self.secrets)

    def cancel(self) -> None:
        """Stop at the next table boundary. Once the import is sent, it runs to its end."""
        self._cancel = True

    @property
    def cancelled(self) -> bool:
        return self._cancel

    def _schemas(self) -> tuple[str, str]:
        src = self.source.schema or self.strategy.source_model.default_schema
        tgt = self.target.schema or self.strategy.target_model.default_schema
        if not src:
            raise StrategyError("No source schema given (--source-schema or MG_SOURCE_SCHEMA).")
        if not tgt:
            raise StrategyError("No target schema given (--target-schema or MG_TARGET_SCHEMA).")
        return src, tgt

    def _models_of(self, conn: Connection) -> dict:
        """The metadata cache of one server and user, shared by the clients that talk to it."""
        return self._models.setdefault((conn.url, conn.username or "", conn.token or ""), ModelCache())

    def _clients(self) -> tuple[Emx2Client, Emx2Client]:
        return (Emx2Client(self.source, models=self._models_of(self.source)),
                Emx2Client(self.target, models=self._models_of(self.target)))

    def _context(self, source: Emx2Client, target: Emx2Client, emit: Emit) -> JobContext:
        src, tgt = self._schemas()
        return JobContext(self.strategy, source, target, src, tgt, emit, resource_id=self.resource_id,
                          cancelled=lambda: self._cancel, transport=self.transport)

    # ----------------------------------------------------------------- plan
    async def plan(self, emit: Emit = ignore) -> Plan:
        """Run the read-only steps of the flow and return the plan. Raises on failure."""
        self._cancel = False
        started = time.monotonic()
        steps = [s for s in self.strategy.steps if s != "upload"]
        self._models = {}  # every plan reads the metadata afresh
        source_client, target_client = self._clients()
        try:
            async with source_client as source, target_client as target:
                ctx = self._context(source, target, emit)
                try:
                    first = True
                    for name in steps:
                        fn = STEPS[name]
                        if first:
                            first = False

                            async def with_preflight(c: JobContext, fn=fn, name=name) -> str:
                                await preflight(c, name)
                                return await fn(c)

                            await run_step(ctx, name, with_preflight)
                        else:
                            await run_step(ctx, name, fn)
                finally:
                    await cancel_reads_ahead(ctx)  # reads a failed or cancelled plan left
                assert ctx.plan is not None
                plan = ctx.plan
        except BaseException as exc:
            msg = self._message(exc)
            emit(RunFinished(False, summary="plan failed", error=msg))
            raise
        self.resource_id = plan.resource_id
        self.last_plan = plan
        emit(StepLog(steps[-1], f"Plan ready in {time.monotonic() - started:.1f} s"))
        emit(PlanReady(plan))
        return plan

    # ----------------------------------------------------------------- apply
    async def apply(self, plan: Plan, emit: Emit = ignore) -> RunResult:
        """Check the plan still holds, back up the target, then send the one import."""
        started = time.monotonic()
        self._last_backup = None
        self._writing_started = False
        self._backup_plan = plan
        result = RunResult(ok=False)
        from emx2tui.jobs import journal

        try:
            record = journal.begin_run(self, plan)  # journal: the plan's keys, before any write
        except journal.JournalError as exc:
            result.error = (f"{exc}. Nothing was changed: a run is journalled before it writes, so "
                            "that it can be restored. Make the data folder writable, or point "
                            "EMX2TUI_DATA_DIR at one that is.")
            emit(RunFinished(False, summary="not started; the target was not changed",
                             error=result.error))
            return result
        self._record = record
        source_client, target_client = self._clients()
        try:
            async with source_client as source, target_client as target:
                ctx = self._context(source, target, emit)
                try:
                    await self._write(ctx, plan, result)
                finally:
                    await self._drop_fresh_model()
        except JobCancelled:
            result.cancelled = True
            result.error = "cancelled before anything was written"
        except BaseException as exc:
            if not isinstance(exc, Exception):
                raise
            result.error = self._message(exc)
        result.duration = time.monotonic() - started
        if result.ok:
            summary = (f"{plan.total_writes} rows written, {plan.total_delete_rows} deleted in "
                       f"{result.duration:.1f} s")
        elif result.cancelled:
            summary = "cancelled; the target was not changed"
        elif not plan.atomic and result.target_state != UNCHANGED:
            summary = ("failed part-way through a table-by-table upload: the target may be "
                       "part-written; restore it from the backup")
            if result.backup_path:
                summary += f" ({result.backup_path})"
        elif result.target_state == CHANGED:
            summary = ("failed after the import was sent, but the target shows it was applied "
                       "in full")
        elif result.target_state == UNKNOWN:
            summary = ("failed after the import was sent: the import may have been applied; the "
                       "server's task list or a comparison with the backup tells")
        else:
            summary = "failed; the target was not changed"
            if result.backup_path:
                summary += f" (backup: {result.backup_path})"
        result.run_id = await journal.end_run(record, self, result, emit)  # journal: the outcome
        if not result.ok and result.target_state != UNCHANGED:
            undo = f"emx2tui restore {result.run_id}" if result.run_id else "a restore from the backup"
            summary += f"; {undo} undoes it"
            if result.backup_path and "backup" not in summary:
                summary += f" (backup: {result.backup_path})"
            if result.error:
                result.error = f"{result.error} ({summary})"
        emit(RunFinished(result.ok, summary=summary, error=result.error, backup=result.backup_path,
                         counts=result.counts if result.ok else {}, target_state=result.target_state))
        return result

    _record: journal.RunRecord | None = None

    async def _write(self, ctx: JobContext, plan: Plan, result: RunResult) -> None:
        """What `apply` does with both clients open: check, back up, upload."""
        emit = ctx.emit
        ctx.resource_id = plan.resource_id
        ctx.transport = plan.transport
        refuse_broken(plan, ctx.target_schema)
        if plan.target_schema and plan.target_schema != ctx.target_schema:
            raise PlanOutdated(f"The plan was made for schema '{plan.target_schema}', not "
                               f"'{ctx.target_schema}'. Make the plan again.")
        self._planned_shape = plan.target_shape
        if ctx.target.cached_model(ctx.target_schema) is None or plan.is_empty or self.full_backup:
            ctx.source_model, ctx.target_model = await both_models(ctx, refresh_target=True)
            self._refuse_changed_model(ctx, ctx.tgt)
        else:
            # the backup's reads go out with the target's metadata as the plan saw it, while it
            # is asked for again; the backup refuses if it changed meanwhile
            ctx.source_model, ctx.target_model = await both_models(ctx)
            if self._planned_shape is None:
                self._planned_shape = ctx.tgt.data_shape()
            self._fresh_model = asyncio.ensure_future(
                ctx.target.schema_model(ctx.target_schema, refresh=True))
        if plan.is_empty:
            await check_plan_current(ctx, plan, "upload")
            emit(StepLog("upload", "Nothing to write: the target already holds these rows"))
            result.ok = True
        else:
            ctx.check_cancel()
            # the backup reads the rows the run changes and refuses when they are no
            # longer as the plan saw them
            await run_step(ctx, "backup", self._backup, unit="bytes")
            result.backup_path = self._last_backup
            ctx.check_cancel()

            async def do_upload(c: JobContext) -> str:
                c.check_cancel()
                self._writing = True
                self._writing_started = True
                try:
                    return await upload(c, plan)
                except Exception as exc:
                    if c.write_sent:
                        result.target_state = await self._settle(c, plan, exc)
                    raise
                finally:
                    self._writing = False

            await run_step(ctx, "upload", do_upload)
            result.ok = True
            result.target_state = CHANGED
            if self._record is not None:
                from emx2tui.jobs import journal

                # what the write left, read back while the connections are open
                await journal.read_back(self._record, ctx.target, emit, secrets=self.secrets)
        result.counts = plan.counts()

    _fresh_model: asyncio.Future | None = None  # the target's metadata, asked for again
    _planned_shape: tuple | None = None  # the target's data model as the plan read it

    async def _model_as_planned(self, ctx: JobContext) -> None:
        """Wait for the target's metadata asked for again, and refuse (PlanOutdated) when its data
        model changed after the plan: its rows would no longer read or write as the plan has them."""
        fresh, self._fresh_model = self._fresh_model, None
        if fresh is None:
            return
        model = await fresh
        self._refuse_changed_model(ctx, model)
        ctx.target_model = model

    def _refuse_changed_model(self, ctx: JobContext, model: SchemaModel) -> None:
        if self._planned_shape is not None and model.data_shape() != self._planned_shape:
            raise PlanOutdated(
                f"The data model of schema '{ctx.target_schema}' on {ctx.target.url} changed after "
                f"the plan was made. Nothing was written; make the plan again and review it.",
                schema=ctx.target_schema)

    async def _drop_fresh_model(self) -> None:
        fresh, self._fresh_model = self._fresh_model, None
        if fresh is not None:
            fresh.cancel()
            await asyncio.gather(fresh, return_exceptions=True)

    async def _settle(self, ctx: JobContext, plan: Plan, exc: Exception) -> str:
        """After a failed write: did it change the target? "unchanged", "changed" or "unknown"."""
        step = "upload"
        if not plan.atomic:
            return UNKNOWN  # some tables may be written, others not
        if isinstance(exc, TaskFailed) and str(exc.task.get("status") or "").upper() in ("ERROR",
                                                                                        "CANCELLED"):
            return UNCHANGED  # the server ran the import and rolled it back
        # A gateway's error (502/503/504: a proxy gave up waiting) says nothing of whether the
        # server behind it took the import: ask, as after a dropped connection.
        gateway = isinstance(exc, ServerError) and exc.status in (502, 503, 504)
        if ctx.task_id is None and not isinstance(exc, ConnectionFailed) and not gateway \
                and not ("task id" in str(exc) and isinstance(exc, ServerError)):
            return UNCHANGED  # the server answered the import with an error: it refused it
        ctx.log(step, "The connection failed after the import was sent; asking the server what "
                      "became of it", "warning")
        try:
            async with Emx2Client(self.target, retries=4) as client:
                if ctx.task_id is not None:
                    try:
                        task = await client.wait_task(ctx.task_id, schema=ctx.target_schema,
                                                      timeout=600.0)
                    except TaskFailed as failed:
                        if str(failed.task.get("status") or "").upper() in ("ERROR", "CANCELLED"):
                            ctx.log(step, f"The server's import task ended in error: {failed}",
                                    "warning")
                            return UNCHANGED
                        raise
                    ctx.log(step, f"The server's import task completed: "
                                  f"{task.get('description') or task.get('status')}", "warning")
                    return CHANGED
                await self._wait_for_server_tasks(ctx, client)
                state = await verify_applied(ctx, client, plan)
        except Emx2Error as again:
            ctx.log(step, f"Could not learn whether the import was applied ({self._message(again)})",
                    "warning")
            return UNKNOWN
        ctx.log(step, {CHANGED: "The target's rows show the import was applied",
                       UNCHANGED: "The target's rows show the import was not applied",
                       UNKNOWN: "The target's rows match neither the plan's before nor its after"}
                [state], "warning")
        return state

    async def _wait_for_server_tasks(self, ctx: JobContext, client: Emx2Client,
                                     limit: float = 120.0) -> None:
        """An import the server accepted may still wait in its queue: wait for the queue to empty."""
        started = time.monotonic()
        while time.monotonic() - started < limit:
            try:
                pending = await client.unfinished_tasks()
            except Emx2Error:
                return  # listing every task needs an admin; compare the rows as they are
            if not pending:
                return
            await asyncio.sleep(0.5)

    _last_backup: str | None = None
    _writing_started = False
    _backup_plan: Plan | None = None

    async def _backup(self, ctx: JobContext) -> str:
        from emx2tui.jobs import backup as backups
        from emx2tui.jobs import journal

        plan = self._backup_plan
        if self.full_backup or plan is None:
            ctx.log("backup", f"Downloading '{ctx.target_schema}' from {ctx.target.url}")
            if plan is not None:
                await plan_still_current(ctx, plan)  # the target's rows of X, against the plan's
                ctx.log("backup", "The target is as the plan saw it")
            data = await ctx.target.download_zip(ctx.target_schema, include_system_columns=True)
            data = make_reimportable(data)
        else:
            # the target's rows of every key the run inserts, updates or deletes: what a restore
            # puts back (rows the run leaves alone need no copy)
            # the journal record holds these per table already (begin_run made it from the plan)
            tables = self._record.tables if self._record is not None else journal.tables_from_plan(plan)
            wanted = {name: (t.key_columns, [tuple(k) for k in t.inserted_keys + t.updated_keys
                                             + t.deleted_keys])
                      for name, t in tables.items() if t.writes}
            ctx.log("backup", f"Reading the rows the run changes in {len(wanted)} tables, from "
                              f"'{ctx.target_schema}' on {ctx.target.url}")
            try:
                current = await scoped.keyed_rows(ctx.target, ctx.tgt, wanted)
            except Emx2Error:
                # a table or key column gone since the plan fails these reads: say so, if so
                await self._model_as_planned(ctx)
                raise
            await self._model_as_planned(ctx)
            rows_as_planned(ctx, plan, current)
            ctx.log("backup", "The rows the run changes are as the plan saw them")
            data, rows = await scoped.backup_zip(ctx.target, ctx.tgt, current)
            ctx.log("backup", f"{rows} rows backed up")
        folder = backups.backup_dir(self.backup_dir)
        path = backups.backup_path(ctx.target_schema, ctx.target.url, folder)
        backups.write_private(path, data)
        self._last_backup = str(path)
        journal.record_backup(self._record, str(path))  # a run killed from here on can be restored
        ctx.log("backup", f"Saved {len(data)} bytes to {path}")
        return str(path)
