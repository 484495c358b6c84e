"""Queries on requests, their history, bookings and ratings."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.pagination import PageRequest, keyset_text
from servicekit.pii import SealedColumns

LIVE_STATES = ("submitted", "awaiting_review", "open", "booked", "in_progress")
LIVE_BOOKINGS = ("booked", "checked_in", "checked_out")


@dataclass
class Request:
    id: uuid.UUID
    elder_id: uuid.UUID
    district: str
    category: str
    item_id: uuid.UUID
    lat: float
    lon: float
    address_key: str
    address_sealed: bytes
    notes: str | None
    starts_at: datetime
    ends_at: datetime
    volunteers_needed: int
    estimated_minutes: int
    priority: bool
    state: str
    close_reason: str | None
    close_note: str | None
    hold_id: uuid.UUID | None
    submitted_by: str
    institution_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None
    false_record_sanction: uuid.UUID | None = None  # audit confirmed the record false


@dataclass
class Booking:
    id: uuid.UUID
    request_id: uuid.UUID
    volunteer_id: uuid.UUID
    status: str
    booked_at: datetime
    cancelled_at: datetime | None
    cancelled_by: str | None
    cancel_reason: str | None
    late_cancellation: bool
    checked_in_at: datetime | None
    check_in_distance_m: int | None
    check_in_by: str | None
    check_in_method: str | None
    checked_out_at: datetime | None
    check_out_distance_m: int | None
    check_out_by: str | None
    check_out_method: str | None
    minutes: int | None
    institution_id: uuid.UUID | None

    @property
    def live(self) -> bool:
        return self.status in LIVE_BOOKINGS


_REQUEST_COLUMNS = ", ".join(Request.__dataclass_fields__)
_BOOKING_COLUMNS = ", ".join(Booking.__dataclass_fields__)


async def insert(session: AsyncSession, request: Request) -> None:
    fields = list(Request.__dataclass_fields__)
    await session.execute(
        text(f"INSERT INTO requests ({', '.join(fields)}) VALUES ({', '.join(':' + f for f in fields)})"),
        {f: getattr(request, f) for f in fields},
    )


async def get(session: AsyncSession, request_id: uuid.UUID, *, lock: bool = False) -> Request | None:
    row = (
        await session.execute(
            text(f"SELECT {_REQUEST_COLUMNS} FROM requests WHERE id = :id" + (" FOR UPDATE" if lock else "")),
            {"id": request_id},
        )
    ).first()
    return Request(*row) if row else None


async def get_many(session: AsyncSession, request_ids: list[uuid.UUID]) -> dict[uuid.UUID, Request]:
    """The requests, locked in id order (so two batches never wait on each other crosswise)."""
    rows = (
        await session.execute(
            text(f"SELECT {_REQUEST_COLUMNS} FROM requests WHERE id = ANY(:ids) ORDER BY id FOR UPDATE"),
            {"ids": list(set(request_ids))},
        )
    ).all()
    return {row.id: Request(*row) for row in rows}


async def save_states(session: AsyncSession, requests: list[Request], now: datetime) -> None:
    """The requests' state, closing reason, hold and completion, in one statement."""
    for request in requests:
        request.updated_at = now
    await session.execute(
        text(
            "UPDATE requests SET state = u.state, close_reason = u.close_reason, close_note = u.close_note,"
            " hold_id = u.hold_id, completed_at = u.completed_at, updated_at = :now"
            " FROM unnest(CAST(:ids AS uuid[]), CAST(:states AS text[]), CAST(:reasons AS text[]),"
            " CAST(:notes AS text[]), CAST(:holds AS uuid[]), CAST(:completed AS timestamptz[]))"
            " AS u(id, state, close_reason, close_note, hold_id, completed_at) WHERE requests.id = u.id"
        ),
        {
            "ids": [r.id for r in requests],
            "states": [r.state for r in requests],
            "reasons": [r.close_reason for r in requests],
            "notes": [r.close_note for r in requests],
            "holds": [r.hold_id for r in requests],
            "completed": [r.completed_at for r in requests],
            "now": now,
        },
    )


