"""Build the domain objects (connections, strategies, client and job factories) and open the app.

`emx2tui` reads its connections from flags or the MG_* environment; `emx2tui demo` starts the
sandbox in-process with the demo data and points both sides at it.
"""

from __future__ import annotations

import os
import sys
from argparse import Namespace
from collections.abc import Mapping
from typing import Any

DEMO_STRATEGY = "CohortStagingToDataCatalogue"


def connection_from(args: Namespace, side: str, env: Mapping[str, str] | None = None) -> Any | None:
    """A Connection for `side` ("source" or "target"); flags win over the environment."""
    from emx2tui.emx2.client import Connection

    env = os.environ if env is None else env
    prefix = f"MG_{side.upper()}_"
    url = getattr(args, f"{side}_url", None) or env.get(prefix + "URL")
    if not url:
        return None
    schema = getattr(args, f"{side}_schema", None) or env.get(prefix + "SCHEMA")
    token = getattr(args, f"{side}_token", None) or env.get(prefix + "TOKEN")
    username = password = None
    if not token:
        username = env.get(prefix + "USERNAME") or None
        password = env.get(prefix + "PASSWORD") or None
    return Connection(url, schema=schema, token=token, username=username, password=password)


def build_app(source: Any, target: Any, *, source_schema: str | None = None,
              target_schema: str | None = None, strategy: str | None = None,
              config: Any = None) -> Any:
    """The app with the real engine behind it."""
    from emx2tui.config import load_config
    from emx2tui.emx2.client import Emx2Client
    from emx2tui.jobs.runner import Job
    from emx2tui.jobs.strategy import list_strategies
    from emx2tui.ui.app import Emx2App

    def job_factory(strategy: Any, source: Any, target: Any, resource_id: str | None = None) -> Any:
        return Job(strategy, source, target, resource_id=resource_id)

    return Emx2App(
        source=source,
        target=target,
        strategies=list_strategies(),
        client_factory=Emx2Client,
        job_factory=job_factory,
        source_schema=source_schema or (source.schema if source is not None else None),
        target_schema=target_schema or (target.schema if target is not None else None),
        strategy=strategy,
        config=config if config is not None else load_config(),
    )


def import_env_main(path: str) -> int:
    """`emx2tui --import-env FILE`: saved connections and jobs from an old .env."""
    from emx2tui.config import ConfigError, import_env, load_config, save_config

    try:
        config = load_config()
        added = import_env(path, config)
        where = save_config(config)
    except ConfigError as exc:
        print(f"emx2tui: {exc}", file=sys.stderr)
        return 2
    for name in added.connections:
        conn = config.connections[name]
        print(f"connection {name}: {conn.url} ({conn.where_secret_comes_from()})")
    for name in added.jobs:
        print(f"saved job {name}: {config.jobs[name].describe()}")
    for note in added.notes:
        print(note)
    print(f"written to {where} (passwords and tokens stay in {path})")
    return 0


def tui_main(args: Namespace) -> int:
    from emx2tui.config import ConfigError, load_config

    if getattr(args, "import_env", None):
        return import_env_main(args.import_env)
    try:
        config = load_config()
    except ConfigError as exc:
        print(f"emx2tui: {exc}", file=sys.stderr)
        return 2
    source = connection_from(args, "source")
    target = connection_from(args, "target")
    if source is None and target is None and not config.connections:
        print("emx2tui: no servers given; use --source-url/--target-url or MG_SOURCE_URL/"
              "MG_TARGET_URL, add connections in the app (c), or try `emx2tui demo`.",
              file=sys.stderr)
    app = build_app(source, target, config=config)
    app.run()
    return app.return_code or 0


def demo_names() -> dict[str, str]:
    """The demo's source and target schema names, from the demo generator."""
    from emx2tui.sandbox.demo import DEMO

    return {"source": str(DEMO["staging"]), "target": str(DEMO["catalogue"])}


def demo_main(args: Namespace) -> int:
    from emx2tui.emx2.client import Connection
    from emx2tui.jobs.backup import session_data_dir
    from emx2tui.sandbox.server import start_sandbox

    names = demo_names()
    print("Starting the sandbox with the demo data…", file=sys.stderr)
    # The demo's runs are journalled and backed up in a folder of the session's own: the sandbox
    # and its data end with the app, and the user's history stays free of them.
    with session_data_dir(), \
            start_sandbox(port=getattr(args, "port", 0) or 0, demo=True, admin_password="admin") as sandbox:
        server = Connection(sandbox.url, username="admin", password="admin")
        app = build_app(server, server, source_schema=names["source"],
                        target_schema=names["target"], strategy=DEMO_STRATEGY)
        app.run()
    return app.return_code or 0
