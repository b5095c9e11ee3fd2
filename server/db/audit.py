"""Writing the audit trail. Rows are appended in the same transaction as the change they record."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import Table, insert
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


def audit_row(
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
) -> dict[str, Any]:
    """The column values of one audit row."""
    return {
        "occurred_at": at,
        "actor_id": actor.actor_id,
        "actor_role": actor.role,
        "entity": entity,
        "entity_id": entity_id,
        "subject_id": subject_id,
        "site_id": site_id,
        "action": action,
        "changes": changes,
        "reason": reason,
        "request_id": request_id,
    }


async def insert_audit_rows(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Appends the rows in one statement (in pages of 1,000), in the caller's transaction.

    RETURNING makes SQLAlchemy send a list of rows as one multi-row INSERT on PostgreSQL and
    SQLite alike ("insertmanyvalues"); without it asyncpg would run one INSERT per row. The ids
    themselves are not needed. A Core insert of the table, not the ORM's bulk insert: that one
    leaves out None values and so splits rows with and without a reason into two statements."""
    if rows:
        table = cast(Table, AuditEvent.__table__)
        await session.execute(insert(table).returning(table.c.id), rows)
