"""The seven steps of a job as async functions on one shared context.

tablesToSync, tablesToDelete, deleteCohort, deleteNetwork, download and filter only read: they
build the plan. upload is the one step that writes: deletes (`mg_delete` rows) and upserts of
the whole run in one ZIP import, which the server runs as one transaction.
"""

from __future__ import annotations

import asyncio
import time
import zipfile
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass, field

from emx2tui.emx2 import csvfmt
from emx2tui.emx2.client import Emx2Client, flatten_subtasks
from emx2tui.emx2.errors import (AuthError, CsvFormatError, Emx2Error, ModelError,
                                 PermissionDenied, SchemaNotFound)
from emx2tui.emx2.frames import Frame, concat, empty_frame, read_frame, write_frame
from emx2tui.emx2.model import SchemaModel
from emx2tui.emx2.zipfmt import build_zip, read_files, table_entries
from emx2tui.jobs import refs, transform
from emx2tui.jobs.events import (Emit, ServerTask, StepFinished, StepLog, StepProgress, StepStarted,
                                 WriteSent)
from emx2tui.jobs.plan import (INSERT, UPDATE, Plan, TablePlan, build_table_plan, delete_only_plan,
                               digest, row_keys)
from emx2tui.jobs.report import rows as n_rows
from emx2tui.jobs.scoped import ClassRows
from emx2tui.jobs.strategy import Strategy, StrategyError, TableSpec


class JobCancelled(Exception):
    """The user cancelled the job before it wrote anything."""


class JobSkipped(StrategyError):
    """The job does not apply to these schemas (for example the ids differ); nothing was done."""


class BrokenReferences(Emx2Error):
    """The plan would break references; nothing is written."""


class PlanOutdated(Emx2Error):
    """The target changed after the plan was made; the plan must be made again."""


@dataclass
class JobContext:
    strategy: Strategy
    source: Emx2Client
    target: Emx2Client
    source_schema: str
    target_schema: str
    emit: Emit
    resource_id: str | None = None
    cancelled: Callable[[], bool] = lambda: False
    source_model: SchemaModel | None = None
    target_model: SchemaModel | None = None
    sync_specs: list[TableSpec] = field(default_factory=list)
    delete_specs: list[TableSpec] = field(default_factory=list)
    source_frames: dict[str, Frame] = field(default_factory=dict)
    target_frames: dict[str, Frame] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    plan: Plan | None = None
    transport: str = "zip"
    notes: list[str] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)  # prominent warnings: the plan may do harm
    gdpr_withheld: set = field(default_factory=set)  # keys of rows the GDPR rule does not publish
    write_sent: bool = False  # the write request left this machine (it may have landed)
    # reads started ahead of the step that consumes them, by (side, table, id of the spec), and
    # the gate all of a plan's filtered reads pass (first come, first served)
    ahead: dict[tuple[str, str, int], asyncio.Future] = field(default_factory=dict)
    read_gate: asyncio.Semaphore | None = None
    # (side, table, rows): the whole table the resource id was read from; a later read of that
    # table on that side filters these rows instead of asking the server again
    resource_rows: tuple[str, str, Frame] | None = None
    # the source schema's ZIP export (table -> its own rows), when the strategy reads the
    # source whole; started with the metadata queries
    source_export: asyncio.Future | None = None
    task_id: str | None = None  # the server's id of the import task, once it accepted it

    def log(self, step: str, message: str, level: str = "info") -> None:
        self.emit(StepLog(step, message, level))  # type: ignore[arg-type]

    def sending(self, step: str) -> None:
        """The write is about to leave: say so once, to the journal's logic and to listeners."""
        if not self.write_sent:
            self.write_sent = True
            self.emit(WriteSent(step))

    def warn(self, step: str, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)
        self.log(step, message, "warning")

    def check_cancel(self) -> None:
        if self.cancelled():
            raise JobCancelled("cancelled before anything was written")

    @property
    def src(self) -> SchemaModel:
        assert self.source_model is not None
        return self.source_model

    @property
    def tgt(self) -> SchemaModel:
        assert self.target_model is not None
        return self.target_model


StepFn = Callable[[JobContext], Awaitable[str]]


async def run_step(ctx: JobContext, name: str, fn: StepFn, total: int | None = None,
                   unit: str = "tables") -> str:
    """Run one step with its StepStarted/StepFinished events; a failure is reported, then raised."""
    ctx.emit(StepStarted(name, total=total, unit=unit))
    started = time.monotonic()
    try:
        summary = await fn(ctx)
    except JobCancelled:
        ctx.emit(StepFinished(name, "cancelled", "cancelled"))
        raise
    except Exception as exc:
        ctx.emit(StepFinished(name, "failed", str(exc)))
        raise
    ctx.emit(StepFinished(name, "done", f"{summary} ({time.monotonic() - started:.1f} s)"))
    return summary


# ----------------------------------------------------------------------------- preflight
async def preflight(ctx: JobContext, step: str) -> None:
    """Read both schemas' metadata, check models and versions, and settle the resource id X."""
    s = ctx.strategy
    ctx.log(step, f"Reading metadata of '{ctx.source_schema}' ({ctx.source.connection.label}) and "
                  f"'{ctx.target_schema}' ({ctx.target.connection.label})")
    if s.source_read == "zip" and ctx.source_export is None:
        ctx.source_export = asyncio.ensure_future(_export_source(ctx))
    ctx.source_model, ctx.target_model = await both_models(ctx)
    s.check_models(ctx.src, ctx.tgt, ctx.source.url, ctx.target.url)
    ctx.log(step, f"Models: source {ctx.src.describe_model()}; target {ctx.tgt.describe_model()}")
    await resolve_resource(ctx, step)


