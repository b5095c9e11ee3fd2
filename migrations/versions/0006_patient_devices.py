"""patients' devices and activation codes

Site staff issue a one-time activation code for a subject (stored as its HMAC-SHA256 digest only);
the patient's phone redeems it for a device with a rotating refresh token (also stored as a
keyed digest, with the previous one kept for a lost answer's retry and the last superseded one to
detect reuse). Devices, and unused codes, are revoked, never deleted.

The new protocol parameter activation_code_ttl_hours needs no data migration: a stored
parameter set without the key reads as its default (ProtocolParameters.from_dict).

Revision ID: 0006
Revises: 0004 (0005 on merge)
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "patient_device",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=80), nullable=True),
        sa.Column("refresh_token_hash", sa.String(length=64), nullable=False),
        sa.Column("previous_refresh_token_hash", sa.String(length=64), nullable=True),
        sa.Column("superseded_refresh_token_hash", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(length=128), nullable=True),
        sa.Column("revoked_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["subject_id"], ["subject.id"], name=op.f("fk_patient_device_subject_id_subject")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patient_device")),
        sa.UniqueConstraint("public_id", name=op.f("uq_patient_device_public_id")),
        sa.UniqueConstraint("refresh_token_hash", name=op.f("uq_patient_device_refresh_token_hash")),
    )
    with op.batch_alter_table("patient_device", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_patient_device_previous_refresh_token_hash"), ["previous_refresh_token_hash"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_patient_device_superseded_refresh_token_hash"),
            ["superseded_refresh_token_hash"],
            unique=False,
        )
        batch_op.create_index("ix_patient_device_subject_id_created_at", ["subject_id", "created_at"], unique=False)

    op.create_table(
        "device_activation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("redeemed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("redeemed_device_id", sa.Integer(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(length=128), nullable=True),
        sa.Column("revoked_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["redeemed_device_id"],
            ["patient_device.id"],
            name=op.f("fk_device_activation_redeemed_device_id_patient_device"),
        ),
        sa.ForeignKeyConstraint(["subject_id"], ["subject.id"], name=op.f("fk_device_activation_subject_id_subject")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_activation")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_device_activation_code_hash")),
    )
    with op.batch_alter_table("device_activation", schema=None) as batch_op:
        batch_op.create_index("ix_device_activation_subject_id_created_at", ["subject_id", "created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("device_activation", schema=None) as batch_op:
        batch_op.drop_index("ix_device_activation_subject_id_created_at")
    op.drop_table("device_activation")
    with op.batch_alter_table("patient_device", schema=None) as batch_op:
        batch_op.drop_index("ix_patient_device_subject_id_created_at")
        batch_op.drop_index(batch_op.f("ix_patient_device_superseded_refresh_token_hash"))
        batch_op.drop_index(batch_op.f("ix_patient_device_previous_refresh_token_hash"))
    op.drop_table("patient_device")
