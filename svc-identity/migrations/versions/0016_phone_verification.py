"""identity: a contact phone counts only once its owner proves it with a code sent to it by SMS

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30
"""

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The number being proven; the verified one stays in contact_phones (and keeps working) until then.
    op.execute("""
    CREATE TABLE phone_verifications (
        person_id uuid PRIMARY KEY REFERENCES persons (id),
        key_id text NOT NULL,
        sealed bytea NOT NULL,                  -- AES-GCM, person id bound in
        masked text NOT NULL,
        code_hash bytea NOT NULL,               -- SHA-256 of salt || code; the code itself is never stored
        salt bytea NOT NULL,
        attempts smallint NOT NULL DEFAULT 0,
        sent_at timestamptz NOT NULL,
        expires_at timestamptz NOT NULL
    )""")
    # Phones saved before verification existed were never proven: they stop counting until proven.
    op.execute("DELETE FROM contact_phones")


def downgrade() -> None:
    op.execute("DROP TABLE phone_verifications")
