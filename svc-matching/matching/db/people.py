"""Identity's facts matching decides with, kept from identity's and audit's events (never a call)."""
from __future__ import annotations

import uuid
from dataclasses import dataclass

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

    @property
    def may_serve(self) -> bool:
        """Verified, trained, resident (identity's volunteer role) and not under a sanction or suspension."""
        return self.volunteer and not self.recording_revoked and not self.suspended

    @property
    def special(self) -> bool:
        return bool(self.special_categories)


async def facts(session: AsyncSession, person_id: uuid.UUID) -> PersonFacts | None:
    row = (await session.execute(text(
        "SELECT person_id, volunteer, elder, district, special_categories, recording_revoked, suspended FROM people"
        " WHERE person_id = :p"), {"p": person_id})).first()
    return PersonFacts(*row) if row else None


async def _set(session: AsyncSession, person_id: uuid.UUID, column: str, value: object) -> None:
    await session.execute(text(
        f"INSERT INTO people (person_id, {column}) VALUES (:p, :v)"
        f" ON CONFLICT (person_id) DO UPDATE SET {column} = excluded.{column}"), {"p": person_id, "v": value})


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


async def record_kinship(session: AsyncSession, link_id: uuid.UUID, person_id: uuid.UUID, relative_id: uuid.UUID) -> None:
    await session.execute(text(
        "INSERT INTO kin_links (link_id, person_id, relative_id) VALUES (:l, :p, :r) ON CONFLICT DO NOTHING"),
        {"l": link_id, "p": person_id, "r": relative_id})


async def revoke_kinship(session: AsyncSession, link_id: uuid.UUID, person_id: uuid.UUID, relative_id: uuid.UUID) -> None:
    # Insert-then-revoke, so a revocation that overtakes its confirmation still wins.
    await session.execute(text(
        "INSERT INTO kin_links (link_id, person_id, relative_id, revoked) VALUES (:l, :p, :r, true)"
        " ON CONFLICT (link_id) DO UPDATE SET revoked = true"), {"l": link_id, "p": person_id, "r": relative_id})


async def are_direct_relatives(session: AsyncSession, a: uuid.UUID, b: uuid.UUID) -> bool:
    return (await session.execute(text(
        "SELECT EXISTS (SELECT 1 FROM kin_links WHERE NOT revoked AND ((person_id = :a AND relative_id = :b)"
        " OR (person_id = :b AND relative_id = :a)))"), {"a": a, "b": b})).scalar_one()
