"""The headless runner: plan printout, dry runs, delete confirmation, exit codes, no secrets."""

from __future__ import annotations

import argparse
import asyncio
import gc
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import cohort_sandbox

from emx2tui.cli import build_parser, loading
from emx2tui.emx2 import csvfmt
from emx2tui.emx2.client import Connection, Emx2Client
from emx2tui.emx2.zipfmt import table_entries
from emx2tui.jobs.headless import run_main, strategies_main

server = pytest.importorskip("emx2tui.sandbox.server")

PASSWORD = "Hdl3ss-Secret-Pw"


@pytest.fixture()
def sandbox(models_dir):
    with cohort_sandbox(models_dir, PASSWORD) as sb:
        yield sb


@pytest.fixture()
def creds(monkeypatch):
    for side in ("SOURCE", "TARGET"):
        monkeypatch.setenv(f"MG_{side}_USERNAME", "admin")
        monkeypatch.setenv(f"MG_{side}_PASSWORD", PASSWORD)


class Pipe(io.StringIO):
    def isatty(self) -> bool:
        return False


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def cli(argv: list[str], stdin=None) -> tuple[int, str, str]:
    args = build_parser().parse_args(argv)
    out, err = io.StringIO(), io.StringIO()
    code = run_main(args, stdout=out, stderr=err, stdin=stdin or Pipe(""))
    return code, out.getvalue(), err.getvalue()


def flow_b(sb) -> list[str]:
    return ["run", "CohortStagingToDataCatalogue", "--source-url", sb.url, "--source-schema", "testCohort",
            "--target-url", sb.url, "--target-schema", "catalogue"]


def export(sb) -> dict[str, str]:
    async def go():
        async with Emx2Client(Connection(sb.url, username="admin", password=PASSWORD)) as c:
            return table_entries(await c.download_zip("catalogue"))
    return asyncio.run(go())


def remove_a_staging_variable(sb) -> None:
    async def go():
        async with Emx2Client(Connection(sb.url, username="admin", password=PASSWORD)) as c:
            variables = await c.download_table("testCohort", "Variables")
            values = await c.download_table("testCohort", "Variable values")
            mappings = await c.download_table("testCohort", "Variable mappings")
            used = set(zip(values["table"], values["variable"]))
            for t, vs in zip(mappings["source table"], mappings["source variables"]):
                used |= {(t, v) for v in csvfmt.split_array(vs)}
            free = variables.where((t, n) not in used for t, n in zip(variables["table"], variables["name"]))
            await c.delete_rows("testCohort", "Variables", csvfmt.write_csv(
                ["resource", "table", "name"], free.records()[:1]))
    asyncio.run(go())


def test_strategies_command_lists_flow_models_and_versions():
    out = io.StringIO()
    assert strategies_main(argparse.Namespace(), stdout=out) == 0
    text = out.getvalue()
    assert "FillStaging  (flow A" in text and "CohortStagingToDataCatalogue  (flow B" in text
    assert "DataCatalogueFlat >=9.0.0, <10" in text and "CohortsStaging" in text


def test_usage_errors_exit_2():
    code, _, err = cli(["run", "NoSuchStrategy"])
    assert code == 2 and "Known strategies" in err
    code, _, err = cli(["run", "FillStaging"])
    assert code == 2 and "--source-url" in err


def test_server_down_is_one_line_exit_1(creds):
    code, out, err = cli(["run", "FillStaging", "--source-url", "http://127.0.0.1:9", "--target-url",
                          "http://127.0.0.1:9", "--target-schema", "x"])
    assert code == 1
    assert "cannot be reached" in err and "Traceback" not in out + err


def test_wrong_password_and_unknown_schema(sandbox, monkeypatch):
    monkeypatch.setenv("MG_SOURCE_USERNAME", "admin")
    monkeypatch.setenv("MG_SOURCE_PASSWORD", "not-the-" + PASSWORD)
    monkeypatch.setenv("MG_TARGET_TOKEN", "garbage-token-" + PASSWORD)
    code, out, err = cli(flow_b(sandbox))
    assert code == 1 and "Sign-in as 'admin'" in err
    assert PASSWORD not in out + err
    monkeypatch.setenv("MG_SOURCE_PASSWORD", PASSWORD)
    monkeypatch.setenv("MG_TARGET_USERNAME", "admin")
    monkeypatch.setenv("MG_TARGET_PASSWORD", PASSWORD)
    monkeypatch.delenv("MG_TARGET_TOKEN")
    argv = flow_b(sandbox)
    argv[argv.index("catalogue")] = "noSuchSchema"
    code, out, err = cli(argv)
    assert code == 1 and "noSuchSchema" in err and "Traceback" not in out + err


