"""The registry as staff browse it: devices filtered by district, organisation, status and coming expiry, newest
registrations first (keyset pages)."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.pagination import PageRequest, keyset_text

COLUMNS = (
    "id, serial, name, lat, lon, address, district, indoor, access, opening_hours, status, organisation_id,"
    " battery_expires_on, adult_pads_expires_on, child_pads_expires_on, last_inspected_on, restock_required,"
    " created_at, updated_at"
)


async def devices(
    session: AsyncSession,
    page: PageRequest,
    *,
    district: str | None,
    organisations: list[uuid.UUID] | None,
    status: str | None,
    expiring_by: date | None,
) -> list[dict]:
    """`organisations` None: any owner; a list: only devices of those organisations."""
    condition, params = keyset_text(page, "created_at", "id")
    rows = await session.execute(
        text(
            f"SELECT {COLUMNS} FROM aeds WHERE {condition}"
            " AND (CAST(:district AS text) IS NULL OR district = :district)"
            " AND (CAST(:any_owner AS boolean) OR organisation_id = ANY(CAST(:organisations AS uuid[])))"
            " AND (CAST(:status AS text) IS NULL OR status = :status)"
            " AND (CAST(:status AS text) IS NOT NULL OR status <> 'removed')"
            " AND (CAST(:by AS date) IS NULL OR LEAST(battery_expires_on, adult_pads_expires_on,"
            "      child_pads_expires_on) <= :by)"
            " ORDER BY created_at DESC, id DESC LIMIT :fetch"
        ),
        {
            **params,
            "district": district,
            "any_owner": organisations is None,
            "organisations": organisations or [],
            "status": status,
            "by": expiring_by,
        },
    )
    return [dict(r) for r in rows.mappings()]


async def organisations_of(session: AsyncSession, staff_id: str) -> list[uuid.UUID]:
    rows = await session.execute(
        text("SELECT organisation_id FROM organisation_staff WHERE staff_id = :s"), {"s": staff_id}
    )
    return [r[0] for r in rows]
