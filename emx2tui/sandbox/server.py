"""Starting the sandbox in-process: uvicorn on a background thread, on a free loopback port."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterable
from pathlib import Path

import uvicorn

from emx2tui.sandbox.app import SandboxServer, create_app
from emx2tui.sandbox.loader import load_demo, load_specs
from emx2tui.sandbox.store import Store

DB_FILE = "sandbox.sqlite"


def open_store(data_dir: str | Path | None) -> Store:
    """An in-memory store, or the one kept in `data_dir` (created when missing)."""
    if data_dir is None:
        return Store()
    path = Path(data_dir)
    path.mkdir(parents=True, exist_ok=True)
    return Store(path / DB_FILE)


def build(*, data_dir: str | Path | None = None, demo: bool = False,
          load: Iterable[str | tuple[str, str]] = (), admin_password: str = "admin",
          faults: Iterable[str] = ()):
    """Store (seeded as asked) and ASGI app, without serving it. `faults` are `--fault` specs."""
    store = open_store(data_dir)
    if demo:
        load_demo(store)
    load_specs(store, load)
    secret = Path(data_dir) / "token.secret" if data_dir else None
    server = SandboxServer(store, admin_password=admin_password, secret_file=secret)
    for spec in faults:
        server.faults.add_spec(spec)
    server.warm()
    return store, server, create_app(store, server=server)


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class SandboxHandle:
    """A running sandbox: `.url`, `.store`, `.server`, `.faults`, `.stop()`; a context manager."""

    def __init__(self, store: Store, server: SandboxServer, uv: uvicorn.Server,
                 thread: threading.Thread, host: str, port: int) -> None:
        self.store = store
        self.server = server
        self.host = host
        self.port = port
        self.url = f"http://{host}:{port}"
        self._uv = uv
        self._thread = thread

    @property
    def faults(self):
        """Fault injection (`emx2tui.sandbox.faults.Faults`): `handle.faults.add("http500", nth=2)`."""
        return self.server.faults

    def stop(self) -> None:
        self.server.faults.release()
        self._uv.should_exit = True
        self._thread.join(timeout=10)
        self.server.tasks.stop()
        self.store.close()

    def __enter__(self) -> "SandboxHandle":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_sandbox(*, host: str = "127.0.0.1", port: int = 0, data_dir: str | Path | None = None,
                  demo: bool = False, load: Iterable[str | tuple[str, str]] = (),
                  admin_password: str = "admin", faults: Iterable[str] = ()) -> SandboxHandle:
    """Serve a sandbox on a background thread and return once it accepts connections."""
    store, server, app = build(data_dir=data_dir, demo=demo, load=load,
                               admin_password=admin_password, faults=faults)
    port = port or _free_port(host)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off",
                            access_log=False, timeout_graceful_shutdown=2)
    uv = uvicorn.Server(config)
    uv.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    thread = threading.Thread(target=uv.run, name="sandbox-http", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not uv.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"sandbox did not start on {host}:{port}")
        time.sleep(0.01)
    return SandboxHandle(store, server, uv, thread, host, port)


def admin_password_from_env(flag: str | None) -> str:
    return flag or os.environ.get("MOLGENIS_ADMIN_PW") or "admin"
