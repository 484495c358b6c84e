"""Queries on devices, their hours and history."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any, Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.ids import new_id

COLUMNS = [
    "id",
    "serial",
    "name",
    "lat",
    "lon",
    "address",
    "district",
    "indoor",
    "floor",
    "access_directions",
    "access",
    "opening_hours",
    "always_open",
    "closed_on_holidays",
    "season_from",
    "season_until",
    "closures",
    "status",
    "manufacturer",
    "model",
    "install_date",
    "battery_expires_on",
    "adult_pads_expires_on",
    "child_pads_expires_on",
    "last_inspected_on",
    "organisation_id",
    "contact_phone",
    "kiosk_with_first_aid_kit",
    "restock_required",
    "created_at",
    "updated_at",
    "updated_by",
]
_SELECT = ", ".join(f"a.{c}" for c in COLUMNS)


async def get(session: AsyncSession, aed_id: uuid.UUID, *, lock: bool = False) -> dict | None:
    row = (
        (
            await session.execute(
                text(f"SELECT {_SELECT} FROM aeds a WHERE a.id = :id" + (" FOR UPDATE" if lock else "")), {"id": aed_id}
            )
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


async def by_serials(session: AsyncSession, serials: list[str]) -> dict[str, dict]:
    rows = (
        (
            await session.execute(
                text(f"SELECT {_SELECT} FROM aeds a WHERE a.serial = ANY(:s) FOR UPDATE"), {"s": serials}
            )
        )
        .mappings()
        .all()
    )
    return {r["serial"]: dict(r) for r in rows}


async def by_ids(session: AsyncSession, ids: list[uuid.UUID]) -> dict[uuid.UUID, dict]:
    rows = (
        (await session.execute(text(f"SELECT {_SELECT} FROM aeds a WHERE a.id = ANY(:ids)"), {"ids": ids}))
        .mappings()
        .all()
    )
    return {r["id"]: dict(r) for r in rows}


async def insert_many(session: AsyncSession, devices: list[dict[str, Any]]) -> None:
    """One executemany per set of columns given (a whole import is usually one)."""
    for fields, group in _by_columns(devices).items():
        await session.execute(
            text(f"INSERT INTO aeds ({', '.join(fields)}) VALUES ({', '.join(':' + f for f in fields)})"), group
        )


async def update_many(session: AsyncSession, changes: list[tuple[uuid.UUID, dict[str, Any]]]) -> None:
    """Each device its own changes; one executemany per set of columns changed."""
    for fields, group in _by_columns([{**values, "id": aed_id} for aed_id, values in changes if values]).items():
        assignments = ", ".join(f"{k} = :{k}" for k in fields if k != "id")
        await session.execute(text(f"UPDATE aeds SET {assignments} WHERE id = :id"), group)


def _by_columns(rows: list[dict[str, Any]]) -> dict[tuple[str, ...], list[dict[str, Any]]]:
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(c for c in COLUMNS if c in row), []).append(row)
    return groups


class _Interval(Protocol):
    @property
    def weekday(self) -> int: ...
    @property
    def opens(self) -> time: ...
    @property
    def closes(self) -> time: ...


class WeeklyHours(Protocol):
    """What is stored of a device's opening hours (aed.domain.hours.OpeningHours): its weekly intervals."""

    @property
    def intervals(self) -> Sequence[_Interval]: ...


async def set_hours_many(session: AsyncSession, hours: Mapping[uuid.UUID, WeeklyHours]) -> None:
    """Replace the weekly intervals of each device given."""
    if not hours:
        return
    await session.execute(text("DELETE FROM aed_hours WHERE aed_id = ANY(:ids)"), {"ids": list(hours)})
    rows = [(aed_id, i) for aed_id, h in hours.items() for i in h.intervals]
    if rows:
        await session.execute(
            text(
                "INSERT INTO aed_hours (aed_id, weekday, opens, closes) SELECT a, w, o, c FROM unnest("
                "CAST(:a AS uuid[]), CAST(:w AS smallint[]), CAST(:o AS time[]), CAST(:c AS time[])) AS t(a, w, o, c)"
            ),
            {
                "a": [a for a, _ in rows],
                "w": [i.weekday for _, i in rows],
                "o": [i.opens for _, i in rows],
                "c": [i.closes for _, i in rows],
            },
        )


