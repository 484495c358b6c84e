"""What the parties hear (WeChat subscription messages, delivered by identity from our events): the elder
when the request is reviewed, booked, started and finished; a volunteer when their booking is cancelled by
someone else. Published in the use case's transaction, so a message goes out iff the change committed, and
the request never waits for WeChat."""

from __future__ import annotations

import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.matching import NotificationRequested, NotificationTemplate
from matching.db.requests import Request
from matching.domain import catalogue
from matching.domain.publish import publish

_NAMESPACE = uuid.UUID("6f1d3c2a-9b4e-4f7a-8c1d-2e5f6a7b8c9d")
BEIJING = ZoneInfo("Asia/Shanghai")
BEIJING_FORMAT = "%Y-%m-%d %H:%M"


def _beijing(at: datetime) -> str:
    return at.astimezone(BEIJING).strftime(BEIJING_FORMAT)


async def notify(
    session: AsyncSession,
    *,
    person_id: uuid.UUID,
    template: NotificationTemplate,
    request: Request,
    status: str,
    cause: str,
    now: datetime,
    note: str | None = None,
) -> None:
    """`cause` names what happened (e.g. `booked:<booking id>`): the same cause never notifies twice."""
    item = await catalogue.item(session, request.item_id)
    data = {
        "item": (item.name if item else catalogue.CATEGORIES[request.category])[:20],
        "time": _beijing(request.starts_at),
        "status": status[:20],
    }
    if note:
        data["note"] = note[:20]
    await publish(
        session,
        NotificationRequested(
            notification_id=uuid.uuid5(_NAMESPACE, f"{cause}:{person_id}:{template}"),
            person_id=person_id,
            template=template,
            data=data,
            page=f"pages/requests/detail?id={request.id}",
            requested_at=now,
        ),
        subject=request.id,
    )
