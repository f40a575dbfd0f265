"""A small in-memory engine for UI tests that must not depend on a server: it speaks the same
interface as emx2tui's client and job runner and emits the same events."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Any


from emx2tui.emx2.frames import Frame
from emx2tui.jobs.events import (PlanReady, RunFinished, ServerTask, StepFinished, StepLog,
                                 StepProgress, StepStarted)


@dataclass
class FakeConnection:
    url: str
    schema: str | None = None
    token: str | None = None
    username: str | None = "admin"
    password: str | None = None

    @property
    def label(self) -> str:
        return f"{self.username}@{self.url}"


class FakeModel:
    def __init__(self, version: str, profiles: list[str]) -> None:
        self._version, self._profiles = version, profiles

    def version(self) -> str:
        return self._version

    def profiles(self) -> list[str]:
        return self._profiles


SCHEMAS = {
    "catalogue": {"Resources": 3, "Collections": 3, "Subpopulations": 7, "Contacts": 12},
    "cohortStaging": {"Resources": 1, "Subpopulations": 4, "Contacts": 5},
    "emptyStaging": {},
}


class FakeClient:
    def __init__(self, connection: FakeConnection) -> None:
        self.connection = connection

    async def __aenter__(self) -> "FakeClient":
        if "unreachable" in self.connection.url:
            raise ConnectionError(f"connection refused: {self.connection.url}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def list_schemas(self) -> list[str]:
        if getattr(self.connection, "password", None) == "wrong":
            raise ValueError(f"Sign-in to {self.connection.url} failed: wrong user name or password")
        return list(SCHEMAS)

    async def download_table(self, schema: str, table: str) -> Frame:
        return _frame(table, SCHEMAS[schema][table])

    async def table_counts(self, schema: str) -> dict[str, int]:
        return dict(SCHEMAS[schema])

    async def schema_model(self, schema: str) -> FakeModel:
        return FakeModel("5.0", ["DataCatalogue"] if schema == "catalogue" else ["CohortStaging"])


@dataclass
class FakeStrategy:
    name: str
    title: str
    flow: str
    description: str
    steps: list[str]
    source_model: Any = None
    target_model: Any = None


STRATEGIES = [
    FakeStrategy("CohortStagingToDataCatalogue", "Cohort staging → data catalogue", "B",
                 "Replace one cohort's rows in the catalogue with those of its staging area.",
                 ["tablesToDelete", "deleteCohort", "tablesToSync", "download", "filter",
                  "backup", "upload"]),
    FakeStrategy("FillStaging", "Fill a staging area", "A",
                 "Copy a cohort from the catalogue into an empty staging area.",
                 ["tablesToSync", "download", "filter", "upload"]),
]


@dataclass
class FakeTablePlan:
    table: str
    filter_text: str
    rows: int
    inserts: int = 0
    updates: int = 0
    unchanged: int = 0
    deletes: int = 0
    frame: Any = None
    actions: list[str] = field(default_factory=list)
    key_columns: list[str] = field(default_factory=lambda: ["resource", "name"])
    changes: dict[tuple[str, ...], dict[str, tuple[str, str]]] = field(default_factory=dict)
    cleared: dict[str, int] = field(default_factory=dict)
    deleted_frame: Any = None


@dataclass
class FakePlan:
    strategy: str
    flow: str
    source_label: str
    target_label: str
    resource_id: str | None
    sync: list[FakeTablePlan]
    delete: list[FakeTablePlan]
    warnings: list[str] = field(default_factory=list)
    atomic: bool = True
    broken: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def total_sync_rows(self) -> int:
        return sum(t.rows for t in self.sync)

    @property
    def total_delete_rows(self) -> int:
        return sum(t.deletes for t in self.delete)

    @property
    def has_deletes(self) -> bool:
        return self.total_delete_rows > 0


@dataclass
class FakeResult:
    ok: bool
    backup_path: str | None
    counts: dict[str, dict[str, int]]
    error: str | None
    duration: float
    run_id: str | None = None
    cancelled: bool = False
    target_state: str = "unchanged"


def _frame(table: str, n: int) -> Frame:
    return Frame(["resource", "name", "email"],
                 [("NORTHSTAR", f"{table} {i}", f"person{i}@example.org") for i in range(n)])


def contacts_plan() -> FakeTablePlan:
    """Four contacts: three new, one whose email changes (and whose phone the upsert clears)."""
    return FakeTablePlan(
        "Contacts", "resource = NORTHSTAR", 4, 3, 1, 0, frame=_frame("Contacts", 4),
        actions=["update", "insert", "insert", "insert"],
        changes={("NORTHSTAR", "Contacts 0"): {"email": ("old@example.org",
                                                           "person0@example.org")}},
        cleared={"phone": 1})


class FakeJob:
    """Plans two tables to sync and one to delete; `fail_upload` makes the import fail."""

    def __init__(self, strategy: FakeStrategy, source: Any, target: Any,
                 resource_id: str | None = None, *, fail_upload: bool = False,
                 deletes: bool = True, pause: float = 0.0, broken: tuple[str, ...] = (),
                 hold: bool = False, fail_state: str = "unchanged") -> None:
        self.strategy, self.source, self.target = strategy, source, target
        self.resource_id = resource_id or "NORTHSTAR"
        self.fail_upload = fail_upload
        self.deletes = deletes
        self.pause = pause
        self.broken = broken
        self.cancelled = False
        self.fail_state = fail_state  # what the engine reports of the target after a failure
        # With hold, apply waits after its first step until the test opens the gate. The app
        # runs apply on an event loop of its own in a worker thread, so the gate is a
        # threading.Event the job polls.
        self.gate = threading.Event()
        if not hold:
            self.gate.set()

    def cancel(self) -> None:
        self.cancelled = True

    async def plan(self, emit: Any) -> FakePlan:
        emit(StepStarted("tablesToSync", total=2))
        emit(StepProgress("tablesToSync", 1, 2, unit="tables", table="Resources"))
        emit(StepFinished("tablesToSync", "done", "2 tables, 5 rows"))
        delete = []
        if self.deletes:
            emit(StepStarted("tablesToDelete", total=1))
            emit(StepFinished("tablesToDelete", "done", "1 table, 2 rows"))
            delete = [FakeTablePlan("Subpopulations", "resource = NORTHSTAR", 2, deletes=2,
                                    frame=_frame("Subpopulations", 2),
                                    deleted_frame=_frame("Subpopulations", 2))]
        plan = FakePlan(
            self.strategy.name, self.strategy.flow, "admin@src", "admin@tgt", self.resource_id,
            sync=[FakeTablePlan("Resources", "id = NORTHSTAR", 1, 0, 1, 0,
                                frame=_frame("Resources", 1), actions=["update"],
                                changes={("NORTHSTAR", "Resources 0"): {
                                    "name": ("Northstar", "Resources 0")}}),
                  contacts_plan()],
            delete=delete, warnings=["Contacts: 1 row has an empty email"],
            broken=list(self.broken))
        emit(PlanReady(plan))
        return plan

    async def apply(self, plan: FakePlan, emit: Any) -> FakeResult:
        for step in self.strategy.steps:
            if self.cancelled:
                emit(StepFinished(step, "cancelled", "cancelled"))
                emit(RunFinished(False, error="cancelled before anything was written"))
                return FakeResult(False, None, {}, "cancelled before anything was written", 0.2,
                                  cancelled=True)
            emit(StepStarted(step, total=2 if step != "upload" else None))
            await asyncio.sleep(self.pause)
            if step != self.strategy.steps[0]:
                while not self.gate.is_set():
                    await asyncio.sleep(0.01)
            emit(StepLog(step, f"{step} started"))
            if step == "upload":
                emit(ServerTask(step, "RUNNING", "Import zip", (("COMPLETED", "Import Resources"),
                                                                ("RUNNING", "Import Contacts"))))
                await asyncio.sleep(self.pause)
                if self.fail_upload:
                    emit(StepFinished(step, "failed", "import failed"))
                    emit(RunFinished(False, error="Contacts row 3: email is not valid",
                                     target_state=self.fail_state))
                    return FakeResult(False, "/backups/catalogue.zip", {},
                                      "Contacts row 3: email is not valid", 0.5,
                                      run_id="20260101-120000-beef",
                                      target_state=self.fail_state)
            emit(StepProgress(step, 2, 2, unit="tables"))
            emit(StepFinished(step, "done", f"{step} ok"))
        counts = {"Resources": {"inserted": 0, "updated": 1, "deleted": 0},
                  "Contacts": {"inserted": 3, "updated": 1, "deleted": 0},
                  "Subpopulations": {"inserted": 0, "updated": 0, "deleted": 2}}
        emit(RunFinished(True, summary="ok", backup="/backups/catalogue.zip", counts=counts))
        return FakeResult(True, "/backups/catalogue.zip", counts, None, 1.25,
                          run_id="20260101-120000-cafe")


class BrokenJob(FakeJob):
    """A job whose apply raises instead of returning a failed result."""

    async def apply(self, plan: FakePlan, emit: Any) -> FakeResult:
        emit(StepStarted("tablesToDelete"))
        raise ConnectionError("connection refused by the target server")


class ManyRowsJob(FakeJob):
    """Uploads `tables` tables of `rows` rows each, reporting every `step` rows: a flood of
    progress events, as a 100 000-row run sends them."""

    def __init__(self, *args: Any, rows: int = 100_000, tables: int = 4, step: int = 50,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rows, self.tables, self.step = rows, tables, step
        self.sent = 0

    async def apply(self, plan: FakePlan, emit: Any) -> FakeResult:
        emit(StepStarted("download", total=self.tables))
        for t in range(self.tables):
            table = f"Table{t}"
            for done in range(0, self.rows + 1, self.step):
                emit(StepProgress("download", done, self.rows, unit="rows", table=table))
                self.sent += 1
                if self.cancelled:
                    emit(StepFinished("download", "cancelled", "cancelled"))
                    return FakeResult(False, None, {}, "cancelled", 0.1, cancelled=True)
                if done % (self.step * 20) == 0:
                    # A real job waits on the network between batches, which lets the
                    # interface's thread run; a zero sleep would keep this thread busy.
                    await asyncio.sleep(0.001)
            emit(StepProgress("download", t + 1, self.tables, unit="tables", table=table))
        emit(StepFinished("download", "done", f"{self.tables * self.rows:,} rows"))
        emit(RunFinished(True, summary="ok"))
        return FakeResult(True, None, {}, None, 1.0)


class ScriptedJob(FakeJob):
    """Apply emits `script` in order, whatever order that is: an Event is emitted, an int waits
    until the test sets gates[int], and "check" ends the run as cancelled if a cancel came (as
    the engine checks between its steps, never while the server runs the import)."""

    def __init__(self, *args: Any, script: list[Any] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.script = list(script)
        self.gates = [threading.Event() for _ in range(4)]

    async def apply(self, plan: FakePlan, emit: Any) -> FakeResult:
        for item in self.script:
            if isinstance(item, int):
                while not self.gates[item].is_set():
                    await asyncio.sleep(0.01)
            elif item == "check":
                if self.cancelled:
                    emit(RunFinished(False, error="cancelled before anything was written"))
                    return FakeResult(False, "/backups/catalogue.zip", {},
                                      "cancelled before anything was written", 0.3,
                                      run_id="20260101-120000-abcd", cancelled=True)
            else:
                emit(item)
        counts = {"Contacts": {"inserted": 3, "updated": 1, "deleted": 0}}
        emit(RunFinished(True, summary="ok", backup="/backups/catalogue.zip", counts=counts,
                         target_state="changed"))
        return FakeResult(True, "/backups/catalogue.zip", counts, None, 0.5,
                          run_id="20260101-120000-abcd", target_state="changed")


# ------------------------------------------------------------------ journal and restore
def journal_record(run_id: str = "20260101-120000-cafe", outcome: str = "ok",
                   error: str | None = None) -> Any:
    started = f"{run_id[:4]}-{run_id[4:6]}-{run_id[6:8]}T{run_id[9:11]}:{run_id[11:13]}:00+00:00"
    """A journal record as the engine writes it, saved in the test's own data folder."""
    from emx2tui.jobs import journal

    tables = {"Contacts": journal.TableRecord(["resource", "name"], inserted=3, updated=1),
              "Subpopulations": journal.TableRecord(["resource", "name"], deleted=2)}
    record = journal.RunRecord(
        run_id=run_id, kind="run", strategy="CohortStagingToDataCatalogue",
        target=journal.Endpoint("http://target.test", "catalogue", "admin"),
        source=journal.Endpoint("http://source.test", "cohortStaging", "admin"), flow="B",
        resource_id="NORTHSTAR", started=started,
        finished="2026-01-01T12:00:02+00:00", outcome=outcome, error=error,
        backup="/backups/catalogue.zip", duration=1.25, tables=tables)
    journal.save(record)
    return record


