"""Migrations go up to head, all the way down to base, and up again, on SQLite and PostgreSQL.

PostgreSQL runs in a scratch database of its own (<test database>_migr), created and dropped
here: the session fixtures own the main test database."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from server.db import migrate
from server.db.engine import build_engine
from server.db.models import Base
from server.db.protocol_cache import PROTOCOL_CHANNEL
from server.domain.protocol import DEFAULT_PARAMETERS, ProtocolParameters
from server.settings import Settings

PG_URL = os.environ.get("TEST_DATABASE_URL")
MODEL_TABLES = set(Base.metadata.tables)


async def _create_scratch_database(main_url: str) -> str:
    url = make_url(Settings(database_url=main_url).effective_database_url)
    scratch = f"{url.database}_migr"
    admin = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)'))
            await conn.execute(text(f'CREATE DATABASE "{scratch}"'))
    finally:
        await admin.dispose()
    return url.set(database=scratch).render_as_string(hide_password=False)


async def _drop_scratch_database(main_url: str, scratch_url: str) -> None:
    url = make_url(Settings(database_url=main_url).effective_database_url)
    admin = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(scratch_url).database}" WITH (FORCE)'))
    finally:
        await admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
async def scratch_engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    if request.param == "sqlite":
        engine = build_engine(f"sqlite+aiosqlite:///{tmp_path / 'migrations.sqlite3'}")
        try:
            yield engine
        finally:
            await engine.dispose()
        return
    if not PG_URL:
        pytest.skip("PostgreSQL tests need TEST_DATABASE_URL")
    scratch_url = await _create_scratch_database(PG_URL)
    engine = build_engine(scratch_url)
    try:
        yield engine
    finally:
        await engine.dispose()
        await _drop_scratch_database(PG_URL, scratch_url)


async def table_names(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))


async def audit_guards(engine: AsyncEngine) -> set[str]:
    """The append-only triggers (and, on PostgreSQL, their function) present in the database."""
    async with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            triggers = await conn.execute(
                text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgname LIKE 'audit_event%'")
            )
            functions = await conn.execute(
                text("SELECT proname FROM pg_proc WHERE proname = 'audit_event_is_append_only'")
            )
            return set(triggers.scalars()) | set(functions.scalars())
        rows = await conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))
        return set(rows.scalars())


async def assert_at_head(engine: AsyncEngine) -> None:
    assert await migrate.current_revision(engine) == migrate.head_revision()
    assert await table_names(engine) == MODEL_TABLES | {"alembic_version"}
    async with engine.connect() as conn:
        trials = (await conn.execute(text("SELECT id, code FROM trial"))).all()
        versions = (
            await conn.execute(text("SELECT trial_id, version, effective_from, parameters FROM protocol_parameter_set"))
        ).all()
    assert [tuple(row) for row in trials] == [(1, "PTR-CART-01")]
    assert len(versions) == 1
    trial_id, version, effective_from, parameters = versions[0]
    assert (trial_id, version, str(effective_from)) == (1, 1, "2026-01-01")
    if isinstance(parameters, str):  # SQLite hands JSON back as text through a raw query
        parameters = json.loads(parameters)
    # Keys added by later versions of the code take their defaults when read.
    assert ProtocolParameters.from_dict(parameters) == DEFAULT_PARAMETERS
    expected_guards = (
        {"audit_event_append_only", "audit_event_is_append_only", "audit_event_no_truncate"}  # 0007: TRUNCATE
        if engine.dialect.name == "postgresql"
        else {"audit_event_no_update", "audit_event_no_delete"}
    )
    assert await audit_guards(engine) == expected_guards


async def assert_audit_is_append_only(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO audit_event (occurred_at, actor_id, actor_role, entity, entity_id, action, changes) "
                "VALUES (CURRENT_TIMESTAMP, 'migration-test', 'admin', 'Site', 1, 'create', '{}')"
            )
        )
    for statement in ("UPDATE audit_event SET reason = 'x'", "DELETE FROM audit_event"):
        async with engine.connect() as conn:
            with pytest.raises(DBAPIError, match="append-only"):
                await conn.execute(text(statement))
            await conn.rollback()


async def test_upgrade_downgrade_upgrade(scratch_engine: AsyncEngine):
    # given: an empty database
    assert await table_names(scratch_engine) == set()
    assert migrate.head_revision() is not None

    # when: up to head
    await migrate.upgrade(scratch_engine)
    # then
    await assert_at_head(scratch_engine)
    await assert_audit_is_append_only(scratch_engine)

    # when: all the way down
    await migrate.downgrade(scratch_engine, "base")
    # then: nothing left but alembic's own table, which records no revision
    assert await table_names(scratch_engine) == {"alembic_version"}
    assert await migrate.current_revision(scratch_engine) is None
    assert await audit_guards(scratch_engine) == set()

    # when: up again
    await migrate.upgrade(scratch_engine)
    # then
    await assert_at_head(scratch_engine)
    await assert_audit_is_append_only(scratch_engine)


async def test_upgrade_at_head_is_a_no_op(scratch_engine: AsyncEngine):
    # given
    await migrate.upgrade(scratch_engine)
    # when
    await migrate.upgrade(scratch_engine)
    # then
    await assert_at_head(scratch_engine)


async def test_a_write_to_the_protocol_versions_notifies_every_process(scratch_engine: AsyncEngine):
    """0010: the per-process copies of the versions (server.db.protocol_cache) hear of any change."""
    if scratch_engine.dialect.name != "postgresql":
        pytest.skip("NOTIFY is PostgreSQL's")
    # given: a migrated database and a connection listening on the channel
    await migrate.upgrade(scratch_engine)
    heard: asyncio.Queue[str] = asyncio.Queue()
    async with scratch_engine.connect() as conn:
        listener = (await conn.get_raw_connection()).driver_connection

        def on_notice(*notice: Any) -> None:
            heard.put_nowait(notice[2])  # (connection, pid, channel, payload)

        await listener.add_listener(PROTOCOL_CHANNEL, on_notice)
        try:
            # when: a version is changed by hand
            async with scratch_engine.begin() as writer:
                await writer.execute(text("UPDATE protocol_parameter_set SET reason = reason WHERE version = 1"))
            # then
            assert await asyncio.wait_for(heard.get(), timeout=10) == PROTOCOL_CHANNEL
        finally:
            await listener.remove_listener(PROTOCOL_CHANNEL, on_notice)
