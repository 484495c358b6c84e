"""ledger: keep whether a holder is 60 or over, not the day they turn 60 (a birth date by arithmetic)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE holders ADD COLUMN redemption_age boolean NOT NULL DEFAULT false")
    # Those already 60 keep redeeming; identity announces the others on the day (person.reached-redemption-age).
    op.execute(
        "UPDATE holders SET redemption_age = true WHERE turns_60_on <= (now() AT TIME ZONE 'Asia/Shanghai')::date"
    )
    op.execute("ALTER TABLE holders DROP COLUMN turns_60_on")


def downgrade() -> None:
    op.execute("ALTER TABLE holders ADD COLUMN turns_60_on date")
    op.execute("ALTER TABLE holders DROP COLUMN redemption_age")
