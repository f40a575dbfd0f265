"""Restore end to end on the sandbox loaded with the reference models.

An insert run, then a run with updates and deletes; restoring the second and then the first
brings the catalogue's full export back to exactly what it was before each.
"""

from __future__ import annotations

import asyncio
import io
import json
import stat
from pathlib import Path

import pytest
from conftest import cohort_sandbox

from frameedit import with_cell

from emx2tui import cli
from emx2tui.emx2 import csvfmt
from emx2tui.emx2.client import Connection, Emx2Client
from emx2tui.emx2.frames import write_frame
from emx2tui.emx2.zipfmt import table_entries
from emx2tui.jobs import journal
from emx2tui.jobs.events import Event, RunFinished, StepFinished, StepStarted
from emx2tui.jobs.restore import apply_restore, plan_restore
from emx2tui.jobs.runner import Job

server = pytest.importorskip("emx2tui.sandbox.server")

PASSWORD = "R3store-Secret-Pw"
STRATEGY = "CohortStagingToDataCatalogue"


@pytest.fixture()
def sandbox(models_dir):
    with cohort_sandbox(models_dir, PASSWORD) as sb:
        yield sb


def conn(sb, schema: str | None = None) -> Connection:
    return Connection(sb.url, schema, username="admin", password=PASSWORD)


def run(coro):
    return asyncio.run(coro)


def snapshot(sb, schema: str = "catalogue") -> dict[str, tuple[list[str], list[str]]]:
    """Every table of the export: its header and its rows (as sorted lines, order-free)."""
    async def go():
        async with Emx2Client(conn(sb)) as c:
            return table_entries(await c.download_zip(schema))
    out = {}
    for table, text in run(go()).items():
        header, rows = csvfmt.read_csv(text)
        out[table] = (header, sorted(json.dumps([r.get(h, "") for h in header]) for r in rows))
    return out


def publish(sb) -> tuple[Job, object]:
    job = Job(STRATEGY, conn(sb, "testCohort"), conn(sb, "catalogue"))
    plan = run(job.plan())
    result = run(job.apply(plan))
    assert result.ok, result.error
    return job, result


def edit_staging(sb) -> tuple[dict, dict]:
    """Delete one staging variable and change another (neither referenced elsewhere)."""
    async def go():
        async with Emx2Client(conn(sb)) as c:
            variables = await c.download_table("testCohort", "Variables")
            values = await c.download_table("testCohort", "Variable values")
            mappings = await c.download_table("testCohort", "Variable mappings")
            used = set(zip(values["table"], values["variable"]))
            for t, vs in zip(mappings["source table"], mappings["source variables"]):
                used |= {(t, v) for v in csvfmt.split_array(vs)}
            free = variables.where((t, n) not in used for t, n in zip(variables["table"], variables["name"]))
            gone, changed = free.records()[0], free.slice(1, 2)
            await c.delete_rows("testCohort", "Variables", csvfmt.write_csv(
                ["resource", "table", "name"], [gone]))
            changed = changed.assign("description", "changed in staging")
            await c.upload_csv("testCohort", "Variables", write_frame(changed))
            return gone, changed.records()[0]
    return run(go())


def edit_catalogue_row(sb, table: str, value: str) -> None:
    async def go():
        async with Emx2Client(conn(sb)) as c:
            df = await c.download_table("catalogue", table, {"resource": {"id": {"equals": "testCohort"}}})
            row = df.slice(0, 1).assign("description", value)
            await c.upload_csv("catalogue", table, write_frame(row))
    run(go())


def restore(record, *, force=False, emit=None):
    target = Connection(record.target.url, username="admin", password=PASSWORD)
    plan = run(plan_restore(record, target))
    return plan, run(apply_restore(plan, emit or (lambda e: None), force=force))


def mode(path: str | Path) -> int:
    return stat.S_IMODE(Path(path).stat().st_mode)


