"""Queries on the operations table (idempotency keys and their first results)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.ids import new_id


@dataclass(frozen=True)
class NewOperation:
    """An operation row to start: `result` when it is known before the work is done (stored at once)."""

    actor: str
    key: str
    kind: str
    fingerprint: str
    result: dict[str, Any] | None = None
    id: uuid.UUID = field(default_factory=new_id)


# Statements on every command's path are built once (text() parses its SQL on construction).
_START = text(
    "INSERT INTO operations (id, actor, idempotency_key, kind, fingerprint, result)"
    " SELECT id, actor, key, kind, fp, CAST(result AS jsonb) FROM unnest(CAST(:ids AS uuid[]),"
    " CAST(:actors AS text[]), CAST(:keys AS text[]), CAST(:kinds AS text[]), CAST(:fps AS text[]),"
    " CAST(:results AS text[])) WITH ORDINALITY AS o(id, actor, key, kind, fp, result, n) ORDER BY n"
    " ON CONFLICT (actor, idempotency_key) DO NOTHING RETURNING id"
)
_FIRSTS = text(
    "SELECT o.actor, o.idempotency_key, o.fingerprint, o.result FROM operations o"
    " JOIN unnest(CAST(:actors AS text[]), CAST(:keys AS text[])) AS p(actor, key)"
    " ON o.actor = p.actor AND o.idempotency_key = p.key"
)
_STORE_RESULTS = text(
    "UPDATE operations SET result = CAST(v.result AS jsonb)"
    " FROM unnest(CAST(:ids AS uuid[]), CAST(:results AS text[])) AS v(id, result) WHERE operations.id = v.id"
)
_DELETE = text("DELETE FROM operations WHERE id = ANY(:ids)")


def _json(value: dict[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value, default=str, ensure_ascii=False)


async def start(session: AsyncSession, operations: list[NewOperation]) -> set[uuid.UUID]:
    """Insert the rows in one statement, in order; the ids inserted. A row whose (actor, key) exists is not
    (after waiting for a concurrent insert of it to commit or roll back)."""
    if not operations:
        return set()
    inserted = await session.execute(
        _START,
        {
            "ids": [o.id for o in operations],
            "actors": [o.actor for o in operations],
            "keys": [o.key for o in operations],
            "kinds": [o.kind for o in operations],
            "fps": [o.fingerprint for o in operations],
            "results": [_json(o.result) for o in operations],
        },
    )
    return set(inserted.scalars())


async def firsts(session: AsyncSession, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], Any]:
    """(actor, key) -> the stored row (fingerprint, result) for each pair that has one."""
    if not pairs:
        return {}
    rows = await session.execute(_FIRSTS, {"actors": [a for a, _ in pairs], "keys": [k for _, k in pairs]})
    return {(row.actor, row.idempotency_key): row for row in rows}


async def store_results(session: AsyncSession, results: dict[uuid.UUID, dict[str, Any]]) -> None:
    if results:
        await session.execute(_STORE_RESULTS, {"ids": list(results), "results": [_json(r) for r in results.values()]})


async def delete(session: AsyncSession, ids: list[uuid.UUID]) -> None:
    """Refused commands leave nothing behind (their key may be used again)."""
    if ids:
        await session.execute(_DELETE, {"ids": ids})
