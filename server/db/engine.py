"""Engine and sessions. The engine is built once, in the application's lifespan."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

from sqlalchemy import event, exc
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

T = TypeVar("T")
R = TypeVar("R")  # what a reader is: an AsyncSession or an AsyncConnection

# Pooled PostgreSQL connections are used without a ping at checkout (pool_pre_ping sent three round
# trips, BEGIN; ";"; ROLLBACK, before every request's own). Dead connections are still recovered:
# - one the server closed (restart, pg_terminate_backend, idle timeout) is in most cases already
#   known to asyncpg as closed, its socket having seen the EOF: refused at checkout, for free;
# - one that dies unseen fails its first statement with a disconnect error. SQLAlchemy then
#   invalidates the whole pool (each connection older than the error is replaced at its next
#   checkout), and a read starts over once on a new connection (read_retrying, Context.read);
#   a write is not retried: it fails, rolled back, and its client retries;
# - connections older than 30 minutes are replaced, before a firewall or proxy drops them idle.
POOL_RECYCLE_SECONDS = 30 * 60


def build_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """hide_parameters: error messages (and so logs) never quote a statement's values."""
    if url.startswith("sqlite"):
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30}, hide_parameters=True)
        _configure_sqlite(engine)
        return engine
    engine = create_async_engine(
        url, echo=echo, pool_size=10, max_overflow=10, pool_recycle=POOL_RECYCLE_SECONDS, hide_parameters=True
    )
    event.listen(engine.sync_engine, "checkout", _refuse_closed_connection)
    return engine


def _refuse_closed_connection(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """The pool then discards the connection and checks out (or opens) another."""
    if connection_closed_by_server(dbapi_connection):
        raise exc.DisconnectionError("the server closed this pooled connection")


def connection_closed_by_server(dbapi_connection: Any) -> bool:
    """asyncpg's own flag, set when the connection's socket closed: no round trip."""
    return bool(dbapi_connection.driver_connection.is_closed())


def is_disconnect(error: BaseException) -> bool:
    """A statement failed because its connection is gone (SQLAlchemy has invalidated it)."""
    return isinstance(error, exc.DBAPIError) and error.connection_invalidated


async def read_retrying(
    open_reader: Callable[[], AbstractAsyncContextManager[R]], read: Callable[[R], Awaitable[T]]
) -> T:
    """Runs a read in a session (or connection) of its own from `open_reader` (a sessionmaker, or
    an engine's `connect`); if its connection turns out dead, once more on a new one (a read is
    idempotent; a write must never be retried like this)."""
    try:
        async with open_reader() as reader:
            return await read(reader)
    except exc.DBAPIError as error:
        if not is_disconnect(error):
            raise
    async with open_reader() as reader:
        return await read(reader)


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # The driver's own implicit BEGIN is off; _on_begin below issues the right one.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # Foreign keys are off by default in SQLite; WAL lets readers proceed during a write.
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A write transaction takes SQLite's write lock up front (waiting up to busy_timeout):
        # a deferred one that read first could not upgrade once another writer committed, and
        # would fail instead of waiting.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("writes") else "BEGIN")


def build_sessionmaker(engine: AsyncEngine, *, writes: bool = False) -> async_sessionmaker[AsyncSession]:
    """Sessions for reads, or (writes=True) for the units of work that change data.

    A request reads through one session; on PostgreSQL its transaction is REPEATABLE READ, so all
    of a request's statements see one snapshot (as a SQLite read transaction does): a write
    committed between two of them cannot make, say, a subject's transfusions and their stored
    responses disagree within one answer."""
    if writes:
        bind = engine.execution_options(writes=True)
    elif engine.dialect.name == "postgresql":
        bind = engine.execution_options(isolation_level="REPEATABLE READ")
    else:
        bind = engine
    return async_sessionmaker(bind, expire_on_commit=False, autoflush=False)