def test_restore_brings_back_the_rows_before_each_run(sandbox):
    before_first = snapshot(sandbox)
    _, first = publish(sandbox)
    assert first.run_id and journal.get_run(first.run_id).outcome == "ok"

    gone, changed = edit_staging(sandbox)
    before_second = snapshot(sandbox)
    assert before_second != before_first
    job2 = Job(STRATEGY, conn(sandbox, "testCohort"), conn(sandbox, "catalogue"))
    plan2 = run(job2.plan())
    assert plan2.table("Variables").updates == 1 and plan2.total_delete_rows == 1
    second = run(job2.apply(plan2))
    assert second.ok, second.error
    after_second = snapshot(sandbox)
    assert after_second != before_second

    rec2 = journal.get_run(second.run_id)
    var = rec2.tables["Variables"]
    assert var.updated_keys == [["testCohort", changed["table"], changed["name"]]]
    assert var.deleted_keys == [["testCohort", gone["table"], gone["name"]]]
    assert (var.updated, var.deleted) == (1, 1)
    assert rec2.backup and Path(rec2.backup).exists() and rec2.after
    # the backup holds the rows the run changes as they were before it, not the whole cohort
    held = table_entries(Path(rec2.backup).read_bytes())
    _, backed_up = csvfmt.read_csv(held["Variables"])
    by_key = {(r["table"], r["name"]): r for r in backed_up}
    assert {(gone["table"], gone["name"]), (changed["table"], changed["name"])} <= set(by_key)
    assert by_key[(changed["table"], changed["name"])]["description"] != "changed in staging"
    cohort_variables = [line for line in before_second["Variables"][1] if '"testCohort"' in line]
    assert len(backed_up) < len(cohort_variables)

    # restore the second run: the catalogue is exactly as before it
    events: list[Event] = []
    plan, result = restore(rec2, emit=events.append)
    assert not plan.conflicts and plan.totals() == {"reinsert": 1, "revert": 1, "remove": 0}
    assert result.ok, result.error
    assert snapshot(sandbox) == before_second
    assert [e.step for e in events if isinstance(e, StepStarted)] == ["backup", "upload"]
    assert all(e.status == "done" for e in events if isinstance(e, StepFinished))
    assert isinstance(events[-1], RunFinished) and events[-1].ok
    undo = journal.get_run(result.run_id)
    assert undo.kind == "restore" and undo.restores == rec2.run_id and undo.outcome == "ok"
    assert undo.backup and mode(undo.backup) == 0o600

    # a second restore of the same run finds nothing left to do
    again = run(plan_restore(rec2, conn(sandbox)))
    assert again.is_empty and not again.conflicts

    # a restore can be undone: restoring the restore brings the second run's rows back
    _, redo = restore(undo)
    assert redo.ok, redo.error
    assert snapshot(sandbox) == after_second
    _, result = restore(rec2)
    assert result.ok, result.error
    assert snapshot(sandbox) == before_second

    # restore the first run too: back to the catalogue before any run
    plan1, result1 = restore(journal.get_run(first.run_id))
    assert not plan1.conflicts, [c.describe() for c in plan1.conflicts]
    assert plan1.totals()["remove"] > 20
    assert result1.ok, result1.error
    assert snapshot(sandbox) == before_first

    # journal, read-backs and backups: owner-only, and never a password
    folder = journal.journal_dir()
    files = list(folder.iterdir()) + [Path(r.backup) for r in journal.list_runs() if r.backup]
    assert len(files) > 8 and all(mode(p) == 0o600 for p in files)
    assert all(PASSWORD.encode() not in p.read_bytes() for p in files)


def test_restore_refuses_rows_changed_since_unless_forced(sandbox, monkeypatch):
    before = snapshot(sandbox)
    monkeypatch.setenv("MG_TARGET_USERNAME", "admin")
    monkeypatch.setenv("MG_TARGET_PASSWORD", PASSWORD)
    monkeypatch.setenv("MG_SOURCE_USERNAME", "admin")
    monkeypatch.setenv("MG_SOURCE_PASSWORD", PASSWORD)
    code, out, err = main(["run", STRATEGY, "--source-url", sandbox.url, "--source-schema", "testCohort",
                           "--target-url", sandbox.url, "--target-schema", "catalogue"])
    assert code == 0, err
    run_id = out.rsplit("undo with: emx2tui restore ", 1)[1].split()[0]
    first = journal.get_run(run_id)
    code, out, err = main(["history"])
    assert code == 0 and run_id in out and "ok" in out
    edit_catalogue_row(sandbox, "Tables", "edited by someone else")
    edited = snapshot(sandbox)

    plan = run(plan_restore(journal.get_run(first.run_id), conn(sandbox)))
    assert [c.table for c in plan.conflicts] == ["Tables"]
    text = "\n".join(plan.describe())
    assert "changed since the run" in text and "edited by someone else" in text

    result = run(apply_restore(plan))
    assert not result.ok and "--force" in result.error
    assert snapshot(sandbox) == edited

    # the same through the command line: refused (3), then forced
    code, out, err = main(["restore", first.run_id, "--yes"])
    assert code == 3 and "--force" in err and "edited by someone else" in out
    assert snapshot(sandbox) == edited
    code, out, err = main(["restore", first.run_id, "--dry-run", "--force"])
    assert code == 0 and "Dry run: nothing was changed" in out
    assert snapshot(sandbox) == edited
    code, out, err = main(["restore", first.run_id, "--force"])  # no terminal, no --yes
    assert code == 3 and "pass --yes" in err
    code, out, err = main(["restore", first.run_id, "--force", "--yes"])
    assert code == 0, err
    assert "undo with: emx2tui restore" in out
    assert snapshot(sandbox) == before
    assert PASSWORD not in out + err


def test_failed_run_is_journalled_and_has_nothing_to_restore(sandbox):
    job = Job(STRATEGY, conn(sandbox, "testCohort"), conn(sandbox, "catalogue"))
    plan = run(job.plan())
    tp = plan.table("Collections")
    tp.frame = with_cell(tp.frame, 0, "countries", "Atlantis")
    tp.actions[0] = "update"
    result = run(job.apply(plan))
    assert not result.ok and result.run_id
    record = journal.get_run(result.run_id)
    assert record.outcome == "failed" and "Atlantis" in (record.error or "")
    rplan = run(plan_restore(record, conn(sandbox)))
    assert rplan.is_empty and "failed" in rplan.nothing
    assert run(apply_restore(rplan)).ok


def main(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    args = cli.build_parser().parse_args(argv)
    from emx2tui.jobs.headless import run_main
    from emx2tui.jobs.history_cmd import history_main, restore_main

    class Pipe(io.StringIO):
        def isatty(self) -> bool:
            return False

    if args.command == "history":
        code = history_main(args, stdout=out, stderr=err)
    elif args.command == "run":
        code = run_main(args, stdout=out, stderr=err, stdin=Pipe(""))
    else:
        code = restore_main(args, stdout=out, stderr=err, stdin=Pipe(""))
    return code, out.getvalue(), err.getvalue()
