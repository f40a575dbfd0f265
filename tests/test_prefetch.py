"""Early reads: a headless run's first reads sent while it loads, taken by the client only for
the very same request, and asked again by the client when they did not succeed."""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys

import httpx
import pytest
from conftest import cohort_sandbox

from emx2tui.emx2 import prefetch
from emx2tui.emx2.client import Connection, Emx2Client
from emx2tui.emx2.errors import AuthError, ConnectionFailed
from emx2tui.emx2.zipfmt import table_entries
from emx2tui.jobs.early import start_reads
from emx2tui.jobs.runner import Job

server = pytest.importorskip("emx2tui.sandbox.server")

PASSWORD = "Early-Reads-Pw9"


@pytest.fixture(scope="module")
def sandbox(models_dir):
    with cohort_sandbox(models_dir, PASSWORD) as sb:
        yield sb


@pytest.fixture()
def token(sandbox) -> str:
    r = httpx.post(sandbox.url + "/api/graphql", json={
        "query": "mutation($e:String,$p:String){signin(email:$e,password:$p){token}}",
        "variables": {"e": "admin", "p": PASSWORD}})
    return r.json()["data"]["signin"]["token"]


@pytest.fixture(autouse=True)
def _no_leftover_reads():
    prefetch._reads.clear()
    yield
    prefetch._reads.clear()


def take(k: prefetch.Key):
    """The answer of an early read (waiting for it), as the client takes it."""
    read = prefetch.claim(k)
    if read is None or not read.done.wait(30):
        return None
    return prefetch.answer_of(read)


def args_for(sandbox, token: str, **extra) -> argparse.Namespace:
    values = dict(strategy="CohortStagingToDataCatalogue", strategy_file=None, demo=False,
                  source_url=sandbox.url, source_schema="testCohort", source_token=token,
                  target_url=sandbox.url, target_schema="catalogue", target_token=token)
    values.update(extra)
    return argparse.Namespace(**values)


def plan_counting(sandbox, token: str) -> tuple[object, list[str]]:
    """A plan of the cohort strategy, and the requests its clients sent over the network."""
    sent: list[str] = []
    real = httpx.AsyncClient.send

    async def send(self, request, **kw):
        what = " metadata" if request.method == "POST" and b"_schema" in request.content else ""
        sent.append(f"{request.method} {request.url.path}{what}")
        return await real(self, request, **kw)

    httpx.AsyncClient.send = send
    try:
        conn = (Connection(sandbox.url, "testCohort", token=token),
                Connection(sandbox.url, "catalogue", token=token))
        plan = asyncio.run(Job("CohortStagingToDataCatalogue", *conn).plan())
    finally:
        httpx.AsyncClient.send = real
    return plan, sent


def test_the_first_reads_are_taken_from_the_early_reads(sandbox, token):
    by_itself, sent_alone = plan_counting(sandbox, token)
    assert "GET /testCohort/api/zip" in sent_alone and "POST /catalogue/graphql metadata" in sent_alone
    assert start_reads(args_for(sandbox, token))
    early, sent = plan_counting(sandbox, token)
    # the metadata of both schemas, of the ontologies they refer to, and the staging export
    # came early; the plan is the same
    for request in ("GET /testCohort/api/zip", "POST /testCohort/graphql metadata",
                    "POST /catalogue/graphql metadata", "POST /CatalogueOntologies/graphql metadata"):
        assert request in sent_alone and request not in sent, request
    assert len(sent) == len(sent_alone) - 4
    assert early.counts() == by_itself.counts()
    assert table_entries(early.build_zip()) == table_entries(by_itself.build_zip())
    assert not any(k[0] == sandbox.url and "testCohort" in k[3] for k in prefetch._reads)  # taken once


def test_an_early_read_is_only_taken_for_the_same_request(sandbox, token):
    assert prefetch.start(sandbox.url, token, metadata=["testCohort"])
    k = prefetch.key(sandbox.url, token, "POST", "/testCohort/graphql",
                     body={"query": prefetch.SCHEMA_QUERY})
    assert not prefetch.pending(prefetch.key(sandbox.url, token + "x", "POST", "/testCohort/graphql",
                                             body={"query": prefetch.SCHEMA_QUERY}))
    assert not prefetch.pending(prefetch.key(sandbox.url, token, "POST", "/testCohort/graphql",
                                             body={"query": "{_session{email}}"}))
    status, ctype, body = take(k)
    assert status == 200 and ctype.startswith("application/json") and b'"testCohort"' in body
    assert take(k) is None  # once


