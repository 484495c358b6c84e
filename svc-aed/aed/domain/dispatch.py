"""The link to 120's dispatch system: each incident's opening and every step is POSTed to
`AED_DISPATCH_WEBHOOK_URL` in order, retried with backoff until 120 acknowledges (2xx) — a 120 outage
delays updates, never loses or reorders them. What has accumulated for an incident goes in one request,
`{"incident_id": …, "updates": [oldest first]}`: one call per incident per round, not one per step."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import httpx

from aed.db import dispatch as repo
from servicekit.db import Database

log = logging.getLogger(__name__)


async def deliver_due(db: Database, client: httpx.AsyncClient, url: str, *, now: datetime, max_backoff_s: float) -> int:
    """One round: each due incident's pending updates in one request; returns how many updates were acknowledged."""
    delivered = 0
    async with db.transaction() as session:
        for incident_id, pending in (await repo.due(session, now)).items():
            try:
                response = await client.post(
                    url, json={"incident_id": str(incident_id), "updates": [r["body"] for r in pending]}
                )
                ok, error = response.is_success, f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                ok, error = False, repr(exc)
            ids = [r["id"] for r in pending]
            if ok:
                await repo.mark_delivered(session, ids, now)
                delivered += len(ids)
            else:
                backoff = min(max_backoff_s, 0.5 * 2 ** pending[0]["attempts"])
                await repo.mark_failed(session, ids, error, now + timedelta(seconds=backoff))
    return delivered
