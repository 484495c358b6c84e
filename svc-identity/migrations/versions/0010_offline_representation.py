"""identity: people registered offline and represented by institutions of a district

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "offline_representations",
        sa.Column("person_id", sa.Uuid, sa.ForeignKey("persons.id"), primary_key=True),
        sa.Column("district", sa.String(6), nullable=False),
        sa.Column("consent_ref", sa.String(128), nullable=False),
        sa.Column("registered_by", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )


def downgrade() -> None:
    op.drop_table("offline_representations")
