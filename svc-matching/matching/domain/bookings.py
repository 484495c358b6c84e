"""Booking (预约): atomic, never two overlapping bookings for one volunteer (the database's exclusion
constraint decides races), never one's own or a direct relative's request, several volunteers for a group, a
minor only alongside a confirmed guardian, an item that needs a qualification only by its holders."""

from __future__ import annotations

import uuid
from datetime import datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.matching import RequestBooked
from matching.db import catalogue as catalogue_repo
from matching.db import people
from matching.db import requests as repo
from matching.db.requests import Booking, Request
from matching.domain import relatives
from matching.domain.callers import person_of
from matching.domain.catalogue import QUALIFICATIONS
from matching.domain.errors import (
    AccountClosing,
    FullyBooked,
    GuardianMustAccompany,
    NotEligibleVolunteer,
    NotForMinors,
    OverlappingBooking,
    OwnOrRelativesRequest,
    QualificationRequired,
    RequestNotFound,
    WrongState,
)
from matching.domain.notify import notify
from matching.domain.publish import publish
from servicekit.auth import Principal
from servicekit.errors import Conflict, Forbidden
from servicekit.ids import new_id


async def eligible_volunteer(session: AsyncSession, principal: Principal) -> uuid.UUID:
    """The volunteer the call is for, if identity currently lets them serve (verified, resident, trained, not
    sanctioned, not suspended). Institutions may act for a volunteer without a phone."""
    volunteer_id = person_of(principal)
    if volunteer_id is None:
        raise Forbidden("仅限志愿者", "Volunteers only")
    facts = await people.facts(session, volunteer_id)
    if facts is not None and facts.closing:
        raise AccountClosing()
    if facts is None or not facts.may_serve:
        reason = (
            "您的志愿服务记录权限已被取消"
            if facts and facts.recording_revoked
            else "需完成实名认证、常住居民登记和志愿者培训"
        )
        raise NotEligibleVolunteer(
            reason, "Verification, residence and training are required, and no sanction standing"
        )
    return volunteer_id


BEIJING = ZoneInfo("Asia/Shanghai")

# What a minor student may take on (decided here; DOMAIN.md asks only for a guardian's company): company,
# culture and sports, lessons and help with phones and online risks — not physical help, escorting outdoors,
# health advice or legal aid — and only by day, the whole window within 08:00–20:00 Beijing time.
MINOR_CATEGORIES = frozenset({"emotional_comfort", "culture_sports", "training_lectures", "fraud_prevention"})
MINOR_DAY = (time(8, 0), time(20, 0))


async def _minor_rules(session: AsyncSession, volunteer_id: uuid.UUID, request: Request, live: list[Booking]) -> None:
    """A minor student serves only accompanied by a confirmed guardian (DOMAIN.md): one of them must already
    hold a booking of the same request; and only suitable services, by day."""
    facts = await people.facts(session, volunteer_id)
    if facts is None or not facts.minor:
        return
    starts, ends = request.starts_at.astimezone(BEIJING), request.ends_at.astimezone(BEIJING)
    if request.category not in MINOR_CATEGORIES:
        raise NotForMinors("该类服务不适合未成年志愿者", f"{request.category} is not a service for minors")
    if starts.date() != ends.date() or starts.time() < MINOR_DAY[0] or ends.time() > MINOR_DAY[1]:
        raise NotForMinors("未成年志愿者只能在8:00至20:00之间服务", "Minors serve between 08:00 and 20:00 only")
    if not await people.guardians_of(session, volunteer_id) & {b.volunteer_id for b in live}:
        raise GuardianMustAccompany()


async def _qualification_rule(session: AsyncSession, volunteer_id: uuid.UUID, request: Request) -> None:
    """An item that needs a professional qualification (法律咨询 needs 法律职业资格) is booked only by a holder
    whose qualification is valid through the day of service."""
    item = await catalogue_repo.get(session, request.item_id)
    if item is None or item.qualification is None:
        return
    last_day = request.ends_at.astimezone(BEIJING).date()
    if not await people.qualified(session, volunteer_id, item.qualification, through=last_day):
        name = QUALIFICATIONS[item.qualification]
        raise QualificationRequired(
            f"该服务须持有在服务当日有效的{name}",
            f"The service needs a {item.qualification} qualification valid on the day",
        )


async def book(
    session: AsyncSession, principal: Principal, request_id: uuid.UUID, *, now: datetime
) -> tuple[Request, Booking]:
    volunteer_id = await eligible_volunteer(session, principal)
    request = await repo.get(session, request_id, lock=True)  # serialises bookings of one request
    if request is None:
        raise RequestNotFound()
    if request.state == "booked":
        raise FullyBooked()
    if request.state != "open":
        raise WrongState(f"需求当前状态为 {request.state}，不能预约", f"A {request.state} request cannot be booked")
    if request.starts_at <= now:
        raise WrongState("服务已开始，不能预约", "The window has started")
    if await relatives.own_or_relatives(session, volunteer_id, request.elder_id):
        raise OwnOrRelativesRequest()
    live = [b for b in await repo.bookings(session, request.id) if b.live]
    if any(b.volunteer_id == volunteer_id for b in live):
        raise Conflict("您已预约该需求", "You have already booked this request")
    await _minor_rules(session, volunteer_id, request, live)
    await _qualification_rule(session, volunteer_id, request)
    if len(live) >= request.volunteers_needed:
        raise FullyBooked()
    booking_id = new_id()
    try:
        async with session.begin_nested():
            await repo.insert_booking(
                session, booking_id=booking_id, request=request, volunteer_id=volunteer_id, now=now
            )
    except IntegrityError as exc:
        if "no_overlapping_bookings" in str(exc.orig):
            raise OverlappingBooking() from None
        if "one_live_booking_per_volunteer" in str(exc.orig):
            raise Conflict("您已预约该需求", "You have already booked this request") from None
        raise
    if len(live) + 1 >= request.volunteers_needed:
        request.state = "booked"
    await repo.save_state(session, request, now)
    await repo.add_history(
        session,
        request,
        at=now,
        action="booked",
        actor=principal.id,
        acting_for=principal.acting_for,
        note=str(volunteer_id),
    )
    await publish(
        session,
        RequestBooked(
            request_id=request.id,
            booking_id=booking_id,
            elder_id=request.elder_id,
            volunteer_id=volunteer_id,
            district=request.district,
            starts_at=request.starts_at,
            ends_at=request.ends_at,
            booked_at=now,
        ),
        subject=request.id,
        actor=principal.id,
        acting_for=principal.acting_for,
    )
    await notify(
        session,
        person_id=request.elder_id,
        template="request_booked",
        request=request,
        status="志愿者已预约" if request.state == "booked" else "已有志愿者预约",
        cause=f"booked:{booking_id}",
        now=now,
    )
    booking = next(b for b in await repo.bookings(session, request.id) if b.id == booking_id)
    return request, booking
