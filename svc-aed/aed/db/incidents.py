"""Queries on responders, duty positions, incidents and their alerts.

Lock order: an incident's row (`incident(..., lock=True)`), then its alerts. Every change to an alert takes its
incident first, so two writers of one incident (an answer, a cancel, a delivery report) queue at the incident
instead of each holding one alert the other needs; the unseen-SMS round, which spans incidents, skips alerts in
use rather than waiting for them."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.db import rowcount
from servicekit.pagination import PageRequest, keyset_text

log = logging.getLogger(__name__)


# The records of the SOS path, as the queries below read them.
@dataclass(frozen=True, slots=True)
class Incident:
    id: uuid.UUID
    lat: float
    lon: float
    district: str | None
    address: str | None
    note: str | None
    source: str  # app or 120
    reported_by: str
    dispatch_ref: str | None
    state: str  # open or closed
    outcome: str | None
    needed: int  # responders it needs
    wave: int  # alert waves sent so far
    next_wave_at: datetime | None
    opened_at: datetime
    closed_at: datetime | None


@dataclass(frozen=True, slots=True)
class Alert:
    """One responder's part in an incident."""

    responder_id: uuid.UUID
    wave: int
    distance_m: int
    status: str  # sent, accepted, declined, cancelled, withdrawn
    role: str | None  # fetch_aed or direct, once accepted
    aed_id: uuid.UUID | None
    sent_at: datetime
    answered_at: datetime | None
    arrived_at: datetime | None
    arrived_with_aed: bool | None
    delivered_at: datetime | None
    delivered_by: list[str]
    seen_at: datetime | None
    resent_at: datetime | None
    eta_at: datetime | None


@dataclass(frozen=True, slots=True)
class NearbyResponder:
    person_id: uuid.UUID
    distance_m: float


@dataclass(frozen=True, slots=True)
class DutyPosition:
    """Where an on-duty responder last said they were."""

    lat: float
    lon: float
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class AlertOfMine:
    """An alert with its incident, as a responder's list holds it."""

    incident: Incident
    alert: Alert

    @property
    def sent_at(self) -> datetime:
        return self.alert.sent_at

    @property
    def incident_id(self) -> uuid.UUID:
        return self.incident.id


@dataclass(frozen=True, slots=True)
class UnseenAlert:
    incident_id: uuid.UUID
    responder_id: uuid.UUID
    distance_m: int


def _columns(record: type, prefix: str = "") -> str:
    return ", ".join(f"{prefix}{f.name}" for f in fields(record))


async def record_role(
    session: AsyncSession, person_id: uuid.UUID, *, active: bool, valid_until: datetime | None
) -> None:
    await session.execute(
        text(
            "INSERT INTO responders VALUES (:p, :a, :v) ON CONFLICT (person_id) DO UPDATE SET active = :a,"
            " valid_until = CASE WHEN :a THEN CAST(:v AS timestamptz) ELSE responders.valid_until END"
        ),
        {"p": person_id, "a": active, "v": valid_until},
    )
    if not active:
        await session.execute(text("DELETE FROM duty WHERE person_id = :p"), {"p": person_id})


async def certified(session: AsyncSession, person_id: uuid.UUID, now: datetime) -> bool:
    return (
        await session.execute(
            text(
                "SELECT EXISTS (SELECT 1 FROM responders WHERE person_id = :p AND active"
                " AND (valid_until IS NULL OR valid_until > :now))"
            ),
            {"p": person_id, "now": now},
        )
    ).scalar_one()


async def go_on_duty(session: AsyncSession, person_id: uuid.UUID, lat: float, lon: float, now: datetime) -> None:
    await session.execute(
        text(
            "INSERT INTO duty VALUES (:p, :lat, :lon, :now) ON CONFLICT (person_id) DO UPDATE SET lat = :lat, lon = :lon,"
            " updated_at = :now"
        ),
        {"p": person_id, "lat": lat, "lon": lon, "now": now},
    )


async def go_off_duty(session: AsyncSession, person_id: uuid.UUID) -> None:
    await session.execute(text("DELETE FROM duty WHERE person_id = :p"), {"p": person_id})


async def drop_stale_positions(session: AsyncSession, older_than: datetime) -> int:
    return rowcount(await session.execute(text("DELETE FROM duty WHERE updated_at < :t"), {"t": older_than}))


