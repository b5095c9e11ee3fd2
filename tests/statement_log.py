"""SQL round trips counted the way PostgreSQL sees them: from the server's own log.

A test asks for the `pg_statement_log` fixture (tests/conftest.py), which needs the `app` fixture on
the PostgreSQL backend (on SQLite it skips the test), and wraps the requests it measures:

    async def test_a_read_is_three_round_trips(app, gql, token, pg_statement_log):
        await gql.data(admin, QUERY)  # warm: connect, prepare, fill the caches
        async with pg_statement_log.capture() as seen:
            await gql.data(admin, QUERY)
        assert seen.round_trips <= 3, seen.report()

What is counted. The fixture makes every connection of the app's pool (and only those) log each
protocol step with `log_min_duration_statement = 0` (set on the connection when the pool opens it;
the pool is emptied first so no connection escapes). That logs, per backend pid:

    statement: BEGIN ISOLATION LEVEL REPEATABLE READ;   a simple query: one round trip
    parse __asyncpg_stmt_3__: SELECT ...                 asyncpg preparing a statement: one round trip
    bind __asyncpg_stmt_3__: SELECT ...                  } sent together: one round trip
    execute __asyncpg_stmt_3__: SELECT ...               }

so `round_trips` = simple statements + parses + binds with their executes (BEGIN, COMMIT and
ROLLBACK included: each is a message the client waits for; an empty query such as SQLAlchemy's
pre-ping ";" logs a bind and no execute, and is a round trip too). `log_statement = 'all'` would hide the parses, which asyncpg
sends on the first use of a statement per connection (its statement cache skips them later: warm
up first to measure the steady state, or measure cold on purpose).

Where the log is. `pg_current_logfile()` when the server's logging collector runs; otherwise the
backend's own stderr (/proc/self/fd/2), which is where Debian's clusters and the CI script's send
it. It is read as superuser with pg_read_binary_file from the offset where the capture started,
and the capture's start and end are marked by `SELECT 'ptr-statement-log:<uuid>:start'` (and
`:end`) on a connection of the fixture's own, so a log that is not the server's real one is noticed.
If the log cannot be read (not superuser, stderr not a file), `capture()` falls back to counting
what SQLAlchemy sends on the app's engine (each statement, BEGIN, COMMIT, ROLLBACK): prepares and
pool pings are not seen there, so it undercounts; `seen.source` says which of the two counted.
(asyncpg's own query logger would be no better: it does not see prepared statements' executes,
which is how SQLAlchemy runs every query.)
"""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

# One log entry begins with the line prefix; "%m [%p] " is PostgreSQL's default, and the pid in
# brackets is what ties an entry to one of the pool's connections.
# The fallback: what SQLAlchemy sends (a statement, or BEGIN/COMMIT/ROLLBACK by their event names).
FALLBACK_EVENTS = ("before_cursor_execute", "begin", "commit", "rollback")
ENTRY_START = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? \S+ \[(?P<pid>\d+)\]", re.MULTILINE)
STEP = re.compile(
    r"LOG:\s+duration: [\d.]+ ms\s+(?:(?P<simple>statement): |(?P<step>parse|bind|execute) (?P<name>[^:]*): )"
    r"(?P<sql>.*)",
    re.DOTALL,
)


@dataclass(frozen=True)
class LoggedStep:
    pid: int
    step: str  # statement (simple query), parse, bind or execute
    sql: str

    def __str__(self) -> str:
        return f"[{self.pid}] {self.step}: {' '.join(self.sql.split())[:160]}"


def _round_trips(steps: list[LoggedStep]) -> list[LoggedStep]:
    """The steps that each cost a round trip: a simple statement, a parse, and a bind with the
    execute that follows it on the same connection (one message batch). A bind that no execute
    follows is a round trip of its own: an empty query (SQLAlchemy's ping of ";") logs no execute."""
    trips: list[LoggedStep] = []
    last_of: dict[int, str] = {}
    for step in steps:
        if not (step.step == "execute" and last_of.get(step.pid) == "bind"):
            trips.append(step)
        last_of[step.pid] = step.step
    return trips


@dataclass
class Captured:
    """What the app's connections sent between the capture's markers."""

    source: str = "server log"  # or "SQLAlchemy events ..." (the fallback)
    steps: list[LoggedStep] = field(default_factory=list)

    @property
    def round_trips(self) -> int:
        return len(_round_trips(self.steps))

    @property
    def statements(self) -> list[str]:
        """The SQL of each round trip, in order (a statement prepared first appears twice)."""
        return [step.sql for step in _round_trips(self.steps)]

    def report(self) -> str:
        lines = [f"{self.round_trips} round trips ({self.source}):"]
        lines += [f"  {step}" for step in _round_trips(self.steps)]
        return "\n".join(lines)


