"""audit truncate guard

The append-only trigger of 0001 covers UPDATE and DELETE, row by row; TRUNCATE fires no row
triggers, so the table's owner could still empty the audit trail in one statement. A BEFORE
TRUNCATE statement trigger refuses it. SQLite has no TRUNCATE (its `DELETE FROM` without WHERE
is a delete, which 0001's trigger already refuses), so there is nothing to add there.

An operator who must empty the table deliberately (a throwaway test database) disables the
trigger inside the same transaction: see README, "Audit trail".

Revision ID: 0007
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TRIGGER = "audit_event_no_truncate"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"CREATE TRIGGER {TRIGGER} BEFORE TRUNCATE ON audit_event "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_event_is_append_only()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {TRIGGER} ON audit_event")
