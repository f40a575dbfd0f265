"""Restore: bring a target back to its rows before a journalled run.

    record = journal.get_run("20261203-191500-ab12")
    plan = await plan_restore(record, Connection(record.target.url, token=...))   # reads only
    print("\\n".join(plan.describe()))      # what will change; plan.conflicts: rows changed since
    result = await apply_restore(plan, emit)                # backup, then one zip import

From the run's backup (the target before the run) and the journal's key lists, per table:
rows the run deleted are inserted again, rows it updated get their old values back (the whole
old row, so columns an upsert emptied come back too), and rows it inserted are deleted
(`mg_delete`). All of it goes to the server as one ZIP import, which EMX2 runs as one
transaction. Only the stored columns of a row are sent (no refbacks; audit columns are the
server's); FILE columns get their files from the backup.

Before that, the target's current rows of those keys are compared with the rows the run left
(read back right after its write, see `emx2tui.jobs.journal`). A row changed, deleted or
created again since then is a conflict: `apply_restore` refuses unless `force=True`, and then
the restored rows win. A restore takes its own backup first and is journalled as a run of kind
`restore`, with the same key lists, so a restore can be restored too. A run that failed or was
cancelled changed nothing (its import is one transaction): its restore plan says so and
applying it does nothing. A run whose outcome is `unknown`, or one interrupted while `running`
(its backup is journalled as soon as it is saved), may have written all or nothing: its restore
compares the target with the backup and puts back every row that differs.

Events: `apply_restore` emits StepStarted/StepLog/StepFinished for the steps `backup` and
`upload`, ServerTask while the import runs, and a final RunFinished, like `Job.apply`.
"""

from __future__ import annotations

import io
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from emx2tui.emx2 import csvfmt
from emx2tui.emx2.client import Connection, Emx2Client, flatten_subtasks, scrub
from emx2tui.emx2.errors import ConnectionFailed, Emx2Error, TaskFailed
from emx2tui.emx2.model import SchemaModel
from emx2tui.emx2.zipfmt import build_zip, table_entries
from emx2tui.jobs import backup as backups
from emx2tui.jobs import journal
from emx2tui.jobs.events import (Emit, RunFinished, ServerTask, StepFinished, StepLog, StepStarted,
                                 WriteSent, ignore)
from emx2tui.jobs.journal import RunRecord, TableRecord
from emx2tui.jobs.rowsets import ExportRows, Key, Row, rows_digest
from emx2tui.jobs.runner import RunResult

__all__ = ["RestoreError", "RestoreConflict", "Conflict", "RestoreTable", "RestorePlan",
           "plan_restore", "apply_restore"]

REINSERT, REVERT, REMOVE = "reinsert", "revert", "remove"


class RestoreError(Emx2Error):
    """A restore cannot be planned or applied (missing backup, wrong server, changed target)."""


class RestoreConflict(RestoreError):
    """Rows of the run were changed since by someone else; `force` overrides."""


@dataclass
class Conflict:
    """A row that is not as the run left it."""

    table: str
    key: Key
    what: str  # "changed", "deleted" or "created"
    columns: dict[str, tuple[str, str]] = field(default_factory=dict)  # column -> (run left, now)

    def describe(self) -> str:
        key = ", ".join(self.key)
        if self.what == "changed":
            cols = "; ".join(f"{c}: {_short(a)!r} -> {_short(b)!r}" for c, (a, b) in self.columns.items())
            return f"{self.table} ({key}): changed since the run ({cols})"
        if self.what == "deleted":
            return f"{self.table} ({key}): deleted since the run"
        return f"{self.table} ({key}): created again since the run deleted it"


def _short(text: str, n: int = 40) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


ALREADY_RESTORED = "Nothing to restore: the target already holds the rows from before the run."


@dataclass
class RestoreTable:
    """Per table of the run: the keys the restore inserts again, reverts and deletes."""

    table: str
    key_columns: list[str]
    reinsert: list[Key] = field(default_factory=list)  # the run deleted them
    revert: list[Key] = field(default_factory=list)  # the run updated them
    remove: list[Key] = field(default_factory=list)  # the run inserted them
    gone: list[Key] = field(default_factory=list)  # inserted by the run, already deleted since

    @property
    def changes(self) -> int:
        return len(self.reinsert) + len(self.revert) + len(self.remove)


