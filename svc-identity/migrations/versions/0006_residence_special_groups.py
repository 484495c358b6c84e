"""identity: declared residence district; special-elder category history

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("persons", sa.Column("residence_district", sa.String(6)))
    op.add_column("persons", sa.Column("permanent_resident", sa.Boolean))
    op.add_column("persons", sa.Column("residence_declared_by", sa.String(128)))
    op.add_column("persons", sa.Column("residence_declared_at", sa.DateTime(timezone=True)))
    op.create_table(
        "special_group_changes",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("person_id", sa.Uuid, sa.ForeignKey("persons.id"), nullable=False, index=True),
        sa.Column("district", sa.String(6), nullable=False),
        sa.Column("categories", postgresql.ARRAY(sa.String(40)), nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("set_by", sa.String(128), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )


def downgrade() -> None:
    op.drop_table("special_group_changes")
    for column in ("residence_declared_at", "residence_declared_by", "permanent_resident", "residence_district"):
        op.drop_column("persons", column)
