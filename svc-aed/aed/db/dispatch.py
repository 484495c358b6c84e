"""Queries on the updates queued for 120's system."""

from __future__ import annotations

import json
import uuid
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

# Every undelivered update of the incidents whose oldest undelivered one is due, oldest first.
_DUE = text("""
SELECT d.id, d.incident_id, d.body, d.attempts FROM dispatch_updates d
WHERE d.delivered_at IS NULL AND d.incident_id IN (
    SELECT o.incident_id FROM dispatch_updates o WHERE o.delivered_at IS NULL AND o.next_attempt_at <= :now
      AND NOT EXISTS (SELECT 1 FROM dispatch_updates e WHERE e.incident_id = o.incident_id AND e.delivered_at IS NULL
                      AND e.id < o.id)
    LIMIT :incidents)
ORDER BY d.incident_id, d.id FOR UPDATE SKIP LOCKED
""")


async def queue(session: AsyncSession, incident_id: uuid.UUID, bodies: list[dict], now: datetime) -> None:
    """In order (ids follow the list's order)."""
    await session.execute(
        text(
            "INSERT INTO dispatch_updates (incident_id, body, created_at, next_attempt_at)"
            " SELECT :i, CAST(b AS jsonb), :now, :now FROM unnest(CAST(:b AS text[])) WITH ORDINALITY AS t(b, n) ORDER BY n"
        ),
        {"i": incident_id, "b": [json.dumps(body, ensure_ascii=False, default=str) for body in bodies], "now": now},
    )


async def due(session: AsyncSession, now: datetime, *, incidents: int = 100) -> dict[uuid.UUID, list[dict]]:
    """incident -> its pending updates, oldest first (locked: replicas share the incidents)."""
    by_incident: dict[uuid.UUID, list[dict]] = {}
    for row in (await session.execute(_DUE, {"now": now, "incidents": incidents})).mappings():
        body = row["body"] if isinstance(row["body"], dict) else json.loads(row["body"])
        by_incident.setdefault(row["incident_id"], []).append({**row, "body": body})
    return by_incident


async def mark_delivered(session: AsyncSession, ids: list[int], now: datetime) -> None:
    await session.execute(
        text("UPDATE dispatch_updates SET delivered_at = :now, attempts = attempts + 1 WHERE id = ANY(:ids)"),
        {"now": now, "ids": ids},
    )


async def mark_failed(session: AsyncSession, ids: list[int], error: str, next_attempt_at: datetime) -> None:
    await session.execute(
        text(
            "UPDATE dispatch_updates SET attempts = attempts + 1, last_error = :e, next_attempt_at = :next"
            " WHERE id = ANY(:ids)"
        ),
        {"e": error[:500], "next": next_attempt_at, "ids": ids},
    )
