"""A projection of identity's confirmed direct-relative links (直系亲属), for services that decide with them
(the ledger: gifts only along a link; matching: nobody books a relative's request). Each such service owns a
`kin_links (link_id uuid PRIMARY KEY, person_id uuid, relative_id uuid, revoked boolean)` table."""

from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


async def record_kinship(
    session: AsyncSession, link_id: uuid.UUID, person_id: uuid.UUID, relative_id: uuid.UUID
) -> None:
    await session.execute(
        text("INSERT INTO kin_links (link_id, person_id, relative_id) VALUES (:l, :p, :r) ON CONFLICT DO NOTHING"),
        {"l": link_id, "p": person_id, "r": relative_id},
    )


async def revoke_kinship(
    session: AsyncSession, link_id: uuid.UUID, person_id: uuid.UUID, relative_id: uuid.UUID
) -> None:
    # Insert-then-revoke, so a revocation that overtakes its confirmation still wins.
    await session.execute(
        text(
            "INSERT INTO kin_links (link_id, person_id, relative_id, revoked) VALUES (:l, :p, :r, true)"
            " ON CONFLICT (link_id) DO UPDATE SET revoked = true"
        ),
        {"l": link_id, "p": person_id, "r": relative_id},
    )


_RELATIVES = text(
    "SELECT EXISTS (SELECT 1 FROM kin_links WHERE NOT revoked AND ((person_id = :a AND relative_id = :b)"
    " OR (person_id = :b AND relative_id = :a)))"
)


async def are_direct_relatives(session: AsyncSession, a: uuid.UUID, b: uuid.UUID) -> bool:
    return (await session.execute(_RELATIVES, {"a": a, "b": b})).scalar_one()


async def related_pairs(
    session: AsyncSession, pairs: list[tuple[uuid.UUID, uuid.UUID]]
) -> set[tuple[uuid.UUID, uuid.UUID]]:
    """Of `pairs`, those (as given) that are confirmed direct relatives, either way round; one statement."""
    if not pairs:
        return set()
    rows = (
        await session.execute(
            text(
                "SELECT p.a, p.b FROM unnest(CAST(:a AS uuid[]), CAST(:b AS uuid[])) AS p(a, b)"
                " WHERE EXISTS (SELECT 1 FROM kin_links k WHERE NOT k.revoked AND ((k.person_id = p.a AND k.relative_id = p.b)"
                " OR (k.person_id = p.b AND k.relative_id = p.a)))"
            ),
            {"a": [a for a, _ in pairs], "b": [b for _, b in pairs]},
        )
    ).all()
    return {(row.a, row.b) for row in rows}
