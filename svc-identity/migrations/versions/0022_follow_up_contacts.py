"""identity: who may read an elder's contact for a follow-up (回访), kept from matching's events

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06
"""

from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    CREATE TABLE follow_up_contacts (
        follow_up_id uuid PRIMARY KEY,
        elder_id uuid NOT NULL,
        operator_id varchar(128),          -- the operator who took it; NULL once released or closed
        closed boolean NOT NULL DEFAULT false
    )""")


def downgrade() -> None:
    op.execute("DROP TABLE follow_up_contacts")
