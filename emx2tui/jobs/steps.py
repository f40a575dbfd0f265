"""The seven steps of a job as async functions on one shared context.

tablesToSync, tablesToDelete, deleteCohort, deleteNetwork, download and filter only read: they
build the plan. upload is the one step that writes: deletes (`mg_delete` rows) and upserts of
the whole run in one ZIP import, which the server runs as one transaction.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import pandas as pd

from emx2tui.emx2.client import Emx2Client, flatten_subtasks
from emx2tui.emx2.errors import Emx2Error, ModelError
from emx2tui.emx2.frames import empty_frame
from emx2tui.emx2.model import SchemaModel
from emx2tui.jobs import transform
from emx2tui.jobs.events import Emit, ServerTask, StepFinished, StepLog, StepProgress, StepStarted
from emx2tui.jobs.plan import Plan, TablePlan, build_table_plan, delete_only_plan, digest, row_keys
from emx2tui.jobs.strategy import Strategy, StrategyError, TableSpec


class JobCancelled(Exception):
    """The user cancelled the job before it wrote anything."""


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
    source_frames: dict[str, pd.DataFrame] = field(default_factory=dict)
    target_frames: dict[str, pd.DataFrame] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    plan: Plan | None = None

    def log(self, step: str, message: str, level: str = "info") -> None:
        self.emit(StepLog(step, message, level))  # type: ignore[arg-type]

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
    ctx.source_model = await ctx.source.schema_model(ctx.source_schema)
    ctx.target_model = await ctx.target.schema_model(ctx.target_schema)
    s.source_model.check(ctx.src, "source", ctx.source.url)
    s.target_model.check(ctx.tgt, "target", ctx.target.url)
    ctx.log(step, f"Models: source {ctx.src.profiles()} {ctx.src.version()}, target "
                  f"{ctx.tgt.profiles()} {ctx.tgt.version()}")
    await resolve_resource(ctx, step)


async def resolve_resource(ctx: JobContext, step: str) -> None:
    spec = ctx.strategy.resource
    side_client, side_schema, side_model = (
        (ctx.target, ctx.target_schema, ctx.tgt) if spec.side == "target"
        else (ctx.source, ctx.source_schema, ctx.src))
    if spec.table not in side_model.tables:
        raise StrategyError(f"Schema '{side_schema}' has no table '{spec.table}' to read the resource id from")
    rows = await side_client.download_table(side_schema, spec.table)
    rows = transform.own_class_rows(rows, spec.table)
    ids = sorted(set(rows[spec.column])) if len(rows) and spec.column in rows.columns else []
    where = f"schema '{side_schema}' on {side_client.url}"
    if ctx.resource_id:
        if ids and ctx.resource_id not in ids and spec.side == "source":
            raise StrategyError(f"Resource '{ctx.resource_id}' is not in table {spec.table} of {where} "
                                f"(found: {', '.join(ids)}).")
        if len(ids) > 1:
            ctx.warn(step, f"{where} holds {len(ids)} {spec.table} rows; using --resource-id "
                           f"'{ctx.resource_id}'")
    else:
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
        if not len(found_rows):
            raise StrategyError(
                f"Resource '{ctx.resource_id}' (from {where}) is not in table {spec.table} of schema "
                f"'{other_schema}' on {other.url}, so there is nothing to copy. Check the staging "
                f"schema's {spec.table} row or pass --resource-id.")
    if ctx.resource_id != (ctx.target_schema if spec.side == "target" else ctx.source_schema):
        ctx.log(step, f"Resource id '{ctx.resource_id}' differs from the staging schema name")
    ctx.log(step, f"Resource: {ctx.resource_id}")


# ----------------------------------------------------------------------------- table lists
async def tables_to_sync(ctx: JobContext) -> str:
    step = "tablesToSync"
    specs = []
    for spec in ctx.strategy.sync:
        if spec.table not in ctx.tgt.tables:
            ctx.warn(step, f"Table '{spec.table}' is not in target schema '{ctx.target_schema}'; skipped")
            continue
        if spec.table not in ctx.src.tables:
            ctx.warn(step, f"Table '{spec.table}' is not in source schema '{ctx.source_schema}'; skipped")
            continue
        specs.append(spec)
    order = ctx.tgt.load_order([s.table for s in specs])
    by_name = {s.table: s for s in specs}
    ctx.sync_specs = [by_name[t] for t in order]
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
async def _fetch(ctx: JobContext, side: str, spec: TableSpec) -> pd.DataFrame:
    client, schema, model = ((ctx.source, ctx.source_schema, ctx.src) if side == "source"
                             else (ctx.target, ctx.target_schema, ctx.tgt))
    flt = transform.server_filter(model, spec.table, spec.filter, ctx.resource_id)
    df = await client.download_table(schema, spec.table, flt, include_system_columns=spec.own_class_only)
    return transform.local_filter(df, model, spec, ctx.resource_id)


async def delete_resource_rows(ctx: JobContext, step: str) -> str:
    """Read the target's current rows of X in the delete tables (what a replace may remove)."""
    total = 0
    n = len(ctx.delete_specs)
    for i, spec in enumerate(ctx.delete_specs, 1):
        ctx.check_cancel()
        df = await _fetch(ctx, "target", spec)
        ctx.target_frames[spec.table] = df
        total += len(df)
        ctx.emit(StepProgress(step, i, n, "tables", spec.table))
        ctx.log(step, f"{spec.table}: {len(df)} rows of {ctx.resource_id} in the target")
    return f"{total} rows of {ctx.resource_id} in {n} tables"