async def add_histories(
    session: AsyncSession, steps: list[tuple[Request, str, str | None]], *, at: datetime, actor: str
) -> None:
    """History rows (request, action, note) in one statement, in the order given."""
    await session.execute(
        text(
            "INSERT INTO request_history (request_id, at, state, action, actor, note)"
            " SELECT r, :at, s, a, :actor, n FROM unnest(CAST(:r AS uuid[]), CAST(:s AS text[]), CAST(:a AS text[]),"
            " CAST(:n AS text[])) WITH ORDINALITY AS h(r, s, a, n, ord) ORDER BY ord"
        ),
        {
            "r": [req.id for req, _, _ in steps],
            "s": [req.state for req, _, _ in steps],
            "a": [action for _, action, _ in steps],
            "n": [note for _, _, note in steps],
            "at": at,
            "actor": actor,
        },
    )


async def save_details(session: AsyncSession, request: Request) -> None:
    """What an edit may change: time, place, notes, and the state it returns to."""
    await session.execute(
        text(
            "UPDATE requests SET starts_at = :starts, ends_at = :ends, lat = :lat, lon = :lon, address_key = :key,"
            " address_sealed = :sealed, notes = :notes, state = :state, updated_at = :at WHERE id = :id"
        ),
        {
            "starts": request.starts_at,
            "ends": request.ends_at,
            "lat": request.lat,
            "lon": request.lon,
            "key": request.address_key,
            "sealed": request.address_sealed,
            "notes": request.notes,
            "state": request.state,
            "at": request.updated_at,
            "id": request.id,
        },
    )


async def save_state(session: AsyncSession, request: Request, now: datetime) -> None:
    await save_states(session, [request], now)


async def add_history(
    session: AsyncSession,
    request: Request,
    *,
    at: datetime,
    action: str,
    actor: str,
    acting_for: str | None = None,
    note: str | None = None,
) -> None:
    await session.execute(
        text(
            "INSERT INTO request_history (request_id, at, state, action, actor, acting_for, note)"
            " VALUES (:r, :at, :s, :a, :actor, :af, :n)"
        ),
        {"r": request.id, "at": at, "s": request.state, "a": action, "actor": actor, "af": acting_for, "n": note},
    )


async def history(session: AsyncSession, request_id: uuid.UUID) -> list[dict]:
    rows = (
        (
            await session.execute(
                text(
                    "SELECT at, state, action, actor, acting_for, note FROM request_history WHERE request_id = :r ORDER BY id"
                ),
                {"r": request_id},
            )
        )
        .mappings()
        .all()
    )
    return [dict(r) for r in rows]


async def bookings(session: AsyncSession, request_id: uuid.UUID) -> list[Booking]:
    rows = (
        await session.execute(
            text(f"SELECT {_BOOKING_COLUMNS} FROM bookings WHERE request_id = :r ORDER BY booked_at"), {"r": request_id}
        )
    ).all()
    return [Booking(*row) for row in rows]


async def insert_booking(
    session: AsyncSession, *, booking_id: uuid.UUID, request: Request, volunteer_id: uuid.UUID, now: datetime
) -> None:
    await session.execute(
        text(
            "INSERT INTO bookings (id, request_id, volunteer_id, during, status, booked_at)"
            " VALUES (:id, :r, :v, tstzrange(:s, :e, '[)'), 'booked', :now)"
        ),
        {
            "id": booking_id,
            "r": request.id,
            "v": volunteer_id,
            "s": request.starts_at,
            "e": request.ends_at,
            "now": now,
        },
    )


async def cancel_booking(
    session: AsyncSession, booking: Booking, *, status: str, at: datetime, by: str, reason: str, late: bool
) -> None:
    await session.execute(
        text(
            "UPDATE bookings SET status = :st, cancelled_at = :at, cancelled_by = :by, cancel_reason = :reason,"
            " late_cancellation = :late WHERE id = :id"
        ),
        {"st": status, "at": at, "by": by, "reason": reason, "late": late, "id": booking.id},
    )


