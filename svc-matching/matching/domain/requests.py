"""A request's life (DESIGN.md §4): submitted → (ledger holds the coins) awaiting_review → (reviewed) open →
booked → in_progress → completed, or closed at any step before completion with a reason the elder sees:
hold_rejected, review_rejected, cancelled or expired. Every step is in the history and every step the
ledger or the other parties care about is an event."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.districts import DISTRICTS
from contracts.ledger import HoldPlaced, HoldRejected
from contracts.matching import (
    BookingCancelled,
    ListExported,
    RequestCancelled,
    RequestEdited,
    RequestReviewed,
    RequestSubmitted,
)
from matching.db import people
from matching.db import requests as repo
from matching.db.requests import Booking, Request
from matching.domain import access, catalogue, follow_ups, relatives, search
from matching.domain.callers import institution_of, may_review, person_of, staff_in_scope
from matching.domain.errors import (
    AccountClosing,
    BadWindow,
    OutsideBeijing,
    OutsideDistrict,
    RequestNotFound,
    UnknownItem,
    WrongState,
)
from matching.domain.notify import notify
from matching.domain.publish import publish
from matching.settings import MatchingSettings
from servicekit import exports, geo
from servicekit.auth import Principal
from servicekit.errors import Forbidden, UnprocessableInput
from servicekit.ids import new_id
from servicekit.pagination import PageRequest, page_of
from servicekit.pii import PersonalDataCipher, Sealed

CANCELLABLE = ("submitted", "awaiting_review", "open", "booked")


@dataclass(frozen=True)
class NewRequest:
    category: str
    item_id: uuid.UUID
    lat: float
    lon: float
    coord_system: geo.CoordSystem
    address: str
    district: str
    starts_at: datetime
    ends_at: datetime
    notes: str | None = None
    volunteers_needed: int = 1
    for_elder: uuid.UUID | None = None  # a relative publishing for this elder


def seal_address(cipher: PersonalDataCipher, request_id: uuid.UUID, address: str) -> tuple[str, bytes]:
    sealed = cipher.seal(address, purpose="address", owner=str(request_id))
    return sealed.key_id, sealed.blob


ERASED_ADDRESS = "（已删除）"


def open_address(cipher: PersonalDataCipher, request: Request) -> str:
    if request.address_key == repo.ERASED:  # the elder closed their account and nobody needs it for a claim
        return ERASED_ADDRESS
    return cipher.open(Sealed(request.address_key, request.address_sealed), purpose="address", owner=str(request.id))


async def publish_request(
    session: AsyncSession,
    principal: Principal,
    new: NewRequest,
    *,
    settings: MatchingSettings,
    cipher: PersonalDataCipher,
    now: datetime,
) -> Request:
    """An elder, a confirmed direct relative for them, or an institution operator acting for one publishes a
    need (发布养老服务需求); a relative's and an operator's are recorded as acting for the elder."""
    elder_id, acting_for = person_of(principal), principal.acting_for
    if elder_id is None:
        raise Forbidden(
            "请由老人本人或代办机构发布需求", "Requests are published by the elder or an institution acting for them"
        )
    if new.for_elder is not None and new.for_elder != elder_id:
        elder_id = await relatives.relative_acting_for(session, principal, new.for_elder)
        acting_for = str(elder_id)
    facts = await people.facts(session, elder_id)
    own = principal.kind == "person" and acting_for is None
    is_elder = principal.has_role("elder") if own else bool(facts and facts.elder)
    if not is_elder:
        raise Forbidden("实名认证后才能发布需求", "Real-name verification is required to publish a request")
    if facts is not None and facts.closing:
        raise AccountClosing()
    place = geo.to_wgs84(new.lat, new.lon, new.coord_system)
    if not geo.in_beijing(place):
        raise OutsideBeijing("服务地点须在北京市范围内", f"({place.lat:.5f}, {place.lon:.5f}) is outside Beijing")
    if new.district not in DISTRICTS:
        raise UnprocessableInput("区代码不存在", f"Unknown district {new.district}")
    item = await catalogue.item(session, new.item_id)
    if item is None or not item.offered_in(new.district) or item.category != new.category:
        raise UnknownItem(
            "该区没有此服务项目，或项目与类别不符", "The district offers no such item under that category"
        )
    _check_window(new, settings=settings, now=now, max_minutes=item.max_minutes)
    if new.volunteers_needed > item.max_volunteers:
        raise UnprocessableInput(
            f"该项目最多{item.max_volunteers}名志愿者", f"This item takes at most {item.max_volunteers} volunteers"
        )
    window_minutes = int((new.ends_at - new.starts_at).total_seconds() // 60)
    request_id = new_id()
    address_key, address_sealed = seal_address(cipher, request_id, new.address)
    request = Request(
        id=request_id,
        elder_id=elder_id,
        district=new.district,
        category=new.category,
        item_id=new.item_id,
        lat=place.lat,
        lon=place.lon,
        address_key=address_key,
        address_sealed=address_sealed,
        notes=new.notes,
        starts_at=new.starts_at,
        ends_at=new.ends_at,
        volunteers_needed=new.volunteers_needed,
        estimated_minutes=window_minutes * new.volunteers_needed,
        priority=bool(facts and facts.special),
        state="submitted",
        close_reason=None,
        close_note=None,
        hold_id=None,
        submitted_by=principal.id,
        institution_id=institution_of(principal),
        created_at=now,
        updated_at=now,
        completed_at=None,
    )
    await repo.insert(session, request)
    await repo.add_history(session, request, at=now, action="submitted", actor=principal.id, acting_for=acting_for)
    await publish(
        session,
        RequestSubmitted(
            request_id=request.id,
            elder_id=elder_id,
            district=request.district,
            category=request.category,
            estimated_minutes=request.estimated_minutes,
            starts_at=request.starts_at,
            ends_at=request.ends_at,
            submitted_by=principal.id,
            submitted_at=now,
        ),
        subject=request.id,
        actor=principal.id,
        acting_for=acting_for,
    )
    return request


def _check_window(new: NewRequest, *, settings: MatchingSettings, now: datetime, max_minutes: int) -> None:
    if new.ends_at <= new.starts_at:
        raise BadWindow("结束时间须晚于开始时间", "The end must be after the start")
    if new.starts_at <= now:
        raise BadWindow("开始时间须在将来", "The start must be in the future")
    if new.starts_at > now + timedelta(days=settings.max_days_ahead):
        raise BadWindow(f"最多提前{settings.max_days_ahead}天发布", f"At most {settings.max_days_ahead} days ahead")
    longest = min(max_minutes, settings.max_window_minutes)
    if new.ends_at - new.starts_at > timedelta(minutes=longest):
        raise BadWindow(f"该项目单次服务不超过{longest}分钟", f"This item's window is at most {longest} minutes")
    if (new.ends_at - new.starts_at) < timedelta(minutes=15):
        raise BadWindow("单次服务至少15分钟", "A window is at least 15 minutes")


# --- the saga with the ledger --------------------------------------------------------------------------


async def holds_answered(session: AsyncSession, answers: list[HoldPlaced | HoldRejected], *, now: datetime) -> None:
    """The ledger's answers to a poll's submitted requests, in order: a placed hold sends the request to
    review, a rejected one closes it. Only a request still `submitted` moves (one cancelled meanwhile has its
    hold released by the cancellation; a redelivered answer finds it moved already). One lock statement, one
    update and one history insert for the whole poll."""
    requests = await repo.get_many(session, [a.request_id for a in answers])
    moved: dict[uuid.UUID, Request] = {}
    steps: list[tuple[Request, str, str | None]] = []
    for answer in answers:
        request = requests.get(answer.request_id)
        if request is None or request.state != "submitted":
            continue
        if isinstance(answer, HoldPlaced):
            request.state, request.hold_id = "awaiting_review", answer.hold_id
            steps.append((request, "coins_held", f"{answer.amount} 分钟"))
        else:
            request.state, request.close_reason, request.close_note = "closed", "hold_rejected", answer.reason
            steps.append((request, "hold_rejected", answer.reason))
        moved[request.id] = request
    if steps:
        await repo.save_states(session, list(moved.values()), now)
        await repo.add_histories(session, steps, at=now, actor="ledger")


# --- review and cancellation ---------------------------------------------------------------------------


async def review(
    session: AsyncSession,
    principal: Principal,
    request_id: uuid.UUID,
    *,
    approve: bool,
    note: str | None,
    now: datetime,
) -> Request:
    request = await _get_for_staff(session, principal, request_id, lock=True)
    if not may_review(principal, request.district):
        raise OutsideDistrict(
            "只能审核本区的需求", "Only an institution or the office of the request's district reviews it"
        )
    if request.state != "awaiting_review":
        raise WrongState(
            f"需求当前状态为 {request.state}，不能审核", f"The request is {request.state}, not awaiting review"
        )
    if not approve and not (note and note.strip()):
        raise UnprocessableInput("驳回须说明理由", "A rejection needs a note the elder can read")
    decision = "approve" if approve else "reject"
    await publish(
        session,
        RequestReviewed(
            request_id=request.id,
            elder_id=request.elder_id,
            district=request.district,
            decision=decision,
            reviewed_by=principal.id,
            institution_id=institution_of(principal),
            reviewed_at=now,
        ),
        subject=request.id,
        actor=principal.id,
    )
    await notify(
        session,
        person_id=request.elder_id,
        template="request_reviewed",
        request=request,
        status="审核通过，等待志愿者预约" if approve else "审核未通过",
        note=None if approve else note,
        cause=f"review:{request.id}",
        now=now,
    )
    if approve:
        request.state = "open" if request.starts_at > now else request.state
        if request.state != "open":
            return await _close(
                session, request, reason="expired", note="审核时服务时间已过", actor=principal.id, now=now
            )
        await repo.save_state(session, request, now)
        await repo.add_history(session, request, at=now, action="approved", actor=principal.id, note=note)
        return request
    return await _close(
        session, request, reason="review_rejected", note=note, actor=principal.id, now=now, action="rejected"
    )


async def cancel(
    session: AsyncSession,
    principal: Principal,
    request_id: uuid.UUID,
    *,
    reason: str,
    settings: MatchingSettings,
    now: datetime,
) -> Request:
    """The elder (or their institution, or a confirmed direct relative for them) or staff in scope cancel the
    request: every booking ends and the hold is released. A volunteer cancels only their own booking and the request reopens for others."""
    request = await repo.get(session, request_id, lock=True)
    if request is None:
        raise RequestNotFound()
    me = person_of(principal)
    bookings = await repo.bookings(session, request.id)
    mine = next((b for b in bookings if b.volunteer_id == me and b.live), None) if me else None
    if me is not None and me != request.elder_id and mine is not None and not principal.acting_for:
        return await _volunteer_cancels(session, principal, request, mine, reason=reason, settings=settings, now=now)
    acting_for = principal.acting_for
    if await relatives.is_relative(session, principal, request.elder_id):
        acting_for = str(request.elder_id)  # a confirmed relative cancels for the elder
    elif me != request.elder_id and not staff_in_scope(principal, request.district):
        if me is not None and principal.kind == "person":
            raise RequestNotFound()
        raise OutsideDistrict()
    if request.state not in CANCELLABLE:
        raise WrongState(f"需求当前状态为 {request.state}，不能取消", f"A {request.state} request cannot be cancelled")
    late = _late(request, settings, now)
    for booking in bookings:
        if booking.live:
            await end_booking(
                session, request, booking, by=principal.id, reason=reason, why="request_cancelled", late=late, now=now
            )
    return await _close(
        session, request, reason="cancelled", note=reason, actor=principal.id, now=now, acting_for=acting_for, late=late
    )


EDITABLE = ("submitted", "awaiting_review", "open")


@dataclass(frozen=True)
class RequestChanges:
    starts_at: datetime | None = None  # the end moves with it: the length stays
    address: str | None = None
    lat: float | None = None
    lon: float | None = None
    coord_system: geo.CoordSystem = "wgs84"
    notes: str | None = None


async def edit(
    session: AsyncSession,
    principal: Principal,
    request_id: uuid.UUID,
    changes: RequestChanges,
    *,
    settings: MatchingSettings,
    cipher: PersonalDataCipher,
    now: datetime,
) -> Request:
    """The elder (or a confirmed relative, or their institution, acting for them) changes a request before anyone
    booked it: a new start (the length, and so the hold, stays: a different length is a new request), a new
    place within the same district, or notes. An approved request whose time or place changed goes back to
    review: the reviewer approved that time and place."""
    request = await repo.get(session, request_id, lock=True)
    if request is None:
        raise RequestNotFound()
    me, acting_for = person_of(principal), principal.acting_for
    if me != request.elder_id:
        if not await relatives.is_relative(session, principal, request.elder_id):
            raise RequestNotFound()
        acting_for = str(request.elder_id)
    if request.state not in EDITABLE:
        raise WrongState(f"需求当前状态为 {request.state}，不能修改", f"A {request.state} request cannot be edited")
    if any(b.live for b in await repo.bookings(session, request.id)):
        raise WrongState("已有志愿者预约，请先取消需求后重新发布", "Already booked: cancel and publish anew")
    changed: list[str] = []
    if changes.starts_at is not None and changes.starts_at != request.starts_at:
        length = request.ends_at - request.starts_at
        item = await catalogue.item(session, request.item_id)
        window = NewRequest(
            category=request.category,
            item_id=request.item_id,
            lat=request.lat,
            lon=request.lon,
            coord_system="wgs84",
            address="",
            district=request.district,
            starts_at=changes.starts_at,
            ends_at=changes.starts_at + length,
        )
        _check_window(window, settings=settings, now=now, max_minutes=item.max_minutes if item else 0)
        request.starts_at, request.ends_at = window.starts_at, window.ends_at
        changed.append("time")
    if changes.address is not None or changes.lat is not None:
        if changes.lat is not None and changes.lon is not None:
            place = geo.to_wgs84(changes.lat, changes.lon, changes.coord_system)
            if not geo.in_beijing(place):
                raise OutsideBeijing(
                    "服务地点须在北京市范围内", f"({place.lat:.5f}, {place.lon:.5f}) is outside Beijing"
                )
            request.lat, request.lon = place.lat, place.lon
        if changes.address is not None:
            request.address_key, request.address_sealed = seal_address(cipher, request.id, changes.address)
        changed.append("place")
    if changes.notes is not None and changes.notes != request.notes:
        request.notes = changes.notes
        changed.append("notes")
    if not changed:
        return request
    back_to_review = request.state == "open" and bool({"time", "place"} & set(changed))
    if back_to_review:
        request.state = "awaiting_review"
    request.updated_at = now
    await repo.save_details(session, request)
    await repo.add_history(
        session,
        request,
        at=now,
        action="edited",
        actor=principal.id,
        acting_for=acting_for,
        note=", ".join(changed) + ("; back to review" if back_to_review else ""),
    )
    await publish(
        session,
        RequestEdited(
            request_id=request.id,
            elder_id=request.elder_id,
            changed=changed,
            starts_at=request.starts_at,
            ends_at=request.ends_at,
            back_to_review=back_to_review,
            edited_by=principal.id,
            edited_at=now,
        ),
        subject=request.id,
        actor=principal.id,
        acting_for=acting_for,
    )
    return request


def _late(request: Request, settings: MatchingSettings, now: datetime) -> bool:
    return request.starts_at - now < timedelta(hours=settings.late_cancellation_hours)


async def _volunteer_cancels(
    session: AsyncSession,
    principal: Principal,
    request: Request,
    booking: Booking,
    *,
    reason: str,
    settings: MatchingSettings,
    now: datetime,
) -> Request:
    if booking.status != "booked":
        raise WrongState("已签到的服务不能取消预约，请签出", "Signed in: sign out instead of cancelling")
    late = _late(request, settings, now)
    await end_booking(
        session, request, booking, by=principal.id, reason=reason, why="volunteer_cancelled", late=late, now=now
    )
    await minors_left_alone(session, request, now=now)
    await reopen_if_needed(session, request, now=now, actor=principal.id, note=("迟取消：" if late else "") + reason)
    return request


async def minors_left_alone(session: AsyncSession, request: Request, *, now: datetime) -> None:
    """A minor serves only with a guardian (DOMAIN.md): when the last of their guardians booked on the request
    leaves, the minor's booking ends too, and they are told."""
    live = [b for b in await repo.bookings(session, request.id) if b.live]
    booked = {b.volunteer_id for b in live}
    for other in live:
        facts = await people.facts(session, other.volunteer_id)
        if (
            facts is not None
            and facts.minor
            and other.status == "booked"
            and not await people.guardians_of(session, other.volunteer_id) & booked
        ):
            await end_booking(
                session,
                request,
                other,
                by="system",
                reason="监护人已取消预约，未成年志愿者不能单独服务",
                why="guardian_left",
                late=False,
                now=now,
            )