class StatementLog:
    """Counts what an app's engine sends to PostgreSQL, from the server's log (see the module)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        url = make_url(engine.url.render_as_string(hide_password=False)).set(drivername="postgresql")
        self._dsn = url.render_as_string(hide_password=False)
        self.pids: set[int] = set()
        self._fallback: list[LoggedStep] | None = None
        event.listen(engine.sync_engine, "connect", self._on_connect)
        self._listeners = [(name, self._seen_by_sqlalchemy(name.upper())) for name in FALLBACK_EVENTS]
        for name, listener in self._listeners:
            event.listen(engine.sync_engine, name, listener)

    def _on_connect(self, dbapi_connection: Any, _record: Any) -> None:
        connection: asyncpg.Connection = dbapi_connection.driver_connection
        self.pids.add(connection.get_server_pid())
        dbapi_connection.run_async(lambda c: c.execute("SET log_min_duration_statement = 0"))

    def _seen_by_sqlalchemy(self, step: str) -> Any:
        def record(_conn: Any, *args: Any) -> None:
            if self._fallback is not None:
                self._fallback.append(LoggedStep(pid=0, step="statement", sql=args[1] if args else step))

        return record

    async def start(self) -> None:
        """Empties the pool so that every connection the app uses from now on logs its steps."""
        await self.engine.dispose()

    def stop(self) -> None:
        event.remove(self.engine.sync_engine, "connect", self._on_connect)
        for name, listener in self._listeners:
            event.remove(self.engine.sync_engine, name, listener)

    @contextlib.asynccontextmanager
    async def capture(self) -> AsyncIterator[Captured]:
        captured = Captured()
        marker = f"ptr-statement-log:{uuid.uuid4().hex}"
        own = await asyncpg.connect(self._dsn)
        try:
            path = await _log_path(own)
            await own.execute("SET log_min_duration_statement = 0")
            offset = await _size(own, path) if path else None
            await own.execute(f"SELECT '{marker}:start'")
            self._fallback = [] if offset is None else None
            try:
                yield captured
            finally:
                fallback, self._fallback = self._fallback, None
            await own.execute(f"SELECT '{marker}:end'")
            if path is not None and offset is not None:
                text = await _read(own, path, offset)
                if f"{marker}:start" in text and f"{marker}:end" in text:
                    between = text.split(f"{marker}:start", 1)[1].split(f"{marker}:end", 1)[0]
                    captured.steps = [s for s in _steps(between) if s.pid in self.pids]
                    return
            # The file read is not the server's log after all: nothing could be counted from it.
            captured.source = "SQLAlchemy events (no prepares, no pings)"
            captured.steps = fallback or []
        finally:
            await own.close()


async def _log_path(connection: asyncpg.Connection) -> str | None:
    """The file the server logs to, when this connection may read it (superuser)."""
    try:
        path = await connection.fetchval("SELECT pg_current_logfile()")
        if (
            path is None
            and await connection.fetchval("SELECT (pg_stat_file('/proc/self/fd/2', true)).size") is not None
        ):
            path = "/proc/self/fd/2"
    except asyncpg.PostgresError:  # not allowed: no superuser
        return None
    return str(path) if path is not None else None


async def _size(connection: asyncpg.Connection, path: str) -> int | None:
    try:
        size = await connection.fetchval("SELECT (pg_stat_file($1)).size", path)
    except asyncpg.PostgresError:
        return None
    return int(size)


async def _read(connection: asyncpg.Connection, path: str, offset: int) -> str:
    data: bytes = await connection.fetchval(
        "SELECT pg_read_binary_file($1, $2, (pg_stat_file($1)).size - $2)", path, offset
    )
    return data.decode("utf-8", errors="replace")


def _steps(text: str) -> list[LoggedStep]:
    starts = list(ENTRY_START.finditer(text))
    steps = []
    for this, following in zip(starts, [*starts[1:], None], strict=True):
        entry = text[this.end() : following.start() if following else len(text)]
        matched = STEP.search(entry)
        if matched is None:  # DETAIL lines (parameters), checkpoints, other messages
            continue
        step = "statement" if matched["simple"] else matched["step"]
        steps.append(LoggedStep(pid=int(this["pid"]), step=step, sql=matched["sql"].strip()))
    return steps
