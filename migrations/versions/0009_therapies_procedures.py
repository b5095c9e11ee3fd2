"""therapies and procedures; stored responses flag confounding and end follow-up at an HSCT

Prior and concomitant therapies (SDTM CM) and procedures (splenectomy, HSCT; SDTM PR), both
clinical records (voided, never deleted). The response engine reads them (DOMAIN.md "Prior and
concomitant therapies, transplant"): a transfusion within ivigConfoundingDays after IVIG or while
a TPO-RA is given is flagged "confounded by therapy", an allogeneic HSCT ends the evaluable
follow-up, and the sensitivity analysis repeats the sustained response without the flagged
transfusions. Rule names sustained-v2, sensitivity-v1, ivig-confounding-v1, tpo-ra-confounding-v1,
hsct-follow-up-v1.

The stored results gain columns (transfusion_response: confounding therapy, endpoint exclusion;
subject_response: follow-up end, sensitivity analysis). Rows made by the old engine lack them and
carry the same parameter version, so nothing would mark them stale: as 0008 does, this migration
deletes them; reads evaluate live until `ptr-trial migrate` (right after upgrading),
`ptr-trial refresh-responses` or the next write to a subject stores them again.

Revision ID: 0009
Revises: 0008 (0008 itself rechains onto 0007 when the branches merge)
Create Date: 2026-12-10
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
# Stays "0008": at the merge, 0008 rechains onto main's 0007 and this one follows it unchanged.
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

THERAPY_CLASSES = (
    "ivig",
    "anti_cd20",
    "tpo_ra",
    "anti_plasma_cell",
    "il6_blockade",
    "corticosteroid",
    "g_csf",
    "anti_infective",
    "other",
)


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


def _record_columns() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("voided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("void_reason", sa.Text(), nullable=True),
    ]


def _delete_stored_responses() -> None:
    # Derived rows only (never audited, never edited by hand): recomputed from the records.
    op.execute("DELETE FROM transfusion_response")
    op.execute("DELETE FROM subject_response")


def upgrade() -> None:
    op.create_table(
        "therapy",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=True),
        sa.Column("therapy_class", _enum("therapy_class", *THERAPY_CLASSES), nullable=False),
        sa.Column("dose", sa.Float(), nullable=True),
        sa.Column(
            "dose_unit",
            _enum("therapy_dose_unit", "mg", "g", "ug", "mg_per_kg", "g_per_kg", "ug_per_kg", "mg_per_m2", "iu"),
            nullable=True,
        ),
        sa.Column(
            "route",
            _enum(
                "therapy_route",
                "oral",
                "intravenous",
                "subcutaneous",
                "intramuscular",
                "topical",
                "inhalation",
                "other",
            ),
            nullable=True,
        ),
        sa.Column(
            "frequency",
            _enum("dose_frequency", "once", "qd", "bid", "tid", "qid", "qw", "q2w", "q4w", "prn"),
            nullable=True,
        ),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("ongoing", sa.Boolean(), nullable=False),
        sa.Column("indication", sa.Text(), nullable=True),
        *_record_columns(),
        sa.ForeignKeyConstraint(["subject_id"], ["subject.id"], name=op.f("fk_therapy_subject_id_subject")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_therapy")),
    )
    op.create_index("ix_therapy_subject_start", "therapy", ["subject_id", "start_date"])
    op.create_index(op.f("ix_therapy_therapy_class"), "therapy", ["therapy_class"])
    op.create_table(
        "subject_procedure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("procedure_type", _enum("procedure_type", "splenectomy", "hsct"), nullable=False),
        sa.Column("hsct_type", _enum("hsct_type", "allogeneic", "autologous"), nullable=True),
        sa.Column("performed_on", sa.Date(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        *_record_columns(),
        sa.ForeignKeyConstraint(["subject_id"], ["subject.id"], name=op.f("fk_subject_procedure_subject_id_subject")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subject_procedure")),
    )
    op.create_index("ix_subject_procedure_subject_date", "subject_procedure", ["subject_id", "performed_on"])

    _delete_stored_responses()
    # Batch mode: SQLite adds NOT NULL columns only by copying the (now empty) table.
    with op.batch_alter_table("transfusion_response") as batch_op:
        batch_op.add_column(sa.Column("confounding_therapy_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("confounding_class", _enum("confounding_class", *THERAPY_CLASSES), nullable=True))
        batch_op.add_column(
            sa.Column(
                "endpoint_exclusion",
                _enum("endpoint_exclusion", "before_car_t", "after_assessment_window", "after_hsct"),
                nullable=True,
            )
        )
    with op.batch_alter_table("subject_response") as batch_op:
        batch_op.add_column(sa.Column("follow_up_ends_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("confounded_transfusions", sa.Integer(), nullable=False))
        batch_op.add_column(sa.Column("sensitivity_sustained", sa.Boolean(), nullable=False))
        batch_op.add_column(sa.Column("sensitivity_first_response_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("sensitivity_days_to_response", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("sensitivity_longest_responsive_run", sa.Integer(), nullable=False))
        batch_op.add_column(sa.Column("sensitivity_lost_response", sa.Boolean(), nullable=False))
        batch_op.add_column(sa.Column("sensitivity_lost_response_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("sensitivity_evaluable_transfusions", sa.Integer(), nullable=False))
        batch_op.add_column(sa.Column("sensitivity_responsive_transfusions", sa.Integer(), nullable=False))


def downgrade() -> None:
    # The old code cannot read rows of the new engine: delete them (its migrate or
    # refresh-responses recomputes them under its own rules).
    _delete_stored_responses()
    with op.batch_alter_table("subject_response") as batch_op:
        for column in (
            "sensitivity_responsive_transfusions",
            "sensitivity_evaluable_transfusions",
            "sensitivity_lost_response_at",
            "sensitivity_lost_response",
            "sensitivity_longest_responsive_run",
            "sensitivity_days_to_response",
            "sensitivity_first_response_at",
            "sensitivity_sustained",
            "confounded_transfusions",
            "follow_up_ends_on",
        ):
            batch_op.drop_column(column)
    with op.batch_alter_table("transfusion_response") as batch_op:
        batch_op.drop_constraint(op.f("ck_transfusion_response_endpoint_exclusion"), type_="check")
        batch_op.drop_constraint(op.f("ck_transfusion_response_confounding_class"), type_="check")
        batch_op.drop_column("endpoint_exclusion")
        batch_op.drop_column("confounding_class")
        batch_op.drop_column("confounding_therapy_id")
    op.drop_index("ix_subject_procedure_subject_date", table_name="subject_procedure")
    op.drop_table("subject_procedure")
    op.drop_index(op.f("ix_therapy_therapy_class"), table_name="therapy")
    op.drop_index("ix_therapy_subject_start", table_name="therapy")
    op.drop_table("therapy")
