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
    local = now.astimezone(BEIJING)
    found = await repo.nearest_usable(
        session,
        lat=point.lat,
        lon=point.lon,
        radius_m=radius_m,
        limit=limit,
        today=local.date(),
        weekday=local.isoweekday(),
        now=local.time().replace(tzinfo=None),
        holiday=local.date() in holidays,
        open_now=open_now,
    )
    return [_described(device, local.date()) for device in found]


async def around(
    session: AsyncSession, point: geo.Point, *, limit: int, radius_m: int, holidays: set, now: datetime
) -> list[dict]:
    """Every registered device within `radius_m`, nearest first, usable or not (`not_usable_because`)."""
    local = now.astimezone(BEIJING)
    found = await repo.registered_around(
        session,
        lat=point.lat,
        lon=point.lon,
        radius_m=radius_m,
        limit=limit,
        today=local.date(),
        weekday=local.isoweekday(),
        now=local.time().replace(tzinfo=None),
        holiday=local.date() in holidays,
    )
    return [{**_described(device, local.date()), "usable_now": not device["not_usable_because"]} for device in found]


def _described(device: dict, today: date) -> dict:
    """What a caller needs besides the record: the position for Chinese maps, and the consumables' state."""
    gcj = geo.wgs84_to_gcj02(geo.Point(device["lat"], device["lon"]))
    device["gcj02"] = {"lat": round(gcj.lat, 7), "lon": round(gcj.lon, 7), "coord_system": "gcj02"}
    device["child_pads_ok"] = device["child_pads_expires_on"] is not None and device["child_pads_expires_on"] >= today
    device["consumables_unverified"] = device["battery_expires_on"] is None or device["adult_pads_expires_on"] is None
    return device