_NEAREST_RESPONDERS = text("""
SELECT d.person_id, earth_distance(ll_to_earth(:lat, :lon), ll_to_earth(d.lat, d.lon)) AS distance_m
FROM duty d JOIN responders r ON r.person_id = d.person_id
WHERE earth_box(ll_to_earth(:lat, :lon), :radius) @> ll_to_earth(d.lat, d.lon)
  AND earth_distance(ll_to_earth(:lat, :lon), ll_to_earth(d.lat, d.lon)) <= :radius
  AND d.updated_at >= :fresh_since
  AND r.active AND (r.valid_until IS NULL OR r.valid_until > :now)
  AND CAST(d.person_id AS text) <> :reporter
  AND NOT EXISTS (SELECT 1 FROM incident_alerts a WHERE a.incident_id = :incident AND a.responder_id = d.person_id)
ORDER BY ll_to_earth(d.lat, d.lon) <-> ll_to_earth(:lat, :lon)
LIMIT :limit
""")


_RESPONDERS_NEARBY = text("""
SELECT count(*)
FROM duty d JOIN responders r ON r.person_id = d.person_id
WHERE earth_box(ll_to_earth(:lat, :lon), :radius) @> ll_to_earth(d.lat, d.lon)
  AND earth_distance(ll_to_earth(:lat, :lon), ll_to_earth(d.lat, d.lon)) <= :radius
  AND d.updated_at >= :fresh_since
  AND r.active AND (r.valid_until IS NULL OR r.valid_until > :now)
  AND CAST(d.person_id AS text) <> :reporter
""")


def _around(incident: Incident, radius_m: int, fresh_since: datetime, now: datetime) -> dict:
    """The parameters of both responder queries: who is on duty within the radius, the reporter aside."""
    return {
        "lat": incident.lat,
        "lon": incident.lon,
        "radius": radius_m,
        "fresh_since": fresh_since,
        "now": now,
        "reporter": incident.reported_by,
    }


async def count_responders_nearby(
    session: AsyncSession, *, incident: Incident, radius_m: int, fresh_since: datetime, now: datetime
) -> int:
    """On-duty responders with a valid certificate and a fresh position within the radius (the reporter aside)."""
    return (await session.execute(_RESPONDERS_NEARBY, _around(incident, radius_m, fresh_since, now))).scalar_one()


async def nearest_responders(
    session: AsyncSession, *, incident: Incident, radius_m: int, fresh_since: datetime, now: datetime, limit: int
) -> list[NearbyResponder]:
    """On-duty responders with a valid certificate and a fresh position, nearest first, not alerted yet."""
    rows = await session.execute(
        _NEAREST_RESPONDERS, _around(incident, radius_m, fresh_since, now) | {"incident": incident.id, "limit": limit}
    )
    return [NearbyResponder(*row) for row in rows]


async def duty_of(session: AsyncSession, person_id: uuid.UUID) -> DutyPosition | None:
    """The responder's last reported position while on duty, if on duty."""
    row = (
        await session.execute(text("SELECT lat, lon, updated_at FROM duty WHERE person_id = :p"), {"p": person_id})
    ).first()
    return DutyPosition(*row) if row else None


async def insert_incident(session: AsyncSession, incident: Incident) -> None:
    names = [f.name for f in fields(Incident)]
    await session.execute(
        text(f"INSERT INTO incidents ({', '.join(names)}) VALUES ({', '.join(':' + n for n in names)})"),
        {n: getattr(incident, n) for n in names},
    )


async def incident(session: AsyncSession, incident_id: uuid.UUID, *, lock: bool = False) -> Incident | None:
    row = (
        await session.execute(
            text(f"SELECT {_columns(Incident)} FROM incidents WHERE id = :i" + (" FOR UPDATE" if lock else "")),
            {"i": incident_id},
        )
    ).first()
    return Incident(*row) if row else None


async def open_incidents(session: AsyncSession, *, district: str | None) -> list[Incident]:
    """Open incidents, newest first; in one district, or (None) everywhere."""
    rows = await session.execute(
        text(
            f"SELECT {_columns(Incident)} FROM incidents WHERE state = 'open'"
            " AND (CAST(:d AS text) IS NULL OR district = :d) ORDER BY opened_at DESC"
        ),
        {"d": district},
    )
    return [Incident(*row) for row in rows]


