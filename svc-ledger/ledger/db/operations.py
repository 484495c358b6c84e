"""Queries on the operations table (idempotency keys and their first results)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.ids import new_id

# Statements on every command's path are built once (text() parses its SQL on construction).
_INSERT = text(
    "INSERT INTO operations (id, actor, idempotency_key, kind, fingerprint, result)"
    " VALUES (:id, :actor, :key, :kind, :fp, CAST(:result AS jsonb))"
    " ON CONFLICT (actor, idempotency_key) DO NOTHING RETURNING id"
)
_FIRST = text("SELECT fingerprint, result FROM operations WHERE actor = :actor AND idempotency_key = :key")


def _json(value: dict[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value, default=str, ensure_ascii=False)


async def insert(
    session: AsyncSession,
    *,
    operation_id: uuid.UUID,
    actor: str,
    key: str,
    kind: str,
    fingerprint: str,
    result: dict[str, Any] | None,
) -> bool:
    """True when this call inserted the row; False when (actor, key) existed (after waiting for it)."""
    row = (
        await session.execute(
            _INSERT,
            {"id": operation_id, "actor": actor, "key": key, "kind": kind, "fp": fingerprint, "result": _json(result)},
        )
    ).first()
    return row is not None


async def first(session: AsyncSession, *, actor: str, key: str):
    return (await session.execute(_FIRST, {"actor": actor, "key": key})).one()


async def insert_many(session: AsyncSession, *, actor: str, kind: str, keys: list[str]) -> dict[str, uuid.UUID]:
    """Insert rows for the keys not seen before; key -> operation id for those."""
    rows = (
        await session.execute(
            text(
                "INSERT INTO operations (id, actor, idempotency_key, kind, fingerprint)"
                " SELECT id, :actor, key, :kind, :kind FROM unnest(CAST(:ids AS uuid[]), CAST(:keys AS text[])) AS o(id, key)"
                " ON CONFLICT (actor, idempotency_key) DO NOTHING RETURNING idempotency_key, id"
            ),
            {"actor": actor, "kind": kind, "ids": [new_id() for _ in keys], "keys": keys},
        )
    ).all()
    return {row.idempotency_key: row.id for row in rows}


async def store_results(session: AsyncSession, results: dict[uuid.UUID, dict[str, Any]]) -> None:
    if results:
        await session.execute(
            text(
                "UPDATE operations SET result = CAST(v.result AS jsonb)"
                " FROM unnest(CAST(:ids AS uuid[]), CAST(:results AS text[])) AS v(id, result) WHERE operations.id = v.id"
            ),
            {"ids": list(results), "results": [_json(r) for r in results.values()]},
        )


async def insert_commands(session: AsyncSession, rows: list[dict[str, Any]]) -> set[uuid.UUID]:
    """Many commands' rows (id, actor, key, kind, fingerprint, result) in one statement; the ids inserted
    (a row whose (actor, key) exists is not, after waiting for a concurrent one to commit or roll back)."""
    inserted = (
        await session.execute(
            text(
                "INSERT INTO operations (id, actor, idempotency_key, kind, fingerprint, result)"
                " SELECT id, actor, key, kind, fp, CAST(result AS jsonb) FROM unnest(CAST(:ids AS uuid[]), CAST(:actors AS text[]),"
                " CAST(:keys AS text[]), CAST(:kinds AS text[]), CAST(:fps AS text[]), CAST(:results AS text[]))"
                " WITH ORDINALITY AS o(id, actor, key, kind, fp, result, n) ORDER BY n"
                " ON CONFLICT (actor, idempotency_key) DO NOTHING RETURNING id"
            ),
            {
                "ids": [r["id"] for r in rows],
                "actors": [r["actor"] for r in rows],
                "keys": [r["key"] for r in rows],
                "kinds": [r["kind"] for r in rows],
                "fps": [r["fingerprint"] for r in rows],
                "results": [_json(r["result"]) for r in rows],
            },
        )
    ).scalars()
    return set(inserted)


async def firsts(session: AsyncSession, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], Any]:
    """(actor, key) -> the stored row (fingerprint, result) for each pair that has one."""
    if not pairs:
        return {}
    rows = (
        await session.execute(
            text(
                "SELECT o.actor, o.idempotency_key, o.fingerprint, o.result FROM operations o"
                " JOIN unnest(CAST(:actors AS text[]), CAST(:keys AS text[])) AS p(actor, key)"
                " ON o.actor = p.actor AND o.idempotency_key = p.key"
            ),
            {"actors": [a for a, _ in pairs], "keys": [k for _, k in pairs]},
        )
    ).all()
    return {(row.actor, row.idempotency_key): row for row in rows}


async def delete(session: AsyncSession, ids: list[uuid.UUID]) -> None:
    """Refused commands leave nothing behind (their key may be used again)."""
    if ids:
        await session.execute(text("DELETE FROM operations WHERE id = ANY(:ids)"), {"ids": ids})