@dataclass
class RestorePlan:
    """What restoring one run changes. Made by `plan_restore`; nothing is written until applied."""

    record: RunRecord
    connection: Connection
    schema: str
    tables: list[RestoreTable] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    nothing: str | None = None  # why there is nothing to restore
    unverified: bool = False  # no read-back of the run's rows: changes since cannot be seen
    partial: bool = False  # a table-by-table run that stopped: every row it may have touched is put back
    entries: list[tuple[str, str]] = field(default_factory=list, repr=False)  # (table, CSV) to import
    files: dict[str, bytes] = field(default_factory=dict, repr=False)  # zip entry -> bytes
    digest: str = ""  # of the target's current rows of these keys, when planned
    _cancel: bool = False

    @property
    def is_empty(self) -> bool:
        return self.nothing is not None or not any(t.changes for t in self.tables)

    @property
    def needs_force(self) -> bool:
        return bool(self.conflicts) or (self.unverified and not self.is_empty)

    def totals(self) -> dict[str, int]:
        return {REINSERT: sum(len(t.reinsert) for t in self.tables),
                REVERT: sum(len(t.revert) for t in self.tables),
                REMOVE: sum(len(t.remove) for t in self.tables)}

    def counts(self) -> dict[str, dict[str, int]]:
        """Per table, in the journal's and RunFinished's terms."""
        return {t.table: {"inserted": len(t.reinsert), "updated": len(t.revert), "unchanged": 0,
                          "deleted": len(t.remove)} for t in self.tables if t.changes}

    def build_zip(self) -> bytes:
        """Exactly what `apply_restore` uploads."""
        data = build_zip(self.entries)
        if not self.files:
            return data
        buf = io.BytesIO(data)
        with zipfile.ZipFile(buf, "a", compression=zipfile.ZIP_DEFLATED) as zf:
            for name, content in self.files.items():
                zf.writestr(name, content)
        return buf.getvalue()

    def cancel(self) -> None:
        """Stop before the import is sent (once sent, it runs to its end)."""
        self._cancel = True

    def describe(self) -> list[str]:
        """Lines for a terminal: what the restore changes, table by table, and the conflicts."""
        r = self.record
        lines = [f"Restore of run {r.run_id} ({r.strategy}, {r.started_local()}, {r.outcome})",
                 f"  target: {self.schema} on {r.target.url}",
                 f"  backup: {r.backup or '-'}"]
        if self.is_empty:
            return lines + ["", f"  {self.nothing or ALREADY_RESTORED}"]
        width = max([len(t.table) for t in self.tables] + [5])
        head = f"  {'table':<{width}}  {'insert':>6}  {'revert':>6}  {'delete':>6}"
        lines += ["", head, "  " + "-" * (len(head) - 2)]
        for t in self.tables:
            if t.changes or t.gone:
                lines.append(f"  {t.table:<{width}}  {len(t.reinsert):>6}  {len(t.revert):>6}  "
                             f"{len(t.remove):>6}")
        tot = self.totals()
        lines.append(f"  {'total':<{width}}  {tot[REINSERT]:>6}  {tot[REVERT]:>6}  {tot[REMOVE]:>6}")
        lines.append("")
        lines.append("  insert: rows the run deleted; revert: rows it updated, back to their old "
                     "values; delete: rows it inserted")
        if self.partial and self.record.outcome in (journal.UNKNOWN, journal.RUNNING):
            lines.append("  it is not known whether the run's import was applied: every row that "
                         "differs from the backup is put back")
        elif self.partial:
            lines.append("  the run stopped part-way through a table-by-table upload: every row it may "
                         "have touched is put back")
        if self.unverified and not self.is_empty:
            lines.append("  warning: the rows the run left were not read back after it, so changes "
                         "made since cannot be detected")
        if self.conflicts:
            lines.append("")
            lines.append(f"  {len(self.conflicts)} row(s) changed since the run:")
            for c in self.conflicts[:50]:
                lines.append(f"    {c.describe()}")
            if len(self.conflicts) > 50:
                lines.append(f"    ... and {len(self.conflicts) - 50} more")
        return lines


# ----------------------------------------------------------------------------- planning
def _backup_bytes(record: RunRecord) -> bytes:
    if not record.backup:
        raise RestoreError(f"Run {record.run_id} has no backup in the journal, so it cannot be restored.")
    path = Path(record.backup)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise RestoreError(f"The backup of run {record.run_id} is missing: {path}") from None
    except OSError as exc:
        raise RestoreError(f"The backup of run {record.run_id} cannot be read: {path} "
                           f"({exc.strerror or exc})") from None


def _partial(record: RunRecord) -> bool:
    """A run that may have written none, part or all of its rows: a table-by-table run that
    stopped, a run whose outcome is unknown, or one interrupted (still `running` in the journal).
    Its restore compares the target with the backup and puts back whatever differs."""
    if record.outcome in (journal.UNKNOWN, journal.RUNNING):
        return bool(record.backup)
    return record.outcome in (journal.FAILED, journal.CANCELLED) and not record.atomic \
        and bool(record.backup)


