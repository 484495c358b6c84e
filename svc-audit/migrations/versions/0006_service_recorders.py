"""audit: service reports are recorded by two transactions at once, each with its cursor

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The trail's service reports up to `seq` of recorder `part` (those whose subject hashes to it) are in
    # `services` (judging.py). Everything judged so far was recorded with it.
    op.execute("CREATE TABLE recorded (part smallint PRIMARY KEY, seq bigint NOT NULL)")
    op.execute("INSERT INTO recorded SELECT part, seq FROM judged, generate_series(0, 1) AS part")


def downgrade() -> None:
    op.execute("DROP TABLE recorded")
