from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime

from contracts.districts import District
from matching.api.deps import PeopleAndStaff, PersonOrOperator, Reviewer, cipher_of, settings_of
from matching.api.schemas import (
    AttendanceBody,
    AttendanceOut,
    BookingOut,
    CancelBody,
    NearbyRequest,
    NewRequestBody,
    PositionOut,
    RatingBody,
    RatingOut,
    RequestEditBody,
    RequestOut,
    ReviewBody,
)
from matching.domain import attendance, bookings, catalogue, ratings, requests, search
from matching.domain.callers import person_of
from servicekit import clock, geo, idempotency
from servicekit.auth import CurrentPrincipal
from servicekit.deps import DbSession
from servicekit.errors import Forbidden, UnprocessableInput
from servicekit.idempotency import OptionalIdempotencyKey
from servicekit.pagination import Page, PageParams

router = APIRouter(tags=["requests"])


@router.post(
    "/api/v1/requests",
    status_code=201,
    response_model=RequestOut,
    summary="Publish a need (the elder, a confirmed direct relative for them, or an institution operator "
    "acting for one); the elder's coins are held next",
)
async def publish(
    body: NewRequestBody,
    principal: PersonOrOperator,
    session: DbSession,
    request: Request,
    idempotency_key: OptionalIdempotencyKey = None,
) -> RequestOut | JSONResponse:
    held = await idempotency.claim(
        session,
        caller=principal.id,
        key=idempotency_key,
        request={"acting_for": principal.acting_for, **body.model_dump(mode="json")},
    )
    if isinstance(held, JSONResponse):
        return held  # a retry: the first answer
    new = requests.NewRequest(
        category=body.category,
        item_id=body.item_id,
        lat=body.position.lat,
        lon=body.position.lon,
        coord_system=body.position.coord_system,
        address=body.address.strip(),
        district=body.district,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        notes=body.notes,
        volunteers_needed=body.volunteers_needed,
        for_elder=body.for_elder,
    )
    created = await requests.publish_request(
        session, principal, new, settings=settings_of(request), cipher=cipher_of(request), now=clock.now()
    )
    answer = RequestOut.of(created, address=new.address)
    if held is not None:
        await held.answer(session, 201, answer.model_dump(mode="json"))
    return answer


