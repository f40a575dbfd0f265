"""A small in-memory engine for UI tests that must not depend on a server: it speaks the same
interface as emx2tui's client and job runner and emits the same events."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

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
        return list(SCHEMAS)

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


def _frame(table: str, n: int) -> pd.DataFrame:
    return pd.DataFrame({"resource": ["NORTHSTAR"] * n, "name": [f"{table} {i}" for i in range(n)]})


class FakeJob:
    """Plans two tables to sync and one to delete; `fail_upload` makes the import fail."""

    def __init__(self, strategy: FakeStrategy, source: Any, target: Any,
                 resource_id: str | None = None, *, fail_upload: bool = False,
                 deletes: bool = True, pause: float = 0.0) -> None:
        self.strategy, self.source, self.target = strategy, source, target
        self.resource_id = resource_id or "NORTHSTAR"
        self.fail_upload = fail_upload
        self.deletes = deletes
        self.pause = pause
        self.cancelled = False

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
                                    frame=_frame("Subpopulations", 2))]
        plan = FakePlan(
            self.strategy.name, self.strategy.flow, "admin@src", "admin@tgt", self.resource_id,
            sync=[FakeTablePlan("Resources", "id = NORTHSTAR", 1, 0, 1, 0, frame=_frame("Resources", 1)),
                  FakeTablePlan("Contacts", "resource = NORTHSTAR", 4, 3, 1, 0,
                                frame=_frame("Contacts", 4))],
            delete=delete, warnings=["Contacts: 1 row has an empty email"])
        emit(PlanReady(plan))
        return plan

    async def apply(self, plan: FakePlan, emit: Any) -> FakeResult:
        for step in self.strategy.steps:
            emit(StepStarted(step, total=2 if step != "upload" else None))
            await asyncio.sleep(self.pause)
            emit(StepLog(step, f"{step} started"))
            if step == "upload":
                emit(ServerTask(step, "RUNNING", "Import zip", (("COMPLETED", "Import Resources"),
                                                                ("RUNNING", "Import Contacts"))))
                await asyncio.sleep(self.pause)
                if self.fail_upload:
                    emit(StepFinished(step, "failed", "import failed"))
                    emit(RunFinished(False, error="Contacts row 3: email is not valid"))
                    return FakeResult(False, "/backups/catalogue.zip", {},
                                      "Contacts row 3: email is not valid", 0.5)
            emit(StepProgress(step, 2, 2, unit="tables"))
            emit(StepFinished(step, "done", f"{step} ok"))
        counts = {"Resources": {"inserted": 0, "updated": 1, "deleted": 0},
                  "Contacts": {"inserted": 3, "updated": 1, "deleted": 0},
                  "Subpopulations": {"inserted": 0, "updated": 0, "deleted": 2}}
        emit(RunFinished(True, summary="ok", backup="/backups/catalogue.zip", counts=counts))
        return FakeResult(True, "/backups/catalogue.zip", counts, None, 1.25)


class BrokenJob(FakeJob):
    """A job whose apply raises instead of returning a failed result."""

    async def apply(self, plan: FakePlan, emit: Any) -> FakeResult:
        emit(StepStarted("tablesToDelete"))
        raise ConnectionError("connection refused by the target server")


def fake_app(**kwargs: Any) -> Any:
    from emx2tui.ui.app import Emx2App

    job_kwargs = kwargs.pop("job_kwargs", {})
    job_class = kwargs.pop("job_class", FakeJob)
    source = kwargs.pop("source", FakeConnection("http://source.test"))
    target = kwargs.pop("target", FakeConnection("http://target.test"))
    defaults = dict(source_schema="cohortStaging", target_schema="catalogue",
                    strategy="CohortStagingToDataCatalogue")
    defaults.update(kwargs)
    return Emx2App(
        source=source, target=target, strategies=STRATEGIES, client_factory=FakeClient,
        job_factory=lambda s, src, tgt, resource_id=None: job_class(s, src, tgt, resource_id,
                                                                     **job_kwargs),
        **defaults)
