"""ledger: accounts closed with their holder's personal data, and where their coins go

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE holders ADD COLUMN closed_at timestamptz, ADD COLUMN closed_to_relative uuid")
    op.execute("CREATE INDEX holders_closed ON holders (person_id) WHERE closed_at IS NOT NULL")


def downgrade() -> None:
    op.execute("ALTER TABLE holders DROP COLUMN closed_at, DROP COLUMN closed_to_relative")
