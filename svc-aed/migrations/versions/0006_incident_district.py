"""aed: the district an incident is in (as the caller's map or 120 reports it), so district officers see
their own district's incidents only

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE incidents ADD COLUMN district text")


def downgrade() -> None:
    op.execute("ALTER TABLE incidents DROP COLUMN district")
