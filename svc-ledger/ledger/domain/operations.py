"""Idempotent commands: one operation per (actor, key); a replay returns the first result.

The operation row is inserted first, so a concurrent duplicate waits on the unique key until the first
commits and then reads its result; if the first is refused (rolled back) the duplicate runs afresh, and a
refused command leaves nothing behind.
"""
from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from ledger.domain.errors import IdempotencyKeyReused


@dataclass(frozen=True)
class Started:
    operation_id: uuid.UUID


@dataclass(frozen=True)
class Replayed:
    result: dict[str, Any]


# Statements on every command's path are built once (text() parses its SQL on construction).
_BEGIN = text("INSERT INTO operations (id, actor, idempotency_key, kind, fingerprint, result)"
              " VALUES (:id, :actor, :key, :kind, :fp, CAST(:result AS jsonb))"
              " ON CONFLICT (actor, idempotency_key) DO NOTHING RETURNING id")
_FIRST = text("SELECT fingerprint, result FROM operations WHERE actor = :actor AND idempotency_key = :key")


def fingerprint(kind: str, body: dict[str, Any]) -> str:
    canonical = json.dumps({"kind": kind, "body": body}, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def begin(session: AsyncSession, *, actor: str, key: str, kind: str, body: dict[str, Any],
                result: dict[str, Any] | None = None, operation_id: uuid.UUID | None = None) -> Started | Replayed:
    """Start the operation, or return the first result of an earlier one with this key. A result known
    before the work is done (it is refused or it happens as asked) is stored now: one statement fewer."""
    digest = fingerprint(kind, body)
    operation_id = operation_id or uuid.uuid4()
    inserted = (await session.execute(_BEGIN, {"id": operation_id, "actor": actor, "key": key, "kind": kind, "fp": digest,
         "result": None if result is None else json.dumps(result, default=str, ensure_ascii=False)})).first()
    if inserted is not None:
        return Started(operation_id)
    first = (await session.execute(_FIRST, {"actor": actor, "key": key})).one()
    if first.fingerprint != digest:
        raise IdempotencyKeyReused()
    return Replayed(first.result)


async def finish(session: AsyncSession, operation_id: uuid.UUID, result: dict[str, Any]) -> None:
    await session.execute(text("UPDATE operations SET result = CAST(:result AS jsonb) WHERE id = :id"),
                          {"id": operation_id, "result": json.dumps(result, default=str, ensure_ascii=False)})


async def begin_many(session: AsyncSession, *, actor: str, kind: str, keys: list[str]) -> dict[str, uuid.UUID]:
    """Event-driven operations in bulk (the key is the business id, the body is the key): the keys that
    start now, with their operation ids; keys already done are left out."""
    ids = [uuid.uuid4() for _ in keys]
    rows = (await session.execute(text(
        "INSERT INTO operations (id, actor, idempotency_key, kind, fingerprint)"
        " SELECT id, :actor, key, :kind, :kind FROM unnest(CAST(:ids AS uuid[]), CAST(:keys AS text[])) AS o(id, key)"
        " ON CONFLICT (actor, idempotency_key) DO NOTHING RETURNING idempotency_key, id"),
        {"actor": actor, "kind": kind, "ids": ids, "keys": keys})).all()
    return {row.idempotency_key: row.id for row in rows}


async def finish_many(session: AsyncSession, results: dict[uuid.UUID, dict[str, Any]]) -> None:
    if results:
        await session.execute(text(
            "UPDATE operations SET result = CAST(v.result AS jsonb)"
            " FROM unnest(CAST(:ids AS uuid[]), CAST(:results AS text[])) AS v(id, result) WHERE operations.id = v.id"),
            {"ids": list(results), "results": [json.dumps(r, default=str) for r in results.values()]})
