"""Coverage: devices per 1,000 people against the 2-per-1,000 standard (两台/千人), by district (resident
population) and by school or venue (its headcount), with those below it. Counted: registered devices not
removed (a device out of service still needs replacing, not a new one)."""
from __future__ import annotations

import math

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.districts import DISTRICTS


async def coverage(session: AsyncSession, *, district: str | None, population: dict[str, int], standard: float) -> dict:
    by_district = dict((await session.execute(text(
        "SELECT district, count(*) FROM aeds WHERE status <> 'removed' AND (CAST(:d AS text) IS NULL OR district = :d)"
        " GROUP BY district"), {"d": district})).all())
    districts = []
    for code in ([district] if district else list(DISTRICTS)):
        people = population.get(code, 0)
        devices = by_district.get(code, 0)
        per_1000 = round(devices / people * 1000, 4) if people else None
        districts.append({"district": code, "name": DISTRICTS[code], "devices": devices, "population": people,
                          "per_1000": per_1000, "needed_for_standard": max(0, math.ceil(people * standard / 1000) - devices),
                          "below_standard": per_1000 is not None and per_1000 < standard})
    rows = (await session.execute(text("""
        SELECT o.id, o.name, o.kind, o.district, o.headcount, count(a.id) FILTER (WHERE a.status <> 'removed') AS devices
        FROM organisations o LEFT JOIN aeds a ON a.organisation_id = o.id
        WHERE CAST(:d AS text) IS NULL OR o.district = :d
        GROUP BY o.id ORDER BY o.district, o.name"""), {"d": district})).mappings().all()
    organisations = []
    for row in rows:
        per_1000 = round(row["devices"] / row["headcount"] * 1000, 4) if row["headcount"] else None
        organisations.append({**dict(row), "per_1000": per_1000,
                              "needed_for_standard": max(0, math.ceil(row["headcount"] * standard / 1000) - row["devices"]),
                              "below_standard": per_1000 is not None and per_1000 < standard})
    return {"standard_per_1000": standard, "districts": districts, "organisations": organisations,
            "districts_below": [d["district"] for d in districts if d["below_standard"]],
            "organisations_below": [o["id"] for o in organisations if o["below_standard"]]}
