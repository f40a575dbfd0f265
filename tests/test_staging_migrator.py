"""The official staging migrator (molgenis-emx2-staging-migrator) against the sandbox.

Two `emx2tui sandbox serve` processes on loopback ports are loaded with the same three schemas.
`StagingMigrator.migrate()` moves the cohort staging area `testCohort` into `catalogue` on the
first; emx2tui's CohortStagingToDataCatalogue does the same on the second. Both catalogues are
then downloaded through `GET /catalogue/api/zip` and compared table by table.

What the comparison leaves out, and why:

- The audit columns (`mg_insertedBy`, `mg_insertedOn`, `mg_updatedBy`, `mg_updatedOn`) and
  `mg_tableclass`: the download is made without `includeSystemColumns`, so they are not in it.
  The audit values differ by nature (EMX2 resets them on every upsert, at different times on the
  two servers). `mg_tableclass` needs no comparison: the ZIP puts each row in the file of its
  own class, so a row in the wrong class would show up as a difference in that file.
- Nothing else. `mg_draft` (the one system column of a plain download) is compared like any
  other column, and so are `molgenis.csv` (the model) and `molgenis_settings.csv`: neither tool
  may change them, so they must be equal to each other and to what was loaded.

Found on the way: the migrator rewrites DATE cells through pandas, so it uploads
`2005-04-01 00:00:00` for a date. EMX2 parses that loosely and stores `2005-04-01`; the sandbox
stored the text as given until it learned EMX2's date parsing. With that fixed there is no
difference left.
"""

from __future__ import annotations

import asyncio
import csv
import io
import time
import zipfile

import httpx
import pytest

from molgenis_emx2_staging_migrator import migrator, utils as migrator_utils

from emx2tui.emx2.client import Connection
from emx2tui.jobs.runner import Job

PASSWORD = "Migr8-Pw-1"
SIGNIN = "mutation($e:String,$p:String){signin(email:$e,password:$p){token}}"
TERMINAL = {"COMPLETED", "ERROR", "CANCELLED", "SKIPPED"}


def _args(models_dir) -> list[str]:
    return ["--admin-password", PASSWORD,
            "--load", f"CatalogueOntologies={models_dir / 'catalogue-ontologies'}",
            "--load", f"catalogue={models_dir / 'catalogue'}",
            "--load", f"testCohort={models_dir / 'cohort-staging'}"]


def admin_token(url: str) -> str:
    r = httpx.post(f"{url}/api/graphql", json={"query": SIGNIN,
                                               "variables": {"e": "admin", "p": PASSWORD}})
    return r.json()["data"]["signin"]["token"]


def catalogue_files(url: str, token: str) -> dict[str, bytes]:
    """The files of `GET /catalogue/api/zip` (no system columns), by name."""
    r = httpx.get(f"{url}/catalogue/api/zip", headers={"x-molgenis-token": token}, timeout=120)
    assert r.status_code == 200, r.text
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def table_rows(files: dict[str, bytes]) -> dict[str, set[tuple]]:
    """Every table file as a set of rows (each row its sorted (column, value) pairs)."""
    out: dict[str, set[tuple]] = {}
    for name, data in files.items():
        if not name.endswith(".csv") or name in ("molgenis.csv", "molgenis_settings.csv"):
            continue
        reader = csv.DictReader(io.StringIO(data.decode("utf-8")))
        out[name[:-4]] = {tuple(sorted(r.items())) for r in reader}
    return out


def wait_for_all_tasks(url: str, token: str, timeout: float = 120) -> list[dict]:
    """Every task on the server, once each is in a terminal state (`GET /api/tasks`, admin)."""
    h = {"x-molgenis-token": token}
    deadline = time.monotonic() + timeout
    while True:
        listed = httpx.get(f"{url}/api/tasks", headers=h).json()["tasks"]
        if all(t["status"] in TERMINAL for t in listed) or time.monotonic() > deadline:
            return listed
        time.sleep(0.2)


@pytest.fixture()
def migrator_workdir(tmp_path, monkeypatch):
    # the migrator keeps its zips next to its package; keep them in the test's folder instead
    monkeypatch.setattr(migrator, "BASE_DIR", tmp_path)
    monkeypatch.setattr(migrator_utils, "BASE_DIR", tmp_path)
    return tmp_path


def test_staging_migrator_and_emx2tui_agree(models_dir, migrator_workdir, tmp_path,
                                            sandbox_process):
    with sandbox_process(tmp_path / "theirs.log", *_args(models_dir)) as theirs, \
            sandbox_process(tmp_path / "ours.log", *_args(models_dir)) as ours:
        their_token, our_token = admin_token(theirs), admin_token(ours)
        before = catalogue_files(theirs, their_token)
        sm = migrator.StagingMigrator(theirs, source="testCohort", target="catalogue",
                                      token=their_token)
        assert sm.resource_ids == ["testCohort"]
        sm.migrate()
        # the migrator stops polling as soon as the task is no longer RUNNING; let it finish
        tasks = wait_for_all_tasks(theirs, their_token)
        assert tasks, "the migrator submitted no import task"
        assert [t["status"] for t in tasks] == ["COMPLETED"] * len(tasks), tasks
        assert sm.errors == []
        assert not list(migrator_workdir.glob("*.zip"))   # it cleaned up after itself

        job = Job("CohortStagingToDataCatalogue",
                  Connection(ours, "testCohort", username="admin", password=PASSWORD),
                  Connection(ours, "catalogue", username="admin", password=PASSWORD))
        plan = asyncio.run(job.plan())
        result = asyncio.run(job.apply(plan))
        assert result.ok, result.error

        migrated_files = catalogue_files(theirs, their_token)
        our_files = catalogue_files(ours, our_token)

    for meta in ("molgenis.csv", "molgenis_settings.csv"):
        assert (meta in migrated_files) == (meta in before) == (meta in our_files), meta
        if meta in before:
            assert migrated_files[meta] == before[meta], f"the migrator changed {meta}"
            assert our_files[meta] == before[meta], f"emx2tui changed {meta}"
    before_rows = table_rows(before)
    migrated, ours_rows = table_rows(migrated_files), table_rows(our_files)
    changed = {t for t in migrated if migrated[t] != before_rows.get(t)}
    assert {"Collections", "Collection events", "Variables"} <= changed
    assert set(migrated) == set(ours_rows)
    for table in sorted(migrated):
        assert ours_rows[table] == migrated[table], (
            f"{table}: emx2tui-only {sorted(ours_rows[table] - migrated[table])[:2]}, "
            f"migrator-only {sorted(migrated[table] - ours_rows[table])[:2]}")
