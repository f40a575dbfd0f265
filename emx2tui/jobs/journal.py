"""The run journal: one JSON record per run that wrote (or meant to write) to a target.

Where: `<data dir>/journal/` (`EMX2TUI_DATA_DIR` overrides the user data dir), one file per
run, `<run id>.json`, written atomically (temporary file, then rename) with mode 0600 in a 0700
folder. Run ids are short and sort by time: `20261203-191500-ab12` (local time of the start and
four random hex digits).

What a record holds (see `RunRecord`): the kind (`run`, or `restore` for a restore, which names
the run it undid in `restores`), the strategy, source and target (server URL without any user
info, schema, EMX2 user name; never a token or password), the resource id, start and end time,
the OS user and the EMX2 user, the outcome (`running` until the run ends, then `ok`, `failed`,
`cancelled`, or, when the run failed after its write was sent, `applied` (the import landed) or
`unknown` (whether it landed could not be learnt); with the error message), the backup taken
before the write (recorded as soon as it is saved, so a run killed part-way can be restored)
and, per table, the
counts and the keys the run inserted, updated and deleted. After a run that wrote, the rows it
inserted or updated are read back from the target and kept beside the record
(`<run id>.after.zip`, 0600): restore compares the target's current rows with them to notice
rows someone else changed since.

`Job.apply` journals every apply, also a failed or cancelled one and one with nothing to write.
Dry runs (`Job.plan` only) change nothing and are not journalled.

API for the app:

    list_runs(limit=None) -> list[RunRecord]     newest first
    get_run(run_id) -> RunRecord                 raises UnknownRun
"""

from __future__ import annotations

import asyncio
import getpass
import json
import re
import secrets
import socket
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from emx2tui import __version__
from emx2tui.emx2.client import Connection, Emx2Client, scrub
from emx2tui.emx2.errors import Emx2Error
from emx2tui.emx2.model import SchemaModel
from emx2tui.emx2.zipfmt import build_zip, table_entries
from emx2tui.jobs import backup as backups
from emx2tui.jobs import scoped
from emx2tui.jobs.events import Emit, StepLog, ignore
from emx2tui.jobs.plan import INSERT, UPDATE, Key, Plan, row_keys
from emx2tui.jobs.rowsets import ExportRows

if TYPE_CHECKING:
    from emx2tui.jobs.runner import RunResult

FORMAT = 1
RUNNING, OK, FAILED, CANCELLED = "running", "ok", "failed", "cancelled"
# the run failed after its write was sent: the import landed anyway ("applied"), or whether it
# landed could not be learnt ("unknown"); restore compares the target with the backup for both
APPLIED, UNKNOWN = "applied", "unknown"
RUN_ID = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{4}$")


class JournalError(Exception):
    """The journal could not be read or written."""


class UnknownRun(JournalError):
    """No journal record has this run id."""


# ----------------------------------------------------------------------------- records
@dataclass
class TableRecord:
    """What a run did to one table: counts, and the keys it inserted, updated and deleted."""

    key_columns: list[str] = field(default_factory=list)
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    inserted_keys: list[list[str]] = field(default_factory=list)
    updated_keys: list[list[str]] = field(default_factory=list)
    deleted_keys: list[list[str]] = field(default_factory=list)

    @property
    def writes(self) -> int:
        return self.inserted + self.updated + self.deleted

    def counts(self) -> dict[str, int]:
        return {"inserted": self.inserted, "updated": self.updated, "unchanged": self.unchanged,
                "deleted": self.deleted}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "TableRecord":
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


@dataclass
class Endpoint:
    """A server and schema, and who signed in there (never how)."""

    url: str
    schema: str | None = None
    user: str | None = None

    @property
    def label(self) -> str:
        return f"{self.schema or '?'}@{self.url}"


