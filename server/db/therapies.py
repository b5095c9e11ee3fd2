"""Read queries of therapies and procedures beyond a subject's own lists: the analysts' filtered
therapies connection and the monitors' protocol deviations. Filtered in SQL by what the actor may
see (queries.subject_visible_to), free text selected as NULL for analysts (readable_columns)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Date, Select, false, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.expression import FunctionElement

from ..domain.auth import Actor
from ..domain.enums import Role
from ..domain.therapies import DEVIATION_CLASSES, TherapyClass
from .keyset import Keyset, Page
from .models import CarTInfusion, Site, Subject, Therapy
from .queries import readable_columns, subject_visible_to


class utc_date(FunctionElement[date]):  # noqa: N801 - reads as the SQL function it renders
    """The UTC calendar date of a stored time, on both databases (study days count UTC dates)."""

    type = Date()
    inherit_cache = True
    name = "utc_date"


def _compile_utc_date(element: Any, compiler: Any, **kw: Any) -> str:
    argument = compiler.process(element.clauses, **kw)
    if compiler.dialect.name == "postgresql":
        return f"CAST(timezone('UTC', {argument}) AS DATE)"
    return f"date({argument})"  # SQLite keeps UTC times as text: its date() takes the day


def _register() -> None:
    from sqlalchemy.ext.compiler import compiles

    compiles(utc_date)(_compile_utc_date)


_register()


def first_infusions() -> Any:
    """Subquery: each subject's first live CAR-T infusion time (first_at)."""
    return (
        select(CarTInfusion.subject_id, func.min(CarTInfusion.infused_at).label("first_at"))
        .where(CarTInfusion.voided_at.is_(None))
        .group_by(CarTInfusion.subject_id)
        .subquery("first_infusion")
    )


@dataclass(frozen=True)
class TherapyFilter:
    classes: Sequence[TherapyClass] | None = None
    ongoing_at: date | None = None
    started_after_first_infusion: bool | None = None  # on or after the infusion's UTC date
    site_codes: Sequence[str] | None = None


def _therapies(actor: Actor, where: TherapyFilter) -> Select[Any]:
    first = first_infusions()
    query = (
        select(*readable_columns(actor, Therapy))
        .join(Subject, Subject.id == Therapy.subject_id)
        .outerjoin(first, first.c.subject_id == Therapy.subject_id)
        .where(subject_visible_to(actor), Therapy.voided_at.is_(None))
    )
    if where.classes is not None:
        query = query.where(Therapy.therapy_class.in_(list(where.classes)))
    if where.ongoing_at is not None:
        query = query.where(
            Therapy.start_date <= where.ongoing_at,
            or_(Therapy.ongoing.is_(True), Therapy.end_date >= where.ongoing_at),
        )
    if where.started_after_first_infusion is not None:
        after = Therapy.start_date >= utc_date(first.c.first_at)
        query = query.where(
            first.c.first_at.is_not(None) & after
            if where.started_after_first_infusion
            else or_(first.c.first_at.is_(None), ~after)
        )
    if where.site_codes is not None:
        query = query.where(Subject.site_id.in_(select(Site.id).where(Site.code.in_(list(where.site_codes)))))
    return query


async def page_of_therapies(session: AsyncSession, actor: Actor, where: TherapyFilter, *, page: Keyset) -> Page[Any]:
    """Keyset page in record order (plain rows with the model's attribute names)."""
    return page.cut((await session.execute(page.select(_therapies(actor, where), Therapy.id))).all())


async def count_therapies(session: AsyncSession, actor: Actor, where: TherapyFilter) -> int:
    query = select(func.count()).select_from(_therapies(actor, where).subquery())
    return int((await session.execute(query)).scalar_one())


DEVIATION_READERS = frozenset({Role.MONITOR, Role.ADMIN, Role.INVESTIGATOR})


def deviations_visible_to(actor: Actor) -> ColumnElement[bool]:
    """Monitors and investigators of the subject's site, and admins."""
    return subject_visible_to(actor) if actor.role in DEVIATION_READERS else false()


async def protocol_deviations(session: AsyncSession, actor: Actor, site_codes: Sequence[str] | None) -> Sequence[Any]:
    """Live anti-CD20 and anti-plasma-cell therapies started on or after the UTC date of the
    subject's first CAR-T infusion (domain.therapies.DEVIATION_RULE), with the subject's code,
    site id and first infusion time, by site, subject and start."""
    first = first_infusions()
    query = (
        select(
            *readable_columns(actor, Therapy),
            Subject.code.label("subject_code"),
            Subject.site_id.label("site_id"),
            first.c.first_at.label("first_infusion_at"),
        )
        .join(Subject, Subject.id == Therapy.subject_id)
        .join(first, first.c.subject_id == Therapy.subject_id)
        .where(
            deviations_visible_to(actor),
            Therapy.voided_at.is_(None),
            Therapy.therapy_class.in_(sorted(DEVIATION_CLASSES, key=lambda c: c.value)),
            Therapy.start_date >= utc_date(first.c.first_at),
            Subject.site_id.in_(select(Site.id).where(Site.code.in_(list(site_codes))))
            if site_codes is not None
            else true(),
        )
        .order_by(Subject.site_id, Subject.code, Therapy.start_date, Therapy.id)
    )
    return (await session.execute(query)).all()
