"""The user's configuration: saved connections, saved jobs, key bindings and the theme.

One TOML file, read with `tomllib` and written with `tomli-w` (mode 0600):

    theme = "textual-dark"

    [keys]                         # binding id -> keys, e.g. preview = "p,f5"
    preview = "p"

    [connections.staging]
    url = "https://staging.example.org"
    auth = "password"              # "password", "token" or "none"
    username = "ann"
    password_env = "MG_SOURCE_PASSWORD"   # read from the environment (or from env_file)
    env_file = "/home/ann/etl/.env"       # optional: where that variable is written down

    [jobs.weekly]
    strategy = "CohortStagingToDataCatalogue"
    source = "staging"
    source_schema = "testCohort"
    target = "catalogue"
    target_schema = "catalogue"

Passwords and tokens are not written to the file unless a connection asks for it
(`save_secret = true`). Otherwise they come from the environment variable the connection
names, from the `.env` file it names, or the app asks for them when they are needed.

Where: `EMX2TUI_CONFIG` when set, else `platformdirs.user_config_path("emx2tui")/config.toml`.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import tomli_w

AUTH_KINDS = ("password", "token", "none")
_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


class ConfigError(Exception):
    """The config file cannot be read or written, or an entry in it is not valid."""


def config_path() -> Path:
    """The config file: `EMX2TUI_CONFIG`, or config.toml in the user config folder."""
    override = os.environ.get("EMX2TUI_CONFIG")
    if override:
        return Path(override).expanduser()
    from platformdirs import user_config_path

    return user_config_path("emx2tui") / "config.toml"


def safe_name(text: str, fallback: str = "server") -> str:
    """A config key from free text: letters, digits, `_`, `-` and `.`."""
    name = _NAME.sub("-", (text or "").strip()).strip("-.")
    return name or fallback


# ----------------------------------------------------------------------------- .env files
def parse_env_file(path: str | Path) -> dict[str, str]:
    """KEY=VALUE lines of a `.env` file (spaces around `=`, quotes and `export` allowed)."""
    p = Path(path).expanduser()
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"Cannot read {p}: {exc.strerror or exc}") from None
    out: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        if line.startswith("export "):
            line = line[len("export "):].strip()
        key, value = line.split("=", 1)
        key, value = key.strip(), value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        if key:
            out[key] = value
    return out


# ----------------------------------------------------------------------------- models
@dataclass
class ConnectionConfig:
    """A server the user works with, and how to sign in there. Secrets stay out of the repr."""

    name: str
    url: str
    auth: str = "none"
    username: str | None = None
    token: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    token_env: str | None = None
    password_env: str | None = None
    env_file: str | None = None
    save_secret: bool = False

    def __post_init__(self) -> None:
        if self.auth not in AUTH_KINDS:
            raise ConfigError(f"Connection '{self.name}': auth must be one of "
                              f"{', '.join(AUTH_KINDS)}, not '{self.auth}'")

    @property
    def label(self) -> str:
        """What the app shows about the connection; never a secret."""
        who = self.username if self.auth == "password" else self.auth
        host = urlsplit(self.url).netloc or self.url
        return f"{self.name} · {who}@{host}" if who and who != "none" else f"{self.name} · {host}"

    @property
    def secret_kind(self) -> str | None:
        return {"password": "password", "token": "token"}.get(self.auth)

    @property
    def secret_env(self) -> str | None:
        return self.password_env if self.auth == "password" else (
            self.token_env if self.auth == "token" else None)

    def stored_secret(self) -> str | None:
        return self.password if self.auth == "password" else (
            self.token if self.auth == "token" else None)

    def resolve_secret(self, env: Mapping[str, str] | None = None) -> str | None:
        """The password or token: stored, then the environment, then the named .env file."""
        if self.auth == "none":
            return None
        stored = self.stored_secret()
        if stored:
            return stored
        name = self.secret_env
        if not name:
            return None
        env = os.environ if env is None else env
        if env.get(name):
            return env[name]
        if self.env_file:
            try:
                return parse_env_file(self.env_file).get(name) or None
            except ConfigError:
                return None
        return None

    def needs_secret(self, env: Mapping[str, str] | None = None) -> bool:
        """True when the app has to ask for the password or token."""
        return self.auth != "none" and not self.resolve_secret(env)

    def where_secret_comes_from(self) -> str:
        if self.auth == "none":
            return "no sign-in"
        if self.stored_secret():
            return f"{self.secret_kind} saved in the config file"
        parts = []
        if self.secret_env:
            parts.append(f"${self.secret_env}")
        if self.env_file:
            parts.append(Path(self.env_file).name)
        where = " or ".join(parts)
        return f"{self.secret_kind} from {where}, else asked" if where else f"{self.secret_kind} asked"

    def connection(self, secret: str | None = None, schema: str | None = None) -> Any:
        """An engine connection; `secret` overrides what `resolve_secret` finds."""
        from emx2tui.emx2.client import Connection

        secret = secret if secret is not None else self.resolve_secret()
        if self.auth == "token":
            return Connection(self.url, schema=schema, token=secret)
        if self.auth == "password":
            return Connection(self.url, schema=schema, username=self.username, password=secret)
        return Connection(self.url, schema=schema)

    def to_toml(self) -> dict[str, Any]:
        out: dict[str, Any] = {"url": self.url, "auth": self.auth}
        if self.username:
            out["username"] = self.username
        for key in ("token_env", "password_env", "env_file"):
            value = getattr(self, key)
            if value:
                out[key] = value
        if self.save_secret:
            out["save_secret"] = True
            if self.auth == "token" and self.token:
                out["token"] = self.token
            if self.auth == "password" and self.password:
                out["password"] = self.password
        return out

    @classmethod
    def from_toml(cls, name: str, data: Mapping[str, Any]) -> "ConnectionConfig":
        if not isinstance(data, Mapping) or not data.get("url"):
            raise ConfigError(f"Connection '{name}' needs a url")
        auth = str(data.get("auth") or ("token" if data.get("token") or data.get("token_env")
                                         else "password" if data.get("username") else "none"))
        save = bool(data.get("save_secret", False))
        return cls(name=name, url=str(data["url"]), auth=auth,
                   username=_opt(data.get("username")),
                   token=_opt(data.get("token")) if save else None,
                   password=_opt(data.get("password")) if save else None,
                   token_env=_opt(data.get("token_env")), password_env=_opt(data.get("password_env")),
                   env_file=_opt(data.get("env_file")), save_secret=save)


@dataclass
class SavedJob:
    """A strategy between two connections' schemas, to run again from a list."""

    name: str
    strategy: str
    source: str
    target: str
    source_schema: str | None = None
    target_schema: str | None = None
    resource_id: str | None = None

    def describe(self) -> str:
        rid = f" · {self.resource_id}" if self.resource_id else ""
        return (f"{self.strategy}: {self.source_schema or '?'}@{self.source} → "
                f"{self.target_schema or '?'}@{self.target}{rid}")

    def to_toml(self) -> dict[str, Any]:
        out: dict[str, Any] = {"strategy": self.strategy, "source": self.source,
                               "target": self.target}
        for key in ("source_schema", "target_schema", "resource_id"):
            value = getattr(self, key)
            if value:
                out[key] = value
        return out

    @classmethod
    def from_toml(cls, name: str, data: Mapping[str, Any]) -> "SavedJob":
        missing = [k for k in ("strategy", "source", "target") if not data.get(k)]
        if missing:
            raise ConfigError(f"Saved job '{name}' needs {', '.join(missing)}")
        return cls(name=name, strategy=str(data["strategy"]), source=str(data["source"]),
                   target=str(data["target"]), source_schema=_opt(data.get("source_schema")),
                   target_schema=_opt(data.get("target_schema")),
                   resource_id=_opt(data.get("resource_id")))


