"""Coverage: devices per 1,000 people against the 2-per-1,000 standard (两台/千人), by district (resident
population) and by school or venue (its headcount), with those below it. Counted: registered devices not
removed (a device out of service still needs replacing, not a new one)."""

from __future__ import annotations

import math

from sqlalchemy.ext.asyncio import AsyncSession

from aed.db import organisations as repo
from contracts.districts import DISTRICTS


async def coverage(session: AsyncSession, *, district: str | None, population: dict[str, int], standard: float) -> dict:
    by_district = await repo.devices_by_district(session, district)
    districts = []
    for code in [district] if district else list(DISTRICTS):
        people = population.get(code, 0)
        devices = by_district.get(code, 0)
        per_1000 = round(devices / people * 1000, 4) if people else None
        districts.append(
            {
                "district": code,
                "name": DISTRICTS[code],
                "devices": devices,
                "population": people,
                "per_1000": per_1000,
                "needed_for_standard": max(0, math.ceil(people * standard / 1000) - devices),
                "below_standard": per_1000 is not None and per_1000 < standard,
            }
        )
    organisations = []
    for row in await repo.with_device_counts(session, district):
        per_1000 = round(row["devices"] / row["headcount"] * 1000, 4) if row["headcount"] else None
        organisations.append(
            {
                **row,
                "per_1000": per_1000,
                "needed_for_standard": max(0, math.ceil(row["headcount"] * standard / 1000) - row["devices"]),
                "below_standard": per_1000 is not None and per_1000 < standard,
            }
        )
    return {
        "standard_per_1000": standard,
        "districts": districts,
        "organisations": organisations,
        "districts_below": [d["district"] for d in districts if d["below_standard"]],
        "organisations_below": [o["id"] for o in organisations if o["below_standard"]],
    }
