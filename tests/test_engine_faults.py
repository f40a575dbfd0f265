"""What the engine does when the server misbehaves, with the sandbox's fault injection.

One test (at least) per fault kind: a failed import task, HTTP 500, a hang, a dropped
connection, slow answers and a token that expires mid-run. Reads are retried; a failed write
leaves the target exactly as it was and ends in a clear message.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from emx2tui.emx2.client import Connection, Emx2Client
from emx2tui.emx2.zipfmt import table_entries
from emx2tui.jobs.runner import Job
from emx2tui.sandbox.faults import parse_fault
from emx2tui.sandbox.server import start_sandbox

PASSWORD = "Fault-Pw-1"
STRATEGY = "CohortStagingToDataCatalogue"


def schemas(models_dir) -> list[tuple[str, str]]:
    return [("CatalogueOntologies", str(models_dir / "catalogue-ontologies")),
            ("catalogue", str(models_dir / "catalogue")),
            ("testCohort", str(models_dir / "cohort-staging"))]


@pytest.fixture(scope="module")
def sandbox(models_dir):
    with start_sandbox(admin_password=PASSWORD, load=schemas(models_dir)) as sb:
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
    assert result.target_state == "unchanged"
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
    assert result.target_state == "unchanged"     # the rows were read again: not applied
    assert snapshot(sandbox) == before


def test_dropped_connection_mid_download_is_retried(sandbox):
    csv_drop = sandbox.faults.add("drop", path="/api/csv", method="GET")
    j = job(sandbox)
    plan = asyncio.run(j.plan())
    assert csv_drop.fired == 1
    # the apply re-reads the target and backs up the rows it can change with filtered
    # downloads: the first of those is cut off once and retried
    apply_drop = sandbox.faults.add("drop", path="/catalogue/api/csv", method="GET")
    result = asyncio.run(j.apply(plan))
    assert result.ok, result.error
    assert apply_drop.fired == 1
    assert result.backup_path and Path(result.backup_path).stat().st_size > 0


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


@pytest.fixture()
def fresh(models_dir):
    """A sandbox of its own, for tests whose import lands."""
    with start_sandbox(admin_password=PASSWORD, load=schemas(models_dir)) as sb:
        yield sb


def arm_when_sent(sandbox, events: list, kind: str, **options):
    """An emitter that arms a fault once the import is about to be sent (so it hits only that)."""
    from emx2tui.jobs.events import WriteSent

    def emit(event):
        events.append(event)
        if isinstance(event, WriteSent):
            sandbox.faults.add(kind, **options)
    return emit


def test_dropped_import_answer_is_checked_and_reported_as_applied(fresh):
    from emx2tui.jobs import journal
    from emx2tui.jobs.events import RunFinished
    from emx2tui.jobs.restore import plan_restore

    j = job(fresh)
    plan = asyncio.run(j.plan())
    before = snapshot(fresh)
    fault = fresh.faults.add("drop", path="/api/zip", method="POST")
    events: list = []
    result = asyncio.run(j.apply(plan, events.append))
    assert fault.fired == 1 and not result.ok
    assert snapshot(fresh) != before                  # the server took the import on
    assert result.target_state == "changed"
    finished = [e for e in events if isinstance(e, RunFinished)][-1]
    assert finished.target_state == "changed"
    assert "not changed" not in finished.summary and "applied" in finished.summary
    assert f"emx2tui restore {result.run_id}" in result.error
    record = journal.get_run(result.run_id)
    assert record.outcome == "applied" and record.backup == result.backup_path
    rplan = asyncio.run(plan_restore(record, conn(fresh, None)))
    assert not rplan.is_empty


def test_gateway_timeout_on_the_import_asks_the_server_and_reports_it_applied(fresh):
    # a proxy in front of the server answers 504 while the server takes the import on
    from emx2tui.jobs import journal
    from emx2tui.jobs.restore import apply_restore, plan_restore

    j = job(fresh)
    plan = asyncio.run(j.plan())
    before = snapshot(fresh)
    fault = fresh.faults.add("gateway", path="/api/zip", method="POST")
    result = asyncio.run(j.apply(plan))
    assert fault.fired == 1 and not result.ok and "HTTP 504" in result.error
    assert snapshot(fresh) != before
    assert result.target_state == "changed"
    record = journal.get_run(result.run_id)
    assert record.outcome == "applied"
    rplan = asyncio.run(plan_restore(record, conn(fresh, None)))
    assert not rplan.is_empty
    restored = asyncio.run(apply_restore(rplan, lambda e: None))
    assert restored.ok and snapshot(fresh) == before


def test_lost_task_polling_asks_the_server_again(fresh):
    from emx2tui.jobs import journal

    j = job(fresh)
    plan = asyncio.run(j.plan())
    events: list = []
    # every poll of the first client is cut off; the check afterwards reaches the server
    result = asyncio.run(j.apply(plan, arm_when_sent(fresh, events, "drop", path="/api/graphql",
                                                     times=3)))
    assert not result.ok and "broke off the connection" in result.error
    assert result.target_state == "changed"
    assert any("import task completed" in getattr(e, "message", "") for e in events)
    assert journal.get_run(result.run_id).outcome == "applied"


def test_interrupted_run_journals_its_backup_and_can_be_restored(fresh, monkeypatch):
    from emx2tui.jobs import journal
    from emx2tui.jobs.restore import apply_restore, plan_restore

    monkeypatch.setenv("EMX2TUI_HTTP_TIMEOUT", "30")
    j = job(fresh)
    plan = asyncio.run(j.plan())
    before = snapshot(fresh)
    events: list = []
    # the import is accepted, then the task poll hangs and the apply is given up (a killed run)
    with pytest.raises(asyncio.TimeoutError):
        asyncio.run(asyncio.wait_for(j.apply(plan, arm_when_sent(
            fresh, events, "hang", path="/api/graphql", seconds=20)), 4))
    fresh.faults.clear()
    fresh.faults.release()
    record = journal.list_runs(1)[0]
    assert record.outcome == "running" and record.backup and record.backup.endswith(".zip")
    time.sleep(0.5)
    assert snapshot(fresh) != before                 # the import landed meanwhile
    rplan = asyncio.run(plan_restore(record, conn(fresh, None)))
    assert rplan.partial and not rplan.is_empty
    assert "not known whether" in "\n".join(rplan.describe())
    assert asyncio.run(apply_restore(rplan)).ok
    assert snapshot(fresh) == before
