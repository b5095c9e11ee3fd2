"""SQL of the stored platelet responses' refresh (services.response.refresh_stored_responses): lock
the subjects, read the engine's inputs, replace the derived rows. A constant number of statements
per call, whatever the number of subjects it is given (the caller chunks very long id lists).

System reads inside a write transaction: no actor scoping (the reads of people go through
server.db.queries)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from .models import (
    Base,
    BodyMeasurement,
    CarTInfusion,
    PlateletCount,
    PlateletTransfusion,
    Procedure,
    StoredSubjectResponse,
    StoredTransfusionResponse,
    Subject,
    Therapy,
)


async def lock_subjects(session: AsyncSession, subject_ids: Sequence[int] | None) -> list[int]:
    """Locks the subjects (all of them for None) in id order and returns the ids that exist.

    Every write of a response input locks its subject first (services.access), so holding the
    lock while the inputs are read and the rows replaced serialises refreshes of one subject with
    the writes to it: a refresh never misses a change committed concurrently, and two refreshes
    never race to insert the same rows. (SQLite serialises writers anyway; FOR UPDATE is not
    rendered there.)"""
    query = select(Subject.id).order_by(Subject.id).with_for_update()
    if subject_ids is not None:
        query = query.where(Subject.id.in_(list(subject_ids)))
    return list((await session.execute(query)).scalars().all())


async def subjects_without_current_responses(session: AsyncSession, parameter_version: int) -> list[int]:
    """Subjects with no subject_response row under this parameter version (never refreshed, or
    refreshed under another version)."""
    current = select(StoredSubjectResponse.subject_id).where(
        StoredSubjectResponse.parameter_version == parameter_version
    )
    query = select(Subject.id).where(Subject.id.not_in(current)).order_by(Subject.id)
    return list((await session.execute(query)).scalars().all())


@dataclass
class ResponseInputs:
    """The live (not voided) records the response engine reads, per subject id, as plain rows
    with the models' attribute names, in the order the read side's loaders use."""

    transfusions: dict[int, list[Any]] = field(default_factory=lambda: defaultdict(list))
    counts: dict[int, list[Any]] = field(default_factory=lambda: defaultdict(list))
    measurements: dict[int, list[Any]] = field(default_factory=lambda: defaultdict(list))
    infusions: dict[int, list[Any]] = field(default_factory=lambda: defaultdict(list))
    therapies: dict[int, list[Any]] = field(default_factory=lambda: defaultdict(list))
    procedures: dict[int, list[Any]] = field(default_factory=lambda: defaultdict(list))


async def _live_rows(
    session: AsyncSession, columns: Sequence[Any], model: Any, subject_ids: Sequence[int], order_by: Any
) -> dict[int, list[Any]]:
    query = (
        select(*columns)
        .where(model.subject_id.in_(list(subject_ids)), model.voided_at.is_(None))
        .order_by(model.subject_id, order_by, model.id)
    )
    grouped: dict[int, list[Any]] = defaultdict(list)
    for row in await session.execute(query):
        grouped[row.subject_id].append(row)
    return grouped


async def response_inputs(session: AsyncSession, subject_ids: Sequence[int]) -> ResponseInputs:
    """Six statements: transfusions, counts, body measurements, CAR-T infusions, therapies and
    procedures."""
    t, c, b, i, th, p = PlateletTransfusion, PlateletCount, BodyMeasurement, CarTInfusion, Therapy, Procedure
    return ResponseInputs(
        transfusions=await _live_rows(
            session,
            (t.id, t.subject_id, t.started_at, t.ended_at, t.units, t.abo_compatibility),
            t,
            subject_ids,
            t.started_at,
        ),
        counts=await _live_rows(
            session, (c.id, c.subject_id, c.drawn_at, c.value_e9_per_l), c, subject_ids, c.drawn_at
        ),
        measurements=await _live_rows(
            session, (b.id, b.subject_id, b.measured_at, b.height_cm, b.weight_kg), b, subject_ids, b.measured_at
        ),
        infusions=await _live_rows(
            session, (i.id, i.subject_id, i.product, i.infused_at), i, subject_ids, i.infused_at
        ),
        therapies=await _live_rows(
            session,
            (th.id, th.subject_id, th.therapy_class, th.start_date, th.end_date),
            th,
            subject_ids,
            th.start_date,
        ),
        procedures=await _live_rows(
            session, (p.id, p.subject_id, p.procedure_type, p.hsct_type, p.performed_on), p, subject_ids, p.performed_on
        ),
    )


async def replace_stored_responses(
    session: AsyncSession,
    subject_ids: Sequence[int],
    transfusion_rows: Sequence[dict[str, Any]],
    subject_rows: Sequence[dict[str, Any]],
) -> None:
    """Deletes the subjects' derived rows and inserts the new ones (executemany)."""
    ids = list(subject_ids)
    # Core statements on the tables: no ORM bulk machinery or identity-map synchronisation.
    tables = Base.metadata.tables
    transfusions = tables[StoredTransfusionResponse.__tablename__]
    subjects = tables[StoredSubjectResponse.__tablename__]
    await session.execute(delete(transfusions).where(transfusions.c.subject_id.in_(ids)))
    await session.execute(delete(subjects).where(subjects.c.subject_id.in_(ids)))
    if transfusion_rows:
        await session.execute(insert(transfusions), list(transfusion_rows))
    if subject_rows:
        await session.execute(insert(subjects), list(subject_rows))
