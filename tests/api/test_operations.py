"""Operations (issue 10): JSON access logs, /metrics, rate limits, database outages, traceparent.

Over HTTP against the app with a real database; the outage is made real by a TCP proxy in front of
PostgreSQL that the test closes and opens again."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from server.app import create_app
from server.db.outage import database_unavailable
from server.logs import JsonFormatter
from server.observability import trace_id_of
from server.settings import Settings

from ..conftest import PG_URL, Tokens

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
REDIS_URL = "redis://127.0.0.1:6379/0"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
SITE = 'mutation CreateSite { createSite(input: {code: "S01", name: "One"}) { __typename } }'
SUBJECT = "query SubjectByCode($code: String!) { subject(code: $code) { code } }"


class JsonLines:
    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    @property
    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text.splitlines() if line.strip()]

    def messages(self, start: str) -> list[dict[str, Any]]:
        return [line for line in self.lines if line["msg"].startswith(start)]

    def access(self, request_id: str) -> list[dict[str, Any]]:
        return [line for line in self.lines if line["msg"] == "request" and line.get("request_id") == request_id]


@pytest.fixture
def json_logs() -> Iterator[JsonLines]:
    """The root logger's output at INFO through the service's JSON formatter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield JsonLines(stream)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def _client(app: Any, ip: str = "203.0.113.7") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@contextlib.asynccontextmanager
async def _app(settings: Settings) -> AsyncIterator[Any]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


