"""protocol change notify

Each server process keeps the trial's protocol parameter versions in memory (server.db.
protocol_cache) instead of reading them on every request. A trigger tells every process when they
change: any INSERT, UPDATE or DELETE on protocol_parameter_set (an amendment through the API, an
operator's hand edit, a later migration) sends NOTIFY ptr_protocol_changed, delivered when, and
only when, its transaction commits; each process LISTENs (server.db.notify) and drops its copy.
SQLite (one process, no notifications) keeps no copy between requests: nothing to add there.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-12
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANNEL = "ptr_protocol_changed"  # server.db.protocol_cache.PROTOCOL_CHANNEL
FUNCTION = "protocol_parameter_set_changed"
TRIGGER = "protocol_parameter_set_notify"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"CREATE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN PERFORM pg_notify('{CHANNEL}', ''); RETURN NULL; END $$"
        )
        op.execute(
            f"CREATE TRIGGER {TRIGGER} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON protocol_parameter_set "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {TRIGGER} ON protocol_parameter_set")
        op.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}()")
