"""identity: training records and person role grants (with history)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "trainings",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("person_id", sa.Uuid, sa.ForeignKey("persons.id"), nullable=False, index=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("completed_on", sa.Date, nullable=False),
        sa.Column("certificate_number", sa.String(64)),
        sa.Column("certificate_expires_on", sa.Date),
        sa.Column("recorded_by", sa.String(128), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("kind IN ('volunteer', 'first_aid')", name="known_training"),
        sa.CheckConstraint("kind <> 'first_aid' OR certificate_expires_on IS NOT NULL", name="first_aid_expires"),
    )
    op.create_table(
        "role_grants",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("person_id", sa.Uuid, sa.ForeignKey("persons.id"), nullable=False, index=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("granted_by", sa.String(128), nullable=False),
        sa.Column("grant_reason", sa.Text, nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True)),
        sa.Column("revoked_by", sa.String(128)),
        sa.Column("revoke_reason", sa.Text),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("role IN ('elder', 'volunteer', 'responder')", name="known_person_role"),
    )
    # At most one live grant of a role per person.
    op.create_index(
        "one_live_grant",
        "role_grants",
        ["person_id", "role"],
        unique=True,
        postgresql_where=sa.text("revoked_at IS NULL"),
    )
    op.create_index(
        "live_grants_by_expiry",
        "role_grants",
        ["expires_at"],
        postgresql_where=sa.text("revoked_at IS NULL AND expires_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_table("role_grants")
    op.drop_table("trainings")
