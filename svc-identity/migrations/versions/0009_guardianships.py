"""identity: guardianships of minor volunteers

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "guardianships",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("guardian_id", sa.Uuid, sa.ForeignKey("persons.id"), nullable=False, index=True),
        sa.Column("minor_id", sa.Uuid, sa.ForeignKey("persons.id"), nullable=False, index=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("confirmed_at", sa.DateTime(timezone=True)),
        sa.Column("confirmed_by", sa.String(64)),
        sa.Column("document_ref", sa.String(128)),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.Column("revoked_by", sa.String(64)),
        sa.Column("revoke_reason", sa.String(200)),
        sa.CheckConstraint("guardian_id <> minor_id", name="two_people"),
        sa.CheckConstraint("status IN ('pending', 'confirmed', 'revoked')", name="known_status"),
    )
    op.create_index(
        "one_live_guardianship",
        "guardianships",
        ["guardian_id", "minor_id"],
        unique=True,
        postgresql_where=sa.text("status <> 'revoked'"),
    )


def downgrade() -> None:
    op.drop_table("guardianships")
