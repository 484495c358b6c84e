"""identity: suspension of people and staff (who and why)

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("persons", sa.Column("suspended_at", sa.DateTime(timezone=True)))
    op.add_column("persons", sa.Column("suspended_by", sa.String(128)))
    op.add_column("persons", sa.Column("suspension_reason", sa.Text))
    op.add_column("staff_users", sa.Column("disabled_by", sa.String(128)))
    op.add_column("staff_users", sa.Column("disabled_reason", sa.Text))
    op.create_index(
        "refresh_tokens_subject_live", "refresh_tokens", ["subject"], postgresql_where=sa.text("revoked_at IS NULL")
    )


def downgrade() -> None:
    op.drop_index("refresh_tokens_subject_live", "refresh_tokens")
    for column in ("disabled_reason", "disabled_by"):
        op.drop_column("staff_users", column)
    for column in ("suspension_reason", "suspended_by", "suspended_at"):
        op.drop_column("persons", column)
