"""Pooled connections whose server backend is gone (a restart, pg_terminate_backend, an idle
timeout): no ping at checkout any more (server.db.engine), and a read still succeeds."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import text

from server.db import engine as db_engine

from .fixtures_data import create_site

READ = "{ viewer { role } sites { code } }"
TERMINATE_OTHERS = """
SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
"""


@pytest.fixture
def postgres_only(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("backends are terminated on PostgreSQL")


async def _warm_pool(gql: Any, admin: str) -> None:
    """Several concurrent reads, so the pool holds several idle connections."""
    for body in await asyncio.gather(*(gql(admin, READ) for _ in range(4))):
        assert "errors" not in body


async def _terminate_backends(app: Any) -> int:
    """Every backend of the test database but the one asking (the app's own alert listener too)."""
    async with app.state.engine.connect() as conn:
        terminated = (await conn.execute(text(TERMINATE_OTHERS))).scalar_one()
        await conn.rollback()
    return int(terminated)


async def test_a_read_after_every_backend_was_terminated_succeeds(app, gql, token, postgres_only):
    # given: a warm pool
    admin = token("admin")
    await create_site(gql, admin, "S01")
    await _warm_pool(gql, admin)
    # when: the server ends every connection of the database
    assert await _terminate_backends(app) >= 1
    response = await gql.client.post("/graphql", json={"query": READ}, headers={"Authorization": f"Bearer {admin}"})
    # then
    assert response.status_code == 200, response.text
    assert response.json() == {"data": {"viewer": {"role": "ADMIN"}, "sites": [{"code": "S01"}]}}


async def test_a_read_on_a_dead_connection_not_caught_at_checkout_is_retried_once(
    app, gql, token, postgres_only, monkeypatch
):
    # given: a warm pool, and the free check at checkout blind (a connection can die unnoticed
    # between the check and its first statement): the read's own retry must recover it
    admin = token("admin")
    await create_site(gql, admin, "S01")
    await _warm_pool(gql, admin)
    monkeypatch.setattr(db_engine, "connection_closed_by_server", lambda _connection: False)
    assert await _terminate_backends(app) >= 1
    # when
    answers = [await gql(admin, READ) for _ in range(3)]
    # then: every read answers, the first one included
    for body in answers:
        assert "errors" not in body, body
        assert body["data"] == {"viewer": {"role": "ADMIN"}, "sites": [{"code": "S01"}]}


async def test_a_read_in_a_short_session_of_its_own_is_retried_once_too(app, gql, token, postgres_only, monkeypatch):
    # given: a warm pool, the check at checkout blind, and the protocol versions not read yet
    admin = token("admin")
    await _warm_pool(gql, admin)
    monkeypatch.setattr(db_engine, "connection_closed_by_server", lambda _connection: False)
    assert await _terminate_backends(app) >= 1
    # when: the first request reads the trial (kept per process, read in a session of its own)
    body = await gql(admin, "{ trial { code protocolParameters { version } } }")
    # then
    assert body == {"data": {"trial": {"code": "PTR-CART-01", "protocolParameters": {"version": 1}}}}