async def record_check_in(
    session: AsyncSession,
    booking: Booking,
    *,
    at: datetime,
    lat: float | None,
    lon: float | None,
    distance_m: int | None,
    by: str,
    method: str,
    institution_id: uuid.UUID | None,
) -> None:
    await session.execute(
        text(
            "UPDATE bookings SET status = 'checked_in', checked_in_at = :at, check_in_lat = :lat, check_in_lon = :lon,"
            " check_in_distance_m = :d, check_in_by = :by, check_in_method = :m,"
            " institution_id = coalesce(institution_id, :inst) WHERE id = :id"
        ),
        {
            "at": at,
            "lat": lat,
            "lon": lon,
            "d": distance_m,
            "by": by,
            "m": method,
            "inst": institution_id,
            "id": booking.id,
        },
    )


async def record_check_out(
    session: AsyncSession,
    booking: Booking,
    *,
    at: datetime,
    lat: float | None,
    lon: float | None,
    distance_m: int | None,
    by: str,
    method: str,
    minutes: int,
    institution_id: uuid.UUID | None,
) -> None:
    await session.execute(
        text(
            "UPDATE bookings SET status = 'checked_out', checked_out_at = :at, check_out_lat = :lat, check_out_lon = :lon,"
            " check_out_distance_m = :d, check_out_by = :by, check_out_method = :m, minutes = :minutes,"
            " institution_id = coalesce(institution_id, :inst) WHERE id = :id"
        ),
        {
            "at": at,
            "lat": lat,
            "lon": lon,
            "d": distance_m,
            "by": by,
            "m": method,
            "minutes": minutes,
            "inst": institution_id,
            "id": booking.id,
        },
    )


async def of_elders(
    session: AsyncSession,
    elders: str,
    *,
    person_id: uuid.UUID,
    state: str | None,
    page: PageRequest,
    district: str | None = None,
) -> list[Request]:
    """One page of the requests of the person as an elder (`elders="self"`) or of the elders they are a
    confirmed direct relative of (`"relatives"`), newest first (created_at, id); within `district` if given."""
    whose = (
        "r.elder_id = :me"
        if elders == "self"
        else "r.elder_id IN (SELECT CASE WHEN k.person_id = :me THEN k.relative_id ELSE k.person_id END FROM kin_links k"
        " WHERE NOT k.revoked AND (k.person_id = :me OR k.relative_id = :me))"
    )
    after, params = keyset_text(page, "r.created_at", "r.id")
    rows = (
        await session.execute(
            text(
                f"SELECT {', '.join('r.' + c for c in Request.__dataclass_fields__)} FROM requests r WHERE {whose}"
                f" AND (CAST(:state AS text) IS NULL OR r.state = :state) AND {after}"
                " AND (CAST(:district AS text) IS NULL OR r.district = :district)"
                " ORDER BY r.created_at DESC, r.id DESC LIMIT :fetch"
            ),
            {"me": person_id, "state": state, "district": district} | params,
        )
    ).all()
    return [Request(*row) for row in rows]


async def booked_page(
    session: AsyncSession, volunteer_id: uuid.UUID, *, state: str | None, page: PageRequest
) -> list[Request]:
    """One page of the requests the volunteer booked (any booking status), latest start first (starts_at, id)."""
    after, params = keyset_text(page, "r.starts_at", "r.id")
    rows = (
        await session.execute(
            text(
                f"SELECT DISTINCT {', '.join('r.' + c for c in Request.__dataclass_fields__)} FROM requests r"
                " JOIN bookings b ON b.request_id = r.id WHERE b.volunteer_id = :v"
                f" AND (CAST(:state AS text) IS NULL OR r.state = :state) AND {after}"
                " ORDER BY r.starts_at DESC, r.id DESC LIMIT :fetch"
            ),
            {"v": volunteer_id, "state": state} | params,
        )
    ).all()
    return [Request(*row) for row in rows]


