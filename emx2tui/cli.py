"""Command line: parse arguments, then hand over to the TUI, the headless runner or the sandbox.

    emx2tui [connection flags]                 open the app
    emx2tui demo                               sandbox with demo data + the app on it
    emx2tui run STRATEGY [flags]               headless run (cron, CI)
    emx2tui strategies                         list the job strategies
    emx2tui history [RUN]                      the run journal, or one run in detail
    emx2tui restore RUN                        bring a target back to its rows before a run
    emx2tui sandbox serve [flags]              an EMX2-compatible server for demos and tests

Heavy modules (textual, the sandbox) are imported only when the command needs them.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import sys
from collections.abc import Iterator, Sequence

from emx2tui import __version__

SUBCOMMANDS = {"demo", "run", "strategies", "sandbox", "tui", "history", "restore"}


def _add_connection_flags(p: argparse.ArgumentParser, *, required: bool = False) -> None:
    g = p.add_argument_group("connections (flags win over the environment)")
    g.add_argument("--source-url", metavar="URL", help="source server, e.g. https://data.example.org "
                   "(env MG_SOURCE_URL)")
    g.add_argument("--source-schema", metavar="NAME", help="source schema (env MG_SOURCE_SCHEMA)")
    g.add_argument("--target-url", metavar="URL", help="target server (env MG_TARGET_URL)")
    g.add_argument("--target-schema", metavar="NAME", help="target schema (env MG_TARGET_SCHEMA)")
    g.add_argument("--source-token", metavar="TOKEN", help="source API token (env MG_SOURCE_TOKEN; "
                   "or MG_SOURCE_USERNAME and MG_SOURCE_PASSWORD)")
    g.add_argument("--target-token", metavar="TOKEN", help="target API token (env MG_TARGET_TOKEN; "
                   "or MG_TARGET_USERNAME and MG_TARGET_PASSWORD)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="emx2tui",
        description="Preview, confirm and run data migrations between MOLGENIS EMX2 schemas.",
    )
    parser.add_argument("--version", action="version", version=f"emx2tui {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    tui = sub.add_parser("tui", help="open the app (the default command)")
    _add_connection_flags(tui)
    tui.add_argument("--import-env", metavar="FILE",
                     help="turn a molgenis-py-cohorts-etl .env into saved connections and a saved "
                          "job (secrets stay in FILE), then exit")

    demo = sub.add_parser("demo", help="start a sandbox server with demo data and open the app on it")
    demo.add_argument("--port", type=int, default=0, help="sandbox port (default: a free one)")

    run = sub.add_parser("run", help="run a job strategy without the app (cron, CI)",
                         description="Plan, then apply one job strategy. Prints the plan, progress "
                                     "per step and table, and a summary. Exit code 0 on success. "
                                     "Schemas and URLs may be comma-separated lists: each "
                                     "source/target pair is planned, backed up and applied on its own.")
    run.add_argument("strategy", nargs="?", default=None,
                     help="strategy name, e.g. FillStaging, fill-staging or FILL_STAGING (see "
                          "`emx2tui strategies`); optional with --strategy-file")
    _add_connection_flags(run)
    run.add_argument("--strategy-file", metavar="FILE",
                     help="load the strategy from a TOML file in the format of the built-in ones")
    run.add_argument("--transport", choices=("zip", "csv"), default=None,
                     help="zip (default): deletes and upserts in one atomic import; csv: table by "
                          "table over the CSV API (not atomic)")
    run.add_argument("--plan-out", metavar="DIR",
                     help="write the plan (plan.txt) and the zip an apply would send (import.zip) to DIR")
    run.add_argument("--resource-id", metavar="ID",
                     help="cohort or network id (default: read from the staging schema's row)")
    run.add_argument("--dry-run", action="store_true", help="plan only; change nothing on the target")
    run.add_argument("--yes", action="store_true", help="confirm deletes without asking")
    run.add_argument("--demo", action="store_true",
                     help="run against an in-process sandbox with the demo data")
    run.add_argument("--backup-dir", metavar="DIR", help="where backups go (default: the user data dir)")
    run.add_argument("--full-backup", action="store_true",
                     help="back up the whole target schema, not only the rows the run can change")
    run.add_argument("--quiet", action="store_true", help="print the plan and summary only")

    strategies = sub.add_parser("strategies", help="list the job strategies")
    strategies.add_argument("--strategy-file", metavar="FILE", action="append", default=[],
                            help="also list the strategy in FILE (repeatable)")

    history = sub.add_parser("history", help="list the journalled runs, or show one",
                             description="The run journal: every run that wrote (or tried to write) "
                                         "to a target, newest first. With RUN, that run in detail.")
    history.add_argument("run", nargs="?", metavar="RUN", help="a run id (or a unique prefix of one)")
    history.add_argument("--limit", type=positive_int, metavar="N", help="show the newest N runs only")
    history.add_argument("--json", action="store_true", help="print JSON instead of a table")

    restore = sub.add_parser("restore", help="bring a target back to its rows before a run",
                             description="Undo a journalled run from its backup: rows it deleted are "
                                         "inserted again, rows it updated get their old values, rows it "
                                         "inserted are deleted, all in one import. The target server "
                                         "and schema come from the journal.")
    restore.add_argument("run", metavar="RUN", help="the run id (see `emx2tui history`)")
    restore.add_argument("--target-token", metavar="TOKEN", help="target API token (env MG_TARGET_TOKEN; "
                         "or MG_TARGET_USERNAME and MG_TARGET_PASSWORD)")
    restore.add_argument("--yes", action="store_true", help="restore without asking")
    restore.add_argument("--dry-run", action="store_true", help="show what would change; change nothing")
    restore.add_argument("--force", action="store_true",
                         help="restore even rows that were changed since the run")
    restore.add_argument("--backup-dir", metavar="DIR", help="where the restore's own backup goes")
    restore.add_argument("--quiet", action="store_true", help="print the changes and summary only")

    sandbox = sub.add_parser("sandbox", help="the EMX2-compatible sandbox server")
    ssub = sandbox.add_subparsers(dest="sandbox_command", metavar="ACTION")
    serve = ssub.add_parser("serve", help="serve the sandbox over HTTP")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    serve.add_argument("--data", metavar="DIR", help="keep the data in DIR (default: in memory)")
    serve.add_argument("--demo", action="store_true", help="seed the demo data set")
    serve.add_argument("--load", metavar="SCHEMA=PATH", action="append", default=[],
                       help="load an EMX2 folder or zip as SCHEMA (repeatable, loaded in order)")
    serve.add_argument("--admin-password", metavar="PW", default=None,
                       help="password of user admin (env MOLGENIS_ADMIN_PW; default 'admin')")
    serve.add_argument("--fault", metavar="KIND[:key=value,...]", action="append", default=[],
                       help="inject a fault for reliability tests (repeatable): task-error, "
                            "http500, gateway, hang, drop, slow or expire-token, with options nth, "
                            "times, path, method, message, seconds; e.g. http500:nth=3,path=/api/zip")
    return parser


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def silence_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush finds no broken pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def batch_gc() -> None:
    """Tune the cycle collector for a command that runs once and ends.

    A run reads tables into many small rows that reference counting frees; the collector's
    default passes (every 700 allocations) walk them over and over and cost about a tenth of a
    large run's time. They come a hundred times less often (what was loaded at start-up is
    frozen out of them by `loading`).
    """
    gc.set_threshold(70_000, 20, 20)


@contextlib.contextmanager
def loading() -> Iterator[None]:
    """Import a command's modules with the cycle collector off: modules, classes and functions
    are not garbage, and its sixty-odd passes over them cost some 10 ms of a start-up.

    What was loaded stays for the life of the process, so it is frozen out of the collector's
    reach before the collector comes back on; otherwise its first pass would walk all of it
    (some 5 ms)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


