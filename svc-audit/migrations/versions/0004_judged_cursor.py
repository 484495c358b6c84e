"""audit: the rules follow the trail — how far they have judged it, and the records they could not read

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The trail's records up to `seq` have been judged (ADR 10). Everything appended so far was
    # judged in the transaction that appended it.
    op.execute("CREATE TABLE judged (id smallint PRIMARY KEY CHECK (id = 1), seq bigint NOT NULL)")
    op.execute("INSERT INTO judged SELECT 1, seq FROM chain_head")
    # A record whose facts could not be read (a malformed payload): kept in the trail, passed over by the
    # rules, listed here with the error for the auditors.
    op.execute("""
    CREATE TABLE unjudged (
        seq bigint PRIMARY KEY,
        error text NOT NULL,
        at timestamptz NOT NULL
    )""")


def downgrade() -> None:
    op.execute("DROP TABLE unjudged")
    op.execute("DROP TABLE judged")
