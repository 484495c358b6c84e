"""Notifications that must go by SMS only (an urgent alert whose WeChat message went unseen).

Revision ID: 0026
Revises: 0025
"""

from alembic import op

revision = "0026"
down_revision = "0025"


def upgrade() -> None:
    op.execute("ALTER TABLE notifications ADD COLUMN only_channel text CHECK (only_channel IN ('sms'))")


def downgrade() -> None:
    op.execute("ALTER TABLE notifications DROP COLUMN only_channel")
