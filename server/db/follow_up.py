"""Last follow-up of subjects: the latest dated record the trial holds for each, in one statement.

"Last follow-up" (censoring of the time-to-event analyses and the end of the before/after
periods) is the latest time at which the trial has evidence that the subject was under
observation: the latest of their live (not voided) CAR-T infusions, platelet transfusions (end),
platelet counts, lab results, antibody tests, body measurements and diary reports (time noticed).
Today's date is deliberately not used for subjects still on study: a subject with no contact
since is not known to be event-free, and a figure must not change with the day it is read.
Adverse events and status changes are left out: an event recorded later may concern an earlier
time, and a status change has only a calendar date."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, type_coerce, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from ..domain.auth import Actor
from .models import (
    AntibodyTest,
    BleedingReport,
    BodyMeasurement,
    CarTInfusion,
    LabResult,
    PlateletCount,
    PlateletTransfusion,
    Subject,
)
from .queries import subject_visible_to
from .types import UTCDateTime

LAST_FOLLOW_UP_RULE = (
    "last-follow-up-v1: the latest live dated record of the subject (CAR-T infusion, platelet transfusion end, "
    "platelet count, lab result, antibody test, body measurement, diary report noticed time); today's date is not used"
)

# (model, the column that dates it, whether it can be voided)
_SOURCES: tuple[tuple[Any, Any, bool], ...] = (
    (CarTInfusion, CarTInfusion.infused_at, True),
    (PlateletTransfusion, PlateletTransfusion.ended_at, True),
    (PlateletCount, PlateletCount.drawn_at, True),
    (LabResult, LabResult.collected_at, True),
    (AntibodyTest, AntibodyTest.collected_at, True),
    (BodyMeasurement, BodyMeasurement.measured_at, True),
    (BleedingReport, BleedingReport.noticed_at, False),
)


async def last_follow_ups(session: AsyncSession, actor: Actor, subject_ids: Sequence[int]) -> dict[int, datetime]:
    """{subject id: latest dated record (UTC)} for the visible subjects among these that have any
    record. One statement: the per-table maxima, united, then the maximum per subject."""
    ids = list(subject_ids)
    if not ids:
        return {}
    parts = []
    for model, column, voidable in _SOURCES:
        part = select(model.subject_id.label("subject_id"), func.max(column).label("at")).where(
            model.subject_id.in_(ids)
        )
        if voidable:
            part = part.where(model.voided_at.is_(None))
        parts.append(part.group_by(model.subject_id))
    united = union_all(*parts).subquery()
    query = (
        select(united.c.subject_id, type_coerce(func.max(united.c.at), UTCDateTime()).label("at"))
        .join(Subject, Subject.id == united.c.subject_id)
        .where(subject_visible_to(actor))
        .group_by(united.c.subject_id)
        .order_by(united.c.subject_id)
    )
    return {row.subject_id: row.at for row in await session.execute(query) if row.at is not None}
