"""identity: staff sign-in lock-out after repeated wrong passwords

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("staff_users", sa.Column("failed_sign_ins", sa.Integer, nullable=False, server_default="0"))
    op.add_column("staff_users", sa.Column("locked_until", sa.DateTime(timezone=True)))


def downgrade() -> None:
    op.drop_column("staff_users", "locked_until")
    op.drop_column("staff_users", "failed_sign_ins")
