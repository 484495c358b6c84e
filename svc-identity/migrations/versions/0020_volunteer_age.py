"""identity: a minor volunteers from 14 (中国注册志愿者管理办法); the age job grants the role on the day

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06
"""

from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE real_names ADD COLUMN volunteer_age_reached boolean NOT NULL DEFAULT false")
    op.execute(
        "UPDATE real_names SET volunteer_age_reached ="
        " (turns_18_on - interval '4 years')::date <= (now() AT TIME ZONE 'Asia/Shanghai')::date"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE real_names DROP COLUMN volunteer_age_reached")
