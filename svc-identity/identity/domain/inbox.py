"""The in-app inbox: every message the system sends a person (ADR 9: all of them pass through identity) is kept,
whether WeChat or SMS delivered it or not — a subscription message is one-shot and easily lost, and an alert
that went by SMS should be readable in the app too. The person lists it newest first, counts what is unread
and marks messages read; how each was delivered (status, channel, when) is shown with it."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from identity.db import messages as repo
from servicekit import clock
from servicekit.errors import NotFound
from servicekit.pagination import PageRequest, page_of

INBOX = "inbox"  # the list's name in its cursors

# What each kind of message is called in the inbox (the WeChat template's own title).
TITLES = {
    "request_reviewed": "需求审核结果",
    "request_booked": "需求已被预约",
    "service_started": "服务已开始",
    "service_finished": "服务已完成",
    "booking_cancelled": "预约已取消",
    "incident_alert": "急救呼叫",
}


@dataclass(frozen=True)
class Message:
    id: uuid.UUID
    template: str
    title: str
    summary: str
    data: dict
    page: str | None
    requested_at: datetime
    read_at: datetime | None
    delivery: str  # pending, sent, declined, no_channel, failed
    channel: str | None  # wechat or sms, once sent
    sent_at: datetime | None

    @classmethod
    def of(cls, row: dict) -> Message:
        data = json.loads(row["data"]) if isinstance(row["data"], str) else row["data"]  # jsonb comes as text
        parts = [data[k] for k in ("item", "time", "status", "note") if data.get(k)]
        return cls(
            id=row["id"],
            template=row["template"],
            title=TITLES.get(row["template"], "通知"),
            summary=" · ".join(parts),
            data=data,
            page=row["page"],
            requested_at=row["requested_at"],
            read_at=row["read_at"],
            delivery=row["status"],
            channel=row["channel"],
            sent_at=row["sent_at"],
        )


async def messages(
    session: AsyncSession, person_id: uuid.UUID, page: PageRequest, *, unread_only: bool
) -> tuple[list[Message], str | None]:
    rows = await repo.inbox(session, person_id, page, unread_only=unread_only)
    shown, cursor = page_of(INBOX, rows, page, at="requested_at")
    return [Message.of(r) for r in shown], cursor


async def unread(session: AsyncSession, person_id: uuid.UUID) -> int:
    return await repo.unread_count(session, person_id)


async def mark_read(session: AsyncSession, person_id: uuid.UUID, message_id: uuid.UUID) -> Message:
    row = await repo.mark_read(session, person_id, message_id, clock.now())
    if row is None:
        raise NotFound("没有这条消息", "No such message")
    return Message.of(row)


async def mark_all_read(session: AsyncSession, person_id: uuid.UUID) -> int:
    return await repo.mark_all_read(session, person_id, clock.now())
