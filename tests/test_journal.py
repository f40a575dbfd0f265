"""The run journal: records, files and modes, no secrets; `emx2tui history` and `restore` errors."""

from __future__ import annotations

import asyncio
import io
import json
import stat
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from emx2tui import cli
from emx2tui.emx2.client import Connection
from emx2tui.emx2.frames import frame_from_rows
from emx2tui.jobs import journal
from emx2tui.jobs.history_cmd import history_main, restore_main
from emx2tui.jobs.plan import Plan, TablePlan
from emx2tui.jobs.runner import RunResult

TOKEN = "tok-Journal-Secret-1"
PASSWORD = "Journal-Secret-Pw-2"


class Pipe(io.StringIO):
    def isatty(self) -> bool:
        return False


def fake_job(url: str = "https://me:" + PASSWORD + "@catalogue.example.org/") -> SimpleNamespace:
    source = Connection("https://staging.example.org", "testCohort", token=TOKEN)
    target = Connection(url, "catalogue", username="editor", password=PASSWORD)
    return SimpleNamespace(source=source, target=target, secrets=source.secrets + target.secrets)


def fake_plan() -> Plan:
    keys = ["resource", "name"]
    frame = frame_from_rows([{"resource": "c1", "name": "a", "x": "1"},
                             {"resource": "c1", "name": "b", "x": "2"},
                             {"resource": "c1", "name": "c", "x": "3"}])
    sync = TablePlan("Variables", "resource = c1", rows=3, inserts=1, updates=1, unchanged=1,
                     frame=frame, key_columns=keys, columns=["resource", "name", "x"],
                     actions=["insert", "update", "unchanged"])
    gone = TablePlan("Variables", "resource = c1", rows=4, deletes=1, key_columns=keys,
                     deleted_frame=frame_from_rows([{"resource": "c1", "name": "z", "x": "9"}]))
    return Plan("CohortStagingToDataCatalogue", "B", "testCohort", "catalogue", "c1", sync=[sync],
                delete=[gone], source_schema="testCohort", target_schema="catalogue")


def journal_files() -> list[Path]:
    return sorted(journal.journal_dir().iterdir())


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def main(argv: list[str]) -> tuple[int, str, str]:
    args = cli.build_parser().parse_args(argv)
    out, err = io.StringIO(), io.StringIO()
    if args.command == "history":
        code = history_main(args, stdout=out, stderr=err)
    else:
        code = restore_main(args, stdout=out, stderr=err, stdin=Pipe(""))
    return code, out.getvalue(), err.getvalue()


def failed_run(error: str = "boom") -> journal.RunRecord:
    job = fake_job()
    record = journal.begin_run(job, fake_plan())
    assert record is not None
    asyncio.run(journal.end_run(record, job, RunResult(ok=False, error=error, duration=1.5)))
    return journal.get_run(record.run_id)


# ----------------------------------------------------------------------------- records
def test_begin_run_journals_the_plan_keys_before_any_write():
    record = journal.begin_run(fake_job(), fake_plan())
    assert record is not None
    assert journal.RUN_ID.match(record.run_id)
    saved = journal.get_run(record.run_id)
    assert saved.outcome == "running" and saved.kind == "run"
    var = saved.tables["Variables"]
    assert var.key_columns == ["resource", "name"]
    assert (var.inserted, var.updated, var.unchanged, var.deleted) == (1, 1, 1, 1)
    assert (var.inserted_keys, var.updated_keys, var.deleted_keys) == ([["c1", "a"]], [["c1", "b"]], [["c1", "z"]])
    assert saved.target.url == "https://catalogue.example.org" and saved.target.user == "editor"
    assert saved.source.schema == "testCohort" and saved.source.user is None
    assert saved.os_user and saved.started


def test_outcome_error_files_and_modes_without_secrets():
    record = failed_run(f"server said: bad password {PASSWORD} and token {TOKEN}")
    assert record.outcome == "failed" and record.finished and record.duration == 1.5
    assert PASSWORD not in record.error and TOKEN not in record.error and "***" in record.error
    files = journal_files()
    assert [p.name for p in files] == [f"{record.run_id}.json"]  # no temporary files left
    assert mode(files[0]) == 0o600 and mode(journal.journal_dir()) == 0o700
    text = files[0].read_text()
    assert PASSWORD not in text and TOKEN not in text
    assert json.loads(text)["format"] == journal.FORMAT


def test_cancelled_and_list_order_limit_and_prefix():
    ids = []
    for _ in range(3):
        record = journal.begin_run(fake_job(), fake_plan())
        asyncio.run(journal.end_run(record, fake_job(), RunResult(ok=False, cancelled=True,
                                                                   error="cancelled")))
        ids.append(record.run_id)
    runs = journal.list_runs()
    # newest first, also for runs that start within one second (their ids end at random)
    assert [r.run_id for r in runs] == ids[::-1]
    assert {r.outcome for r in runs} == {"cancelled"}
    assert len(journal.list_runs(limit=2)) == 2
    assert journal.get_run(ids[0][:-1]).run_id == ids[0] or len({i[:-1] for i in ids}) < 3
    with pytest.raises(journal.UnknownRun):
        journal.get_run("20000101-000000-0000")
    with pytest.raises(journal.UnknownRun, match="is the start of 3 runs"):
        journal.get_run(ids[0][:2])


