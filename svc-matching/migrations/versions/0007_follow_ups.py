"""matching: follow-ups (回访) owed to elders after a low rating, a late cancellation or a no-show

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
    op.execute("""
    CREATE TABLE follow_ups (
        id uuid PRIMARY KEY,
        request_id uuid NOT NULL REFERENCES requests (id),
        elder_id uuid NOT NULL,
        district varchar(6) NOT NULL,
        cause text NOT NULL CHECK (cause IN ('low_rating', 'late_cancellation', 'no_show')),
        source text NOT NULL UNIQUE,        -- what opened it (the rating, the booking): one follow-up each
        detail text NOT NULL,
        state text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'assigned', 'closed')),
        opened_at timestamptz NOT NULL,
        assigned_to text,
        assigned_by text,
        assigned_at timestamptz,
        closed_by text,
        closed_at timestamptz,
        outcome text,
        CHECK ((state = 'open') = (assigned_to IS NULL AND closed_at IS NULL) OR state = 'closed'),
        CHECK ((state = 'closed') = (closed_at IS NOT NULL))
    )""")
    # Staff list a district's follow-ups in a state, newest first (opened_at, id).
    op.execute("CREATE INDEX follow_ups_by_district ON follow_ups (district, state, opened_at DESC, id DESC)")


def downgrade() -> None:
    op.execute("DROP TABLE follow_ups")
