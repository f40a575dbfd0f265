"""A plan as text: the summary table the headless run prints, the full readable plan, and the
`--plan-out` folder (the zip an apply would send, plus the readable plan)."""

from __future__ import annotations

from pathlib import Path

from emx2tui.jobs.backup import write_atomic
from emx2tui.jobs.plan import INSERT, UPDATE, Plan, row_keys

def rows(n: int, word: str = "row") -> str:
    """'1 row', '3 rows'."""
    return f"{n} {word}{'' if n == 1 else 's'}"


MAX_ROWS = 50  # rows listed per table and action in the readable plan


def format_plan(plan: Plan) -> list[str]:
    """The summary: one line per table, then what the job keeps, clears, withholds and breaks."""
    lines = [f"Plan: {plan.strategy} (flow {plan.flow}), resource {plan.resource_id or '(all rows)'}",
             f"  source: {plan.source_label}" + (f", model version {plan.source_version}"
                                                  if plan.source_version else ""),
             f"  target: {plan.target_label}" + (f", model version {plan.target_version}"
                                                  if plan.target_version else ""),
             "  " + ("one atomic import: a failure changes nothing" if plan.atomic else
                     "NOT atomic: written table by table (transport csv); a failure part-way leaves "
                     "the target part-written"), ""]
    if plan.alerts:
        lines += [f"  WARNING: {a}" for a in plan.alerts] + [""]
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
    kept = [(t.table, c, n) for t in plan.sync for c, n in t.kept.items()]
    if kept:
        lines += ["", "  Kept (columns the source model lacks; the target's values are sent back):"]
        lines += [f"    {t}.{c}: {rows(n, 'value')}" for t, c, n in kept]
    cleared = [(t.table, c, n) for t in plan.sync for c, n in t.cleared.items()]
    if cleared:
        lines += ["", "  Cleared (the strategy empties these on the rows it updates):"]
        lines += [f"    {t}.{c}: {rows(n, 'value')}" for t, c, n in cleared]
    if plan.notes:
        lines += [""] + [f"  note: {n}" for n in plan.notes]
    if plan.withheld:
        lines += ["", f"  Not deleted ({len(plan.withheld)}; other rows still refer to them):"]
        lines += [f"    {w}" for w in plan.withheld]
    if plan.broken:
        lines += ["", f"  BROKEN REFERENCES ({len(plan.broken)}): the apply is refused until they are fixed"]
        lines += [f"    {b}" for b in plan.broken]
    if plan.warnings:
        lines.append("")
        lines += [f"  warning: {w}" for w in plan.warnings
                  if w not in plan.withheld and w not in plan.alerts]
    return lines


def _key_text(key: tuple[str, ...]) -> str:
    return " / ".join(key)


def plan_details(plan: Plan) -> list[str]:
    """Row by row: what each table's inserts, updates (with old -> new per column) and deletes are."""
    lines = ["", "Rows", "===="]
    deletes = {t.table: t for t in plan.delete}
    for t in plan.sync:
        d = deletes.get(t.table)
        if not (t.inserts or t.updates or (d and d.deletes)):
            continue
        lines += ["", f"{t.table} (key: {', '.join(t.key_columns)})"]
        keys = row_keys(t.frame, t.key_columns) if len(t.frame) else []
        ins = [k for k, a in zip(keys, t.actions) if a == INSERT]
        upd = [k for k, a in zip(keys, t.actions) if a == UPDATE]
        for k in ins[:MAX_ROWS]:
            lines.append(f"  + {_key_text(k)}")
        if len(ins) > MAX_ROWS:
            lines.append(f"  + ... and {len(ins) - MAX_ROWS} more inserts")
        for k in upd[:MAX_ROWS]:
            lines.append(f"  ~ {_key_text(k)}")
            for col, (old, new) in t.changes.get(k, {}).items():
                lines.append(f"      {col}: {old!r} -> {new!r}")
        if len(upd) > MAX_ROWS:
            lines.append(f"  ~ ... and {len(upd) - MAX_ROWS} more updates")
        if d and d.deletes:
            gone = row_keys(d.deleted_frame, d.key_columns)
            for k in gone[:MAX_ROWS]:
                lines.append(f"  - {_key_text(k)}")
            if len(gone) > MAX_ROWS:
                lines.append(f"  - ... and {len(gone) - MAX_ROWS} more deletes")
    for d in plan.delete:
        if plan.table(d.table) is None and d.deletes:
            lines += ["", f"{d.table} (key: {', '.join(d.key_columns)})"]
            lines += [f"  - {_key_text(k)}" for k in row_keys(d.deleted_frame, d.key_columns)[:MAX_ROWS]]
    return lines


def write_plan_out(plan: Plan, folder: str | Path) -> tuple[Path, Path]:
    """Write `import.zip` (exactly what an apply sends) and `plan.txt` into `folder`."""
    out = Path(folder).expanduser()
    zip_path = out / "import.zip"
    text_path = out / "plan.txt"
    # the catalogue's rows: readable by the owner only, as the backups are
    write_atomic(zip_path, plan.build_zip())
    body = format_plan(plan) + plan_details(plan)
    if not plan.atomic:
        body += ["", "Transport csv: the apply sends these tables one by one over the CSV API; "
                     "import.zip shows the same rows as one import."]
    write_atomic(text_path, ("\n".join(body) + "\n").encode("utf-8"))
    return zip_path, text_path
