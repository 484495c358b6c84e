"""matching: who is a minor and who their confirmed guardians are (from identity's events), so a minor
books only where a guardian accompanies them

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE people ADD COLUMN minor boolean NOT NULL DEFAULT false")
    op.execute("""
    CREATE TABLE guardians (
        guardianship_id uuid PRIMARY KEY,
        minor_id uuid NOT NULL,
        guardian_id uuid NOT NULL,
        active boolean NOT NULL
    )""")
    op.execute("CREATE INDEX guardians_of_minor ON guardians (minor_id) WHERE active")


def downgrade() -> None:
    op.execute("DROP TABLE guardians")
    op.execute("ALTER TABLE people DROP COLUMN minor")