async def both_models(ctx: JobContext, *, refresh_target: bool = False) -> tuple[SchemaModel, SchemaModel]:
    """The source's and the target's metadata, asked for at once (the source's error first)."""
    found = await asyncio.gather(ctx.source.schema_model(ctx.source_schema),
                                 ctx.target.schema_model(ctx.target_schema, refresh=refresh_target),
                                 return_exceptions=True)
    for f in found:
        if isinstance(f, BaseException):
            raise f
    return found[0], found[1]  # type: ignore[return-value]


async def resolve_resource(ctx: JobContext, step: str) -> None:
    spec = ctx.strategy.resource
    if spec.side == "none":
        ctx.resource_id = None
        ctx.log(step, "Every row of the listed tables is copied (no resource filter)")
        return
    side_client, side_schema, side_model = (
        (ctx.target, ctx.target_schema, ctx.tgt) if spec.side == "target"
        else (ctx.source, ctx.source_schema, ctx.src))
    if spec.table not in side_model.tables:
        raise StrategyError(f"Schema '{side_schema}' has no table '{spec.table}' to read the resource id from")
    exported = await _exported(ctx) if spec.side == "source" else None
    # as the CSV API answers a read of the whole table: with the rows of its subclasses
    rows = (_export_table(exported, side_model, spec.table, own_class_only=False)
            if exported is not None else None)
    if rows is None:
        rows = await side_client.download_table(side_schema, spec.table)
        ctx.resource_rows = (spec.side, spec.table, rows)
    rows = transform.own_class_rows(rows, spec.table)
    ids = sorted(set(rows[spec.column])) if len(rows) and spec.column in rows.columns else []
    where = f"schema '{side_schema}' on {side_client.url}"
    if ctx.resource_id:
        if ctx.resource_id not in ids and spec.side == "source":
            # a replace with rows of no resource would delete the target's rows of this one
            found = f"found: {', '.join(ids)}" if ids else "it holds no row at all"
            raise StrategyError(
                f"Resource '{ctx.resource_id}' is not in table {spec.table} of {where} ({found}). "
                f"This job replaces the target's rows of '{ctx.resource_id}' with the source's, so "
                f"it would delete them; nothing was done. Add the {spec.table} row "
                f"'{ctx.resource_id}' to the source schema, or pick the schema that holds it.")
        if len(ids) > 1:
            ctx.warn(step, f"{where} holds {len(ids)} {spec.table} rows; using --resource-id "
                           f"'{ctx.resource_id}'")
    else:
        if not ids:
            what = _RESOURCE_WORDS.get(spec.table, "resource")
            raise StrategyError(
                f"Table {spec.table} of {where} is empty, so it does not say which {what} this job "
                f"is about. Add the {what}'s {spec.table} row to '{side_schema}', with the "
                f"{spec.column} the catalogue uses for it, or pass --resource-id with that "
                f"{spec.column}.")
        if len(ids) != 1:
            found = ", ".join(ids) if ids else "none"
            raise StrategyError(
                f"Table {spec.table} of {where} must hold exactly one row, the resource this job is "
                f"about; found {len(ids)} ({found}). Pass --resource-id to choose one.")
        ctx.resource_id = ids[0]
    if spec.must_exist_in:
        other, other_schema, other_model = (
            (ctx.source, ctx.source_schema, ctx.src) if spec.must_exist_in == "source"
            else (ctx.target, ctx.target_schema, ctx.tgt))
        flt = transform.server_filter(other_model, spec.table, spec.column, ctx.resource_id)
        found_rows = await other.download_table(other_schema, spec.table, flt)
        found_rows = transform.local_filter(found_rows, other_model, TableSpec(spec.table, spec.column),
                                            ctx.resource_id)
        if not len(found_rows) and spec.on_missing == "skip":
            everything = await other.download_table(other_schema, spec.table)
            near = sorted(v for v in (everything[spec.column] if spec.column in everything.columns else [])
                          if v.lower() == ctx.resource_id.lower())
            hint = f" ('{near[0]}' differs only in case)" if near else ""
            raise JobSkipped(
                f"Skipped: the id '{ctx.resource_id}' of {where} must equal the id of a {spec.table} "
                f"row in schema '{other_schema}' on {other.url} exactly, and no row has it{hint}. "
                f"Nothing was written.")
        if not len(found_rows):
            raise StrategyError(
                f"Resource '{ctx.resource_id}' (from {where}) is not in table {spec.table} of schema "
                f"'{other_schema}' on {other.url}, so there is nothing to copy. Check the staging "
                f"schema's {spec.table} row or pass --resource-id.")
    staging = ctx.target_schema if spec.side == "target" else ctx.source_schema
    if ctx.resource_id != staging:
        ctx.warn(step, f"Resource id '{ctx.resource_id}' differs from the staging schema name "
                       f"'{staging}': check that this staging schema belongs to "
                       f"'{ctx.resource_id}'")
    ctx.log(step, f"Resource: {ctx.resource_id}")


_RESOURCE_WORDS = {"Collections": "cohort", "Networks": "network"}


# ----------------------------------------------------------------------------- table lists
def _sync_order(ctx: JobContext) -> list[TableSpec]:
    """The strategy's sync tables that both schemas have, in the target's load order."""
    specs = [s for s in ctx.strategy.sync if s.table in ctx.tgt.tables and s.table in ctx.src.tables]
    by_name = {s.table: s for s in specs}
    return [by_name[t] for t in ctx.tgt.load_order([s.table for s in specs])]


def _sync_reads(specs: list[TableSpec], target_read: set[str]) -> list[tuple[str, TableSpec]]:
    """The reads `download` makes: each table from the source and, unless its target rows are
    read already (by a delete step), from the target."""
    reads: list[tuple[str, TableSpec]] = []
    for spec in specs:
        reads.append(("source", spec))
        if spec.table not in target_read:
            reads.append(("target", spec))
    return reads


