"""Queries on the projection of identity's facts (DESIGN.md §1: a local copy, never a call)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True)
class HolderFacts:
    person_id: uuid.UUID
    redemption_age: bool  # 60 or over (identity says so; the ledger keeps no date of birth or of a birthday)
    district: str | None
    special_district: str | None
    special_categories: list[str]

    def is_special_elder_of(self, district: str) -> bool:
        return bool(self.special_categories) and self.special_district == district


async def ensure_holder(session: AsyncSession, person_id: uuid.UUID) -> None:
    await ensure_holders(session, [person_id])


async def ensure_holders(session: AsyncSession, people: list[uuid.UUID]) -> None:
    await session.execute(
        text(
            "INSERT INTO holders (person_id) SELECT p FROM unnest(CAST(:p AS uuid[])) AS p ORDER BY p ON CONFLICT DO NOTHING"
        ),
        {"p": sorted(set(people))},
    )


async def facts(session: AsyncSession, person_id: uuid.UUID) -> HolderFacts | None:
    return (await facts_of(session, [person_id])).get(person_id)


async def facts_of(session: AsyncSession, people: list[uuid.UUID]) -> dict[uuid.UUID, HolderFacts]:
    rows = (
        await session.execute(
            text(
                "SELECT person_id, redemption_age, district, special_district, special_categories FROM holders"
                " WHERE person_id = ANY(:p)"
            ),
            {"p": list(set(people))},
        )
    ).all()
    return {row.person_id: HolderFacts(*row) for row in rows}


async def credit_earnings(session: AsyncSession, earnings: dict[uuid.UUID, int]) -> None:
    await session.execute(
        text(
            "UPDATE holders SET lifetime_earned = lifetime_earned + v.amount"
            " FROM unnest(CAST(:p AS uuid[]), CAST(:a AS bigint[])) AS v(person_id, amount)"
            " WHERE holders.person_id = v.person_id"
        ),
        {"p": list(earnings), "a": list(earnings.values())},
    )


async def mark_milestone(session: AsyncSession, people: list[uuid.UUID], at) -> list[uuid.UUID]:
    """Those of `people` reaching the milestone for the first time."""
    return list(
        (
            await session.execute(
                text(
                    "UPDATE holders SET milestone_reached_at = :at WHERE person_id = ANY(:p) AND milestone_reached_at IS NULL"
                    " RETURNING person_id"
                ),
                {"p": people, "at": at},
            )
        ).scalars()
    )


async def record_redemption_age(session: AsyncSession, person_id: uuid.UUID, reached: bool) -> None:
    """Identity's word that the person is 60 or over (never taken back: age only grows)."""
    await ensure_holder(session, person_id)
    if reached:
        await session.execute(text("UPDATE holders SET redemption_age = true WHERE person_id = :p"), {"p": person_id})


async def record_residence(session: AsyncSession, person_id: uuid.UUID, district: str) -> None:
    await ensure_holder(session, person_id)
    await session.execute(
        text("UPDATE holders SET district = :d WHERE person_id = :p"), {"p": person_id, "d": district}
    )


async def record_special_groups(
    session: AsyncSession, person_id: uuid.UUID, district: str, categories: list[str]
) -> None:
    await ensure_holder(session, person_id)
    await session.execute(
        text("UPDATE holders SET special_district = :d, special_categories = :c WHERE person_id = :p"),
        {"p": person_id, "d": district if categories else None, "c": categories},
    )


async def record_reversal(session: AsyncSession, person_id: uuid.UUID, *, false_amount: int, shortfall: int) -> None:
    """A false record no longer counts as earned; what the volunteer no longer held is owed."""
    await session.execute(
        text(
            "UPDATE holders SET lifetime_earned = lifetime_earned - :o, clawback_due = clawback_due + :s"
            " WHERE person_id = :p"
        ),
        {"o": false_amount, "s": shortfall, "p": person_id},
    )


@dataclass(frozen=True)
class Closure:
    person_id: uuid.UUID
    relative_id: uuid.UUID | None
    issuing_district: str | None  # where granted coins go back to


async def record_closure(session: AsyncSession, person_id: uuid.UUID, relative_id: uuid.UUID | None, at) -> None:
    await ensure_holder(session, person_id)
    await session.execute(
        text("UPDATE holders SET closed_at = coalesce(closed_at, :at), closed_to_relative = :r WHERE person_id = :p"),
        {"p": person_id, "r": relative_id, "at": at},
    )


async def closure(session: AsyncSession, person_id: uuid.UUID) -> Closure | None:
    row = (
        await session.execute(
            text(
                "SELECT person_id, closed_to_relative, coalesce(special_district, district) FROM holders"
                " WHERE person_id = :p AND closed_at IS NOT NULL"
            ),
            {"p": person_id},
        )
    ).first()
    return Closure(*row) if row else None


async def closed_with_coins(session: AsyncSession, limit: int) -> list[uuid.UUID]:
    """Closed holders whose accounts hold coins free to move (a hold released after the closure)."""
    return list(
        (
            await session.execute(
                text(
                    "SELECT DISTINCT h.person_id FROM holders h JOIN accounts a ON a.owner_person_id = h.person_id"
                    " WHERE h.closed_at IS NOT NULL AND a.balance > a.held ORDER BY h.person_id LIMIT :n"
                ),
                {"n": limit},
            )
        ).scalars()
    )
