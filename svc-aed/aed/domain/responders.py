"""Responders going on and off duty. Only a responder with a valid first-aid certificate goes on duty, and only with
their position; it is kept while they are on duty and report it again within `duty_ttl_s`, and never shown to
anyone (the dispatch reads it to find who is near)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from aed.db import incidents as repo
from aed.domain.devices import Position
from aed.settings import AedSettings
from servicekit.errors import Forbidden, UnprocessableInput


async def go_on_duty(
    session: AsyncSession, person: uuid.UUID, position: Position | None, *, settings: AedSettings, now: datetime
) -> datetime:
    """On duty at `position` (or still on duty, there); returns when the position must be reported again."""
    if not await repo.certified(session, person, now):
        raise Forbidden("需持有有效的急救证书", "A valid first-aid certificate is required")
    if position is None:
        raise UnprocessableInput("上岗须提供当前位置", "Your position is required to be on duty")
    point = position.wgs84()
    await repo.go_on_duty(session, person, point.lat, point.lon, now)
    return now + timedelta(seconds=settings.duty_ttl_s)


async def go_off_duty(session: AsyncSession, person: uuid.UUID) -> None:
    """Off duty: the position is forgotten at once."""
    await repo.go_off_duty(session, person)