def test_a_refused_early_read_is_asked_again_and_reported_as_usual(sandbox, token):
    bad = "not-a-token-" + PASSWORD
    assert prefetch.start(sandbox.url, bad, metadata=["catalogue"])

    async def model():
        async with Emx2Client(Connection(sandbox.url, "catalogue", token=bad)) as c:
            return await c.schema_model("catalogue")

    with pytest.raises(AuthError) as err:
        asyncio.run(model())
    assert "token was refused" in str(err.value) and bad not in str(err.value)


def test_an_unreachable_server_is_reported_by_the_client(token):
    url = "http://127.0.0.1:9"  # discard port: nothing listens
    assert prefetch.start(url, token, metadata=["catalogue"], timeout=2)

    async def model():
        async with Emx2Client(Connection(url, "catalogue", token=token), retries=1) as c:
            return await c.schema_model("catalogue")

    with pytest.raises(ConnectionFailed) as err:
        asyncio.run(model())
    assert "cannot be reached" in str(err.value) and token not in str(err.value)


def test_no_early_reads_without_a_token_behind_a_proxy_or_for_the_demo(sandbox, token, monkeypatch):
    assert not prefetch.start(sandbox.url, None, metadata=["catalogue"])
    assert not start_reads(args_for(sandbox, token, demo=True))
    assert not start_reads(args_for(sandbox, token, strategy="NoSuchStrategy"))
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    assert not prefetch.start(sandbox.url, token, metadata=["catalogue"])
    assert not prefetch._reads


def test_an_https_server_gets_its_certificate_store_loaded_early(token):
    from emx2tui.emx2 import client

    client._tls_context.cache_clear()
    prefetch._tls.clear()
    try:
        assert prefetch.start("https://127.0.0.1:9", token, metadata=["catalogue"], timeout=2)
        context = prefetch.tls_context()
        assert context is not None and context.verify_mode.name == "CERT_REQUIRED"
        assert client._tls_context() is context  # the client verifies with the same store
    finally:
        client._tls_context.cache_clear()
        prefetch._tls.clear()


def test_a_headless_run_sends_its_first_reads_early(sandbox, token, tmp_path):
    env = {**os.environ, "EMX2TUI_DATA_DIR": str(tmp_path), "MG_SOURCE_TOKEN": token,
           "MG_TARGET_TOKEN": token}
    probe = ("import sys; from emx2tui.emx2 import prefetch; from emx2tui.cli import main; "
             "code = main(sys.argv[1:]); "
             "print('early reads left untaken:', sorted(k[3] for k in prefetch._reads), "
             "'used:', prefetch.used); "
             "sys.exit(code)")
    proc = subprocess.run([sys.executable, "-c", probe, "run", "CohortStagingToDataCatalogue",
                           "--dry-run", "--source-url", sandbox.url, "--source-schema", "testCohort",
                           "--target-url", sandbox.url, "--target-schema", "catalogue"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "Dry run" in proc.stdout and "early reads left untaken: [] used: 4" in proc.stdout
    assert token not in proc.stdout + proc.stderr


@pytest.fixture()
def hanging_server():
    """A server that accepts connections and never answers; yields (url, connections seen)."""
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    seen: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            seen.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}", seen
    stop.set()
    thread.join(2)
    for c in seen:
        c.close()
    listener.close()


def test_an_early_read_that_times_out_counts_as_the_first_try(hanging_server, token):
    import time

    url, seen = hanging_server
    assert prefetch.start(url, token, metadata=["catalogue"], timeout=1)

    async def model():
        async with Emx2Client(Connection(url, "catalogue", token=token), timeout=1, retries=2,
                              backoff=0.0) as c:
            return await c.schema_model("catalogue")

    started = time.monotonic()
    with pytest.raises(ConnectionFailed) as err:
        asyncio.run(model())
    took = time.monotonic() - started
    assert "did not answer in time" in str(err.value)
    assert len(seen) == 2 and 1.5 < took < 2.8  # two tries in all, as without the early read


def test_waiting_for_an_early_read_can_be_cancelled(hanging_server, token):
    import time

    url, _ = hanging_server
    assert prefetch.start(url, token, metadata=["catalogue"], timeout=30)

    async def main():
        async with Emx2Client(Connection(url, "catalogue", token=token)) as c:
            task = asyncio.ensure_future(c.schema_model("catalogue"))
            await asyncio.sleep(0.3)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    started = time.monotonic()
    asyncio.run(main())
    assert time.monotonic() - started < 3  # not the early read's 30 s


def test_referred_schema_names_are_read_as_json_strings():
    assert prefetch._json_string("Ontologieën".encode()) == "Ontologieën"
    assert prefetch._json_string(rb"Ontologie\u00ebn") == "Ontologieën"
    assert prefetch._json_string(rb'say \"hi\"') == 'say "hi"'
