"""matching: messaging tables (outbox, processed events)

Revision ID: 0001
Revises:
Create Date: 2026-11-30
"""

from alembic import op

from servicekit.migrations import create_messaging_tables, drop_messaging_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    op.execute("CREATE EXTENSION IF NOT EXISTS cube")
    op.execute("CREATE EXTENSION IF NOT EXISTS earthdistance")
    create_messaging_tables()


def downgrade() -> None:
    drop_messaging_tables()
