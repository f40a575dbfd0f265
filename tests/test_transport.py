"""The client's transport against real sockets: keep-alive, a connection the server closed,
failures as httpx errors, cancellation, bodies and headers both ways."""

from __future__ import annotations

import asyncio
import gzip
import http.server
import socket
import threading
import time

import httpx
import pytest

from emx2tui.emx2.client import Connection, Emx2Client
from emx2tui.emx2.errors import ConnectionFailed
from emx2tui.emx2.transport import ThreadedTransport


class Recorder(http.server.BaseHTTPRequestHandler):
    """An HTTP/1.1 server that keeps connections open and records what it was sent."""

    protocol_version = "HTTP/1.1"
    seen: list = []
    connections: set = set()

    def log_message(self, *args) -> None:  # quiet
        pass

    def _answer(self, status: int, body: bytes, headers: list[tuple[str, str]] = ()) -> None:
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        type(self).connections.add(self.client_address)
        type(self).seen.append(("GET", self.path, dict(self.headers), b""))
        if self.path == "/gzip":
            self._answer(200, gzip.compress(b"a,b\n1,2\n" * 100), [("Content-Encoding", "gzip")])
        elif self.path == "/cookies":
            self._answer(200, b"{}", [("Set-Cookie", "a=1; Path=/"), ("Set-Cookie", "b=2; Path=/")])
        elif self.path == "/latin":
            self._answer(200, b"x", [("Content-Disposition", "attachment; filename=Café.csv")])
        elif self.path == "/moved":
            self._answer(302, b"", [("Location", "/there?x=1")])
        else:
            self._answer(200, f"you asked {self.path}".encode())

    def do_POST(self) -> None:
        type(self).connections.add(self.client_address)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).seen.append(("POST", self.path, dict(self.headers), body))
        self._answer(201, str(len(body)).encode())


@pytest.fixture
def server():
    handler = type("H", (Recorder,), {"seen": [], "connections": set()})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", handler
    httpd.shutdown()
    httpd.server_close()


def client(url: str, **kw) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=url, transport=ThreadedTransport(), follow_redirects=True, **kw)


async def test_requests_share_one_kept_connection_and_bodies_arrive_whole(server):
    url, handler = server
    payload = bytes(range(256)) * 4000  # 1 MB, every byte value
    async with client(url) as c:
        for i in range(3):
            r = await c.get(f"/t{i}", params={"filter": '{"id":{"equals":"a b"}}'})
            assert r.status_code == 200 and r.text.startswith(f"you asked /t{i}?filter=")
        r = await c.post("/upload", files={"file": ("u.zip", payload, "application/zip")})
        assert r.status_code == 201
        r2 = await c.post("/json", json={"query": "{ _schema { name } }"})
        assert r2.text == str(len(b'{"query":"{ _schema { name } }"}'))
    assert len(handler.connections) == 1  # one connection, kept open between requests
    method, path, headers, body = handler.seen[3]
    assert payload in body and int(r.text) == len(body)
    assert headers["Host"] == url.removeprefix("http://")


async def test_compressed_answers_duplicate_headers_and_redirects(server):
    url, handler = server
    async with client(url) as c:
        r = await c.get("/gzip")
        assert r.text == "a,b\n1,2\n" * 100
        r = await c.get("/cookies")
        assert r.headers.get_list("set-cookie") == ["a=1; Path=/", "b=2; Path=/"]
        assert c.cookies.get("a") == "1" and c.cookies.get("b") == "2"
        r = await c.get("/moved")
        assert r.status_code == 200 and r.text == "you asked /there?x=1"
        assert handler.seen[-1][2].get("Cookie") in ("a=1; b=2", "b=2; a=1")


