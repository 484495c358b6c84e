"""identity: staff find people by full name (a keyed hash, like the identity number) and by masked phone

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06
"""

from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Filled when a name is verified; `python -m identity index-names` fills the rows verified before.
    op.execute("ALTER TABLE real_names ADD COLUMN name_lookup bytea")
    op.execute("CREATE INDEX real_names_name_lookup ON real_names (name_lookup)")
    op.execute("CREATE INDEX contact_phones_masked ON contact_phones (masked)")
    op.execute("CREATE INDEX persons_district_created ON persons (residence_district, created_at DESC, id DESC)")


def downgrade() -> None:
    op.execute("DROP INDEX persons_district_created")
    op.execute("DROP INDEX contact_phones_masked")
    op.execute("DROP INDEX real_names_name_lookup")
    op.execute("ALTER TABLE real_names DROP COLUMN name_lookup")
