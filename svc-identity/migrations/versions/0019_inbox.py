"""identity: every message to a person stays in their inbox, read or unread

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06
"""

from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE notifications ADD COLUMN read_at timestamptz")
    # The inbox is read newest first by keyset (requested_at, id); the unread count by a small partial index.
    op.execute("DROP INDEX notifications_person")
    op.execute("CREATE INDEX notifications_inbox ON notifications (person_id, requested_at DESC, id DESC)")
    op.execute("CREATE INDEX notifications_unread ON notifications (person_id) WHERE read_at IS NULL")


def downgrade() -> None:
    op.execute("DROP INDEX notifications_unread")
    op.execute("DROP INDEX notifications_inbox")
    op.execute("CREATE INDEX notifications_person ON notifications (person_id, requested_at DESC)")
    op.execute("ALTER TABLE notifications DROP COLUMN read_at")