def listening(on_connection) -> tuple[str, socket.socket]:
    """A loopback listener that hands each connection to `on_connection` on a thread."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=on_connection, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}", listener


def one_shot_server(answer: bytes) -> tuple[str, list, None]:
    """A server that answers each connection once with `answer`, then closes it (without
    saying so in the answer: the client finds out when it uses the connection again)."""
    accepted: list = []

    def one(conn: socket.socket) -> None:
        accepted.append(conn)
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
            conn.sendall(answer)

    url, listener = listening(one)
    return url, [listener, accepted], None


async def test_a_kept_connection_the_server_closed_is_replaced():
    url, (listener, accepted), _ = one_shot_server(
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok")
    try:
        async with client(url) as c:
            for path in ("/a", "/b", "/c"):
                assert (await c.get(path)).text == "ok"
            assert (await c.post("/d", content=b"x")).text == "ok"
        assert len(accepted) == 4  # a new connection each time, and no request failed
    finally:
        listener.close()


async def test_failures_are_httpx_errors_and_reach_the_user_as_connection_failures():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with client(f"http://127.0.0.1:{port}") as c:
        with pytest.raises(httpx.ConnectError):
            await c.get("/")
    conn = Connection(f"http://127.0.0.1:{port}", token="t")
    with pytest.raises(ConnectionFailed) as err:
        async with Emx2Client(conn, retries=1) as emx2:
            await emx2.list_schemas()
    assert "cannot be reached" in str(err.value)

    silent = socket.socket()  # accepts, then never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    try:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        async with client(url, timeout=0.3) as c:
            with pytest.raises(httpx.ReadTimeout):
                await c.get("/")
        with pytest.raises(ConnectionFailed) as err:
            async with Emx2Client(Connection(url, token="t"), timeout=0.3, retries=1) as emx2:
                await emx2.list_schemas()
        assert "did not answer in time" in str(err.value)
    finally:
        silent.close()

    url, (listener, _), _ = one_shot_server(b"this is not HTTP\r\n\r\n")
    try:
        async with client(url) as c:
            with pytest.raises(httpx.RemoteProtocolError):
                await c.get("/")
    finally:
        listener.close()


async def test_a_cancelled_request_closes_its_connection_at_once():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    hung_up = threading.Event()

    def serve() -> None:
        conn, _ = listener.accept()
        conn.recv(65536)  # the request; no answer ever comes
        conn.settimeout(10)
        try:
            while conn.recv(65536):
                pass
            hung_up.set()  # the client closed its end
        except OSError:
            pass
        conn.close()

    threading.Thread(target=serve, daemon=True).start()
    try:
        async with client(f"http://127.0.0.1:{listener.getsockname()[1]}", timeout=30) as c:
            task = asyncio.create_task(c.get("/slow"))
            await asyncio.sleep(0.2)
            started = time.monotonic()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert await asyncio.to_thread(hung_up.wait, 5)
            assert time.monotonic() - started < 5
    finally:
        listener.close()


async def test_unsupported_scheme_is_refused():
    async with httpx.AsyncClient(transport=ThreadedTransport()) as c:
        with pytest.raises(httpx.UnsupportedProtocol):
            await c.get("ftp://example.org/file")


def answer_once_server() -> tuple[str, socket.socket, list[bytes]]:
    """A server that answers the first request of each connection and keeps it open, then
    reads the next request on it and hangs up without an answer (as a server does that has
    given up on an idle connection just as a request arrived)."""
    requests: list[bytes] = []

    def read_request(conn: socket.socket) -> bytes:
        data = b""
        while b"\r\n\r\n" not in data:
            data += conn.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        while len(body) < length:
            body += conn.recv(65536)
        return head.split(b"\r\n")[0]

    def one(conn: socket.socket) -> None:
        with conn:
            requests.append(read_request(conn))
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            requests.append(read_request(conn))

    url, listener = listening(one)
    return url, listener, requests


async def test_a_request_the_server_hung_up_on_is_sent_again_only_when_safe():
    url, listener, requests = answer_once_server()
    try:
        async with client(url) as c:
            assert (await c.get("/a")).text == "ok"
            assert (await c.get("/b")).text == "ok"  # hung up on, sent again on a new connection
            with pytest.raises(httpx.RemoteProtocolError):
                await c.post("/c", content=b"x" * 10)  # reached the server: never sent twice
        assert requests == [b"GET /a HTTP/1.1", b"GET /b HTTP/1.1", b"GET /b HTTP/1.1",
                            b"POST /c HTTP/1.1"]
    finally:
        listener.close()


async def test_https_verifies_the_server_with_the_context_it_is_given(tmp_path):
    import shutil
    import ssl
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a certificate for the test server")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost"], check=True, capture_output=True)
    handler = type("H", (Recorder,), {"seen": [], "connections": set()})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server_side = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_side.load_cert_chain(cert, key)
    httpd.socket = server_side.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"https://localhost:{httpd.server_address[1]}"
    made = []

    def trusting():
        made.append(1)
        return ssl.create_default_context(cafile=str(cert))

    try:
        async with httpx.AsyncClient(base_url=url, transport=ThreadedTransport(tls_context=trusting)) as c:
            assert (await c.get("/a")).text == "you asked /a"
            assert (await c.get("/b")).text == "you asked /b"
        assert made == [1] and len(handler.connections) == 1  # one context, one TLS connection
        strict = ThreadedTransport(tls_context=ssl.create_default_context)
        async with httpx.AsyncClient(base_url=url, transport=strict) as c:
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await c.get("/a")
    finally:
        httpd.shutdown()
        httpd.server_close()


async def test_an_upload_longer_than_the_timeout_goes_through_while_the_server_keeps_reading():
    # the timeout is for a server that stalls, not for a long upload: here the server reads
    # 256 KB every 30 ms (about 8 MB/s), so 24 MB take some 3 s against a timeout of 1 s
    def slow_reader(conn: socket.socket) -> None:
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:")))
            got = len(body)
            while got < length:
                chunk = conn.recv(256 * 1024)
                if not chunk:
                    return
                got += len(chunk)
                time.sleep(0.03)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%d" % (len(str(got)), got))

    url, listener = listening(slow_reader)
    try:
        async with client(url, timeout=1.0) as c:
            started = time.monotonic()
            r = await c.post("/api/zip", content=b"z" * (24 * 1024 * 1024))
            assert r.text == str(24 * 1024 * 1024)
            assert time.monotonic() - started > 1.0
    finally:
        listener.close()


async def test_header_bytes_travel_as_they_are_and_a_bad_header_value_is_not_shown(server):
    url, handler = server
    async with client(url, timeout=float("inf")) as c:  # no limit, as EMX2TUI_HTTP_TIMEOUT=inf
        r = await c.get("/latin")
        assert r.headers["content-disposition"].encode("latin-1") == "attachment; filename=Café.csv".encode("latin-1")
        with pytest.raises(httpx.LocalProtocolError) as err:
            await c.get("/", headers={"x-molgenis-token": "tok-secret-123\n"})
        assert "x-molgenis-token" in str(err.value) and "tok-secret" not in str(err.value)
        for bad in ({"x-molgenis-token": "tok-secret\n continued"}, {"x-note": "a\x00b"},
                    {"x y": "1"}):
            with pytest.raises(httpx.LocalProtocolError):
                await c.get("/", headers=bad)
        assert all("tok-secret" not in str(h) for h in handler.seen)
    conn = Connection(url, token="tok-secret-123\n")
    started = time.monotonic()
    with pytest.raises(ConnectionFailed) as err:
        async with Emx2Client(conn, retries=3, backoff=0.5) as emx2:
            await emx2.list_schemas()
    assert "tok-secret" not in str(err.value)
    assert time.monotonic() - started < 0.5  # not tried again: it would fail the same way


@pytest.mark.parametrize("setting, expected", [
    ("30", 30.0), ("inf", 2_000_000.0), ("1e7", 2_000_000.0), ("0", 60.0), ("-5", 60.0),
    ("nan", 60.0), ("soon", 60.0), ("", 60.0)])
def test_the_timeout_setting_is_one_a_socket_can_keep(monkeypatch, setting, expected):
    # a socket counts its timeout in milliseconds in 32 bits on some platforms: a longer one
    # would wrap round to almost nothing
    from emx2tui.emx2.prefetch import default_timeout

    monkeypatch.setenv("EMX2TUI_HTTP_TIMEOUT", setting)
    assert default_timeout() == expected
