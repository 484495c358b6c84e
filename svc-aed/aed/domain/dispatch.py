"""The link to 120's dispatch system: each incident's opening and every step is POSTed to
`AED_DISPATCH_WEBHOOK_URL` in order, retried with backoff until 120 acknowledges (2xx) — a 120 outage
delays updates, never loses or reorders them. What has accumulated for an incident goes in one request,
`{"incident_id": …, "updates": [oldest first]}`: one call per incident per round, not one per step.

Each request is signed, as webhooks commonly are (Stripe's scheme): `X-Timebank-Timestamp` (Unix seconds) and
`X-Timebank-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>` over the exact bytes sent, with the
secret 120 and we share (`AED_DISPATCH_WEBHOOK_SECRET`). 120 recomputes it, compares in constant time and
refuses a timestamp more than `SIGNATURE_TOLERANCE_S` from its clock, so a captured request cannot be replayed
later; within the window an update's `update_id` (increasing per incident) makes a repeat harmless."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from datetime import datetime, timedelta

import httpx

from aed.db import dispatch as repo
from servicekit.clock import real_now
from servicekit.db import Database

log = logging.getLogger(__name__)


SIGNATURE_TOLERANCE_S = 300
TIMESTAMP_HEADER, SIGNATURE_HEADER = "X-Timebank-Timestamp", "X-Timebank-Signature"


def signed_headers(secret: str, body: bytes, *, at: datetime) -> dict[str, str]:
    """The headers that let the receiver check who sent `body`, and when (to the second)."""
    timestamp = str(int(at.timestamp()))
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: f"v1={digest}", "Content-Type": "application/json"}


async def deliver_due(
    db: Database, client: httpx.AsyncClient, url: str, *, secret: str, now: datetime, max_backoff_s: float
) -> int:
    """One round: each due incident's pending updates in one signed request; returns how many updates were
    acknowledged. Signed with the real time, not the service clock: it is 120's clock that judges it."""
    delivered = 0
    async with db.transaction() as session:
        for incident_id, pending in (await repo.due(session, now)).items():
            body = json.dumps(
                {"incident_id": str(incident_id), "updates": [{"update_id": r["id"], **r["body"]} for r in pending]},
                ensure_ascii=False,
            ).encode()
            try:
                response = await client.post(url, content=body, headers=signed_headers(secret, body, at=real_now()))
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