async def tables_to_sync(ctx: JobContext) -> str:
    step = "tablesToSync"
    for spec in ctx.strategy.sync:
        if spec.table not in ctx.tgt.tables:
            ctx.warn(step, f"Table '{spec.table}' is not in target schema '{ctx.target_schema}'; skipped")
        elif spec.table not in ctx.src.tables:
            ctx.warn(step, f"Table '{spec.table}' is not in source schema '{ctx.source_schema}'; skipped")
    ctx.sync_specs = _sync_order(ctx)
    for i, spec in enumerate(ctx.sync_specs, 1):
        ctx.log(step, f"{i:2}. {spec.table}: {spec.filter_text(ctx.resource_id)}")
    return f"{len(ctx.sync_specs)} tables"


async def tables_to_delete(ctx: JobContext) -> str:
    step = "tablesToDelete"
    specs = []
    for spec in ctx.strategy.delete:
        if spec.table in ctx.strategy.keep:
            continue
        if spec.table not in ctx.tgt.tables:
            ctx.warn(step, f"Table '{spec.table}' is not in target schema '{ctx.target_schema}'; skipped")
            continue
        if spec.table not in ctx.src.tables:
            ctx.warn(step, f"Table '{spec.table}' is not in source schema '{ctx.source_schema}'; its "
                           f"rows in the target are kept")
            continue
        specs.append(spec)
    order = list(reversed(ctx.tgt.load_order([s.table for s in specs])))
    by_name = {s.table: s for s in specs}
    ctx.delete_specs = [by_name[t] for t in order]
    for i, spec in enumerate(ctx.delete_specs, 1):
        ctx.log(step, f"{i:2}. {spec.table}: {spec.filter_text(ctx.resource_id)}")
    if ctx.strategy.keep:
        ctx.log(step, f"Kept: {', '.join(ctx.strategy.keep)}")
    return f"{len(ctx.delete_specs)} tables"


# ----------------------------------------------------------------------------- reads
class ExportedTables:
    """The tables of a source's ZIP export, each parsed when it is first asked for.

    The plan asks for the resource table at once and for the others as it reads them (between
    the target's answers, while the server works): the export's CSV is not parsed in one block
    before the first target read can leave. A table whose CSV cannot be read is noted in
    `unreadable` and counts as missing: it is then read from the server on its own.
    """

    def __init__(self, texts: dict[str, str]) -> None:
        self._texts = texts
        self._frames: dict[str, Frame] = {}
        self.unreadable: dict[str, str] = {}  # table -> why its CSV could not be read

    def get(self, table: str) -> Frame | None:
        frame = self._frames.get(table)
        if frame is None:
            text = self._texts.pop(table, None)
            if text is None:
                return None
            try:
                frame = read_frame(text)
            except CsvFormatError as exc:
                self.unreadable[table] = exc.message
                return None
            self._frames[table] = frame
        return frame


async def _export_source(ctx: JobContext) -> ExportedTables | None:
    """The source schema's tables as its ZIP export holds them (table -> rows of its own class,
    system columns included: some servers leave draft rows out of an export without them).
    None when the export cannot be had or unpacked: the tables are then read one by one, as
    they would be without it."""
    try:
        data = await ctx.source.download_zip(ctx.source_schema, include_system_columns=True)
        return ExportedTables(table_entries(data))
    except (AuthError, PermissionDenied, SchemaNotFound):
        raise  # the reads one by one would be refused as well
    except (Emx2Error, zipfile.BadZipFile, zlib.error, RuntimeError, EOFError,
            OSError, UnicodeDecodeError, ValueError) as exc:
        ctx.warn("preflight", f"The ZIP export of source schema '{ctx.source_schema}' could not be "
                              f"used ({exc}); its tables are read one by one instead.")
        return None


async def _exported(ctx: JobContext) -> ExportedTables | None:
    return await ctx.source_export if ctx.source_export is not None else None


def _export_table(exported: ExportedTables, model: SchemaModel, table: str, *,
                  own_class_only: bool) -> Frame | None:
    """A table's rows from a ZIP export, as the CSV API answers a read of the table: with its
    system columns, the rows of its own class (`own_class_only`); without them, the rows of its
    subclasses too, under its own columns (the export files each row under its own class).
    None when the export lacks the table's file or a subclass's (or cannot read one): that
    table is read instead."""
    own = exported.get(table)
    if own is None:
        return None
    if own_class_only:
        return own
    subs = []
    for t in model.subclasses(table):
        sub = exported.get(t.name)
        if sub is None:
            return None
        if len(sub):
            subs.append(sub)
    columns = [c for c in own.columns if c == "mg_draft" or not c.startswith("mg_")]
    return concat([own.select(columns), *(f.select(columns) for f in subs)])


def _exported_rows(ctx: JobContext, spec: TableSpec, exported: ExportedTables | None) -> Frame | None:
    """The source rows of X in `spec`'s table, from the export; None when they must be read."""
    if exported is None or (spec.filter and ctx.src.column(spec.table, spec.filter).is_array):
        # (on an array column the server's `equals` matches any item: that read stays its own)
        return None
    df = _export_table(exported, ctx.src, spec.table, own_class_only=spec.own_class_only)
    if df is None:
        bad = [f"{t}: {exported.unreadable.pop(t)}" for t in [spec.table, *(
            c.name for c in ctx.src.subclasses(spec.table))] if t in exported.unreadable]
        if bad:
            ctx.warn("download", f"The ZIP export of source schema '{ctx.source_schema}' holds a "
                                 f"table that could not be read ({'; '.join(bad)}); {spec.table} "
                                 f"is read one by one instead.")
        return None
    return transform.local_filter(df, ctx.src, spec, ctx.resource_id)


