"""identity: contact phones (sealed) for urgent notifications by SMS when WeChat cannot deliver

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30
"""

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    CREATE TABLE contact_phones (
        person_id uuid PRIMARY KEY REFERENCES persons (id),
        key_id text NOT NULL,
        sealed bytea NOT NULL,                  -- AES-GCM, person id bound in
        masked text NOT NULL,                   -- 138****1234
        updated_at timestamptz NOT NULL
    )""")
    op.execute("ALTER TABLE notifications ADD COLUMN fallback text CHECK (fallback IN ('sms'))")
    op.execute("ALTER TABLE notifications ADD COLUMN channel text")


def downgrade() -> None:
    op.execute("ALTER TABLE notifications DROP COLUMN channel")
    op.execute("ALTER TABLE notifications DROP COLUMN fallback")
    op.execute("DROP TABLE contact_phones")