async def queue(session: AsyncSession, page: PageRequest, *, district: str | None, state: str) -> list[Request]:
    """One page of staff's list: special elders first, then the oldest (the review queue's order): priority
    descending, then (created_at, id) ascending."""
    after = page.after
    rows = (
        await session.execute(
            text(
                f"SELECT {_REQUEST_COLUMNS} FROM requests WHERE state = :s AND (CAST(:d AS text) IS NULL OR district = :d)"
                " AND (CAST(:rank AS int) IS NULL OR priority::int < :rank"
                "      OR (priority::int = :rank AND (created_at, id) > (:at, CAST(:after_id AS uuid))))"
                " ORDER BY priority DESC, created_at, id LIMIT :n"
            ),
            {
                "s": state,
                "d": district,
                "n": page.fetch,
                "rank": after.rank if after else None,
                "at": after.at if after else None,
                "after_id": after.id if after else None,
            },
        )
    ).all()
    return [Request(*row) for row in rows]


_NEARBY_PART = """
(SELECT {columns}, earth_distance(ll_to_earth(:lat, :lon), ll_to_earth(r.lat, r.lon)) AS distance_m
 FROM requests r
 WHERE r.state = 'open' AND {priority}
   AND earth_box(ll_to_earth(:lat, :lon), :radius) @> ll_to_earth(r.lat, r.lon)
   {category} AND r.starts_at >= :from_ AND r.starts_at < :to_
   AND earth_distance(ll_to_earth(:lat, :lon), ll_to_earth(r.lat, r.lon)) <= :radius
   AND r.elder_id <> :me
   AND NOT EXISTS (SELECT 1 FROM kin_links k WHERE NOT k.revoked AND ((k.person_id = :me AND k.relative_id = r.elder_id)
                   OR (k.relative_id = :me AND k.person_id = r.elder_id)))
 ORDER BY ll_to_earth(r.lat, r.lon) <-> ll_to_earth(:lat, :lon)
 LIMIT :limit)
"""


def _nearby_sql(with_category: bool) -> str:
    """Special elders' requests and the others, each the `limit` nearest by a KNN walk of its own GiST index
    (position, category, start: the filters are index conditions, so only matching rows are fetched), then
    merged: special elders first, then nearest, then soonest."""
    columns = ", ".join("r." + c for c in Request.__dataclass_fields__)
    category = "AND r.category = :category" if with_category else ""
    parts = [
        _NEARBY_PART.format(columns=columns, priority=p, category=category) for p in ("r.priority", "NOT r.priority")
    ]
    return f"SELECT * FROM ({parts[0]} UNION ALL {parts[1]}) nearby ORDER BY priority DESC, distance_m, starts_at LIMIT :limit"


_NO_BITMAP = text("SET LOCAL enable_bitmapscan = off")
_NEARBY = {with_category: text(_nearby_sql(with_category)) for with_category in (True, False)}


async def nearby_open(
    session: AsyncSession,
    *,
    lat: float,
    lon: float,
    radius_m: float,
    category: str | None,
    starts_from: datetime,
    starts_before: datetime,
    me: uuid.UUID,
    limit: int,
) -> list[tuple[Request, float]]:
    """Open requests within `radius_m` of the point, special elders first, then nearest, then soonest."""
    params = {
        "lat": lat,
        "lon": lon,
        "radius": radius_m,
        "from_": starts_from,
        "to_": starts_before,
        "me": me,
        "limit": limit,
    }
    if category is not None:
        params["category"] = category
    # The planner cannot estimate how many rows a cube box holds (a fixed guess of a few) and would fetch the
    # whole box in a bitmap scan and sort it — thousands of rows downtown. The KNN index walk stops after
    # `limit` matches, so it is the plan we want whatever the density: rule the bitmap out for this query.
    await session.execute(_NO_BITMAP)
    rows = (await session.execute(_NEARBY[category is not None], params)).all()
    return [(Request(*row[:-1]), float(row[-1])) for row in rows]


async def insert_rating(
    session: AsyncSession,
    *,
    request_id: uuid.UUID,
    score: int,
    comment: str | None,
    channel: str,
    rated_by: str,
    flagged: bool,
    rated_at: datetime,
) -> bool:
    """False when the service was rated already (once per service)."""
    inserted = (
        await session.execute(
            text(
                "INSERT INTO ratings (request_id, score, comment, channel, rated_by, flagged, rated_at)"
                " VALUES (:r, :s, :c, :ch, :by, :f, :at) ON CONFLICT DO NOTHING RETURNING request_id"
            ),
            {"r": request_id, "s": score, "c": comment, "ch": channel, "by": rated_by, "f": flagged, "at": rated_at},
        )
    ).first()
    return inserted is not None


