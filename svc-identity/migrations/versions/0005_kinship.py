"""identity: direct-relative (直系亲属) links

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kinship_links",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("claimant_id", sa.Uuid, sa.ForeignKey("persons.id"), nullable=False),
        sa.Column("relative_id", sa.Uuid, sa.ForeignKey("persons.id"), nullable=False),
        sa.Column("relation", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("confirmed_at", sa.DateTime(timezone=True)),
        sa.Column("confirmed_by", sa.String(64)),
        sa.Column("document_ref", sa.String(128)),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.Column("revoked_by", sa.String(64)),
        sa.Column("revoke_reason", sa.String(200)),
        sa.CheckConstraint("claimant_id <> relative_id", name="not_own_relative"),
        sa.CheckConstraint("relation IN ('parent', 'child', 'grandparent', 'grandchild')", name="direct_relation"),
        sa.CheckConstraint("status IN ('pending', 'confirmed', 'revoked')", name="known_status"),
    )
    # At most one live link per pair of people, whichever of them claimed it.
    op.execute(
        "CREATE UNIQUE INDEX kinship_one_live_link_per_pair ON kinship_links "
        "(LEAST(claimant_id, relative_id), GREATEST(claimant_id, relative_id)) "
        "WHERE status IN ('pending', 'confirmed')"
    )
    op.create_index("kinship_links_relative", "kinship_links", ["relative_id"])
    op.create_index("kinship_links_claimant", "kinship_links", ["claimant_id"])


def downgrade() -> None:
    op.drop_table("kinship_links")
