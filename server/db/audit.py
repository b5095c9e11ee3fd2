"""Writing the audit trail. Rows are appended in the same transaction as the change they record."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ..domain.auth import Actor
from ..domain.enums import AuditAction
from .models import AuditEvent


def audit_value(value: Any) -> Any:
    """A JSON-safe rendering of a stored value, as it will be shown to monitors."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list):
        return [audit_value(v) for v in value]
    if isinstance(value, dict):
        return {k: audit_value(v) for k, v in value.items()}
    return value


def field_changes(old: dict[str, Any], new: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """{field: {"old": ..., "new": ...}} for the fields whose value differs."""
    changes = {}
    for name in new:
        before, after = audit_value(old.get(name)), audit_value(new[name])
        if before != after:
            changes[name] = {"old": before, "new": after}
    return changes


def append_audit_event(
    session: AsyncSession,
    *,
    actor: Actor,
    at: datetime,
    entity: str,
    entity_id: int,
    action: AuditAction,
    changes: dict[str, dict[str, Any]],
    subject_id: int | None,
    site_id: int | None,
    reason: str | None,
    request_id: str | None,
) -> None:
    session.add(
        AuditEvent(
            occurred_at=at,
            actor_id=actor.actor_id,
            actor_role=actor.role,
            entity=entity,
            entity_id=entity_id,
            subject_id=subject_id,
            site_id=site_id,
            action=action,
            changes=changes,
            reason=reason,
            request_id=request_id,
        )
    )
