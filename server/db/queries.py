"""Read queries. Every query that can reach a subject's data is filtered in SQL by what the actor
may see (DESIGN.md rule 7); the per-request dataloaders of the GraphQL layer call these in
batches, so a request's statement count depends on its depth, not on its rows (rule 8)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, and_, false, func, null, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from ..domain.adverse_events import AdverseEventSource, AdverseEventStatus, Attribution
from ..domain.auth import SITE_BOUND, Actor
from ..domain.enums import Role, SubjectStatus
from ..domain.protocol import ProtocolParameters
from .keyset import Keyset, Page
from .models import (
    AdverseEvent,
    AdverseEventReport,
    Alert,
    AuditEvent,
    Base,
    BleedingReport,
    BleedingReportAnnotation,
    CarTInfusion,
    Site,
    StoredSubjectResponse,
    StoredTransfusionResponse,
    Subject,
    SubjectStatusChange,
)
from .repositories import parameters_in_force, the_trial

M = TypeVar("M", bound=Base)

# Free text that analysts never receive (pseudonymised analysis data has no notes).
FREE_TEXT_COLUMNS: dict[str, tuple[str, ...]] = {
    "platelet_transfusion": ("note", "void_reason"),
    "subject_status_change": ("reason",),
    "body_measurement": ("void_reason",),
    "lymphodepletion_course": ("void_reason",),
    "car_t_infusion": ("void_reason",),
    "platelet_count": ("void_reason",),
    "adverse_event": ("verbatim", "review_reason", "void_reason"),
    "bleeding_report": ("note",),
    "bleeding_report_annotation": ("text", "reason"),
    "patient_device": ("label", "revoked_reason"),
    "therapy": ("indication", "void_reason"),
    "subject_procedure": ("notes", "void_reason"),
}


def subject_visible_to(actor: Actor) -> ColumnElement[bool]:
    if actor.sees_all_sites:
        return true()
    if actor.role is Role.PATIENT:
        return Subject.code == actor.subject_code if actor.subject_code else false()
    if actor.role in SITE_BOUND and actor.site_codes:
        return Subject.site_id.in_(select(Site.id).where(Site.code.in_(sorted(actor.site_codes))))
    return false()


def adverse_events_visible_to(actor: Actor) -> ColumnElement[bool]:
    """Adverse-event records (attribution, expectedness, causality) are the investigators': never a
    patient's, on any path (lists, a subject's or a report's events, node(id:)). Patients see their
    reports' review status instead (review_states_of_reports). Others: the subject's visibility."""
    if actor.role is Role.PATIENT:
        return false()
    return subject_visible_to(actor)


def _visible_to(actor: Actor, model: type[Any]) -> ColumnElement[bool]:
    return adverse_events_visible_to(actor) if model is AdverseEvent else subject_visible_to(actor)


def site_visible_to(actor: Actor) -> ColumnElement[bool]:
    if actor.sees_all_sites:
        return true()
    if actor.role is Role.PATIENT:
        own_site = select(Subject.site_id).where(Subject.code == actor.subject_code)
        return Site.id.in_(own_site) if actor.subject_code else false()
    if actor.role in SITE_BOUND and actor.site_codes:
        return Site.code.in_(sorted(actor.site_codes))
    return false()


def _redact_free_text(actor: Actor, session: AsyncSession, rows: Sequence[M]) -> Sequence[M]:
    """Analysts get no free text: the values are blanked on detached copies, never saved."""
    if actor.sees_free_text or not rows:
        return rows
    columns = FREE_TEXT_COLUMNS.get(rows[0].__tablename__, ())
    if columns:
        for row in rows:
            # The same row can come twice (a diary report supporting two events is loaded once
            # per event); it is detached and blanked the first time.
            if row in session:
                session.expunge(row)
            for column in columns:
                setattr(row, column, None)
    return rows


async def visible_sites(session: AsyncSession, actor: Actor) -> Sequence[Site]:
    query = select(Site).where(site_visible_to(actor)).order_by(Site.code)
    return (await session.execute(query)).scalars().all()


async def sites_by_ids(session: AsyncSession, actor: Actor, ids: Sequence[int]) -> Sequence[Site]:
    query = select(Site).where(Site.id.in_(ids), site_visible_to(actor))
    return (await session.execute(query)).scalars().all()


@dataclass(frozen=True)
class SubjectFilter:
    site_codes: Sequence[str] | None = None
    statuses: Sequence[SubjectStatus] | None = None


def subjects_matching(actor: Actor, where: SubjectFilter) -> ColumnElement[bool]:
    """The subjects an actor may see that pass the filters (shared with the planned reads)."""
    conditions = [subject_visible_to(actor)]
    if where.site_codes is not None:
        conditions.append(Subject.site_id.in_(select(Site.id).where(Site.code.in_(list(where.site_codes)))))
    if where.statuses is not None:
        conditions.append(Subject.status.in_(list(where.statuses)))
    return and_(*conditions)


def _subjects(actor: Actor, where: SubjectFilter) -> Select[Any]:
    return select(Subject).where(subjects_matching(actor, where))


async def page_of_subjects(session: AsyncSession, actor: Actor, where: SubjectFilter, *, page: Keyset) -> Page[Subject]:
    """Keyset page in enrolment order; the extra row tells whether another page follows."""
    query = page.select(_subjects(actor, where), Subject.id)
    return page.cut((await session.execute(query)).scalars().all())


async def count_subjects(session: AsyncSession, actor: Actor, where: SubjectFilter) -> int:
    query = select(func.count()).select_from(_subjects(actor, where).subquery())
    return int((await session.execute(query)).scalar_one())


async def subjects_by_ids(session: AsyncSession, actor: Actor, ids: Sequence[int]) -> Sequence[Subject]:
    query = select(Subject).where(Subject.id.in_(ids), subject_visible_to(actor))
    return (await session.execute(query)).scalars().all()


async def subjects_by_codes(session: AsyncSession, actor: Actor, codes: Sequence[str]) -> Sequence[Subject]:
    query = select(Subject).where(Subject.code.in_(codes), subject_visible_to(actor))
    return (await session.execute(query)).scalars().all()


def readable_columns(actor: Actor, model: type[Base]) -> list[Any]:
    """The model's columns, with the free text an actor may not read selected as NULL: the
    redaction happens in SQL, and the rows never carry the text."""
    hidden = () if actor.sees_free_text else FREE_TEXT_COLUMNS.get(model.__tablename__, ())
    return [null().label(column.name) if column.name in hidden else column for column in model.__table__.columns]


async def records_of_subjects(
    session: AsyncSession, actor: Actor, model: type[M], subject_ids: Sequence[int], order_by: Any
) -> Sequence[Any]:
    """The live (not voided) records of subjects, as read-only rows with the model's attribute
    names (plain rows: no ORM identity map to build for thousands of records). Callers pass
    subject ids already read through a visibility-filtered query; the filter is applied again."""
    query = (
        select(*readable_columns(actor, model))
        .join(Subject, Subject.id == model.subject_id)  # type: ignore[attr-defined]
        .where(model.subject_id.in_(subject_ids), _visible_to(actor, model))  # type: ignore[attr-defined]
        .order_by(model.subject_id, order_by, model.id)  # type: ignore[attr-defined]
    )
    if hasattr(model, "voided_at"):
        query = query.where(model.voided_at.is_(None))  # type: ignore[attr-defined]
    return (await session.execute(query)).all()


async def records_by_ids(session: AsyncSession, actor: Actor, model: type[M], ids: Sequence[int]) -> Sequence[Any]:
    """Live records by id (a voided one is gone, as from the lists: node(id:) gives null)."""
    query = (
        select(*readable_columns(actor, model))
        .join(Subject, Subject.id == model.subject_id)  # type: ignore[attr-defined]
        .where(model.id.in_(ids), _visible_to(actor, model))  # type: ignore[attr-defined]
    )
    if hasattr(model, "voided_at"):
        query = query.where(model.voided_at.is_(None))  # type: ignore[attr-defined]
    return (await session.execute(query)).all()


async def status_history(
    session: AsyncSession, actor: Actor, subject_ids: Sequence[int]
) -> Sequence[SubjectStatusChange]:
    return await records_of_subjects(session, actor, SubjectStatusChange, subject_ids, SubjectStatusChange.changed_at)


@dataclass(frozen=True)
class AuditFilter:
    subject_code: str | None = None
    entity: str | None = None
    entity_id: int | None = None
    actor_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def audit_visible_to(actor: Actor) -> ColumnElement[bool]:
    if actor.role is Role.ADMIN:
        return true()
    if actor.role is Role.MONITOR and actor.site_codes:
        return AuditEvent.site_id.in_(select(Site.id).where(Site.code.in_(sorted(actor.site_codes))))
    return false()


async def page_of_audit_events(
    session: AsyncSession, actor: Actor, where: AuditFilter, *, page: Keyset
) -> Page[AuditEvent]:
    query = select(AuditEvent).where(audit_visible_to(actor))
    if where.subject_code is not None:
        query = query.where(AuditEvent.subject_id.in_(select(Subject.id).where(Subject.code == where.subject_code)))
    if where.entity is not None:
        query = query.where(AuditEvent.entity == where.entity)
    if where.entity_id is not None:
        query = query.where(AuditEvent.entity_id == where.entity_id)
    if where.actor_id is not None:
        query = query.where(AuditEvent.actor_id == where.actor_id)
    if where.since is not None:
        query = query.where(AuditEvent.occurred_at >= where.since)
    if where.until is not None:
        query = query.where(AuditEvent.occurred_at <= where.until)
    return page.cut((await session.execute(page.select(query, AuditEvent.id))).scalars().all())


async def subject_codes_by_ids(session: AsyncSession, ids: Sequence[int]) -> dict[int, str]:
    """Codes for audit rows the actor is already allowed to read."""
    rows = await session.execute(select(Subject.id, Subject.code).where(Subject.id.in_(ids)))
    return {row.id: row.code for row in rows}


async def protocol_in_force(session: AsyncSession, _actor: Actor, on: date) -> tuple[int, ProtocolParameters]:
    """(version, parameters) the response engine applies on a date: the newest version in effect."""
    trial = await the_trial(session)
    return await parameters_in_force(session, trial.id, on)


async def _stored_rows_of_subjects(
    session: AsyncSession, actor: Actor, model: type[Base], subject_ids: Sequence[int]
) -> Sequence[Any]:
    table = model.__table__
    query = (
        select(*table.columns)
        .join(Subject, Subject.id == table.c.subject_id)
        .where(table.c.subject_id.in_(subject_ids), subject_visible_to(actor))
    )
    return (await session.execute(query)).all()


async def stored_transfusion_responses(
    session: AsyncSession, actor: Actor, subject_ids: Sequence[int]
) -> Sequence[Any]:
    """The stored engine results (transfusion_response) of these subjects' transfusions, as plain
    rows, in no particular order. Scoped like records_of_subjects."""
    return await _stored_rows_of_subjects(session, actor, StoredTransfusionResponse, subject_ids)


async def stored_subject_responses(session: AsyncSession, actor: Actor, subject_ids: Sequence[int]) -> Sequence[Any]:
    """The stored per-subject engine results (subject_response) of these subjects, as plain rows."""
    return await _stored_rows_of_subjects(session, actor, StoredSubjectResponse, subject_ids)


async def infused_subjects(session: AsyncSession, actor: Actor) -> Sequence[Subject]:
    """Visible subjects with at least one live CAR-T infusion (the endpoint's populations)."""
    infused = select(CarTInfusion.subject_id).where(CarTInfusion.voided_at.is_(None))
    query = select(Subject).where(subject_visible_to(actor), Subject.id.in_(infused)).order_by(Subject.id)
    return (await session.execute(query)).scalars().all()


async def all_subject_ids(session: AsyncSession, actor: Actor, where: SubjectFilter) -> Sequence[int]:
    query = _subjects(actor, where).with_only_columns(Subject.id).order_by(Subject.id)
    return (await session.execute(query)).scalars().all()


# --- safety: diary reports, adverse events, alerts -----------------------------------------------


async def page_of_my_bleeding_reports(session: AsyncSession, actor: Actor, *, page: Keyset) -> Page[BleedingReport]:
    """A patient's own reports in receipt order, for syncing a phone."""
    query = select(BleedingReport).join(Subject, Subject.id == BleedingReport.subject_id)
    query = query.where(subject_visible_to(actor), Subject.code == (actor.subject_code or ""))
    return page.cut((await session.execute(page.select(query, BleedingReport.id))).scalars().all())


async def page_of_my_changed_bleeding_reports(
    session: AsyncSession,
    actor: Actor,
    *,
    changed_since: datetime,
    after: tuple[datetime, int] | None,
    limit: int,
) -> tuple[Sequence[BleedingReport], bool]:
    """A patient's own reports changed at or after a time (new, reviewed, regraded, annotated), in
    (changed_at, id) order; `after` is the (changed_at, id) of the last row of the previous page."""
    query = select(BleedingReport).join(Subject, Subject.id == BleedingReport.subject_id)
    query = query.where(
        subject_visible_to(actor),
        Subject.code == (actor.subject_code or ""),
        BleedingReport.changed_at >= changed_since,
    )
    if after is not None:
        query = query.where(
            or_(
                BleedingReport.changed_at > after[0],
                and_(BleedingReport.changed_at == after[0], BleedingReport.id > after[1]),
            )
        )
    query = query.order_by(BleedingReport.changed_at, BleedingReport.id).limit(limit + 1)
    rows = (await session.execute(query)).scalars().all()
    return rows[:limit], len(rows) > limit


async def bleeding_reports_in_days(
    session: AsyncSession, actor: Actor, subject_ids: Sequence[int], first_day: date, last_day: date
) -> Sequence[Any]:
    """Subjects' reports of local days first_day..last_day (inclusive), visible to the actor, as plain
    rows (free text the actor may not read selected as NULL), by subject, local day and receipt."""
    query = (
        select(*readable_columns(actor, BleedingReport))
        .join(Subject, Subject.id == BleedingReport.subject_id)
        .where(
            BleedingReport.subject_id.in_(subject_ids),
            subject_visible_to(actor),
            BleedingReport.local_date >= first_day,
            BleedingReport.local_date <= last_day,
        )
        .order_by(BleedingReport.subject_id, BleedingReport.local_date, BleedingReport.id)
    )
    return (await session.execute(query)).all()


async def reports_of_adverse_events(session: AsyncSession, actor: Actor, event_ids: Sequence[int]) -> Sequence[Any]:
    query = (
        select(AdverseEventReport.adverse_event_id, BleedingReport)
        .join(BleedingReport, BleedingReport.id == AdverseEventReport.bleeding_report_id)
        .join(Subject, Subject.id == BleedingReport.subject_id)
        .where(AdverseEventReport.adverse_event_id.in_(event_ids), subject_visible_to(actor))
        .order_by(BleedingReport.id)
    )
    rows = (await session.execute(query)).all()
    _redact_free_text(actor, session, [row[1] for row in rows])
    return rows


async def events_of_reports(session: AsyncSession, actor: Actor, report_ids: Sequence[int]) -> Sequence[Any]:
    query = (
        select(AdverseEventReport.bleeding_report_id, AdverseEventReport.adverse_event_id)
        .join(AdverseEvent, AdverseEvent.id == AdverseEventReport.adverse_event_id)
        .join(Subject, Subject.id == AdverseEvent.subject_id)
        .where(AdverseEventReport.bleeding_report_id.in_(report_ids), adverse_events_visible_to(actor))
    )
    return (await session.execute(query)).all()


async def review_states_of_reports(session: AsyncSession, actor: Actor, report_ids: Sequence[int]) -> Sequence[Any]:
    """(bleeding_report_id, status, reviewed_at) of the live adverse events each visible report
    supports: a report's review state, which its patient may see, without the event records."""
    query = (
        select(AdverseEventReport.bleeding_report_id, AdverseEvent.status, AdverseEvent.reviewed_at)
        .join(AdverseEvent, AdverseEvent.id == AdverseEventReport.adverse_event_id)
        .join(BleedingReport, BleedingReport.id == AdverseEventReport.bleeding_report_id)
        .join(Subject, Subject.id == BleedingReport.subject_id)
        .where(
            AdverseEventReport.bleeding_report_id.in_(report_ids),
            AdverseEvent.voided_at.is_(None),
            subject_visible_to(actor),
        )
    )
    return (await session.execute(query)).all()


async def annotations_of_reports(
    session: AsyncSession, actor: Actor, report_ids: Sequence[int]
) -> Sequence[BleedingReportAnnotation]:
    query = (
        select(BleedingReportAnnotation)
        .join(BleedingReport, BleedingReport.id == BleedingReportAnnotation.bleeding_report_id)
        .join(Subject, Subject.id == BleedingReport.subject_id)
        .where(BleedingReportAnnotation.bleeding_report_id.in_(report_ids), subject_visible_to(actor))
        .order_by(BleedingReportAnnotation.id)
    )
    rows = (await session.execute(query)).scalars().all()
    return _redact_free_text(actor, session, rows)


@dataclass(frozen=True)
class AdverseEventFilter:
    subject_code: str | None = None
    site_codes: Sequence[str] | None = None
    meddra_codes: Sequence[int] | None = None
    min_grade: int | None = None
    max_grade: int | None = None
    serious: bool | None = None
    sources: Sequence[AdverseEventSource] | None = None
    statuses: Sequence[AdverseEventStatus] | None = None
    onset_from: date | None = None
    onset_to: date | None = None
    attribution_product: str | None = None  # a column: attribution_cd19, attribution_bcma, ...
    attribution_at_least: Sequence[Attribution] | None = None


def adverse_events_query(actor: Actor, where: AdverseEventFilter) -> Select[Any]:
    query = (
        select(AdverseEvent)
        .join(Subject, Subject.id == AdverseEvent.subject_id)
        .where(adverse_events_visible_to(actor), AdverseEvent.voided_at.is_(None))
    )
    if where.subject_code is not None:
        query = query.where(Subject.code == where.subject_code)
    if where.site_codes is not None:
        query = query.where(Subject.site_id.in_(select(Site.id).where(Site.code.in_(list(where.site_codes)))))
    if where.meddra_codes is not None:
        query = query.where(AdverseEvent.meddra_code.in_(list(where.meddra_codes)))
    if where.min_grade is not None:
        query = query.where(AdverseEvent.grade >= where.min_grade)
    if where.max_grade is not None:
        query = query.where(AdverseEvent.grade <= where.max_grade)
    if where.serious is not None:
        query = query.where(AdverseEvent.serious.is_(where.serious))
    if where.sources is not None:
        query = query.where(AdverseEvent.source.in_(list(where.sources)))
    if where.statuses is not None:
        query = query.where(AdverseEvent.status.in_(list(where.statuses)))
    if where.onset_from is not None:
        query = query.where(AdverseEvent.onset_date >= where.onset_from)
    if where.onset_to is not None:
        query = query.where(AdverseEvent.onset_date <= where.onset_to)
    if where.attribution_product is not None and where.attribution_at_least is not None:
        column = getattr(AdverseEvent, where.attribution_product)
        query = query.where(column.in_(list(where.attribution_at_least)))
    return query


async def adverse_events(session: AsyncSession, actor: Actor, where: AdverseEventFilter) -> Sequence[AdverseEvent]:
    """Every matching event (the caller pages, after any derived-value filter such as study day)."""
    query = adverse_events_query(actor, where).order_by(AdverseEvent.id)
    rows = (await session.execute(query)).scalars().all()
    return _redact_free_text(actor, session, rows)


def alerts_visible_to(actor: Actor) -> ColumnElement[bool]:
    """Alerts are for the site's clinical staff (and admins)."""
    if actor.role is Role.ADMIN:
        return true()
    if actor.role in (Role.COORDINATOR, Role.INVESTIGATOR) and actor.site_codes:
        return Alert.site_id.in_(select(Site.id).where(Site.code.in_(sorted(actor.site_codes))))
    return false()


async def page_of_alerts(session: AsyncSession, actor: Actor, *, unacknowledged_only: bool, page: Keyset) -> Page[Any]:
    query = (
        select(Alert, Site.code, Subject.code)
        .join(Site, Site.id == Alert.site_id)
        .join(Subject, Subject.id == Alert.subject_id)
        .where(alerts_visible_to(actor))
    )
    if unacknowledged_only:
        query = query.where(Alert.acknowledged_at.is_(None))
    return page.cut((await session.execute(page.select(query, Alert.id))).all())
