"""Queries on the operations table (idempotency keys and their first results)."""
from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

# Statements on every command's path are built once (text() parses its SQL on construction).
_INSERT = text("INSERT INTO operations (id, actor, idempotency_key, kind, fingerprint, result)"
               " VALUES (:id, :actor, :key, :kind, :fp, CAST(:result AS jsonb))"
               " ON CONFLICT (actor, idempotency_key) DO NOTHING RETURNING id")
_FIRST = text("SELECT fingerprint, result FROM operations WHERE actor = :actor AND idempotency_key = :key")


def _json(value: dict[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value, default=str, ensure_ascii=False)


async def insert(session: AsyncSession, *, operation_id: uuid.UUID, actor: str, key: str, kind: str,
                 fingerprint: str, result: dict[str, Any] | None) -> bool:
    """True when this call inserted the row; False when (actor, key) existed (after waiting for it)."""
    row = (await session.execute(_INSERT, {"id": operation_id, "actor": actor, "key": key, "kind": kind,
                                           "fp": fingerprint, "result": _json(result)})).first()
    return row is not None


async def first(session: AsyncSession, *, actor: str, key: str):
    return (await session.execute(_FIRST, {"actor": actor, "key": key})).one()


async def insert_many(session: AsyncSession, *, actor: str, kind: str, keys: list[str]) -> dict[str, uuid.UUID]:
    """Insert rows for the keys not seen before; key -> operation id for those."""
    rows = (await session.execute(text(
        "INSERT INTO operations (id, actor, idempotency_key, kind, fingerprint)"
        " SELECT id, :actor, key, :kind, :kind FROM unnest(CAST(:ids AS uuid[]), CAST(:keys AS text[])) AS o(id, key)"
        " ON CONFLICT (actor, idempotency_key) DO NOTHING RETURNING idempotency_key, id"),
        {"actor": actor, "kind": kind, "ids": [uuid.uuid4() for _ in keys], "keys": keys})).all()
    return {row.idempotency_key: row.id for row in rows}


async def store_results(session: AsyncSession, results: dict[uuid.UUID, dict[str, Any]]) -> None:
    if results:
        await session.execute(text(
            "UPDATE operations SET result = CAST(v.result AS jsonb)"
            " FROM unnest(CAST(:ids AS uuid[]), CAST(:results AS text[])) AS v(id, result) WHERE operations.id = v.id"),
            {"ids": list(results), "results": [_json(r) for r in results.values()]})
