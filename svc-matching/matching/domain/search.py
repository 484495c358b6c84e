"""Nearby search (就近就便) for eligible volunteers, done by the database's spatial index."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from matching.db import requests as repo
from matching.db.requests import Request
from matching.domain.bookings import eligible_volunteer
from matching.domain.callers import CITY_WIDE_STAFF
from matching.domain.errors import OutsideDistrict
from servicekit import geo
from servicekit.auth import Principal


async def nearby(
    session: AsyncSession,
    principal: Principal,
    *,
    point: geo.Point,
    radius_m: int,
    category: str | None,
    starts_from: datetime,
    starts_before: datetime,
    limit: int,
) -> list[tuple[Request, float]]:
    """Open requests within the radius, special elders first, then nearest, then soonest; never the
    volunteer's own or a direct relative's."""
    volunteer_id = await eligible_volunteer(session, principal)
    return await repo.nearby_open(
        session,
        lat=point.lat,
        lon=point.lon,
        radius_m=radius_m,
        category=category,
        starts_from=starts_from,
        starts_before=starts_before,
        me=volunteer_id,
        limit=limit,
    )


def staff_district(principal: Principal, district: str | None) -> str | None:
    """The district a staff list covers: city-wide staff choose (or see all); others their own only."""
    if principal.has_role(*CITY_WIDE_STAFF):
        return district
    if principal.district is None or (district is not None and district != principal.district):
        raise OutsideDistrict("只能查看本区的需求", "Only your own district's requests")
    return principal.district
