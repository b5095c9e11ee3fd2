"""Engine and sessions. The engine is built once, in the application's lifespan."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine


def build_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """hide_parameters: error messages (and so logs) never quote a statement's values."""
    if url.startswith("sqlite"):
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30}, hide_parameters=True)
        _configure_sqlite(engine)
        return engine
    return create_async_engine(url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=10, hide_parameters=True)


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