async def _post(client: httpx.AsyncClient, token: str | None, query: str, **variables: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await client.post("/graphql", json={"query": query, "variables": variables}, headers=headers)


# ---- logs -----------------------------------------------------------------------------------------


@SQLITE_ONLY
async def test_access_line_is_json_with_request_and_operation_and_no_secrets(app, token, json_logs):
    # given
    coordinator = token("coordinator", "S01", sub="actor-7f3a")
    async with _client(app) as client:
        await _post(client, token("admin"), SITE)
        # when
        response = await client.post(
            "/graphql",
            json={"query": SUBJECT, "variables": {"code": "S01-042"}, "operationName": "SubjectByCode"},
            headers={"Authorization": f"Bearer {coordinator}", "traceparent": TRACEPARENT},
        )
        refused = await _post(client, coordinator, SUBJECT, code=["S01-043"])  # a variable of the wrong type
    # then
    assert response.status_code == 200 and refused.status_code == 200
    request_id = response.headers["x-request-id"]
    access = json_logs.access(request_id)
    assert len(access) == 1, json_logs.text
    line = access[0]
    assert line["logger"] == "ptr_trial.access" and line["level"] == "INFO"
    assert line["ts"].endswith("Z") and "T" in line["ts"]
    assert line["method"] == "POST" and line["path"] == "/graphql" and line["status"] == 200
    assert line["operation_name"] == "SubjectByCode" and line["operation_type"] == "query"
    assert line["role"] == "coordinator" and line["trace_id"] == TRACE_ID
    assert isinstance(line["duration_ms"], float)
    assert "traceparent" not in {k.lower() for k in response.headers}  # nothing new echoed
    for secret in (coordinator, "S01-042", "S01-043", "actor-7f3a", "203.0.113.7", "variables"):
        assert secret not in json_logs.text


def test_json_formatter_writes_a_traceback_once_per_fingerprint():
    # given
    formatter = JsonFormatter()
    logger = logging.getLogger("ptr_trial.test")
    secret = "-".join(("S01", "001"))

    def record() -> logging.LogRecord:
        try:
            raise ValueError(f"subject {secret} is secret")
        except ValueError as error:
            return logger.makeRecord(
                logger.name, logging.ERROR, __file__, 1, "unexpected", (), (type(error), error, None)
            )

    # when
    first, second = json.loads(formatter.format(record())), json.loads(formatter.format(record()))
    # then
    assert first["exc_type"] == "ValueError" and "traceback" in first and "S01-001" not in json.dumps(first)
    assert second["exc_fingerprint"] == first["exc_fingerprint"] and "traceback" not in second


def test_traceparent_validation():
    assert trace_id_of(TRACEPARENT) == TRACE_ID
    assert trace_id_of(f"01-{TRACE_ID}-00f067aa0ba902b7-01-extra") == TRACE_ID
    for bad in (
        "",
        "garbage",
        f"ff-{TRACE_ID}-00f067aa0ba902b7-01",
        f"00-{'0' * 32}-00f067aa0ba902b7-01",
        f"00-{TRACE_ID}-{'0' * 16}-01",
        f"00-{TRACE_ID.upper()}-00f067aa0ba902b7-01",
        TRACEPARENT + "-x",
    ):
        assert trace_id_of(bad) is None, bad


# ---- metrics --------------------------------------------------------------------------------------


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@SQLITE_ONLY
async def test_metrics_move_after_a_query(app, token):
    async with _client(app) as client:
        before = _samples((await client.get("/metrics")).text)
        # when
        await _post(client, token("admin"), SITE)
        await _post(client, token("admin"), "query Broken { subject(code: 12) { code } }")
        scraped = await client.get("/metrics")
    # then
    assert scraped.status_code == 200 and scraped.headers["content-type"].startswith("text/plain")
    after = _samples(scraped.text)
    requests = {"route": "/graphql", "method": "POST", "status": "200"}
    assert (
        _value(after, "ptr_http_requests_total", **requests) - _value(before, "ptr_http_requests_total", **requests)
        == 2
    )
    created = {"operation_name": "CreateSite", "operation_type": "mutation"}
    count = "ptr_graphql_operation_duration_seconds_count"
    assert _value(after, count, **created) - _value(before, count, **created) == 1
    errors = "ptr_graphql_errors_total"
    invalid = "GRAPHQL_VALIDATION_FAILED"  # the code server/schema/common/error_codes.py gives it
    assert _value(after, errors, code=invalid) - _value(before, errors, code=invalid) == 1
    assert _value(after, "ptr_db_pool_size") >= 1
    assert ("ptr_db_pool_checked_out", ()) in after


def test_operation_names_are_bucketed():
    from server.metrics import OperationNames

    names = OperationNames(cap=2)
    assert [names.label(n) for n in ("A", None, "B", "C", "A", "not-a-name")] == [
        "A",
        "anonymous",
        "B",
        "other",
        "A",
        "other",
    ]


@SQLITE_ONLY
async def test_metrics_in_production_need_the_metrics_token(database_url, tmp_path):
    secret = "kR4v9Qz2Lm8Tg1Wb6Yc3Nd7Xh5Pj0Sa2Ue9Fo4Ki8Vq1Zr"  # random enough for production
    common = {
        "database_url": database_url,
        "data_dir": tmp_path,
        "environment": "production",
        "jwt_secret": secret,
        "public_base_url": "https://diary.example.org",
    }
    async with _app(Settings(**common)) as closed, _client(closed) as client:
        assert (await client.get("/metrics")).status_code == 404
    async with _app(Settings(**common, metrics_token="scrape-" + "s" * 30)) as guarded, _client(guarded) as client:
        assert (await client.get("/metrics")).status_code == 401
        assert (await client.get("/metrics", headers={"Authorization": "Bearer wrong"})).status_code == 401
        ok = await client.get("/metrics", headers={"Authorization": "Bearer scrape-" + "s" * 30})
        assert ok.status_code == 200 and "ptr_http_requests_total" in ok.text


# ---- rate limits ----------------------------------------------------------------------------------


def _redis_available() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.fixture(params=["memory", "redis"])
def limit_store(request: pytest.FixtureRequest) -> dict[str, str]:
    if request.param == "memory":
        return {}
    if not _redis_available():
        pytest.skip("Redis is not reachable at " + REDIS_URL)
    return {"redis_url": REDIS_URL, "rate_limit_key_prefix": f"ptr-test-ops-{uuid.uuid4().hex}"}


def _assert_rate_limited(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert int(response.headers["retry-after"]) >= 1
    assert response.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"


@SQLITE_ONLY
async def test_per_subject_and_per_ip_limits(database_url, tmp_path, token, limit_store):
    settings = Settings(
        database_url=database_url,
        data_dir=tmp_path,
        graphql_rate_limit_per_subject="3/minute",
        graphql_rate_limit_per_ip="5/minute",
        **limit_store,
    )
    async with _app(settings) as app, _client(app, "198.51.100.1") as one, _client(app, "198.51.100.2") as two:
        # given: one subject spends its allowance
        analyst = token("analyst", sub="busy-analyst")
        for _ in range(3):
            assert (await _post(one, analyst, "{ viewer { role } }")).status_code == 200
        # when / then: its fourth request is refused, from any address
        _assert_rate_limited(await _post(two, analyst, "{ viewer { role } }"))
        # another subject on the first address still gets through, until the address is spent
        other = token("analyst", sub="calm-analyst")
        for _ in range(2):  # the address's fourth and fifth
            assert (await _post(one, other, "{ viewer { role } }")).status_code == 200
        _assert_rate_limited(await _post(one, other, "{ viewer { role } }"))
        scraped = _samples((await one.get("/metrics")).text)
    assert _value(scraped, "ptr_rate_limit_refusals_total", limit="graphql-subject") >= 1
    assert _value(scraped, "ptr_rate_limit_refusals_total", limit="graphql-ip") >= 1


@SQLITE_ONLY
async def test_bad_tokens_block_the_address(database_url, tmp_path, token, limit_store):
    settings = Settings(
        database_url=database_url, data_dir=tmp_path, auth_failure_rate_limit_per_ip="3/minute", **limit_store
    )
    async with _app(settings) as app, _client(app, "192.0.2.66") as attacker, _client(app, "192.0.2.67") as other:
        # given
        for _ in range(3):
            assert (await _post(attacker, "not-a-token", "{ viewer { role } }")).status_code == 401
        # when
        blocked = await _post(attacker, token("admin"), "{ viewer { role } }")
        # then: every request of that address is refused for the window; probes and others are not
        _assert_rate_limited(blocked)
        phone = await attacker.post("/diary/api/token", json={"refreshToken": "x"})
        assert phone.status_code == 429 and phone.json()["error"]["code"] == "RATE_LIMITED"
        assert (await attacker.get("/healthz")).status_code == 200
        assert (await _post(other, token("admin"), "{ viewer { role } }")).status_code == 200


# ---- database outage ------------------------------------------------------------------------------


class TcpProxy:
    """127.0.0.1:<port> forwarding to PostgreSQL; close() is the outage, open() the recovery."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    async def open(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in list(self.writers):
            writer.close()
        await self.server.wait_closed()
        self.server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self.writers |= {writer, up_writer}

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self.writers -= {writer, up_writer}


def test_connect_failures_are_classified_as_unavailable():
    from sqlalchemy import exc

    assert database_unavailable(ConnectionRefusedError(111, "refused"))
    assert database_unavailable(exc.TimeoutError("QueuePool limit of size 10 overflow 10 reached"))
    assert database_unavailable(exc.OperationalError(None, None, Exception("too many clients")))
    assert not database_unavailable(exc.OperationalError("SELECT 1", {}, Exception("connection lost")))
    assert not database_unavailable(exc.IntegrityError("INSERT", {}, Exception("duplicate")))
    assert not database_unavailable(ValueError("a bug"))
    assert not database_unavailable(None)


@pytest.mark.skipif(not PG_URL, reason="needs TEST_DATABASE_URL")
async def test_database_outage_is_503_retryable_and_logged_once(postgres_ready, tmp_path, json_logs):
    from sqlalchemy.engine import make_url

    url = make_url(postgres_ready)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.open()
    settings = Settings(database_url=url.set(port=proxy.port).render_as_string(hide_password=False), data_dir=tmp_path)
    admin = Tokens(settings)("admin")
    try:
        async with _app(settings) as app, _client(app) as client:
            assert (await _post(client, admin, "{ viewer { role } }")).status_code == 200
            assert (await _post(client, admin, "{ sites { code } }")).status_code == 200
            # when: the database goes away
            await proxy.close()
            answers = [await _post(client, admin, "query Sites { sites { code } }") for _ in range(20)]
            ready = await client.get("/readyz")
            define = await client.get("/exports/define.json", headers={"Authorization": f"Bearer {admin}"})
            phone = await client.post("/diary/api/token", json={"refreshToken": "r" * 40})
            # then
            for answer in answers:
                assert answer.status_code == 503, answer.text
                assert answer.headers["retry-after"] == "5"
                assert answer.json()["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
            assert ready.status_code == 503
            for other in (define, phone):  # outside GraphQL too, each in its endpoint's error shape
                assert other.status_code == 503 and other.headers["retry-after"] == "5", other.text
            assert define.json()["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
            assert phone.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
            assert len(json_logs.messages("database unreachable")) == 1, json_logs.text
            assert not [line for line in json_logs.lines if line["logger"] == "ptr_trial.graphql"]
            # when: it is back
            await proxy.open()
            recovered = await _post(client, admin, "{ sites { code } }")
            # then
            assert recovered.status_code == 200 and "errors" not in recovered.json()
            back = json_logs.messages("database reachable again")
            assert len(back) == 1 and back[0]["failed_requests"] == 22, json_logs.text
            scraped = _samples((await client.get("/metrics")).text)
            assert _value(scraped, "ptr_db_unavailable_requests_total") >= 22
    finally:
        if proxy.server is not None:
            await proxy.close()