async def _fetch(ctx: JobContext, side: str, spec: TableSpec) -> Frame:
    client, schema, model = ((ctx.source, ctx.source_schema, ctx.src) if side == "source"
                             else (ctx.target, ctx.target_schema, ctx.tgt))
    if side == "source" and ctx.source_export is not None:
        df = _exported_rows(ctx, spec, await ctx.source_export)
        if df is not None:
            return df
    read = ctx.resource_rows
    if read is not None and read[:2] == (side, spec.table) and not spec.own_class_only:
        return transform.local_filter(read[2], model, spec, ctx.resource_id)
    flt = transform.server_filter(model, spec.table, spec.filter, ctx.resource_id)
    df = await client.download_table(schema, spec.table, flt, include_system_columns=spec.own_class_only)
    return transform.local_filter(df, model, spec, ctx.resource_id)


def _plan_reads(ctx: JobContext) -> dict[tuple[str, str], Frame]:
    """The target rows the plan read, by (table, filter), as the server would answer that read
    again (tables read for their own class only are left out: their frames lack the subclasses;
    so are tables filtered on an array column, which the local filter reads otherwise)."""
    out: dict[tuple[str, str], Frame] = {}
    for spec in ctx.sync_specs + ctx.delete_specs:
        df = ctx.target_frames.get(spec.table)
        if df is None or spec.own_class_only or spec.table not in ctx.tgt.tables:
            continue
        if spec.filter and ctx.tgt.column(spec.table, spec.filter).is_array:
            continue  # the server's `equals` on an array matches any item; the local filter, the cell
        flt = transform.server_filter(ctx.tgt, spec.table, spec.filter, ctx.resource_id)
        out[refs.read_key(spec.table, flt)] = df
    return out


READ_AHEAD = 4  # filtered reads in flight at once


def _start_read(ctx: JobContext, side: str, spec: TableSpec,
                after: asyncio.Future | None = None) -> asyncio.Future:
    """Start one read. A source table the export holds is picked from it without waiting for a
    place among the server reads, once `after` (a server read under way) has its answer: the
    export is parsed table by table between the server's answers, while it works on the next
    ones, not before the first of them leaves."""
    if ctx.read_gate is None:
        ctx.read_gate = asyncio.Semaphore(READ_AHEAD)
    gate = ctx.read_gate

    async def one() -> Frame:
        if side == "source" and ctx.source_export is not None:
            exported = await ctx.source_export
            if after is not None and not after.done():
                await asyncio.wait([after])
            df = _exported_rows(ctx, spec, exported)
            if df is not None:
                return df
        async with gate:
            return await _fetch(ctx, side, spec)

    return asyncio.ensure_future(one())


def _paced(pace: list[asyncio.Future], k: int) -> asyncio.Future | None:
    return pace[min(k, len(pace) - 1)] if pace else None


def read_ahead(ctx: JobContext, reads: list[tuple[str, TableSpec]],
               pace: list[asyncio.Future] = ()) -> None:
    """Start reads a later step consumes (through `_fetch_in_order`), behind those under way;
    the k-th source read waits for the k-th of `pace` (see `_start_read`)."""
    pace, k = list(pace), 0
    for side, spec in reads:
        key = (side, spec.table, id(spec))
        if key not in ctx.ahead:
            after = None
            if side == "source":
                after, k = _paced(pace, k), k + 1
            ctx.ahead[key] = _start_read(ctx, side, spec, after)


async def cancel_reads_ahead(ctx: JobContext) -> None:
    """Cancel the reads started ahead that no step consumed (a failed or cancelled plan)."""
    left = list(ctx.ahead.values())
    ctx.ahead.clear()
    if ctx.source_export is not None:
        left.append(ctx.source_export)
        ctx.source_export = None
    for task in left:
        task.cancel()
    await asyncio.gather(*left, return_exceptions=True)


async def _fetch_in_order(ctx: JobContext, reads: list[tuple[str, TableSpec]],
                          then: list[tuple[str, TableSpec]] = ()
                          ) -> AsyncIterator[tuple[int, Frame]]:
    """(index, frame) of each (side, spec) read, in the order given, with a few reads ahead.

    The consumer sees the tables one by one as before (cancel checks, progress); the server
    and the parsing of the previous answer overlap. Reads not consumed are cancelled. Reads
    `read_ahead` started are taken over; `then` are started ahead for a later step, behind these.
    """
    tasks: list[asyncio.Future | None] = [ctx.ahead.pop((side, spec.table, id(spec)), None)
                                          for side, spec in reads]
    for i, (side, spec) in enumerate(reads):  # the server's reads first
        if tasks[i] is None and side != "source":
            tasks[i] = _start_read(ctx, side, spec)
    pace = [t for (side, _), t in zip(reads, tasks) if side != "source" and t is not None]
    k = 0
    for i, (side, spec) in enumerate(reads):
        if tasks[i] is None:
            tasks[i], k = _start_read(ctx, side, spec, _paced(pace, k)), k + 1
    read_ahead(ctx, list(then), pace)
    try:
        for i, task in enumerate(tasks):
            ctx.check_cancel()
            yield i, await task
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def delete_resource_rows(ctx: JobContext, step: str) -> str:
    """Read the target's current rows of X in the delete tables (what a replace may remove)."""
    total = 0
    n = len(ctx.delete_specs)
    reads = [("target", spec) for spec in ctx.delete_specs]
    # the download step's reads queue behind these: the server never waits for the next step
    then = _download_reads(ctx) if "download" in ctx.strategy.steps else []
    async with aclosing(_fetch_in_order(ctx, reads, then=then)) as frames:
        async for k, df in frames:
            spec = ctx.delete_specs[k]
            ctx.target_frames[spec.table] = df
            total += len(df)
            ctx.emit(StepProgress(step, k + 1, n, "tables", spec.table))
            ctx.log(step, f"{spec.table}: {n_rows(len(df))} of {ctx.resource_id} in the target")
    return f"{total} rows of {ctx.resource_id} in {n} tables"


async def delete_cohort(ctx: JobContext) -> str:
    return await delete_resource_rows(ctx, "deleteCohort")


async def delete_network(ctx: JobContext) -> str:
    return await delete_resource_rows(ctx, "deleteNetwork")


