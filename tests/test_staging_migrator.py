"""The official staging migrator (molgenis-emx2-staging-migrator) against the sandbox.

`StagingMigrator.migrate()` moves the cohort staging area `testCohort` into `catalogue` on one
sandbox; emx2tui's CohortStagingToDataCatalogue does the same on a second sandbox loaded with
the same input. Both catalogues must end with the same rows.

Found on the way: the migrator rewrites DATE cells through pandas, so it uploads
`2005-04-01 00:00:00` for a date. EMX2 parses that loosely and stores `2005-04-01`; the sandbox
stored the text as given until it learned EMX2's date parsing. With that fixed there is no
difference left: the audit columns (`mg_insertedOn` and the others) differ by nature (EMX2
resets them on every upsert) and are left out of the comparison.
"""

from __future__ import annotations

import asyncio
import csv
import io
import zipfile

import httpx
import pytest

migrator = pytest.importorskip("molgenis_emx2_staging_migrator.migrator")
migrator_utils = pytest.importorskip("molgenis_emx2_staging_migrator.utils")

from emx2tui.emx2.client import Connection  # noqa: E402
from emx2tui.jobs.runner import Job  # noqa: E402
from emx2tui.sandbox.server import start_sandbox  # noqa: E402
from emx2tui.sandbox.transfer import export_zip  # noqa: E402

PASSWORD = "Migr8-Pw-1"


def _load(models_dir):
    return [("CatalogueOntologies", str(models_dir / "catalogue-ontologies")),
            ("catalogue", str(models_dir / "catalogue")),
            ("testCohort", str(models_dir / "cohort-staging"))]


def catalogue_rows(handle) -> dict[str, set[tuple]]:
    """Every catalogue table as a set of rows (without the mg_ system columns)."""
    out: dict[str, set[tuple]] = {}
    with zipfile.ZipFile(io.BytesIO(export_zip(handle.store, "catalogue"))) as zf:
        for name in zf.namelist():
            if not name.endswith(".csv") or name.startswith("molgenis"):
                continue
            reader = csv.DictReader(io.StringIO(zf.read(name).decode("utf-8")))
            out[name[:-4]] = {tuple(sorted((k, v) for k, v in r.items() if not k.startswith("mg_")))
                              for r in reader}
    return out


@pytest.fixture()
def migrator_workdir(tmp_path, monkeypatch):
    # the migrator keeps its zips next to its package; keep them in the test's folder instead
    monkeypatch.setattr(migrator, "BASE_DIR", tmp_path)
    monkeypatch.setattr(migrator_utils, "BASE_DIR", tmp_path)
    return tmp_path


def test_staging_migrator_and_emx2tui_agree(models_dir, migrator_workdir):
    with start_sandbox(load=_load(models_dir), admin_password=PASSWORD) as theirs, \
            start_sandbox(load=_load(models_dir), admin_password=PASSWORD) as ours:
        before = catalogue_rows(theirs)
        token = httpx.post(f"{theirs.url}/api/graphql", json={
            "query": "mutation($e:String,$p:String){signin(email:$e,password:$p){token}}",
            "variables": {"e": "admin", "p": PASSWORD}}).json()["data"]["signin"]["token"]
        sm = migrator.StagingMigrator(theirs.url, source="testCohort", target="catalogue",
                                      token=token)
        assert sm.resource_ids == ["testCohort"]
        sm.migrate()
        # the migrator stops polling as soon as the task is no longer RUNNING; let it finish
        for task_id in list(theirs.server.tasks.tasks):
            task = theirs.server.tasks.wait(task_id, timeout=60)
            assert task.status == "COMPLETED", task.description
        assert sm.errors == []
        assert not list(migrator_workdir.glob("*.zip"))   # it cleaned up after itself

        job = Job("CohortStagingToDataCatalogue",
                  Connection(ours.url, "testCohort", username="admin", password=PASSWORD),
                  Connection(ours.url, "catalogue", username="admin", password=PASSWORD))
        plan = asyncio.run(job.plan())
        result = asyncio.run(job.apply(plan))
        assert result.ok, result.error

        migrated, ours_rows = catalogue_rows(theirs), catalogue_rows(ours)
        changed = {t for t in migrated if migrated[t] != before.get(t)}
        assert {"Collections", "Collection events", "Variables"} <= changed
        assert set(migrated) == set(ours_rows)
        for table in sorted(migrated):
            assert ours_rows[table] == migrated[table], (
                f"{table}: emx2tui-only {sorted(ours_rows[table] - migrated[table])[:2]}, "
                f"migrator-only {sorted(migrated[table] - ours_rows[table])[:2]}")
