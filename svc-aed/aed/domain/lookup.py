"""The public lookup (no token; rate-limited at the gateway): the nearest devices usable now — working,
public, consumables not expired, not waiting for a restock, and open at this moment in Beijing time. And 120's
view of the registry around a point: every registered device, each with why it is not usable now."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from aed.db import devices as repo
from servicekit import geo

BEIJING = ZoneInfo("Asia/Shanghai")


async def nearest(
    session: AsyncSession, point: geo.Point, *, limit: int, radius_m: int, open_now: bool, holidays: set, now: datetime
) -> list[dict]:
    at = _in_beijing(now, holidays)
    found = await repo.nearest_usable(
        session, lat=point.lat, lon=point.lon, radius_m=radius_m, limit=limit, at=at, open_now=open_now
    )
    return [_described(device, at.today) for device in found]


async def around(
    session: AsyncSession, point: geo.Point, *, limit: int, radius_m: int, holidays: set, now: datetime
) -> list[dict]:
    """Every registered device within `radius_m`, nearest first, usable or not (`not_usable_because`)."""
    at = _in_beijing(now, holidays)
    found = await repo.registered_around(session, lat=point.lat, lon=point.lon, radius_m=radius_m, limit=limit, at=at)
    return [{**_described(device, at.today), "usable_now": not device["not_usable_because"]} for device in found]


def _in_beijing(now: datetime, holidays: set) -> repo.Moment:
    local = now.astimezone(BEIJING)
    return repo.Moment(local.date(), local.isoweekday(), local.time().replace(tzinfo=None), local.date() in holidays)


def _described(device: dict, today: date) -> dict:
    """What a caller needs besides the record: the position for Chinese maps, and the consumables' state."""
    gcj = geo.wgs84_to_gcj02(geo.Point(device["lat"], device["lon"]))
    device["gcj02"] = {"lat": round(gcj.lat, 7), "lon": round(gcj.lon, 7), "coord_system": "gcj02"}
    device["child_pads_ok"] = device["child_pads_expires_on"] is not None and device["child_pads_expires_on"] >= today
    device["consumables_unverified"] = device["battery_expires_on"] is None or device["adult_pads_expires_on"] is None
    return device