@dataclass
class RunRecord:
    run_id: str
    kind: str  # "run" or "restore"
    strategy: str
    target: Endpoint
    source: Endpoint | None = None
    flow: str | None = None
    resource_id: str | None = None
    started: str = ""  # ISO 8601 with offset
    finished: str | None = None
    outcome: str = RUNNING
    error: str | None = None
    backup: str | None = None
    after: str | None = None  # the rows the run left, read back after the write
    restores: str | None = None  # for a restore: the run it undid
    os_user: str | None = None
    emx2_user: str | None = None
    host: str | None = None
    atomic: bool = True
    duration: float | None = None
    tables: dict[str, TableRecord] = field(default_factory=dict)
    version: str = __version__
    format: int = FORMAT
    read_back_tried = False  # not a field, not kept: whether this process read back already

    # ----------------------------------------------------------------- summaries
    @property
    def totals(self) -> dict[str, int]:
        out = {"inserted": 0, "updated": 0, "unchanged": 0, "deleted": 0}
        for t in self.tables.values():
            for k, v in t.counts().items():
                out[k] += v
        return out

    @property
    def writes(self) -> int:
        return sum(t.writes for t in self.tables.values())

    @property
    def path(self) -> Path:
        return record_path(self.run_id)

    def started_local(self) -> str:
        return local_time(self.started)

    def describe(self) -> str:
        src = self.source.label if self.source else ""
        return f"{src} -> {self.target.label}" if src else self.target.label

    # ----------------------------------------------------------------- JSON
    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["tables"] = {name: asdict(t) for name, t in self.tables.items()}
        return data

    def summary_json(self) -> dict[str, Any]:
        """The record without the key lists (for listings)."""
        data = self.to_json()
        data["tables"] = {name: TableRecord.from_json(t).counts() for name, t in data["tables"].items()}
        data["totals"] = self.totals
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "RunRecord":
        try:
            target = Endpoint(**data["target"])
            source = Endpoint(**data["source"]) if data.get("source") else None
            tables = {name: TableRecord.from_json(t) for name, t in (data.get("tables") or {}).items()}
            skip = {"target", "source", "tables"}
            rest = {k: v for k, v in data.items() if k in cls.__dataclass_fields__ and k not in skip}
            return cls(target=target, source=source, tables=tables, **rest)
        except (KeyError, TypeError, AttributeError) as exc:
            raise JournalError(f"journal record {data.get('run_id', '?')} is not readable: {exc}") from None


# ----------------------------------------------------------------------------- files
def journal_dir() -> Path:
    return backups.data_dir() / "journal"


def record_path(run_id: str) -> Path:
    return journal_dir() / f"{run_id}.json"


def new_run_id(now: float | None = None) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now if now is not None else time.time()))
    while True:
        run_id = f"{stamp}-{secrets.token_hex(2)}"
        if not record_path(run_id).exists():
            return run_id


def save(record: RunRecord) -> Path:
    text = json.dumps(record.to_json(), indent=1, ensure_ascii=False) + "\n"
    try:
        return backups.write_atomic(record.path, text.encode("utf-8"))
    except OSError as exc:
        raise JournalError(f"cannot write the journal record {record.path}: {exc.strerror or exc}") from None


def get_run(run_id: str) -> RunRecord:
    """The record of one run. A unique prefix of a run id is accepted too."""
    run_id = (run_id or "").strip()
    path = record_path(run_id) if run_id else None
    if path is None or not path.exists():
        matches = [p for p in _record_files() if run_id and p.stem.startswith(run_id)]
        if len(matches) > 1:
            shown = ", ".join(p.stem for p in matches[:5]) + (", …" if len(matches) > 5 else "")
            raise UnknownRun(f"'{run_id}' is the start of {len(matches)} runs ({shown}): give more "
                             f"of the run id; see `emx2tui history`.")
        if len(matches) != 1:
            raise UnknownRun(f"No run '{run_id}' in the journal at {journal_dir()}; "
                             f"see `emx2tui history`.")
        path = matches[0]
    return _load(path)


def _load(path: Path) -> RunRecord:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise JournalError(f"cannot read the journal record {path}: {exc}") from None
    if not isinstance(data, dict):
        raise JournalError(f"the journal record {path} is not a run record (it holds a "
                           f"{type(data).__name__}, not an object)")
    return RunRecord.from_json(data)


def _record_files() -> list[Path]:
    folder = journal_dir()
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.json") if RUN_ID.match(p.stem))


