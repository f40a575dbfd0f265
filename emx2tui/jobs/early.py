"""A headless run's first reads, started from its command line before the engine has loaded.

See `emx2tui.emx2.prefetch`: the metadata of the first job's source and target and, for a
staging source read whole, its ZIP export. This module imports only the strategy parser, so
that the reads leave while asyncio, httpx and the engine are still being imported.
"""

from __future__ import annotations

import argparse
import os

from emx2tui.emx2 import prefetch
from emx2tui.jobs.strategy import StrategyError, load_strategy, load_strategy_file


def env(name: str) -> str | None:
    value = os.environ.get(name)
    return value if value else None


def split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def side_settings(args: argparse.Namespace, side: str) -> tuple[list[str], list[str], str | None]:
    """(URLs, schemas, token) of one side, from the flags or else the environment."""
    up = side.upper()
    urls = split(getattr(args, f"{side}_url", None) or env(f"MG_{up}_URL"))
    schemas = split(getattr(args, f"{side}_schema", None) or env(f"MG_{up}_SCHEMA"))
    token = getattr(args, f"{side}_token", None) or env(f"MG_{up}_TOKEN")
    return urls, schemas, token


def start_reads(args: argparse.Namespace) -> bool:
    """Send the first job's opening reads early, when they can be known from the command line
    (anything unclear is left to the run itself, which reports it). True when some were sent."""
    if getattr(args, "demo", False):
        return False  # the demo's server starts later, in this process
    try:
        strategy = (load_strategy_file(args.strategy_file) if getattr(args, "strategy_file", None)
                    else load_strategy(args.strategy) if getattr(args, "strategy", None) else None)
    except (StrategyError, OSError):
        return False
    if strategy is None:
        return False
    source_urls, source_schemas, source_token = side_settings(args, "source")
    target_urls, target_schemas, target_token = side_settings(args, "target")
    source = (source_schemas or [strategy.source_model.default_schema])[0]
    target = (target_schemas or [strategy.target_model.default_schema])[0]
    if not (source_urls and target_urls and source and target):
        return False
    timeout = prefetch.default_timeout()
    sent = prefetch.start(source_urls[0], source_token, metadata=[source],
                          exports=[source] if strategy.source_read == "zip" else [], timeout=timeout)
    return prefetch.start(target_urls[0], target_token, metadata=[target], timeout=timeout) or sent