async def end_booking(
    session: AsyncSession,
    request: Request,
    booking: Booking,
    *,
    by: str,
    reason: str,
    why: str,
    late: bool,
    now: datetime,
    status: str = "cancelled",
) -> None:
    await repo.cancel_booking(session, booking, status=status, at=now, by=by, reason=reason, late=late)
    await publish(
        session,
        BookingCancelled(
            request_id=request.id,
            booking_id=booking.id,
            elder_id=request.elder_id,
            volunteer_id=booking.volunteer_id,
            district=request.district,
            cancelled_by=by,
            reason=reason,
            why=why,
            late=late,
            cancelled_at=now,
        ),
        subject=request.id,
        actor=by,
    )
    if why != "volunteer_cancelled":  # the volunteer hears of a cancellation they did not make themself
        await notify(
            session,
            person_id=booking.volunteer_id,
            template="booking_cancelled",
            request=request,
            status="预约已取消",
            note=reason,
            cause=f"booking-ended:{booking.id}",
            now=now,
        )
    await follow_ups.after_booking_ended(
        session, request, booking, why=why, reason=reason, late=late, status=status, now=now
    )


async def cancel_unstarted(session: AsyncSession, request: Request, *, actor: str, reason: str, now: datetime) -> None:
    """Cancel a request nobody has started to serve, for a reason outside the parties (the elder closes their
    account): its bookings end, the ledger releases its hold."""
    for booking in await repo.bookings(session, request.id):
        if booking.live:
            await end_booking(
                session, request, booking, by=actor, reason=reason, why="request_cancelled", late=False, now=now
            )
    await _close(session, request, reason="cancelled", note=reason, actor=actor, now=now)


