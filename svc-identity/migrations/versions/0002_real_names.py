"""identity: verified real names (encrypted), found by keyed hash

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "real_names",
        sa.Column("person_id", sa.Uuid, sa.ForeignKey("persons.id"), primary_key=True),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("name_encrypted", sa.LargeBinary, nullable=False),
        sa.Column("id_number_encrypted", sa.LargeBinary, nullable=False),
        sa.Column("id_number_lookup", sa.LargeBinary, nullable=False, unique=True),
        sa.Column("name_masked", sa.String(64), nullable=False),
        sa.Column("id_number_masked", sa.String(18), nullable=False),
        sa.Column("turns_18_on", sa.Date, nullable=False),
        sa.Column("turns_60_on", sa.Date, nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )


def downgrade() -> None:
    op.drop_table("real_names")