def _download_reads(ctx: JobContext) -> list[tuple[str, TableSpec]]:
    """The reads `download` will make, known once the delete tables are."""
    return _sync_reads(_sync_order(ctx), {s.table for s in ctx.delete_specs})


async def download(ctx: JobContext) -> str:
    step = "download"
    n = len(ctx.sync_specs)
    rows = 0
    reads = _sync_reads(ctx.sync_specs, set(ctx.target_frames))
    done = 0
    async with aclosing(_fetch_in_order(ctx, reads)) as frames:
        async for k, df in frames:
            side, spec = reads[k]
            (ctx.source_frames if side == "source" else ctx.target_frames)[spec.table] = df
            if k + 1 < len(reads) and reads[k + 1][1].table == spec.table:
                continue  # its target rows are next
            done += 1
            rows += len(ctx.source_frames[spec.table])
            ctx.emit(StepProgress(step, done, n, "tables", spec.table))
            ctx.log(step, f"{spec.table}: {n_rows(len(ctx.source_frames[spec.table]))} from source, "
                          f"{len(ctx.target_frames[spec.table])} in target")
    return f"{rows} rows from {n} tables"


# ----------------------------------------------------------------------------- plan
def _apply_gdpr(ctx: JobContext, step: str) -> None:
    """Leave out the rows without consent, and empty the references that name them."""
    g = ctx.strategy.gdpr
    if g is None or g.table not in ctx.source_frames:
        return
    before = ctx.source_frames[g.table]
    kept, dropped, blanked = transform.gdpr_filter(before, ctx.src, g)
    if g.consent_column in kept.columns:
        kept = kept.drop([g.consent_column])
    ctx.source_frames[g.table] = kept
    notes = [g.describe() + ".",
             f"{g.table}: {len(dropped)} of {len(before)} rows have no consent for personal data "
             f"and are not published; '{g.consent_column}' is not sent."]
    if blanked:
        notes.append(f"{g.table}: {g.email_column} emptied on {blanked} rows.")
    gone = set(dropped)
    ctx.gdpr_withheld = gone
    for name, df in list(ctx.source_frames.items()):
        if name not in ctx.src.tables:
            continue
        out, changed = transform.blank_references_to(df, ctx.src, name, g.table, gone)
        ctx.source_frames[name] = out
        for col, n in changed.items():
            notes.append(f"{name}.{col}: emptied on {n} rows (it named a contact that is not published).")
    for n in notes:
        ctx.log(step, n)
    ctx.notes += notes


def _file_columns(model: SchemaModel, table: str) -> list[str]:
    return sorted({c.name for c in model.csv_column_owner(table).values() if c.is_file})


async def _fetch_files(ctx: JobContext, sp: TablePlan, file_cols: list[str], source_has: set[str],
                       step: str) -> list[str]:
    """The attachments of the rows an apply writes, as `_files/` entries; problems as messages."""
    problems: list[str] = []
    if not file_cols or not len(sp.frame):
        return problems
    cache: dict[tuple[str, str], dict[str, bytes]] = {}
    rows = sp.upsert_frame()
    for rec, key in zip(rows.records(), row_keys(rows, sp.key_columns) if len(rows) else []):
        for col in file_cols:
            fid = (rec.get(col) or "").strip()
            if not fid:
                continue
            fname = (rec.get(f"{col}_filename") or "").strip()
            ext = fname.rsplit(".", 1)[-1] if "." in fname else "bin"
            side = "source" if col in source_has else "target"
            client, schema = ((ctx.source, ctx.source_schema) if side == "source"
                              else (ctx.target, ctx.target_schema))
            try:
                content = await client.download_file(schema, sp.table, col, fid)
            except Emx2Error:
                bundle = cache.get((side, sp.table))
                if bundle is None:
                    try:
                        bundle = read_files(await client.download_table_zip(schema, sp.table))
                    except Emx2Error:
                        try:
                            bundle = read_files(await client.download_zip(schema))
                        except Emx2Error:
                            bundle = {}
                    cache[(side, sp.table)] = bundle
                hit = next((v for k, v in bundle.items() if k.rsplit("/", 1)[-1].startswith(f"{fid}.")), None)
                if hit is None:
                    problems.append(f"{sp.table}.{col} of row {'/'.join(key)}: file '{fname or fid}' "
                                    f"could not be read from the {side} schema '{schema}'")
                    continue
                content = hit
            sp.files[f"_files/{fid}.{ext}"] = content
    if sp.files:
        ctx.log(step, f"{sp.table}: {len(sp.files)} attachments carried over")
    return problems


MASS_DELETE_SHARE = 0.5  # more than this share of the target's rows of X deleted ...
NEARLY_EMPTY_SHARE = 0.1  # ... while the source holds fewer rows than this share of them


def _alert_mass_delete(ctx: JobContext, step: str, sync_plans: list[TablePlan],
                       deletes: list[TablePlan]) -> None:
    """Alert when the plan removes most of the target's rows of X and brings almost none.

    That is what a staging schema that does not belong to X (or was emptied) looks like.
    """
    existing = sum(len(ctx.target_frames.get(d.table, ())) for d in deletes)
    removed = sum(d.deletes for d in deletes)
    incoming = sum(p.rows for p in sync_plans)
    if not existing or removed <= MASS_DELETE_SHARE * existing or incoming >= NEARLY_EMPTY_SHARE * existing:
        return
    message = (f"This plan deletes {removed} of the {existing} rows of '{ctx.resource_id}' in "
               f"'{ctx.target_schema}' and brings only {incoming} rows from '{ctx.source_schema}'. "
               f"Is '{ctx.source_schema}' the staging schema of '{ctx.resource_id}', and is it filled?")
    ctx.alerts.append(message)
    ctx.warn(step, message)


