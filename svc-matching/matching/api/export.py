from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from matching.api.deps import cipher_of
from matching.api.schemas import BookingOut, RequestOut
from matching.domain import catalogue, export
from matching.domain.callers import person_of
from servicekit.auth import CurrentPrincipal
from servicekit.deps import DbSession
from servicekit.errors import Forbidden

router = APIRouter(tags=["requests"])


class BookingMade(BaseModel):
    request_id: uuid.UUID
    category: str
    category_name: str
    district: str
    starts_at: datetime
    ends_at: datetime
    request_state: str
    booking: BookingOut = Field(description="your own booking: its times, places and minutes")


class MatchingExport(BaseModel):
    """What matching holds about the caller."""

    requests_published: list[RequestOut] = Field(
        description="as an elder: with your address, the bookings and the rating"
    )
    bookings_made: list[BookingMade] = Field(description="as a volunteer (the elder's address is theirs, not included)")


@router.get(
    "/api/v1/me/data/matching",
    response_model=MatchingExport,
    summary="The caller's data held by matching: requests published and bookings made (part of GET /api/v1/me/data)",
)
async def my_matching_data(principal: CurrentPrincipal, session: DbSession, request: Request) -> MatchingExport:
    me = person_of(principal)
    if me is None:
        raise Forbidden("仅限个人", "People only")
    as_elder, as_volunteer = await export.data_of(session, cipher_of(request), me)
    return MatchingExport(
        requests_published=[
            RequestOut.of(e.request, bookings=e.bookings, address=e.address, rating=e.rating) for e in as_elder
        ],
        bookings_made=[
            BookingMade(
                request_id=v.request.id,
                category=v.request.category,
                category_name=catalogue.CATEGORIES[v.request.category],
                district=v.request.district,
                starts_at=v.request.starts_at,
                ends_at=v.request.ends_at,
                request_state=v.request.state,
                booking=BookingOut.of(v.booking),
            )
            for v in as_volunteer
        ],
    )
