"""Reads behind the SDTM exports (services.exports), in keyset pages of subjects.

Every statement is scoped by the same predicate as the GraphQL reads (`subject_visible_to`) and
selects columns through `readable_columns`, so an analyst's rows never carry free text and an
export never holds a record its caller could not read through the API. Voided records are left
out. A page is a bounded number of subjects, so memory does not grow with the size of the trial.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..domain.adverse_events import AdverseEventStatus
from ..domain.auth import Actor
from .models import (
    AdverseEvent,
    AntibodyTest,
    AuditEvent,
    Base,
    BleedingReport,
    CarTInfusion,
    LabResult,
    LymphodepletionCourse,
    PlateletCount,
    PlateletTransfusion,
    Procedure,
    Site,
    StoredTransfusionResponse,
    Subject,
    Therapy,
)
from .queries import readable_columns, subject_visible_to
from .repositories import the_trial


async def study_id(session: AsyncSession) -> str:
    return (await the_trial(session)).code


async def db_last_modified(session: AsyncSession) -> datetime | None:
    """The audit trail records every change to a clinical record: its latest time is the
    database's last modification."""
    return (await session.execute(select(func.max(AuditEvent.occurred_at)))).scalar_one_or_none()


def _first_infusion_at() -> Any:
    return (
        select(func.min(CarTInfusion.infused_at))
        .where(CarTInfusion.subject_id == Subject.id, CarTInfusion.voided_at.is_(None))
        .correlate(Subject)
        .scalar_subquery()
    )


def _first_lymphodepletion_on() -> Any:
    return (
        select(func.min(LymphodepletionCourse.start_date))
        .where(LymphodepletionCourse.subject_id == Subject.id, LymphodepletionCourse.voided_at.is_(None))
        .correlate(Subject)
        .scalar_subquery()
    )


async def subject_page(session: AsyncSession, actor: Actor, *, after_id: int, limit: int) -> Sequence[Any]:
    """The next `limit` subjects the actor may read, in id order, with their site code and
    reference times (first live CAR-T infusion; first lymphodepletion day)."""
    first_at = _first_infusion_at()
    query = (
        select(
            Subject.id,
            Subject.code,
            Site.code.label("site_code"),
            Subject.sex,
            Subject.year_of_birth,
            Subject.age_at_consent,
            Subject.consent_date,
            Subject.status,
            first_at.label("first_infusion_at"),
            _first_lymphodepletion_on().label("first_lymphodepletion_on"),
        )
        .join(Site, Site.id == Subject.site_id)
        .where(subject_visible_to(actor), Subject.id > after_id)
        .order_by(Subject.id)
        .limit(limit)
    )
    return (await session.execute(query)).all()


async def records_of_page(
    session: AsyncSession,
    actor: Actor,
    model: type[Base],
    subject_ids: Sequence[int],
    order_by: Sequence[Any],
    *where: ColumnElement[bool],
) -> Sequence[Any]:
    """Live records of these subjects as plain rows named like the model's columns, free text
    selected as NULL for actors who may not read it (as queries.records_of_subjects)."""
    table: Any = model
    query = (
        select(*readable_columns(actor, model))
        .join(Subject, Subject.id == table.subject_id)
        .where(table.subject_id.in_(subject_ids), subject_visible_to(actor), *where)
        .order_by(table.subject_id, *order_by)
    )
    if hasattr(model, "voided_at"):
        query = query.where(table.voided_at.is_(None))
    return (await session.execute(query)).all()


async def infusions(session: AsyncSession, actor: Actor, subject_ids: Sequence[int]) -> Sequence[Any]:
    return await records_of_page(session, actor, CarTInfusion, subject_ids, (CarTInfusion.infused_at, CarTInfusion.id))


async def lymphodepletions(session: AsyncSession, actor: Actor, subject_ids: Sequence[int]) -> Sequence[Any]:
    return await records_of_page(
        session, actor, LymphodepletionCourse, subject_ids, (LymphodepletionCourse.start_date, LymphodepletionCourse.id)
    )


async def adverse_events(session: AsyncSession, actor: Actor, subject_ids: Sequence[int]) -> Sequence[Any]:
    """Events the investigator rejected are not adverse events and are left out."""
    return await records_of_page(
        session,
        actor,
        AdverseEvent,
        subject_ids,
        (AdverseEvent.onset_date, AdverseEvent.id),
        AdverseEvent.status != AdverseEventStatus.REJECTED,
    )


async def lab_results(
    session: AsyncSession, actor: Actor, subject_ids: Sequence[int], analytes: Sequence[str]
) -> Sequence[Any]:
    return await records_of_page(
        session,
        actor,
        LabResult,
        subject_ids,
        (LabResult.collected_at, LabResult.id),
        LabResult.analyte.in_(list(analytes)),
    )


async def platelet_counts(session: AsyncSession, actor: Actor, subject_ids: Sequence[int]) -> Sequence[Any]:
    return await records_of_page(session, actor, PlateletCount, subject_ids, (PlateletCount.drawn_at, PlateletCount.id))


async def antibody_tests(session: AsyncSession, actor: Actor, subject_ids: Sequence[int]) -> Sequence[Any]:
    return await records_of_page(
        session, actor, AntibodyTest, subject_ids, (AntibodyTest.collected_at, AntibodyTest.id)
    )


async def transfusions(session: AsyncSession, actor: Actor, subject_ids: Sequence[int]) -> Sequence[Any]:
    return await records_of_page(
        session, actor, PlateletTransfusion, subject_ids, (PlateletTransfusion.started_at, PlateletTransfusion.id)
    )


async def transfusion_responses(session: AsyncSession, actor: Actor, subject_ids: Sequence[int]) -> Sequence[Any]:
    """The stored engine results of live transfusions (derived data: no free text)."""
    live = select(PlateletTransfusion.id).where(PlateletTransfusion.voided_at.is_(None))
    return await records_of_page(
        session,
        actor,
        StoredTransfusionResponse,
        subject_ids,
        (StoredTransfusionResponse.started_at, StoredTransfusionResponse.transfusion_id),
        StoredTransfusionResponse.transfusion_id.in_(live),
    )


async def bleeding_reports(session: AsyncSession, actor: Actor, subject_ids: Sequence[int]) -> Sequence[Any]:
    return await records_of_page(
        session, actor, BleedingReport, subject_ids, (BleedingReport.noticed_at, BleedingReport.id)
    )


async def therapies(session: AsyncSession, actor: Actor, subject_ids: Sequence[int]) -> Sequence[Any]:
    """Therapies (indication selected as NULL for analysts)."""
    return await records_of_page(session, actor, Therapy, subject_ids, (Therapy.start_date, Therapy.id))


async def procedures(session: AsyncSession, actor: Actor, subject_ids: Sequence[int]) -> Sequence[Any]:
    return await records_of_page(session, actor, Procedure, subject_ids, (Procedure.performed_on, Procedure.id))