async def filter_rows(ctx: JobContext) -> str:
    step = "filter"
    X = ctx.resource_id
    sync_plans: list[TablePlan] = []
    delete_plans: dict[str, TablePlan] = {}
    delete_names = {s.table for s in ctx.delete_specs}
    broken: list[str] = []
    _apply_gdpr(ctx, step)
    n = len(ctx.sync_specs)
    for i, spec in enumerate(ctx.sync_specs, 1):
        ctx.check_cancel()
        t = spec.table
        src = transform.local_filter(ctx.source_frames.get(t, empty_frame([])), ctx.src, spec, X)
        tgt = ctx.target_frames.get(t, empty_frame([]))
        with_files = ctx.transport == "zip"
        cols = transform.upload_columns(ctx.tgt, t, files=with_files)
        projected, dropped, _missing = transform.project(src, cols)
        blanked: dict[str, int] = {}
        for ref in spec.blank_outside:
            if not any(c.name == ref for c in ctx.tgt.columns(t)):
                continue
            projected, changed = transform.blank_outside(projected, ctx.tgt, t, ref, spec.filter or "", X or "")
            if changed:
                blanked[ref] = changed
                ctx.log(step, f"{t}: {ref} emptied on {changed} rows (it points outside {X})")
        keys = ctx.tgt.key_columns(t)
        missing_keys = [k for k in keys if k not in projected.columns]
        if missing_keys and len(projected):
            raise ModelError(f"Table '{t}' of source schema '{ctx.source_schema}' lacks key column(s) "
                             f"{missing_keys} of the target", schema=ctx.source_schema, table=t)
        # Columns the source model does not have: by default the target's value is sent back.
        owner = ctx.tgt.csv_column_owner(t)
        source_cols = set(ctx.src.csv_columns(t, hierarchy=True)) if t in ctx.src.tables else set()
        absent = [c for c in cols if c not in source_cols and c not in keys]
        cleared_by_rule = {c for c in absent if c in spec.clear or (owner.get(c) is not None
                                                                    and owner[c].name in spec.clear)}
        keep_cols = [c for c in absent if ctx.strategy.keep_target_columns and c not in cleared_by_rule
                     and c in tgt.columns]
        kept: dict[str, int] = {}
        if keep_cols and len(projected):
            projected, kept = transform.keep_target_values(projected, tgt, keys, keep_cols)
            projected = projected.select([c for c in cols if c in projected.columns])
            g = ctx.strategy.gdpr
            if g is not None and ctx.gdpr_withheld:
                # a kept target value may name a contact whose consent is gone: empty it too, so
                # that the contact can be deleted (and stays unpublished)
                projected, emptied = transform.blank_references_to(projected, ctx.tgt, t, g.table,
                                                                   ctx.gdpr_withheld)
                for col, n in emptied.items():
                    note = (f"{t}.{col}: the target's value emptied on {n} rows (it named a contact "
                            "that is not published).")
                    ctx.log(step, note)
                    ctx.notes.append(note)
        file_ids = [c for c in _file_columns(ctx.tgt, t) if c in projected.columns]
        arrays = [c for c, o in owner.items() if o.is_array]
        tgt_projected = tgt.select([c for c in cols if c in tgt.columns]) if len(tgt.columns) else tgt
        sp, dp = build_table_plan(
            t, spec.filter_text(X), projected, tgt_projected, keys, cols, array_columns=arrays,
            target_columns=cols, with_deletes=t in delete_names, seen=tgt,
            ignore=file_ids)
        if kept and any(a != INSERT for a in sp.actions):
            sp.kept = kept
        src_owner = ctx.src.csv_column_owner(t) if t in ctx.src.tables else {}
        dropped = [c for c in dropped if c in src_owner]
        sp.dropped_columns = dropped
        sp.blanked = blanked
        broken += await _fetch_files(ctx, sp, file_ids, source_cols, step)
        sync_plans.append(sp)
        if dp is not None:
            dspec = next(s for s in ctx.delete_specs if s.table == t)
            dp.filter_text = dspec.filter_text(X)
            if len(dp.deleted_frame):
                gone = set(row_keys(dp.deleted_frame, keys))
                dp.deleted_frame = tgt.where(k in gone for k in row_keys(tgt, keys))
            delete_plans[t] = dp
        ctx.emit(StepProgress(step, i, n, "tables", t))
        if sp.kept:
            cols_txt = ", ".join(f"{c} ({k})" for c, k in sp.kept.items())
            ctx.log(step, f"{t}: kept the target's values of columns the source model lacks: {cols_txt}")
        if sp.cleared:
            cols_txt = ", ".join(f"{c} ({k})" for c, k in sp.cleared.items())
            ctx.warn(step, f"{t}: updating {sp.updates} rows empties values of columns the source "
                           f"does not carry: {cols_txt}")
        if dropped:
            ctx.log(step, f"{t}: source columns not in the target, left out: {', '.join(dropped)}")
        rows_word = "row" if sp.rows == 1 else "rows"
        ctx.log(step, f"{t}: {sp.rows} {rows_word}: {sp.inserts} new, {sp.updates} changed, "
                      f"{sp.unchanged} unchanged"
                      + (f", {dp.deletes} to delete" if dp is not None else ""))
    for spec in ctx.delete_specs:
        if spec.table in delete_plans:
            continue
        tgt = ctx.target_frames.get(spec.table, empty_frame([]))
        keys = ctx.tgt.key_columns(spec.table)
        delete_plans[spec.table] = delete_only_plan(spec.table, spec.filter_text(X), tgt, keys, set())
    deletes = [delete_plans[s.table] for s in ctx.delete_specs if s.table in delete_plans]
    _alert_mass_delete(ctx, step, sync_plans, deletes)
    ctx.log(step, "Checking the references of the rows to write and of the rows to delete")
    bad, withheld = await refs.check(ctx.target, ctx.tgt, sync_plans, deletes, _plan_reads(ctx))
    broken += bad
    for w in withheld:
        ctx.warn(step, w)
    for b in broken:
        ctx.log(step, f"broken reference: {b}", "error")
    involved = [p.table for p in sync_plans] + [t for t in delete_plans if t not in
                                                {p.table for p in sync_plans}]
    order = ctx.tgt.load_order(involved)
    notes = list(ctx.notes)
    if ctx.transport != "zip":
        notes.append("Transport csv: tables are written one by one; a failure part-way leaves the "
                     "target part-written (restore from the backup). Attachments cannot travel in a "
                     "CSV upload: file columns are left out.")
    plan = Plan(
        strategy=ctx.strategy.name, flow=ctx.strategy.flow, source_label=
        f"{ctx.source_schema} ({ctx.source.connection.label})",
        target_label=f"{ctx.target_schema} ({ctx.target.connection.label})",
        resource_id=X, sync=sync_plans, delete=deletes,
        warnings=list(ctx.warnings), alerts=list(ctx.alerts), atomic=ctx.transport == "zip", source_schema=ctx.source_schema,
        target_schema=ctx.target_schema, order=order, broken=broken, withheld=withheld, notes=notes,
        transport=ctx.transport, source_version=ctx.src.version(), target_version=ctx.tgt.version(),
        target_shape=ctx.tgt.data_shape(),
    )
    ctx.plan = plan
    return (f"{plan.total_sync_rows} rows to sync ({plan.total_writes} to write), "
            f"{plan.total_delete_rows} to delete" + (f", {len(broken)} broken references" if broken else ""))


