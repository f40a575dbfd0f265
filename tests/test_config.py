"""The config file: connections, saved jobs, keys; secrets kept out; .env import."""

from __future__ import annotations

import os
import stat

import pytest

from emx2tui.cli import main
from emx2tui.config import (Config, ConfigError, ConnectionConfig, SavedJob, config_path,
                            import_env, load_config, parse_env_file, save_config)

ENV = """# Set job_strategy
MG_JOB_STRAGEGY = CohortStagingToDataCatalogue

MG_SOURCE_URL = https://staging.example.org
MG_SOURCE_USERNAME = admin
MG_SOURCE_PASSWORD = pw-secret
MG_SOURCE_DATABASE='testCohort'

export MG_TARGET_URL="https://catalogue.example.org"
MG_TARGET_TOKEN = tok-secret
MG_TARGET_DATABASE=catalogue,catalogue2
"""


def test_path_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("EMX2TUI_CONFIG", str(tmp_path / "c.toml"))
    assert config_path() == tmp_path / "c.toml"
    monkeypatch.delenv("EMX2TUI_CONFIG")
    assert config_path().name == "config.toml" and "emx2tui" in str(config_path())


def test_round_trip_is_private_and_keeps_secrets_out(tmp_path):
    config = Config(theme="textual-light", keys={"preview": "f5"})
    config.connections["staging"] = ConnectionConfig("staging", "https://s.example.org",
                                                     "password", "ann", password="pw-secret",
                                                     password_env="STAGING_PW")
    config.connections["cat"] = ConnectionConfig("cat", "https://c.example.org", "token",
                                                 token="tok-secret", save_secret=True)
    config.jobs["weekly"] = SavedJob("weekly", "FillStaging", "cat", "staging", "catalogue",
                                     "testCohort", "NORTHSTAR")
    path = save_config(config, tmp_path / "sub" / "config.toml")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    text = path.read_text()
    assert "pw-secret" not in text  # not asked to save it
    assert "tok-secret" in text  # asked (save_secret)
    again = load_config(path)
    assert again.theme == "textual-light" and again.keys == {"preview": "f5"}
    assert again.jobs["weekly"] == config.jobs["weekly"]
    staging = again.connections["staging"]
    assert staging.password is None and staging.password_env == "STAGING_PW"
    assert again.connections["cat"].token == "tok-secret"
    assert "tok-secret" not in repr(again.connections["cat"])


def test_secrets_from_environment_or_env_file(tmp_path, monkeypatch):
    env_file = tmp_path / ".env"
    env_file.write_text("STAGING_PW=from-file\n")
    conn = ConnectionConfig("s", "https://s.example.org", "password", "ann",
                            password_env="STAGING_PW", env_file=str(env_file))
    assert conn.resolve_secret({}) == "from-file"
    assert conn.resolve_secret({"STAGING_PW": "from-env"}) == "from-env"
    conn.env_file = None
    assert conn.needs_secret({})
    assert "$STAGING_PW" in conn.where_secret_comes_from()
    connection = conn.connection("typed")
    assert (connection.username, connection.password) == ("ann", "typed")
    assert "typed" not in connection.label


def test_bad_files_say_what_is_wrong(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("connections = [")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)
    bad.write_text("[connections.x]\nauth = 'token'\n")
    with pytest.raises(ConfigError, match="needs a url"):
        load_config(bad)
    with pytest.raises(ConfigError, match="auth must be"):
        ConnectionConfig("x", "https://x", "kerberos")
    assert load_config(tmp_path / "missing.toml").connections == {}


def test_import_env(tmp_path):
    env = tmp_path / ".env"
    env.write_text(ENV)
    assert parse_env_file(env)["MG_TARGET_URL"] == "https://catalogue.example.org"
    config = Config()
    added = import_env(env, config)
    assert len(added.connections) == 2
    source = config.connections[added.connections[0]]
    target = config.connections[added.connections[1]]
    assert (source.url, source.auth, source.username) == ("https://staging.example.org",
                                                          "password", "admin")
    assert (target.auth, target.token_env) == ("token", "MG_TARGET_TOKEN")
    assert source.resolve_secret({}) == "pw-secret"  # read from the .env when needed
    assert [config.jobs[j].target_schema for j in added.jobs] == ["catalogue", "catalogue2"]
    job = config.jobs[added.jobs[0]]
    assert (job.strategy, job.source_schema) == ("CohortStagingToDataCatalogue", "testCohort")
    path = save_config(config, tmp_path / "config.toml")
    text = path.read_text()
    assert "pw-secret" not in text and "tok-secret" not in text
    local = tmp_path / "local.env"
    local.write_text("MG_SOURCE_URL=http://127.0.0.1:8080\nMG_TARGET_URL=http://localhost:8080\n"
                     "MG_SOURCE_SCHEMA=a\nMG_TARGET_SCHEMA=b\n")
    names = import_env(local, Config()).connections
    assert names == ["127.0.0.1", "localhost"]


def test_cli_import_env(tmp_path, capsys):
    env = tmp_path / ".env"
    env.write_text(ENV)
    assert main(["--import-env", str(env)]) == 0
    out = capsys.readouterr().out
    assert "saved job" in out and "secret" not in out
    config = load_config()
    assert len(config.connections) == 2 and len(config.jobs) == 2
    assert stat.S_IMODE(os.stat(config.path).st_mode) == 0o600
    # Importing again reuses the connections and adds no job twice.
    assert main(["--import-env", str(env)]) == 0
    assert len(load_config().connections) == 2 and len(load_config().jobs) == 2
    assert "already saved" in capsys.readouterr().out
    # An unknown strategy saves no job, and says why.
    bogus = tmp_path / "bogus.env"
    bogus.write_text(ENV.replace("= CohortStagingToDataCatalogue", "= BogusStrategy"))
    config = Config()
    added = import_env(bogus, config)
    assert not added.jobs and not config.jobs
    assert any("MG_JOB_STRATEGY" in n and "No job was saved" in n for n in added.notes)
    missing = tmp_path / "nope.env"
    assert main(["--import-env", str(missing)]) == 2