@router.get(
    "/api/v1/requests",
    response_model=list[NearbyRequest],
    summary="Eligible volunteers: open requests near a point, ranked (special elders first, then distance); a "
    "bounded search, not a list to page through. A person's own: /requests/mine; staff: /requests/queue",
)
async def search_nearby(
    principal: PeopleAndStaff,
    session: DbSession,
    request: Request,
    near: geo.NearQuery,
    coord_system: Annotated[geo.CoordSystem, Query()] = "wgs84",
    radius_m: Annotated[int | None, Query(ge=50)] = None,
    category: Annotated[str | None, Query()] = None,
    from_: Annotated[AwareDatetime | None, Query(alias="from")] = None,
    to: Annotated[AwareDatetime | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> list[NearbyRequest]:
    settings = settings_of(request)
    now = clock.now()
    point = geo.near_point(near, coord_system)
    if category is not None and category not in catalogue.CATEGORIES:
        raise UnprocessableInput("服务类别不存在", f"Unknown category {category}")
    radius = radius_m or settings.default_radius_m
    if radius > settings.max_radius_m:
        raise UnprocessableInput(
            f"搜索半径不超过{settings.max_radius_m}米", f"radius_m is at most {settings.max_radius_m}"
        )
    found = await search.nearby(
        session,
        principal,
        point=point,
        radius_m=radius,
        category=category,
        starts_from=from_ or now,
        starts_before=to or now + timedelta(days=settings.max_days_ahead),
        limit=min(limit, settings.search_limit),
    )
    return [
        NearbyRequest(
            id=r.id,
            category=r.category,
            category_name=catalogue.CATEGORIES[r.category],
            item_id=r.item_id,
            district=r.district,
            distance_m=round(d),
            approximate_position=PositionOut(lat=round(r.lat, 3), lon=round(r.lon, 3)),
            starts_at=r.starts_at,
            ends_at=r.ends_at,
            volunteers_needed=r.volunteers_needed,
            priority=r.priority,
            notes=r.notes,
        )
        for r, d in found
    ]


RequestState = Literal["submitted", "awaiting_review", "open", "booked", "in_progress", "completed", "closed"]


@router.get(
    "/api/v1/requests/mine",
    response_model=Page[RequestOut],
    summary="My requests (role=elder), those of elders I am a confirmed direct relative of (role=relative), "
    "or the ones I booked (role=volunteer); newest first, cursor pages",
)
async def my_requests(
    principal: CurrentPrincipal,
    session: DbSession,
    page: PageParams,
    role: Annotated[Literal["elder", "relative", "volunteer"], Query()] = "elder",
    state: Annotated[RequestState | None, Query()] = None,
) -> Page[RequestOut]:
    me = person_of(principal)
    if me is None or principal.acting_for:
        raise Forbidden("仅限本人", "Persons themselves only")
    rows, next_cursor = await requests.mine(
        session, me, role=role, state=state, page=page.for_list(requests.MINE[role])
    )
    return Page[RequestOut](items=[RequestOut.of(r) for r in rows], next_cursor=next_cursor)


@router.get(
    "/api/v1/requests/elders/{elder_id}",
    response_model=Page[RequestOut],
    summary="Staff: one elder's requests (district staff: those in their district), newest first, cursor pages",
)
async def elder_requests(
    elder_id: uuid.UUID,
    principal: PeopleAndStaff,
    session: DbSession,
    page: PageParams,
    state: Annotated[RequestState | None, Query()] = None,
) -> Page[RequestOut]:
    rows, next_cursor = await requests.of_elder(
        session, principal, elder_id, state=state, page=page.for_list(requests.ELDER)
    )
    return Page[RequestOut](items=[RequestOut.of(r) for r in rows], next_cursor=next_cursor)


@router.get(
    "/api/v1/requests/queue",
    response_model=Page[RequestOut],
    summary="Staff: requests in a state (default awaiting_review) in their district, special elders first, "
    "then the oldest (cursor pages)",
)
async def staff_queue(
    principal: PeopleAndStaff,
    session: DbSession,
    page: PageParams,
    state: Annotated[RequestState, Query()] = "awaiting_review",
    district: Annotated[District | None, Query()] = None,
) -> Page[RequestOut]:
    rows, next_cursor = await requests.queue(
        session, principal, page.for_list(requests.QUEUE), district=district, state=state
    )
    return Page[RequestOut](items=[RequestOut.of(r) for r in rows], next_cursor=next_cursor)


@router.patch(
    "/api/v1/requests/{request_id}",
    response_model=RequestOut,
    summary="Change a request before anyone booked it (the elder, a confirmed relative or their "
    "institution): its start, place or notes; an approved one whose time or place changed is "
    "reviewed again",
)
async def edit_request(
    request_id: uuid.UUID, body: RequestEditBody, principal: PersonOrOperator, session: DbSession, request: Request
) -> RequestOut:
    position = body.position
    changes = requests.RequestChanges(
        starts_at=body.starts_at,
        address=body.address.strip() if body.address else None,
        lat=position.lat if position else None,
        lon=position.lon if position else None,
        coord_system=position.coord_system if position else "wgs84",
        notes=body.notes,
    )
    await requests.edit(
        session,
        principal,
        request_id,
        changes,
        settings=settings_of(request),
        cipher=cipher_of(request),
        now=clock.now(),
    )
    seen = await requests.view(session, principal, request_id, cipher=cipher_of(request), now=clock.now())
    return RequestOut.of_view(seen, await ratings.rating_of(session, request_id))


@router.get(
    "/api/v1/requests/{request_id}", response_model=RequestOut, summary="State and history (parties, staff in scope)"
)
async def get_request(
    request_id: uuid.UUID, principal: PeopleAndStaff, session: DbSession, request: Request
) -> RequestOut:
    seen = await requests.view(session, principal, request_id, cipher=cipher_of(request), now=clock.now())
    return RequestOut.of_view(seen, await ratings.rating_of(session, request_id))


@router.post(
    "/api/v1/requests/{request_id}/review",
    response_model=RequestOut,
    summary="Approve or reject (an institution of the district or the district office)",
)
async def review(request_id: uuid.UUID, body: ReviewBody, principal: Reviewer, session: DbSession) -> RequestOut:
    reviewed = await requests.review(
        session, principal, request_id, approve=body.decision == "approve", note=body.note, now=clock.now()
    )
    return RequestOut.of(reviewed)


@router.post(
    "/api/v1/requests/{request_id}/booking",
    status_code=201,
    response_model=RequestOut,
    summary="Book it (预约); refused if it overlaps another booking of yours",
)
async def book(request_id: uuid.UUID, principal: PersonOrOperator, session: DbSession, request: Request) -> RequestOut:
    booked, booking = await bookings.book(session, principal, request_id, now=clock.now())
    return RequestOut.of(booked, bookings=[booking], address=requests.open_address(cipher_of(request), booked))


@router.post(
    "/api/v1/requests/{request_id}/check-in", response_model=AttendanceOut, summary="Sign in (签到) at the place"
)
async def check_in(
    request_id: uuid.UUID, body: AttendanceBody, principal: PersonOrOperator, session: DbSession, request: Request
) -> AttendanceOut:
    return await _sign("check_in", request_id, body, principal, session, request)


@router.post(
    "/api/v1/requests/{request_id}/check-out", response_model=AttendanceOut, summary="Sign out (签出) at the place"
)
async def check_out(
    request_id: uuid.UUID, body: AttendanceBody, principal: PersonOrOperator, session: DbSession, request: Request
) -> AttendanceOut:
    return await _sign("check_out", request_id, body, principal, session, request)


async def _sign(kind, request_id, body: AttendanceBody, principal, session, request: Request) -> AttendanceOut:
    signed, booking = await attendance.sign(
        session,
        principal,
        request_id,
        kind=kind,
        position=body.position.wgs84() if body.position else None,
        volunteer_id=body.volunteer_id,
        settings=settings_of(request),
        now=clock.now(),
    )
    return AttendanceOut(request_id=signed.id, request_state=signed.state, booking=BookingOut.of(booking))


@router.post(
    "/api/v1/requests/{request_id}/rating",
    status_code=201,
    response_model=RatingOut,
    summary="满意度评价, once per service (the elder, or an institution after a phone follow-up)",
)
async def rate(
    request_id: uuid.UUID, body: RatingBody, principal: PersonOrOperator, session: DbSession, request: Request
) -> RatingOut:
    rating = await ratings.rate(
        session,
        principal,
        request_id,
        score=body.score,
        comment=body.comment,
        threshold=settings_of(request).low_rating_threshold,
        now=clock.now(),
    )
    return RatingOut.of(rating)


@router.post(
    "/api/v1/requests/{request_id}/cancel",
    response_model=RequestOut,
    summary="Cancel with a reason: the elder or staff cancel the request, a volunteer their booking",
)
async def cancel(
    request_id: uuid.UUID, body: CancelBody, principal: PeopleAndStaff, session: DbSession, request: Request
) -> RequestOut:
    cancelled = await requests.cancel(
        session, principal, request_id, reason=body.reason, settings=settings_of(request), now=clock.now()
    )
    return RequestOut.of(cancelled)
