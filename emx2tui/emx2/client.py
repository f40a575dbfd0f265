"""An async client for the EMX2 HTTP API: sign-in, GraphQL, CSV, ZIP and task polling.

Every failure ends in one of the typed errors of `emx2tui.emx2.errors`, with a message that
names the server, the schema and the table, and says what to do. Tokens and passwords are
never part of a message, a log line or a repr.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import logging
import os
import re
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote, unquote, urlsplit, urlunsplit

if "httpx" not in sys.modules:
    # httpx's own command line (httpx._main) pulls in click, rich and pygments, about 40 ms of
    # start-up this program never uses: its package import falls back to a stub without it
    sys.modules["httpx._main"] = None  # type: ignore[assignment]
    try:
        import httpx
    finally:
        del sys.modules["httpx._main"]
import httpx

from emx2tui.emx2 import prefetch
from emx2tui.emx2.prefetch import default_timeout
from emx2tui.emx2.errors import (
    AuthError,
    ConnectionFailed,
    CsvFormatError,
    Emx2Error,
    PermissionDenied,
    SchemaNotFound,
    ServerError,
    TaskFailed,
)
from emx2tui.emx2.frames import Frame, read_frame
from emx2tui.emx2.model import SchemaModel
from emx2tui.emx2.names import table_id
from emx2tui.emx2.transport import ThreadedTransport

log = logging.getLogger(__name__)

TaskCallback = Callable[[dict], "Awaitable[None] | None"]
T = TypeVar("T")

_SCHEMA_QUERY = prefetch.SCHEMA_QUERY

TERMINAL_TASK_STATES = {"COMPLETED", "ERROR", "CANCELLED", "SKIPPED"}
# Answers worth another try for a read: a proxy or server hiccup, not a refusal.
RETRY_STATUSES = {500, 502, 503, 504}


@dataclass
class Connection:
    """Where a schema lives and how to sign in. Secrets are kept out of the repr."""

    url: str
    schema: str | None = None
    token: str | None = field(default=None, repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        url, user, password = split_user_info(normalise_url(self.url))
        self.url = url
        # Credentials written into the URL are used for sign-in, never shown.
        if user and not (self.username or self.token):
            self.username = user
            self.password = self.password or password

    @property
    def label(self) -> str:
        who = self.username or ("token" if self.token else "anonymous")
        return f"{who}@{self.url}"

    @property
    def secrets(self) -> list[str]:
        # a password equal to the user name hides nothing the label does not show already
        return [s for s in (self.token, self.password) if s and s != self.username]

    def with_schema(self, schema: str | None) -> "Connection":
        return Connection(self.url, schema, self.token, self.username, self.password)


def normalise_url(url: str) -> str:
    url = (url or "").strip()
    if url and "://" not in url:
        url = "https://" + url
    return url.rstrip("/")


def split_user_info(url: str) -> tuple[str, str | None, str | None]:
    """The URL without `user:password@`, and the user and password it held."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None, None
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    clean = urlunsplit((parts.scheme, hostport, parts.path, parts.query, parts.fragment))
    return clean, unquote(user) or None, unquote(password) or None


