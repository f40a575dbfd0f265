from __future__ import annotations

import os
from pathlib import Path

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