# ----------------------------------------------------------------------------- writes
async def check_plan_current(ctx: JobContext, plan: Plan, step: str) -> None:
    """Re-read the target's rows of X and refuse when they differ from what the plan saw."""
    await plan_still_current(ctx, plan)
    ctx.log(step, "The target is as the plan saw it")


async def plan_still_current(ctx: JobContext, plan: Plan) -> None:
    """The reads of `check_plan_current`, without its log line: raises PlanOutdated."""
    specs = {s.table: s for s in ctx.strategy.sync}
    specs.update({s.table: s for s in ctx.strategy.delete})
    seen: dict[str, TablePlan] = {}
    for tp in plan.sync + plan.delete:
        if tp.table not in seen and tp.target_digest:
            seen[tp.table] = tp
    reads = [("target", specs.get(name, TableSpec(name))) for name in seen]
    async with aclosing(_fetch_in_order(ctx, reads)) as frames:
        async for k, df in frames:
            tp = seen[reads[k][1].table]
            if digest(df, ctx.tgt.key_columns(tp.table)) != tp.target_digest:
                raise PlanOutdated(
                    f"Table '{tp.table}' of schema '{ctx.target_schema}' on {ctx.target.url} changed "
                    f"after the plan was made. Nothing was written; make the plan again and review it.",
                    schema=ctx.target_schema, table=tp.table)


def rows_as_planned(ctx: JobContext, plan: Plan, current: ClassRows) -> None:
    """Refuse (PlanOutdated) when a row the run writes is no longer as the plan saw it.

    `current` holds the target's rows of every key the plan inserts, updates or deletes, read
    just before the write (the backup's reads). A key the plan inserts must still be absent; a
    row it updates or deletes must still hold the values the plan saw. Rows the run leaves alone
    may change meanwhile: the write does not touch them.
    """
    for name in dict.fromkeys(t.table for t in plan.sync + plan.delete):
        sp, dp = plan.table(name), plan.deleted(name)
        keys = (sp or dp).key_columns  # type: ignore[union-attr]
        inserted = ([k for k, a in zip(row_keys(sp.frame, keys), sp.actions) if a == INSERT]
                    if sp is not None and sp.inserts else [])
        before = [dp.deleted_frame] if dp is not None and dp.deletes else []
        if sp is not None and sp.updates and sp.target is not None:
            # the target's rows the updates overwrite, as the plan saw them
            before.append(sp.target.where(k in sp.changes for k in row_keys(sp.target, keys)))
        before = [f for f in before if len(f)]
        if not inserted and not before:
            continue
        now = current.by_key(name, keys)
        changed = next((k for k in inserted if k in now), None)
        for f in before:
            if changed is not None:
                break
            cols = [c for c in f.columns if not c.startswith("mg_")]
            for k, row in zip(row_keys(f, keys), f.tuples(cols)):
                held = now.get(k)
                if held is None or tuple(held.get(c, "") for c in cols) != row:
                    changed = k
                    break
        if changed is not None:
            raise PlanOutdated(
                f"Row {', '.join(changed)} of table '{name}' in schema '{ctx.target_schema}' on "
                f"{ctx.target.url} changed after the plan was made. Nothing was written; make the "
                f"plan again and review it.", schema=ctx.target_schema, table=name)


async def verify_applied(ctx: JobContext, client: Emx2Client, plan: Plan) -> str:
    """After a write whose answer was lost: re-read the target's rows of X and compare.

    "unchanged" when every table is as the plan saw it, "changed" when every insert, update and
    delete of the plan is there, "unknown" when neither holds (someone else wrote meanwhile).
    """
    specs = {s.table: s for s in ctx.strategy.sync}
    specs.update({s.table: s for s in ctx.strategy.delete})
    as_before = as_planned = True
    seen: set[str] = set()
    for tp in plan.sync + plan.delete:
        if tp.table in seen:
            continue
        seen.add(tp.table)
        spec = specs.get(tp.table, TableSpec(tp.table))
        flt = transform.server_filter(ctx.tgt, spec.table, spec.filter, plan.resource_id)
        df = await client.download_table(ctx.target_schema, spec.table, flt,
                                         include_system_columns=spec.own_class_only)
        df = transform.local_filter(df, ctx.tgt, spec, plan.resource_id)
        keys = ctx.tgt.key_columns(tp.table)
        if tp.target_digest and digest(df, keys) != tp.target_digest:
            as_before = False
        if as_planned:
            as_planned = _holds_writes(df, keys, plan.table(tp.table), plan.deleted(tp.table))
    if as_before:
        return "unchanged"
    return "changed" if as_planned else "unknown"


