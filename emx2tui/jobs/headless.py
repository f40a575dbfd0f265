"""Headless runs for cron and CI: `emx2tui run STRATEGY ...` and `emx2tui strategies`.

Prints the plan, progress per step and table, and a summary. Exit codes:
0 success (or a dry run), 1 the plan or the run failed, 2 wrong usage or configuration,
3 deletes were not confirmed (no --yes and no terminal to ask on, or the answer was no).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from typing import TextIO

from emx2tui.emx2.client import Connection, scrub
from emx2tui.emx2.errors import Emx2Error
from emx2tui.jobs.events import (STEP_TITLES, Event, PlanReady, RunFinished, ServerTask, StepFinished,
                                 StepLog, StepProgress, StepStarted)
from emx2tui.jobs.plan import Plan
from emx2tui.jobs.runner import Job
from emx2tui.jobs.strategy import Strategy, StrategyError, list_strategies, load_strategy

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NOT_CONFIRMED = 0, 1, 2, 3

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
        print(scrub(text, self.secrets), file=stream, flush=True)

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


def format_plan(plan: Plan) -> list[str]:
    lines = [f"Plan: {plan.strategy} (flow {plan.flow}), resource {plan.resource_id}",
             f"  source: {plan.source_label}",
             f"  target: {plan.target_label}",
             "  " + ("one atomic import: a failure changes nothing" if plan.atomic else
                     "NOT atomic: written table by table"), ""]
    width = max([len(t.table) for t in plan.sync + plan.delete] + [5])
    head = f"  {'table':<{width}}  {'rows':>6}  {'insert':>6}  {'update':>6}  {'same':>6}  {'delete':>6}  filter"
    lines += [head, "  " + "-" * (len(head) - 2)]
    deletes = {t.table: t for t in plan.delete}
    shown = set()
    for t in plan.sync:
        d = deletes.get(t.table)
        shown.add(t.table)
        lines.append(f"  {t.table:<{width}}  {t.rows:>6}  {t.inserts:>6}  {t.updates:>6}  {t.unchanged:>6}"
                     f"  {(d.deletes if d else 0):>6}  {t.filter_text}")
    for d in plan.delete:
        if d.table not in shown:
            lines.append(f"  {d.table:<{width}}  {'':>6}  {'':>6}  {'':>6}  {'':>6}  {d.deletes:>6}  {d.filter_text}")
    lines.append(f"  {'total':<{width}}  {plan.total_sync_rows:>6}  {sum(t.inserts for t in plan.sync):>6}"
                 f"  {sum(t.updates for t in plan.sync):>6}  {sum(t.unchanged for t in plan.sync):>6}"
                 f"  {plan.total_delete_rows:>6}")
    if plan.warnings:
        lines.append("")
        lines += [f"  warning: {w}" for w in plan.warnings]
    return lines


# ----------------------------------------------------------------------------- configuration
def _env(name: str) -> str | None:
    value = os.environ.get(name)
    return value if value else None


def connection_from(args: argparse.Namespace, side: str) -> Connection:
    up = side.upper()
    url = getattr(args, f"{side}_url", None) or _env(f"MG_{up}_URL")
    schema = getattr(args, f"{side}_schema", None) or _env(f"MG_{up}_SCHEMA")
    token = getattr(args, f"{side}_token", None) or _env(f"MG_{up}_TOKEN")
    username = _env(f"MG_{up}_USERNAME")
    password = _env(f"MG_{up}_PASSWORD")
    if token:
        username = password = None
    if not url:
        raise UsageError(f"No {side} server: pass --{side}-url or set MG_{up}_URL (or use --demo).")
    if bool(username) != bool(password):
        raise UsageError(f"Set both MG_{up}_USERNAME and MG_{up}_PASSWORD, or MG_{up}_TOKEN.")
    return Connection(url, schema, token=token, username=username, password=password)


@contextlib.contextmanager
def demo_server(args: argparse.Namespace, strategy: Strategy) -> Iterator[None]:
    """Start the in-process sandbox with the demo set and fill in the missing flags."""
    from emx2tui.sandbox.demo import DEMO
    from emx2tui.sandbox.server import start_sandbox

    with start_sandbox(port=0, demo=True) as sandbox:
        src_key, tgt_key = DEMO_DEFAULTS.get(strategy.name, ("catalogue", "catalogue"))
        for side, key in (("source", src_key), ("target", tgt_key)):
            up = side.upper()
            if not (getattr(args, f"{side}_url", None) or _env(f"MG_{up}_URL")):
                setattr(args, f"{side}_url", sandbox.url)
                if not (getattr(args, f"{side}_token", None) or _env(f"MG_{up}_TOKEN")
                        or _env(f"MG_{up}_USERNAME")):
                    os.environ[f"MG_{up}_USERNAME"] = "admin"
                    os.environ[f"MG_{up}_PASSWORD"] = "admin"
            if not (getattr(args, f"{side}_schema", None) or _env(f"MG_{up}_SCHEMA")):
                setattr(args, f"{side}_schema", str(DEMO[key]))
        yield


# ----------------------------------------------------------------------------- commands
def confirm_deletes(plan: Plan, stdin: TextIO, printer: Printer,
                    ask: Callable[[str], str] | None = None) -> bool:
    if not stdin.isatty():
        printer.line(f"Refusing to delete {plan.total_delete_rows} rows from {plan.target_label} "
                     f"without confirmation: pass --yes (stdin is not a terminal).", error=True)
        return False
    prompt = f"Delete {plan.total_delete_rows} rows from {plan.target_label}? [y/N] "
    if ask is None:
        if stdin is sys.stdin:
            ask = input
        else:
            def ask(text: str) -> str:
                print(text, end="", file=printer.out, flush=True)
                return stdin.readline()
    try:
        answer = ask(prompt)
    except (EOFError, OSError):
        answer = ""
    if answer.strip().lower() not in ("y", "yes"):
        printer.line("Not confirmed; nothing was changed.", error=True)
        return False
    return True


async def _run(args: argparse.Namespace, strategy: Strategy, printer: Printer, stdin: TextIO) -> int:
    source = connection_from(args, "source")
    target = connection_from(args, "target")
    printer.secrets[:] = source.secrets + target.secrets
    job = Job(strategy, source, target, resource_id=getattr(args, "resource_id", None),
              backup_dir=getattr(args, "backup_dir", None))
    printer.line(f"{strategy.title}: {strategy.summary()}")
    try:
        plan = await job.plan(printer)
    except (Emx2Error, StrategyError, OSError) as exc:
        printer.line(f"error: {scrub(str(exc), printer.secrets)}", error=True)
        return EXIT_FAILED
    printer.line()
    for line in format_plan(plan):
        printer.line(line)
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
    if result.backup_path:
        printer.line(f"Backup of the target: {result.backup_path}")
    if result.run_id:  # the run journal
        printer.line(f"run {result.run_id} — undo with: emx2tui restore {result.run_id}"
                     if inserted + updated + deleted else f"run {result.run_id} (nothing to undo)")
    return EXIT_OK


def run_main(args: argparse.Namespace, *, stdout: TextIO | None = None, stderr: TextIO | None = None,
             stdin: TextIO | None = None) -> int:
    out, err, inp = stdout or sys.stdout, stderr or sys.stderr, stdin or sys.stdin
    printer = Printer(out, err, [], quiet=getattr(args, "quiet", False))
    try:
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
    for s in items:
        print(f"{s.name}  (flow {s.flow}, strategy version {s.version})", file=out)
        print(f"    {s.title}", file=out)
        print(f"    source: {s.source_model.describe()}"
              + (f"  [default schema {s.source_model.default_schema}]" if s.source_model.default_schema else ""),
              file=out)
        print(f"    target: {s.target_model.describe()}"
              + (f"  [default schema {s.target_model.default_schema}]" if s.target_model.default_schema else ""),
              file=out)
        print(f"    steps:  {' -> '.join(s.steps)}", file=out)
        print(f"    tables: {len(s.sync)} to sync" + (f", {len(s.delete)} to delete" if s.delete else ""),
              file=out)
        if s.aliases:
            print(f"    also:   {', '.join(s.aliases)}", file=out)
    return EXIT_OK
