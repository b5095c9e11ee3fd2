"""Lookups that services make inside their transaction (writes go through the session)."""

from __future__ import annotations

from datetime import date, datetime
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..domain.enums import CarTProduct
from ..domain.protocol import ProtocolParameters
from .models import Base, CarTInfusion, ProtocolParameterSet, Site, Subject, Trial

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


async def site_by_code(session: AsyncSession, code: str) -> Site | None:
    return (await session.execute(select(Site).where(Site.code == code))).scalar_one_or_none()


async def site_by_id(session: AsyncSession, site_id: int) -> Site:
    return (await session.execute(select(Site).where(Site.id == site_id))).scalar_one()


async def subject_by_code(session: AsyncSession, code: str, *, for_update: bool = False) -> Subject | None:
    query = select(Subject).where(Subject.code == code)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def subject_by_id(session: AsyncSession, subject_id: int, *, for_update: bool = False) -> Subject:
    query = select(Subject).where(Subject.id == subject_id)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one()


async def record_by_id(session: AsyncSession, model: type[M], record_id: int) -> M | None:
    query = select(model).where(model.id == record_id).with_for_update()  # type: ignore[attr-defined]
    return (await session.execute(query)).scalar_one_or_none()


async def infusion_history(
    session: AsyncSession, subject_id: int, *, excluding_id: int | None = None
) -> list[tuple[CarTProduct, datetime]]:
    query = select(CarTInfusion.product, CarTInfusion.infused_at).where(
        CarTInfusion.subject_id == subject_id, CarTInfusion.voided_at.is_(None)
    )
    if excluding_id is not None:
        query = query.where(CarTInfusion.id != excluding_id)
    return [(row.product, row.infused_at) for row in await session.execute(query)]