async def add_history_many(
    session: AsyncSession, entries: list[tuple[uuid.UUID, dict[str, Any]]], *, at: datetime, by: str, action: str
) -> None:
    """One history entry (device, changes) each, all by one person at one time for one reason."""
    if entries:
        await session.execute(
            text(
                "INSERT INTO aed_history (aed_id, at, by, action, changes) SELECT a, :at, :by, :act, CAST(c AS jsonb)"
                " FROM unnest(CAST(:a AS uuid[]), CAST(:c AS text[])) WITH ORDINALITY AS t(a, c, n) ORDER BY n"
            ),
            {
                "a": [a for a, _ in entries],
                "at": at,
                "by": by,
                "act": action,
                "c": [json.dumps(changes, ensure_ascii=False, default=str) for _, changes in entries],
            },
        )


async def history(session: AsyncSession, aed_id: uuid.UUID) -> list[dict]:
    rows = (
        (
            await session.execute(
                text("SELECT at, by, action, changes FROM aed_history WHERE aed_id = :a ORDER BY id"), {"a": aed_id}
            )
        )
        .mappings()
        .all()
    )
    return [dict(r) for r in rows]


# A device is usable now: working, public, not waiting for a restock, battery and adult pads not expired
# (unknown dates are not expired: the record says so), and open at this moment in Beijing time — 24/7, or
# inside one of today's intervals, or still inside yesterday's interval that runs past midnight — and not on
# a closure day, a public holiday it closes on, or out of its season.
# Open at this moment in Beijing time (:today, :dow, :yesterday, :t, :holiday): 24/7, inside today's hours or
# yesterday's that run past midnight, not a closure day, a holiday it closes on, or out of season.
OPEN_NOW = """
    (a.always_open OR EXISTS (SELECT 1 FROM aed_hours h WHERE h.aed_id = a.id AND (
        (h.weekday = :dow AND h.opens <= :t AND (h.closes > :t OR h.closes <= h.opens))
        OR (h.weekday = :yesterday AND h.closes <= h.opens AND h.closes > :t))))
    AND NOT (:today = ANY(a.closures))
    AND NOT (a.closed_on_holidays AND :holiday)
    AND (a.season_from IS NULL OR :today >= a.season_from)
    AND (a.season_until IS NULL OR :today <= a.season_until)
"""
USABLE_NOW = f"""
    a.status = 'working' AND a.access = 'public' AND NOT a.restock_required
    AND (a.battery_expires_on IS NULL OR a.battery_expires_on >= :today)
    AND (a.adult_pads_expires_on IS NULL OR a.adult_pads_expires_on >= :today)
    AND (NOT :open_now OR ({OPEN_NOW}))
"""
# Why a registered device is not usable now: each reason and when it holds (together, the negation of USABLE_NOW
# with :open_now).
NOT_USABLE_BECAUSE = {
    "not_working": "a.status <> 'working'",
    "not_public": "a.access <> 'public'",
    "restock_required": "a.restock_required",
    "battery_expired": "a.battery_expires_on < :today",
    "adult_pads_expired": "a.adult_pads_expires_on < :today",
    "closed_now": f"NOT ({OPEN_NOW})",
}
_NEAREST = text(f"""
SELECT {_SELECT}, earth_distance(ll_to_earth(:lat, :lon), ll_to_earth(a.lat, a.lon)) AS distance_m
FROM aeds a
WHERE earth_box(ll_to_earth(:lat, :lon), :radius) @> ll_to_earth(a.lat, a.lon)
  AND earth_distance(ll_to_earth(:lat, :lon), ll_to_earth(a.lat, a.lon)) <= :radius
  AND {USABLE_NOW}
ORDER BY ll_to_earth(a.lat, a.lon) <-> ll_to_earth(:lat, :lon)
LIMIT :limit
""")
_NO_BITMAP = text("SET LOCAL enable_bitmapscan = off")
_REASONS = ", ".join(f"CASE WHEN {when} THEN '{why}' END" for why, when in NOT_USABLE_BECAUSE.items())
_AROUND = text(f"""
SELECT {_SELECT}, earth_distance(ll_to_earth(:lat, :lon), ll_to_earth(a.lat, a.lon)) AS distance_m,
       array_remove(ARRAY[{_REASONS}], NULL) AS not_usable_because
FROM aeds a
WHERE a.status <> 'removed'
  AND earth_box(ll_to_earth(:lat, :lon), :radius) @> ll_to_earth(a.lat, a.lon)
  AND earth_distance(ll_to_earth(:lat, :lon), ll_to_earth(a.lat, a.lon)) <= :radius
ORDER BY ll_to_earth(a.lat, a.lon) <-> ll_to_earth(:lat, :lon)
LIMIT :limit
""")