async def delete_cohort(ctx: JobContext) -> str:
    return await delete_resource_rows(ctx, "deleteCohort")


async def delete_network(ctx: JobContext) -> str:
    return await delete_resource_rows(ctx, "deleteNetwork")


async def download(ctx: JobContext) -> str:
    step = "download"
    n = len(ctx.sync_specs)
    rows = 0
    for i, spec in enumerate(ctx.sync_specs, 1):
        ctx.check_cancel()
        df = await _fetch(ctx, "source", spec)
        ctx.source_frames[spec.table] = df
        if spec.table not in ctx.target_frames:
            ctx.target_frames[spec.table] = await _fetch(ctx, "target", spec)
        rows += len(df)
        ctx.emit(StepProgress(step, i, n, "tables", spec.table))
        ctx.log(step, f"{spec.table}: {len(df)} rows from source, "
                      f"{len(ctx.target_frames[spec.table])} in target")
    return f"{rows} rows from {n} tables"


# ----------------------------------------------------------------------------- plan
async def filter_rows(ctx: JobContext) -> str:
    step = "filter"
    X = ctx.resource_id
    sync_plans: list[TablePlan] = []
    delete_plans: dict[str, TablePlan] = {}
    delete_names = {s.table for s in ctx.delete_specs}
    n = len(ctx.sync_specs)
    for i, spec in enumerate(ctx.sync_specs, 1):
        ctx.check_cancel()
        t = spec.table
        src = transform.local_filter(ctx.source_frames.get(t, empty_frame([])), ctx.src, spec, X)
        tgt = ctx.target_frames.get(t, empty_frame([]))
        cols = transform.upload_columns(ctx.tgt, t)
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
        owner = ctx.tgt.csv_column_owner(t)
        arrays = [c for c, o in owner.items() if o.is_array]
        tgt_projected = tgt.reindex(columns=[c for c in cols if c in tgt.columns]) if len(tgt.columns) else tgt
        sp, dp = build_table_plan(
            t, spec.filter_text(X), projected, tgt_projected, keys, cols, array_columns=arrays,
            target_columns=cols, with_deletes=t in delete_names, target_digest=digest(tgt, keys))
        src_owner = ctx.src.csv_column_owner(t)
        dropped = [c for c in dropped if c in src_owner]
        sp.dropped_columns = dropped
        sp.blanked = blanked
        sync_plans.append(sp)
        if dp is not None:
            dspec = next(s for s in ctx.delete_specs if s.table == t)
            dp.filter_text = dspec.filter_text(X)
            if len(dp.deleted_frame):
                gone = set(row_keys(dp.deleted_frame, keys))
                mask = pd.Series([k in gone for k in row_keys(tgt, keys)], index=tgt.index)
                dp.deleted_frame = tgt[mask].reset_index(drop=True)
            delete_plans[t] = dp
        ctx.emit(StepProgress(step, i, n, "tables", t))
        if sp.cleared:
            cols_txt = ", ".join(f"{c} ({k})" for c, k in sp.cleared.items())
            ctx.warn(step, f"{t}: updating {sp.updates} rows empties values of columns the source "
                           f"does not carry: {cols_txt}")
        if dropped:
            ctx.log(step, f"{t}: source columns not in the target, left out: {', '.join(dropped)}")
        ctx.log(step, f"{t}: {sp.rows} rows: {sp.inserts} new, {sp.updates} changed, {sp.unchanged} "
                      f"unchanged" + (f", {dp.deletes} to delete" if dp is not None else ""))
    for spec in ctx.delete_specs:
        if spec.table in delete_plans:
            continue
        tgt = ctx.target_frames.get(spec.table, empty_frame([]))
        keys = ctx.tgt.key_columns(spec.table)
        delete_plans[spec.table] = delete_only_plan(spec.table, spec.filter_text(X), tgt, keys, set(),
                                                    target_digest=digest(tgt, keys))
    involved = [p.table for p in sync_plans] + [t for t in delete_plans if t not in
                                                {p.table for p in sync_plans}]
    order = ctx.tgt.load_order(involved)
    plan = Plan(
        strategy=ctx.strategy.name, flow=ctx.strategy.flow, source_label=
        f"{ctx.source_schema} ({ctx.source.connection.label})",
        target_label=f"{ctx.target_schema} ({ctx.target.connection.label})",
        resource_id=X, sync=sync_plans,
        delete=[delete_plans[s.table] for s in ctx.delete_specs if s.table in delete_plans],
        warnings=list(ctx.warnings), atomic=True, source_schema=ctx.source_schema,
        target_schema=ctx.target_schema, order=order,
    )
    ctx.plan = plan
    return (f"{plan.total_sync_rows} rows to sync ({plan.total_writes} to write), "
            f"{plan.total_delete_rows} to delete")


