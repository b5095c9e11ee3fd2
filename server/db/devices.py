"""Lookups for patients' devices and activation codes (by digest, never by the secret itself),
and the per-request check that a device token's device is still active."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import false, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from ..domain.auth import Actor
from ..domain.enums import Role
from .models import DeviceActivation, PatientDevice, Subject
from .queries import readable_columns, subject_visible_to


async def activation_by_hash(session: AsyncSession, code_hash: str) -> DeviceActivation | None:
    query = select(DeviceActivation).where(DeviceActivation.code_hash == code_hash).with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def unused_activations(session: AsyncSession, subject_id: int, now: datetime) -> Sequence[DeviceActivation]:
    """The subject's codes that a phone could still redeem: not redeemed, revoked or expired."""
    query = (
        select(DeviceActivation)
        .where(
            DeviceActivation.subject_id == subject_id,
            DeviceActivation.redeemed_at.is_(None),
            DeviceActivation.revoked_at.is_(None),
            DeviceActivation.expires_at > now,
        )
        .order_by(DeviceActivation.created_at, DeviceActivation.id)
        .with_for_update()
    )
    return (await session.execute(query)).scalars().all()


async def active_devices(session: AsyncSession, subject_id: int) -> Sequence[PatientDevice]:
    query = (
        select(PatientDevice)
        .where(PatientDevice.subject_id == subject_id, PatientDevice.revoked_at.is_(None))
        .order_by(PatientDevice.created_at, PatientDevice.id)
        .with_for_update()
    )
    return (await session.execute(query)).scalars().all()


async def device_by_refresh_hash(session: AsyncSession, token_hash: str) -> PatientDevice | None:
    query = select(PatientDevice).where(PatientDevice.refresh_token_hash == token_hash).with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def device_by_previous_refresh_hash(session: AsyncSession, token_hash: str) -> PatientDevice | None:
    query = select(PatientDevice).where(PatientDevice.previous_refresh_token_hash == token_hash).with_for_update()
    return (await session.execute(query)).scalars().first()


async def device_by_superseded_refresh_hash(session: AsyncSession, token_hash: str) -> PatientDevice | None:
    query = select(PatientDevice).where(PatientDevice.superseded_refresh_token_hash == token_hash).with_for_update()
    return (await session.execute(query)).scalars().first()


async def device_by_public_id(session: AsyncSession, public_id: str) -> PatientDevice | None:
    query = select(PatientDevice).where(PatientDevice.public_id == public_id).with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def device_is_active(session: AsyncSession | AsyncConnection, public_id: str) -> bool:
    """One indexed SELECT per request carrying a device token: a revoked (or unknown) device's
    access token stops working at once, not when it expires."""
    query = select(PatientDevice.revoked_at).where(PatientDevice.public_id == public_id)
    row = (await session.execute(query)).first()
    return row is not None and row.revoked_at is None


def _device_readers(actor: Actor) -> Any:
    """Staff of the site, monitors, admins and the patient themselves; never analysts (device
    metadata is operational, not analysis data)."""
    return false() if actor.role is Role.ANALYST else subject_visible_to(actor)


async def devices_of_subjects(session: AsyncSession, actor: Actor, subject_ids: Sequence[int]) -> Sequence[Any]:
    query = (
        select(*readable_columns(actor, PatientDevice))
        .join(Subject, Subject.id == PatientDevice.subject_id)
        .where(PatientDevice.subject_id.in_(subject_ids), _device_readers(actor))
        .order_by(PatientDevice.subject_id, PatientDevice.created_at, PatientDevice.id)
    )
    return (await session.execute(query)).all()


async def activations_of_subjects(session: AsyncSession, actor: Actor, subject_ids: Sequence[int]) -> Sequence[Any]:
    columns = [c for c in DeviceActivation.__table__.columns if c.name != "code_hash"]
    query = (
        select(*columns)
        .join(Subject, Subject.id == DeviceActivation.subject_id)
        .where(DeviceActivation.subject_id.in_(subject_ids), _device_readers(actor))
        .order_by(DeviceActivation.subject_id, DeviceActivation.created_at, DeviceActivation.id)
    )
    return (await session.execute(query)).all()


async def actor_device_is_active(session: AsyncSession, actor: Actor) -> bool:
    """device_is_active for the caller's own device (Context.read's calling convention)."""
    return actor.device_id is not None and await device_is_active(session, actor.device_id)
