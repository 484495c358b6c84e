"""Matching's projection of identity's confirmed direct-relative links (直系亲属): nobody books a relative's
request, and a relative may publish and manage one for an elder. Indexed by each side alone (migration 0002), as
the request lists ask for everyone related to one person."""

from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

_RECORD = text("INSERT INTO kin_links (link_id, person_id, relative_id) VALUES (:l, :p, :r) ON CONFLICT DO NOTHING")
# Insert-then-revoke, so a revocation that overtakes its confirmation still wins.
_REVOKE = text(
    "INSERT INTO kin_links (link_id, person_id, relative_id, revoked) VALUES (:l, :p, :r, true)"
    " ON CONFLICT (link_id) DO UPDATE SET revoked = true"
)


async def record(session: AsyncSession, link_id: uuid.UUID, person_id: uuid.UUID, relative_id: uuid.UUID) -> None:
    await session.execute(_RECORD, {"l": link_id, "p": person_id, "r": relative_id})


async def revoke(session: AsyncSession, link_id: uuid.UUID, person_id: uuid.UUID, relative_id: uuid.UUID) -> None:
    await session.execute(_REVOKE, {"l": link_id, "p": person_id, "r": relative_id})


_RELATIVES = text(
    "SELECT EXISTS (SELECT 1 FROM kin_links WHERE NOT revoked AND ((person_id = :a AND relative_id = :b)"
    " OR (person_id = :b AND relative_id = :a)))"
)


async def are_direct_relatives(session: AsyncSession, a: uuid.UUID, b: uuid.UUID) -> bool:
    return (await session.execute(_RELATIVES, {"a": a, "b": b})).scalar_one()
