"""aed: a responder who accepted may withdraw before arriving

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE incident_alerts DROP CONSTRAINT incident_alerts_status_check, ADD CONSTRAINT "
        "incident_alerts_status_check CHECK (status IN ('sent', 'accepted', 'declined', 'cancelled', 'withdrawn'))"
    )


def downgrade() -> None:
    op.execute("UPDATE incident_alerts SET status = 'declined' WHERE status = 'withdrawn'")
    op.execute(
        "ALTER TABLE incident_alerts DROP CONSTRAINT incident_alerts_status_check, ADD CONSTRAINT "
        "incident_alerts_status_check CHECK (status IN ('sent', 'accepted', 'declined', 'cancelled'))"
    )