def test_dry_run_confirmation_and_apply(sandbox, creds):
    # first publication: inserts only, no confirmation needed
    code, out, err = cli(flow_b(sandbox))
    assert code == 0, err
    assert "Variables" in out and "Backup of the target:" in out
    remove_a_staging_variable(sandbox)
    before = export(sandbox)

    code, out, err = cli(flow_b(sandbox) + ["--dry-run"])
    assert code == 0 and "Dry run: nothing was changed" in out
    assert export(sandbox) == before

    code, out, err = cli(flow_b(sandbox))  # stdin is not a terminal
    assert code == 3 and "pass --yes" in err
    assert export(sandbox) == before

    code, out, err = cli(flow_b(sandbox), stdin=Tty("n\n"))
    assert code == 3 and export(sandbox) == before

    code, out, err = cli(flow_b(sandbox) + ["--yes"])
    assert code == 0, err
    assert "1 deleted" in out
    assert export(sandbox) != before
    assert PASSWORD not in out + err
    backups = list((Path(os.environ["EMX2TUI_DATA_DIR"]) / "backups").glob("catalogue@*.zip"))
    assert backups and all(p.stat().st_mode & 0o777 == 0o600 for p in backups)


def test_cli_entry_demo_dry_run_and_refusal(tmp_path):
    env = {**os.environ, "EMX2TUI_DATA_DIR": str(tmp_path)}
    base = [sys.executable, "-m", "emx2tui", "run", "CohortStagingToDataCatalogue", "--demo"]
    proc = subprocess.run(base + ["--dry-run"], capture_output=True, text=True, env=env,
                          stdin=subprocess.DEVNULL, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "Plan: CohortStagingToDataCatalogue" in proc.stdout and "Dry run" in proc.stdout
    proc = subprocess.run(base, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL,
                          timeout=300)
    assert proc.returncode == 3
    assert "pass --yes" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "backups").exists()