def test_unreadable_records_are_skipped_in_listings():
    failed_run()
    (journal.journal_dir() / "20000101-000000-abcd.json").write_text("{not json")
    (journal.journal_dir() / "20000101-000000-abce.json").write_text("[]")
    (journal.journal_dir() / "20000101-000000-abcf.json").write_text(
        '{"run_id": "x", "kind": "run", "strategy": "s", "target": {"url": "u"}, "tables": "x"}')
    assert len(journal.list_runs()) == 1
    for run_id in ("20000101-000000-abce", "20000101-000000-abcf"):
        with pytest.raises(journal.JournalError):
            journal.get_run(run_id)
    code, out, err = main(["history"])
    assert code == 0 and "Traceback" not in err


# ----------------------------------------------------------------------------- history command
def test_history_lists_and_shows_runs():
    code, out, _ = main(["history"])
    assert code == 0 and "No runs in the journal" in out
    record = failed_run()
    code, out, _ = main(["history", "--limit", "5"])
    assert code == 0 and record.run_id in out and "failed" in out
    assert "CohortStagingToDataCatalogue" in out and "+1 ~1 -1" in out
    code, out, _ = main(["history", "--json"])
    data = json.loads(out)
    assert data[0]["run_id"] == record.run_id and data[0]["totals"]["deleted"] == 1
    assert "inserted_keys" not in json.dumps(data)
    code, out, _ = main(["history", record.run_id])
    assert code == 0 and "outcome" in out and "Variables" in out and "boom" in out
    assert "backup     -" in out
    code, out, _ = main(["history", record.run_id, "--json"])
    assert json.loads(out)["tables"]["Variables"]["deleted_keys"] == [["c1", "z"]]
    code, _, err = main(["history", "nope"])
    assert code == 2 and err.count("\n") == 1 and "No run 'nope'" in err


# ----------------------------------------------------------------------------- restore command
def ok_record(url: str, backup: Path | None) -> journal.RunRecord:
    job = fake_job(url)
    record = journal.begin_run(job, fake_plan())
    record.outcome, record.backup = "ok", str(backup) if backup else None
    journal.save(record)
    return record


def test_restore_errors_are_one_line():
    code, _, err = main(["restore", "20000101-000000-0000", "--yes"])
    assert code == 2 and err.count("\n") == 1 and "emx2tui history" in err

    record = failed_run()
    code, out, err = main(["restore", record.run_id, "--yes"])
    assert code == 0 and "Nothing to restore" in out and "before it wrote anything" in out

    missing = journal.backups.data_dir() / "backups" / "gone.zip"
    record = ok_record("http://127.0.0.1:9", missing)
    code, out, err = main(["restore", record.run_id, "--yes", "--target-token", TOKEN])
    assert code == 1 and err.count("\n") == 1 and "is missing" in err and str(missing) in err

    backup = journal.backups.data_dir() / "backups" / "b.zip"
    backup.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(backup, "w") as zf:
        zf.writestr("Variables.csv", "resource,name,x\nc1,b,0\nc1,z,8\n")
    record = ok_record("http://127.0.0.1:9", backup)
    code, out, err = main(["restore", record.run_id, "--yes", "--target-token", TOKEN])
    assert code == 1 and err.count("\n") == 1 and "cannot be reached" in err
    assert TOKEN not in out + err


def test_restore_refuses_another_server_or_schema():
    from emx2tui.jobs.restore import RestoreError, plan_restore

    record = ok_record("https://catalogue.example.org", None)
    with pytest.raises(RestoreError, match="wrote to https://catalogue.example.org"):
        asyncio.run(plan_restore(record, Connection("https://other.example.org", token=TOKEN)))
    with pytest.raises(RestoreError, match="schema 'catalogue'"):
        asyncio.run(plan_restore(record, Connection("https://catalogue.example.org", "other")))
    with pytest.raises(RestoreError, match="no backup"):
        asyncio.run(plan_restore(record, Connection("https://catalogue.example.org")))


def test_restore_asks_on_a_terminal(monkeypatch):
    from emx2tui.jobs import history_cmd
    from emx2tui.jobs.headless import Printer

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    plan = SimpleNamespace(totals=lambda: {"reinsert": 1, "revert": 2, "remove": 3}, schema="catalogue",
                           record=SimpleNamespace(run_id="20261203-191500-ab12",
                                                  target=SimpleNamespace(url="https://x.example.org")))
    out, err = io.StringIO(), io.StringIO()
    printer = Printer(out, err, [])
    assert history_cmd.confirm(plan, Tty("y\n"), printer)
    assert "Restore 6 rows of 'catalogue' on https://x.example.org" in out.getvalue()
    assert not history_cmd.confirm(plan, Tty("n\n"), printer)
    assert "Not confirmed" in err.getvalue()
    assert not history_cmd.confirm(plan, Pipe("y\n"), printer)
    assert "pass --yes" in err.getvalue()
