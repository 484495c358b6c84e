"""Delivery of what other services want a person told (`*.notification.requested`), as WeChat subscription
messages. Identity delivers because it holds the people's WeChat identities (openid) and the app's single
access token (a second holder would invalidate it).

Accepted messages wait in `notifications` (one row per notification id, so a redelivered event never sends
twice); a background loop, woken by the commit that stores them (identity.main), sends due ones — urgent ones
first — with retries and backoff. Outcomes: `sent`; `declined` (the person
has not subscribed — WeChat 43101 — so retrying is pointless); `no_channel` (registered offline, no WeChat:
their institution tells them); `failed` after `notification_max_attempts`. Urgent notifications (a
responder's alert: `fallback = sms`) go by SMS to the person's contact phone as soon as WeChat cannot
deliver them, or by SMS only when the sender asks (`channel = sms`: an alert WeChat delivered but nobody saw).
An urgent notification that reached a phone is reported back (`identity.notification.delivered`), so its sender
can show it and act when it goes unseen; the report leaves with the relay's next poll (it is not urgent itself).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from prometheus_client import Gauge, Histogram
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.identity import NotificationDelivered
from contracts.notifications import Notification
from identity.db import messages as repo
from identity.domain import contact
from identity.domain.publish import publish
from identity.pii import PersonalDataCipher
from identity.tencentcloud import SmsClient, SmsError
from identity.wechat import WechatClient, WechatSendError
from servicekit import clock
from servicekit.app import wind_down
from servicekit.db import Database

log = logging.getLogger(__name__)

# From the moment another service asked (for an SOS alert: when the incident was raised and its responders
# chosen) to the moment WeChat or the SMS provider accepted the message: what a responder waits for.
DELIVERY = Histogram(
    "notification_delivery_seconds",
    "From a notification's request to its acceptance by WeChat or the SMS provider",
    ["template", "channel"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800),
)
BACKLOG = Gauge("notifications_due", "Notifications due and not yet sent", multiprocess_mode="livemax")
BACKLOG_EVERY_S = 10
_backlog_noted = [0.0]  # when BACKLOG was last counted (monotonic)


async def accept(session: AsyncSession, note: Notification, *, source_event: uuid.UUID) -> None:
    await repo.accept(
        session,
        notification_id=note.notification_id,
        person_id=note.person_id,
        template=note.template,
        data=note.data,
        page=note.page,
        source_event=source_event,
        requested_at=note.requested_at,
        fallback=note.fallback,
        only_channel=note.channel,
    )


@dataclass(frozen=True)
class Channels:
    """How messages leave: WeChat always; SMS for urgent ones WeChat cannot deliver (phones are sealed)."""

    wechat: WechatClient
    templates: dict[str, str]
    sms: SmsClient | None = None
    cipher: PersonalDataCipher | None = None


BATCH = 50  # notifications claimed at once
# Batches whose sends may be out at once: a call WeChat is slow to answer holds up its own batch, not the
# messages asked for meanwhile (an SOS alert among them).
BATCHES_OUT = 4
# A lease outlasts a batch's sends, which are cut off after SEND_BUDGET_S (what is cut goes again), and the
# recording of their outcomes after them.
SEND_BUDGET_S = 12.0
LEASE_S = SEND_BUDGET_S + 10.0
# At shutdown: long enough for a send within the default 3 s timeouts, short of `docker stop`'s 10 s.
CLOSE_GRACE_S = 4.0


@dataclass(frozen=True)
class _Batch:
    rows: list[dict]
    phones: dict[uuid.UUID, str | None]
    lease: datetime


class Deliveries:
    """Sends what is due: `round()` from identity's delivery loop, `close()` at shutdown.

    Each round takes due notifications (a lease on them, in a short transaction) and sends them outside any
    transaction, people concurrently, each person's messages one after another in the order they were asked
    for (booked before finished); the outcomes are recorded in a second transaction. The loop does not wait
    for the sends: up to `BATCHES_OUT` batches are out at once. A person whose messages are out is passed
    over until they are answered (order), and no round of this replica or another sends a leased message.
    An identity that dies mid-send leaves leases that run out, and those messages go again."""

    def __init__(self, db: Database, channels: Channels, *, max_attempts: int) -> None:
        self._db, self._channels, self._max_attempts = db, channels, max_attempts
        self._out: set[asyncio.Task[None]] = set()
        self._sent = 0

    async def round(self) -> int:
        """Starts sending what is due, batch after batch while batches come full (a burst of SOS alerts) and
        there is room; returns how many messages went since the last round."""
        sent, self._sent = self._sent, 0
        while len(self._out) < BATCHES_OUT:
            batch = await self._claim()
            if batch.rows:
                task = asyncio.create_task(self._deliver(batch), name="notifications")
                self._out.add(task)
                task.add_done_callback(self._out.discard)
            if len(batch.rows) < BATCH:
                break
        return sent

    async def close(self, grace_s: float = CLOSE_GRACE_S) -> None:
        """Sends still out get `grace_s` to be answered and recorded, so a restart does not leave their messages
        waiting for the lease; sends cut short keep their leases, and go again when those run out."""
        await wind_down(self._out, grace_s=grace_s)

    async def _claim(self) -> _Batch:
        # Leases are real times, as the sends' timeouts are: a test moving the service clock must not make a
        # send in flight look abandoned.
        lease = clock.real_now() + timedelta(seconds=LEASE_S)
        async with self._db.transaction(notify=False) as session:  # its own bookkeeping must not wake the loop
            now = clock.now()
            rows = await repo.claim_due(session, now, BATCH, real_now=clock.real_now(), until=lease)
            phones: dict[uuid.UUID, str | None] = {}
            if self._channels.sms is not None and self._channels.cipher is not None:
                for person in {r["person_id"] for r in rows if _urgent(r)}:
                    phones[person] = await contact.phone_for_sending(session, self._channels.cipher, person)
            if len(rows) == BATCH or time.monotonic() - _backlog_noted[0] >= BACKLOG_EVERY_S:
                _backlog_noted[0] = time.monotonic()
                BACKLOG.set(await repo.count_due(session, now))
        return _Batch(rows, phones, lease)

    async def _deliver(self, batch: _Batch) -> None:
        try:
            outcomes, untried = await _send_all(self._channels, batch)
            self._sent += await _record(self._db, outcomes, untried, lease=batch.lease, max_attempts=self._max_attempts)
        except Exception:  # e.g. the database briefly away: the leases run out and the messages go again
            log.exception("notifications: a batch's sends or their outcomes were not recorded")


async def _send_all(channels: Channels, batch: _Batch) -> tuple[list[tuple[dict, object]], list[dict]]:
    """Each row sent with its outcome (see `_send`; a send the budget cut off failed with a TimeoutError), and
    the rows not tried: those behind a failure in their person's queue, and those the budget left waiting."""
    queues: dict[uuid.UUID, list[dict]] = {}
    for row in batch.rows:
        queues.setdefault(row["person_id"], []).append(row)
    outcomes: dict[uuid.UUID, list[tuple[dict, object]]] = {person: [] for person in queues}

    async def in_order(person: uuid.UUID) -> None:
        for row in queues[person]:
            outcomes[person].append((row, await _send(channels, row, batch.phones.get(person))))
            if outcomes[person][-1][1] not in (None, "no_channel"):
                return  # the rest are left for a later round

    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(SEND_BUDGET_S):
            await asyncio.gather(*(in_order(person) for person in queues))
    sent, untried = [], []
    for person, queue in queues.items():
        done = outcomes[person]
        sent += done
        rest = queue[len(done) :]
        if rest and (not done or done[-1][1] in (None, "no_channel")):  # cut off while sending rest[0]
            sent.append((rest[0], TimeoutError(f"not answered within {SEND_BUDGET_S:.0f} s")))
            rest = rest[1:]
        untried += rest
    return sent, untried


