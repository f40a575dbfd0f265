"""The reads a headless run begins with, sent while the program is still loading.

A run spends its first tenth of a second importing asyncio, httpx and the engine, and the
server sits idle meanwhile. The reads every plan begins with — the metadata of the source and
of the target (then of the schemas the target refers to) and, for a staging source, its ZIP
export — do not depend on anything but the command line, so they are sent at once, on threads,
with the standard library's HTTP client; for an HTTPS server the certificate store is loaded
there too. The client (`Emx2Client`) takes an answer when it comes to the same request, with
the same server and token; it asks again itself when the early read failed or was answered
with anything but 200, so errors reach the user as they always do. Nothing here writes.

Only for a token (a sign-in would start a session of its own) and without a proxy in the
environment (which the standard client would not use as httpx does).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import sys
import threading
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

# The metadata query of a schema (the client asks the same; see Emx2Client.schema_model)
SCHEMA_QUERY = """{ _schema { name settings { key value }
  tables { name id tableType inheritName inheritSchemaName description label
    columns { name id columnType key required refSchemaName refTableName refTableId refLinkName
              refBackName refLabel computed inherited position defaultValue validation visible
              readonly description label } } } }"""

DEFAULT_TIMEOUT = 60.0
# the longest a socket's timeout can be everywhere (milliseconds in a signed 32-bit number:
# some 24 days); a longer one wraps round to almost nothing on some platforms
MAX_TIMEOUT = 2_000_000.0


def default_timeout() -> float:
    """Seconds to wait for an answer: `EMX2TUI_HTTP_TIMEOUT` (`inf` waits for ever, in effect),
    or 60 when it is not a positive number."""
    try:
        value = float(os.environ.get("EMX2TUI_HTTP_TIMEOUT") or DEFAULT_TIMEOUT)
    except ValueError:
        return DEFAULT_TIMEOUT
    if not value > 0:  # zero, negative or NaN
        return DEFAULT_TIMEOUT
    return min(value, MAX_TIMEOUT)


_PROXY_VARIABLES = {"http_proxy", "https_proxy", "all_proxy"}


def proxy_in_environment() -> bool:
    """Whether a proxy is named where httpx would find it: the environment or, on macOS and
    Windows, the system's network settings."""
    if any(k.lower() in _PROXY_VARIABLES and v for k, v in os.environ.items()):
        return True
    if sys.platform in ("darwin", "win32"):
        try:
            from urllib.request import getproxies

            return any(v for k, v in getproxies().items() if k in ("http", "https", "all"))
        except Exception:  # noqa: BLE001 - settings that cannot be read: as httpx, no proxy
            return False
    return False


_REFERRED = re.compile(rb'"refSchemaName"\s*:\s*"((?:[^"\\]|\\.)+)"')

Key = tuple[str, str, str, str, str]


class _Read:
    """One early read: its answer once it came, or `failed` when none came (no connection,
    a timeout); whoever waits for it is called back when it ends."""

    __slots__ = ("answer", "done", "failed", "_callbacks")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.answer: tuple[int, str, bytes] | None = None
        self.failed = False
        self._callbacks: list = []

    def finish(self) -> None:
        with _lock:
            if self.done.is_set():
                return
            self.done.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            try:
                callback()
            except Exception:  # noqa: BLE001 - a waiter that has gone away
                pass

    def when_done(self, callback) -> None:
        """Call `callback` (from the reading thread) when the read ends; now if it has."""
        with _lock:
            if not self.done.is_set():
                self._callbacks.append(callback)
                return
        callback()


_reads: dict[Key, _Read] = {}
_lock = threading.Lock()
used = 0  # early answers the client took
_tls: dict[str, Any] = {}  # "context": the verifying TLS context, once made; "done": an Event


def key(url: str, token: str | None, method: str, path: str, params: dict | None = None,
        body: Any = None) -> Key:
    """What identifies a request: server, token, method, path with its query, and JSON body."""
    query = urlencode(sorted(params.items())) if params else ""
    text = json.dumps(body, sort_keys=True) if body is not None else ""
    return (url.rstrip("/"), token or "", method, f"{path}?{query}" if query else path, text)


def waiting() -> bool:
    return bool(_reads)


def pending(k: Key) -> bool:
    return k in _reads


def claim(k: Key) -> _Read | None:
    """The early read of this request, for the one caller that takes it (None when there is none)."""
    with _lock:
        return _reads.pop(k, None)


def answer_of(read: _Read) -> tuple[int, str, bytes] | None:
    """(status, content type, body) of an ended early read that was answered with 200."""
    answer = read.answer
    if answer is None or answer[0] != 200:
        return None
    global used
    with _lock:
        used += 1
    return answer


