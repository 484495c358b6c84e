"""满意度评价: once per completed service, by the elder in the app or by an institution of the district after
a phone follow-up (回访). Scores at or below `low_rating_threshold` are flagged and open a follow-up."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.matching import ServiceRated
from matching.db import requests as repo
from matching.domain import follow_ups
from matching.domain.callers import person_of
from matching.domain.errors import OutsideDistrict, RequestNotFound, WrongState
from matching.domain.publish import publish
from servicekit.auth import Principal
from servicekit.errors import Conflict


@dataclass(frozen=True)
class Rating:
    request_id: uuid.UUID
    score: int
    comment: str | None
    channel: str
    rated_by: str
    flagged: bool
    rated_at: datetime


async def rate(
    session: AsyncSession,
    principal: Principal,
    request_id: uuid.UUID,
    *,
    score: int,
    comment: str | None,
    threshold: int,
    now: datetime,
) -> Rating:
    request = await repo.get(session, request_id, lock=True)
    if request is None:
        raise RequestNotFound()
    me = person_of(principal)
    if me == request.elder_id:
        channel = "institution_phone" if principal.acting_for else "elder"
    elif principal.kind == "staff" and principal.has_role("institution_operator") and not principal.acting_for:
        if principal.district != request.district:
            raise OutsideDistrict("只能回访本区的服务", "Institutions follow up their own district's services")
        channel = "institution_phone"
    elif principal.kind == "staff":
        raise OutsideDistrict("评价由老人本人或服务机构回访后填写", "Ratings come from the elder or an institution")
    else:
        raise RequestNotFound()
    if request.state != "completed":
        raise WrongState("服务完成后才能评价", "Only a completed service is rated")
    rating = Rating(request.id, score, comment, channel, principal.id, score <= threshold, now)
    if not await repo.insert_rating(session, **vars(rating)):
        raise Conflict("该服务已评价", "This service has already been rated")
    volunteers = [b.volunteer_id for b in await repo.bookings(session, request.id) if b.status == "checked_out"]
    await repo.add_history(
        session,
        request,
        at=now,
        action="rated",
        actor=principal.id,
        acting_for=principal.acting_for,
        note=f"{score}/5{' (flagged)' if rating.flagged else ''}",
    )
    await publish(
        session,
        ServiceRated(
            request_id=request.id,
            elder_id=request.elder_id,
            volunteer_ids=volunteers,
            district=request.district,
            score=score,
            channel=channel,
            rated_by=principal.id,
            flagged=rating.flagged,
            rated_at=now,
        ),
        subject=request.id,
        actor=principal.id,
        acting_for=principal.acting_for,
    )
    if rating.flagged:
        await follow_ups.after_low_rating(session, request, score=score, comment=comment, now=now)
    return rating


async def rating_of(session: AsyncSession, request_id: uuid.UUID) -> Rating | None:
    row = await repo.rating(session, request_id)
    return Rating(**row) if row else None
