"""Queries on the service catalogue."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True)
class Item:
    id: uuid.UUID
    category: str
    district: str | None
    name: str
    description: str | None
    max_minutes: int
    group_activity: bool
    max_volunteers: int
    night_service: bool
    retired_at: datetime | None
    qualification: str | None  # the professional qualification a volunteer needs to book it

    def offered_in(self, district: str) -> bool:
        return self.retired_at is None and self.district in (None, district)


_COLUMNS = (
    "id, category, district, name, description, max_minutes, group_activity, max_volunteers, night_service,"
    " retired_at, qualification"
)
EDITABLE = ("name", "description", "max_minutes", "group_activity", "max_volunteers", "night_service", "qualification")


async def get(session: AsyncSession, item_id: uuid.UUID) -> Item | None:
    row = (await session.execute(text(f"SELECT {_COLUMNS} FROM catalogue_items WHERE id = :i"), {"i": item_id})).first()
    return Item(*row) if row else None


async def live_items(session: AsyncSession, district: str | None) -> list[Item]:
    """Live items offered in `district` (city-wide ones and its own); every district's when None."""
    rows = (
        await session.execute(
            text(
                f"SELECT {_COLUMNS} FROM catalogue_items WHERE retired_at IS NULL"
                " AND (CAST(:d AS text) IS NULL OR district IS NULL OR district = :d) ORDER BY category, district NULLS FIRST, name"
            ),
            {"d": district},
        )
    ).all()
    return [Item(*row) for row in rows]


async def insert(
    session: AsyncSession, *, item_id: uuid.UUID, category: str, district: str, by: str, fields: dict
) -> bool:
    """False when the district already offers a live item of that name under the category."""
    inserted = (
        await session.execute(
            text(
                "INSERT INTO catalogue_items (id, category, district, name, description, max_minutes, group_activity,"
                " max_volunteers, night_service, qualification, created_by, updated_by) VALUES (:id, :c, :d, :name,"
                " :description, :max_minutes, :group_activity, :max_volunteers, :night_service, :qualification, :by, :by)"
                " ON CONFLICT DO NOTHING RETURNING id"
            ),
            {"id": item_id, "c": category, "d": district, "by": by, **fields},
        )
    ).first()
    return inserted is not None


async def update(session: AsyncSession, item_id: uuid.UUID, fields: dict, *, by: str) -> bool:
    """False when the new name is taken in the district."""
    try:
        async with session.begin_nested():
            await session.execute(
                text(
                    f"UPDATE catalogue_items SET {', '.join(f'{k} = :{k}' for k in EDITABLE)}, updated_by = :by,"
                    " updated_at = now() WHERE id = :id"
                ),
                {**{k: fields[k] for k in EDITABLE}, "by": by, "id": item_id},
            )
    except IntegrityError as exc:
        if "catalogue_item_name" in str(exc.orig):
            return False
        raise
    return True


async def retire(session: AsyncSession, item_id: uuid.UUID, *, by: str) -> None:
    await session.execute(
        text(
            "UPDATE catalogue_items SET retired_at = coalesce(retired_at, now()), updated_by = :by, updated_at = now()"
            " WHERE id = :id"
        ),
        {"by": by, "id": item_id},
    )
