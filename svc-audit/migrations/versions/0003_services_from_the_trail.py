"""audit: a service fact names the trail record it was read from (services are read from the trail in SQL)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The services a consumed batch added are those with seq past the chain's head before the batch: the rules
    # ask about them with no list of them sent from the service (ADR 10).
    op.execute("ALTER TABLE services ADD COLUMN seq bigint")
    op.execute("UPDATE services s SET seq = l.seq FROM audit_log l WHERE l.event_id = s.event_id")
    op.execute("ALTER TABLE services ALTER COLUMN seq SET NOT NULL")
    op.execute("CREATE INDEX services_seq ON services (seq)")


def downgrade() -> None:
    op.execute("DROP INDEX services_seq")
    op.execute("ALTER TABLE services DROP COLUMN seq")
