"""A lease on the notifications a delivery has taken, so their sends run outside any transaction and no other
round (or replica) takes that person's messages until the sends are answered or the lease runs out.

Revision ID: 0027
Revises: 0026
"""

from alembic import op

revision = "0027"
down_revision = "0026"


def upgrade() -> None:
    op.execute("ALTER TABLE notifications ADD COLUMN leased_until timestamptz")
    # Whose messages are out now: a claim passes over those people (few rows: a lease ends with its sends).
    op.execute(
        "CREATE INDEX notifications_out ON notifications (person_id) WHERE status = 'pending' AND leased_until IS NOT NULL"
    )


def downgrade() -> None:
    op.execute("DROP INDEX notifications_out")
    op.execute("ALTER TABLE notifications DROP COLUMN leased_until")
