"""Plain-words rendering of engine values: errors, counts, durations, step states."""

from __future__ import annotations

import re
from typing import Any

from rich.text import Text

STATUS_ICONS = {
    "pending": "○",
    "running": "◐",
    "done": "✔",
    "skipped": "–",
    "failed": "✖",
    "cancelled": "⊘",
}

FLOW_NAMES = {
    "A": "Flow A · sync only",
    "B": "Flow B · replace rows",
}

FLOW_STEPS = {
    "A": ["tablesToSync", "download", "filter", "upload"],
    "B": ["tablesToDelete", "deleteCohort", "tablesToSync", "download", "filter", "backup", "upload"],
}

DELETE_STEPS = ("tablesToDelete", "deleteCohort", "deleteNetwork")


def step_names(strategy: Any) -> list[str]:
    """The strategy's steps by name, in order."""
    steps = attr(strategy, "steps") or FLOW_STEPS.get(attr(strategy, "flow", "A"), [])
    out: list[str] = []
    for s in steps:
        name = s if isinstance(s, str) else (attr(s, "name") or str(s))
        if name not in out:
            out.append(name)
    return out


def flow_diagram(strategy: Any, width: int | None = None) -> Text:
    """The flow as a small diagram: SOURCE, the sync steps, TARGET; and for Flow B the delete
    branch, which reads the target and joins the upload (one import). When it does not fit in
    `width` columns, each chain wraps between its steps instead."""
    steps = step_names(strategy)
    sync = [s for s in steps if s not in DELETE_STEPS and s != "backup"]
    deletes = [s for s in steps if s in DELETE_STEPS]
    text = _wide_diagram(sync, deletes)
    if width is None or max(len(line) for line in text.plain.split("\n")) <= width:
        return text
    end = (" TARGET ", "reverse bold")
    text = _chain([(" SOURCE ", "reverse bold")] + [(s, "bold") for s in sync] + [end], width)
    if deletes:
        text.append("\n")
        text.append_text(_chain([end] + [(s, "bold red") for s in deletes]
                                + [("into upload (one import)", "red")], width))
    return text


def _chain(parts: list[tuple[str, str]], width: int) -> Text:
    """Parts joined by arrows, wrapped between parts, continuation lines indented."""
    text = Text()
    column = 0
    for i, (label, style) in enumerate(parts):
        if i:
            if column + 3 + len(label) > width and column > 3:
                text.append("\n  ")
                column = 2
            text.append(" ▶ ", style="dim")
            column += 3
        text.append(label, style=style)
        column += len(label)
    return text


def _wide_diagram(sync: list[str], deletes: list[str]) -> Text:
    arrow = (" ▶ ", "dim")
    text = Text()
    text.append(" SOURCE ", style="reverse bold")
    upload_at = None
    for step in sync:
        text.append(*arrow)
        if step == "upload":
            upload_at = len(text.plain)
        text.append(step, style="bold")
    text.append(*arrow)
    text.append(" TARGET ", style="reverse bold")
    if deletes:
        # The delete branch reads the target and joins the upload: one import does both.
        line = Text()
        line.append(" TARGET ", style="reverse bold")
        for step in deletes:
            line.append(*arrow)
            line.append(step, style="bold red")
        join = (upload_at if upload_at is not None else len(text.plain)) + 3
        if join > len(line.plain) + 1:
            line.append(" " + "─" * (join - len(line.plain) - 1) + "┘", style="red")
        else:
            line.append(" ▶ upload", style="red")
        text.append("\n")
        text.append_text(line)
    return text


def describe_error(error: BaseException | None) -> str:
    """One line a data manager can act on; never a traceback, never a secret."""
    if error is None:
        return "unknown error"
    try:
        from emx2tui.emx2.errors import Emx2Error
    except ImportError:  # pragma: no cover - the EMX2 layer ships with the package
        Emx2Error = ()  # type: ignore[assignment]
    if isinstance(error, Emx2Error) or (type(error).__module__ or "").startswith("emx2tui"):
        return str(error) or type(error).__name__
    name = type(error).__name__
    text = str(error).strip()
    module = type(error).__module__ or ""
    if module.startswith("httpx"):
        if "Connect" in name:
            return f"could not reach the server ({text or name})"
        if "Timeout" in name:
            return f"the server did not answer in time ({text or name})"
        return f"network error: {text or name}"
    if isinstance(error, (ConnectionError, OSError)):
        return f"could not reach the server ({text or name})"
    if isinstance(error, (ValueError, KeyError, LookupError)) and text:
        return text
    return f"{name}: {text}" if text else name


def count(n: int | None) -> str:
    """Thousands separated, '–' for unknown."""
    return "–" if n is None else f"{n:,}"


def plural(n: int | None, word: str) -> str:
    """'1 table', '3 tables', '1,204 rows'."""
    return f"{count(n)} {word}{'' if n == 1 else 's'}"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes} min {secs:02d} s"


def short_path(path: str) -> str:
    """A path with the home folder written as ~, as people read it."""
    from pathlib import Path

    try:
        home = str(Path.home())
    except RuntimeError:
        return path
    return "~" + path[len(home):] if home not in ("", "/") and path.startswith(home + "/") else path


_PATH = re.compile(r"(?<![\w:/.~])~?/(?:[^\s'\"/]+/)+([^\s'\"/]+)")


def compact_paths(text: str) -> str:
    """Each file path in `text` as …/its file name (URLs are left alone)."""
    return _PATH.sub(lambda m: f"…/{m.group(1)}", text)


def attr(obj: Any, name: str, default: Any = None) -> Any:
    """Read an optional attribute of an engine object."""
    return getattr(obj, name, default) if obj is not None else default
