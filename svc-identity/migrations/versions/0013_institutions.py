"""identity: institutions confirmed by a sub-district; operators belong to one; residence checks

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "institutions",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("district", sa.String(6), nullable=False),
        sa.Column("subdistrict", sa.String(64), nullable=False),
        sa.Column("confirmation_ref", sa.String(128), nullable=False),
        sa.Column("confirmed_by", sa.String(128), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("listed_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("district", "name", name="one_institution_name_per_district"),
    )
    op.add_column("staff_users", sa.Column("institution_id", sa.Uuid, sa.ForeignKey("institutions.id")))
    # Staff check a declared residence (户口簿 or residence permit seen).
    op.add_column("persons", sa.Column("residence_checked_by", sa.String(128)))
    op.add_column("persons", sa.Column("residence_checked_at", sa.DateTime(timezone=True)))
    op.add_column("persons", sa.Column("residence_check_note", sa.Text))


def downgrade() -> None:
    for column in ("residence_check_note", "residence_checked_at", "residence_checked_by"):
        op.drop_column("persons", column)
    op.drop_column("staff_users", "institution_id")
    op.drop_table("institutions")