async def undelivered_dispatch_updates(session: AsyncSession, incident_id: uuid.UUID) -> int:
    query = "SELECT count(*) FROM dispatch_updates WHERE incident_id = :i AND delivered_at IS NULL"
    return (await session.execute(text(query), {"i": incident_id})).scalar_one()


BOARD_CHANNEL = "incident_board"


async def announce_change(session: AsyncSession, incident_id: uuid.UUID) -> None:
    """Tell every open incidents board (domain/board.py) that the incident changed; PostgreSQL delivers the
    notification when, and only if, the transaction commits."""
    await session.execute(text("SELECT pg_notify(:channel, :i)"), {"channel": BOARD_CHANNEL, "i": str(incident_id)})


async def listen_for_changes(
    dsn: str, heard: Callable[[str], None], *, connected: Callable[[], None], check_every_s: float = 15
) -> None:
    """Hear every announced change (`heard` gets the incident id) on one LISTEN connection of its own, until
    cancelled; `connected` runs each time listening (re)starts, since changes made meanwhile went unheard. A
    dead connection shows itself on the next statement and is reopened."""
    while True:
        try:
            connection = await asyncpg.connect(dsn)
            try:
                await connection.add_listener(BOARD_CHANNEL, lambda _c, _pid, _channel, payload: heard(payload))
                connected()
                while True:
                    await asyncio.sleep(check_every_s)
                    await connection.execute("SELECT 1")
            finally:
                await connection.close(timeout=2)
        except asyncio.CancelledError:
            raise
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            log.warning("incident board lost its LISTEN connection", extra={"error": repr(exc)})
            await asyncio.sleep(1)


async def update_incident(session: AsyncSession, incident_id: uuid.UUID, **changes) -> None:
    await session.execute(
        text(f"UPDATE incidents SET {', '.join(f'{k} = :{k}' for k in changes)} WHERE id = :id"),
        {**changes, "id": incident_id},
    )


async def alerts(session: AsyncSession, incident_id: uuid.UUID) -> list[Alert]:
    rows = await session.execute(
        text(f"SELECT {_columns(Alert)} FROM incident_alerts WHERE incident_id = :i ORDER BY wave, distance_m"),
        {"i": incident_id},
    )
    return [Alert(*row) for row in rows]


async def insert_alerts(
    session: AsyncSession, incident_id: uuid.UUID, wave: int, found: list[NearbyResponder], now: datetime
) -> None:
    await session.execute(
        text(
            "INSERT INTO incident_alerts (incident_id, responder_id, wave, distance_m, status, sent_at)"
            " SELECT :i, r, :w, d, 'sent', :now FROM unnest(CAST(:r AS uuid[]), CAST(:d AS integer[])) AS t(r, d)"
            " ON CONFLICT DO NOTHING"
        ),
        {
            "i": incident_id,
            "w": wave,
            "now": now,
            "r": [f.person_id for f in found],
            "d": [round(f.distance_m) for f in found],
        },
    )


async def answer(session: AsyncSession, incident_id: uuid.UUID, responder_id: uuid.UUID, **changes) -> None:
    await session.execute(
        text(
            f"UPDATE incident_alerts SET {', '.join(f'{k} = :{k}' for k in changes)} WHERE incident_id = :i AND responder_id = :r"
        ),
        {**changes, "i": incident_id, "r": responder_id},
    )


async def cancel_pending(session: AsyncSession, incident_id: uuid.UUID, now: datetime) -> list[uuid.UUID]:
    return list(
        (
            await session.execute(
                text(
                    "UPDATE incident_alerts SET status = 'cancelled', answered_at = :now WHERE incident_id = :i AND status = 'sent'"
                    " RETURNING responder_id"
                ),
                {"i": incident_id, "now": now},
            )
        ).scalars()
    )


async def my_alerts(session: AsyncSession, responder_id: uuid.UUID, page: PageRequest) -> list[AlertOfMine]:
    """One page of a responder's alerts, newest first (sent_at, incident id)."""
    after, params = keyset_text(page, "a.sent_at", "a.incident_id")
    rows = await session.execute(
        text(
            f"SELECT {_columns(Incident, 'i.')}, {_columns(Alert, 'a.')}"
            " FROM incident_alerts a JOIN incidents i ON i.id = a.incident_id"
            f" WHERE a.responder_id = :r AND {after} ORDER BY a.sent_at DESC, a.incident_id DESC LIMIT :fetch"
        ),
        {"r": responder_id} | params,
    )
    split = len(fields(Incident))
    return [AlertOfMine(Incident(*row[:split]), Alert(*row[split:])) for row in rows]


