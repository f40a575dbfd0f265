"""What the engine does when the server misbehaves, with the sandbox's fault injection.

One test (at least) per fault kind: a failed import task, HTTP 500, a hang, a dropped
connection, slow answers and a token that expires mid-run. Reads are retried; a failed write
leaves the target exactly as it was and ends in a clear message.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from emx2tui.emx2.client import Connection, Emx2Client
from emx2tui.emx2.zipfmt import table_entries
from emx2tui.jobs.runner import Job
from emx2tui.sandbox.faults import parse_fault
from emx2tui.sandbox.server import start_sandbox

PASSWORD = "Fault-Pw-1"
STRATEGY = "CohortStagingToDataCatalogue"


@pytest.fixture(scope="module")
def sandbox(models_dir):
    with start_sandbox(admin_password=PASSWORD, load=[
            ("CatalogueOntologies", str(models_dir / "catalogue-ontologies")),
            ("catalogue", str(models_dir / "catalogue")),
            ("testCohort", str(models_dir / "cohort-staging"))]) as sb:
        yield sb


@pytest.fixture(autouse=True)
def _quick_timeouts(sandbox, monkeypatch):
    monkeypatch.setenv("EMX2TUI_HTTP_TIMEOUT", "1.5")
    sandbox.faults.clear()
    yield
    sandbox.faults.clear()


def conn(sb, schema: str, token: str | None = None) -> Connection:
    if token:
        return Connection(sb.url, schema, token=token)
    return Connection(sb.url, schema, username="admin", password=PASSWORD)


def job(sb, token: str | None = None) -> Job:
    return Job(STRATEGY, conn(sb, "testCohort", token), conn(sb, "catalogue", token))


def snapshot(sb) -> dict[str, str]:
    async def get():
        async with Emx2Client(conn(sb, "catalogue")) as c:
            return table_entries(await c.download_zip("catalogue"))
    return asyncio.run(get())


def test_fault_specs_parse():
    f = parse_fault("http500:nth=3,path=/api/zip,method=POST")
    assert (f.kind, f.nth, f.path, f.method) == ("http500", 3, "/api/zip", "POST")
    f = parse_fault("task-error:message=disk full, try later")
    assert f.message == "disk full, try later"
    assert parse_fault("slow:seconds=0.2").seconds == 0.2
    with pytest.raises(Exception, match="unknown kind"):
        parse_fault("explode")


def test_failed_import_task_leaves_target_unchanged(sandbox):
    j = job(sandbox)
    plan = asyncio.run(j.plan())
    before = snapshot(sandbox)
    fault = sandbox.faults.add("task-error", message="disk full on the database server")
    result = asyncio.run(j.apply(plan))
    assert not result.ok and fault.fired == 1
    assert "Import failed: disk full on the database server" in result.error
    assert result.backup_path  # the backup was made before the import was sent
    assert snapshot(sandbox) == before


def test_http_500_on_the_import_fails_cleanly(sandbox):
    j = job(sandbox)
    plan = asyncio.run(j.plan())
    before = snapshot(sandbox)
    fault = sandbox.faults.add("http500", path="/api/zip", method="POST",
                               message="Jetty: internal error")
    result = asyncio.run(j.apply(plan))
    assert not result.ok and fault.fired == 1     # a write is never sent twice
    assert "HTTP 500" in result.error and "Jetty: internal error" in result.error
    assert snapshot(sandbox) == before


def test_http_500_on_a_read_is_retried(sandbox):
    fault = sandbox.faults.add("http500", path="/api/csv", method="GET", times=2)
    plan = asyncio.run(job(sandbox).plan())
    assert fault.fired == 2 and plan.total_writes > 0


def test_hanging_read_times_out_and_is_retried(sandbox):
    fault = sandbox.faults.add("hang", path="/api/csv", method="GET")
    started = time.monotonic()
    plan = asyncio.run(job(sandbox).plan())
    assert fault.fired == 1 and plan.total_writes > 0
    assert time.monotonic() - started >= 1.5     # one timeout was waited out


def test_hanging_import_ends_with_a_timeout_and_no_change(sandbox):
    j = job(sandbox)
    plan = asyncio.run(j.plan())
    before = snapshot(sandbox)
    sandbox.faults.add("hang", path="/api/zip", method="POST", seconds=30)
    result = asyncio.run(j.apply(plan))
    assert not result.ok and "did not answer in time" in result.error
    assert snapshot(sandbox) == before


def test_dropped_connection_mid_download_is_retried(sandbox):
    csv_drop = sandbox.faults.add("drop", path="/api/csv", method="GET")
    zip_drop = sandbox.faults.add("drop", path="/api/zip", method="GET")
    j = job(sandbox)
    plan = asyncio.run(j.plan())
    assert csv_drop.fired == 1
    result = asyncio.run(j.apply(plan))     # its backup download is cut off once
    assert result.ok, result.error
    assert zip_drop.fired == 1


def test_slow_server_still_completes_and_too_slow_fails_clearly(sandbox):
    slow = sandbox.faults.add("slow", seconds=0.02)
    plan = asyncio.run(job(sandbox).plan())
    assert plan.strategy == STRATEGY and slow.fired >= 5
    sandbox.faults.clear()
    sandbox.faults.add("slow", seconds=3)
    with pytest.raises(Exception, match="did not answer in time"):
        asyncio.run(job(sandbox).plan())


def test_token_expiring_mid_run_is_refused_and_target_unchanged(sandbox):
    async def make_token() -> str:
        async with Emx2Client(conn(sandbox, None)) as c:
            data = await c.query(None, 'mutation{createToken(email:"admin",tokenName:"cron")'
                                       '{status token}}')
        return data["createToken"]["token"]
    token = asyncio.run(make_token())
    j = job(sandbox, token)
    plan = asyncio.run(j.plan())
    before = snapshot(sandbox)
    # the first request of the apply to the target schema expires every token issued so far
    fault = sandbox.faults.add("expire-token", path="/catalogue/graphql")
    result = asyncio.run(j.apply(plan))
    assert fault.fired == 1 and not result.ok
    assert "token was refused" in result.error and token not in result.error
    assert snapshot(sandbox) == before