async def reopen_if_needed(session: AsyncSession, request: Request, *, now: datetime, actor: str, note: str) -> None:
    """After a booking ended: a fully booked request takes bookings again while its window has not started."""
    live = [b for b in await repo.bookings(session, request.id) if b.live]
    if request.state == "booked" and len(live) < request.volunteers_needed:
        request.state = "open"
        await repo.save_state(session, request, now)
    await repo.add_history(session, request, at=now, action="booking_cancelled", actor=actor, note=note)


async def _close(
    session: AsyncSession,
    request: Request,
    *,
    reason: str,
    note: str | None,
    actor: str,
    now: datetime,
    action: str | None = None,
    acting_for: str | None = None,
    late: bool = False,
) -> Request:
    request.state, request.close_reason, request.close_note = "closed", reason, note
    await repo.save_state(session, request, now)
    await repo.add_history(
        session,
        request,
        at=now,
        action=action or reason,
        actor=actor,
        acting_for=acting_for,
        note=f"迟取消：{note or ''}" if late else note,
    )
    await publish(
        session,
        RequestCancelled(
            request_id=request.id,
            elder_id=request.elder_id,
            cancelled_by=actor,
            reason=note or reason,
            cancelled_at=now,
        ),
        subject=request.id,
        actor=actor,
        acting_for=acting_for,
    )
    return request


