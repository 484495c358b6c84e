"""identity: 志愿北京 registration and insurance status

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "volunteer_insurance",
        sa.Column("person_id", sa.Uuid, sa.ForeignKey("persons.id"), primary_key=True),
        sa.Column("registered", sa.Boolean, nullable=False),
        sa.Column("registration_id", sa.String(64)),
        sa.Column("insured", sa.Boolean, nullable=False),
        sa.Column("policy_number", sa.String(64)),
        sa.Column("valid_from", sa.Date),
        sa.Column("valid_until", sa.Date),
        sa.Column("recorded_by", sa.String(128), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("history", postgresql.JSONB, nullable=False, server_default="[]"),
        sa.CheckConstraint(
            "valid_until IS NULL OR valid_from IS NULL OR valid_until >= valid_from", name="validity_in_order"
        ),
    )


def downgrade() -> None:
    op.drop_table("volunteer_insurance")
