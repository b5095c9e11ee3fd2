"""amended response rules: stored responses recomputed

DOMAIN.md was amended (issue 13 part 5) and the response engine follows it: a pre-count drawn
before an earlier transfusion ended is confounded (NE, PRE_COUNT_CONFOUNDED); a post count drawn
at the next transfusion's start is no longer attributed; baseline refractoriness lists which
transfusions counted and which were left out and why (ABO unknown, incompatible, no early CCI,
after CAR-T). Rule names cci-v2, response-v2, refractory-v2.

The stored results (transfusion_response, subject_response) were produced by the old rules under
the same parameter version, so nothing would mark them stale: this migration deletes them. Until
they are recomputed, reads evaluate every subject live from its records (a subject without a
current row is always read live), so answers follow the amended rules at once; `ptr-trial
migrate` recomputes the missing rows right after upgrading (as after 0004), and so does
`ptr-trial refresh-responses` or the next write to a subject.

Columns: transfusion_response.abo_compatible becomes nullable (null: ABO compatibility not
recorded, no longer folded into "incompatible"), and refractory_exclusion says why a transfusion
does not count towards baseline refractoriness (null: it counts).

Revision ID: 0008
Revises: 0006 (0007 on merge)
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EXCLUSION = sa.Enum(
    "after_car_t",
    "abo_unknown",
    "abo_incompatible",
    "no_early_cci",
    name="refractory_exclusion",
    native_enum=False,
    create_constraint=True,
    length=32,
)


def _delete_stored_responses() -> None:
    # Derived rows only (never audited, never edited by hand): recomputed from the records.
    op.execute("DELETE FROM transfusion_response")
    op.execute("DELETE FROM subject_response")


def upgrade() -> None:
    _delete_stored_responses()
    # Batch mode: SQLite changes a column's nullability only by copying the table, which is safe
    # here (no table points at transfusion_response, and it is empty); PostgreSQL alters in place.
    with op.batch_alter_table("transfusion_response") as batch_op:
        batch_op.alter_column("abo_compatible", existing_type=sa.Boolean(), nullable=True)
        batch_op.add_column(sa.Column("refractory_exclusion", EXCLUSION, nullable=True))


def downgrade() -> None:
    # The old code cannot read rows of the new rules: delete them (its `ptr-trial migrate` or
    # refresh-responses recomputes them under its own rules).
    _delete_stored_responses()
    with op.batch_alter_table("transfusion_response") as batch_op:
        batch_op.drop_constraint(op.f("ck_transfusion_response_refractory_exclusion"), type_="check")
        batch_op.drop_column("refractory_exclusion")
        batch_op.alter_column("abo_compatible", existing_type=sa.Boolean(), nullable=False)
