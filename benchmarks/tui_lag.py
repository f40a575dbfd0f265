"""Event-loop lag of the app during a real preview and run against the sandbox.

    python benchmarks/tui_lag.py --size M      # S, M or L, the data of benchmarks/run.py

The sandbox serves the generated data from its own process. The app runs headless (Textual's
run_test) on the real engine: it loads the schemas, previews CohortStagingToDataCatalogue,
confirms the deletes and runs the job to its end, as a user would with `p`, `r` and the typed
confirmation. A task on the app's event loop sleeps 10 ms at a time and records by how much
each wake-up came late: that is how long the interface could not react. The 99th percentile and
the maximum, per phase and overall, go to stdout and to benchmarks/results/tui-lag-<size>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import run as bench  # noqa: E402  (benchmarks/run.py: data generator and sandbox process)

TICK = 0.010
SIZE = (140, 42)


def percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


class LagProbe:
    """Samples the loop's lateness every TICK, labelled with the current phase."""

    def __init__(self) -> None:
        self.phase = "start"
        self.samples: list[tuple[str, float]] = []
        self._task: asyncio.Task | None = None

    async def _run(self) -> None:
        while True:
            t = time.perf_counter()
            await asyncio.sleep(TICK)
            self.samples.append((self.phase, max(0.0, time.perf_counter() - t - TICK)))

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    def summary(self) -> dict:
        out: dict[str, dict] = {}
        phases = list(dict.fromkeys(p for p, _ in self.samples)) + ["all"]
        for phase in phases:
            lags = [v for p, v in self.samples if phase in ("all", p)]
            out[phase] = {"samples": len(lags), "p50_ms": round(percentile(lags, 50) * 1000, 1),
                          "p99_ms": round(percentile(lags, 99) * 1000, 1),
                          "max_ms": round(max(lags, default=0.0) * 1000, 1),
                          "over_50ms": sum(1 for v in lags if v > 0.050)}
        return out


async def drive(url: str, probe: LagProbe) -> dict:
    from textual.widgets import DataTable

    from emx2tui.emx2.client import Connection
    from emx2tui.ui.launch import build_app
    from emx2tui.ui.modals.confirm_delete import ConfirmDeleteModal
    from emx2tui.ui.screens.preview import PreviewScreen
    from emx2tui.ui.screens.run import RunScreen

    server = Connection(url, username="admin", password=bench.PASSWORD)
    app = build_app(server, server, source_schema=bench.SOURCE, target_schema=bench.TARGET,
                    strategy=bench.STRATEGY)

    async def wait_for(pilot, condition, timeout: float = 3600.0) -> None:
        end = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > end:
                raise TimeoutError("the app did not get there in time")
            await pilot.pause(0.05)

    times: dict[str, float] = {}
    async with app.run_test(size=SIZE) as pilot:
        probe.start()
        started = time.monotonic()
        probe.phase = "load"
        screen = app.screen
        await wait_for(pilot, lambda: screen.query_one("#source-tables", DataTable).row_count > 0
                       and screen.query_one("#target-tables", DataTable).row_count > 0)
        times["load_s"] = round(time.monotonic() - started, 2)
        probe.phase = "preview"
        t = time.monotonic()
        await pilot.press("p")
        await wait_for(pilot, lambda: isinstance(app.screen, PreviewScreen))
        preview = app.screen
        await wait_for(pilot, lambda: preview.plan is not None or preview.error is not None)
        if preview.plan is None:
            raise SystemExit(f"planning failed: {preview.error}")
        plan = preview.plan
        times["preview_s"] = round(time.monotonic() - t, 2)
        probe.phase = "run"
        t = time.monotonic()
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, (ConfirmDeleteModal, RunScreen)))
        if isinstance(app.screen, ConfirmDeleteModal):
            await pilot.press(*plan.resource_id, "enter")
            await wait_for(pilot, lambda: isinstance(app.screen, RunScreen))
        run = app.screen
        await wait_for(pilot, lambda: not run.running)
        times["run_s"] = round(time.monotonic() - t, 2)
        ok = bool(getattr(run.result, "ok", False))
        probe.phase = "idle"
        await pilot.pause(0.5)
        await probe.stop()
    return dict(times, ok=ok, writes=plan.total_writes, deletes=plan.total_delete_rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", choices=sorted(bench.SIZES), default="M")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", default=str(HERE / "results"))
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix=f"emx2tui-tuilag-{args.size}-"))
    try:
        info = bench.generate(work / "data", bench.SIZES[args.size], args.seed)
        with bench.Sandbox(work / "data", work / "sandbox.log") as sb:
            import os

            os.environ["EMX2TUI_DATA_DIR"] = str(work / "emx2tui-data")
            probe = LagProbe()
            run = asyncio.run(drive(sb.url, probe))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report = {"size": args.size, "catalogue_rows": info["catalogue_rows"], "tick_ms": TICK * 1000,
              "run": run, "lag": probe.summary(), "machine": bench.machine(),
              "when": time.strftime("%Y-%m-%d %H:%M:%S")}
    print(f"size {args.size}: {info['catalogue_rows']} catalogue rows; run {run}")
    print(f"{'phase':8} {'samples':>8} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'>50 ms':>7}")
    for phase, s in report["lag"].items():
        print(f"{phase:8} {s['samples']:8} {s['p50_ms']:7.1f} {s['p99_ms']:7.1f} {s['max_ms']:7.1f} "
              f"{s['over_50ms']:7}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"tui-lag-{args.size}.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