def masked_url(url: str) -> str:
    """`url` with anything before an `@` of its address part masked: user info may hold a password,
    also one that the URL parser does not recognise as such (with `/`, `#` or `?` in it)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    if "@" not in rest:
        return url
    return f"{scheme}{sep}***@{rest.rsplit('@', 1)[1]}"


def url_problem(url: str) -> str | None:
    """Why `url` cannot be a server address, or None when it can. The URL is quoted masked."""
    shown = masked_url(url)
    try:
        parts = urlsplit(url)
        parts.port
    except ValueError as exc:
        hint = (" (write special characters of a user name or password percent-encoded, e.g. "
                "%2F for /)" if "@" in url else "")
        return f"'{shown}' is not a valid address: {exc}{hint}"
    if parts.scheme not in ("http", "https"):
        return f"'{shown}' is not a web address: it must start with http:// or https://"
    if not parts.hostname or any(ch.isspace() for ch in url):
        return f"'{shown}' is not a server address: expected e.g. https://data.example.org"
    return None


def scrub(text: str, secrets: list[str]) -> str:
    """The text with every secret replaced by `***`."""
    for s in secrets:
        if s and len(s) >= 3:
            text = text.replace(s, "***")
    return text


def _is_mutation(graphql: str) -> bool:
    return re.match(r"\s*mutation\b", graphql) is not None


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return text[:300] if text else f"HTTP {response.status_code}"
    if isinstance(body, dict) and body.get("errors"):
        msgs = [str(e.get("message", "")) for e in body["errors"] if isinstance(e, dict)]
        return "; ".join(m for m in msgs if m) or f"HTTP {response.status_code}"
    return f"HTTP {response.status_code}"


@functools.lru_cache(maxsize=1)
def _tls_context() -> Any:
    """One verifying TLS context for every client: loading the CA bundle costs about 0.1 s (an
    early read may have loaded it already, while the program was starting)."""
    return prefetch.tls_context() or httpx.create_ssl_context(verify=True)


def _transports() -> dict[str, Any]:
    """httpx.AsyncClient arguments for the way requests travel."""
    if prefetch.proxy_in_environment():
        # httpx's own pools, which go through the proxy the environment names
        return {"verify": _tls_context()}
    # the CA bundle is loaded for the first HTTPS connection only: a client of a plain-HTTP
    # server (a sandbox, a server on localhost) never needs it
    return {"transport": ThreadedTransport(tls_context=_tls_context)}


class ModelCache(dict):
    """Schema name -> metadata, for the clients of one server and user; with the metadata
    queries in flight, so that clients sharing it ask for a schema once."""

    def __init__(self) -> None:
        super().__init__()
        self.loading: dict[str, asyncio.Future] = {}


class Emx2Client:
    """One signed-in conversation with one EMX2 server. Use as `async with Emx2Client(conn) as c`."""

    def __init__(self, connection: Connection, *, timeout: float | None = None, retries: int = 3,
                 backoff: float = 0.5, transport: httpx.AsyncBaseTransport | None = None,
                 models: dict[str, SchemaModel] | None = None) -> None:
        self.connection = connection
        self.timeout = default_timeout() if timeout is None else timeout
        self.retries = retries
        self.backoff = backoff
        self._transport = transport
        self._http: httpx.AsyncClient | None = None
        self._signed_in = False
        # schema name -> metadata; clients of one server and user may share one dict
        self._models: dict[str, SchemaModel] = ModelCache() if models is None else models
        # metadata queries in flight, shared by the clients of one cache
        self._loading: dict[str, asyncio.Future] = getattr(self._models, "loading", {})
        self.user: str | None = None

    # ----------------------------------------------------------------- lifecycle
    @property
    def url(self) -> str:
        return self.connection.url

    async def __aenter__(self) -> "Emx2Client":
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def open(self) -> None:
        if self._http is not None:
            return
        if not self.url:
            raise ConnectionFailed("No server URL given. Pass --source-url/--target-url or set "
                                   "MG_SOURCE_URL/MG_TARGET_URL.")
        headers = {"Accept": "application/json, text/csv, */*"}
        if self.connection.token and not self.connection.password:
            headers["x-molgenis-token"] = self.connection.token
        kwargs: dict[str, Any] = dict(base_url=self.url, headers=headers, timeout=self.timeout,
                                      follow_redirects=True)
        if self._transport is not None:
            kwargs["transport"] = self._transport
            kwargs["verify"] = _tls_context()
        else:
            kwargs.update(_transports())
        self._http = httpx.AsyncClient(**kwargs)
        try:
            if self.connection.username and self.connection.password:
                await self.signin(self.connection.username, self.connection.password)
            else:
                self.user = self.connection.username
        except BaseException:
            await self._http.aclose()
            self._http = None
            raise

    async def close(self) -> None:
        if self._http is None:
            return
        try:
            if self._signed_in:
                try:
                    await self.query(None, "mutation{signout{status message}}")
                except Emx2Error:
                    pass
        finally:
            await self._http.aclose()
            self._http = None
            self._signed_in = False

    # ----------------------------------------------------------------- transport
    def _where(self, schema: str | None = None, table: str | None = None) -> str:
        parts = [f"server {self.url}"]
        if schema:
            parts.append(f"schema '{schema}'")
        if table:
            parts.append(f"table '{table}'")
        return ", ".join(parts)

    def _scrub(self, text: str) -> str:
        return scrub(text, self.connection.secrets)

    async def _request(self, method: str, path: str, *, idempotent: bool, schema: str | None = None,
                       table: str | None = None, expect_json: bool = False, **kwargs: Any) -> httpx.Response:
        if self._http is None:
            await self.open()
        assert self._http is not None
        response, early_failed = (await self._early_answer(method, path, kwargs)
                                  if prefetch.waiting() else (None, False))
        attempt = 0
        if early_failed and idempotent and self.retries > 1:
            attempt = 1  # the early read was the first try
            await asyncio.sleep(self.backoff)
        while response is None:
            attempt += 1
            try:
                answer = await self._http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                # a request that cannot be written (a bad header) fails the same way each time
                again = not isinstance(exc, httpx.LocalProtocolError)
                if idempotent and again and attempt < self.retries:
                    await asyncio.sleep(self.backoff * 2 ** (attempt - 1))
                    continue
                raise self._transport_error(exc, schema, table) from None
            if answer.status_code in RETRY_STATUSES and idempotent and attempt < self.retries:
                await asyncio.sleep(self.backoff * 2 ** (attempt - 1))
                continue
            response = answer
        if response.status_code >= 400:
            raise self._http_error(response, schema, table)
        if expect_json:
            ctype = response.headers.get("content-type", "")
            text = response.text.lstrip()
            if not (ctype.startswith("application/json") or text.startswith("{")):
                raise ConnectionFailed(
                    f"{self.url} answered {path} with {ctype or 'no content type'}, not JSON: it does "
                    f"not look like a MOLGENIS EMX2 server. Check the URL.", schema=schema)
        return response

    async def _early_answer(self, method: str, path: str, kwargs: dict
                            ) -> tuple[httpx.Response | None, bool]:
        """(the answer of an early read of this very request, whether one was tried and got no
        answer at all) — see `prefetch`. The read is waited for here, not started again: it
        counts as the request's first try."""
        k = prefetch.key(self.url, self.connection.token, method, path, kwargs.get("params"),
                         kwargs.get("json"))
        read = prefetch.claim(k)
        if read is None:
            return None, False
        if not read.done.is_set():
            loop = asyncio.get_running_loop()
            ended = loop.create_future()

            def wake() -> None:
                try:
                    loop.call_soon_threadsafe(lambda: ended.done() or ended.set_result(None))
                except RuntimeError:  # the loop has ended: nobody waits any more
                    pass

            read.when_done(wake)
            await ended  # cancellable: nothing here waits on a thread
        got = prefetch.answer_of(read)
        if got is None:
            return None, read.failed
        status, ctype, body = got
        assert self._http is not None
        return httpx.Response(status, headers={"content-type": ctype}, content=body,
                              request=self._http.build_request(method, path, **kwargs)), False

    def _transport_error(self, exc: httpx.TransportError, schema: str | None,
                         table: str | None) -> Emx2Error:
        if isinstance(exc, httpx.TimeoutException):
            what = "did not answer in time"
        elif isinstance(exc, httpx.ConnectError):
            what = "cannot be reached"
        else:
            what = "broke off the connection"
        reason = self._scrub(str(exc)) or type(exc).__name__
        return ConnectionFailed(
            f"Server {self.url} {what} ({reason}). Check the URL, your network and that the "
            f"server is running.", schema=schema, table=table)

    def _http_error(self, response: httpx.Response, schema: str | None, table: str | None) -> Emx2Error:
        msg = self._scrub(_error_message(response))
        status = response.status_code
        where = self._where(schema, table)
        low = msg.lower()
        if "invalid token" in low or "cannot parse token" in low or "cannot verify token" in low:
            return AuthError(f"{where}: the token was refused ({msg}). Create a new token or sign "
                             f"in with username and password.", schema=schema, table=table)
        if "permission denied" in low or "unauthorized" in low:
            return PermissionDenied(f"{where}: permission denied ({msg}). Ask a manager of the "
                                    f"schema for Editor rights or sign in as another user.",
                                    schema=schema, table=table)
        if status == 404 and schema and ("schema" in low or "unknown" in low):
            return SchemaNotFound(f"Schema '{schema}' was not found on server {self.url}, or you may "
                                  f"not see it. Check the name (it is case-sensitive), sign in, or "
                                  f"ask for permission.", schema=schema)
        if schema and re.search(r"schema .* unknown", low):
            return SchemaNotFound(f"Schema '{schema}' was not found on server {self.url} ({msg}). "
                                  f"Check the name or your permissions.", schema=schema)
        if status == 404:
            return ConnectionFailed(f"{where}: {response.request.url.path} was not found (HTTP 404). "
                                    f"Is {self.url} the address of a MOLGENIS EMX2 server?",
                                    schema=schema, table=table)
        if status == 413:
            return ServerError(f"{where}: the request is too large for the server ({msg}).",
                               status=status, schema=schema, table=table)
        if status >= 500:
            return ServerError(f"{where}: the server failed (HTTP {status}: {msg}). Try again later "
                               f"or ask the server's administrator.", status=status, schema=schema,
                               table=table)
        return ServerError(f"{where}: {msg}", status=status, schema=schema, table=table)

    @staticmethod
    def _path(schema: str | None, *rest: str) -> str:
        parts = [quote(schema, safe="")] if schema else []
        parts += list(rest)
        return "/" + "/".join(parts)

    # ----------------------------------------------------------------- GraphQL
    async def query(self, schema: str | None, graphql: str, variables: Mapping[str, Any] | None = None,
                    *, table: str | None = None) -> dict:
        """Run a GraphQL query or mutation on a schema (or the database level when schema is None)."""
        path = self._path(schema, "graphql") if schema else "/api/graphql"
        body: dict[str, Any] = {"query": graphql}
        if variables:
            body["variables"] = dict(variables)
        response = await self._request("POST", path, idempotent=not _is_mutation(graphql),
                                       schema=schema, table=table, expect_json=True, json=body)
        try:
            payload = response.json()
        except ValueError:
            raise ConnectionFailed(f"{self._where(schema)}: the GraphQL answer is not JSON. Check the URL.",
                                   schema=schema) from None
        if payload.get("errors"):
            msg = "; ".join(str(e.get("message")) for e in payload["errors"])
            raise ServerError(f"{self._where(schema, table)}: {self._scrub(msg)}", schema=schema, table=table)
        return payload.get("data") or {}

    async def signin(self, username: str, password: str) -> None:
        data = await self.query(
            None, "mutation($email:String,$password:String){signin(email:$email,password:$password)"
                  "{status message}}", {"email": username, "password": password})
        result = data.get("signin") or {}
        if result.get("status") != "SUCCESS":
            reason = self._scrub(str(result.get("message") or "no reason given"))
            raise AuthError(f"Sign-in as '{username}' on server {self.url} failed: {reason}. Check "
                            f"the username and password.")
        self._signed_in = True
        self.user = username

    async def session(self) -> dict:
        data = await self.query(None, "{_session{email admin schemas}}")
        return data.get("_session") or {}

    async def manifest(self) -> dict:
        data = await self.query(None, "{_manifest{SpecificationVersion ImplementationVersion DatabaseVersion}}")
        return data.get("_manifest") or {}

    async def list_schemas(self) -> list[str]:
        data = await self.query(None, "{_schemas{name}}")
        names = [s["name"] for s in (data.get("_schemas") or []) if s.get("name")]
        return [n for n in names if n != "_SYSTEM_"]

    # ----------------------------------------------------------------- metadata
    def cached_model(self, schema: str) -> SchemaModel | None:
        """The schema's metadata as a client of this cache last read it; None when not read yet."""
        return self._models.get(schema)

    async def schema_model(self, schema: str, *, refresh: bool = False) -> SchemaModel:
        """The schema's metadata, with the schemas its references point into fetched too.

        The schemas of one level of references are asked for at once, and a schema that another
        client of the same cache is asking for already is not asked for twice. A model enters the
        cache only with every schema it refers to, directly or not.
        """
        if refresh:
            self._models.pop(schema, None)
            self._loading.pop(schema, None)
        if schema in self._models:
            return self._models[schema]
        fetched: dict[str, SchemaModel] = {}
        level, referrer = [schema], {schema: ""}
        while level:
            models = await asyncio.gather(*(self._fetch_model(s, referrer[s]) for s in level),
                                          return_exceptions=True)
            failed = next((m for m in models if isinstance(m, BaseException)), None)
            if failed is not None:
                raise failed
            fetched.update(zip(level, models))  # type: ignore[arg-type]
            asked, level = level, []
            for name, model in zip(asked, models):
                others = {c.ref_schema for t in model.tables.values() for c in t.columns if c.ref_schema}
                others |= {t.extends_schema for t in model.tables.values() if t.extends_schema}
                for other in sorted(o for o in others if o):
                    if other not in fetched and other not in referrer and other not in self._models:
                        referrer[other] = name
                        level.append(other)
        for name, model in fetched.items():
            self._models.setdefault(name, model)
        return self._models[schema]

    async def _fetch_model(self, schema: str, referrer: str) -> SchemaModel:
        """One schema's metadata (one query, shared by the clients of one cache)."""
        if schema in self._models:
            return self._models[schema]
        pending = self._loading.get(schema)
        if pending is None or pending.get_loop() is not asyncio.get_running_loop():
            pending = asyncio.ensure_future(self._query_model(schema))
            self._loading[schema] = pending
            # A query that answered stays here: a model waits for the schemas it refers to
            # before it enters the cache, and meanwhile another client may need it too.
            pending.add_done_callback(
                lambda f: self._loading.pop(schema, None)
                if self._loading.get(schema) is f and (f.cancelled() or f.exception()) else None)
        try:
            return await asyncio.shield(pending)
        except SchemaNotFound as exc:
            if not referrer:
                raise
            raise SchemaNotFound(
                f"Schema '{referrer}' on server {self.url} refers to schema '{schema}', which was "
                f"not found or is not visible to you. Create it first or ask for permission.",
                schema=referrer) from exc

    async def _query_model(self, schema: str) -> SchemaModel:
        data = await self.query(schema, _SCHEMA_QUERY)
        info = data.get("_schema")
        if not info:
            raise SchemaNotFound(f"Schema '{schema}' on server {self.url} returned no metadata. "
                                 f"Check the name and your permissions.", schema=schema)
        return SchemaModel.from_graphql(info, resolver=self._models.get)

    async def table_counts(self, schema: str, tables: list[str] | None = None) -> dict[str, int]:
        """Row counts of the data tables (a parent table's count includes its subclasses' rows)."""
        model = await self.schema_model(schema)
        names = tables if tables is not None else [t.name for t in model.data_tables()
                                                    if model.has_columns(t.name)]
        if not names:
            return {}
        fields = " ".join(f"{table_id(n)}_agg{{count}}" for n in names)
        data = await self.query(schema, "{" + fields + "}")
        return {n: int((data.get(f"{table_id(n)}_agg") or {}).get("count") or 0) for n in names}

    # ----------------------------------------------------------------- CSV
    async def download_table(self, schema: str, table: str, filter: Mapping | None = None,
                             *, include_system_columns: bool = False) -> Frame:
        """A table's rows as a frame of strings (`""` for empty cells), optionally filtered."""
        params: dict[str, str] = {}
        if filter:
            params["filter"] = json.dumps(filter, separators=(",", ":"))
        if include_system_columns:
            params["includeSystemColumns"] = "true"
        response = await self._request("GET", self._path(schema, "api", "csv", quote(table, safe="")),
                                       idempotent=True, schema=schema, table=table, params=params)
        try:
            return read_frame(response.content)
        except CsvFormatError as exc:
            raise CsvFormatError(f"{self._where(schema, table)}: {exc}", schema=schema,
                                 table=table) from None

    async def upload_csv(self, schema: str, table: str, csv_text: str) -> None:
        """Upsert (and `mg_delete`) rows of one table. Not atomic across 100-row batches."""
        await self._request("POST", self._path(schema, "api", "csv", quote(table, safe="")),
                            idempotent=False, schema=schema, table=table,
                            content=csv_text.encode("utf-8"),
                            headers={"Content-Type": "text/csv; charset=utf-8"})

    async def delete_rows(self, schema: str, table: str, csv_text: str) -> int:
        """Delete rows by primary key (one transaction); returns the number deleted."""
        response = await self._request("DELETE", self._path(schema, "api", "csv", quote(table, safe="")),
                                       idempotent=False, schema=schema, table=table,
                                       content=csv_text.encode("utf-8"),
                                       headers={"Content-Type": "text/csv; charset=utf-8"})
        try:
            return int(response.text.strip() or 0)
        except ValueError:
            return 0

    # ----------------------------------------------------------------- ZIP and tasks
    async def download_zip(self, schema: str, include_system_columns: bool = False) -> bytes:
        params = {"includeSystemColumns": "true"} if include_system_columns else {}
        response = await self._request("GET", self._path(schema, "api", "zip"), idempotent=True,
                                       schema=schema, params=params)
        return response.content

    async def download_table_zip(self, schema: str, table: str) -> bytes:
        """One table as a zip, with the `_files/` attachments of its file columns."""
        response = await self._request("GET", self._path(schema, "api", "zip", quote(table, safe="")),
                                       idempotent=True, schema=schema, table=table)
        return response.content

    async def download_file(self, schema: str, table: str, column: str, file_id: str) -> bytes:
        """The bytes of one stored file (`/api/file/{table}/{column}/{id}`)."""
        response = await self._request(
            "GET", self._path(schema, "api", "file", quote(table, safe=""), quote(column, safe=""),
                              quote(file_id, safe="")),
            idempotent=True, schema=schema, table=table)
        return response.content

    async def upload_zip(self, schema: str, data: bytes, on_task: TaskCallback | None = None, *,
                         poll_min: float = 0.004, poll_max: float = 1.0,
                         timeout: float = 3600.0,
                         on_accepted: Callable[[str], None] | None = None) -> dict:
        """Import a ZIP as one server task and wait for it. Raises TaskFailed when it ends in ERROR.

        `on_accepted` is called with the task id as soon as the server has taken the import on,
        before the task is polled: a caller that loses the connection later can still ask for it.
        """
        response = await self._request("POST", self._path(schema, "api", "zip"), idempotent=False,
                                       schema=schema, expect_json=True, params={"async": "true"},
                                       files={"file": ("upload.zip", data, "application/zip")})
        try:
            task_id = response.json()["id"]
        except (ValueError, KeyError, TypeError):
            raise ServerError(f"{self._where(schema)}: the ZIP upload did not return a task id",
                              schema=schema) from None
        if on_accepted is not None:
            on_accepted(str(task_id))
        return await self.wait_task(task_id, schema=schema, on_task=on_task, poll_min=poll_min,
                                    poll_max=poll_max, timeout=timeout)

    async def task(self, task_id: str) -> dict:
        sub = "subTasks { id status description }"
        for _ in range(3):
            sub = f"subTasks {{ id status description {sub} }}"
        data = await self.query(None, f'{{_tasks(id:{json.dumps(task_id)}){{id status description {sub}}}}}')
        tasks = data.get("_tasks") or []
        return tasks[0] if tasks else {}

    async def unfinished_tasks(self) -> list[dict]:
        """The server's tasks still waiting or running (listing every task needs an admin)."""
        data = await self.query(None, "{_tasks{id status description}}")
        return [t for t in data.get("_tasks") or []
                if str(t.get("status") or "").upper() not in TERMINAL_TASK_STATES]

    async def wait_task(self, task_id: str, *, schema: str | None = None,
                        on_task: TaskCallback | None = None, poll_min: float = 0.004,
                        poll_max: float = 1.0, timeout: float = 3600.0) -> dict:
        """Poll a task until it ends; the pauses between polls start short (a cohort's import
        takes milliseconds) and grow by half each time, to `poll_max`."""
        delay = poll_min
        started = time.monotonic()
        while True:
            task = await self.task(task_id)
            if on_task is not None:
                result = on_task(task)
                if inspect.isawaitable(result):
                    await result
            status = str(task.get("status") or "UNKNOWN").upper()
            if status in TERMINAL_TASK_STATES:
                if status in ("ERROR", "CANCELLED"):
                    desc = self._scrub(str(task.get("description") or status))
                    detail = failed_subtask(task)
                    if detail and detail not in desc:
                        desc = f"{desc} ({detail})"
                    raise TaskFailed(f"Import into schema '{schema}' on server {self.url} failed: {desc}",
                                     task=task, schema=schema)
                return task
            if time.monotonic() - started > timeout:
                raise TaskFailed(f"Import into schema '{schema}' on server {self.url} did not finish "
                                 f"within {int(timeout)} s (task {task_id}); check the server's task list.",
                                 task=task, schema=schema)
            await asyncio.sleep(delay)
            delay = min(poll_max, delay * 1.5)