@dataclass(frozen=True)
class Moment:
    """A moment in Beijing time, as the opening-hours test (OPEN_NOW) reads it."""

    today: date
    weekday: int  # ISO: Monday 1
    time: time
    holiday: bool

    def params(self) -> dict:
        yesterday = 7 if self.weekday == 1 else self.weekday - 1
        return {
            "today": self.today,
            "dow": self.weekday,
            "yesterday": yesterday,
            "t": self.time,
            "holiday": self.holiday,
        }


async def nearest_usable(
    session: AsyncSession, *, lat: float, lon: float, radius_m: int, limit: int, at: Moment, open_now: bool
) -> list[dict]:
    """KNN walk of the lookup index (devices that could be usable); the rest of the test as its filter.
    Bitmap scans are ruled out: the planner cannot size a cube box and would fetch and sort all of it."""
    return await _walk(session, _NEAREST, lat=lat, lon=lon, radius_m=radius_m, limit=limit, at=at, open_now=open_now)


async def registered_around(
    session: AsyncSession, *, lat: float, lon: float, radius_m: int, limit: int, at: Moment
) -> list[dict]:
    """Every device not removed within `radius_m`, nearest first, each with why it is not usable now (empty:
    usable). A KNN walk of the registered-devices index."""
    return await _walk(session, _AROUND, lat=lat, lon=lon, radius_m=radius_m, limit=limit, at=at)


async def _walk(
    session: AsyncSession, query, *, lat: float, lon: float, radius_m: int, limit: int, at: Moment, **more
) -> list[dict]:
    await session.execute(_NO_BITMAP)
    place = {"lat": lat, "lon": lon, "radius": radius_m, "limit": limit}
    rows = await session.execute(query, {**place, **at.params(), **more})
    return [dict(r) for r in rows.mappings()]


async def add_inspection(
    session: AsyncSession,
    aed_id: uuid.UUID,
    *,
    inspected_on: date,
    result: str,
    notes: str | None,
    by: str,
    at: datetime,
) -> None:
    await session.execute(
        text(
            "INSERT INTO inspections (id, aed_id, inspected_on, result, notes, by, at) VALUES (:i, :a, :d, :r, :n, :by, :at)"
        ),
        {"i": new_id(), "a": aed_id, "d": inspected_on, "r": result, "n": notes, "by": by, "at": at},
    )


_EXPIRING = text("""
SELECT id, district, organisation_id, battery_expires_on, adult_pads_expires_on, child_pads_expires_on,
       least(battery_expires_on, adult_pads_expires_on, child_pads_expires_on) AS earliest
FROM aeds
WHERE status <> 'removed'
  AND least(battery_expires_on, adult_pads_expires_on, child_pads_expires_on) <= :horizon
  AND (expiry_notified_for IS DISTINCT FROM least(battery_expires_on, adult_pads_expires_on, child_pads_expires_on)
       OR (least(battery_expires_on, adult_pads_expires_on, child_pads_expires_on) < :today
           AND expired_notified_for IS DISTINCT FROM least(battery_expires_on, adult_pads_expires_on, child_pads_expires_on)))
FOR UPDATE SKIP LOCKED
""")


async def expiring(session: AsyncSession, *, horizon: date, today: date) -> list[dict]:
    """Devices with a consumable expiring by `horizon` not yet announced for that date (or, once it has
    passed, not yet announced as expired); locked, so replicas share them."""
    return [dict(row) for row in (await session.execute(_EXPIRING, {"horizon": horizon, "today": today})).mappings()]


async def mark_expiry_announced(session: AsyncSession, aed_id: uuid.UUID, earliest: date, *, today: date) -> None:
    await session.execute(
        text(
            "UPDATE aeds SET expiry_notified_for = :d,"
            " expired_notified_for = CASE WHEN CAST(:d AS date) < CAST(:today AS date) THEN CAST(:d AS date)"
            " ELSE expired_notified_for END WHERE id = :i"
        ),
        {"d": earliest, "today": today, "i": aed_id},
    )
