"""Lookups that services make inside their transaction (writes go through the session)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime
from typing import Any, TypeVar

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from ..domain.adverse_events import AdverseEventSource, AdverseEventStatus
from ..domain.enums import CarTProduct
from ..domain.labs import Analyte
from ..domain.protocol import ProtocolParameters
from ..domain.therapies import ProcedureType
from .models import (
    AdverseEvent,
    AdverseEventReport,
    Alert,
    Base,
    BleedingReport,
    CarTInfusion,
    LabResult,
    PlateletCount,
    Procedure,
    ProtocolParameterSet,
    Site,
    Subject,
    Trial,
)

M = TypeVar("M", bound=Base)


async def the_trial(session: AsyncSession) -> Trial:
    """The deployment's one trial, inserted by the first migration."""
    return (await session.execute(select(Trial).order_by(Trial.id).limit(1))).scalar_one()


async def parameters_in_force(
    session: AsyncSession, trial_id: int, on: date | None = None
) -> tuple[int, ProtocolParameters]:
    """(version, parameters) of the newest version effective on the given date (default: latest)."""
    query = select(ProtocolParameterSet).where(ProtocolParameterSet.trial_id == trial_id)
    if on is not None:
        query = query.where(ProtocolParameterSet.effective_from <= on)
    row = (await session.execute(query.order_by(ProtocolParameterSet.version.desc()).limit(1))).scalar_one_or_none()
    if row is None:  # a date before the first version: the first version applies
        row = (
            await session.execute(
                select(ProtocolParameterSet)
                .where(ProtocolParameterSet.trial_id == trial_id)
                .order_by(ProtocolParameterSet.version)
                .limit(1)
            )
        ).scalar_one()
    return row.version, ProtocolParameters.from_dict(row.parameters)


def _parameters_on(trial_id: Any, on: date) -> Any:
    """parameters_in_force as a correlated scalar subquery: the newest version effective on the
    date, else the first version."""
    versions = select(ProtocolParameterSet.parameters).where(ProtocolParameterSet.trial_id == trial_id)
    in_force = versions.where(ProtocolParameterSet.effective_from <= on).order_by(ProtocolParameterSet.version.desc())
    first = versions.order_by(ProtocolParameterSet.version)
    return func.coalesce(
        in_force.limit(1).scalar_subquery(),
        first.limit(1).scalar_subquery(),
        type_=ProtocolParameterSet.parameters.type,
    )


async def lock_subject_with_site(
    session: AsyncSession, code: str, parameters_on: date
) -> tuple[Subject, Site, ProtocolParameters] | None:
    """The subject, locked (FOR UPDATE of its row only), with its site and the protocol parameters
    in force on the date: one statement. Whatever must see other writers' effects under the lock
    is read by the caller's next statements (a locking read sees the locked row's newest version,
    but the rest of its own statement sees the snapshot taken before it waited)."""
    query = (
        select(Subject, Site, _parameters_on(Subject.trial_id, parameters_on))
        .join(Site, Site.id == Subject.site_id)
        .where(Subject.code == code)
        .with_for_update(of=Subject)
    )
    row = (await session.execute(query)).one_or_none()
    return None if row is None else (row[0], row[1], ProtocolParameters.from_dict(row[2]))


async def site_by_code(session: AsyncSession, code: str) -> Site | None:
    return (await session.execute(select(Site).where(Site.code == code))).scalar_one_or_none()


async def site_by_id(session: AsyncSession, site_id: int) -> Site:
    return (await session.execute(select(Site).where(Site.id == site_id))).scalar_one()


async def subject_by_code(session: AsyncSession, code: str, *, for_update: bool = False) -> Subject | None:
    query = select(Subject).where(Subject.code == code)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def lock_subjects_by_codes(
    session: AsyncSession, codes: Collection[str], site_codes: Collection[str] | None
) -> None:
    """Locks these subjects (of these sites; None: any) in id order: a use case writing for several
    subjects takes its locks in the same order as any other (the stored-response refresh of a
    protocol amendment locks every subject in id order), so two of them cannot deadlock."""
    query = select(Subject.id).where(Subject.code.in_(list(codes)))
    if site_codes is not None:
        query = query.where(Subject.site_id.in_(select(Site.id).where(Site.code.in_(list(site_codes)))))
    await session.execute(query.order_by(Subject.id).with_for_update(of=Subject))


