"""identity: volunteers' professional qualifications (法律职业资格, 医护执业资格) with their evidence and validity

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06
"""

from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    CREATE TABLE qualifications (
        id uuid PRIMARY KEY,
        person_id uuid NOT NULL REFERENCES persons (id),
        kind varchar(16) NOT NULL CHECK (kind IN ('legal', 'medical')),
        evidence_ref varchar(128) NOT NULL,
        valid_until date NOT NULL,
        institution_id uuid,
        recorded_by varchar(128) NOT NULL,
        recorded_at timestamptz NOT NULL,
        revoked_at timestamptz,
        revoked_by varchar(128),
        revoke_reason text
    )""")
    op.execute("CREATE INDEX qualifications_of_person ON qualifications (person_id, recorded_at DESC, id DESC)")
    # One qualification of a kind counts at a time: a new record replaces the live one (and a race is a 409).
    op.execute(
        "CREATE UNIQUE INDEX one_live_qualification_per_kind ON qualifications (person_id, kind)"
        " WHERE revoked_at IS NULL"
    )


def downgrade() -> None:
    op.execute("DROP TABLE qualifications")
