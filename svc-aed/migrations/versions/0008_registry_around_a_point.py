"""aed: 120 reads every registered device around a point, usable or not (the lookup index holds only those that
could be usable)

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
    op.execute("CREATE INDEX aeds_registered ON aeds USING gist (ll_to_earth(lat, lon)) WHERE status <> 'removed'")


def downgrade() -> None:
    op.execute("DROP INDEX aeds_registered")
