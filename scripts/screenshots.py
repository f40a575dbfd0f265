"""Make the README screenshots: the app on a sandbox with the demo data, driven by Pilot.

    python scripts/screenshots.py [--out screenshots] [--size 140x42]

Writes SVGs (and PNGs when cairosvg or rsvg-convert is installed) of the main screen, the preview with a
row diff, the delete confirmation, a run in progress, a finished run, the history and the keys.
The pipeline is held once, just after the import was sent, so the in-progress picture is the
same every time. The app runs with an empty config of its own and times in UTC.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import suppress
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PORT = 18080
sys.path.insert(0, str(ROOT))


async def wait_for(pilot, condition, timeout: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise TimeoutError("the app did not reach the expected state")
        await pilot.pause(0.05)


async def settle(pilot) -> None:
    from textual.worker import WorkerCancelled, WorkerFailed

    with suppress(WorkerFailed, WorkerCancelled):
        await pilot.app.workers.wait_for_complete()
    await pilot.pause(0.3)


async def shoot(url: str, out: Path, size: tuple[int, int]) -> list[Path]:
    from emx2tui.emx2.client import Connection, Emx2Client
    from emx2tui.config import Config
    from emx2tui.ui.launch import DEMO_STRATEGY, build_app, demo_names
    from emx2tui.ui.screens.history import HistoryScreen
    from emx2tui.ui.screens.preview import PreviewScreen
    from emx2tui.ui.screens.run import RunScreen

    # Hold the first poll of the server's import task until the in-progress shot is taken. The
    # job runs on an event loop of its own in a thread: thread events, not asyncio ones.
    held, release = threading.Event(), threading.Event()
    poll_task = Emx2Client.task

    async def held_task(self, task_id: str) -> dict:
        if not release.is_set():
            held.set()
            while not release.is_set():
                await asyncio.sleep(0.02)
        return await poll_task(self, task_id)

    Emx2Client.task = held_task  # type: ignore[method-assign]

    server = Connection(url, username="admin", password="admin")
    names = demo_names()
    app = build_app(server, server, source_schema=names["source"], target_schema=names["target"],
                    strategy=DEMO_STRATEGY, config=Config())
    files: list[Path] = []

    def save(name: str) -> None:
        files.append(Path(app.save_screenshot(f"{name}.svg", str(out))))
        print(f"  {name}.svg")

    try:
        async with app.run_test(size=size) as pilot:
            main = app.screen
            await wait_for(pilot, lambda: main.source_pane.counts and main.target_pane.counts)
            await settle(pilot)
            save("main")

            await pilot.press("p")
            await wait_for(pilot, lambda: isinstance(app.screen, PreviewScreen))
            preview = app.screen
            await wait_for(pilot, lambda: preview.plan is not None or preview.error is not None)
            await settle(pilot)
            # Show a table with an updated row: its changed cells, and the old values below.
            sync = preview.plan.sync
            updated = [i for i, t in enumerate(sync) if t.updates]
            changed = [i for i, t in enumerate(sync) if t.inserts or t.updates]
            target = (updated or changed or [0])[0]
            for _ in range(target):
                await pilot.press("down")
            await settle(pilot)
            if updated:
                await pilot.press("w")
                actions = list(sync[target].actions)
                for _ in range(actions.index("update") if "update" in actions else 0):
                    await pilot.press("down")
            await settle(pilot)
            save("preview")

            await pilot.press("r")
            await pilot.pause(0.3)
            rid = preview.plan.resource_id or names["target"]
            await pilot.press(*rid[: max(1, len(rid) - 3)])
            await pilot.pause(0.3)
            save("confirm-delete")

            await pilot.press(*rid[max(1, len(rid) - 3):], "enter")
            await wait_for(pilot, lambda: isinstance(app.screen, RunScreen))
            run = app.screen
            await wait_for(pilot, held.is_set)
            await pilot.pause(0.5)
            save("run-in-progress")
            release.set()

            await wait_for(pilot, lambda: not run.running)
            await pilot.pause(0.5)
            save("run-finished")

            await pilot.press("h")
            await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen))
            await settle(pilot)
            save("history")
            await pilot.press("escape")
            await pilot.pause(0.3)

            await pilot.press("f1")
            await pilot.pause(0.3)
            save("help")
    finally:
        Emx2Client.task = poll_task  # type: ignore[method-assign]
    return files


def free_port(preferred: int) -> int:
    """The preferred port when it is free (stable pictures), else any free one."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
        except OSError:
            return 0
    return preferred


# A monospace font whose bold has the regular's width and which has the app's symbols (✔ ⊘ …);
# the SVGs ask for Fira Code, which lacks some of them.
PNG_FONT = "DejaVu Sans Mono"


def to_png(files: list[Path]) -> None:
    """PNGs beside the SVGs, with cairosvg (pip install cairosvg; rsvg-convert drops the spaces
    that start a text run, so it is used only when cairosvg is missing)."""
    try:
        import cairosvg
    except ImportError:
        cairosvg = None
    converter = shutil.which("rsvg-convert")
    if cairosvg is None and converter is None:
        print("neither cairosvg nor rsvg-convert found; SVGs only (pip install cairosvg for PNGs)")
        return
    for svg in files:
        png = svg.with_suffix(".png")
        text = svg.read_text(encoding="utf-8").replace("font-family: Fira Code, monospace",
                                                       f"font-family: {PNG_FONT}, monospace")
        if cairosvg is not None:
            cairosvg.svg2png(bytestring=text.encode("utf-8"), write_to=str(png), scale=1.4)
        else:
            subprocess.run([converter, "-o", str(png), "-"], input=text.encode("utf-8"), check=True)
        print(f"  {png.name}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "screenshots"), help="output folder")
    parser.add_argument("--size", default="140x42", help="terminal size, COLSxROWS")
    args = parser.parse_args()
    cols, rows = (int(x) for x in args.size.lower().split("x"))
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)

    # Backups of the demo run go to a throwaway folder, named relatively so that the pictures
    # show a short path rather than this machine's folders.
    work = tempfile.mkdtemp(prefix="emx2tui-shots-")
    here = os.getcwd()
    os.chdir(work)
    os.environ["EMX2TUI_DATA_DIR"] = "emx2tui-data"
    os.environ["EMX2TUI_CONFIG"] = "emx2tui-config.toml"
    os.environ["TZ"] = "UTC"
    time.tzset()
    from emx2tui.sandbox.server import start_sandbox

    try:
        with start_sandbox(port=free_port(PORT), demo=True, admin_password="admin") as sandbox:
            print(f"sandbox at {sandbox.url}; writing to {out}")
            files = asyncio.run(shoot(sandbox.url, out, (cols, rows)))
    finally:
        os.chdir(here)
        shutil.rmtree(work, ignore_errors=True)
    to_png(files)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