def list_runs(limit: int | None = None) -> list[RunRecord]:
    """Journalled runs, newest first; at most `limit`. Unreadable records are left out."""
    out: list[RunRecord] = []
    for path in reversed(_record_files()):
        try:
            out.append(_load(path))
        except JournalError:
            continue
    out.sort(key=lambda r: (_sort_time(r.started), r.run_id), reverse=True)
    return out[:limit] if limit is not None else out


def _sort_time(iso: str) -> float:
    try:
        return datetime.fromisoformat(iso).timestamp()
    except (TypeError, ValueError):
        return 0.0


def _now() -> str:
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="microseconds")


def local_time(iso: str | None) -> str:
    if not iso:
        return ""
    try:
        return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return iso


# ----------------------------------------------------------------------------- building
def public_url(url: str) -> str:
    """A server URL without user info, query or fragment (they may carry credentials)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", "")) if parts.scheme else url


def endpoint(conn: Connection, schema: str | None) -> Endpoint:
    return Endpoint(public_url(conn.url), schema or conn.schema, conn.username)


def _os_user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None


def _keys(keys: Iterable[Key]) -> list[list[str]]:
    return [list(k) for k in keys]


def tables_from_plan(plan: Plan) -> dict[str, TableRecord]:
    """Per table: counts and the keys an apply of this plan inserts, updates and deletes."""
    out: dict[str, TableRecord] = {}
    for tp in plan.sync:
        rec = out.setdefault(tp.table, TableRecord(key_columns=list(tp.key_columns)))
        keys = row_keys(tp.frame, tp.key_columns) if len(tp.frame) else []
        rec.inserted, rec.updated, rec.unchanged = tp.inserts, tp.updates, tp.unchanged
        rec.inserted_keys = _keys(k for k, a in zip(keys, tp.actions) if a == INSERT)
        rec.updated_keys = _keys(k for k, a in zip(keys, tp.actions) if a == UPDATE)
    for tp in plan.delete:
        rec = out.setdefault(tp.table, TableRecord(key_columns=list(tp.key_columns)))
        rec.key_columns = rec.key_columns or list(tp.key_columns)
        rec.deleted = tp.deletes
        if tp.deletes and len(tp.deleted_frame):
            rec.deleted_keys = _keys(row_keys(tp.deleted_frame, tp.key_columns))
    return out


def new_record(kind: str, strategy: str, target: Endpoint, tables: dict[str, TableRecord], *,
               source: Endpoint | None = None, flow: str | None = None,
               resource_id: str | None = None, restores: str | None = None,
               atomic: bool = True) -> RunRecord:
    """A record in state `running`, written to the journal at once."""
    record = RunRecord(run_id=new_run_id(), kind=kind, strategy=strategy, target=target, source=source,
                       flow=flow, resource_id=resource_id, started=_now(), restores=restores,
                       os_user=_os_user(), emx2_user=target.user, host=socket.gethostname(),
                       atomic=atomic, tables=tables)
    save(record)
    return record


def begin_run(job: Any, plan: Plan) -> RunRecord:
    """Journal the start of `Job.apply` (the plan's keys, before anything is written).

    Raises JournalError when the journal cannot be written: a run that could not be restored
    afterwards is not started.
    """
    return new_record(
        "run", plan.strategy, endpoint(job.target, plan.target_schema), tables_from_plan(plan),
        source=endpoint(job.source, plan.source_schema), flow=plan.flow,
        resource_id=plan.resource_id, atomic=plan.atomic)


def record_backup(record: RunRecord | None, path: str) -> None:
    """Note the backup in the record of a run still going, so an interrupted run can be restored."""
    if record is None:
        return
    record.backup = path
    try:
        save(record)
    except JournalError:
        pass  # end_run warns that the run could not be journalled


async def end_run(record: RunRecord | None, job: Any, result: "RunResult", emit: Emit = ignore,
                  step: str = "upload") -> str | None:
    """Journal how `Job.apply` ended; returns the run id (None when there is no record)."""
    if record is None:
        emit(StepLog(step, "The run could not be journalled (the journal folder is not writable)",
                     "warning"))
        return None
    # the apply read the target's metadata just before its write, which sends rows only
    models_of = getattr(job, "_models_of", None)
    models = models_of(job.target) if models_of is not None else None
    return await finish(record, job.target, result, emit, step=step, secrets=job.secrets,
                        models=models)


async def finish(record: RunRecord, target: Connection, result: Any, emit: Emit = ignore, *,
                 step: str = "upload", secrets: Sequence[str] = (),
                 models: dict[str, SchemaModel] | None = None) -> str:
    """Set the outcome, read back the rows a successful write left, and save the record."""
    record.finished = _now()
    record.duration = round(float(getattr(result, "duration", 0.0) or 0.0), 3)
    record.backup = getattr(result, "backup_path", None) or record.backup
    state = getattr(result, "target_state", None)
    if getattr(result, "ok", False):
        record.outcome = OK
    elif getattr(result, "cancelled", False):
        record.outcome = CANCELLED
    elif state == "unknown":
        record.outcome = UNKNOWN
    elif state == "changed":
        record.outcome = APPLIED
    else:
        record.outcome = FAILED
    error = getattr(result, "error", None)
    record.error = scrub(str(error), list(secrets) + target.secrets) if error else None
    if record.outcome in (OK, APPLIED) and record.writes and not record.read_back_tried:
        await read_back(record, target, emit, step=step, secrets=secrets, models=models)
    try:
        save(record)
    except JournalError as exc:
        emit(StepLog(step, str(exc), "warning"))
        return record.run_id
    emit(StepLog(step, f"Journalled as run {record.run_id}"))
    return record.run_id


def after_path(run_id: str) -> Path:
    return journal_dir() / f"{run_id}.after.zip"


async def read_back(record: RunRecord, target: Connection | Emx2Client, emit: Emit = ignore, *,
                    step: str = "upload", secrets: Sequence[str] = (),
                    models: dict[str, SchemaModel] | None = None) -> None:
    """Keep the rows a successful write left (the keys it inserted and updated), for a restore
    to tell later whether they changed since. With an open client, its connections are used."""
    if not record.writes:
        return
    record.read_back_tried = True
    connection = target.connection if isinstance(target, Emx2Client) else target
    try:
        if isinstance(target, Emx2Client):
            await _snapshot_after(record, target, refresh=False)
        else:
            async with Emx2Client(target, models=models) as client:
                await _snapshot_after(record, client, refresh=models is None)
    except (Emx2Error, OSError, ValueError) as exc:
        emit(StepLog(step, f"Could not read back the rows the run wrote ("
                           f"{scrub(str(exc), list(secrets) + connection.secrets)}); a restore of "
                           f"this run will need --force", "warning"))


async def _snapshot_after(record: RunRecord, client: Emx2Client, *, refresh: bool) -> None:
    schema = record.target.schema
    assert schema
    wanted = {name: (t.key_columns, [tuple(k) for k in t.inserted_keys + t.updated_keys])
              for name, t in record.tables.items()}

    async def who() -> str | None:
        if client.user is not None:
            return client.user
        try:
            return (await client.session()).get("email") or None
        except Emx2Error:
            return None

    async def read() -> ExportRows:
        model = await client.schema_model(schema, refresh=refresh)
        # only the rows of these keys (filtered reads), in the layout of an export
        return ExportRows(await scoped.keyed_entries(client, model, wanted), model)

    # the user is asked while the rows are read
    user, rows = await asyncio.gather(who(), read(), return_exceptions=True)
    if isinstance(rows, BaseException):
        raise rows
    client.user = user if isinstance(user, str) else None
    if client.user:
        record.emx2_user = record.target.user = client.user
    entries = rows.subset(wanted)
    path = after_path(record.run_id)
    backups.write_atomic(path, build_zip(entries))
    record.after = str(path)


def read_after(record: RunRecord, model: SchemaModel) -> ExportRows | None:
    """The rows the run left, as read back after its write (None when there is no snapshot)."""
    if not record.after:
        return None
    path = Path(record.after)
    if not path.exists():
        return None
    return ExportRows(table_entries(path.read_bytes()), model)
