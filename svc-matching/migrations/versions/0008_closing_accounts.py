"""matching: people closing their account (from identity's events) start nothing new

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE people ADD COLUMN closing boolean NOT NULL DEFAULT false")


def downgrade() -> None:
    op.execute("ALTER TABLE people DROP COLUMN closing")
