"""identity: closing an account (注销) — asked, withdrawn within the cooling-off period, or erased after it

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06
"""

from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    CREATE TABLE account_closures (
        person_id uuid PRIMARY KEY REFERENCES persons (id),
        requested_at timestamptz NOT NULL,
        erase_after timestamptz NOT NULL,
        coins_to text NOT NULL CHECK (coins_to IN ('welfare', 'relative')),
        relative_id uuid,
        state text NOT NULL CHECK (state IN ('requested', 'withdrawn', 'erased')),
        withdrawn_at timestamptz,
        erased_at timestamptz,
        CHECK ((coins_to = 'relative') = (relative_id IS NOT NULL))
    )""")
    op.execute("CREATE INDEX account_closures_due ON account_closures (erase_after) WHERE state = 'requested'")
    op.execute("ALTER TABLE persons ADD COLUMN erased_at timestamptz")


def downgrade() -> None:
    op.execute("ALTER TABLE persons DROP COLUMN erased_at")
    op.execute("DROP TABLE account_closures")