async def subject_by_id(session: AsyncSession, subject_id: int, *, for_update: bool = False) -> Subject:
    query = select(Subject).where(Subject.id == subject_id)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one()


async def record_by_id(session: AsyncSession, model: type[M], record_id: int) -> M | None:
    query = select(model).where(model.id == record_id).with_for_update()  # type: ignore[attr-defined]
    return (await session.execute(query)).scalar_one_or_none()


async def subject_id_of(session: AsyncSession, model: type[M], record_id: int) -> int | None:
    """The subject a record belongs to, read without a lock: a use case locks the subject first and
    then the record, the order the diary takes them in (the other order deadlocks on PostgreSQL)."""
    query = select(model.subject_id).where(model.id == record_id)  # type: ignore[attr-defined]
    subject_id: int | None = (await session.execute(query)).scalar_one_or_none()
    return subject_id


async def infusion_history(
    session: AsyncSession, subject_id: int, *, excluding_id: int | None = None
) -> list[tuple[CarTProduct, datetime]]:
    query = select(CarTInfusion.product, CarTInfusion.infused_at).where(
        CarTInfusion.subject_id == subject_id, CarTInfusion.voided_at.is_(None)
    )
    if excluding_id is not None:
        query = query.where(CarTInfusion.id != excluding_id)
    return [(row.product, row.infused_at) for row in await session.execute(query)]


async def hsct_dates(session: AsyncSession, subject_id: int, *, excluding_id: int | None = None) -> set[date]:
    """Dates of the subject's live HSCTs (another record than `excluding_id`)."""
    query = select(Procedure.performed_on).where(
        Procedure.subject_id == subject_id,
        Procedure.procedure_type == ProcedureType.HSCT,
        Procedure.voided_at.is_(None),
    )
    if excluding_id is not None:
        query = query.where(Procedure.id != excluding_id)
    return set((await session.execute(query)).scalars().all())


def _insert_if_absent(session: AsyncSession, model: type[M], values: dict[str, Any], unique_column: str) -> Any:
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    return insert(model).values(**values).on_conflict_do_nothing(index_elements=[unique_column])