def _nothing_reason(record: RunRecord) -> str | None:
    if record.outcome == journal.RUNNING and not record.backup:
        raise RestoreError(f"Run {record.run_id} never finished (it was interrupted) before its "
                           f"backup was saved, so it wrote nothing; the backups are in "
                           f"{backups.backup_dir()}.")
    if record.outcome == journal.UNKNOWN and not record.backup:
        raise RestoreError(f"Run {record.run_id} has no backup in the journal, so it cannot be restored.")
    if _partial(record):
        return None
    if record.outcome == journal.FAILED:
        if not record.backup:
            return (f"Nothing to restore: run {record.run_id} failed before its backup, so before "
                    f"it wrote anything.")
        return (f"Nothing to restore: run {record.run_id} failed, and its import is one "
                f"transaction, so it did not change the target.")
    if record.outcome == journal.CANCELLED:
        return f"Nothing to restore: run {record.run_id} was cancelled before it wrote anything."
    if not record.writes:
        return f"Nothing to restore: run {record.run_id} wrote nothing."
    return None


async def _current(client: Emx2Client, schema: str) -> tuple[SchemaModel, ExportRows]:
    model = await client.schema_model(schema, refresh=True)
    return model, ExportRows(table_entries(await client.download_zip(schema)), model)


def _current_digest(record: RunRecord, current: ExportRows) -> str:
    items = []
    for name, t in sorted(record.tables.items()):
        for key in t.inserted_keys + t.updated_keys + t.deleted_keys:
            hit = current.find(name, t.key_columns, key)
            row = None
            if hit is not None:
                cls, found = hit
                row = [cls, {c: (found.get(c) or "").strip() for c in current.stored_columns(cls)}]
            items.append([name, list(key), row])
    return rows_digest(items)


def _compare(conflicts: list[Conflict], table: str, key: Key, now: tuple[str, Row] | None,
             left: tuple[str, Row] | None, current: ExportRows) -> None:
    """Record a conflict when the current row (or its absence) is not what the run left."""
    if left is None and now is None:
        return
    if left is not None and now is None:
        conflicts.append(Conflict(table, key, "deleted"))
        return
    if left is None and now is not None:
        conflicts.append(Conflict(table, key, "created"))
        return
    assert left is not None and now is not None
    diff = current.differences(now[0], now[1], left[1])
    if diff or now[0] != left[0]:
        conflicts.append(Conflict(table, key, "changed", diff))


async def plan_restore(record: RunRecord, connection: Connection) -> RestorePlan:
    """Work out what restoring `record` changes on its target. Reads only.

    `connection` carries the credentials for the record's target server (its URL must be the
    journalled one; its schema, when given, too). Raises RestoreError for a missing backup or
    another server, and the client's errors (ConnectionFailed, AuthError, ...) otherwise.
    """
    schema = record.target.schema or ""
    if journal.public_url(connection.url) != record.target.url:
        raise RestoreError(f"Run {record.run_id} wrote to {record.target.url}, not "
                           f"{journal.public_url(connection.url)}; restore it there.")
    if connection.schema and connection.schema != schema:
        raise RestoreError(f"Run {record.run_id} wrote to schema '{schema}', not '{connection.schema}'.")
    conn = connection.with_schema(schema)
    plan = RestorePlan(record, conn, schema)
    plan.nothing = _nothing_reason(record)
    if plan.nothing:
        return plan
    raw_backup = _backup_bytes(record)
    try:
        before_entries = table_entries(raw_backup)
    except (zipfile.BadZipFile, UnicodeDecodeError) as exc:
        raise RestoreError(f"The backup of run {record.run_id} is not a readable zip: {record.backup} "
                           f"({exc})") from None
    async with Emx2Client(conn) as client:
        model, current = await _current(client, schema)
    before = ExportRows(before_entries, model)
    partial = plan.partial = _partial(record)
    after = None if partial else journal.read_after(record, model)
    plan.unverified = after is None and not partial
    upserts: dict[str, dict[Key, Row]] = {}
    deletes: dict[str, dict[Key, list[str]]] = {}
    names = [n for n in model.load_order([n for n in record.tables if n in model.tables])]
    names += [n for n in record.tables if n not in names]
    for name in names:
        t: TableRecord = record.tables[name]
        if name not in model.tables:
            if t.writes:
                raise RestoreError(f"Table '{name}' is no longer in schema '{schema}' on "
                                   f"{record.target.url}; run {record.run_id} cannot be restored.")
            continue
        rt = RestoreTable(name, list(t.key_columns))
        for raw in t.inserted_keys:
            key = tuple(raw)
            now = current.find(name, t.key_columns, key)
            if now is None:  # already as before the run
                rt.gone.append(key)
                continue
            if after is not None:
                _compare(plan.conflicts, name, key, now, after.find(name, t.key_columns, key), current)
            rt.remove.append(key)
            deletes.setdefault(now[0], {})[key] = list(t.key_columns)
        for raw, kind in [(k, REVERT) for k in t.updated_keys] + [(k, REINSERT) for k in t.deleted_keys]:
            key = tuple(raw)
            old = before.find(name, t.key_columns, key)
            if old is None:
                raise RestoreError(f"The backup of run {record.run_id} ({record.backup}) lacks the row "
                                   f"({', '.join(key)}) of table '{name}' that the run "
                                   f"{'updated' if kind == REVERT else 'deleted'}; it cannot be restored.")
            now = current.find(name, t.key_columns, key)
            if now is not None and now[0] == old[0] and not current.differences(now[0], now[1], old[1]):
                continue  # already as before the run
            if kind == REVERT and after is not None:
                _compare(plan.conflicts, name, key, now, after.find(name, t.key_columns, key), current)
            elif kind == REINSERT and now is not None and not partial:
                plan.conflicts.append(Conflict(name, key, "created"))
            (rt.revert if kind == REVERT else rt.reinsert).append(key)
            upserts.setdefault(old[0], {})[key] = old[1]
        plan.tables.append(rt)
    plan.entries = _entries(model, before, upserts, deletes)
    plan.files = _files_for(raw_backup, upserts)
    plan.digest = _current_digest(record, current)
    return plan


