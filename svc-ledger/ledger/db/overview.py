"""What the district offices and the city watch over the coins: what each district has issued, and who reached
the 10,000-coin milestone (敬老院优先入住资格)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.pagination import PageRequest, keyset_text


async def issued(session: AsyncSession, district: str | None) -> Sequence[Row]:
    """Per district: what its issuance account has granted (it carries the negative side of every grant)."""
    return (
        await session.execute(
            text(
                "SELECT district, -balance AS issued FROM accounts WHERE kind = 'district_issuance'"
                " AND (CAST(:d AS text) IS NULL OR district = :d) ORDER BY district"
            ),
            {"d": district},
        )
    ).all()


async def welfare_balance(session: AsyncSession) -> int:
    return (
        await session.execute(text("SELECT coalesce(sum(balance), 0) FROM accounts WHERE kind = 'welfare'"))
    ).scalar_one()


async def milestones(session: AsyncSession, district: str | None, page: PageRequest) -> list[dict]:
    """Holders who reached the milestone, the latest first."""
    condition, params = keyset_text(page, "milestone_reached_at", "person_id")
    rows = await session.execute(
        text(
            "SELECT person_id, district, lifetime_earned, milestone_reached_at FROM holders"
            f" WHERE milestone_reached_at IS NOT NULL AND {condition}"
            " AND (CAST(:d AS text) IS NULL OR district = :d)"
            " ORDER BY milestone_reached_at DESC, person_id DESC LIMIT :fetch"
        ),
        {**params, "d": district},
    )
    return [dict(r) for r in rows.mappings()]