async def expire(session: AsyncSession, request: Request, *, now: datetime) -> None:
    """A request nobody booked (or nobody served) by the end of its window closes; its hold is released."""
    await _close(session, request, reason="expired", note="服务时间已过，未能匹配志愿者", actor="system", now=now)


# --- reading -------------------------------------------------------------------------------------------


async def _get_for_staff(
    session: AsyncSession, principal: Principal, request_id: uuid.UUID, *, lock: bool = False
) -> Request:
    request = await repo.get(session, request_id, lock=lock)
    if request is None:
        raise RequestNotFound()
    if principal.kind != "staff" or principal.acting_for:
        raise Forbidden("仅限工作人员", "Staff only")
    return request


@dataclass(frozen=True)
class RequestView:
    request: Request
    bookings: list[Booking]
    history: list[dict]
    address: str | None
    viewer_is: str  # elder | relative | volunteer | staff


async def view(
    session: AsyncSession, principal: Principal, request_id: uuid.UUID, *, cipher: PersonalDataCipher, now: datetime
) -> RequestView:
    """Parties, the elder's confirmed direct relatives and staff in scope see the request; the exact address only
    the elder, their relatives, booked volunteers and staff in scope (each reveal to someone other than the
    elder is an audited access to personal data)."""
    request = await repo.get(session, request_id)
    if request is None:
        raise RequestNotFound()
    bookings = await repo.bookings(session, request.id)
    me = person_of(principal)
    if me == request.elder_id:
        viewer = "elder"
    elif me is not None and not principal.acting_for and any(b.volunteer_id == me for b in bookings):
        viewer = "volunteer"
    elif staff_in_scope(principal, request.district):
        viewer = "staff"
    elif await relatives.is_relative(session, principal, request.elder_id):
        viewer = "relative"  # follows and acts for the elder
    elif principal.kind == "staff" and not principal.acting_for:
        raise OutsideDistrict("只能查看本区的需求", "Only your own district's requests")
    else:
        raise RequestNotFound()  # no one learns that someone else's request exists
    reveal = viewer in ("elder", "relative", "staff") or any(b.volunteer_id == me and b.live for b in bookings)
    address = open_address(cipher, request) if reveal else None
    if reveal and viewer != "elder":
        await access.address_revealed(session, principal, request, purpose=f"{viewer} views the request", now=now)
    if viewer == "volunteer":  # a volunteer sees their own booking, not the others' nor the staff trail
        return RequestView(request, [b for b in bookings if b.volunteer_id == me], [], address, viewer)
    return RequestView(request, bookings, await repo.history(session, request.id), address, viewer)


