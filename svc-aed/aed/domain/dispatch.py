"""The link to 120's dispatch system: each incident's opening and every step is POSTed to
`AED_DISPATCH_WEBHOOK_URL` in order, retried with backoff until 120 acknowledges (2xx) — a 120 outage
delays updates, never loses or reorders them. What has accumulated for an incident goes in one request,
`{"incident_id": …, "updates": [oldest first]}`: one call per incident per round, not one per step."""
from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta

import httpx
from sqlalchemy import text

from servicekit.db import Database

log = logging.getLogger(__name__)

# Every undelivered update of the incidents whose oldest undelivered one is due, oldest first.
_DUE = text("""
SELECT d.id, d.incident_id, d.body, d.attempts FROM dispatch_updates d
WHERE d.delivered_at IS NULL AND d.incident_id IN (
    SELECT o.incident_id FROM dispatch_updates o WHERE o.delivered_at IS NULL AND o.next_attempt_at <= :now
      AND NOT EXISTS (SELECT 1 FROM dispatch_updates e WHERE e.incident_id = o.incident_id AND e.delivered_at IS NULL
                      AND e.id < o.id)
    LIMIT 100)
ORDER BY d.incident_id, d.id FOR UPDATE SKIP LOCKED
""")


async def deliver_due(db: Database, client: httpx.AsyncClient, url: str, *, now: datetime, max_backoff_s: float) -> int:
    """One round: each due incident's pending updates in one request; returns how many updates were acknowledged."""
    delivered = 0
    async with db.transaction() as session:
        rows = (await session.execute(_DUE, {"now": now})).mappings().all()
        by_incident: dict = {}
        for row in rows:
            by_incident.setdefault(row["incident_id"], []).append(row)
        for incident_id, pending in by_incident.items():
            bodies = [r["body"] if isinstance(r["body"], dict) else json.loads(r["body"]) for r in pending]
            try:
                response = await client.post(url, json={"incident_id": str(incident_id), "updates": bodies})
                ok, error = response.is_success, f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                ok, error = False, repr(exc)
            ids = [r["id"] for r in pending]
            if ok:
                await session.execute(text("UPDATE dispatch_updates SET delivered_at = :now, attempts = attempts + 1"
                                           " WHERE id = ANY(:ids)"), {"now": now, "ids": ids})
                delivered += len(ids)
            else:
                backoff = min(max_backoff_s, 0.5 * 2 ** pending[0]["attempts"])
                await session.execute(text(
                    "UPDATE dispatch_updates SET attempts = attempts + 1, last_error = :e, next_attempt_at = :next"
                    " WHERE id = ANY(:ids)"), {"e": error[:500], "next": now + timedelta(seconds=backoff), "ids": ids})
    return delivered