async def _record(
    db: Database, outcomes: list[tuple[dict, object]], untried: list[dict], *, lease: datetime, max_attempts: int
) -> int:
    """The outcome of each send, in one transaction, and the untried rows released; returns how many went.
    Urgent ones that reached a phone are reported back (`NotificationDelivered`)."""
    now = clock.now()
    sent = 0
    async with db.transaction() as session:  # wakes the loop: these people's next messages may go now
        for row, error in outcomes:
            channel = "sms" if error == "sms" else "wechat"
            if error is None or error == "sms":
                recorded = await repo.finish(session, row["id"], "sent", None, now, channel=channel, lease=lease)
            elif error == "no_channel":
                recorded = await repo.finish(session, row["id"], "no_channel", None, now, channel=None, lease=lease)
            elif isinstance(error, WechatSendError) and error.declined:
                recorded = await repo.finish(session, row["id"], "declined", str(error), now, channel=None, lease=lease)
            elif row["attempts"] + 1 >= max_attempts:
                recorded = await repo.finish(session, row["id"], "failed", str(error), now, channel=None, lease=lease)
            else:
                backoff = timedelta(seconds=min(300, 2 ** row["attempts"]))
                recorded = await repo.retry_later(session, row["id"], str(error), now + backoff, lease=lease)
            if not recorded or error not in (None, "sms"):
                continue
            sent += 1
            DELIVERY.labels(row["template"], channel).observe(max(0.0, (now - row["requested_at"]).total_seconds()))
            if _urgent(row):
                delivered = NotificationDelivered(
                    notification_id=row["id"],
                    person_id=row["person_id"],
                    template=row["template"],
                    channel=channel,
                    requested_at=row["requested_at"],
                    delivered_at=now,
                )
                await publish(session, delivered, subject=row["person_id"])
        await repo.release(session, [row["id"] for row in untried], lease=lease)
    return sent


def _urgent(row) -> bool:
    return row["fallback"] == "sms" or row["only_channel"] == "sms"


async def _send(channels: Channels, row, phone: str | None) -> object:
    """None when sent by WeChat, "sms" when sent by SMS instead; otherwise why not. An urgent message goes
    by SMS as soon as WeChat cannot take it (no WeChat, not subscribed, or WeChat failing): no backoff; one
    asked for by SMS only skips WeChat."""
    data = row["data"] if isinstance(row["data"], dict) else json.loads(row["data"])
    outcome: object = "no_channel"
    if row["openid"] is not None and row["only_channel"] is None:
        try:
            await channels.wechat.send_subscription_message(
                openid=row["openid"], template_id=channels.templates[row["template"]], data=data, page=row["page"]
            )
            return None
        except WechatSendError as exc:
            outcome = exc
    if _urgent(row) and phone and channels.sms is not None:
        try:
            await channels.sms.send(phone=phone, template=row["template"], params=data)
            return "sms"
        except SmsError as exc:
            log.warning("SMS fallback failed", extra={"notification": str(row["id"]), "error": str(exc)})
    return outcome
