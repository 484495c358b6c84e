"""The ledger's projection of identity's confirmed direct-relative links (直系亲属): a gift goes only along one.
Indexed by the pair both ways (migration 0002), as a gift asks about one pair."""

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


_RELATED = text(
    "SELECT p.a, p.b FROM unnest(CAST(:a AS uuid[]), CAST(:b AS uuid[])) AS p(a, b)"
    " WHERE EXISTS (SELECT 1 FROM kin_links k WHERE NOT k.revoked AND ((k.person_id = p.a AND k.relative_id = p.b)"
    " OR (k.person_id = p.b AND k.relative_id = p.a)))"
)


async def related_pairs(
    session: AsyncSession, pairs: list[tuple[uuid.UUID, uuid.UUID]]
) -> set[tuple[uuid.UUID, uuid.UUID]]:
    """Of `pairs`, those (as given) that are confirmed direct relatives, either way round; one statement."""
    if not pairs:
        return set()
    rows = (await session.execute(_RELATED, {"a": [a for a, _ in pairs], "b": [b for _, b in pairs]})).all()
    return {(row.a, row.b) for row in rows}
