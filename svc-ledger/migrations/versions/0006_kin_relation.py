"""ledger: the kin links keep the relation, so the gift rule (ledger/domain/gift_recipients.py) can depend on it

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Links recorded before hold no relation (NULL); the gift rule says how it counts them.
    op.execute("ALTER TABLE kin_links ADD COLUMN relation text")


def downgrade() -> None:
    op.execute("ALTER TABLE kin_links DROP COLUMN relation")