@pytest.mark.parametrize("data_dir", [False, True])
def test_demo_runs_stay_out_of_the_users_journal(tmp_path, data_dir):
    # the user's data dir: by XDG_DATA_HOME, or EMX2TUI_DATA_DIR when set
    env = {k: v for k, v in os.environ.items() if k != "EMX2TUI_DATA_DIR"}
    env.update(XDG_DATA_HOME=str(tmp_path / "xdg"), HOME=str(tmp_path))
    if data_dir:
        env["EMX2TUI_DATA_DIR"] = str(tmp_path / "data")
    proc = subprocess.run([sys.executable, "-m", "emx2tui", "run", "CohortStagingToDataCatalogue",
                           "--demo", "--yes"], capture_output=True, text=True, env=env,
                          stdin=subprocess.DEVNULL, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "Done in" in proc.stdout and "demo:" in proc.stdout
    assert "undo with" not in proc.stdout  # its sandbox is gone: nothing to restore later
    assert not list(tmp_path.rglob("journal")) and not list(tmp_path.rglob("*.zip"))
    history = subprocess.run([sys.executable, "-m", "emx2tui", "history"], capture_output=True,
                             text=True, env=env, stdin=subprocess.DEVNULL, timeout=120)
    assert history.returncode == 0 and "CohortStagingToDataCatalogue" not in history.stdout


def test_plan_out_csv_transport_and_many_targets(sandbox, creds, tmp_path):
    before = export(sandbox)
    out = tmp_path / "plan"
    code, stdout, _ = cli(flow_b(sandbox) + ["--dry-run", "--transport", "csv", "--plan-out", str(out)])
    assert code == 0, stdout
    assert "NOT atomic" in stdout and "plan.txt" in stdout
    text = (out / "plan.txt").read_text()
    assert "NOT atomic" in text and "+ testCohort" in text
    assert (out / "import.zip").stat().st_size > 0
    # the catalogue's rows: readable by the owner only, as the backups are
    assert all((out / f).stat().st_mode & 0o777 == 0o600 for f in ("plan.txt", "import.zip"))
    assert export(sandbox) == before
    # one source, two targets: each is its own job; FillStaging skips both (the ids differ)
    code, stdout, stderr = cli(["run", "FILL_STAGING", "--source-url", sandbox.url, "--source-schema",
                                "catalogue", "--target-url", sandbox.url, "--target-schema",
                                "testCohort,testCohort", "--dry-run"])
    assert code == 4
    assert "job 1 of 2" in stdout and "job 2 of 2" in stdout
    assert stderr.count("Skipped") == 2


def test_strategy_file_runs_a_users_strategy(sandbox, creds, tmp_path):
    text = (Path(__file__).resolve().parent.parent / "emx2tui" / "jobs" / "strategies"
            / "cohort-staging-to-data-catalogue.toml").read_text()
    custom = tmp_path / "mine.toml"
    custom.write_text(text.replace('name = "CohortStagingToDataCatalogue"', 'name = "MyPublish"'))
    code, stdout, _ = cli(["run", "--strategy-file", str(custom)] + flow_b(sandbox)[2:] + ["--dry-run"])
    assert code == 0 and "Plan: MyPublish (flow B)" in stdout
    listing = io.StringIO()
    assert strategies_main(argparse.Namespace(strategy_file=[str(custom)]), stdout=listing) == 0
    assert "MyPublish" in listing.getvalue() and "umcg-cohorts" in listing.getvalue()
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\nflow = "C"\n')
    code, _, stderr = cli(["run", "--strategy-file", str(bad)] + flow_b(sandbox)[2:])
    assert code == 2 and "bad.toml" in stderr


def test_demo_staging_of_another_cohort_is_flagged_in_plan_and_confirmation():
    base = ["run", "CohortStagingToDataCatalogue", "--demo", "--quiet"]
    # the staging schema RIVERSIDE holds only its bare Collections row (it is there to be filled):
    # publishing it would wipe RIVERSIDE from the catalogue
    code, out, err = cli(base + ["--source-schema", "RIVERSIDE"])
    assert code == 3
    assert "WARNING: This plan deletes 89 of the 89 rows of 'RIVERSIDE' in 'catalogue'" in out
    assert "WARNING: This plan deletes" in err and "pass --yes" in err     # the confirmation
    assert "differs from the staging schema name" not in out  # named after its cohort
    # the demo's own staging (NORTHSTAR, a few deletes) carries no such warning
    code, out, err = cli(base + ["--dry-run"])
    assert code == 0, err
    assert "WARNING" not in out and "Dry run" in out


def test_demo_without_defaults_names_the_flags():
    code, out, err = cli(["run", "SharedStaging", "--demo", "--dry-run"])
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "--source-schema and --target-schema" in err and "CohortStagingToDataCatalogue" in err


def test_a_closed_output_pipe_neither_stops_nor_mislabels_a_run(sandbox, tmp_path):
    # `emx2tui run ... | head`: the reader goes away before the run has printed anything
    remove_a_staging_variable(sandbox)  # so that the run has something to write
    env = {**os.environ, "EMX2TUI_DATA_DIR": str(tmp_path)}
    for side in ("SOURCE", "TARGET"):
        env.update({f"MG_{side}_USERNAME": "admin", f"MG_{side}_PASSWORD": PASSWORD})
    proc = subprocess.Popen([sys.executable, "-m", "emx2tui", *flow_b(sandbox), "--yes"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, env=env, text=True)
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=300) == 0, err
    assert "Traceback" not in err and "Broken pipe" not in err
    outcomes = [json.loads(p.read_text())["outcome"] for p in (tmp_path / "journal").glob("*.json")]
    assert outcomes == ["ok"]
    for command in (["strategies"], ["history"]):  # listings stop quietly
        proc = subprocess.Popen([sys.executable, "-m", "emx2tui", *command], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env, text=True)
        proc.stdout.close()
        err = proc.stderr.read()
        proc.wait(timeout=60)
        assert "Traceback" not in err, command


def test_one_ctrl_c_at_the_delete_question_ends_the_run(tmp_path):
    import pty
    import select
    import signal as sig
    import time

    env = {**os.environ, "EMX2TUI_DATA_DIR": str(tmp_path), "TERM": "dumb"}
    pid, fd = pty.fork()
    if pid == 0:  # the child: emx2tui on a terminal
        os.execvpe(sys.executable, [sys.executable, "-m", "emx2tui", "run",
                                    "CohortStagingToDataCatalogue", "--demo"], env)
    seen, deadline = b"", time.monotonic() + 240
    try:
        while b"[y/N]" not in seen and time.monotonic() < deadline:
            if select.select([fd], [], [], 1)[0]:
                seen += os.read(fd, 65536)
        assert b"[y/N]" in seen, seen.decode(errors="replace")[-2000:]
        os.write(fd, b"\x03")  # Ctrl-C, once
        end = time.monotonic() + 15
        status = None
        while time.monotonic() < end:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if select.select([fd], [], [], 0.2)[0]:
                try:
                    seen += os.read(fd, 65536)
                except OSError:
                    pass
        else:
            raise AssertionError("one Ctrl-C did not end the run")
        assert os.waitstatus_to_exitcode(status) == 130
        assert b"Traceback" not in seen
        assert not list(tmp_path.rglob("*.json"))  # nothing was started, nothing journalled
    finally:
        try:
            os.kill(pid, sig.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(fd)


def test_loading_leaves_what_it_loaded_out_of_the_collectors_passes():
    """Objects made while loading are frozen (the first pass after it has nothing of them to
    walk), and the collector is back on afterwards."""
    assert gc.isenabled()
    before = gc.get_freeze_count()
    with loading():
        assert not gc.isenabled()
        made = [[i] for i in range(5000)]
    assert gc.isenabled()
    assert gc.get_freeze_count() >= before + len(made)
    gc.unfreeze()
