"""How the client's requests travel: the standard library's HTTP/1.1 client, on worker threads.

httpx stays the client's interface — it builds each request (URL, headers, cookies, JSON and
multipart bodies), follows redirects and decodes what comes back — and this transport only
carries a request to the server and its answer back. The standard library's `http.client` is
loaded anyway (httpx and the early reads use it); httpx's own asynchronous transport would add
httpcore, h11 and anyio, some 30 ms of imports that a short headless run cannot hide, and a
request waits on its socket in a thread without holding the interpreter. Each request runs
on a thread of its own; connections to a server are kept open between requests (HTTP
keep-alive), checked before reuse, and a request that finds its kept connection closed by the
server is sent once more on a new one when that is safe (the server cannot have acted on it).

Failures are raised as httpx's exceptions (ConnectError, ReadTimeout, ...), so that the client
handles them exactly as before. A cancelled request closes its connection at once (once it has
one: a connection being made ends at the connect timeout), so that its thread ends and the
server sees the client go. A proxy named in the environment is not used
here: the client keeps httpx's own transport then.
"""

from __future__ import annotations

import asyncio
import http.client
import math
import re
import select
import socket
import threading
from collections.abc import Callable
from typing import Any

import httpx

from emx2tui.emx2.prefetch import MAX_TIMEOUT

IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"})
MAX_IDLE = 8  # kept connections per server
# a larger body is sent in pieces of this size: a socket's timeout bounds one whole sendall(),
# and the timeout is meant for a stalled server, not for a long upload over a slow link
PIECE = 256 * 1024

Origin = tuple[str, str, int]

# what a header's name may be made of, and what its value may not hold (RFC 9110)
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_FORBIDDEN_IN_VALUE = re.compile(rb"[\r\n\x00]")


class _Call:
    """One request on its worker thread; `abort` closes its connection from the event loop."""

    __slots__ = ("conn", "aborted", "lock")

    def __init__(self) -> None:
        self.conn: http.client.HTTPConnection | None = None
        self.aborted = False
        self.lock = threading.Lock()

    def attach(self, conn: http.client.HTTPConnection) -> None:
        with self.lock:
            self.conn = conn
            aborted = self.aborted
        if aborted:
            _shutdown(conn)

    def abort(self) -> None:
        with self.lock:
            self.aborted = True
            conn = self.conn
        if conn is not None:
            _shutdown(conn)

    def release(self) -> bool:
        """Detach the connection once its answer is read (an abort can no longer touch it,
        whoever uses it next); True when it may be kept for another request."""
        with self.lock:
            self.conn = None
            return not self.aborted


def _shutdown(conn: http.client.HTTPConnection) -> None:
    sock = conn.sock
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _dropped(conn: http.client.HTTPConnection) -> bool:
    """Whether a kept connection was closed (or spoke out of turn) while it waited: an idle
    HTTP/1.1 connection has nothing to read unless the server has hung up."""
    sock = conn.sock
    if sock is None:
        return True
    try:
        if hasattr(select, "poll"):  # any descriptor number, where select() stops at 1024
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            return bool(poller.poll(0))
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def _in_pieces(body: bytes):
    view = memoryview(body)
    return (view[i:i + PIECE] for i in range(0, len(view), PIECE))


def _seconds(value: Any) -> float | None:
    """A timeout a socket takes: None (wait as long as it takes) for none, an infinite one or
    one longer than a socket can count (see MAX_TIMEOUT); a tiny positive one for zero or less (zero would make the socket non-blocking)."""
    if value is None:
        return None
    seconds = float(value)
    if math.isnan(seconds) or seconds > MAX_TIMEOUT:
        return None
    return max(seconds, 0.001)


