"""Delivery of what other services want a person told (`*.notification.requested`), as WeChat subscription
messages. Identity delivers because it holds the people's WeChat identities (openid) and the app's single
access token (a second holder would invalidate it).

Accepted messages wait in `notifications` (one row per notification id, so a redelivered event never sends
twice); a background loop sends due ones with retries and backoff. Outcomes: `sent`; `declined` (the person
has not subscribed — WeChat 43101 — so retrying is pointless); `no_channel` (registered offline, no WeChat:
their institution tells them); `failed` after `notification_max_attempts`.
"""
from __future__ import annotations

import asyncio
import json
import logging
import uuid
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.matching import NotificationRequested
from servicekit.db import Database
from identity.wechat import WechatClient, WechatSendError

log = logging.getLogger(__name__)


async def accept(session: AsyncSession, note: NotificationRequested, *, source_event: uuid.UUID) -> None:
    await session.execute(text(
        "INSERT INTO notifications (id, person_id, template, data, page, source_event, requested_at)"
        " VALUES (:id, :p, :t, CAST(:d AS jsonb), :page, :e, :at) ON CONFLICT (id) DO NOTHING"),
        {"id": note.notification_id, "p": note.person_id, "t": note.template, "d": json.dumps(note.data, ensure_ascii=False),
         "page": note.page, "e": source_event, "at": note.requested_at})


_CLAIM = text("""
SELECT n.id, n.person_id, n.template, n.data, n.page, n.attempts, w.openid
FROM notifications n LEFT JOIN wechat_accounts w ON w.person_id = n.person_id
WHERE n.status = 'pending' AND n.next_attempt_at <= :now
ORDER BY n.requested_at, n.id LIMIT :limit FOR UPDATE OF n SKIP LOCKED
""")


async def deliver_due(db: Database, wechat: WechatClient, *, templates: dict[str, str], max_attempts: int,
                      now: datetime, limit: int = 50) -> int:
    """Send what is due; returns how many were sent. People are served concurrently, each person's messages
    one after another in the order they were asked for (booked before finished). Rows stay locked while
    their sends run, so replicas never send the same message."""
    async with db.transaction() as session:
        rows = (await session.execute(_CLAIM, {"now": now, "limit": limit})).mappings().all()
        by_person: dict[uuid.UUID, list] = {}
        for row in rows:
            by_person.setdefault(row["person_id"], []).append(row)

        async def in_order(queue: list) -> list[tuple[object, object]]:
            done = []
            for row in queue:
                done.append((row, await _send(wechat, row, templates)))
                if done[-1][1] not in (None, "no_channel"):
                    break  # the rest wait for this one's retry, so the person reads them in order
            return done
        outcomes = [pair for done in await asyncio.gather(*(in_order(q) for q in by_person.values())) for pair in done]
        for row, error in outcomes:
            if error is None:
                await _finish(session, row["id"], "sent", None, now)
            elif error == "no_channel":
                await _finish(session, row["id"], "no_channel", None, now)
            elif isinstance(error, WechatSendError) and error.declined:
                await _finish(session, row["id"], "declined", str(error), now)
            elif row["attempts"] + 1 >= max_attempts:
                await _finish(session, row["id"], "failed", str(error), now)
            else:
                backoff = timedelta(seconds=min(300, 2 ** row["attempts"]))
                await session.execute(text(
                    "UPDATE notifications SET attempts = attempts + 1, last_error = :e, next_attempt_at = :next"
                    " WHERE id = :id"), {"e": str(error)[:500], "next": now + backoff, "id": row["id"]})
    return sum(1 for _, error in outcomes if error is None)


async def _send(wechat: WechatClient, row, templates: dict[str, str]) -> object:
    """None when sent; otherwise why not."""
    if row["openid"] is None:
        return "no_channel"
    data = row["data"] if isinstance(row["data"], dict) else json.loads(row["data"])
    try:
        await wechat.send_subscription_message(openid=row["openid"], template_id=templates[row["template"]],
                                               data=data, page=row["page"])
    except WechatSendError as exc:
        return exc
    return None


async def _finish(session: AsyncSession, notification_id: uuid.UUID, status: str, error: str | None,
                  now: datetime) -> None:
    await session.execute(text(
        "UPDATE notifications SET status = :s, attempts = attempts + 1, last_error = :e,"
        " sent_at = CASE WHEN :s = 'sent' THEN CAST(:now AS timestamptz) END WHERE id = :id"),
        {"s": status, "e": error, "now": now, "id": notification_id})