async def rating(session: AsyncSession, request_id: uuid.UUID) -> dict | None:
    row = (
        (
            await session.execute(
                text(
                    "SELECT request_id, score, comment, channel, rated_by, flagged, rated_at FROM ratings WHERE request_id = :r"
                ),
                {"r": request_id},
            )
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


async def booked_by_volunteer(
    session: AsyncSession, volunteer_id: uuid.UUID, *, needing: str | None = None
) -> list[uuid.UUID]:
    """The requests a volunteer is booked on and has not started (only those whose item needs the qualification
    `needing`, if given)."""
    return list(
        (
            await session.execute(
                text(
                    "SELECT b.request_id FROM bookings b"
                    " JOIN requests r ON r.id = b.request_id JOIN catalogue_items i ON i.id = r.item_id"
                    " WHERE b.volunteer_id = :v AND b.status = 'booked'"
                    " AND (CAST(:q AS text) IS NULL OR i.qualification = :q) ORDER BY b.request_id"
                ),
                {"v": volunteer_id, "q": needing},
            )
        ).scalars()
    )


_DUE = text("""
SELECT r.id FROM requests r
WHERE r.state IN ('submitted', 'awaiting_review', 'open', 'booked', 'in_progress')
  AND (r.ends_at <= :now OR (r.starts_at <= :no_show_before AND EXISTS (
        SELECT 1 FROM bookings b WHERE b.request_id = r.id AND b.status = 'booked')))
ORDER BY r.ends_at LIMIT :limit
""")


async def due_for_lifecycle(
    session: AsyncSession, *, now: datetime, no_show_before: datetime, limit: int
) -> list[uuid.UUID]:
    """Live requests whose window has ended, or with a booked volunteer not signed in by `no_show_before`."""
    return list((await session.execute(_DUE, {"now": now, "no_show_before": no_show_before, "limit": limit})).scalars())


async def get_unless_locked(session: AsyncSession, request_id: uuid.UUID) -> Request | None:
    """The request, locked, or None if another worker holds it (replicas share the work)."""
    row = (
        await session.execute(
            text(f"SELECT {_REQUEST_COLUMNS} FROM requests WHERE id = :id FOR UPDATE SKIP LOCKED"), {"id": request_id}
        )
    ).first()
    return Request(*row) if row else None


ERASED = "erased"  # the address key of an address erased with its elder's account
# Where matching keeps personal data sealed: what `reseal-personal-data` rewrites after a key rotation.
SEALED = [SealedColumns("requests", "address_key", "id", {"address_sealed": "address"}, skip=(ERASED,))]


async def unstarted_of_elder(session: AsyncSession, elder_id: uuid.UUID) -> list[uuid.UUID]:
    """The elder's requests nobody has started to serve."""
    return list(
        (
            await session.execute(
                text(
                    "SELECT id FROM requests WHERE elder_id = :e AND state IN ('submitted', 'awaiting_review', 'open', 'booked')"
                    " ORDER BY id"
                ),
                {"e": elder_id},
            )
        ).scalars()
    )


async def erase_elder_data(session: AsyncSession, elder_id: uuid.UUID) -> None:
    """An erased elder's notes and rating comments go; so do the addresses of requests never served (a served
    one's place stays: 志愿北京 claims need the item, place and period on record)."""
    await session.execute(text("UPDATE requests SET notes = NULL WHERE elder_id = :e"), {"e": elder_id})
    await session.execute(
        text(
            "UPDATE requests SET address_key = :erased, address_sealed = '\\x' WHERE elder_id = :e AND state = 'closed'"
            " AND completed_at IS NULL"
        ),
        {"e": elder_id, "erased": ERASED},
    )
    await session.execute(
        text("UPDATE ratings SET comment = NULL WHERE request_id IN (SELECT id FROM requests WHERE elder_id = :e)"),
        {"e": elder_id},
    )