# ----------------------------------------------------------------------------- writes
async def check_plan_current(ctx: JobContext, plan: Plan, step: str) -> None:
    """Re-read the target's rows of X and refuse when they differ from what the plan saw."""
    specs = {s.table: s for s in ctx.strategy.sync}
    specs.update({s.table: s for s in ctx.strategy.delete})
    seen: set[str] = set()
    for tp in plan.sync + plan.delete:
        if tp.table in seen or not tp.target_digest:
            continue
        seen.add(tp.table)
        spec = specs.get(tp.table, TableSpec(tp.table))
        df = await _fetch(ctx, "target", spec)
        if digest(df, ctx.tgt.key_columns(tp.table)) != tp.target_digest:
            raise PlanOutdated(
                f"Table '{tp.table}' of schema '{ctx.target_schema}' on {ctx.target.url} changed after "
                f"the plan was made. Nothing was written; make the plan again and review it.",
                schema=ctx.target_schema, table=tp.table)
    ctx.log(step, "The target is as the plan saw it")


async def upload(ctx: JobContext, plan: Plan | None = None) -> str:
    step = "upload"
    plan = plan or ctx.plan
    assert plan is not None
    entries = plan.import_tables()
    if not entries:
        ctx.log(step, "Nothing to write: the target already holds these rows")
        return "nothing to write"
    from emx2tui.emx2.zipfmt import build_zip

    data = build_zip(entries)
    ctx.log(step, f"Sending {plan.total_writes} upserts and {plan.total_delete_rows} deletes in "
                  f"{len(entries)} tables as one import ({len(data)} bytes)")

    def on_task(task: dict) -> None:
        ctx.emit(ServerTask(step, str(task.get("status") or ""), str(task.get("description") or ""),
                            tuple(flatten_subtasks(task))))

    task = await ctx.target.upload_zip(ctx.target_schema, data, on_task=on_task)
    ctx.log(step, f"Server: {task.get('description') or task.get('status')}")
    return f"{plan.total_writes} rows written, {plan.total_delete_rows} deleted"


STEPS: dict[str, StepFn] = {
    "tablesToSync": tables_to_sync,
    "tablesToDelete": tables_to_delete,
    "deleteCohort": delete_cohort,
    "deleteNetwork": delete_network,
    "download": download,
    "filter": filter_rows,
}