@dataclass
class FakeRestorePlan:
    record: Any
    connection: Any
    schema: str
    conflicts: list[str] = field(default_factory=list)
    empty: bool = False
    cancelled: bool = False

    @property
    def is_empty(self) -> bool:
        return self.empty

    @property
    def needs_force(self) -> bool:
        return bool(self.conflicts)

    def describe(self) -> list[str]:
        lines = [f"Restore of run {self.record.run_id}", f"  target: {self.schema}", "",
                 "  Contacts        0       1       3", "  Subpopulations  2       0       0"]
        return lines + [f"  {c}" for c in self.conflicts]

    def cancel(self) -> None:
        self.cancelled = True


class FakeRestorer:
    """plan_restore / apply_restore with the engine's signatures, recording what was asked."""

    def __init__(self, *, conflicts: list[str] | None = None, empty: bool = False) -> None:
        self.conflicts = conflicts or []
        self.empty = empty
        self.applied: list[tuple[Any, bool]] = []

    async def plan_restore(self, record: Any, connection: Any) -> FakeRestorePlan:
        if connection.schema and connection.schema != record.target.schema:  # as the engine checks
            raise RuntimeError(f"Run {record.run_id} wrote to schema '{record.target.schema}', "
                               f"not '{connection.schema}'.")
        return FakeRestorePlan(record, connection, record.target.schema, list(self.conflicts),
                               self.empty)

    async def apply_restore(self, plan: FakeRestorePlan, emit: Any, *, force: bool = False
                            ) -> FakeResult:
        self.applied.append((plan, force))
        emit(StepStarted("backup", unit="bytes"))
        emit(StepFinished("backup", "done", "1,024 bytes"))
        emit(StepStarted("upload", total=2))
        emit(ServerTask("upload", "COMPLETED", "Import zip", (("COMPLETED", "Import Contacts"),)))
        emit(StepFinished("upload", "done", "6 rows restored"))
        counts = {"Contacts": {"inserted": 0, "updated": 1, "deleted": 3},
                  "Subpopulations": {"inserted": 2, "updated": 0, "deleted": 0}}
        emit(RunFinished(True, summary="restored", counts=counts))
        return FakeResult(True, "/backups/catalogue-2.zip", counts, None, 0.4,
                          run_id="20260101-130000-f00d")


def fake_app(**kwargs: Any) -> Any:
    from emx2tui.ui.app import Emx2App

    job_kwargs = kwargs.pop("job_kwargs", {})
    job_class = kwargs.pop("job_class", FakeJob)
    source = kwargs.pop("source", FakeConnection("http://source.test"))
    target = kwargs.pop("target", FakeConnection("http://target.test"))
    defaults = dict(source_schema="cohortStaging", target_schema="catalogue",
                    strategy="CohortStagingToDataCatalogue")
    defaults.update(kwargs)
    kwargs.setdefault("clock", lambda: 0.0)
    return Emx2App(
        source=source, target=target, strategies=STRATEGIES, client_factory=FakeClient,
        job_factory=lambda s, src, tgt, resource_id=None: job_class(s, src, tgt, resource_id,
                                                                     **job_kwargs),
        **defaults)
