"""Operations with real processes: HTTP limits of `serve` over a real socket, its JSON logs, the
metrics of `--workers 2` added up across workers, and two `migrate` commands racing on a fresh
PostgreSQL database."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from server.db import migrate
from server.settings import Settings

from ..conftest import PG_URL, run_in_thread
from .servers import REPO, Launch, Server, clean_env, dev_token, serving


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("ops-data")
    env = clean_env(PTR_DATA_DIR=str(data_dir), PTR_LOG_LEVEL="INFO", PTR_HTTP_BODY_TIMEOUT_SECONDS="1")
    with serving(env, Launch(data_dir / "server.log")) as (started,):
        yield started


def _raw(server: Server, request: bytes, timeout: float = 10) -> tuple[bytes, float]:
    """Sends raw bytes; returns what came back before the server closed (or the timeout) and how long it took."""
    host, port = server.url.removeprefix("http://").split(":")
    started = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        received = b""
        try:
            sock.sendall(request)
            while chunk := sock.recv(65536):
                received += chunk
                if b"\r\n\r\n" in received and b'"code"' in received:
                    break
        except (ConnectionResetError, BrokenPipeError):
            pass
    return received, time.monotonic() - started


def test_oversized_headers_are_refused_quickly_without_stalling_health(server: Server) -> None:
    # given: a health check polled while the big headers arrive
    healthy: list[int] = []

    def poll() -> None:
        for _ in range(10):
            healthy.append(httpx.get(f"{server.url}/healthz", timeout=2).status_code)

    poller = threading.Thread(target=poll)
    poller.start()
    # when
    big, seconds = _raw(server, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 65536 + b"\r\n\r\n")
    huge, huge_seconds = _raw(server, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 8_000_000 + b"\r\n\r\n")
    poller.join()
    # then
    assert big.split(b" ", 2)[1] in (b"431", b"400"), big[:200]
    assert seconds < 3 and huge_seconds < 5
    assert huge == b"" or huge.split(b" ", 2)[1] in (b"431", b"400")
    assert healthy == [200] * 10


def test_a_body_that_never_arrives_is_refused_408(server: Server) -> None:
    # when: headers promise 100 bytes and 10 come
    token = dev_token("admin").encode()
    request = (
        b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer "
        + token
        + b'\r\nContent-Length: 100\r\n\r\n{"query":'
    )
    answer, seconds = _raw(server, request)
    # then
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert 0.9 < seconds < 5
    assert httpx.get(f"{server.url}/healthz", timeout=2).status_code == 200


def test_server_logs_are_json_lines_with_utc_timestamps(server: Server) -> None:
    # given
    response = httpx.get(
        f"{server.url}/graphql?query=%7Bviewer%7Brole%7D%7D&variables=%7B%22code%22%3A%22S01-009%22%7D"
    )
    assert response.status_code == 401
    time.sleep(0.3)
    # when
    lines = [json.loads(line) for line in server.log.read_text().splitlines() if line.startswith("{")]
    # then
    startup = [line for line in lines if line["msg"] == "Application startup complete."]
    assert startup and startup[0]["level"] == "INFO" and startup[0]["ts"].endswith("Z")
    access = [line for line in lines if line.get("request_id") == response.headers["x-request-id"]]
    assert access and access[-1]["status"] == 401 and access[-1]["path"] == "/graphql"
    assert "S01-009" not in server.log.read_text()


@pytest.mark.skipif(not PG_URL, reason="needs TEST_DATABASE_URL")
def test_metrics_of_two_workers_add_up(tmp_path: Path, scratch_database: str) -> None:
    # given
    env = clean_env(DATABASE_URL=scratch_database, PTR_LOG_LEVEL="INFO")
    assert (
        subprocess.run([sys.executable, "-m", "server.cli", "migrate"], env=env, cwd=REPO, timeout=120).returncode == 0
    )
    with serving(env, Launch(tmp_path / "workers.log", workers=2)) as (started,):
        # when: requests spread over both workers on fresh connections
        for _ in range(20):
            assert httpx.get(f"{started.url}/healthz", timeout=5).status_code == 200
        scrapes = [httpx.get(f"{started.url}/metrics", timeout=5).text for _ in range(4)]
        log = started.log.read_text()
    # then: every scrape, whichever worker answers, counts all 20
    for scrape in scrapes:
        assert 'ptr_http_requests_total{method="GET",route="/healthz",status="200"} 20.0' in scrape, scrape[-2000:]
    assert sum('"Application startup complete."' in line for line in log.splitlines()) == 2


# ---- migrations under the advisory lock -------------------------------------------------------------


def _sql(url: str, statement: str) -> list[tuple[object, ...]]:
    """One statement in autocommit (CREATE/DROP DATABASE), from synchronous test code."""

    async def run() -> list[tuple[object, ...]]:
        engine = create_async_engine(Settings(database_url=url).effective_database_url, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                result = await conn.execute(text(statement))
                return [tuple(row) for row in result.all()] if result.returns_rows else []
        finally:
            await engine.dispose()

    return run_in_thread(run())


@pytest.fixture
def scratch_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database beside the test database, dropped afterwards."""
    if not PG_URL:
        pytest.skip("needs TEST_DATABASE_URL")
    name = f"ptr_ops_scratch_{uuid.uuid4().hex[:10]}"
    _sql(PG_URL, f'CREATE DATABASE "{name}"')
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        _sql(PG_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_two_migrate_commands_at_once_migrate_once(scratch_database: str) -> None:
    # given
    env = clean_env(DATABASE_URL=scratch_database)
    # when
    commands = [
        subprocess.Popen(
            [sys.executable, "-m", "server.cli", "migrate"],
            env=env,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [command.communicate(timeout=180)[0] for command in commands]
    # then
    assert [command.returncode for command in commands] == [0, 0], outputs
    head = migrate.head_revision()
    assert all(f"database at revision {head}" in output for output in outputs), outputs
    assert _sql(scratch_database, "SELECT version_num FROM alembic_version") == [(head,)]
