"""Identity's facts matching decides with, kept from identity's and audit's events (never a call)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True)
class PersonFacts:
    person_id: uuid.UUID
    volunteer: bool
    elder: bool
    district: str | None
    special_categories: list[str]
    recording_revoked: bool
    suspended: bool
    minor: bool
    closing: bool  # asked to close their account: nothing new starts for them

    @property
    def may_serve(self) -> bool:
        """Verified, trained, resident (identity's volunteer role), not under a sanction or suspension, and not
        closing their account."""
        return self.volunteer and not self.recording_revoked and not self.suspended and not self.closing

    @property
    def special(self) -> bool:
        return bool(self.special_categories)


async def facts(session: AsyncSession, person_id: uuid.UUID) -> PersonFacts | None:
    row = (
        await session.execute(
            text(
                "SELECT person_id, volunteer, elder, district, special_categories, recording_revoked, suspended, minor,"
                " closing"
                " FROM people"
                " WHERE person_id = :p"
            ),
            {"p": person_id},
        )
    ).first()
    return PersonFacts(*row) if row else None


async def _set(session: AsyncSession, person_id: uuid.UUID, column: str, value: object) -> None:
    await session.execute(
        text(
            f"INSERT INTO people (person_id, {column}) VALUES (:p, :v)"
            f" ON CONFLICT (person_id) DO UPDATE SET {column} = excluded.{column}"
        ),
        {"p": person_id, "v": value},
    )


async def record_role(session: AsyncSession, person_id: uuid.UUID, role: str, held: bool) -> None:
    if role in ("volunteer", "elder"):
        await _set(session, person_id, role, held)


async def record_residence(session: AsyncSession, person_id: uuid.UUID, district: str) -> None:
    await _set(session, person_id, "district", district)


async def record_special_groups(session: AsyncSession, person_id: uuid.UUID, categories: list[str]) -> None:
    await _set(session, person_id, "special_categories", categories)


async def record_recording_revoked(session: AsyncSession, person_id: uuid.UUID, revoked: bool) -> None:
    await _set(session, person_id, "recording_revoked", revoked)


async def record_suspension(session: AsyncSession, person_id: uuid.UUID, suspended: bool) -> None:
    await _set(session, person_id, "suspended", suspended)


async def record_closing(session: AsyncSession, person_id: uuid.UUID, closing: bool) -> None:
    await _set(session, person_id, "closing", closing)


async def record_minor(session: AsyncSession, person_id: uuid.UUID, minor: bool) -> None:
    await _set(session, person_id, "minor", minor)


async def record_guardianship(
    session: AsyncSession, guardianship_id: uuid.UUID, *, minor_id: uuid.UUID, guardian_id: uuid.UUID, active: bool
) -> None:
    await session.execute(
        text(
            "INSERT INTO guardians (guardianship_id, minor_id, guardian_id, active) VALUES (:g, :m, :p, :a)"
            " ON CONFLICT (guardianship_id) DO UPDATE SET active = excluded.active"
        ),
        {"g": guardianship_id, "m": minor_id, "p": guardian_id, "a": active},
    )


async def guardians_of(session: AsyncSession, minor_id: uuid.UUID) -> set[uuid.UUID]:
    rows = await session.execute(
        text("SELECT guardian_id FROM guardians WHERE minor_id = :m AND active"), {"m": minor_id}
    )
    return set(rows.scalars().all())


async def record_qualification(
    session: AsyncSession, person_id: uuid.UUID, kind: str, *, qualification_id: uuid.UUID, valid_until: date
) -> None:
    """The person's live qualification of `kind` (a newer one replaces it)."""
    await session.execute(
        text(
            "INSERT INTO qualifications (person_id, kind, qualification_id, valid_until) VALUES (:p, :k, :q, :v)"
            " ON CONFLICT (person_id, kind) DO UPDATE SET qualification_id = excluded.qualification_id,"
            " valid_until = excluded.valid_until"
        ),
        {"p": person_id, "k": kind, "q": qualification_id, "v": valid_until},
    )


async def withdraw_qualification(session: AsyncSession, qualification_id: uuid.UUID) -> bool:
    """False when it no longer counted (replaced by a newer one, or withdrawn already)."""
    gone = await session.execute(
        text("DELETE FROM qualifications WHERE qualification_id = :q RETURNING person_id"), {"q": qualification_id}
    )
    return gone.first() is not None


async def qualified(session: AsyncSession, person_id: uuid.UUID, kind: str, *, through: date) -> bool:
    """Whether the person holds a qualification of `kind` valid through the day `through`."""
    return bool(
        await session.scalar(
            text(
                "SELECT EXISTS (SELECT 1 FROM qualifications WHERE person_id = :p AND kind = :k AND valid_until >= :d)"
            ),
            {"p": person_id, "k": kind, "d": through},
        )
    )
