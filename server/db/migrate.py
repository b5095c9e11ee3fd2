"""Alembic, driven from code: `ptr-trial migrate`, the embedded start-up and the tests use this."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

import migrations

MIGRATIONS_DIR = Path(migrations.__file__).resolve().parent


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


# pg_advisory_xact_lock key of schema migrations: "PTRMIGR" as an integer, arbitrary but fixed.
MIGRATION_LOCK_KEY = 0x505452_4D494752


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Upgrades in one transaction that first takes the migration lock, so processes starting
    together (several containers, `ptr-trial migrate` beside a starting server) do not race: one
    migrates, the others wait for its commit and then find nothing to do. PostgreSQL: a
    transaction-level advisory lock. SQLite: the write lock, taken up front (BEGIN IMMEDIATE)."""
    writer = engine.execution_options(writes=True) if engine.dialect.name == "sqlite" else engine
    async with writer.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        await conn.run_sync(lambda sync: command.upgrade(alembic_config(sync), revision))


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: command.downgrade(alembic_config(sync), revision))


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())
