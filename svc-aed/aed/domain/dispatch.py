"""The link to 120's dispatch system: each incident's opening and every step is POSTed to
`AED_DISPATCH_WEBHOOK_URL` in order, retried with backoff until 120 acknowledges (2xx) — a 120 outage
delays updates, never loses or reorders them."""
from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta

import httpx
from sqlalchemy import text

from servicekit.db import Database

log = logging.getLogger(__name__)

# The oldest undelivered update of each incident, if due (later ones wait for it: order per incident).
_DUE = text("""
SELECT d.id, d.incident_id, d.body, d.attempts FROM dispatch_updates d
WHERE d.delivered_at IS NULL AND d.next_attempt_at <= :now
  AND NOT EXISTS (SELECT 1 FROM dispatch_updates e WHERE e.incident_id = d.incident_id AND e.delivered_at IS NULL
                  AND e.id < d.id)
ORDER BY d.id LIMIT 100 FOR UPDATE SKIP LOCKED
""")


async def deliver_due(db: Database, client: httpx.AsyncClient, url: str, *, now: datetime, max_backoff_s: float) -> int:
    delivered = 0
    while True:
        async with db.transaction() as session:
            rows = (await session.execute(_DUE, {"now": now})).mappings().all()
            if not rows:
                return delivered
            progressed = False
            for row in rows:
                body = row["body"] if isinstance(row["body"], dict) else json.loads(row["body"])
                try:
                    response = await client.post(url, json=body)
                    ok, error = response.is_success, f"HTTP {response.status_code}"
                except httpx.HTTPError as exc:
                    ok, error = False, repr(exc)
                if ok:
                    await session.execute(text("UPDATE dispatch_updates SET delivered_at = :now, attempts = attempts + 1"
                                               " WHERE id = :id"), {"now": now, "id": row["id"]})
                    delivered += 1
                    progressed = True
                else:
                    backoff = min(max_backoff_s, 0.5 * 2 ** row["attempts"])
                    await session.execute(text(
                        "UPDATE dispatch_updates SET attempts = attempts + 1, last_error = :e, next_attempt_at = :next"
                        " WHERE id = :id"), {"e": error[:500], "next": now + timedelta(seconds=backoff), "id": row["id"]})
        if not progressed:
            return delivered
