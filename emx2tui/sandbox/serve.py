"""`emx2tui sandbox serve`: run the sandbox in the foreground."""

from __future__ import annotations

import gc
import sys

import uvicorn

from emx2tui.sandbox.errors import SandboxError
from emx2tui.sandbox.server import admin_password_from_env, build


def serve_main(args) -> int:
    password = admin_password_from_env(getattr(args, "admin_password", None))
    try:
        store, server, app = build(data_dir=args.data, demo=bool(args.demo),
                                   load=list(args.load or []), admin_password=password,
                                   faults=list(getattr(args, "fault", None) or []))
    except SandboxError as exc:
        print(f"sandbox: {exc.message}", file=sys.stderr)
        return 1
    # what was loaded and built (models, GraphQL APIs, caches) lives as long as the server:
    # frozen out of the collector's full passes, which would otherwise walk all of it, in the
    # middle of some request, for tens of milliseconds at a catalogue's size
    gc.freeze()
    names = ", ".join(store.schema_names()) or "none"
    armed = "; faults: " + ", ".join(f.kind for f in server.faults.armed) if server.faults.armed else ""
    print(f"EMX2 sandbox on http://{args.host}:{args.port} (schemas: {names}; "
          f"data: {args.data or 'in memory'}{armed})", file=sys.stderr, flush=True)
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning", lifespan="off",
                    timeout_graceful_shutdown=2)
    finally:
        server.faults.release()
        server.tasks.stop()
        store.close()
    return 0
