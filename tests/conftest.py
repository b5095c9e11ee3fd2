"""Test fixtures: a migrated database per backend (SQLite always; PostgreSQL when
TEST_DATABASE_URL is set, and required when CI=true), a fresh app per test, an HTTP client, tokens.

Isolation: SQLite tests each get a copy of a migrated template file; PostgreSQL is migrated once
per session and its tables are emptied after each test (TRUNCATE, with the audit trail's TRUNCATE guard
disabled inside that transaction)."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import create_async_engine

from server.app import create_app
from server.auth import development_token
from server.db import migrate
from server.db.engine import build_engine
from server.domain.enums import Role
from server.settings import Settings

from .statement_log import StatementLog

PG_URL = os.environ.get("TEST_DATABASE_URL")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
BACKENDS = ["sqlite", "postgres"]

# Tables emptied between PostgreSQL tests; trial and the first parameter version are migration data.
KEEP = {"alembic_version", "trial"}
AUDIT_TRUNCATE_GUARD = "audit_event_no_truncate"


def pytest_configure(config: pytest.Config) -> None:
    if IN_CI and not PG_URL:
        raise pytest.UsageError("CI=true but TEST_DATABASE_URL is not set: PostgreSQL is required in CI")


def _pg_url() -> str:
    return Settings(database_url=PG_URL).effective_database_url if PG_URL else ""


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("db") / "template.sqlite3"

    async def build() -> None:
        engine = build_engine(f"sqlite+aiosqlite:///{path}")
        await migrate.upgrade(engine)
        await engine.dispose()

    run_in_thread(build())
    return path


def run_in_thread(coroutine: Any) -> Any:
    """Runs a coroutine to completion from synchronous fixture code, whatever loop is running."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


async def _reset_postgres(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await migrate.upgrade(engine)
    await engine.dispose()


@pytest.fixture(scope="session")
def postgres_ready() -> str:
    url = _pg_url()
    run_in_thread(_reset_postgres(url))
    return url


async def _empty_postgres(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        names = (
            (await conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))).scalars().all()
        )
        wipe = [n for n in names if n not in KEEP and n != "protocol_parameter_set"]
        # The audit trail refuses TRUNCATE (migration 0007); the harness lifts the guard for this
        # transaction only, as the README tells an operator to do deliberately.
        await conn.execute(text(f"ALTER TABLE audit_event DISABLE TRIGGER {AUDIT_TRUNCATE_GUARD}"))
        await conn.execute(text(f"TRUNCATE {', '.join(wipe)} RESTART IDENTITY CASCADE"))
        await conn.execute(text(f"ALTER TABLE audit_event ENABLE TRIGGER {AUDIT_TRUNCATE_GUARD}"))
        await conn.execute(text("DELETE FROM protocol_parameter_set WHERE version > 1"))
    await engine.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> Iterator[str]:
    if request.param == "sqlite":
        path = tmp_path / "test.sqlite3"
        shutil.copy(sqlite_template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    if not PG_URL:
        pytest.skip("PostgreSQL tests need TEST_DATABASE_URL")
    url = request.getfixturevalue("postgres_ready")
    try:
        yield url
    finally:
        run_in_thread(_empty_postgres(url))


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=database_url, data_dir=tmp_path, max_page_size=100, default_page_size=50)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Any]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
        yield c


class Tokens:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def __call__(self, role: str, *sites: str, subject: str | None = None, sub: str | None = None) -> str:
        return development_token(self.settings, role=Role(role), sites=list(sites), subject=subject, sub=sub)


@pytest.fixture
def token(settings: Settings) -> Tokens:
    return Tokens(settings)


class GraphQLClient:
    """POSTs a GraphQL operation with a bearer token and returns the decoded body.

    Every query that the read planner answered with one SQL statement (server.schema.execution.planner) is
    sent a second time with the planner off, and the two answers must be the same: the whole API
    suite checks the planned path against strawberry's stock execution."""

    def __init__(self, client: httpx.AsyncClient, app: Any) -> None:
        self.client = client
        self.planner = app.state.read_planner

    async def __call__(
        self, token: str | None, query: str, variables: dict[str, Any] | None = None, *, status: int = 200
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        body = {"query": query, "variables": variables or {}}
        answered = self.planner.answered
        response = await self.client.post("/graphql", json=body, headers=headers)
        assert response.status_code == status, response.text
        if self.planner.answered > answered:
            self.planner.enabled = False
            try:
                stock = await self.client.post("/graphql", json=body, headers=headers)
            finally:
                self.planner.enabled = True
            assert response.json() == stock.json(), f"planned and stock answers differ for {query}"
        return response.json()

    async def data(self, token: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = await self(token, query, variables)
        assert "errors" not in body, body["errors"]
        return body["data"]


@pytest.fixture
def gql(client: httpx.AsyncClient, app: Any) -> GraphQLClient:
    return GraphQLClient(client, app)


class StatementCounter:
    """The SQL statements the app's engine runs (writes_only: those of units of work, whose
    connections carry the `writes` execution option)."""

    def __init__(self, *, writes_only: bool = False) -> None:
        self.writes_only = writes_only
        self.statements: list[str] = []

    def __call__(self, conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not self.writes_only or conn.get_execution_options().get("writes"):
            self.statements.append(statement)

    @property
    def count(self) -> int:
        return len(self.statements)


def _counting(app: Any, counter: StatementCounter) -> Iterator[StatementCounter]:
    engine = app.state.engine.sync_engine
    event.listen(engine, "before_cursor_execute", counter)
    yield counter
    event.remove(engine, "before_cursor_execute", counter)


@pytest.fixture
def sql_statements(app: Any) -> Iterator[StatementCounter]:
    yield from _counting(app, StatementCounter())


@pytest.fixture
def write_statements(app: Any) -> Iterator[StatementCounter]:
    yield from _counting(app, StatementCounter(writes_only=True))


@pytest.fixture
async def pg_statement_log(app: Any, database_url: str) -> AsyncIterator[StatementLog]:
    """Counts the round trips the app makes as PostgreSQL's log shows them (tests/statement_log.py
    says how, and how to use it); skips the test on SQLite."""
    if not database_url.startswith("postgresql"):
        pytest.skip("round trips are counted from PostgreSQL's log")
    log = StatementLog(app.state.engine)
    await log.start()
    yield log
    log.stop()
