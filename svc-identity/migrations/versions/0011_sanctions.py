"""identity: sanctions applied from audit (recording rights, 失信名单)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sanctions",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("person_id", sa.Uuid, index=True),
        sa.Column("institution_id", sa.Uuid, index=True),
        sa.Column("decided_by", sa.String(128), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lifted_at", sa.DateTime(timezone=True)),
        sa.Column("lifted_by", sa.String(128)),
        sa.Column("lift_reason", sa.Text),
        sa.CheckConstraint("kind IN ('volunteer_recording_revoked', 'institution_listed')", name="known_sanction"),
    )


def downgrade() -> None:
    op.drop_table("sanctions")
