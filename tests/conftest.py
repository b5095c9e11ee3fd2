"""Test fixtures: a migrated database per backend (SQLite always; PostgreSQL when
TEST_DATABASE_URL is set, and required when CI=true), a fresh app per test, an HTTP client, tokens.

Isolation: SQLite tests each get a copy of a migrated template file; PostgreSQL is migrated once
per session and the tables a test wrote to are emptied after it (PostgresJanitor below).

Parallel runs (pytest-xdist, `scripts/test` runs `-n auto`): each worker process has a PostgreSQL
database of its own, `<TEST_DATABASE_URL's database>_<worker id>` (e.g. ptr_trial_test_gw0),
dropped and created when the worker starts. TEST_DATABASE_URL is rewritten to it here, before any
test module reads it, so the scratch databases that modules derive from it (`..._migr`, `..._e2e`,
`..._fault`) are per worker too, and a test that ends every backend of "its" database
(test_stale_connections.py) only reaches its own worker's. Servers started by the e2e tests bind
free ports (tests/e2e/servers.py); the statement-log counts (tests/statement_log.py) are told
apart by a unique marker and the app's own backend pids, so neither collides across workers.
Without xdist the database is TEST_DATABASE_URL's own, as before."""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

import server.app
from server.app import create_app
from server.auth import development_token
from server.db import migrate
from server.db.engine import build_engine
from server.domain.enums import Role
from server.settings import Settings

from .statement_log import StatementLog

# pytest-xdist names its workers gw0, gw1, ... in this variable, set before conftest is imported.
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
GIVEN_PG_URL = os.environ.get("TEST_DATABASE_URL")


def _worker_database_url(url: str | None) -> str | None:
    if not url or not XDIST_WORKER:
        return url
    parsed = make_url(url)
    return parsed.set(database=f"{parsed.database}_{XDIST_WORKER}").render_as_string(hide_password=False)


PG_URL = _worker_database_url(GIVEN_PG_URL)
if PG_URL:
    os.environ["TEST_DATABASE_URL"] = PG_URL
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
BACKENDS = ["sqlite", "postgres"]

# Tables emptied between PostgreSQL tests; trial and the first parameter version are migration data.
KEEP = {"alembic_version", "trial"}
AUDIT_TRUNCATE_GUARD = "audit_event_no_truncate"


def pytest_configure(config: pytest.Config) -> None:
    if IN_CI and not PG_URL:
        raise pytest.UsageError("CI=true but TEST_DATABASE_URL is not set: PostgreSQL is required in CI")


SLOW_TESTS = {
    line.strip()
    for line in (Path(__file__).parent / "slow_tests.txt").read_text().splitlines()
    if line.strip() and not line.startswith("#")
}


# Tests with a wall-clock bound that a busy machine can break: they run in the "heavy" group below,
# so never beside the end-to-end servers (the 5,000-subject export took 42 s against its 30 s
# bound while the fault test's servers ran on the other worker).
TIMED_TESTS = {"tests/api/test_exports.py::test_export_of_5000_subjects_runs_in_bounded_memory"}


def _heavy(nodeid: str) -> bool:
    return nodeid.startswith("tests/e2e/") or nodeid.split("[")[0] in TIMED_TESTS


@pytest.hookimpl(optionalhook=True)  # xdist's hook: without xdist (-p no:xdist) pytest skips it
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`--dist loadgroup` (scripts/test): tests are handed to the workers one by one, except the
    end-to-end tests and TIMED_TESTS, which run one after the other on one worker. The end-to-end
    modules start real servers (some with several worker processes), scratch databases and
    chromium from module-scoped fixtures, which two workers would each start again, and which load
    the machine beyond one worker's share. (xdist's own loadgroup reads `xdist_group` markers from
    a suffix it adds to node ids, which pytest 9.2's node ids no longer take: this scheduler
    decides from the node id itself.)"""
    if config.getoption("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class HeavyTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return "heavy" if _heavy(nodeid) else nodeid

    return HeavyTogether(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The tests listed in slow_tests.txt get the `slow` marker, which scripts/test-fast leaves out."""
    for item in items:
        if item.nodeid.split("[")[0] in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)


def _pg_url() -> str:
    return Settings(database_url=PG_URL).effective_database_url if PG_URL else ""


