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
import json
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

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


BATCH = 50  # notifications claimed per round


async def deliver_due(db: Database, channels: Channels, *, max_attempts: int, now: datetime, limit: int = BATCH) -> int:
    """Send what is due; returns how many were sent. People are served concurrently, each person's messages
    one after another in the order they were asked for (booked before finished). Rows stay locked while
    their sends run, so replicas never send the same message."""
    async with db.transaction(notify=False) as session:  # its own bookkeeping must not wake the loop again
        rows = await repo.claim_due(session, now, limit)
        phones = {}
        if channels.sms is not None and channels.cipher is not None:
            for person in {r["person_id"] for r in rows if _urgent(r)}:
                phones[person] = await contact.phone_for_sending(session, channels.cipher, person)
        by_person: dict[uuid.UUID, list] = {}
        for row in rows:
            by_person.setdefault(row["person_id"], []).append(row)

        async def in_order(queue: list) -> list[tuple[Any, object]]:
            done: list[tuple[Any, object]] = []
            for row in queue:
                done.append((row, await _send(channels, row, phones.get(row["person_id"]))))
                if done[-1][1] not in (None, "no_channel"):
                    break  # the rest wait for this one's retry, so the person reads them in order
            return done

        outcomes = [pair for done in await asyncio.gather(*(in_order(q) for q in by_person.values())) for pair in done]
        for row, error in outcomes:
            if error is None or error == "sms":
                await _finish(session, row["id"], "sent", None, now, channel="sms" if error else "wechat")
            elif error == "no_channel":
                await _finish(session, row["id"], "no_channel", None, now)
            elif isinstance(error, WechatSendError) and error.declined:
                await _finish(session, row["id"], "declined", str(error), now)
            elif row["attempts"] + 1 >= max_attempts:
                await _finish(session, row["id"], "failed", str(error), now)
            else:
                backoff = timedelta(seconds=min(300, 2 ** row["attempts"]))
                await repo.retry_later(session, row["id"], str(error), now + backoff)
        sent_at = clock.now()
        for row, error in outcomes:
            if error in (None, "sms"):
                channel = "sms" if error else "wechat"
                DELIVERY.labels(row["template"], channel).observe(
                    max(0.0, (sent_at - row["requested_at"]).total_seconds())
                )
                if _urgent(row):
                    delivered = NotificationDelivered(
                        notification_id=row["id"],
                        person_id=row["person_id"],
                        template=row["template"],
                        channel=channel,
                        requested_at=row["requested_at"],
                        delivered_at=sent_at,
                    )
                    await publish(session, delivered, subject=row["person_id"])
        if len(rows) == limit or time.monotonic() - _backlog_noted[0] >= BACKLOG_EVERY_S:
            _backlog_noted[0] = time.monotonic()
            BACKLOG.set(await repo.count_due(session, now))
    return sum(1 for _, error in outcomes if error in (None, "sms"))


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


async def _finish(
    session: AsyncSession,
    notification_id: uuid.UUID,
    status: str,
    error: str | None,
    now: datetime,
    *,
    channel: str | None = None,
) -> None:
    await repo.finish(session, notification_id, status, error, now, channel=channel)
