"""Sign-in and sign-out (签到/签出), and completion.

Accepted within `attendance_radius_m` of the place, sign-in from `check_in_early_minutes` before the start
until the end, sign-out until `check_out_late_minutes` after the end. An institution may sign for a
volunteer without a phone (method `institution`, recorded by the operator).

Recorded minutes: from the later of sign-in and the booked start to the earlier of sign-out and the booked
end, rounded down to the whole minute (the ledger's unit). Arriving early or staying late is not paid: the
elder's coins were held for the booked window, and a longer service is a new request.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.matching import Attendance, AttendanceRecorded, ServiceCompleted, ServiceParticipant
from matching.db import requests as repo
from matching.db.requests import Booking, Request
from matching.domain import catalogue
from matching.domain.callers import institution_of, person_of
from matching.domain.errors import OutsideDistrict, OutsideWindow, RequestNotFound, TooFarFromPlace, WrongState
from matching.domain.notify import notify
from matching.domain.publish import publish
from matching.settings import MatchingSettings
from servicekit import geo
from servicekit.auth import Principal
from servicekit.errors import Forbidden, NotFound, UnprocessableInput

Kind = Literal["check_in", "check_out"]


def recorded_minutes(checked_in_at: datetime, checked_out_at: datetime, starts_at: datetime, ends_at: datetime) -> int:
    served = min(checked_out_at, ends_at) - max(checked_in_at, starts_at)
    return max(0, int(served.total_seconds() // 60))


def _who(principal: Principal, request: Request, volunteer_id: uuid.UUID | None) -> tuple[uuid.UUID, str]:
    """(volunteer, method): the volunteer in the app, or an institution of the district for them."""
    institution_signing = principal.kind == "staff" and principal.has_role("institution_operator")
    if institution_signing:
        if principal.district != request.district:
            raise OutsideDistrict("只能为本区的服务代签", "Institutions sign only for their district's services")
        target = uuid.UUID(principal.acting_for) if principal.acting_for else volunteer_id
        if target is None:
            raise UnprocessableInput("请指明代签的志愿者", "Name the volunteer (volunteer_id) you sign for")
        return target, "institution"
    me = person_of(principal)
    if me is None:
        raise Forbidden("仅限志愿者或服务机构", "Volunteers or institutions only")
    return me, "app"


async def sign(
    session: AsyncSession,
    principal: Principal,
    request_id: uuid.UUID,
    *,
    kind: Kind,
    position: geo.Point | None,
    volunteer_id: uuid.UUID | None,
    settings: MatchingSettings,
    now: datetime,
) -> tuple[Request, Booking]:
    request = await repo.get(session, request_id, lock=True)
    if request is None:
        raise RequestNotFound()
    volunteer, method = _who(principal, request, volunteer_id)
    bookings = await repo.bookings(session, request.id)
    booking = next((b for b in bookings if b.volunteer_id == volunteer and b.live), None)
    if booking is None:
        if method == "app":
            raise RequestNotFound()
        raise NotFound("该志愿者没有预约此需求", "That volunteer has no booking for this request")
    expected = "booked" if kind == "check_in" else "checked_in"
    if booking.status != expected:
        raise WrongState("已签到" if kind == "check_in" else "尚未签到或已签出", f"The booking is {booking.status}")
    _check_time(kind, request, settings, now)
    distance = _check_place(position, request, settings, required=(method == "app"))
    institution = institution_of(principal)
    coords = (position.lat, position.lon) if position else (None, None)
    if kind == "check_in":
        await repo.record_check_in(
            session,
            booking,
            at=now,
            lat=coords[0],
            lon=coords[1],
            distance_m=distance,
            by=principal.id,
            method=method,
            institution_id=institution,
        )
        if request.state in ("open", "booked"):
            request.state = "in_progress"
            await repo.save_state(session, request, now)
            await notify(
                session,
                person_id=request.elder_id,
                template="service_started",
                request=request,
                status="志愿者已签到，服务开始",
                cause=f"started:{request.id}",
                now=now,
            )
    else:
        assert booking.checked_in_at is not None  # checking out follows checking in
        minutes = recorded_minutes(booking.checked_in_at, now, request.starts_at, request.ends_at)
        await repo.record_check_out(
            session,
            booking,
            at=now,
            lat=coords[0],
            lon=coords[1],
            distance_m=distance,
            by=principal.id,
            method=method,
            minutes=minutes,
            institution_id=institution,
        )
    await repo.add_history(
        session,
        request,
        at=now,
        action=kind,
        actor=principal.id,
        acting_for=principal.acting_for,
        note=f"{volunteer} ({method}{'' if distance is None else f', {distance} m'})",
    )
    await publish(
        session,
        AttendanceRecorded(
            request_id=request.id,
            booking_id=booking.id,
            elder_id=request.elder_id,
            volunteer_id=volunteer,
            district=request.district,
            kind=kind,
            at=now,
            distance_m=distance,
            method=method,
            recorded_by=principal.id,
            institution_id=institution,
        ),
        subject=request.id,
        actor=principal.id,
        acting_for=principal.acting_for,
    )
    if kind == "check_out":
        await complete_if_done(session, request, now=now)
    refreshed = next(b for b in await repo.bookings(session, request.id) if b.id == booking.id)
    return request, refreshed


def _check_time(kind: Kind, request: Request, settings: MatchingSettings, now: datetime) -> None:
    if kind == "check_in":
        opens, closes = request.starts_at - timedelta(minutes=settings.check_in_early_minutes), request.ends_at
    else:
        opens, closes = request.starts_at, request.ends_at + timedelta(minutes=settings.check_out_late_minutes)
    if not opens <= now <= closes:
        raise OutsideWindow(
            f"可在 {opens.isoformat()} 至 {closes.isoformat()} 之间{'签到' if kind == 'check_in' else '签出'}",
            f"Allowed between {opens.isoformat()} and {closes.isoformat()}",
            allowed_from=opens.isoformat(),
            allowed_until=closes.isoformat(),
        )


def _check_place(
    position: geo.Point | None, request: Request, settings: MatchingSettings, *, required: bool
) -> int | None:
    if position is None:
        if required:
            raise UnprocessableInput("签到/签出须提供当前位置", "Your position is required")
        return None
    distance = round(geo.distance_m(position, geo.Point(request.lat, request.lon)))
    if distance > settings.attendance_radius_m:
        raise TooFarFromPlace(
            f"您距服务地点约 {distance} 米，须在 {settings.attendance_radius_m} 米以内",
            f"You are {distance} m from the place; within {settings.attendance_radius_m} m is required",
            distance_m=distance,
            allowed_m=settings.attendance_radius_m,
        )
    return distance


async def complete_if_done(session: AsyncSession, request: Request, *, now: datetime) -> bool:
    """When no booked volunteer is still to sign in or out, the service is complete and the ledger pays."""
    bookings = await repo.bookings(session, request.id)
    if any(b.status in ("booked", "checked_in") for b in bookings):
        return False
    served = [b for b in bookings if b.status == "checked_out"]
    if not served:
        return False
    request.state, request.completed_at = "completed", now
    await repo.save_state(session, request, now)
    item = await catalogue.item(session, request.item_id)
    await repo.add_history(
        session,
        request,
        at=now,
        action="completed",
        actor="system",
        note=", ".join(f"{b.volunteer_id}: {b.minutes} 分钟" for b in served),
    )
    await publish(
        session,
        ServiceCompleted(
            request_id=request.id,
            elder_id=request.elder_id,
            district=request.district,
            participants=[ServiceParticipant(volunteer_id=b.volunteer_id, minutes=b.minutes or 0) for b in served],
            completed_at=now,
            category=request.category,
            item_id=request.item_id,
            starts_at=request.starts_at,
            ends_at=request.ends_at,
            institution_id=request.institution_id or next((b.institution_id for b in served if b.institution_id), None),
            night_service_item=bool(item and item.night_service),
            attendance=[
                Attendance(
                    volunteer_id=b.volunteer_id,
                    checked_in_at=b.checked_in_at,
                    check_in_distance_m=b.check_in_distance_m,
                    check_in_by=b.check_in_by,
                    check_in_method=b.check_in_method,
                    checked_out_at=b.checked_out_at,
                    check_out_distance_m=b.check_out_distance_m,
                    check_out_by=b.check_out_by,
                    check_out_method=b.check_out_method,
                    minutes=b.minutes or 0,
                )
                for b in served
            ],
        ),
        subject=request.id,
    )
    await notify(
        session,
        person_id=request.elder_id,
        template="service_finished",
        request=request,
        status="服务已完成，请评价",
        note=f"共{sum(b.minutes or 0 for b in served)}分钟",
        cause=f"finished:{request.id}",
        now=now,
    )
    return True
