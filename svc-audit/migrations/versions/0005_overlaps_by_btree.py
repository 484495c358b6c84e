"""audit: overlapping services are found with a B-tree on (volunteer, end, start) instead of a GiST of ranges

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A service overlaps another of its volunteer when the other ends after it starts and starts before it
    # ends. Scanning the volunteer's services that end after a start touches only the services around it
    # when services arrive roughly in time order, and a B-tree costs a third of the GiST's probe and a half
    # of its insert (bench/README.md).
    op.execute("CREATE INDEX services_volunteer_until ON services (volunteer_id, checked_out_at, checked_in_at)")
    op.execute("DROP INDEX services_volunteer_span")


def downgrade() -> None:
    op.execute(
        "CREATE INDEX services_volunteer_span ON services USING gist (volunteer_id, tstzrange(checked_in_at, checked_out_at))"
    )
    op.execute("DROP INDEX services_volunteer_until")