@dataclass
class Config:
    connections: dict[str, ConnectionConfig] = field(default_factory=dict)
    jobs: dict[str, SavedJob] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    theme: str | None = None
    path: Path | None = None

    def to_toml(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.theme:
            out["theme"] = self.theme
        if self.keys:
            out["keys"] = dict(self.keys)
        if self.connections:
            out["connections"] = {n: c.to_toml() for n, c in self.connections.items()}
        if self.jobs:
            out["jobs"] = {n: j.to_toml() for n, j in self.jobs.items()}
        return out

    @classmethod
    def from_toml(cls, data: Mapping[str, Any], path: Path | None = None) -> "Config":
        conns = data.get("connections") or {}
        jobs = data.get("jobs") or {}
        keys = data.get("keys") or {}
        if not all(isinstance(x, Mapping) for x in (conns, jobs, keys)):
            raise ConfigError(f"{path or 'config'}: connections, jobs and keys must be tables")
        theme = data.get("theme")
        return cls(connections={n: ConnectionConfig.from_toml(n, c) for n, c in conns.items()},
                   jobs={n: SavedJob.from_toml(n, j) for n, j in jobs.items()},
                   keys={str(k): str(v) for k, v in keys.items()},
                   theme=str(theme) if theme else None, path=path)

    def unique_name(self, base: str, table: str = "connections") -> str:
        taken = self.connections if table == "connections" else self.jobs
        base = safe_name(base)
        name, n = base, 2
        while name in taken:
            name, n = f"{base}-{n}", n + 1
        return name

    def connection_for_url(self, url: str) -> ConnectionConfig | None:
        from emx2tui.emx2.client import normalise_url

        wanted = normalise_url(url)
        return next((c for c in self.connections.values() if normalise_url(c.url) == wanted), None)


def _opt(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


# ----------------------------------------------------------------------------- read / write
def load_config(path: str | Path | None = None) -> Config:
    """The config at `path` (default `config_path()`); an empty one when the file is missing."""
    p = Path(path) if path is not None else config_path()
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        return Config(path=p)
    except OSError as exc:
        raise ConfigError(f"Cannot read the config file {p}: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"The config file {p} is not valid TOML: {exc}") from None
    return Config.from_toml(data, p)


def save_config(config: Config, path: str | Path | None = None) -> Path:
    """Write the config atomically, readable by its owner only (0600)."""
    p = Path(path) if path is not None else (config.path or config_path())
    text = tomli_w.dumps(config.to_toml())
    from emx2tui.jobs.backup import write_atomic

    try:
        write_atomic(p, text.encode("utf-8"))
    except OSError as exc:
        raise ConfigError(f"Cannot write the config file {p}: {exc.strerror or exc}") from None
    config.path = p
    return p


# ----------------------------------------------------------------------------- .env import
STRATEGY_KEYS = ("MG_JOB_STRATEGY", "MG_JOB_STRAGEGY", "MG_STRATEGY")


@dataclass
class EnvImport:
    """What `import_env` added to a config."""

    connections: list[str] = field(default_factory=list)
    jobs: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _connection_name(host: str) -> str:
    """A short name for a server: its host's first label (`catalogue` for
    catalogue.example.org), or the whole address for an IP address."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return host.split(".")[0]
    return host


def _side_connection(config: Config, values: Mapping[str, str], side: str,
                     env_file: str) -> ConnectionConfig | None:
    up = side.upper()
    url = values.get(f"MG_{up}_URL")
    if not url:
        return None
    token_env, password_env = f"MG_{up}_TOKEN", f"MG_{up}_PASSWORD"
    username = values.get(f"MG_{up}_USERNAME") or None
    if values.get(token_env):
        auth = "token"
    elif username or values.get(password_env):
        auth = "password"
    else:
        auth = "none"
    existing = config.connection_for_url(url)
    if existing is not None and existing.auth == auth and existing.username == username:
        return existing
    host = urlsplit(url if "://" in url else f"https://{url}").hostname or side
    name = config.unique_name(_connection_name(host) or side)
    conn = ConnectionConfig(name=name, url=url, auth=auth, username=username,
                            token_env=token_env if auth == "token" else None,
                            password_env=password_env if auth == "password" else None,
                            env_file=env_file if auth != "none" else None)
    config.connections[name] = conn
    return conn


def import_env(path: str | Path, config: Config) -> EnvImport:
    """Turn a molgenis-py-cohorts-etl `.env` into connections and saved jobs in `config`.

    The secrets stay in the `.env` file: the connections name the variable and the file, and
    read them from there (or from the environment) when needed.
    """
    p = Path(path).expanduser().resolve()
    values = parse_env_file(p)
    result = EnvImport()
    sides = {}
    for side in ("source", "target"):
        before = set(config.connections)
        conn = _side_connection(config, values, side, str(p))
        sides[side] = conn
        if conn is not None and conn.name not in before:
            result.connections.append(conn.name)
    if sides["source"] is None and sides["target"] is None:
        raise ConfigError(f"{p} has neither MG_SOURCE_URL nor MG_TARGET_URL")
    strategy = next((values[k] for k in STRATEGY_KEYS if values.get(k)), None)
    if not strategy:
        result.notes.append("No MG_JOB_STRATEGY in the file: no job was saved.")
        return result
    from emx2tui.jobs.strategy import StrategyError, load_strategy

    try:
        strategy = load_strategy(strategy).name  # old upper-case names become today's
    except StrategyError as exc:
        result.notes.append(f"MG_JOB_STRATEGY: {exc} No job was saved.")
        return result
    if sides["source"] is None or sides["target"] is None:
        result.notes.append("The file names only one server: no job was saved.")
        return result

    def schemas(side: str) -> list[str | None]:
        up = side.upper()
        text = values.get(f"MG_{up}_SCHEMA") or values.get(f"MG_{up}_DATABASE") or ""
        names = [s.strip() for s in text.split(",") if s.strip()]
        return names or [None]  # type: ignore[list-item]

    sources, targets = schemas("source"), schemas("target")
    pairs = [(s, t) for s in sources for t in targets]
    resource = values.get("MG_RESOURCE_ID") or values.get("MG_RESOURCE") or None
    for source_schema, target_schema in pairs:
        suffix = target_schema if len(targets) > 1 else (source_schema if len(sources) > 1 else "")
        base = f"{strategy}-{suffix}" if suffix else strategy
        job = SavedJob(name=base, strategy=strategy, source=sides["source"].name,
                       target=sides["target"].name, source_schema=source_schema,
                       target_schema=target_schema, resource_id=resource)
        same = next((j for j in config.jobs.values()
                     if dataclasses.replace(j, name=base) == job), None)
        if same is not None:  # imported before
            result.notes.append(f"Job {same.name} is already saved.")
            continue
        job.name = config.unique_name(base, "jobs")
        config.jobs[job.name] = job
        result.jobs.append(job.name)
    return result
