from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field

from contracts.districts import District
from matching.db.requests import Booking, Request
from matching.domain import catalogue
from matching.domain.ratings import Rating
from matching.domain.requests import RequestView
from servicekit.geo import Position, PositionOut


class NewRequestBody(BaseModel):
    category: str = Field(description="one of the eight categories, e.g. emotional_comfort")
    item_id: uuid.UUID
    position: Position
    address: str = Field(min_length=2, max_length=200)
    district: District
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    notes: str | None = Field(default=None, max_length=500)
    volunteers_needed: int = Field(default=1, ge=1, le=50)
    for_elder: uuid.UUID | None = Field(
        default=None,
        description="a confirmed direct relative publishing for an "
        "elder: the elder's person id (the elder's coins are held)",
    )


class RequestEditBody(BaseModel):
    """What may change before anyone booked: the start (the length stays), the place, the notes."""

    model_config = {"extra": "forbid"}

    starts_at: AwareDatetime | None = Field(default=None, description="the new start; the end moves with it")
    position: Position | None = None
    address: str | None = Field(default=None, min_length=2, max_length=200)
    notes: str | None = Field(default=None, max_length=500)


class ReviewBody(BaseModel):
    decision: Literal["approve", "reject"]
    note: str | None = Field(default=None, max_length=500)


class CancelBody(BaseModel):
    reason: str = Field(min_length=2, max_length=200)


class AttendanceBody(BaseModel):
    position: Position | None = Field(
        default=None, description="required in the app; optional when an institution signs"
    )
    volunteer_id: uuid.UUID | None = Field(default=None, description="the volunteer an institution signs for")


class RatingBody(BaseModel):
    score: int = Field(ge=1, le=5)
    comment: str | None = Field(default=None, max_length=500)


class BookingOut(BaseModel):
    id: uuid.UUID
    volunteer_id: uuid.UUID
    status: str
    booked_at: datetime
    cancelled_at: datetime | None = None
    cancel_reason: str | None = None
    late_cancellation: bool = False
    checked_in_at: datetime | None = None
    check_in_distance_m: int | None = None
    check_in_method: str | None = None
    checked_out_at: datetime | None = None
    check_out_distance_m: int | None = None
    check_out_method: str | None = None
    minutes: int | None = None

    @classmethod
    def of(cls, b: Booking) -> BookingOut:
        return cls(**{k: getattr(b, k) for k in cls.model_fields})


class RatingOut(BaseModel):
    score: int
    comment: str | None
    channel: str
    flagged: bool
    rated_at: datetime

    @classmethod
    def of(cls, r: Rating) -> RatingOut:
        return cls(score=r.score, comment=r.comment, channel=r.channel, flagged=r.flagged, rated_at=r.rated_at)


class RequestOut(BaseModel):
    id: uuid.UUID
    state: str
    close_reason: str | None = None
    close_note: str | None = Field(default=None, description="why it closed, for the elder to read")
    elder_id: uuid.UUID
    category: str
    category_name: str
    item_id: uuid.UUID
    district: str
    starts_at: datetime
    ends_at: datetime
    volunteers_needed: int
    estimated_minutes: int
    priority: bool
    notes: str | None = None
    position: PositionOut | None = Field(default=None, description="exact place, for the parties only")
    address: str | None = Field(default=None, description="for the elder, booked volunteers and staff in scope")
    created_at: datetime
    completed_at: datetime | None = None
    bookings: list[BookingOut] = []
    history: list[dict] = []
    rating: RatingOut | None = None

    @classmethod
    def of(
        cls,
        r: Request,
        *,
        bookings: Sequence[Booking] = (),
        history: Sequence[dict] = (),
        address: str | None = None,
        rating: Rating | None = None,
    ) -> RequestOut:
        return cls(
            id=r.id,
            state=r.state,
            close_reason=r.close_reason,
            close_note=r.close_note,
            elder_id=r.elder_id,
            category=r.category,
            category_name=catalogue.CATEGORIES[r.category],
            item_id=r.item_id,
            district=r.district,
            starts_at=r.starts_at,
            ends_at=r.ends_at,
            volunteers_needed=r.volunteers_needed,
            estimated_minutes=r.estimated_minutes,
            priority=r.priority,
            notes=r.notes,
            position=PositionOut(lat=r.lat, lon=r.lon) if address is not None else None,
            address=address,
            created_at=r.created_at,
            completed_at=r.completed_at,
            bookings=[BookingOut.of(b) for b in bookings],
            history=list(history),
            rating=RatingOut.of(rating) if rating else None,
        )

    @classmethod
    def of_view(cls, v: RequestView, rating: Rating | None) -> RequestOut:
        return cls.of(v.request, bookings=v.bookings, history=v.history, address=v.address, rating=rating)


class NearbyRequest(BaseModel):
    id: uuid.UUID
    category: str
    category_name: str
    item_id: uuid.UUID
    district: str
    distance_m: int
    approximate_position: PositionOut = Field(
        description="rounded to about 100 m; the exact address comes with the booking"
    )
    starts_at: datetime
    ends_at: datetime
    volunteers_needed: int
    priority: bool
    notes: str | None = None


class AttendanceOut(BaseModel):
    request_id: uuid.UUID
    request_state: str
    booking: BookingOut
