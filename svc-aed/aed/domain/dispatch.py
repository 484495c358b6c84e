"""The link to 120's dispatch system: each incident's opening and every step is POSTed to
`AED_DISPATCH_WEBHOOK_URL` in order, retried with backoff until 120 acknowledges (2xx) — a 120 outage
delays updates, never loses or reorders them. What has accumulated for an incident goes in one request,
`{"incident_id": …, "updates": [oldest first]}`: one call per incident per round, not one per step.

Each request is signed, as webhooks commonly are (Stripe's scheme): `X-Timebank-Timestamp` (Unix seconds) and
`X-Timebank-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>` over the exact bytes sent, with the
secret 120 and we share (`AED_DISPATCH_WEBHOOK_SECRET`). 120 recomputes it, compares in constant time and
refuses a timestamp more than `SIGNATURE_TOLERANCE_S` from its clock, so a captured request cannot be replayed
later; within the window an update's `update_id` (increasing per incident) makes a repeat harmless.

Incidents do not wait on each other: each round takes the due incidents (a lease on their updates, in a short
transaction), and each incident's call runs on its own, several at once, outside any transaction; the loop goes
on to the next round meanwhile. One incident's call that hangs until its timeout therefore delays only that
incident, and no database connection or row lock is held while 120 answers. While an incident's updates are
leased, no round (of this replica or another) takes that incident, not even its newer updates, so they
cannot overtake the call in flight. A replica that dies mid-call leaves a lease that runs out, and the
updates go again (120 ignores an `update_id` it has)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

import httpx

from aed.db import dispatch as repo
from servicekit.app import wind_down
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


# A lease outlasts the whole call (bounded by the timeout below) and the marking after it.
LEASE_MARGIN_S = 10.0
# At shutdown: long enough for a call within the default 3 s timeout, short of `docker stop`'s 10 s.
CLOSE_GRACE_S = 4.0


class DispatchLink:
    """Delivers the queued updates to 120: `round()` from the service's dispatch loop, `close()` at shutdown."""

    def __init__(
        self,
        db: Database,
        client: httpx.AsyncClient,
        url: str,
        *,
        secret: str,
        timeout_s: float,
        max_backoff_s: float,
        in_flight: int,
        now: Callable[[], datetime],
    ) -> None:
        self._db, self._client, self._url, self._secret = db, client, url, secret
        self._timeout_s, self._max_backoff_s, self._in_flight, self._now = timeout_s, max_backoff_s, in_flight, now
        self._calls: set[asyncio.Task[None]] = set()
        self._acknowledged = 0

    async def round(self) -> int:
        """Starts the calls of the incidents now due, as many as there is room for; returns how many updates
        120 acknowledged since the last round."""
        acknowledged, self._acknowledged = self._acknowledged, 0
        room = self._in_flight - len(self._calls)
        if room <= 0:
            return acknowledged
        # The lease is a real time, as the call's timeout is: a test moving the service clock must not make a
        # call in flight look abandoned.
        lease = real_now() + timedelta(seconds=self._timeout_s + LEASE_MARGIN_S)
        async with self._db.transaction(notify=False) as session:
            due = await repo.claim(session, self._now(), real_now=real_now(), until=lease, incidents=room)
        for incident_id, pending in due.items():
            call = asyncio.create_task(self._deliver(incident_id, pending, lease), name=f"120 {incident_id}")
            self._calls.add(call)
            call.add_done_callback(self._calls.discard)
        return acknowledged

    async def close(self, grace_s: float = CLOSE_GRACE_S) -> None:
        """Calls still out get `grace_s` to be answered and recorded, so a restart does not leave their updates
        waiting for the lease; calls cut short keep their leases, and their updates go again when those run out."""
        await wind_down(self._calls, grace_s=grace_s)

    async def _deliver(self, incident_id: uuid.UUID, pending: list[dict], lease: datetime) -> None:
        try:
            ok, error = await self._call(incident_id, pending)
            ids, now = [r["id"] for r in pending], self._now()
            async with self._db.transaction(notify=False) as session:
                if ok:
                    await repo.mark_delivered(session, ids, now, lease=lease)
                else:
                    backoff = min(self._max_backoff_s, 0.5 * 2 ** pending[0]["attempts"])
                    await repo.mark_failed(session, ids, error, now + timedelta(seconds=backoff), lease=lease)
        except Exception:  # e.g. the database briefly away: the lease runs out and the updates go again
            log.exception("120: a call's outcome was not recorded", extra={"incident_id": str(incident_id)})
            return
        if ok:
            self._acknowledged += len(ids)
        else:
            log.warning("120 did not acknowledge", extra={"incident_id": str(incident_id), "error": error})

    async def _call(self, incident_id: uuid.UUID, pending: list[dict]) -> tuple[bool, str]:
        """Whether 120 acknowledged the updates, and if not, why."""
        body = json.dumps(
            {"incident_id": str(incident_id), "updates": [{"update_id": r["id"], **r["body"]} for r in pending]},
            ensure_ascii=False,
        ).encode()
        try:
            # Signed with the real time, not the service clock: it is 120's clock that judges it.
            async with asyncio.timeout(self._timeout_s):
                response = await self._client.post(
                    self._url, content=body, headers=signed_headers(self._secret, body, at=real_now())
                )
        except (httpx.HTTPError, TimeoutError) as exc:
            return False, repr(exc)
        return response.is_success, f"HTTP {response.status_code}"
