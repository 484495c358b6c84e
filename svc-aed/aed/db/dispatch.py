"""Queries on the updates queued for 120's system."""

from __future__ import annotations

import json
import uuid
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

# Takes the incidents whose oldest undelivered update is due and not leased: every undelivered update of each,
# leased until :until. Only an incident's oldest update decides, so an update queued while an earlier one is
# out with 120 waits for it (order), and locking that row (SKIP LOCKED) makes two claims at once take
# different incidents.
_CLAIM = text("""
WITH heads AS (
    SELECT o.incident_id FROM dispatch_updates o
    WHERE o.delivered_at IS NULL AND o.next_attempt_at <= :now AND (o.leased_until IS NULL OR o.leased_until <= :real_now)
      AND NOT EXISTS (SELECT 1 FROM dispatch_updates e WHERE e.incident_id = o.incident_id AND e.delivered_at IS NULL
                      AND e.id < o.id)
    ORDER BY o.id LIMIT :incidents
    FOR UPDATE SKIP LOCKED
)
UPDATE dispatch_updates d SET leased_until = :until FROM heads
WHERE d.incident_id = heads.incident_id AND d.delivered_at IS NULL
RETURNING d.id, d.incident_id, d.body, d.attempts
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


async def claim(
    session: AsyncSession, now: datetime, *, real_now: datetime, until: datetime, incidents: int
) -> dict[uuid.UUID, list[dict]]:
    """incident -> its undelivered updates, oldest first, leased until `until` (a real time: see
    `aed.domain.dispatch`). `now` (the service clock) decides what is due, as it set each retry's time."""
    by_incident: dict[uuid.UUID, list[dict]] = {}
    params = {"now": now, "real_now": real_now, "until": until, "incidents": incidents}
    for row in sorted((await session.execute(_CLAIM, params)).mappings(), key=lambda r: r["id"]):
        body = row["body"] if isinstance(row["body"], dict) else json.loads(row["body"])
        by_incident.setdefault(row["incident_id"], []).append({**row, "body": body})
    return by_incident


# Both finish only what this delivery still holds: were its lease to have run out and another delivery
# taken the incident, that one's outcome stands.
async def mark_delivered(session: AsyncSession, ids: list[int], now: datetime, *, lease: datetime) -> None:
    await session.execute(
        text(
            "UPDATE dispatch_updates SET delivered_at = :now, attempts = attempts + 1, leased_until = NULL"
            " WHERE id = ANY(:ids) AND leased_until = :lease"
        ),
        {"now": now, "ids": ids, "lease": lease},
    )


async def mark_failed(
    session: AsyncSession, ids: list[int], error: str, next_attempt_at: datetime, *, lease: datetime
) -> None:
    await session.execute(
        text(
            "UPDATE dispatch_updates SET attempts = attempts + 1, last_error = :e, next_attempt_at = :next,"
            " leased_until = NULL WHERE id = ANY(:ids) AND leased_until = :lease"
        ),
        {"e": error[:500], "next": next_attempt_at, "ids": ids, "lease": lease},
    )
