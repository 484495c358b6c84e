"""aed: responders on duty, incidents, alerts in waves, assignments, the 120 webhook queue

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Identity's responder role (a valid first-aid certificate), kept from its events.
    op.execute("""
    CREATE TABLE responders (
        person_id uuid PRIMARY KEY,
        active boolean NOT NULL,
        valid_until timestamptz
    )""")
    # Positions of responders on duty: kept only while on duty and fresh; never shown to anyone else.
    op.execute("""
    CREATE TABLE duty (
        person_id uuid PRIMARY KEY,
        lat double precision NOT NULL,
        lon double precision NOT NULL,
        updated_at timestamptz NOT NULL
    )""")
    op.execute("CREATE INDEX duty_position ON duty USING gist (ll_to_earth(lat, lon))")
    op.execute("""
    CREATE TABLE incidents (
        id uuid PRIMARY KEY,
        lat double precision NOT NULL,
        lon double precision NOT NULL,
        address text,                           -- shown only to responders who accepted (and 120, staff)
        note text,
        source text NOT NULL CHECK (source IN ('app', '120')),
        reported_by text NOT NULL,
        dispatch_ref text,                      -- 120's own case number
        state text NOT NULL CHECK (state IN ('open', 'closed')),
        outcome text,
        needed integer NOT NULL,
        wave integer NOT NULL DEFAULT 0,
        next_wave_at timestamptz,
        opened_at timestamptz NOT NULL,
        closed_at timestamptz
    )""")
    op.execute("CREATE INDEX incidents_waves ON incidents (next_wave_at) WHERE state = 'open'")
    op.execute("""
    CREATE TABLE incident_alerts (
        incident_id uuid NOT NULL REFERENCES incidents (id),
        responder_id uuid NOT NULL,
        wave integer NOT NULL,
        distance_m integer NOT NULL,
        status text NOT NULL CHECK (status IN ('sent', 'accepted', 'declined', 'cancelled')),
        role text CHECK (role IN ('fetch_aed', 'direct')),
        aed_id uuid,
        sent_at timestamptz NOT NULL,
        answered_at timestamptz,
        arrived_at timestamptz,
        arrived_with_aed boolean,
        PRIMARY KEY (incident_id, responder_id)      -- a responder never gets the same alert twice
    )""")
    op.execute("CREATE INDEX incident_alerts_responder ON incident_alerts (responder_id, sent_at DESC)")
    # One fetcher per device per incident: the device is locked to the responder sent for it.
    op.execute(
        "CREATE UNIQUE INDEX one_fetcher_per_aed ON incident_alerts (incident_id, aed_id) WHERE aed_id IS NOT NULL"
    )
    op.execute("""
    CREATE TABLE dispatch_updates (
        id bigserial PRIMARY KEY,
        incident_id uuid NOT NULL REFERENCES incidents (id),
        body jsonb NOT NULL,
        created_at timestamptz NOT NULL,
        attempts integer NOT NULL DEFAULT 0,
        next_attempt_at timestamptz NOT NULL,
        delivered_at timestamptz,
        last_error text
    )""")
    op.execute("CREATE INDEX dispatch_updates_due ON dispatch_updates (incident_id, id) WHERE delivered_at IS NULL")


def downgrade() -> None:
    for table in ("dispatch_updates", "incident_alerts", "incidents", "duty", "responders"):
        op.execute(f"DROP TABLE {table}")