def _holds_writes(df: Frame, keys: list[str], sp: TablePlan | None, dp: TablePlan | None) -> bool:
    """Whether the rows `df` hold every write the plan makes to one table."""
    present: dict[tuple[str, ...], dict] = {}
    if len(df) and all(k in df.columns for k in keys):
        present = dict(zip(row_keys(df, keys), df.records()))
    if sp is not None and len(sp.frame):
        for key, action in zip(row_keys(sp.frame, sp.key_columns), sp.actions):
            if action == INSERT and key not in present:
                return False
            if action == UPDATE:
                row = present.get(key)
                if row is None:
                    return False
                for col, (_old, new) in sp.changes.get(key, {}).items():
                    if col in row and str(row[col] or "").strip() != str(new or "").strip():
                        return False
    if dp is not None and dp.deletes and len(dp.deleted_frame):
        if any(k in present for k in row_keys(dp.deleted_frame, dp.key_columns)):
            return False
    return True


def refuse_broken(plan: Plan, target_schema: str) -> None:
    if plan.broken:
        shown = "; ".join(plan.broken[:5])
        more = f" (and {len(plan.broken) - 5} more)" if len(plan.broken) > 5 else ""
        raise BrokenReferences(
            f"Nothing was written to '{target_schema}': the import would break {len(plan.broken)} "
            f"reference(s): {shown}{more}. Fix the source (or the referenced schema) and plan again.",
            schema=target_schema)


async def upload(ctx: JobContext, plan: Plan | None = None) -> str:
    step = "upload"
    plan = plan or ctx.plan
    assert plan is not None
    refuse_broken(plan, ctx.target_schema)
    if plan.transport == "csv":
        return await upload_tables(ctx, plan)
    entries = plan.import_tables()
    if not entries:
        ctx.log(step, "Nothing to write: the target already holds these rows")
        return "nothing to write"
    data = build_zip(entries, files=plan.files())
    ctx.log(step, f"Sending {plan.total_writes} upserts and {plan.total_delete_rows} deletes in "
                  f"{len(entries)} tables as one import ({len(data)} bytes)")

    def on_task(task: dict) -> None:
        ctx.emit(ServerTask(step, str(task.get("status") or ""), str(task.get("description") or ""),
                            tuple(flatten_subtasks(task))))

    def on_accepted(task_id: str) -> None:
        ctx.task_id = task_id

    ctx.sending(step)
    task = await ctx.target.upload_zip(ctx.target_schema, data, on_task=on_task,
                                       on_accepted=on_accepted)
    ctx.log(step, f"Server: {task.get('description') or task.get('status')}")
    return f"{plan.total_writes} rows written, {plan.total_delete_rows} deleted"


async def upload_tables(ctx: JobContext, plan: Plan) -> str:
    """Table by table over the CSV API (not atomic), in three passes.

    1. upserts in load order, with references that point forward (row-level cycles such as
       `Collections.contact point`) left empty;
    2. deletes in reverse load order;
    3. the rows whose forward references hold a value, upserted again with them.
    """
    step = "upload"
    order = list(plan.order) or [t.table for t in plan.sync]
    deferred: dict[str, set[str]] = {}
    for ref in ctx.tgt.deferred_references(order):
        deferred.setdefault(ref.table, set()).update(p.name for p in ref.parts if not p.shared)
    work = [t for t in order if (plan.table(t) and len(plan.table(t).upsert_frame()))
            or (plan.deleted(t) and plan.deleted(t).deletes)]
    total = len(work)
    done = 0
    second: list[tuple[str, Frame, list[str]]] = []
    ctx.log(step, f"Writing {total} tables one by one over the CSV API (not one transaction)")
    for name in order:
        sp = plan.table(name)
        if sp is None:
            continue
        rows = sp.upsert_frame()
        if not len(rows):
            continue
        ctx.check_cancel()
        cols = [c for c in sp.columns if c in rows.columns and not c.endswith("_filename")
                and c not in _file_columns(ctx.tgt, name)]
        later = [c for c in deferred.get(name, set()) if c in cols]
        first = rows
        if later:
            has = [any(v.strip() for v in r) for r in rows.tuples(later)]
            if any(has):
                second.append((name, rows.where(has), cols))
            for c in later:
                first = first.assign(c, "")
        ctx.sending(step)
        await ctx.target.upload_csv(ctx.target_schema, name, write_frame(first, cols))
        done += 1
        ctx.emit(StepProgress(step, done, total, "tables", name))
        ctx.log(step, f"{name}: {len(rows)} rows upserted")
    for name in reversed(order):
        dp = plan.deleted(name)
        if dp is None or not dp.deletes:
            continue
        ctx.check_cancel()
        keys = dp.key_columns
        ctx.sending(step)
        n = await ctx.target.delete_rows(ctx.target_schema, name,
                                         csvfmt.write_csv(keys, dp.deleted_frame.records()))
        if name not in {t for t, *_ in second} and not (plan.table(name) and len(plan.table(name).upsert_frame())):
            done += 1
            ctx.emit(StepProgress(step, done, total, "tables", name))
        ctx.log(step, f"{name}: {dp.deletes} rows deleted" + (f" (server: {n})" if n else ""))
    for name, rows, cols in second:
        await ctx.target.upload_csv(ctx.target_schema, name, write_frame(rows, cols))
        ctx.log(step, f"{name}: {len(rows)} rows upserted again with their forward references")
    return f"{plan.total_writes} rows written, {plan.total_delete_rows} deleted (table by table)"


STEPS: dict[str, StepFn] = {
    "tablesToSync": tables_to_sync,
    "tablesToDelete": tables_to_delete,
    "deleteCohort": delete_cohort,
    "deleteNetwork": delete_network,
    "download": download,
    "filter": filter_rows,
}
