"""`emx2tui history` and `emx2tui restore RUN`: the run journal on the command line.

Exit codes as for `emx2tui run`: 0 success (also a dry run, or nothing to restore), 1 the
restore failed (server unreachable, backup missing, import failed), 2 wrong usage (unknown run
id, missing credentials), 3 refused (not confirmed, or rows changed since the run without
--force).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import TextIO

from emx2tui.emx2.client import scrub
from emx2tui.emx2.errors import Emx2Error
from emx2tui.jobs import journal
from emx2tui.jobs.headless import (EXIT_FAILED, EXIT_NOT_CONFIRMED, EXIT_OK, EXIT_USAGE, Printer,
                                   UsageError, ask_interruptibly, connection_from)
from emx2tui.jobs.journal import JournalError, RunRecord, UnknownRun
from emx2tui.jobs.report import rows
from emx2tui.jobs.restore import RestorePlan, apply_restore, plan_restore


# ----------------------------------------------------------------------------- history
def _counts(record: RunRecord) -> str:
    t = record.totals
    return f"+{t['inserted']} ~{t['updated']} -{t['deleted']}"


def history_lines(records: list[RunRecord]) -> list[str]:
    if not records:
        return [f"No runs in the journal ({journal.journal_dir()})."]
    rows = [(r.run_id, r.started_local()[:16], r.outcome, r.strategy, r.describe(), _counts(r))
            for r in records]
    heads = ("run", "when", "outcome", "strategy", "source -> target", "rows")
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(heads)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths[:-1]) + "  {}"
    return [fmt.format(*heads), fmt.format(*("-" * w for w in widths))] + [fmt.format(*row) for row in rows]


def detail_lines(record: RunRecord) -> list[str]:
    r = record
    lines = [f"Run {r.run_id}"]
    what = r.strategy + (f" (flow {r.flow})" if r.flow else "")
    if r.resource_id:
        what += f", resource {r.resource_id}"
    lines.append(f"  {'kind':<10} {r.kind}")
    lines.append(f"  {'strategy':<10} {what}")
    if r.source:
        lines.append(f"  {'source':<10} {r.source.schema} on {r.source.url}"
                     + (f" (user {r.source.user})" if r.source.user else ""))
    lines.append(f"  {'target':<10} {r.target.schema} on {r.target.url}"
                 + (f" (user {r.target.user})" if r.target.user else ""))
    when = r.started_local()
    if r.finished:
        when += f" to {journal.local_time(r.finished)}"
    if r.duration is not None:
        when += f" ({r.duration:.1f} s)"
    lines.append(f"  {'when':<10} {when}")
    who = ", ".join(x for x in (f"OS user {r.os_user}" if r.os_user else "",
                                f"on {r.host}" if r.host else "",
                                f"EMX2 user {r.emx2_user}" if r.emx2_user else "") if x)
    lines.append(f"  {'by':<10} {who or '-'}")
    lines.append(f"  {'outcome':<10} {r.outcome}" + ("" if r.atomic else " (table by table, not atomic)"))
    if r.error:
        lines.append(f"  {'error':<10} {r.error}")
    backup = r.backup or "-"
    if r.backup and not Path(r.backup).exists():
        backup += "  (missing)"
    lines.append(f"  {'backup':<10} {backup}")
    if r.restores:
        lines.append(f"  {'restores':<10} run {r.restores}")
    later = [o.run_id for o in journal.list_runs() if o.restores == r.run_id and o.outcome == journal.OK]
    if later:
        lines.append(f"  {'restored':<10} by run {', '.join(later)}")
    if r.tables:
        width = max([len(n) for n in r.tables] + [5])
        head = f"  {'table':<{width}}  {'insert':>6}  {'update':>6}  {'same':>6}  {'delete':>6}"
        lines += ["", head, "  " + "-" * (len(head) - 2)]
        for name, t in r.tables.items():
            lines.append(f"  {name:<{width}}  {t.inserted:>6}  {t.updated:>6}  {t.unchanged:>6}  {t.deleted:>6}")
        tot = r.totals
        lines.append(f"  {'total':<{width}}  {tot['inserted']:>6}  {tot['updated']:>6}  "
                     f"{tot['unchanged']:>6}  {tot['deleted']:>6}")
    if r.outcome in (journal.OK, journal.APPLIED) and r.writes:
        lines += ["", f"Undo with: emx2tui restore {r.run_id}"]
    elif r.outcome in (journal.UNKNOWN, journal.RUNNING) and r.backup and r.writes:
        lines += ["", f"The import may have been applied; emx2tui restore {r.run_id} compares the "
                      f"target with the backup and undoes it"]
    return lines


def history_main(args: argparse.Namespace, *, stdout: TextIO | None = None,
                 stderr: TextIO | None = None) -> int:
    out, err = stdout or sys.stdout, stderr or sys.stderr
    try:
        if getattr(args, "run", None):
            record = journal.get_run(args.run)
            if args.json:
                print(json.dumps(record.to_json(), indent=1, ensure_ascii=False), file=out)
            else:
                print("\n".join(detail_lines(record)), file=out)
            return EXIT_OK
        limit = args.limit if args.limit and args.limit > 0 else None
        records = journal.list_runs(limit)
    except UnknownRun as exc:
        print(f"error: {exc}", file=err)
        return EXIT_USAGE
    except JournalError as exc:
        print(f"error: {exc}", file=err)
        return EXIT_FAILED
    if args.json:
        print(json.dumps([r.summary_json() for r in records], indent=1, ensure_ascii=False), file=out)
    else:
        print("\n".join(history_lines(records)), file=out)
    return EXIT_OK


# ----------------------------------------------------------------------------- restore
def confirm(plan: RestorePlan, stdin: TextIO, printer: Printer) -> bool:
    """Ask on the terminal; without one, refuse (the caller then needs --yes)."""
    tot = sum(plan.totals().values())
    where = f"'{plan.schema}' on {plan.record.target.url}"
    if not stdin.isatty():
        printer.line(f"Refusing to change {rows(tot)} of {where} without confirmation: pass --yes "
                     f"(stdin is not a terminal).", error=True)
        return False
    def ask(prompt: str) -> str:
        print(prompt, end="", file=printer.out, flush=True)
        return stdin.readline()

    try:
        answer = ask_interruptibly(ask, f"Restore {rows(tot)} of {where} to before run "
                                        f"{plan.record.run_id}? [y/N] ")
    except (EOFError, OSError):
        answer = ""
    if answer.strip().lower() in ("y", "yes"):
        return True
    printer.line("Not confirmed; nothing was changed.", error=True)
    return False


async def _restore(args: argparse.Namespace, record: RunRecord, printer: Printer, stdin: TextIO) -> int:
    args.target_url = record.target.url
    args.target_schema = record.target.schema
    conn = connection_from(args, "target")
    printer.secrets[:] = conn.secrets
    plan = await plan_restore(record, conn)
    for line in plan.describe():
        printer.line(line)
    printer.line()
    if plan.is_empty:
        return EXIT_OK
    if getattr(args, "dry_run", False):
        tot = plan.totals()
        printer.line(f"Dry run: nothing was changed ({tot['reinsert']} rows would be inserted again, "
                     f"{tot['revert']} reverted, {tot['remove']} deleted).")
        return EXIT_OK
    force = getattr(args, "force", False)
    if plan.needs_force and not force:
        what = (f"{len(plan.conflicts)} row(s) changed since the run" if plan.conflicts else
                "the rows the run left cannot be checked")
        printer.line(f"Refusing to restore: {what}. Nothing was changed; pass --force to restore "
                     f"anyway (the rows from before the run win).", error=True)
        return EXIT_NOT_CONFIRMED
    if not getattr(args, "yes", False) and not confirm(plan, stdin, printer):
        return EXIT_NOT_CONFIRMED
    result = await apply_restore(plan, printer, force=force, backup_dir=getattr(args, "backup_dir", None))
    printer.line()
    if not result.ok:
        printer.line(f"error: {result.error}", error=True)
        if result.backup_path:
            printer.line(f"backup: {result.backup_path}")
        return EXIT_FAILED
    tot = plan.totals()
    printer.line(f"Restored run {record.run_id} in {result.duration:.1f} s: {tot['reinsert']} rows "
                 f"inserted again, {tot['revert']} reverted, {tot['remove']} deleted.")
    if result.backup_path:
        printer.line(f"Backup of the target: {result.backup_path}")
    if result.run_id:
        printer.line(f"run {result.run_id} — undo with: emx2tui restore {result.run_id}")
    return EXIT_OK


def restore_main(args: argparse.Namespace, *, stdout: TextIO | None = None, stderr: TextIO | None = None,
                 stdin: TextIO | None = None) -> int:
    out, err, inp = stdout or sys.stdout, stderr or sys.stderr, stdin or sys.stdin
    printer = Printer(out, err, [], quiet=getattr(args, "quiet", False))
    try:
        record = journal.get_run(args.run)
    except UnknownRun as exc:
        printer.line(f"error: {exc}", error=True)
        return EXIT_USAGE
    except JournalError as exc:
        printer.line(f"error: {exc}", error=True)
        return EXIT_FAILED
    try:
        return asyncio.run(_restore(args, record, printer, inp))
    except UsageError as exc:
        printer.line(f"error: {exc}", error=True)
        return EXIT_USAGE
    except (Emx2Error, JournalError, OSError) as exc:
        printer.line(f"error: {scrub(str(exc), printer.secrets)}", error=True)
        return EXIT_FAILED
    except Exception as exc:  # a defect, not a user mistake: still one line, no traceback
        printer.line(f"error: unexpected {type(exc).__name__}: {scrub(str(exc), printer.secrets)}",
                     error=True)
        return EXIT_FAILED
