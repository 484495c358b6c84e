"""The days people reach an age, and whether each was announced (flags on `real_names`)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

Flag = Literal["volunteer_age_reached", "came_of_age_announced", "redemption_age_announced"]
# The stored day each flag counts from: the 18th or the 60th birthday.
_COUNTED_FROM: dict[str, str] = {
    "volunteer_age_reached": "turns_18_on",
    "came_of_age_announced": "turns_18_on",
    "redemption_age_announced": "turns_60_on",
}


async def due(session: AsyncSession, flag: Flag, *, years_early: int, today: date, limit: int) -> list[uuid.UUID]:
    """People whose day (the counted birthday, `years_early` years before it) has come and whose flag is not set
    yet, locked; replicas share the work (SKIP LOCKED)."""
    day = f"({_COUNTED_FROM[flag]} - make_interval(years => :early))::date"
    rows = await session.execute(
        text(
            f"SELECT person_id FROM real_names WHERE NOT {flag} AND {day} <= :today"
            " ORDER BY person_id LIMIT :n FOR UPDATE SKIP LOCKED"
        ),
        {"early": years_early, "today": today, "n": limit},
    )
    return list(rows.scalars().all())


async def mark(session: AsyncSession, flag: Flag, people: list[uuid.UUID]) -> None:
    await session.execute(text(f"UPDATE real_names SET {flag} = true WHERE person_id = ANY(:p)"), {"p": people})
