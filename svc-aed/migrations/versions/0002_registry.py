"""aed: owner organisations, the device registry with opening hours and history, inspections

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    CREATE TABLE organisations (
        id uuid PRIMARY KEY,
        name text NOT NULL,
        kind text NOT NULL CHECK (kind IN ('primary_secondary_school', 'vocational_school', 'university', 'venue')),
        district varchar(6) NOT NULL,
        headcount integer NOT NULL CHECK (headcount >= 0),  -- students and staff (or visitors a day): coverage
        created_by text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (district, name)
    )""")
    op.execute("""
    CREATE TABLE organisation_staff (
        staff_id text NOT NULL,
        organisation_id uuid NOT NULL REFERENCES organisations (id),
        added_by text NOT NULL,
        PRIMARY KEY (staff_id, organisation_id)
    )""")
    op.execute("""
    CREATE TABLE aeds (
        id uuid PRIMARY KEY,
        serial text NOT NULL UNIQUE,
        name text NOT NULL,
        lat double precision NOT NULL,
        lon double precision NOT NULL,
        address text NOT NULL,
        district varchar(6) NOT NULL,
        indoor boolean NOT NULL,
        floor text,
        access_directions text,
        access text NOT NULL CHECK (access IN ('public', 'customers', 'staff')),
        opening_hours text NOT NULL,            -- as given (OSM syntax); aed_hours holds it parsed
        always_open boolean NOT NULL DEFAULT false,
        closed_on_holidays boolean NOT NULL DEFAULT false,
        season_from date,                      -- open only between these dates (e.g. a seasonal venue)
        season_until date,
        closures date[] NOT NULL DEFAULT '{}',  -- the device's own closure days
        status text NOT NULL CHECK (status IN ('working', 'out_of_service', 'temporarily_absent', 'removed', 'unknown')),
        manufacturer text,
        model text,
        install_date date,
        battery_expires_on date,
        adult_pads_expires_on date,
        child_pads_expires_on date,
        last_inspected_on date,
        organisation_id uuid REFERENCES organisations (id),
        contact_phone text,
        kiosk_with_first_aid_kit boolean NOT NULL DEFAULT false,
        restock_required boolean NOT NULL DEFAULT false,  -- used in an incident, until an inspection clears it
        expiry_notified_for date,               -- the earliest expiry already announced as coming (once)
        expired_notified_for date,              -- ... and as passed (once)
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        updated_by text NOT NULL
    )""")
    # Public lookup: KNN over the devices that could ever be usable (the rest never need a walk).
    op.execute(
        "CREATE INDEX aeds_lookup ON aeds USING gist (ll_to_earth(lat, lon))"
        " WHERE status = 'working' AND access = 'public' AND NOT restock_required"
    )
    op.execute("CREATE INDEX aeds_district ON aeds (district)")
    op.execute("CREATE INDEX aeds_organisation ON aeds (organisation_id)")
    op.execute("""
    CREATE TABLE aed_hours (
        aed_id uuid NOT NULL REFERENCES aeds (id) ON DELETE CASCADE,
        weekday smallint NOT NULL CHECK (weekday BETWEEN 1 AND 7),  -- ISO: Monday 1 .. Sunday 7
        opens time NOT NULL,
        closes time NOT NULL,                   -- closes <= opens: open past midnight into the next day
        PRIMARY KEY (aed_id, weekday, opens)
    )""")
    op.execute("""
    CREATE TABLE aed_history (
        id bigserial PRIMARY KEY,
        aed_id uuid NOT NULL REFERENCES aeds (id),
        at timestamptz NOT NULL,
        by text NOT NULL,
        action text NOT NULL,
        changes jsonb NOT NULL
    )""")
    op.execute("CREATE INDEX aed_history_device ON aed_history (aed_id, id)")
    op.execute("""
    CREATE TABLE inspections (
        id uuid PRIMARY KEY,
        aed_id uuid NOT NULL REFERENCES aeds (id),
        inspected_on date NOT NULL,
        result text NOT NULL CHECK (result IN ('ok', 'needs_repair')),
        notes text,
        by text NOT NULL,
        at timestamptz NOT NULL
    )""")


def downgrade() -> None:
    for table in ("inspections", "aed_history", "aed_hours", "aeds", "organisation_staff", "organisations"):
        op.execute(f"DROP TABLE {table}")
