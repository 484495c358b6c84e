"""identity: ages are told as facts on their day (person.came-of-age, person.reached-redemption-age), not as dates

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06
"""

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE real_names ADD COLUMN came_of_age_announced boolean NOT NULL DEFAULT false, "
        "ADD COLUMN redemption_age_announced boolean NOT NULL DEFAULT false"
    )
    # What version 1 of person.verified already told (as dates) needs no announcement.
    op.execute(
        "UPDATE real_names SET came_of_age_announced = turns_18_on <= (now() AT TIME ZONE 'Asia/Shanghai')::date, "
        "redemption_age_announced = turns_60_on <= (now() AT TIME ZONE 'Asia/Shanghai')::date"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE real_names DROP COLUMN came_of_age_announced, DROP COLUMN redemption_age_announced")
