"""matching: Idempotency-Key on creates a client may retry

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from alembic import op

from servicekit.migrations import create_idempotency_keys

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_idempotency_keys()


def downgrade() -> None:
    op.execute("DROP TABLE idempotency_keys")
