"""ledger: accounts and messaging tables

Revision ID: 0001
Revises:
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

from servicekit.migrations import create_messaging_tables, drop_messaging_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("owner_person_id", sa.Uuid, unique=True),
        sa.Column("balance", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("held", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("lifetime_earned", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("kind IN ('person', 'district_issuance', 'welfare', 'escrow')", name="known_kind"),
        sa.CheckConstraint("kind <> 'person' OR balance >= held", name="person_not_below_holds"),
        sa.CheckConstraint("held >= 0", name="held_not_negative"),
    )
    create_messaging_tables()


def downgrade() -> None:
    drop_messaging_tables()
    op.drop_table("accounts")