async def reported_by(session: AsyncSession, reporter: str, page: PageRequest) -> list[dict]:
    """One page of the incidents someone raised, newest first (opened_at, id), with how many responders accepted."""
    after, params = keyset_text(page, "i.opened_at", "i.id")
    rows = (
        (
            await session.execute(
                text(
                    "SELECT i.id, i.district, i.address, i.note, i.state, i.outcome, i.opened_at, i.closed_at,"
                    " (SELECT count(*) FROM incident_alerts a WHERE a.incident_id = i.id AND a.status = 'accepted') AS accepted"
                    f" FROM incidents i WHERE i.reported_by = :who AND {after} ORDER BY i.opened_at DESC, i.id DESC LIMIT :fetch"
                ),
                {"who": reporter} | params,
            )
        )
        .mappings()
        .all()
    )
    return [dict(r) for r in rows]


async def due_waves(session: AsyncSession, now: datetime) -> list[uuid.UUID]:
    return list(
        (
            await session.execute(
                text(
                    "SELECT id FROM incidents WHERE state = 'open' AND next_wave_at <= :now ORDER BY next_wave_at LIMIT 100"
                ),
                {"now": now},
            )
        ).scalars()
    )


async def alerted_recently(session: AsyncSession, responder_id: uuid.UUID, since: datetime) -> list[uuid.UUID]:
    """The incidents the responder was alerted for since `since` (a delivery report names the person, not the
    incident)."""
    return list(
        (
            await session.execute(
                text("SELECT incident_id FROM incident_alerts WHERE responder_id = :r AND sent_at >= :since"),
                {"r": responder_id, "since": since},
            )
        ).scalars()
    )


async def record_delivery(
    session: AsyncSession, incident_id: uuid.UUID, responder_id: uuid.UUID, channel: str, at: datetime
) -> None:
    await session.execute(
        text(
            "UPDATE incident_alerts SET delivered_at = coalesce(delivered_at, :at),"
            " delivered_by = CASE WHEN :c = ANY(delivered_by) THEN delivered_by ELSE array_append(delivered_by, :c) END"
            " WHERE incident_id = :i AND responder_id = :r"
        ),
        {"i": incident_id, "r": responder_id, "c": channel, "at": at},
    )


async def mark_seen(session: AsyncSession, incident_id: uuid.UUID, responder_id: uuid.UUID, at: datetime) -> bool:
    """The responder opened the alert; False when they were not alerted for the incident."""
    found = await session.execute(
        text(
            "UPDATE incident_alerts SET seen_at = coalesce(seen_at, :at) WHERE incident_id = :i AND responder_id = :r"
            " RETURNING seen_at"
        ),
        {"i": incident_id, "r": responder_id, "at": at},
    )
    return found.first() is not None


async def claim_unseen(session: AsyncSession, delivered_before: datetime, now: datetime) -> list[UnseenAlert]:
    """Alerts of open incidents that WeChat delivered before `delivered_before`, still unanswered and unseen and
    not re-sent: marked re-sent now (locked, so two replicas never text the same responder twice). An alert some
    other transaction holds is being answered or cancelled: it is skipped, not waited for, and the next round
    looks again if it is still unseen."""
    rows = await session.execute(
        text(
            "WITH claimed AS (SELECT a.incident_id, a.responder_id FROM incident_alerts a"
            " JOIN incidents i ON i.id = a.incident_id"
            " WHERE i.state = 'open' AND a.status = 'sent' AND a.seen_at IS NULL AND a.resent_at IS NULL"
            " AND a.delivered_at <= :before AND a.delivered_by = ARRAY['wechat'] FOR UPDATE OF a SKIP LOCKED)"
            " UPDATE incident_alerts a SET resent_at = :now FROM claimed c"
            " WHERE a.incident_id = c.incident_id AND a.responder_id = c.responder_id"
            " RETURNING a.incident_id, a.responder_id, a.distance_m"
        ),
        {"now": now, "before": delivered_before},
    )
    return [UnseenAlert(*row) for row in rows]
