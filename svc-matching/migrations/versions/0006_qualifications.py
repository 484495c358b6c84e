"""matching: catalogue items that need a professional qualification, and who holds one (from identity's events)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

LEGAL_ADVICE = "00000000-0000-4000-8000-0000000c0601"  # the city-wide 法律咨询


def upgrade() -> None:
    op.execute(
        "ALTER TABLE catalogue_items ADD COLUMN qualification text CHECK (qualification IN ('legal', 'medical'))"
    )
    op.execute(f"UPDATE catalogue_items SET qualification = 'legal' WHERE id = '{LEGAL_ADVICE}'")
    # The live qualification of each kind a person holds (identity keeps one per kind; a newer one replaces it).
    op.execute("""
    CREATE TABLE qualifications (
        person_id uuid NOT NULL,
        kind text NOT NULL,
        qualification_id uuid NOT NULL,
        valid_until date NOT NULL,
        PRIMARY KEY (person_id, kind)
    )""")


def downgrade() -> None:
    op.execute("DROP TABLE qualifications")
    op.execute("ALTER TABLE catalogue_items DROP COLUMN qualification")
