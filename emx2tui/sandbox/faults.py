"""Fault injection: make the sandbox misbehave on purpose, for reliability tests.

A fault is armed from the command line (`emx2tui sandbox serve --fault SPEC`, repeatable) or from
Python (`handle.faults.add(kind, ...)` on a running `start_sandbox` handle). Kinds:

| kind           | effect                                                                        |
| -------------- | ----------------------------------------------------------------------------- |
| `task-error`   | the `nth` import ends in error and writes nothing: an async import (ZIP or CSV |
|                | table) ends ERROR with `Import failed: <message>`, a synchronous ZIP import   |
|                | answers 400 with `<message>`                                                  |
| `http500`      | the `nth` matching request is answered `500` with the error envelope          |
| `hang`         | the `nth` matching request gets no answer for `seconds` (or until the client gives up) |
| `drop`         | the `nth` matching response is cut off halfway and the connection closed     |
| `gateway`      | the `nth` matching request is served, but its answer is replaced with `504    |
|                | Gateway Time-out` (a proxy in front of the server gave up waiting)            |
| `slow`         | every matching response is delayed by `seconds`                               |
| `expire-token` | at the `nth` matching request every token issued so far expires               |

Options (all optional): `nth` (1 = the first matching request after the fault was armed),
`times` (how many consecutive matches fire, default 1), `path` (a substring the request path
must contain; the path is the URL-decoded one), `method` (e.g. `POST`), `message` (for
`task-error` and `http500`), `seconds` (for `slow` and `hang`).

Command-line form: `KIND[:key=value[,key=value...]]`, e.g. `http500:nth=3,path=/api/zip`,
`task-error:message=disk full`, `slow:seconds=0.2`, `hang:nth=2,seconds=30`, `drop:path=/api/csv`.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import unquote

from emx2tui.sandbox.errors import SandboxError

KINDS = ("task-error", "http500", "hang", "drop", "gateway", "slow", "expire-token")
REQUEST_KINDS = ("http500", "hang", "drop", "gateway", "slow", "expire-token")


@dataclass
class Fault:
    kind: str
    nth: int = 1
    times: int = 1
    path: str | None = None
    method: str | None = None
    message: str | None = None
    seconds: float | None = None
    seen: int = 0      # matching requests (or tasks) counted since the fault was armed
    fired: int = 0     # how often it took effect
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method.upper():
            return False
        return not self.path or self.path in path

    def hit(self) -> bool:
        """Count one match; True when this one should fire."""
        with self._lock:
            self.seen += 1
            if self.kind == "slow":
                fire = True
            else:
                fire = self.nth <= self.seen < self.nth + self.times
            if fire:
                self.fired += 1
            return fire


def parse_fault(spec: str) -> Fault:
    """`KIND[:key=value,...]` as a Fault; SandboxError on a malformed spec."""
    kind, _, rest = spec.strip().partition(":")
    kind = kind.strip().lower()
    if kind not in KINDS:
        raise SandboxError(f"--fault: unknown kind '{kind}' (expected one of {', '.join(KINDS)})")
    opts: dict[str, str] = {}
    if rest.strip():
        for part in re.split(r",(?=\s*\w+\s*=)", rest):
            key, eq, value = part.partition("=")
            if not eq:
                raise SandboxError(f"--fault {spec!r}: expected key=value, got '{part}'")
            opts[key.strip().lower()] = value.strip()
    try:
        return make_fault(kind, **opts)
    except (TypeError, ValueError) as exc:
        raise SandboxError(f"--fault {spec!r}: {exc}") from None


def make_fault(kind: str, nth: int | str = 1, times: int | str = 1, path: str | None = None,
               method: str | None = None, message: str | None = None,
               seconds: float | str | None = None) -> Fault:
    if kind not in KINDS:
        raise ValueError(f"unknown fault kind '{kind}'")
    f = Fault(kind, nth=int(nth), times=int(times), path=path or None, method=method or None,
              message=message, seconds=float(seconds) if seconds not in (None, "") else None)
    if f.nth < 1 or f.times < 1:
        raise ValueError("nth and times must be 1 or more")
    if kind == "slow" and f.seconds is None:
        f.seconds = 0.5
    if kind == "hang" and f.seconds is None:
        f.seconds = 3600.0
    return f


class Faults:
    """The armed faults of one sandbox server, and the ASGI middleware that applies them."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._released = threading.Event()
        self.on_expire_tokens = None  # set by the server: a callable that expires all tokens

    # ------------------------------------------------------------------ arming
    def add(self, kind: str, **options) -> Fault:
        """Arm a fault, e.g. `add("http500", nth=2, path="/api/zip")`. Returns it (see `.fired`)."""
        fault = make_fault(kind, **options)
        with self._lock:
            self._faults.append(fault)
        return fault

    def add_spec(self, spec: str) -> Fault:
        fault = parse_fault(spec)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def armed(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def release(self) -> None:
        """End every hanging request (the server is stopping)."""
        self._released.set()

    def expire_tokens(self) -> None:
        """Expire every token issued so far, at once."""
        if self.on_expire_tokens is not None:
            self.on_expire_tokens()

    # ------------------------------------------------------------------ tasks
    def task_error(self) -> str | None:
        """The message an import about to start must fail with, if a fault says so (async
        import tasks and synchronous ZIP imports count alike)."""
        for f in self.armed:
            if f.kind == "task-error" and f.hit():
                return f.message or "fault injected by the sandbox"
        return None

    # ------------------------------------------------------------------ requests
    def wrap(self, app):
        """ASGI middleware applying the request faults around `app`."""

        async def middleware(scope, receive, send):
            if scope["type"] != "http" or not self._faults:
                await app(scope, receive, send)
                return
            method = scope.get("method", "GET")
            path = unquote(scope.get("path", ""))
            firing = [f for f in self.armed if f.kind in REQUEST_KINDS and f.matches(method, path)
                      and f.hit()]
            delay = sum(f.seconds or 0 for f in firing if f.kind == "slow")
            if delay:
                await asyncio.sleep(delay)
            if any(f.kind == "expire-token" for f in firing):
                self.expire_tokens()
            hang = next((f for f in firing if f.kind == "hang"), None)
            if hang is not None:
                await self._hang(receive, hang.seconds or 0)
                return
            fail = next((f for f in firing if f.kind == "http500"), None)
            if fail is not None:
                await _send_500(send, fail.message or "Internal server error (fault injected)")
                return
            if any(f.kind == "drop" for f in firing):
                await app(scope, receive, _cut_off(send))
                return
            if any(f.kind == "gateway" for f in firing):
                await app(scope, receive, _swallow)  # the server does the work ...
                await _send_504(send)                 # ... and the proxy answers instead
                return
            await app(scope, receive, send)

        return middleware

    async def _hang(self, receive, seconds: float) -> None:
        """Read the request, then answer nothing until the client leaves or time is up."""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect" or not message.get("more_body"):
                break
        end = time.monotonic() + seconds
        while time.monotonic() < end and not self._released.is_set():
            try:
                message = await asyncio.wait_for(receive(), timeout=0.1)
            except asyncio.TimeoutError:
                continue
            if message["type"] == "http.disconnect":
                return


async def _send_500(send, message: str) -> None:
    import json
    body = json.dumps({"errors": [{"message": message}]}, indent=2).encode()
    await send({"type": "http.response.start", "status": 500,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def _swallow(message) -> None:
    """A `send` that drops the server's answer (the `gateway` fault answers in its place)."""


async def _send_504(send) -> None:
    body = (b"<html><head><title>504 Gateway Time-out</title></head><body><center><h1>504 "
            b"Gateway Time-out</h1></center></body></html>")
    await send({"type": "http.response.start", "status": 504,
                "headers": [(b"content-type", b"text/html"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class ConnectionDropped(Exception):
    """Raised inside the server to break a connection off mid-response (the `drop` fault)."""


def _cut_off(send):
    """A `send` that passes the headers and half of the first body chunk, then breaks off."""

    async def cut(message):
        if message["type"] == "http.response.body":
            body = message.get("body", b"")
            await send({"type": "http.response.body", "body": body[:max(1, len(body) // 2)],
                        "more_body": True})
            raise ConnectionDropped("connection dropped by fault injection")
        await send(message)

    return cut
