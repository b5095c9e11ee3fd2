"""A read leaves nothing of its rows to the cyclic garbage collector (issue 11).

graphql-core's executor is a reference cycle and holds the request's context, so whatever the
context still holds when the operation ends lives until a collection runs; a site view's rows are
some 12,000 objects. Context.end drops the loaders' rows, so they are freed as soon as the
operation ends, by reference counting."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.engine import Row

from server.db.models import Base
from tests.api import fixtures_data as fx

A = "S01-001"
READ = """{ subject(code: "S01-001") { code transfusions { id cciEarly response { category } }
  plateletCounts { id } measurements { id } plateletResponse { sustained } } }"""


@pytest.fixture
def collector_off() -> Iterator[None]:
    """No automatic collection while the test runs, so the garbage waits for the test's own."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def cyclic_garbage() -> list[Any]:
    """What the cyclic collector finds unreachable now (kept for inspection, then freed)."""
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        gc.collect()
        found = list(gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    return found


async def test_a_read_leaves_no_rows_to_the_cyclic_collector(gql: Any, token: Any, collector_off: None) -> None:
    # given a subject with a transfusion and its counts, read once already
    admin = token("admin")
    await fx.create_site(gql, admin, "S01")
    await fx.enroll_subject(gql, admin, A, "S01")
    await fx.record_infusion(gql, admin, A, "CD19", "2026-02-07T10:00:00Z")
    await fx.record_transfusion(gql, admin, A, "2026-03-01T08:00:00Z", "2026-03-01T08:30:00Z")
    assert (await gql.data(admin, READ))["subject"]["transfusions"]
    cyclic_garbage()
    # when it is read again
    data = await gql.data(admin, READ)
    # then none of the rows it read is left for the cyclic collector
    assert data["subject"]["transfusions"]
    left = [type(o).__name__ for o in cyclic_garbage() if isinstance(o, (Row, Base))]
    assert left == []
