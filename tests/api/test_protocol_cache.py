"""The trial's protocol parameter versions are kept per process (server.db.protocol_cache): not read
again by every request, and never stale after an amendment, in the process that made it or in
another one (two applications on one database stand for two workers)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from server.app import create_app
from server.schema.common import loaders
from server.settings import Settings

from ..conftest import GraphQLClient
from .fixtures_data import mutate
from .stored_responses import today_utc

VERSION = "{ trial { code protocolParameters { version cciEarlyThresholdPerUl } } }"
HISTORY = "{ trial { protocolParameterHistory { version effectiveFrom } } }"
AMEND = "... on ProtocolParametersSuccess { protocolParameters { version } }"


async def amend(gql: GraphQLClient, admin: str, effective_from: str, threshold: float) -> None:
    result = await mutate(
        gql,
        admin,
        "amendProtocolParameters",
        "AmendProtocolParametersInput",
        {"effectiveFrom": effective_from, "reason": "Amendment", "cciEarlyThresholdPerUl": threshold},
        AMEND,
    )
    assert "protocolParameters" in result, result


async def version_read(gql: GraphQLClient, analyst: str) -> tuple[int, float]:
    found = (await gql.data(analyst, VERSION))["trial"]["protocolParameters"]
    return found["version"], found["cciEarlyThresholdPerUl"]


async def eventually(read: Callable[[], Awaitable[Any]], expected: Any, seconds: float = 10.0) -> Any:
    """Another process hears of a change by a notification that arrives a moment after the commit."""
    found = await read()
    for _ in range(int(seconds / 0.05)):
        if found == expected:
            break
        await asyncio.sleep(0.05)
        found = await read()
    return found


@contextlib.asynccontextmanager
async def second_app(settings: Settings) -> AsyncIterator[GraphQLClient]:
    """Another application on the same database: another worker, as far as caches go."""
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield GraphQLClient(client, application)


async def test_an_amendment_in_one_worker_is_read_by_another(gql, token, settings):
    # given: two workers that have both read version 1
    admin, analyst = token("admin"), token("analyst")
    async with second_app(settings) as other:
        assert await version_read(gql, analyst) == (1, 7500.0)
        assert await version_read(other, analyst) == (1, 7500.0)
        # when: the first amends the parameters, in force today
        await amend(gql, admin, today_utc().isoformat(), 25000)
        # then: the worker that amended reads version 2 at once, the other one as soon as it hears
        assert await version_read(gql, analyst) == (2, 25000.0)
        assert await eventually(lambda: version_read(other, analyst), (2, 25000.0)) == (2, 25000.0)
        history = (await other.data(analyst, HISTORY))["trial"]["protocolParameterHistory"]
        assert [v["version"] for v in history] == [1, 2]


async def test_a_future_dated_amendment_applies_on_its_date(gql, token, monkeypatch, sql_statements, app):
    # given: version 2 amended to take effect tomorrow (and, on PostgreSQL, the amendment's
    # notification heard: it drops the copy a second time)
    admin, analyst = token("admin"), token("analyst")
    tomorrow = today_utc() + timedelta(days=1)
    cache = app.state.protocol_cache
    drops = cache.drops
    await amend(gql, admin, tomorrow.isoformat(), 25000)
    if cache.across_requests:
        assert await eventually(lambda: asyncio.sleep(0, cache.drops), drops + 2) == drops + 2
    # when: read today, then tomorrow (the clock moves; nothing is written in between)
    today = await version_read(gql, analyst)
    before = len(sql_statements.statements)
    monkeypatch.setattr(loaders, "today_utc", lambda: tomorrow)
    on_its_date = await version_read(gql, analyst)
    read_tomorrow = sql_statements.statements[before:]
    # then
    assert today == (1, 7500.0)
    assert on_its_date == (2, 25000.0)
    if app.state.protocol_cache.across_requests:  # PostgreSQL: from the copy already held
        assert not [s for s in read_tomorrow if "protocol_parameter_set" in s], read_tomorrow


async def test_constant_rows_are_not_read_again_by_each_request(app, gql, token, sql_statements):
    # given: a request has read the parameters
    analyst = token("analyst")
    await version_read(gql, analyst)
    before = len(sql_statements.statements)
    # when: the next one reads the trial and its parameters
    assert await version_read(gql, analyst) == (1, 7500.0)
    # then: on PostgreSQL, no statement at all; on SQLite (nothing kept between requests) one
    # read of the trial and one of its versions
    statements = sql_statements.statements[before:]
    constant_rows = [s for s in statements if "FROM trial" in s or "FROM protocol_parameter_set" in s]
    assert len(constant_rows) == (0 if app.state.protocol_cache.across_requests else 2), statements


@pytest.fixture
def postgres_only(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("notifications are PostgreSQL's")


async def test_a_hand_edit_of_the_versions_reaches_every_worker(app, gql, token, postgres_only):
    # given: a worker holding version 1
    analyst = token("analyst")
    assert await version_read(gql, analyst) == (1, 7500.0)
    # when: an operator adds a version by hand (no service involved)
    async with app.state.engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO protocol_parameter_set"
                " (trial_id, version, effective_from, parameters, reason, created_at, created_by)"
                " SELECT trial_id, 2, effective_from, jsonb_set(parameters, '{cci_early_threshold_per_ul}', '9000'),"
                " 'by hand', now(), 'operator' FROM protocol_parameter_set WHERE version = 1"
            )
        )
    # then: the trigger's notification drops the worker's copy
    assert await eventually(lambda: version_read(gql, analyst), (2, 9000.0)) == (2, 9000.0)


async def test_the_copy_is_dropped_when_the_listener_reconnects(app, gql, token, postgres_only):
    # given: a worker holding the versions
    await version_read(gql, token("analyst"))
    cache = app.state.protocol_cache
    assert cache._held is not None
    # when: its LISTEN connection is cut (a notification sent meanwhile would reach nobody)
    async with app.state.engine.connect() as conn:
        listeners = "datname = current_database() AND query LIKE 'LISTEN%'"
        await conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE {listeners}"))
        await conn.rollback()
    # then: once the listener is back, the copy is dropped and read again by the next request
    for _ in range(200):
        if cache._held is None:
            break
        await asyncio.sleep(0.05)
    assert cache._held is None
    assert await version_read(gql, token("analyst")) == (1, 7500.0)
