"""Each alert's way to the responder: delivered (when, by which channels), seen, re-sent by SMS; and the
estimated arrival of those who accepted.

Revision ID: 0009
Revises: 0008
"""

from alembic import op

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    op.execute(
        "ALTER TABLE incident_alerts ADD COLUMN delivered_at timestamptz,"
        " ADD COLUMN delivered_by text[] NOT NULL DEFAULT '{}',"
        " ADD COLUMN seen_at timestamptz, ADD COLUMN resent_at timestamptz, ADD COLUMN eta_at timestamptz"
    )
    # The unseen-alert sweep reads only alerts still waiting for an answer.
    op.execute(
        "CREATE INDEX incident_alerts_unseen ON incident_alerts (sent_at) WHERE status = 'sent' AND seen_at IS NULL"
    )


def downgrade() -> None:
    op.execute("DROP INDEX incident_alerts_unseen")
    op.execute(
        "ALTER TABLE incident_alerts DROP COLUMN delivered_at, DROP COLUMN delivered_by, DROP COLUMN seen_at,"
        " DROP COLUMN resent_at, DROP COLUMN eta_at"
    )
