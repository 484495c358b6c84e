"""identity: notifications delivered to people as WeChat subscription messages

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    CREATE TABLE notifications (
        id uuid PRIMARY KEY,                  -- the producer's notification_id: one message per cause
        person_id uuid NOT NULL,
        template text NOT NULL,
        data jsonb NOT NULL,
        page text,
        source_event uuid NOT NULL,
        status text NOT NULL DEFAULT 'pending'
            CHECK (status IN ('pending', 'sent', 'declined', 'no_channel', 'failed')),
        attempts integer NOT NULL DEFAULT 0,
        next_attempt_at timestamptz NOT NULL DEFAULT now(),
        last_error text,
        requested_at timestamptz NOT NULL,
        sent_at timestamptz
    )""")
    op.execute("CREATE INDEX notifications_due ON notifications (next_attempt_at) WHERE status = 'pending'")
    op.execute("CREATE INDEX notifications_person ON notifications (person_id, requested_at DESC)")


def downgrade() -> None:
    op.execute("DROP TABLE notifications")
