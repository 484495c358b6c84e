"""aed: the offsets the broker acknowledged to the outbox relay, to notice a broker that lost them

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from alembic import op

from servicekit.migrations import create_outbox_marks

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_outbox_marks()


def downgrade() -> None:
    op.execute("DROP TABLE outbox_marks")