MINE = {"elder": "requests-as-elder", "relative": "requests-as-relative", "volunteer": "requests-as-volunteer"}


async def mine(
    session: AsyncSession, person_id: uuid.UUID, *, role: str, state: str | None, page: PageRequest
) -> tuple[list[Request], str | None]:
    """A person's own lists: their requests as an elder, those of the elders they are a confirmed direct relative
    of (who follow and act for them), or the requests they booked as a volunteer — newest first."""
    if role == "volunteer":
        rows = await repo.booked_page(session, person_id, state=state, page=page)
        return page_of(MINE[role], rows, page, at="starts_at")
    rows = await repo.of_elders(
        session, "self" if role == "elder" else "relatives", person_id=person_id, state=state, page=page
    )
    return page_of(MINE[role], rows, page, at="created_at")


ELDER = "requests-of-elder"  # the list's name in its cursors


async def of_elder(
    session: AsyncSession, principal: Principal, elder_id: uuid.UUID, *, state: str | None, page: PageRequest
) -> tuple[list[Request], str | None]:
    """Staff's view of one elder's requests (the services on a person's page), newest first: district staff see
    those in their district, city-wide staff every one."""
    if principal.kind != "staff":
        raise Forbidden("仅限工作人员", "Staff only")
    scope = search.staff_district(principal, None)
    rows = await repo.of_elders(session, "self", person_id=elder_id, state=state, page=page, district=scope)
    return page_of(ELDER, rows, page, at="created_at")


QUEUE = "request-queue"  # the list's name in its cursors


async def queue(
    session: AsyncSession, principal: Principal, page: PageRequest, *, district: str | None, state: str
) -> tuple[list[Request], str | None]:
    """Staff's list of requests in a state within their district (city-wide staff: any, or all), in the review
    queue's order: special elders first, then the oldest."""
    if principal.kind != "staff":
        raise Forbidden("仅限工作人员", "Staff only")
    scope = search.staff_district(principal, district)
    rows = await repo.queue(session, page, district=scope, state=state)
    return page_of(QUEUE, rows, page, at="created_at", rank="priority")


async def queue_for_export(
    session: AsyncSession, principal: Principal, *, district: str | None, state: str, fmt: exports.Format
) -> list[Request]:
    """Every request of the staff queue, for a file; the export is published (`list.exported`)."""

    async def page(wanted: PageRequest) -> tuple[list, str | None]:
        return await queue(session, principal, wanted, district=district, state=state)

    rows = await exports.every_row(QUEUE, page)
    facts = exports.facts(principal, QUEUE, fmt, {"district": district, "state": state}, len(rows))
    await publish(session, ListExported(**facts), subject=principal.id, actor=principal.id)
    return rows
