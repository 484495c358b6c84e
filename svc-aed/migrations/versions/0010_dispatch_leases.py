"""A lease on the updates a delivery to 120 has taken, so the call runs outside any transaction and another
replica (or the next round) leaves the incident alone until the call is answered or the lease runs out.

Revision ID: 0010
Revises: 0009
"""

from alembic import op

revision = "0010"
down_revision = "0009"


def upgrade() -> None:
    op.execute("ALTER TABLE dispatch_updates ADD COLUMN leased_until timestamptz")


def downgrade() -> None:
    op.execute("ALTER TABLE dispatch_updates DROP COLUMN leased_until")