def _entries(model: SchemaModel, before: ExportRows, upserts: dict[str, dict[Key, Row]],
             deletes: dict[str, dict[Key, list[str]]]) -> list[tuple[str, str]]:
    classes = set(upserts) | set(deletes)
    known = [c for c in classes if c in model.tables]
    order = model.load_order(known) + sorted(c for c in classes if c not in known)
    out = []
    for cls in order:
        header = [c for c in before.stored_columns(cls) if c in before.table(cls)[0]]
        for cols in deletes.get(cls, {}).values():
            header += [k for k in cols if k not in header]
        records: list[dict[str, str]] = [{c: r.get(c, "") for c in header}
                                         for r in upserts.get(cls, {}).values()]
        gone = deletes.get(cls, {})
        if gone:
            header = header + ["mg_delete"]
            for key, cols in gone.items():
                records.append({**dict(zip(cols, key)), "mg_delete": "true"})
        out.append((before.file_name(cls) or cls, csvfmt.write_csv(header, records)))
    return out


def _files_for(raw_backup: bytes, upserts: dict[str, dict[Key, Row]]) -> dict[str, bytes]:
    """The backup's `_files/` entries that restored rows name (FILE columns hold the file id)."""
    values = {v for rows in upserts.values() for row in rows.values() for v in row.values() if v}
    if not values:
        return {}
    out = {}
    with zipfile.ZipFile(io.BytesIO(raw_backup)) as zf:
        for info in zf.infolist():
            if not info.filename.startswith("_files/") or info.is_dir():
                continue
            stem = info.filename.rsplit("/", 1)[-1].split(".", 1)[0]
            if stem in values:
                out[info.filename] = zf.read(info)
    return out


# ----------------------------------------------------------------------------- applying
def _restore_tables(plan: RestorePlan) -> dict[str, TableRecord]:
    return {t.table: TableRecord(key_columns=t.key_columns, inserted=len(t.reinsert),
                                 updated=len(t.revert), deleted=len(t.remove),
                                 inserted_keys=[list(k) for k in t.reinsert],
                                 updated_keys=[list(k) for k in t.revert],
                                 deleted_keys=[list(k) for k in t.remove])
            for t in plan.tables if t.changes}


