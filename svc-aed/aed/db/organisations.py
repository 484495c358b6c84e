"""Queries on owner organisations, their staff, and coverage counts."""

from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


async def insert(session: AsyncSession, organisation: dict) -> bool:
    """False when the district already has an organisation of that name."""
    return (
        await session.execute(
            text(
                "INSERT INTO organisations (id, name, kind, district, headcount, created_by)"
                " VALUES (:id, :name, :kind, :district, :headcount, :created_by) ON CONFLICT DO NOTHING RETURNING id"
            ),
            organisation,
        )
    ).first() is not None


async def get(session: AsyncSession, organisation_id: uuid.UUID) -> dict | None:
    row = (
        (
            await session.execute(
                text("SELECT id, name, kind, district, headcount FROM organisations WHERE id = :i"),
                {"i": organisation_id},
            )
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


async def districts_of(session: AsyncSession, organisation_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not organisation_ids:
        return {}
    rows = await session.execute(
        text("SELECT id, district FROM organisations WHERE id = ANY(:o)"), {"o": organisation_ids}
    )
    return {row.id: row.district for row in rows}


async def add_staff(session: AsyncSession, organisation_id: uuid.UUID, staff_id: str, *, added_by: str) -> None:
    await session.execute(
        text(
            "INSERT INTO organisation_staff (staff_id, organisation_id, added_by) VALUES (:s, :o, :by) ON CONFLICT DO NOTHING"
        ),
        {"s": staff_id, "o": organisation_id, "by": added_by},
    )


async def is_staff(session: AsyncSession, staff_id: str, organisation_id: uuid.UUID) -> bool:
    return (
        await session.execute(
            text("SELECT EXISTS (SELECT 1 FROM organisation_staff WHERE staff_id = :s AND organisation_id = :o)"),
            {"s": staff_id, "o": organisation_id},
        )
    ).scalar_one()


async def devices_by_district(session: AsyncSession, district: str | None) -> dict[str, int]:
    """Registered devices not removed (one out of service still needs replacing, not a new one)."""
    rows = await session.execute(
        text(
            "SELECT district, count(*) AS devices FROM aeds"
            " WHERE status <> 'removed' AND (CAST(:d AS text) IS NULL OR district = :d) GROUP BY district"
        ),
        {"d": district},
    )
    return {row.district: row.devices for row in rows}


async def with_device_counts(session: AsyncSession, district: str | None) -> list[dict]:
    rows = (
        (
            await session.execute(
                text("""
        SELECT o.id, o.name, o.kind, o.district, o.headcount, count(a.id) FILTER (WHERE a.status <> 'removed') AS devices
        FROM organisations o LEFT JOIN aeds a ON a.organisation_id = o.id
        WHERE CAST(:d AS text) IS NULL OR o.district = :d
        GROUP BY o.id ORDER BY o.district, o.name"""),
                {"d": district},
            )
        )
        .mappings()
        .all()
    )
    return [dict(row) for row in rows]
