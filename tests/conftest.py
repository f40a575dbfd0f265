from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_MODELS = Path(os.environ.get("EMX2TUI_MODELS", ROOT.parent / "shared" / "emx2-models"))


@pytest.fixture(scope="session")
def models_dir() -> Path:
    if not (SHARED_MODELS / "catalogue" / "molgenis.csv").exists():
        pytest.fail(f"reference models not found at {SHARED_MODELS} (set EMX2TUI_MODELS)")
    return SHARED_MODELS


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory, monkeypatch):
    """Keep config, backups and journals of tests out of the developer's own folders."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("EMX2TUI_CONFIG", str(home / "config.toml"))
    monkeypatch.setenv("EMX2TUI_DATA_DIR", str(home / "data"))
    for var in ("MG_SOURCE_TOKEN", "MG_TARGET_TOKEN", "MG_SOURCE_USERNAME", "MG_SOURCE_PASSWORD",
                "MG_TARGET_USERNAME", "MG_TARGET_PASSWORD", "MG_SOURCE_URL", "MG_TARGET_URL",
                "MG_SOURCE_SCHEMA", "MG_TARGET_SCHEMA"):
        monkeypatch.delenv(var, raising=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve_sandbox(log: Path, *args: str) -> Iterator[str]:
    """`emx2tui sandbox serve ARGS` as its own process on a free loopback port; yields its URL.

    `log` receives the server's output (shown when it does not come up). The process is stopped
    on leaving the block.
    """
    port = _free_port()
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "emx2tui", "sandbox", "serve", "--port", str(port), *args],
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"sandbox serve did not start: {log.read_text()}")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def sandbox_process():
    """`serve_sandbox` for tests: `with sandbox_process(log_path, "--load", "s=dir") as url:`."""
    return serve_sandbox


@contextlib.contextmanager
def cohort_sandbox(models_dir: Path, password: str) -> Iterator[object]:
    """A sandbox with the reference ontologies, catalogue and one cohort staging area
    (`testCohort`), signed in as admin with `password`."""
    from emx2tui.sandbox import server

    load = [("CatalogueOntologies", models_dir / "catalogue-ontologies"),
            ("catalogue", models_dir / "catalogue"),
            ("testCohort", models_dir / "cohort-staging")]
    with server.start_sandbox(port=0, load=[(n, str(p)) for n, p in load],
                              admin_password=password) as sb:
        yield sb
