"""Backups of a target schema: plain EMX2 zips, written 0600 in the user's data dir."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

from emx2tui.emx2.zipfmt import make_reimportable


def data_dir() -> Path:
    """The user data dir (EMX2TUI_DATA_DIR wins)."""
    env = os.environ.get("EMX2TUI_DATA_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs  # only where the user's own folder is needed

    return Path(platformdirs.user_data_dir("emx2tui"))


def backup_dir(override: str | os.PathLike | None = None) -> Path:
    return Path(override).expanduser() if override else data_dir() / "backups"


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "schema"


def backup_path(schema: str, server: str, folder: Path) -> Path:
    # Only host and port name the file: user info in the URL may hold a password.
    parts = urlsplit(server if "://" in server else f"//{server}")
    host = parts.hostname or "server"
    if parts.port:
        host = f"{host}_{parts.port}"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = folder / f"{_safe(schema)}@{_safe(host)}-{stamp}.zip"
    n = 1
    path = base
    while path.exists():
        n += 1
        path = base.with_name(f"{base.stem}-{n}.zip")
    return path


def private_dir(folder: Path) -> Path:
    """Create `folder` (and its missing parents) if needed; every folder made here is 0700."""
    missing = []
    at = folder
    while not at.exists() and at != at.parent:
        missing.append(at)
        at = at.parent
    for path in reversed(missing):
        path.mkdir(exist_ok=True)
        try:
            os.chmod(path, 0o700)
        except OSError:
            pass
    return folder


@contextlib.contextmanager
def session_data_dir(prefix: str = "emx2tui-demo-") -> Iterator[Path]:
    """Journal and backups of a throwaway server (the demo) go to a folder of their own that is
    removed afterwards, so they never mix with the user's runs (EMX2TUI_DATA_DIR included):
    the server is gone when the command ends, so there would be nothing to restore them into."""
    before = os.environ.get("EMX2TUI_DATA_DIR")
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    os.environ["EMX2TUI_DATA_DIR"] = str(folder)
    try:
        yield folder
    finally:
        if before is None:
            os.environ.pop("EMX2TUI_DATA_DIR", None)
        else:
            os.environ["EMX2TUI_DATA_DIR"] = before
        shutil.rmtree(folder, ignore_errors=True)


def write_private(path: Path, data: bytes) -> Path:
    """Write bytes to a new file readable by the owner only (0600), in a 0700 folder, and to
    the disk itself before returning (a backup must outlive a crash during the write it guards)."""
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(path, 0o600)
    return path


def write_atomic(path: Path, data: bytes) -> Path:
    """Replace `path` with `data` in one step (temporary file, then rename); mode 0600."""
    private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


async def save_backup(client, schema: str, folder: str | os.PathLike | None = None) -> tuple[Path, int]:
    """Download `schema` (with system columns, made re-importable) into a new 0600 backup zip.

    `client` is an open `emx2tui.emx2.client.Emx2Client`. Returns the path and the size in bytes.
    """
    data = make_reimportable(await client.download_zip(schema, include_system_columns=True))
    path = backup_path(schema, client.url, backup_dir(folder))
    write_private(path, data)
    return path, len(data)
