"""Headless runs for cron and CI: `emx2tui run STRATEGY ...` and `emx2tui strategies`.

Prints the plan, progress per step and table, and a summary. Exit codes:
0 success (or a dry run), 1 the plan or the run failed, 2 wrong usage or configuration,
3 deletes were not confirmed (no --yes and no terminal to ask on, or the answer was no),
4 the job was skipped (for example the staging id differs from the catalogue's).
With several sources or targets (comma-separated), each pair is planned and applied on its own,
and the exit code is the worst of them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import TextIO

from emx2tui.emx2.client import Connection, scrub, url_problem
from emx2tui.emx2.errors import Emx2Error
from emx2tui.jobs.backup import session_data_dir
from emx2tui.jobs.early import env, side_settings
from emx2tui.jobs.events import (STEP_TITLES, Event, PlanReady, RunFinished, ServerTask, StepFinished,
                                 StepLog, StepProgress, StepStarted)
from emx2tui.jobs.plan import Plan
from emx2tui.jobs.report import format_plan, rows, write_plan_out
from emx2tui.jobs.runner import Job, JobSkipped
from emx2tui.jobs.strategy import (Strategy, StrategyError, list_strategies, load_strategy,
                                   load_strategy_file, name_key)

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NOT_CONFIRMED, EXIT_SKIPPED = 0, 1, 2, 3, 4
SEVERITY = [EXIT_OK, EXIT_SKIPPED, EXIT_NOT_CONFIRMED, EXIT_FAILED, EXIT_USAGE]  # worst last

DEMO_DEFAULTS = {
    # strategy -> (source schema, target schema); names from the sandbox's demo set
    "CohortStagingToDataCatalogue": ("staging", "catalogue"),
    "FillStaging": ("catalogue", "empty_staging"),
}


class UsageError(Exception):
    """Missing or contradictory flags and environment."""


# ----------------------------------------------------------------------------- output
class Printer:
    """Turns events into lines; every line passes through the secret filter."""

    def __init__(self, out: TextIO, err: TextIO, secrets: list[str], quiet: bool = False) -> None:
        self.out, self.err, self.secrets, self.quiet = out, err, secrets, quiet
        self._last_task: tuple[str, str] | None = None

    def line(self, text: str = "", *, error: bool = False) -> None:
        stream = self.err if error else self.out
        try:
            print(scrub(text, self.secrets), file=stream, flush=True)
        except (BrokenPipeError, ValueError):
            # The reader went away (`| head`) or the stream was closed: output is lost, but a
            # run must never stop or be misreported for it; it goes on and is journalled.
            devnull = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 (lives as long as the run)
            if stream is sys.stdout or stream is sys.stderr:
                try:
                    os.dup2(devnull.fileno(), stream.fileno())
                except (OSError, ValueError):
                    pass
            if error:
                self.err = devnull
            else:
                self.out = devnull

    def __call__(self, event: Event) -> None:
        q = self.quiet
        if isinstance(event, StepStarted):
            if not q:
                self.line(f"==> {STEP_TITLES.get(event.step, event.step)}")
        elif isinstance(event, StepProgress):
            if not q and event.table:
                total = f"/{event.total}" if event.total else ""
                self.line(f"    [{event.done}{total}] {event.table}")
        elif isinstance(event, StepLog):
            if event.level == "error" or (event.level == "warning" and not q):
                self.line(f"    {event.level}: {event.message}", error=event.level == "error")
            elif not q:
                self.line(f"    {event.message}")
        elif isinstance(event, ServerTask):
            key = (event.status, event.description)
            if not q and key != self._last_task:
                self._last_task = key
                self.line(f"    server task {event.status}: {event.description}")
        elif isinstance(event, StepFinished):
            if event.status == "failed":
                self.line(f"    {event.step} failed", error=True)
            elif not q:
                self.line(f"    {event.status}: {event.summary}")
        elif isinstance(event, (PlanReady, RunFinished)):
            pass


# ----------------------------------------------------------------------------- configuration
def connections_from(args: argparse.Namespace, side: str) -> list[Connection]:
    """One connection per schema; URLs and schemas may be comma-separated lists (as in the `.env`).

    One URL serves every schema; otherwise there must be as many URLs as schemas. The side's
    credentials are used for each of its servers.
    """
    up = side.upper()
    urls, schemas, token = side_settings(args, side)
    username = env(f"MG_{up}_USERNAME")
    password = env(f"MG_{up}_PASSWORD")
    if token:
        username = password = None
    if not urls:
        raise UsageError(f"No {side} server: pass --{side}-url or set MG_{up}_URL (or use --demo).")
    if bool(username) != bool(password):
        raise UsageError(f"Set both MG_{up}_USERNAME and MG_{up}_PASSWORD, or MG_{up}_TOKEN.")
    if not schemas:
        schemas_or_none: list[str | None] = [None] * len(urls)
    else:
        schemas_or_none = list(schemas)
    if len(urls) == 1:
        urls = urls * len(schemas_or_none)
    elif len(schemas_or_none) == 1:
        schemas_or_none = schemas_or_none * len(urls)
    if len(urls) != len(schemas_or_none):
        raise UsageError(f"{len(urls)} {side} URLs for {len(schemas_or_none)} {side} schemas: give one "
                         f"URL, or one per schema.")
    for url in urls:
        problem = url_problem(url)
        if problem:
            raise UsageError(f"--{side}-url: {problem}.")
    return [Connection(u, s, token=token, username=username, password=password)
            for u, s in zip(urls, schemas_or_none)]


def connection_from(args: argparse.Namespace, side: str) -> Connection:
    conns = connections_from(args, side)
    if len(conns) != 1:
        raise UsageError(f"Give one {side} schema here, not {len(conns)}.")
    return conns[0]


def job_pairs(args: argparse.Namespace) -> list[tuple[Connection, Connection]]:
    """(source, target) per job: one source for many targets, many sources into one target, or
    as many sources as targets, paired in order."""
    sources, targets = connections_from(args, "source"), connections_from(args, "target")
    if len(sources) == 1:
        sources = sources * len(targets)
    elif len(targets) == 1:
        targets = targets * len(sources)
    if len(sources) != len(targets):
        raise UsageError(f"{len(sources)} sources and {len(targets)} targets: give one of either, or "
                         f"as many sources as targets.")
    return list(zip(sources, targets))


@contextlib.contextmanager
def demo_server(args: argparse.Namespace, strategy: Strategy) -> Iterator[None]:
    """Start the in-process sandbox with the demo set and fill in the missing flags."""
    from emx2tui.sandbox.demo import DEMO
    from emx2tui.sandbox.server import start_sandbox

    given = all(getattr(args, f"{side}_schema", None) or env(f"MG_{side.upper()}_SCHEMA")
                for side in ("source", "target"))
    if strategy.name not in DEMO_DEFAULTS and not given:
        raise UsageError(
            f"--demo has schema defaults only for {' and '.join(DEMO_DEFAULTS)} (the demo set holds "
            f"the catalogue '{DEMO['catalogue']}' and the cohort staging schemas '{DEMO['staging']}' "
            f"and '{DEMO['empty_staging']}'); for {strategy.name} give --source-schema and "
            f"--target-schema.")
    with session_data_dir(), start_sandbox(port=0, demo=True) as sandbox:
        src_key, tgt_key = DEMO_DEFAULTS.get(strategy.name, ("catalogue", "catalogue"))
        for side, key in (("source", src_key), ("target", tgt_key)):
            up = side.upper()
            if not (getattr(args, f"{side}_url", None) or env(f"MG_{up}_URL")):
                setattr(args, f"{side}_url", sandbox.url)
                if not (getattr(args, f"{side}_token", None) or env(f"MG_{up}_TOKEN")
                        or env(f"MG_{up}_USERNAME")):
                    os.environ[f"MG_{up}_USERNAME"] = "admin"
                    os.environ[f"MG_{up}_PASSWORD"] = "admin"
            if not (getattr(args, f"{side}_schema", None) or env(f"MG_{up}_SCHEMA")):
                setattr(args, f"{side}_schema", str(DEMO[key]))
        yield


# ----------------------------------------------------------------------------- commands
def ask_interruptibly(ask: Callable[[str], str], prompt: str) -> str:
    """Ask a question on the terminal inside the event loop, so that one Ctrl-C ends it at once.

    asyncio.run's own SIGINT handler only cancels the main task, which cannot happen while a
    blocking read waits; Python's default handler raises KeyboardInterrupt in the read itself.
    """
    if threading.current_thread() is not threading.main_thread():
        return ask(prompt)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return ask(prompt)
    finally:
        signal.signal(signal.SIGINT, previous)


def confirm_deletes(plan: Plan, stdin: TextIO, printer: Printer,
                    ask: Callable[[str], str] | None = None) -> bool:
    alerts = "".join(f"WARNING: {a}\n" for a in plan.alerts)
    if not stdin.isatty():
        printer.line(f"{alerts}Refusing to delete {rows(plan.total_delete_rows)} from {plan.target_label} "
                     f"without confirmation: pass --yes (stdin is not a terminal).", error=True)
        return False
    prompt = f"{alerts}Delete {rows(plan.total_delete_rows)} from {plan.target_label}? [y/N] "
    if ask is None:
        if stdin is sys.stdin:
            ask = input
        else:
            def ask(text: str) -> str:
                print(text, end="", file=printer.out, flush=True)
                return stdin.readline()
    try:
        answer = ask_interruptibly(ask, prompt)
    except (EOFError, OSError):
        answer = ""
    if answer.strip().lower() not in ("y", "yes"):
        printer.line("Not confirmed; nothing was changed.", error=True)
        return False
    return True


async def _run(args: argparse.Namespace, strategy: Strategy, printer: Printer, stdin: TextIO) -> int:
    pairs = job_pairs(args)
    printer.secrets[:] = sorted({x for s, t in pairs for x in s.secrets + t.secrets})
    printer.line(f"{strategy.title}: {strategy.summary()}")
    worst = EXIT_OK
    for n, (source, target) in enumerate(pairs, 1):
        if len(pairs) > 1:
            printer.line()
            printer.line(f"=== job {n} of {len(pairs)}: {source.schema or '(default)'} -> "
                         f"{target.schema or '(default)'}")
        plan_out = getattr(args, "plan_out", None)
        if plan_out and len(pairs) > 1:
            plan_out = os.path.join(plan_out, f"{n:02d}-{target.schema or 'target'}")
        code = await _run_one(args, strategy, printer, stdin, source, target, plan_out)
        worst = max(worst, code, key=SEVERITY.index)
    return worst


async def _run_one(args: argparse.Namespace, strategy: Strategy, printer: Printer, stdin: TextIO,
                   source: Connection, target: Connection, plan_out: str | None) -> int:
    job = Job(strategy, source, target, resource_id=getattr(args, "resource_id", None),
              backup_dir=getattr(args, "backup_dir", None),
              transport=getattr(args, "transport", None) or None,
              full_backup=bool(getattr(args, "full_backup", False)))
    try:
        plan = await job.plan(printer)
    except JobSkipped as exc:
        printer.line(scrub(str(exc), printer.secrets), error=True)
        return EXIT_SKIPPED
    except (Emx2Error, StrategyError, OSError) as exc:
        printer.line(f"error: {scrub(str(exc), printer.secrets)}", error=True)
        return EXIT_FAILED
    printer.line()
    for line in format_plan(plan):
        printer.line(line)
    if plan_out:
        zip_path, text_path = write_plan_out(plan, plan_out)
        printer.line()
        printer.line(f"Plan written: {text_path} and {zip_path} (the import an apply would send)")
    if plan.broken:
        printer.line()
        printer.line(f"error: the import would break {len(plan.broken)} reference(s); nothing was "
                     f"changed. Fix them and plan again.", error=True)
        return EXIT_FAILED
    printer.line()
    if getattr(args, "dry_run", False):
        printer.line(f"Dry run: nothing was changed ({plan.total_writes} rows would be written, "
                     f"{plan.total_delete_rows} deleted).")
        return EXIT_OK
    if plan.has_deletes and not getattr(args, "yes", False):
        if not confirm_deletes(plan, stdin, printer):
            return EXIT_NOT_CONFIRMED
    result = await job.apply(plan, printer)
    printer.line()
    if not result.ok:
        printer.line(f"error: {result.error}", error=True)
        if result.backup_path:
            printer.line(f"backup: {result.backup_path}")
        return EXIT_FAILED
    inserted = sum(c.get("inserted", 0) for c in result.counts.values())
    updated = sum(c.get("updated", 0) for c in result.counts.values())
    deleted = sum(c.get("deleted", 0) for c in result.counts.values())
    printer.line(f"Done in {result.duration:.1f} s: {inserted} inserted, {updated} updated, "
                 f"{deleted} deleted.")
    if getattr(args, "demo", False):
        printer.line("(demo: the sandbox, this run's journal and its backup end with this command)")
    else:
        if result.backup_path:
            printer.line(f"Backup of the target: {result.backup_path}")
    if result.run_id and not getattr(args, "demo", False):  # the run journal
        printer.line(f"run {result.run_id} — undo with: emx2tui restore {result.run_id}"
                     if inserted + updated + deleted else f"run {result.run_id} (nothing to undo)")
    return EXIT_OK


def run_main(args: argparse.Namespace, *, stdout: TextIO | None = None, stderr: TextIO | None = None,
             stdin: TextIO | None = None) -> int:
    out, err, inp = stdout or sys.stdout, stderr or sys.stderr, stdin or sys.stdin
    printer = Printer(out, err, [], quiet=getattr(args, "quiet", False))
    try:
        if getattr(args, "strategy_file", None):
            strategy = load_strategy_file(args.strategy_file)
            if args.strategy and name_key(args.strategy) != name_key(strategy.name):
                raise StrategyError(f"Strategy file {args.strategy_file} defines '{strategy.name}', "
                                    f"not '{args.strategy}'.")
        else:
            if not args.strategy:
                raise StrategyError("Name a strategy (see `emx2tui strategies`) or pass --strategy-file.")
            strategy = load_strategy(args.strategy)
    except StrategyError as exc:
        printer.line(f"error: {exc}", error=True)
        return EXIT_USAGE
    saved_env = {k: os.environ.get(k) for k in ("MG_SOURCE_USERNAME", "MG_SOURCE_PASSWORD",
                                                "MG_TARGET_USERNAME", "MG_TARGET_PASSWORD")}
    try:
        with (demo_server(args, strategy) if getattr(args, "demo", False) else contextlib.nullcontext()):
            return asyncio.run(_run(args, strategy, printer, inp))
    except UsageError as exc:
        printer.line(f"error: {exc}", error=True)
        return EXIT_USAGE
    except (Emx2Error, StrategyError, OSError) as exc:
        printer.line(f"error: {scrub(str(exc), printer.secrets)}", error=True)
        return EXIT_FAILED
    except Exception as exc:  # a defect, not a user mistake: still one line, no traceback
        printer.line(f"error: unexpected {type(exc).__name__}: {scrub(str(exc), printer.secrets)}",
                     error=True)
        return EXIT_FAILED
    finally:
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def strategies_main(args: argparse.Namespace, *, stdout: TextIO | None = None) -> int:
    out = stdout or sys.stdout
    try:
        items = list_strategies()
    except StrategyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    for extra in getattr(args, "strategy_file", None) or []:
        try:
            items.append(load_strategy_file(extra))
        except StrategyError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_USAGE
    for s in items:
        print(f"{s.name}  (flow {s.flow}, strategy version {s.version})", file=out)
        print(f"    {s.title}", file=out)
        for src, tgt in s.pairs():
            print(f"    source: {src.profile} {src.versions}"
                  + (f"  [default schema {src.default_schema}]" if src.default_schema else ""), file=out)
            print(f"    target: {tgt.profile} {tgt.versions}"
                  + (f"  [default schema {tgt.default_schema}]" if tgt.default_schema else ""), file=out)
        print(f"    steps:  {' -> '.join(s.steps)}", file=out)
        print(f"    tables: {len(s.sync)} to sync" + (f", {len(s.delete)} to delete" if s.delete else ""),
              file=out)
        if s.gdpr is not None:
            print(f"    rule:   {s.gdpr.describe()}", file=out)
        kebab = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "-", s.name).lower()
        print(f"    names:  {', '.join([s.name, kebab, *s.aliases])}", file=out)
        if s.path and not s.path.startswith("emx2tui/"):
            print(f"    file:   {s.path}", file=out)
    return EXIT_OK
