"""diary daily grade, check-ins, phone sync, site phone

bleeding_report gains its kind (a report of symptoms, or the "no bleeding today" check-in), the
patient's local date (the day a daily WHO grade belongs to; backfilled from noticed_at and the
device's UTC offset), the day's grade as of that report, and changed_at (what a phone syncs by;
backfilled with received_at). site gains the phone number the diary app shows.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KIND = sa.Enum(
    "symptoms", "no_bleeding", name="bleeding_report_kind", native_enum=False, create_constraint=True, length=32
)


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def upgrade() -> None:
    op.add_column("site", sa.Column("phone", sa.String(length=20), nullable=True))
    if _sqlite():
        # Plain ALTER TABLE, not batch mode: batch mode copies the table and drops the old one,
        # which SQLite refuses inside the migration's transaction while annotations, alerts and
        # adverse-event links point at it (foreign_keys cannot be turned off in a transaction).
        # So on SQLite the kind has no CHECK (the ORM writes only the enum's values) and
        # local_date/changed_at stay nullable in the table (the service always writes them).
        op.add_column("bleeding_report", sa.Column("kind", sa.String(32), server_default="symptoms", nullable=False))
        op.add_column("bleeding_report", sa.Column("local_date", sa.Date(), nullable=True))
        op.add_column("bleeding_report", sa.Column("day_who_grade", sa.Integer(), nullable=True))
        op.add_column("bleeding_report", sa.Column("changed_at", sa.DateTime(timezone=True), nullable=True))
        op.execute(
            "UPDATE bleeding_report SET local_date = date(noticed_at, device_utc_offset_minutes || ' minutes'), "
            "changed_at = received_at"
        )
    else:
        op.add_column("bleeding_report", sa.Column("kind", KIND, server_default="symptoms", nullable=False))
        op.add_column("bleeding_report", sa.Column("local_date", sa.Date(), nullable=True))
        op.add_column("bleeding_report", sa.Column("day_who_grade", sa.Integer(), nullable=True))
        op.add_column("bleeding_report", sa.Column("changed_at", sa.DateTime(timezone=True), nullable=True))
        # The local day is noticed_at (UTC) shifted by the device's offset at entry, as
        # server.domain.bleeding.local_date computes it; nothing has changed since receipt.
        op.execute(
            "UPDATE bleeding_report SET local_date = "
            "((noticed_at AT TIME ZONE 'UTC') + device_utc_offset_minutes * interval '1 minute')::date, "
            "changed_at = received_at"
        )
        op.alter_column("bleeding_report", "local_date", existing_type=sa.Date(), nullable=False)
        op.alter_column("bleeding_report", "changed_at", existing_type=sa.DateTime(timezone=True), nullable=False)
    # A backfilled report's day_who_grade stays null: the day's grade at that time was not kept.
    op.create_index("ix_bleeding_report_subject_local_date", "bleeding_report", ["subject_id", "local_date"])
    op.create_index("ix_bleeding_report_subject_changed_at", "bleeding_report", ["subject_id", "changed_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_bleeding_report_subject_changed_at", table_name="bleeding_report")
    op.drop_index("ix_bleeding_report_subject_local_date", table_name="bleeding_report")
    if not _sqlite():
        op.drop_constraint(op.f("ck_bleeding_report_bleeding_report_kind"), "bleeding_report", type_="check")
    for column in ("changed_at", "day_who_grade", "local_date", "kind"):
        op.drop_column("bleeding_report", column)  # SQLite >= 3.35 drops a plain column in place
    op.drop_column("site", "phone")