def tls_context() -> Any:
    """The verifying TLS context an early read made (waiting for it), or None."""
    done = _tls.get("done")
    if done is None:
        return None
    done.wait()
    return _tls.get("context")


def _register(k: Key) -> _Read | None:
    """A new early read of this request (None when one is under way already)."""
    with _lock:
        if k in _reads:
            return None
        read = _reads[k] = _Read()
        return read


def _connection(url: str, timeout: float) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    if parts.scheme == "https":
        context = tls_context()
        if context is None:  # never another store than the client's
            raise OSError("no TLS context")
        return http.client.HTTPSConnection(parts.hostname or "", parts.port, timeout=timeout,
                                           context=context)
    return http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)


def _send(conn: http.client.HTTPConnection, url: str, token: str, k: Key, read: _Read,
          method: str, body: bytes | None) -> bytes | None:
    """Send one early read and keep its answer (its caller says when it is done)."""
    base = urlsplit(url).path.rstrip("/")
    headers = {"x-molgenis-token": token, "Accept": "application/json, text/csv, */*"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    try:
        conn.request(method, base + k[3], body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        read.answer = (response.status, response.getheader("content-type") or "", data)
        return data if response.status == 200 else None
    except Exception:  # noqa: BLE001 - the client asks again and reports what goes wrong
        conn.close()
        read.failed = True
        return None


def _json_string(raw: bytes) -> str:
    """A JSON string's content (escapes or raw UTF-8) as text."""
    try:
        return json.loads(b'"' + raw + b'"')
    except ValueError:
        return ""


def _metadata_key(url: str, token: str, schema: str) -> Key:
    return key(url, token, "POST", f"/{quote(schema, safe='')}/graphql", body={"query": SCHEMA_QUERY})


def _export_key(url: str, token: str, schema: str) -> Key:
    return key(url, token, "GET", f"/{quote(schema, safe='')}/api/zip", {"includeSystemColumns": "true"})


def _metadata(conn: http.client.HTTPConnection, url: str, token: str, schema: str,
              read: _Read, *, follow: bool) -> None:
    body = json.dumps({"query": SCHEMA_QUERY}).encode()
    data = _send(conn, url, token, _metadata_key(url, token, schema), read, "POST", body)
    referred: list[tuple[str, _Read]] = []
    if follow and data:
        # claimed before this answer is given out: the client then waits for these too
        for other in sorted({_json_string(m) for m in _REFERRED.findall(data)} - {schema}):
            claimed = _register(_metadata_key(url, token, other))
            if claimed is not None:
                referred.append((other, claimed))
    read.finish()
    for other, claimed in referred:
        try:
            _metadata(conn, url, token, other, claimed, follow=False)
        finally:
            claimed.finish()


def _tls_loader() -> None:
    try:
        import httpx  # its own defaults: certifi's store, or SSL_CERT_FILE / SSL_CERT_DIR

        _tls["context"] = httpx.create_ssl_context(verify=True)
    except Exception:  # noqa: BLE001 - the client makes its own then
        _tls["context"] = None
    finally:
        _tls["done"].set()


def start(url: str, token: str | None, *, metadata: list[str], exports: list[str] = (),
          timeout: float = 60.0) -> bool:
    """Send the metadata queries of `metadata` (then those of the schemas each refers to) and
    the ZIP exports of `exports` to the server at `url`, each on a thread of its own. False
    when early reads do not apply (no token, a proxy, not HTTP)."""
    scheme = urlsplit(url).scheme.lower()
    if not token or scheme not in ("http", "https") or proxy_in_environment():
        return False
    if scheme == "https" and "done" not in _tls:
        _tls["done"] = threading.Event()
        threading.Thread(target=_tls_loader, name="emx2tui-tls", daemon=True).start()
    work = []
    for schema in dict.fromkeys(exports):
        read = _register(_export_key(url, token, schema))
        if read is not None:
            work.append((read, lambda conn, s=schema, r=read: _send(
                conn, url, token, _export_key(url, token, s), r, "GET", None)))
    for schema in dict.fromkeys(metadata):
        read = _register(_metadata_key(url, token, schema))
        if read is not None:
            work.append((read, lambda conn, s=schema, r=read: _metadata(conn, url, token, s, r,
                                                                      follow=True)))

    def run(read: _Read, one) -> None:
        conn = None
        try:
            conn = _connection(url, timeout)
            one(conn)
        except Exception:  # noqa: BLE001 - what was not answered, the client asks again
            read.failed = True
        finally:
            read.finish()
            if conn is not None:
                conn.close()

    for read, one in work:
        threading.Thread(target=run, args=(read, one), name="emx2tui-early-read", daemon=True).start()
    return True
