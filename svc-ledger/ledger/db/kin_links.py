"""The ledger's projection of identity's confirmed direct-relative links (直系亲属), with the relation each
states (`relative_id` is `person_id`'s `relation`); the gift rule reads it (ledger/domain/gift_recipients.py).
Indexed by the pair both ways (migration 0002), as a gift asks about one pair."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

_RECORD = text(
    "INSERT INTO kin_links (link_id, person_id, relative_id, relation) VALUES (:l, :p, :r, :relation)"
    " ON CONFLICT DO NOTHING"
)
# Insert-then-revoke, so a revocation that overtakes its confirmation still wins.
_REVOKE = text(
    "INSERT INTO kin_links (link_id, person_id, relative_id, revoked) VALUES (:l, :p, :r, true)"
    " ON CONFLICT (link_id) DO UPDATE SET revoked = true"
)


async def record(
    session: AsyncSession, link_id: uuid.UUID, person_id: uuid.UUID, relative_id: uuid.UUID, relation: str
) -> None:
    await session.execute(_RECORD, {"l": link_id, "p": person_id, "r": relative_id, "relation": relation})


async def revoke(session: AsyncSession, link_id: uuid.UUID, person_id: uuid.UUID, relative_id: uuid.UUID) -> None:
    await session.execute(_REVOKE, {"l": link_id, "p": person_id, "r": relative_id})


@dataclass(frozen=True, slots=True)
class Link:
    """A live link between the two people of an asked pair (a, b), as recorded: `relation` is the relative's
    relation to the person, and `from_a` says whether the pair's `a` is that person."""

    a: uuid.UUID
    b: uuid.UUID
    relation: str | None  # None: recorded before the ledger kept relations
    from_a: bool


_LINKS = text(
    "SELECT p.a, p.b, k.relation, k.person_id = p.a AS from_a"
    " FROM unnest(CAST(:a AS uuid[]), CAST(:b AS uuid[])) AS p(a, b)"
    " JOIN kin_links k ON NOT k.revoked AND ((k.person_id = p.a AND k.relative_id = p.b)"
    " OR (k.person_id = p.b AND k.relative_id = p.a))"
)


async def links_between(session: AsyncSession, pairs: list[tuple[uuid.UUID, uuid.UUID]]) -> list[Link]:
    """The live links between the people of each pair, either way round; one statement."""
    if not pairs:
        return []
    rows = await session.execute(_LINKS, {"a": [a for a, _ in pairs], "b": [b for _, b in pairs]})
    return [Link(*row) for row in rows]
