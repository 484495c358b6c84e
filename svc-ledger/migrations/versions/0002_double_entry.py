"""ledger: double-entry transfers, entries, holds, origin accounts, system accounts, projections

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

DISTRICTS = [
    "110101",
    "110102",
    "110105",
    "110106",
    "110107",
    "110108",
    "110109",
    "110111",
    "110112",
    "110113",
    "110114",
    "110115",
    "110116",
    "110117",
    "110118",
    "110119",
]
ESCROW_SHARDS = 8
ORIGINS = ("earned", "gifted", "granted", "allocated")


def upgrade() -> None:
    # A person now holds one account per coin origin; the existing account becomes the earned one.
    op.add_column("accounts", sa.Column("origin", sa.String(12)))
    op.add_column("accounts", sa.Column("district", sa.String(6)))
    op.add_column("accounts", sa.Column("shard", sa.Integer))
    op.execute("UPDATE accounts SET origin = 'earned' WHERE kind = 'person'")
    op.drop_constraint("accounts_owner_person_id_key", "accounts", type_="unique")
    op.drop_constraint("person_not_below_holds", "accounts", type_="check")
    op.create_unique_constraint("one_account_per_origin", "accounts", ["owner_person_id", "origin"])
    op.create_index(
        "one_issuance_account_per_district",
        "accounts",
        ["district"],
        unique=True,
        postgresql_where=sa.text("kind = 'district_issuance'"),
    )
    op.create_index(
        "one_escrow_per_shard", "accounts", ["shard"], unique=True, postgresql_where=sa.text("kind = 'escrow'")
    )
    op.create_index(
        "one_welfare_account", "accounts", ["kind"], unique=True, postgresql_where=sa.text("kind = 'welfare'")
    )
    op.create_check_constraint(
        "account_shape",
        "accounts",
        "(kind = 'person' AND owner_person_id IS NOT NULL AND origin IN ('earned', 'gifted', 'granted', 'allocated'))"
        " OR (kind = 'district_issuance' AND district IS NOT NULL AND owner_person_id IS NULL)"
        " OR (kind = 'escrow' AND shard IS NOT NULL AND owner_person_id IS NULL)"
        " OR (kind = 'welfare' AND owner_person_id IS NULL)",
    )
    # Only issuance accounts go negative: they are where granted coins come from.
    op.create_check_constraint("not_below_holds", "accounts", "kind = 'district_issuance' OR balance >= held")
    for origin in ORIGINS[1:]:
        op.execute(
            f"INSERT INTO accounts (id, kind, owner_person_id, origin, balance, held) "
            f"SELECT gen_random_uuid(), 'person', owner_person_id, '{origin}', 0, 0 FROM accounts "
            f"WHERE kind = 'person' AND origin = 'earned'"
        )
    for district in DISTRICTS:
        op.execute(
            f"INSERT INTO accounts (id, kind, district, balance, held) "
            f"VALUES (gen_random_uuid(), 'district_issuance', '{district}', 0, 0)"
        )
    op.execute("INSERT INTO accounts (id, kind, balance, held) VALUES (gen_random_uuid(), 'welfare', 0, 0)")
    for shard in range(ESCROW_SHARDS):
        op.execute(
            f"INSERT INTO accounts (id, kind, shard, balance, held) VALUES (gen_random_uuid(), 'escrow', {shard}, 0, 0)"
        )

    op.create_table(
        "holders",
        sa.Column("person_id", sa.Uuid, primary_key=True),
        sa.Column("turns_60_on", sa.Date),
        sa.Column("district", sa.String(6)),
        sa.Column("special_district", sa.String(6)),
        sa.Column("special_categories", postgresql.ARRAY(sa.Text), nullable=False, server_default="{}"),
        sa.Column("lifetime_earned", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("clawback_due", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("milestone_reached_at", sa.DateTime(timezone=True)),
    )
    op.execute(
        "INSERT INTO holders (person_id, lifetime_earned) "
        "SELECT owner_person_id, lifetime_earned FROM accounts WHERE kind = 'person' AND origin = 'earned'"
    )
    op.drop_column("accounts", "lifetime_earned")

    op.create_table(
        "kin_links",
        sa.Column("link_id", sa.Uuid, primary_key=True),
        sa.Column("person_id", sa.Uuid, nullable=False),
        sa.Column("relative_id", sa.Uuid, nullable=False),
        sa.Column("revoked", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_index("kin_links_pair", "kin_links", ["person_id", "relative_id"])
    op.create_index("kin_links_pair_inverse", "kin_links", ["relative_id", "person_id"])

    op.create_table(
        "operations",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("idempotency_key", sa.Text, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("result", postgresql.JSONB),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.UniqueConstraint("actor", "idempotency_key", name="one_operation_per_key"),
    )

    op.create_table(
        "transfers",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("operation_id", sa.Uuid, nullable=False),
        sa.Column("code", sa.String(12), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("debit_account_id", sa.Uuid, sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("credit_account_id", sa.Uuid, sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("pending_id", sa.Uuid, sa.ForeignKey("transfers.id")),
        sa.Column("expires_at", sa.DateTime(timezone=True)),
        sa.Column("reference", sa.Uuid),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("code IN ('transfer', 'pending', 'post', 'void', 'expire')", name="known_code"),
        sa.CheckConstraint("debit_account_id <> credit_account_id", name="two_accounts"),
        sa.CheckConstraint("amount > 0 OR code IN ('void', 'expire')", name="positive_amount"),
        sa.CheckConstraint(
            "(pending_id IS NOT NULL) = (code IN ('post', 'void', 'expire'))", name="resolution_names_pending"
        ),
        # A pending transfer resolves at most once (post, void or expire).
        sa.UniqueConstraint("pending_id", name="resolves_once"),
    )
    op.create_index("transfers_reference", "transfers", ["reference"])
    op.create_index("transfers_operation", "transfers", ["operation_id"])

    op.create_table(
        "entries",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("transfer_id", sa.Uuid, sa.ForeignKey("transfers.id"), nullable=False),
        sa.Column("account_id", sa.Uuid, sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("balance_after", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("amount <> 0", name="nonzero_entry"),
    )
    op.create_index("entries_account_newest", "entries", ["account_id", sa.text("id DESC")])
    op.create_index("entries_transfer", "entries", ["transfer_id"])

    op.create_table(
        "holds",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("request_id", sa.Uuid, nullable=False, unique=True),
        sa.Column("elder_id", sa.Uuid, nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("resolved_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("status IN ('pending', 'settled', 'voided', 'expired')", name="known_status"),
        sa.CheckConstraint("amount > 0", name="positive_hold"),
    )
    op.create_index("holds_pending_by_expiry", "holds", ["expires_at"], postgresql_where=sa.text("status = 'pending'"))
    # Append-only: corrections are reversing transfers, never edits or deletes.
    op.execute(
        "CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$"
        " BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$"
    )
    for table in ("transfers", "entries"):
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}"
            " FOR EACH ROW EXECUTE FUNCTION refuse_change()"
        )


def downgrade() -> None:
    for table in ("transfers", "entries"):
        op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
    op.execute("DROP FUNCTION refuse_change()")
    for table in ("holds", "entries", "transfers", "operations", "kin_links"):
        op.drop_table(table)
    op.add_column("accounts", sa.Column("lifetime_earned", sa.BigInteger, nullable=False, server_default="0"))
    op.drop_table("holders")
    op.execute("DELETE FROM accounts WHERE kind <> 'person' OR origin <> 'earned'")
    op.drop_constraint("not_below_holds", "accounts", type_="check")
    op.drop_constraint("account_shape", "accounts", type_="check")
    for index in ("one_welfare_account", "one_escrow_per_shard", "one_issuance_account_per_district"):
        op.drop_index(index, "accounts")
    op.drop_constraint("one_account_per_origin", "accounts", type_="unique")
    op.create_unique_constraint("accounts_owner_person_id_key", "accounts", ["owner_person_id"])
    op.create_check_constraint("person_not_below_holds", "accounts", "kind <> 'person' OR balance >= held")
    for column in ("shard", "district", "origin"):
        op.drop_column("accounts", column)