class ThreadedTransport(httpx.AsyncBaseTransport):
    """An httpx transport over `http.client`. `tls_context` gives the verifying TLS context; it
    is called for the first HTTPS connection only (loading a CA bundle takes a while)."""

    def __init__(self, *, tls_context: Callable[[], Any] | None = None,
                 max_idle: int = MAX_IDLE) -> None:
        self._tls_context = tls_context
        self._max_idle = max_idle
        self._idle: dict[Origin, list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()
        self._closed = False

    # ------------------------------------------------------------------ the event loop's side
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        scheme = url.scheme
        if scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"Request URL has an unsupported protocol '{scheme}://'.",
                                            request=request)
        # the host as it travels (IDNA 2008, as httpx encodes it for the Host header)
        host = url.raw_host.decode("ascii")
        origin: Origin = (scheme, host, url.port or (443 if scheme == "https" else 80))
        body = await request.aread()
        headers = [(k, v) for k, v in request.headers.raw if k.lower() != b"transfer-encoding"]
        if body and not any(k.lower() == b"content-length" for k, _ in headers):
            headers.append((b"Content-Length", str(len(body)).encode()))
        timeouts = request.extensions.get("timeout") or {}
        loop = asyncio.get_running_loop()
        answer: asyncio.Future = loop.create_future()
        call = _Call()

        def deliver(ok: bool, value: Any) -> None:
            if answer.done():
                return
            if ok:
                answer.set_result(value)
            else:
                answer.set_exception(value)

        def work() -> None:
            try:
                outcome = (True, self._exchange(call, origin, request, url.raw_path, headers, body,
                                                timeouts))
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting request
                outcome = (False, exc)
            try:
                loop.call_soon_threadsafe(deliver, *outcome)
            except RuntimeError:  # the loop has ended: nobody waits any more
                pass

        threading.Thread(target=work, name="emx2tui-http", daemon=True).start()
        try:
            status, reason, response_headers, content = await answer
        except asyncio.CancelledError:
            call.abort()
            raise
        return httpx.Response(status, headers=response_headers, stream=httpx.ByteStream(content),
                              extensions={"http_version": b"HTTP/1.1", "reason_phrase": reason})

    async def aclose(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.close()

    # ------------------------------------------------------------------ the worker thread's side
    def _exchange(self, call: _Call, origin: Origin, request: httpx.Request, target: bytes,
                  headers: list[tuple[bytes, bytes]], body: bytes, timeouts: dict
                  ) -> tuple[int, bytes, list[tuple[bytes, bytes]], bytes]:
        conn, reused = self._checkout(origin, request, timeouts)
        while True:
            call.attach(conn)
            sent = False
            try:
                conn.putrequest(request.method, target.decode("ascii"), skip_host=True,
                                skip_accept_encoding=True)
                for name, value in headers:
                    if not _TOKEN.fullmatch(name) or _FORBIDDEN_IN_VALUE.search(value):
                        # named, never shown: a header's value may be a token
                        raise httpx.LocalProtocolError(
                            f"the request header {name.decode('ascii', 'replace')!r} holds a "
                            f"character HTTP does not allow (a line break?)", request=request)
                    conn.putheader(name, value)
                conn.endheaders(_in_pieces(body) if len(body) > PIECE else body or None)
                sent = True
                response = conn.getresponse()
                content = response.read()
            except Exception as exc:
                conn.close()
                if call.aborted:
                    raise httpx.ReadError("the request was cancelled", request=request) from None
                # a kept connection the server closed meanwhile: once more on a new one, when
                # the server cannot have acted on the request
                stale = isinstance(exc, (http.client.RemoteDisconnected, ConnectionResetError,
                                         BrokenPipeError))
                if reused and stale and (not sent or request.method in IDEMPOTENT):
                    conn, reused = self._connect(origin, request, timeouts), False
                    continue
                mapped = _as_httpx(exc, request, sent)
                if mapped is exc:
                    raise
                raise mapped from exc
            status, reason = response.status, response.reason or ""
            # as sent: the standard client reads header bytes as latin-1
            answer_headers = [(k.encode("latin-1"), v.encode("latin-1"))
                              for k, v in response.getheaders()]
            if not call.release() or response.will_close:
                conn.close()
            else:
                self._checkin(origin, conn)
            return status, reason.encode("latin-1", "replace"), answer_headers, content

    def _checkout(self, origin: Origin, request: httpx.Request, timeouts: dict
                  ) -> tuple[http.client.HTTPConnection, bool]:
        while True:
            with self._lock:
                kept = self._idle.get(origin)
                conn = kept.pop() if kept else None
            if conn is None:
                return self._connect(origin, request, timeouts), False
            if _dropped(conn):
                conn.close()
                continue
            conn.sock.settimeout(_io_timeout(timeouts))
            return conn, True

    def _checkin(self, origin: Origin, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            if not self._closed:
                kept = self._idle.setdefault(origin, [])
                if len(kept) < self._max_idle:
                    kept.append(conn)
                    return
        conn.close()

    def _connect(self, origin: Origin, request: httpx.Request, timeouts: dict
                 ) -> http.client.HTTPConnection:
        scheme, host, port = origin
        connect_timeout = _seconds(timeouts.get("connect"))
        try:
            if scheme == "https":
                context = self._tls_context() if self._tls_context is not None else None
                conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                    host, port, timeout=connect_timeout, context=context)
            else:
                conn = http.client.HTTPConnection(host, port, timeout=connect_timeout)
            conn.connect()
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(str(exc) or "timed out", request=request) from exc
        except OSError as exc:
            raise httpx.ConnectError(str(exc) or type(exc).__name__, request=request) from exc
        assert conn.sock is not None
        conn.sock.settimeout(_io_timeout(timeouts))
        return conn


def _io_timeout(timeouts: dict) -> float | None:
    """The socket's timeout once connected: the longest of the read and write timeouts."""
    values = [v for v in (_seconds(timeouts.get("read")), _seconds(timeouts.get("write")))
              if v is not None]
    return max(values) if values else None


def _as_httpx(exc: BaseException, request: httpx.Request, sent: bool) -> BaseException:
    """An error of the standard client as the httpx exception the client handles."""
    if isinstance(exc, httpx.HTTPError):
        return exc
    message = str(exc) or type(exc).__name__
    if isinstance(exc, TimeoutError):
        return (httpx.ReadTimeout if sent else httpx.WriteTimeout)(message, request=request)
    if isinstance(exc, http.client.HTTPException):
        return httpx.RemoteProtocolError(message, request=request)
    if isinstance(exc, OSError):
        return (httpx.ReadError if sent else httpx.WriteError)(message, request=request)
    return exc
