"""Follow-ups (回访): a low rating, a booking cancelled late (by either side) or a volunteer who did not come
opens one for the district. An institution operator of the district takes it — and may then read the elder's
contact at identity, each read audited, until it closes — calls the elder, and closes it with a note. The
district office sees them all, releases one taken but left, and may close one itself."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.matching import FollowUpAssigned, FollowUpClosed, FollowUpOpened, FollowUpReleased
from matching.db import follow_ups as repo
from matching.db.follow_ups import FollowUp
from matching.db.requests import Booking, Request
from matching.domain.callers import staff_in_scope
from matching.domain.publish import publish
from matching.domain.search import staff_district
from servicekit.auth import Principal
from servicekit.errors import Conflict, Forbidden, NotFound
from servicekit.ids import new_id
from servicekit.pagination import PageRequest, page_of

FOLLOW_UPS = "follow-ups"  # the list's name in its cursors


class FollowUpNotFound(NotFound):
    type, title_zh, title_en = "follow-up-not-found", "回访任务不存在", "No such follow-up"


async def after_low_rating(
    session: AsyncSession, request: Request, *, score: int, comment: str | None, now: datetime
) -> None:
    await _open(
        session,
        request,
        cause="low_rating",
        source=f"rating:{request.id}",
        detail=f"评分 {score}/5" + (f"：{comment}" if comment else ""),
        now=now,
    )


async def after_booking_ended(
    session: AsyncSession,
    request: Request,
    booking: Booking,
    *,
    why: str,
    reason: str,
    late: bool,
    status: str,
    now: datetime,
) -> None:
    """A late cancellation by either side, or a no-show, leaves an elder waiting: someone calls them."""
    if status == "no_show":
        await _open(session, request, cause="no_show", source=f"booking:{booking.id}", detail="志愿者未签到", now=now)
    elif late and why in ("volunteer_cancelled", "request_cancelled"):
        side = "志愿者" if why == "volunteer_cancelled" else "需求方"
        await _open(
            session,
            request,
            cause="late_cancellation",
            source=f"booking:{booking.id}",
            detail=f"{side}迟取消：{reason}",
            now=now,
        )


async def _open(
    session: AsyncSession, request: Request, *, cause: str, source: str, detail: str, now: datetime
) -> None:
    follow_up_id = new_id()
    if await repo.open_once(
        session,
        follow_up_id=follow_up_id,
        request_id=request.id,
        elder_id=request.elder_id,
        district=request.district,
        cause=cause,
        source=source,
        detail=detail,
        now=now,
    ):
        await publish(
            session,
            FollowUpOpened(
                follow_up_id=follow_up_id,
                request_id=request.id,
                elder_id=request.elder_id,
                district=request.district,
                cause=cause,
                opened_at=now,
            ),
            subject=request.id,
        )


async def listed(
    session: AsyncSession,
    principal: Principal,
    page: PageRequest,
    *,
    district: str | None,
    state: str | None,
    mine: bool,
) -> tuple[list[FollowUp], str | None]:
    _check_staff(principal)
    scope = staff_district(principal, district)
    rows = await repo.page(session, page, district=scope, state=state, assigned_to=principal.id if mine else None)
    return page_of(FOLLOW_UPS, rows, page, at="opened_at")


async def one(session: AsyncSession, principal: Principal, follow_up_id: uuid.UUID, *, lock: bool = False) -> FollowUp:
    _check_staff(principal)
    follow_up = await repo.get(session, follow_up_id, lock=lock)
    if follow_up is None or not staff_in_scope(principal, follow_up.district):
        raise FollowUpNotFound()
    return follow_up


async def take(session: AsyncSession, operator: Principal, follow_up_id: uuid.UUID, *, now: datetime) -> FollowUp:
    """An institution operator of the district takes an open follow-up (taking one's own again changes nothing)."""
    follow_up = await one(session, operator, follow_up_id, lock=True)
    if not operator.has_role("institution_operator") or operator.district != follow_up.district:
        raise Forbidden("回访由本区服务机构承接", "An institution of the district takes follow-ups")
    if follow_up.state == "assigned" and follow_up.assigned_to == operator.id:
        return follow_up
    if follow_up.state != "open":
        raise Conflict("回访任务已被承接或已关闭", "The follow-up is taken or closed")
    follow_up.state, follow_up.assigned_to, follow_up.assigned_by, follow_up.assigned_at = (
        "assigned",
        operator.id,
        operator.id,
        now,
    )
    await repo.save(session, follow_up)
    await publish(
        session,
        FollowUpAssigned(
            follow_up_id=follow_up.id,
            elder_id=follow_up.elder_id,
            assigned_to=operator.id,
            assigned_by=operator.id,
            assigned_at=now,
        ),
        subject=follow_up.request_id,
        actor=operator.id,
    )
    return follow_up


async def release(session: AsyncSession, principal: Principal, follow_up_id: uuid.UUID, *, now: datetime) -> FollowUp:
    """Back to open: by the operator who took it, or the district office (one taken and left)."""
    follow_up = await one(session, principal, follow_up_id, lock=True)
    if follow_up.state != "assigned":
        raise Conflict("只有已承接的回访可以退回", "Only a taken follow-up is released")
    _check_in_charge(principal, follow_up)
    follow_up.state, follow_up.assigned_to, follow_up.assigned_by, follow_up.assigned_at = "open", None, None, None
    await repo.save(session, follow_up)
    await publish(
        session,
        FollowUpReleased(
            follow_up_id=follow_up.id, elder_id=follow_up.elder_id, released_by=principal.id, released_at=now
        ),
        subject=follow_up.request_id,
        actor=principal.id,
    )
    return follow_up


async def close(
    session: AsyncSession, principal: Principal, follow_up_id: uuid.UUID, *, outcome: str, now: datetime
) -> FollowUp:
    """Closed with what came of it: by the operator who took it, or the district office."""
    follow_up = await one(session, principal, follow_up_id, lock=True)
    if follow_up.state == "closed":
        raise Conflict("回访任务已关闭", "The follow-up is closed")
    _check_in_charge(principal, follow_up)
    follow_up.state, follow_up.closed_by, follow_up.closed_at, follow_up.outcome = "closed", principal.id, now, outcome
    await repo.save(session, follow_up)
    await publish(
        session,
        FollowUpClosed(follow_up_id=follow_up.id, elder_id=follow_up.elder_id, closed_by=principal.id, closed_at=now),
        subject=follow_up.request_id,
        actor=principal.id,
    )
    return follow_up


def _check_staff(principal: Principal) -> None:
    if principal.kind != "staff" or principal.acting_for:
        raise Forbidden("仅限工作人员", "Staff only")


def _check_in_charge(principal: Principal, follow_up: FollowUp) -> None:
    office = principal.has_role("district_officer") and principal.district == follow_up.district
    if not office and follow_up.assigned_to != principal.id:
        raise Forbidden("只有承接人或区民政可以处理该回访", "Only whoever took it, or the district office")