async def apply_restore(plan: RestorePlan, emit: Emit = ignore, *, force: bool = False,
                        backup_dir: str | Path | None = None) -> RunResult:
    """Back up the target, check it is as planned, then send the restore as one zip import.

    Refuses (ok=False, nothing written, not journalled) when the plan has conflicts or could
    not check for them, unless `force`. Otherwise the restore is journalled like a run, kind
    `restore`; `RunResult.run_id` is its id.
    """
    started = time.monotonic()
    result = RunResult(ok=False)
    sent: list[str] = []  # one item once the import is sent, then the server's task id
    secrets = plan.connection.secrets
    if plan.is_empty:
        result.ok = True
        summary = plan.nothing or ALREADY_RESTORED
        emit(RunFinished(True, summary=summary))
        return result
    if plan.needs_force and not force:
        what = (f"{len(plan.conflicts)} row(s) were changed since the run" if plan.conflicts else
                "the rows the run left were not read back, so changes since cannot be checked")
        result.error = f"Restore refused: {what}; nothing was changed. Pass --force to restore anyway."
        emit(RunFinished(False, summary="restore refused", error=result.error))
        return result
    try:
        record = journal.new_record("restore", f"restore {plan.record.run_id}", journal.Endpoint(
            plan.record.target.url, plan.schema, plan.connection.username), _restore_tables(plan),
            resource_id=plan.record.resource_id, restores=plan.record.run_id)
    except journal.JournalError as exc:  # a restore that cannot be journalled cannot be undone
        result.error = f"Restore refused: {exc}; nothing was changed."
        emit(RunFinished(False, summary="restore refused", error=result.error))
        return result
    try:
        async with Emx2Client(plan.connection) as client:
            emit(StepStarted("backup", unit="bytes"))
            emit(StepLog("backup", f"Downloading '{plan.schema}' from {client.url}"))
            try:
                path, size = await backups.save_backup(client, plan.schema, backup_dir)
            except Exception as exc:
                emit(StepFinished("backup", "failed", scrub(str(exc), secrets)))
                raise
            result.backup_path = str(path)
            emit(StepLog("backup", f"Saved {size} bytes to {path}"))
            emit(StepFinished("backup", "done", f"{size} bytes"))
            emit(StepStarted("upload", total=len(plan.entries)))
            try:
                _, current = await _current(client, plan.schema)
                if _current_digest(plan.record, current) != plan.digest:
                    raise RestoreError(f"Rows of run {plan.record.run_id} in schema '{plan.schema}' changed "
                                       f"after the restore was planned. Nothing was written; plan the "
                                       f"restore again.", schema=plan.schema)
                if plan._cancel:
                    raise _Cancelled()
                data = plan.build_zip()
                tot = plan.totals()
                emit(StepLog("upload", f"Sending {tot[REINSERT]} rows to insert again, {tot[REVERT]} to "
                                       f"revert and {tot[REMOVE]} to delete as one import ({len(data)} bytes)"))

                def on_task(task: dict) -> None:
                    emit(ServerTask("upload", str(task.get("status") or ""),
                                    str(task.get("description") or ""), tuple(flatten_subtasks(task))))

                sent.append("")
                emit(WriteSent("upload"))
                task = await client.upload_zip(plan.schema, data, on_task=on_task,
                                               on_accepted=sent.append)
                emit(StepLog("upload", f"Server: {task.get('description') or task.get('status')}"))
            except _Cancelled:
                emit(StepFinished("upload", "cancelled", "cancelled"))
                raise
            except Exception as exc:
                emit(StepFinished("upload", "failed", scrub(str(exc), secrets)))
                raise
            emit(StepFinished("upload", "done", f"{sum(tot.values())} rows restored"))
            result.ok = True
            result.counts = plan.counts()
    except _Cancelled:
        result.cancelled = True
        result.error = "cancelled before anything was written"
    except (Emx2Error, OSError) as exc:
        result.error = scrub(str(exc), secrets)
        refused = isinstance(exc, TaskFailed) and str(exc.task.get("status") or "").upper() in (
            "ERROR", "CANCELLED")
        if sent and not refused and (len(sent) > 1 or isinstance(exc, ConnectionFailed)):
            result.target_state = "unknown"  # sent, and the answer was lost
    else:
        result.target_state = "changed" if result.ok else "unchanged"
    result.duration = time.monotonic() - started
    run_id = await journal.finish(record, plan.connection, result, emit, secrets=secrets)
    result.run_id = run_id
    if result.ok:
        tot = plan.totals()
        summary = (f"run {plan.record.run_id} restored: {tot[REINSERT]} rows inserted again, "
                   f"{tot[REVERT]} reverted, {tot[REMOVE]} deleted in {result.duration:.1f} s")
    elif result.cancelled:
        summary = "restore cancelled; the target was not changed"
    else:
        summary = "restore failed; the import is one transaction, so the target was not changed"
    if result.target_state == "unknown":
        summary = ("restore failed after its import was sent: it may have been applied; the "
                   f"server's task list or a comparison with the backup ({result.backup_path}) tells")
    emit(RunFinished(result.ok, summary=summary, error=result.error, backup=result.backup_path,
                     counts=result.counts if result.ok else {}, target_state=result.target_state))
    return result


class _Cancelled(Exception):
    pass
