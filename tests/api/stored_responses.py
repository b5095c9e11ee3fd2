"""Helpers for the stored platelet responses (tables transfusion_response and subject_response):
refresh them all, dump them, and prove they equal a fresh live evaluation of every subject.

The live side is computed the way reads did before the results were stored: the records read
through the read side's own query (server.db.queries.records_of_subjects) and the same engine
(services.response.evaluate_subject), so it shares no code with the refresh's reads and writes."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict
from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import select

from server.db import queries as q
from server.db.models import (
    BodyMeasurement,
    CarTInfusion,
    PlateletCount,
    PlateletTransfusion,
    Procedure,
    StoredSubjectResponse,
    StoredTransfusionResponse,
    Therapy,
)
from server.domain.auth import Actor
from server.domain.enums import CarTProduct, Role
from server.services.response import evaluate_subject, live_reading, refresh_stored_responses, stored_readings

ADMIN = Actor(actor_id="stored-responses-check", role=Role.ADMIN)


def today_utc() -> date:
    return datetime.now(timezone.utc).date()


async def refresh_all(app: Any) -> int:
    """What `ptr-trial refresh-responses` does, on the app's database (after rows written directly)."""
    async with app.state.write_sessionmaker() as session, session.begin():
        return await refresh_stored_responses(session, None, today_utc())


async def clear_stored(app: Any) -> None:
    """Deletes every stored result, as on a database just upgraded to migration 0004."""
    async with app.state.engine.begin() as conn:
        await conn.execute(StoredTransfusionResponse.__table__.delete())
        await conn.execute(StoredSubjectResponse.__table__.delete())


async def stored_rows(app: Any) -> dict[str, list[dict[str, Any]]]:
    """Every stored row of both tables, in key order."""
    transfusions, subjects = StoredTransfusionResponse, StoredSubjectResponse
    async with app.state.engine.connect() as conn:
        return {
            "transfusion_response": [
                dict(r._mapping)
                for r in await conn.execute(
                    select(*transfusions.__table__.columns).order_by(transfusions.transfusion_id)
                )
            ],
            "subject_response": [
                dict(r._mapping)
                for r in await conn.execute(select(*subjects.__table__.columns).order_by(subjects.subject_id))
            ],
        }


async def stored_versions(app: Any) -> set[int]:
    rows = await stored_rows(app)
    return {r["parameter_version"] for table in rows.values() for r in table}


async def assert_stored_equals_live(app: Any) -> int:
    """Every subject has a stored result under the version in force today, and it equals a fresh
    live evaluation exactly (every CCI, count, BSA and category); the endpoint populations too.
    Returns the number of subjects checked."""
    async with app.state.sessionmaker() as session:
        version, parameters = await q.protocol_in_force(session, ADMIN, today_utc())
        ids = list(await q.all_subject_ids(session, ADMIN, q.SubjectFilter()))
        subject_rows = await q.stored_subject_responses(session, ADMIN, ids)
        transfusion_rows = await q.stored_transfusion_responses(session, ADMIN, ids)

        async def live(model: Any, order_by: Any) -> dict[int, list[Any]]:
            grouped: dict[int, list[Any]] = defaultdict(list)
            for row in await q.records_of_subjects(session, ADMIN, model, ids, order_by):
                grouped[row.subject_id].append(row)
            return grouped

        transfusions = await live(PlateletTransfusion, PlateletTransfusion.started_at)
        counts = await live(PlateletCount, PlateletCount.drawn_at)
        measurements = await live(BodyMeasurement, BodyMeasurement.measured_at)
        infusions = await live(CarTInfusion, CarTInfusion.infused_at)
        therapies = await live(Therapy, Therapy.start_date)
        procedures = await live(Procedure, Procedure.performed_on)

    assert sorted(r.subject_id for r in subject_rows) == ids, "a subject has no stored response"
    assert {r.parameter_version for r in [*subject_rows, *transfusion_rows]} <= {version}
    stored_ids = sorted(r.transfusion_id for r in transfusion_rows)
    assert stored_ids == sorted(t.id for rows in transfusions.values() for t in rows), "stored transfusions differ"
    stored = stored_readings(subject_rows, transfusion_rows, version)
    for subject_id in ids:
        first = min((i.infused_at for i in infusions[subject_id]), default=None)
        expected = live_reading(
            subject_id,
            evaluate_subject(
                transfusions[subject_id],
                counts[subject_id],
                measurements[subject_id],
                first,
                parameters,
                version,
                therapies[subject_id],
                procedures[subject_id],
            ),
        )
        got = stored[subject_id]
        assert {k: dict(v._mapping) for k, v in got.by_transfusion.items()} == {
            k: v._asdict() for k, v in expected.by_transfusion.items()
        }, f"subject {subject_id}: stored transfusion results differ from a live evaluation"
        expected_subject = asdict(expected.subject)
        assert {k: getattr(got.subject, k) for k in expected_subject} == expected_subject, (
            f"subject {subject_id}: stored subject result differs from a live evaluation"
        )
    for row in subject_rows:
        products = {i.product for i in infusions[row.subject_id]}
        assert row.infused is bool(products)
        assert row.per_protocol is (products >= {CarTProduct.CD19, CarTProduct.BCMA})
    return len(ids)