_quick_exit = False  # set by a command whose process may end without the interpreter's teardown


def entry() -> None:
    """The program's entry point: `main`, then the exit.

    A headless run ends without the interpreter's teardown (some 10 ms of freeing, one by one,
    what the process is about to give back anyway): its files were written and closed as it
    went, it starts no other process, and its output is flushed here.
    """
    code = main()
    if _quick_exit:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)
    sys.exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    global _quick_exit
    args_list = list(sys.argv[1:] if argv is None else argv)
    if not args_list or (args_list[0].startswith("-") and args_list[0] not in ("-h", "--help", "--version")):
        args_list = ["tui", *args_list]
    parser = build_parser()
    args = parser.parse_args(args_list)
    try:
        if args.command == "tui":
            from emx2tui.ui.launch import tui_main
            return tui_main(args)
        if args.command == "demo":
            from emx2tui.ui.launch import demo_main
            return demo_main(args)
        if args.command == "run":
            with loading():
                from emx2tui.jobs.early import start_reads
                start_reads(args)  # the first reads leave while the rest is imported
                from emx2tui.jobs.headless import run_main
            batch_gc()
            _quick_exit = argv is None  # from the command line itself
            return run_main(args)
        if args.command == "strategies":
            from emx2tui.jobs.headless import strategies_main
            return strategies_main(args)
        if args.command == "history":
            from emx2tui.jobs.history_cmd import history_main
            return history_main(args)
        if args.command == "restore":
            from emx2tui.jobs.history_cmd import restore_main
            return restore_main(args)
        if args.command == "sandbox":
            if args.sandbox_command != "serve":
                parser.parse_args(["sandbox", "--help"])
                return 2
            from emx2tui.sandbox.serve import serve_main
            return serve_main(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        if args.command in ("run", "restore"):
            print("If it had begun writing, the target may have changed: `emx2tui history` lists the "
                  "run (its outcome is still 'running'), and `emx2tui restore RUN` compares the "
                  "target with the run's backup and puts back what differs.", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly, as other tools do
        silence_stdout()
        return 141
    parser.print_help()
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