async def gather_bounded(aws: Iterable[Awaitable[T]], limit: int = 4) -> list[T]:
    """Await all, at most `limit` at a time; results in the order given. On a failure the
    others are cancelled and the first error is raised."""
    gate = asyncio.Semaphore(limit)
    aws = list(aws)

    async def one(aw: Awaitable[T]) -> T:
        async with gate:
            return await aw

    tasks = [asyncio.ensure_future(one(aw)) for aw in aws]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for aw in aws:  # those cancelled before their turn never ran: no warning for them
            if asyncio.iscoroutine(aw):
                aw.close()
        raise


def failed_subtask(task: Mapping) -> str | None:
    """The description of the first subtask in ERROR, depth first."""
    for sub in task.get("subTasks") or []:
        if str(sub.get("status")).upper() == "ERROR":
            return failed_subtask(sub) or str(sub.get("description") or "")
        found = failed_subtask(sub)
        if found:
            return found
    return None


def flatten_subtasks(task: Mapping, depth: int = 0) -> list[tuple[str, str]]:
    """(status, description) of every subtask, depth first, indented by level."""
    out: list[tuple[str, str]] = []
    for sub in task.get("subTasks") or []:
        out.append((str(sub.get("status") or ""), "  " * depth + str(sub.get("description") or "")))
        out.extend(flatten_subtasks(sub, depth + 1))
    return out
