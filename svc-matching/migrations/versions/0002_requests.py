"""matching: catalogue, projections of identity, requests with their history, bookings, attendance, ratings

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

CATEGORIES = (
    "emotional_comfort",
    "assistance",
    "travel_companionship",
    "culture_sports",
    "health_education",
    "legal_aid",
    "training_lectures",
    "fraud_prevention",
)

# City-wide items every district starts with (districts add their own local items).
CITY_ITEMS = [
    ("00000000-0000-4000-8000-0000000c0101", "emotional_comfort", "陪伴聊天", 180, False, 1),
    ("00000000-0000-4000-8000-0000000c0102", "emotional_comfort", "读书读报", 120, False, 1),
    ("00000000-0000-4000-8000-0000000c0201", "assistance", "助餐助洁", 180, False, 1),
    ("00000000-0000-4000-8000-0000000c0202", "assistance", "代购代办", 180, False, 1),
    ("00000000-0000-4000-8000-0000000c0301", "travel_companionship", "陪同就医", 300, False, 1),
    ("00000000-0000-4000-8000-0000000c0401", "culture_sports", "文体活动组织", 240, True, 10),
    ("00000000-0000-4000-8000-0000000c0501", "health_education", "健康知识讲解", 120, True, 3),
    ("00000000-0000-4000-8000-0000000c0601", "legal_aid", "法律咨询", 120, False, 1),
    ("00000000-0000-4000-8000-0000000c0701", "training_lectures", "智能手机使用培训", 180, True, 5),
    ("00000000-0000-4000-8000-0000000c0801", "fraud_prevention", "防范电信网络诈骗指导", 120, True, 3),
]


def upgrade() -> None:
    categories = ", ".join(f"'{c}'" for c in CATEGORIES)
    op.execute(f"""
    CREATE TABLE catalogue_items (
        id uuid PRIMARY KEY,
        category text NOT NULL CHECK (category IN ({categories})),
        district varchar(6),                       -- NULL: a city-wide item
        name text NOT NULL,
        description text,
        max_minutes integer NOT NULL CHECK (max_minutes BETWEEN 15 AND 720),
        group_activity boolean NOT NULL DEFAULT false,
        max_volunteers integer NOT NULL DEFAULT 1 CHECK (max_volunteers BETWEEN 1 AND 50),
        night_service boolean NOT NULL DEFAULT false,  -- documented late-night item (e.g. night care)
        retired_at timestamptz,
        created_by text NOT NULL,
        updated_by text NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now(),
        CHECK (group_activity OR max_volunteers = 1)
    )""")
    op.execute(
        "CREATE UNIQUE INDEX catalogue_item_name ON catalogue_items (coalesce(district, ''), category, name)"
        " WHERE retired_at IS NULL"
    )
    for item_id, category, name, minutes, group, most in CITY_ITEMS:
        op.execute(
            f"INSERT INTO catalogue_items (id, category, name, max_minutes, group_activity, max_volunteers,"
            f" created_by, updated_by) VALUES ('{item_id}', '{category}', '{name}', {minutes}, {group},"
            f" {most}, 'migration', 'migration')"
        )

    # Identity's facts matching decides with (DESIGN.md §1: a local copy kept from events, never a call).
    op.execute("""
    CREATE TABLE people (
        person_id uuid PRIMARY KEY,
        volunteer boolean NOT NULL DEFAULT false,
        elder boolean NOT NULL DEFAULT false,
        district varchar(6),
        special_categories text[] NOT NULL DEFAULT '{}',
        recording_revoked boolean NOT NULL DEFAULT false,  -- a standing sanction: no bookings
        suspended boolean NOT NULL DEFAULT false
    )""")
    op.execute("""
    CREATE TABLE kin_links (
        link_id uuid PRIMARY KEY,
        person_id uuid NOT NULL,
        relative_id uuid NOT NULL,
        revoked boolean NOT NULL DEFAULT false
    )""")
    op.execute("CREATE INDEX kin_links_person ON kin_links (person_id) WHERE NOT revoked")
    op.execute("CREATE INDEX kin_links_relative ON kin_links (relative_id) WHERE NOT revoked")

    op.execute("""
    CREATE TABLE requests (
        id uuid PRIMARY KEY,
        elder_id uuid NOT NULL,
        district varchar(6) NOT NULL,
        category text NOT NULL,
        item_id uuid NOT NULL REFERENCES catalogue_items (id),
        lat double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
        lon double precision NOT NULL CHECK (lon BETWEEN -180 AND 180),
        address_key text NOT NULL,
        address_sealed bytea NOT NULL,             -- AES-GCM; revealed to the parties only
        notes text,
        starts_at timestamptz NOT NULL,
        ends_at timestamptz NOT NULL,
        volunteers_needed integer NOT NULL DEFAULT 1 CHECK (volunteers_needed >= 1),
        estimated_minutes integer NOT NULL CHECK (estimated_minutes > 0),
        priority boolean NOT NULL DEFAULT false,   -- a special elder: first in review and search
        state text NOT NULL CHECK (state IN ('submitted', 'awaiting_review', 'open', 'booked', 'in_progress',
                                             'completed', 'closed')),
        close_reason text,                         -- hold_rejected | review_rejected | cancelled | expired
        close_note text,
        hold_id uuid,
        submitted_by text NOT NULL,
        institution_id uuid,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        completed_at timestamptz,
        false_record_sanction uuid,                -- audit confirmed the record false: it no longer counts
        CHECK (ends_at > starts_at)
    )""")
    # Nearby search: GiST indexes on the earth position of open requests (earthdistance over cube), with the
    # category and start as further columns (btree_gist) so the search's filters are index conditions and
    # a KNN walk fetches only matching rows; special elders' requests have their own, as they rank first.
    op.execute(
        "CREATE INDEX requests_open_nearby ON requests USING gist (ll_to_earth(lat, lon), category, starts_at)"
        " WHERE state = 'open' AND NOT priority"
    )
    op.execute(
        "CREATE INDEX requests_open_nearby_priority ON requests USING gist (ll_to_earth(lat, lon), category,"
        " starts_at) WHERE state = 'open' AND priority"
    )
    op.execute(
        "CREATE INDEX requests_review_queue ON requests (district, priority DESC, created_at)"
        " WHERE state = 'awaiting_review'"
    )
    op.execute("CREATE INDEX requests_elder ON requests (elder_id, created_at DESC)")
    op.execute(
        "CREATE INDEX requests_ending ON requests (ends_at) WHERE state IN ('submitted', 'awaiting_review',"
        " 'open', 'booked', 'in_progress')"
    )
    op.execute("CREATE INDEX requests_completed ON requests (completed_at, id) WHERE state = 'completed'")

    op.execute("""
    CREATE TABLE request_history (
        id bigserial PRIMARY KEY,
        request_id uuid NOT NULL REFERENCES requests (id),
        at timestamptz NOT NULL,
        state text NOT NULL,
        action text NOT NULL,
        actor text NOT NULL,
        acting_for text,
        note text
    )""")
    op.execute("CREATE INDEX request_history_request ON request_history (request_id, id)")

    # A volunteer never holds two overlapping bookings: enforced by the database, whatever the race.
    op.execute("""
    CREATE TABLE bookings (
        id uuid PRIMARY KEY,
        request_id uuid NOT NULL REFERENCES requests (id),
        volunteer_id uuid NOT NULL,
        during tstzrange NOT NULL,
        status text NOT NULL CHECK (status IN ('booked', 'checked_in', 'checked_out', 'cancelled', 'no_show')),
        booked_at timestamptz NOT NULL,
        cancelled_at timestamptz,
        cancelled_by text,
        cancel_reason text,
        late_cancellation boolean NOT NULL DEFAULT false,
        checked_in_at timestamptz,
        check_in_lat double precision,
        check_in_lon double precision,
        check_in_distance_m integer,
        check_in_by text,
        check_in_method text,
        checked_out_at timestamptz,
        check_out_lat double precision,
        check_out_lon double precision,
        check_out_distance_m integer,
        check_out_by text,
        check_out_method text,
        minutes integer,
        institution_id uuid,
        CONSTRAINT no_overlapping_bookings EXCLUDE USING gist (volunteer_id WITH =, during WITH &&)
            WHERE (status IN ('booked', 'checked_in', 'checked_out'))
    )""")
    op.execute(
        "CREATE UNIQUE INDEX one_live_booking_per_volunteer ON bookings (request_id, volunteer_id)"
        " WHERE status NOT IN ('cancelled', 'no_show')"
    )
    op.execute("CREATE INDEX bookings_request ON bookings (request_id)")
    op.execute("CREATE INDEX bookings_volunteer ON bookings (volunteer_id, booked_at DESC)")

    op.execute("""
    CREATE TABLE ratings (
        request_id uuid PRIMARY KEY REFERENCES requests (id),
        score smallint NOT NULL CHECK (score BETWEEN 1 AND 5),
        comment text,
        channel text NOT NULL CHECK (channel IN ('elder', 'institution_phone')),
        rated_by text NOT NULL,
        flagged boolean NOT NULL,
        rated_at timestamptz NOT NULL
    )""")


def downgrade() -> None:
    for table in ("ratings", "bookings", "request_history", "requests", "kin_links", "people", "catalogue_items"):
        op.execute(f"DROP TABLE {table}")
