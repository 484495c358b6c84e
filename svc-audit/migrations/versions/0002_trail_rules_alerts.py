"""audit: hash-chained audit log with checkpoints, facts the fraud rules read, alerts, watchlist, decisions

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
    # Every event of every service, in the order audit consumed them; each record carries the hash of the one
    # before. Append-only: the trigger refuses UPDATE and DELETE (a superuser can still drop it; the chain and
    # the signed checkpoints are what detect that).
    op.execute("""
    CREATE TABLE audit_log (
        seq bigint PRIMARY KEY,
        event_id uuid NOT NULL UNIQUE,
        topic text NOT NULL,
        type text NOT NULL,
        subject text NOT NULL,
        actor text,
        acting_for text,
        occurred_at timestamptz NOT NULL,
        recorded_at timestamptz NOT NULL,
        payload text NOT NULL,             -- the event's data as canonical JSON: what is hashed is what is kept
        prev_hash bytea NOT NULL,
        hash bytea NOT NULL
    )""")
    op.execute("CREATE INDEX audit_log_subject ON audit_log (subject, seq)")
    op.execute("CREATE INDEX audit_log_actor ON audit_log (actor, seq) WHERE actor IS NOT NULL")
    op.execute("CREATE INDEX audit_log_acting_for ON audit_log (acting_for, seq) WHERE acting_for IS NOT NULL")
    op.execute("""
    CREATE FUNCTION audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$""")
    op.execute(
        "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log"
        " FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only()"
    )
    op.execute(
        "CREATE TABLE chain_head (id smallint PRIMARY KEY CHECK (id = 1), seq bigint NOT NULL, hash bytea NOT NULL)"
    )
    op.execute("INSERT INTO chain_head VALUES (1, 0, decode(repeat('00', 32), 'hex'))")
    op.execute("""
    CREATE TABLE checkpoints (
        seq bigint PRIMARY KEY,
        hash bytea NOT NULL,
        signature bytea NOT NULL,           -- HMAC over (seq, hash) with a key the database does not hold
        key_id text NOT NULL,
        created_at timestamptz NOT NULL
    )""")

    # Facts the rules read, kept from the events with the events' own times (replays give the same answers).
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    op.execute("CREATE TABLE people (person_id uuid PRIMARY KEY, district varchar(6))")
    op.execute("""
    CREATE TABLE services (
        request_id uuid NOT NULL,
        volunteer_id uuid NOT NULL,
        elder_id uuid NOT NULL,
        district varchar(6) NOT NULL,
        institution_id uuid,
        night_item boolean NOT NULL,
        checked_in_at timestamptz NOT NULL,
        checked_out_at timestamptz NOT NULL,
        check_in_distance_m integer,
        check_out_distance_m integer,
        check_in_method text NOT NULL,
        check_out_method text NOT NULL,
        recorded_by text NOT NULL,
        minutes integer NOT NULL,
        event_id uuid NOT NULL,
        PRIMARY KEY (request_id, volunteer_id)
    )""")
    op.execute(
        "CREATE INDEX services_volunteer_span ON services USING gist (volunteer_id, tstzrange(checked_in_at, checked_out_at))"
    )
    op.execute("CREATE INDEX services_pair ON services (volunteer_id, elder_id, checked_in_at)")
    op.execute("""
    CREATE TABLE gifts (
        operation_id uuid PRIMARY KEY,
        from_id uuid NOT NULL,
        to_id uuid NOT NULL,
        amount integer NOT NULL,
        at timestamptz NOT NULL,
        event_id uuid NOT NULL
    )""")
    op.execute("CREATE INDEX gifts_from ON gifts (from_id, at)")
    op.execute("CREATE INDEX gifts_to ON gifts (to_id, at)")

    # One alert per rule and pattern key: repeats add evidence to it (sorted sets, so any order of arrival
    # gives the same alert).
    op.execute("""
    CREATE TABLE alerts (
        id uuid PRIMARY KEY,
        rule text NOT NULL,
        key text NOT NULL,
        severity smallint NOT NULL CHECK (severity BETWEEN 1 AND 3),
        status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'confirmed', 'dismissed')),
        district varchar(6),
        people uuid[] NOT NULL,
        institution_id uuid,
        evidence uuid[] NOT NULL,
        request_ids uuid[] NOT NULL,
        first_at timestamptz NOT NULL,
        last_at timestamptz NOT NULL,
        summary text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (rule, key)
    )""")
    op.execute("CREATE INDEX alerts_listing ON alerts (status, district, severity DESC, last_at DESC)")
    op.execute("""
    CREATE TABLE decisions (
        id uuid PRIMARY KEY,
        alert_id uuid NOT NULL REFERENCES alerts (id),
        decision text NOT NULL CHECK (decision IN ('confirm', 'dismiss')),
        note text NOT NULL,
        decided_by text NOT NULL,
        decided_at timestamptz NOT NULL,
        sanction_ids uuid[] NOT NULL DEFAULT '{}'
    )""")
    op.execute("CREATE UNIQUE INDEX one_decision_per_alert ON decisions (alert_id)")
    op.execute("""
    CREATE TABLE watchlist (
        subject_kind text NOT NULL CHECK (subject_kind IN ('person', 'institution')),
        subject_id uuid NOT NULL,
        alert_id uuid NOT NULL REFERENCES alerts (id),
        reason text NOT NULL,
        district varchar(6),
        since timestamptz NOT NULL,
        PRIMARY KEY (subject_kind, subject_id, alert_id)
    )""")


def downgrade() -> None:
    for table in (
        "watchlist",
        "decisions",
        "alerts",
        "gifts",
        "services",
        "people",
        "checkpoints",
        "chain_head",
        "audit_log",
    ):
        op.execute(f"DROP TABLE {table}")
    op.execute("DROP FUNCTION audit_log_is_append_only()")