def _plain_dsn(url: str) -> str:
    """asyncpg's DSN for a SQLAlchemy URL (postgresql+asyncpg://... -> postgresql://...)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session", autouse=True)
def worker_database() -> Iterator[None]:
    """Under xdist: this worker's PostgreSQL database, new for the run and dropped after it.
    Created through TEST_DATABASE_URL's own database (it exists: CI and the README create it)."""
    if not (GIVEN_PG_URL and PG_URL and XDIST_WORKER):
        yield
        return
    maintenance = _plain_dsn(Settings(database_url=GIVEN_PG_URL).effective_database_url)
    name = make_url(PG_URL).database

    async def admin(statement: str) -> None:
        conn = await asyncpg.connect(maintenance)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    run_in_thread(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    run_in_thread(admin(f'CREATE DATABASE "{name}"'))
    yield
    run_in_thread(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


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


class PostgresJanitor:
    """Empties, after each test, the tables that test wrote to, and restarts their id sequences:
    what `TRUNCATE <every table> RESTART IDENTITY` did, at a fraction of the cost. TRUNCATE gives
    each table new files, some 15 ms a table whether it held rows or not (0.3 s a test for 22
    tables); one query finds the few tables a test touched (rows, or a sequence that moved) and
    they are DELETEd with triggers and foreign-key checks off for that transaction
    (session_replication_role = replica: the audit trail's append-only guard is lifted there only,
    as the README tells an operator to do deliberately). A role that is not superuser cannot set
    that: it gets TRUNCATE of the touched tables instead.

    It keeps one connection, on an event loop of its own in a thread: the tests' loops come and go."""

    def __init__(self, url: str) -> None:
        self._dsn = _plain_dsn(url)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="postgres-janitor", daemon=True)
        self._thread.start()
        self._conn: asyncpg.Connection = self._run(asyncpg.connect(self._dsn))
        self._run(self._survey())

    def _run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    async def _survey(self) -> None:
        conn = self._conn
        names = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
        self.tables = [r["tablename"] for r in names if r["tablename"] not in KEEP | {"protocol_parameter_set"}]
        # The sequences the tables own (serial and identity columns), with their start values.
        owned = await conn.fetch(
            """
            SELECT t.relname AS table_name, s.relname AS sequence_name, q.seqstart AS start
            FROM pg_depend d
            JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
            JOIN pg_sequence q ON q.seqrelid = s.oid
            JOIN pg_class t ON t.oid = d.refobjid
            JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = 'public'
            WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
            """
        )
        self.sequences: dict[str, list[tuple[str, int]]] = {}
        for row in owned:
            self.sequences.setdefault(row["table_name"], []).append((row["sequence_name"], row["start"]))
        # pg_sequence_last_value() is NULL until a value is drawn, and again after setval(.., false).
        probes = []
        for table in self.tables:
            moved = [
                f"pg_sequence_last_value('{_ident(seq)}'::regclass) IS NOT NULL"
                for seq, _ in self.sequences.get(table, [])
            ]
            touched = " OR ".join([f"EXISTS (SELECT FROM {_ident(table)})", *moved])
            probes.append(f"SELECT '{table}' WHERE {touched}")
        probes.append(
            "SELECT 'protocol_parameter_set' WHERE EXISTS (SELECT FROM protocol_parameter_set WHERE version > 1)"
        )
        self._probe = " UNION ALL ".join(probes)
        self.superuser = bool(await conn.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"))

    def empty(self) -> None:
        self._run(self._empty())

    async def _empty(self) -> None:
        try:
            touched = [r[0] for r in await self._conn.fetch(self._probe)]
        except (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, OSError):
            # A test ended every backend of the database (test_stale_connections.py): ours too.
            self._conn = await asyncpg.connect(self._dsn)
            touched = [r[0] for r in await self._conn.fetch(self._probe)]
        conn = self._conn
        if not touched:
            return
        tables = [t for t in touched if t != "protocol_parameter_set"]
        async with conn.transaction():
            if tables and self.superuser:
                await conn.execute("SET LOCAL session_replication_role = replica")
                await conn.execute("; ".join(f"DELETE FROM {_ident(t)}" for t in tables))
                restarts = [
                    f"setval('{_ident(s)}', {start}, false)" for t in tables for s, start in self.sequences.get(t, [])
                ]
                if restarts:
                    await conn.execute(f"SELECT {', '.join(restarts)}")
                await conn.execute("SET LOCAL session_replication_role = origin")
            elif tables:
                await conn.execute(f"ALTER TABLE audit_event DISABLE TRIGGER {AUDIT_TRUNCATE_GUARD}")
                await conn.execute(f"TRUNCATE {', '.join(map(_ident, tables))} RESTART IDENTITY CASCADE")
                await conn.execute(f"ALTER TABLE audit_event ENABLE TRIGGER {AUDIT_TRUNCATE_GUARD}")
            if "protocol_parameter_set" in touched:
                await conn.execute("DELETE FROM protocol_parameter_set WHERE version > 1")

    def close(self) -> None:
        self._run(self._conn.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@pytest.fixture(scope="session")
def postgres_ready() -> Iterator[str]:
    url = _pg_url()
    run_in_thread(_reset_postgres(url))
    yield url


@pytest.fixture(scope="session")
def postgres_janitor(postgres_ready: str) -> Iterator[PostgresJanitor]:
    janitor = PostgresJanitor(postgres_ready)
    yield janitor
    janitor.close()


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
    janitor: PostgresJanitor = request.getfixturevalue("postgres_janitor")
    try:
        yield url
    finally:
        janitor.empty()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=database_url, data_dir=tmp_path, max_page_size=100, default_page_size=50)


# The GraphQL schemas the `app` fixture built, by the settings they depend on, with the planner's
# on/off at build time. Building one takes some 0.15 s (strawberry converts every type), a third
# of an API test's own cost; the schema keeps no request state but the caches reset below.
_SCHEMAS: dict[str, tuple[Any, bool]] = {}
_build_schema = server.app.build_schema


def _schema_for(settings: Settings) -> Any:
    """The schema an app on these settings builds, shared by the tests whose settings differ only
    in the database and data directory, and returned as new: its validation cache and its read
    planner (switch, counters, statement cache) are reset, so no test sees what another cached."""
    key = settings.model_dump_json(exclude={"database_url", "data_dir"})
    if key not in _SCHEMAS:
        schema = _build_schema(settings)
        _SCHEMAS[key] = (schema, schema.read_planner.enabled)
        return schema
    schema, planner_enabled = _SCHEMAS[key]
    schema.query_limits.validate.cache_clear()
    planner = schema.read_planner
    planner.__init__(enabled=planner_enabled, cached_plans=planner.plans.size)  # the state of a new one
    return schema


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Any]:
    """The app, its lifespan entered. Only this fixture shares schemas (_schema_for): a test that
    builds more apps itself (two "processes") gets a schema of its own for each."""
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(server.app, "build_schema", _schema_for)
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
