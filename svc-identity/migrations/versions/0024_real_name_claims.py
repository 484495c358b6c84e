"""identity: a 居民身份证号 already verified for another account goes to staff (real_name_claims), not a dead end

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06
"""

from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    CREATE TABLE real_name_claims (
        id uuid PRIMARY KEY,
        claimant_id uuid NOT NULL REFERENCES persons (id),
        holder_id uuid NOT NULL REFERENCES persons (id),
        id_number_lookup bytea NOT NULL,
        key_id text NOT NULL,
        name_encrypted bytea NOT NULL,          -- AES-GCM, the claim id bound in
        id_number_encrypted bytea NOT NULL,
        name_masked text NOT NULL,
        id_number_masked text NOT NULL,
        district varchar(6),                    -- the claimant's residence: whose officers decide (NULL: city staff)
        state text NOT NULL CHECK (state IN ('open', 'transferred', 'rejected')),
        opened_at timestamptz NOT NULL,
        decided_at timestamptz,
        decided_by text,
        evidence text,
        CHECK ((state = 'open') = (decided_at IS NULL))
    )""")
    op.execute(
        "CREATE UNIQUE INDEX real_name_claims_one_open ON real_name_claims (claimant_id, id_number_lookup)"
        " WHERE state = 'open'"
    )
    op.execute("CREATE INDEX real_name_claims_open ON real_name_claims (district, opened_at) WHERE state = 'open'")


def downgrade() -> None:
    op.execute("DROP TABLE real_name_claims")
