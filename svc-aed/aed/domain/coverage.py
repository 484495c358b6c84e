"""Coverage: devices per 1,000 people against the 2-per-1,000 standard (两台/千人), by district (resident
population) and by school or venue (its headcount), with those below it. Counted: registered devices not
removed (a device out of service still needs replacing, not a new one)."""

from __future__ import annotations

import math

from sqlalchemy.ext.asyncio import AsyncSession

from aed.db import organisations as repo
from aed.domain import registry
from contracts.districts import DISTRICTS
from servicekit import exports
from servicekit.auth import Principal
from servicekit.errors import Forbidden

LIST = "aed-coverage"  # the summary's name on the audit trail


def scope(staff: Principal, district: str | None) -> str | None:
    """The district a coverage view covers: the city admin chooses (or sees all), an officer their own only."""
    if staff.has_role("city_admin"):
        return district
    if district is not None and district != staff.district:
        raise Forbidden("只能查看本区", "Only your own district")
    return staff.district


async def coverage(
    session: AsyncSession, staff: Principal, *, district: str | None, population: dict[str, int], standard: float
) -> dict:
    district = scope(staff, district)
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


async def coverage_for_export(
    session: AsyncSession,
    staff: Principal,
    *,
    district: str | None,
    population: dict[str, int],
    standard: float,
    table: str,
    fmt: exports.Format,
) -> list[dict]:
    """One table of the coverage summary (`districts` or `organisations`) for a file; the export is recorded on
    the audit trail like every list's."""
    rows = (await coverage(session, staff, district=district, population=population, standard=standard))[table]
    await registry.record_export(session, staff, LIST, fmt, {"district": district, "table": table}, len(rows))
    return rows