async def insert_if_absent(
    session: AsyncSession, model: type[M], values: dict[str, Any], unique_column: str
) -> int | None:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING id: the new row's id, or None when a row with
    the same unique value exists. Concurrent duplicates are settled by the unique constraint, not
    by a read-then-write race (PostgreSQL waits for the other transaction; SQLite writers queue)."""
    statement = _insert_if_absent(session, model, values, unique_column).returning(model.id)  # type: ignore[attr-defined]
    new_id: int | None = (await session.execute(statement)).scalar_one_or_none()
    return new_id


async def insert_row_if_absent(
    session: AsyncSession, model: type[M], values: dict[str, Any], unique_column: str
) -> M | None:
    """insert_if_absent returning the new row itself (RETURNING every column): nothing to re-read."""
    statement = _insert_if_absent(session, model, values, unique_column).returning(model)
    row: M | None = (await session.scalars(statement)).one_or_none()
    return row


async def reports_of_day_and_client_id(
    session: AsyncSession, subject_id: int, local_date: date, client_report_id: str
) -> list[BleedingReport]:
    """In one statement: a subject's reports (and check-ins) of one local day, and the report that
    already has this clientReportId whoever sent it, in receipt order."""
    query = select(BleedingReport).where(
        or_(
            and_(BleedingReport.subject_id == subject_id, BleedingReport.local_date == local_date),
            BleedingReport.client_report_id == client_report_id,
        )
    )
    return list((await session.execute(query.order_by(BleedingReport.id))).scalars().all())


async def report_outcome(session: AsyncSession, report_id: int) -> tuple[bool, list[Any]]:
    """What a stored diary report led to, in one statement: whether an alert was raised for it,
    and (adverse_event_id, status, reviewed_at, voided_at) of each event it supports."""
    alert_raised = exists().where(Alert.bleeding_report_id == report_id).label("alert_raised")
    query = (
        select(alert_raised, AdverseEvent.id, AdverseEvent.status, AdverseEvent.reviewed_at, AdverseEvent.voided_at)
        .select_from(BleedingReport)
        .outerjoin(AdverseEventReport, AdverseEventReport.bleeding_report_id == BleedingReport.id)
        .outerjoin(AdverseEvent, AdverseEvent.id == AdverseEventReport.adverse_event_id)
        .where(BleedingReport.id == report_id)
        .order_by(AdverseEvent.id)
    )
    rows = (await session.execute(query)).all()
    return bool(rows and rows[0].alert_raised), [row for row in rows if row.id is not None]


async def touch_reports_of_event(session: AsyncSession, event_id: int, now: datetime) -> None:
    """Marks the diary reports an adverse event links as changed (their review status or grade may
    have), in the caller's transaction: the patient's phone syncs them again (changedSince)."""
    linked = select(AdverseEventReport.bleeding_report_id).where(AdverseEventReport.adverse_event_id == event_id)
    statement = update(BleedingReport).where(BleedingReport.id.in_(linked)).values(changed_at=now)
    await session.execute(statement.execution_options(synchronize_session=False))


async def touch_report(session: AsyncSession, report_id: int, now: datetime) -> None:
    statement = update(BleedingReport).where(BleedingReport.id == report_id).values(changed_at=now)
    await session.execute(statement.execution_options(synchronize_session=False))


async def open_patient_reported_events(
    session: AsyncSession, subject_id: int, meddra_codes: list[int]
) -> list[tuple[AdverseEvent, datetime]]:
    """Unresolved, unrejected patient-reported events of these terms, each with the time its
    latest supporting diary report was noticed (for episode merging)."""
    latest = func.max(BleedingReport.noticed_at).label("last_noticed_at")
    query = (
        select(AdverseEvent, latest)
        .join(AdverseEventReport, AdverseEventReport.adverse_event_id == AdverseEvent.id)
        .join(BleedingReport, BleedingReport.id == AdverseEventReport.bleeding_report_id)
        .where(
            AdverseEvent.subject_id == subject_id,
            AdverseEvent.meddra_code.in_(meddra_codes),
            AdverseEvent.source == AdverseEventSource.PATIENT_REPORT,
            AdverseEvent.status != AdverseEventStatus.REJECTED,
            AdverseEvent.resolution_date.is_(None),
            AdverseEvent.voided_at.is_(None),
        )
        .group_by(AdverseEvent.id)
    )
    rows = (await session.execute(query)).all()
    return [(row[0], row[1]) for row in rows]  # max() keeps the column's UTC type


async def previous_lab_value(
    session: AsyncSession, subject_id: int, analyte: Analyte, before: datetime
) -> tuple[float, float | None] | None:
    """(value, LLN) of the subject's latest live result of this analyte collected before `before`,
    in the canonical unit."""
    if analyte is Analyte.PLATELETS:
        query: Any = (
            select(PlateletCount.value_e9_per_l, PlateletCount.lln_e9_per_l)
            .where(
                PlateletCount.subject_id == subject_id,
                PlateletCount.drawn_at < before,
                PlateletCount.voided_at.is_(None),
            )
            .order_by(PlateletCount.drawn_at.desc(), PlateletCount.id.desc())
        )
    else:
        query = (
            select(LabResult.value, LabResult.lln)
            .where(
                LabResult.subject_id == subject_id,
                LabResult.analyte == analyte,
                LabResult.collected_at < before,
                LabResult.voided_at.is_(None),
                LabResult.value.is_not(None),
            )
            .order_by(LabResult.collected_at.desc(), LabResult.id.desc())
        )
    row = (await session.execute(query.limit(1))).first()
    return (float(row[0]), row[1]) if row is not None else None


async def open_lab_event(session: AsyncSession, subject_id: int, meddra_code: int) -> AdverseEvent | None:
    query = (
        select(AdverseEvent)
        .where(
            AdverseEvent.subject_id == subject_id,
            AdverseEvent.meddra_code == meddra_code,
            AdverseEvent.source == AdverseEventSource.LAB,
            AdverseEvent.status != AdverseEventStatus.REJECTED,
            AdverseEvent.resolution_date.is_(None),
            AdverseEvent.voided_at.is_(None),
        )
        .order_by(AdverseEvent.id.desc())
        .limit(1)
    )
    return (await session.execute(query)).scalar_one_or_none()


async def value_by_result_key(session: AsyncSession, model: Any, result_key: str) -> float | None:
    """The stored value (canonical unit) of the lab result or platelet count with this key."""
    column = model.value_e9_per_l if model is PlateletCount else model.value
    value = (await session.execute(select(column).where(model.result_key == result_key))).scalar_one_or_none()
    return None if value is None else float(value)
