"""Events published by svc-matching on `matching.events`, keyed by request id.

The ledger consumes the request lifecycle to hold, release and pay coins (DESIGN.md §4). No address or
other personal data travels: positions stay in matching.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.base import EventData
from contracts.exports import ListExport
from contracts.notifications import Notification


class RequestSubmitted(EventData):
    """An elder (or an institution for them) published a need; the ledger places a hold of
    `estimated_minutes` on the elder's account, who pays for their own service."""

    TYPE = "timebank.matching.request.submitted"
    VERSION = 1

    request_id: uuid.UUID
    elder_id: uuid.UUID
    district: str
    category: str
    estimated_minutes: int = Field(gt=0)
    starts_at: datetime
    ends_at: datetime
    submitted_by: str
    submitted_at: datetime

    @classmethod
    def example(cls) -> RequestSubmitted:
        return cls(
            request_id=uuid.UUID(int=5),
            elder_id=uuid.UUID(int=1),
            district="110105",
            category="情感慰藉",
            estimated_minutes=120,
            starts_at=datetime(2026, 12, 1, 1, tzinfo=UTC),
            ends_at=datetime(2026, 12, 1, 3, tzinfo=UTC),
            submitted_by=str(uuid.UUID(int=1)),
            submitted_at=datetime(2026, 11, 30, tzinfo=UTC),
        )


class RequestCancelled(EventData):
    """The request will not be served (cancelled by a party or staff, rejected in review, or expired);
    the ledger releases the hold."""

    TYPE = "timebank.matching.request.cancelled"
    VERSION = 1

    request_id: uuid.UUID
    elder_id: uuid.UUID
    cancelled_by: str
    reason: str
    cancelled_at: datetime

    @classmethod
    def example(cls) -> RequestCancelled:
        return cls(
            request_id=uuid.UUID(int=5),
            elder_id=uuid.UUID(int=1),
            cancelled_by=str(uuid.UUID(int=1)),
            reason="临时有事",
            cancelled_at=datetime(2026, 11, 30, tzinfo=UTC),
        )


class RequestEdited(EventData):
    """The elder (or a relative or institution acting for them) changed a request before anyone booked it: its
    time, place or notes. The length, and so the hold, never changes (a different length is a new request); a
    change of time or place to an approved request sends it back to review."""

    TYPE = "timebank.matching.request.edited"
    VERSION = 1

    request_id: uuid.UUID
    elder_id: uuid.UUID
    changed: list[Literal["time", "place", "notes"]]
    starts_at: datetime
    ends_at: datetime
    back_to_review: bool
    edited_by: str
    edited_at: datetime

    @classmethod
    def example(cls) -> RequestEdited:
        return cls(
            request_id=uuid.UUID(int=5),
            elder_id=uuid.UUID(int=1),
            changed=["time"],
            starts_at=datetime(2026, 12, 2, 1, tzinfo=UTC),
            ends_at=datetime(2026, 12, 2, 2, tzinfo=UTC),
            back_to_review=True,
            edited_by=str(uuid.UUID(int=1)),
            edited_at=datetime(2026, 11, 30, tzinfo=UTC),
        )


class ServiceParticipant(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    volunteer_id: uuid.UUID
    minutes: int = Field(ge=0)


SignMethod = Literal["app", "institution", "window_closed"]


class Attendance(BaseModel):
    """One volunteer's sign-in/sign-out trail: when, how far from the place, and who recorded it (the
    volunteer in the app, an institution for someone without a phone, or the system when the window closed)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    volunteer_id: uuid.UUID
    checked_in_at: datetime
    check_in_distance_m: int | None = None
    check_in_by: str
    check_in_method: SignMethod
    checked_out_at: datetime
    check_out_distance_m: int | None = None
    check_out_by: str
    check_out_method: SignMethod
    minutes: int = Field(ge=0)


class ServiceCompleted(EventData):
    """Every volunteer of the request has signed out (or the window closed): the ledger pays each
    participant their recorded minutes out of the elder's hold. `attendance` is the full trail (audit
    reads it; the ledger does not need it)."""

    TYPE = "timebank.matching.service.completed"
    VERSION = 1

    request_id: uuid.UUID
    elder_id: uuid.UUID
    district: str
    participants: list[ServiceParticipant] = Field(min_length=1)
    completed_at: datetime
    category: str | None = None
    item_id: uuid.UUID | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    institution_id: uuid.UUID | None = None
    night_service_item: bool = False  # a documented late-night item (e.g. night care): audit's late-night rule
    attendance: list[Attendance] = []

    @classmethod
    def example(cls) -> ServiceCompleted:
        return cls(
            request_id=uuid.UUID(int=5),
            elder_id=uuid.UUID(int=1),
            district="110105",
            participants=[ServiceParticipant(volunteer_id=uuid.UUID(int=3), minutes=90)],
            completed_at=datetime(2026, 12, 1, 3, tzinfo=UTC),
            category="emotional_comfort",
            item_id=uuid.UUID(int=9),
            starts_at=datetime(2026, 12, 1, 1, tzinfo=UTC),
            ends_at=datetime(2026, 12, 1, 3, tzinfo=UTC),
            attendance=[
                Attendance(
                    volunteer_id=uuid.UUID(int=3),
                    checked_in_at=datetime(2026, 12, 1, 1, 5, tzinfo=UTC),
                    check_in_distance_m=12,
                    check_in_by=str(uuid.UUID(int=3)),
                    check_in_method="app",
                    checked_out_at=datetime(2026, 12, 1, 2, 35, tzinfo=UTC),
                    check_out_distance_m=20,
                    check_out_by=str(uuid.UUID(int=3)),
                    check_out_method="app",
                    minutes=90,
                )
            ],
        )


_T = datetime(2026, 12, 1, 1, tzinfo=UTC)


class RequestReviewed(EventData):
    """An institution of the district or the district officer approved (open for booking) or rejected the
    request (a rejection is followed by `request.cancelled`, which releases the hold)."""

    TYPE = "timebank.matching.request.reviewed"
    VERSION = 1

    request_id: uuid.UUID
    elder_id: uuid.UUID
    district: str
    decision: Literal["approve", "reject"]
    reviewed_by: str
    institution_id: uuid.UUID | None = None
    reviewed_at: datetime

    @classmethod
    def example(cls) -> RequestReviewed:
        return cls(
            request_id=uuid.UUID(int=5),
            elder_id=uuid.UUID(int=1),
            district="110105",
            decision="approve",
            reviewed_by="officer-110105",
            reviewed_at=_T,
        )


class RequestBooked(EventData):
    """A volunteer booked (预约) the request for its window."""

    TYPE = "timebank.matching.request.booked"
    VERSION = 1

    request_id: uuid.UUID
    booking_id: uuid.UUID
    elder_id: uuid.UUID
    volunteer_id: uuid.UUID
    district: str
    starts_at: datetime
    ends_at: datetime
    booked_at: datetime

    @classmethod
    def example(cls) -> RequestBooked:
        return cls(
            request_id=uuid.UUID(int=5),
            booking_id=uuid.UUID(int=8),
            elder_id=uuid.UUID(int=1),
            volunteer_id=uuid.UUID(int=3),
            district="110105",
            starts_at=_T,
            ends_at=_T,
            booked_at=_T,
        )


class BookingCancelled(EventData):
    """A booking ended before service: by the volunteer, by the elder or staff cancelling the request, by a
    sanction, or as a no-show. `late` marks a cancellation inside the notice period."""

    TYPE = "timebank.matching.booking.cancelled"
    VERSION = 1

    request_id: uuid.UUID
    booking_id: uuid.UUID
    elder_id: uuid.UUID
    volunteer_id: uuid.UUID
    district: str
    cancelled_by: str
    reason: str
    why: Literal[
        "volunteer_cancelled", "request_cancelled", "sanctioned", "no_show", "guardian_left", "qualification_withdrawn"
    ]
    late: bool = False
    cancelled_at: datetime

    @classmethod
    def example(cls) -> BookingCancelled:
        return cls(
            request_id=uuid.UUID(int=5),
            booking_id=uuid.UUID(int=8),
            elder_id=uuid.UUID(int=1),
            volunteer_id=uuid.UUID(int=3),
            district="110105",
            cancelled_by=str(uuid.UUID(int=3)),
            reason="临时有事",
            why="volunteer_cancelled",
            cancelled_at=_T,
        )


class AttendanceRecorded(EventData):
    """A sign-in (签到) or sign-out (签出) accepted for a booking."""

    TYPE = "timebank.matching.attendance.recorded"
    VERSION = 1

    request_id: uuid.UUID
    booking_id: uuid.UUID
    elder_id: uuid.UUID
    volunteer_id: uuid.UUID
    district: str
    kind: Literal["check_in", "check_out"]
    at: datetime
    distance_m: int | None = None
    method: SignMethod
    recorded_by: str
    institution_id: uuid.UUID | None = None

    @classmethod
    def example(cls) -> AttendanceRecorded:
        return cls(
            request_id=uuid.UUID(int=5),
            booking_id=uuid.UUID(int=8),
            elder_id=uuid.UUID(int=1),
            volunteer_id=uuid.UUID(int=3),
            district="110105",
            kind="check_in",
            at=_T,
            distance_m=15,
            method="app",
            recorded_by=str(uuid.UUID(int=3)),
        )


class ServiceRated(EventData):
    """满意度评价: once per service. Scores at or below the threshold are flagged to the district."""

    TYPE = "timebank.matching.service.rated"
    VERSION = 1

    request_id: uuid.UUID
    elder_id: uuid.UUID
    volunteer_ids: list[uuid.UUID]
    district: str
    score: int = Field(ge=1, le=5)
    channel: Literal["elder", "institution_phone"]
    rated_by: str
    flagged: bool
    rated_at: datetime

    @classmethod
    def example(cls) -> ServiceRated:
        return cls(
            request_id=uuid.UUID(int=5),
            elder_id=uuid.UUID(int=1),
            volunteer_ids=[uuid.UUID(int=3)],
            district="110105",
            score=5,
            channel="elder",
            rated_by=str(uuid.UUID(int=1)),
            flagged=False,
            rated_at=_T,
        )


class AddressAccessed(EventData):
    """Someone other than the elder read a request's exact address (a booked volunteer, staff in scope, or
    志愿北京's claim evidence): every access to personal data is on record for audit."""

    TYPE = "timebank.matching.address.accessed"
    VERSION = 1

    request_id: uuid.UUID
    elder_id: uuid.UUID
    accessed_by: str
    accessor_kind: str
    accessor_roles: list[str]
    purpose: str
    accessed_at: datetime

    @classmethod
    def example(cls) -> AddressAccessed:
        return cls(
            request_id=uuid.UUID(int=5),
            elder_id=uuid.UUID(int=1),
            accessed_by=str(uuid.UUID(int=3)),
            accessor_kind="person",
            accessor_roles=["volunteer"],
            purpose="volunteer views the request",
            accessed_at=_T,
        )


FollowUpCause = Literal["low_rating", "late_cancellation", "no_show"]


class FollowUpOpened(EventData):
    """A follow-up (回访) is owed to the elder: a low rating, a booking cancelled late by either side, or a
    volunteer who did not come. The district's institutions take it, call the elder and close it with a note."""

    TYPE = "timebank.matching.follow-up.opened"
    VERSION = 1

    follow_up_id: uuid.UUID
    request_id: uuid.UUID
    elder_id: uuid.UUID
    district: str
    cause: FollowUpCause
    opened_at: datetime

    @classmethod
    def example(cls) -> FollowUpOpened:
        return cls(
            follow_up_id=uuid.UUID(int=13),
            request_id=uuid.UUID(int=5),
            elder_id=uuid.UUID(int=1),
            district="110105",
            cause="low_rating",
            opened_at=_T,
        )


class FollowUpAssigned(EventData):
    """An institution operator took a follow-up: until it closes they may read the elder's contact
    (identity keeps who may, from this event)."""

    TYPE = "timebank.matching.follow-up.assigned"
    VERSION = 1

    follow_up_id: uuid.UUID
    elder_id: uuid.UUID
    assigned_to: str
    assigned_by: str
    assigned_at: datetime

    @classmethod
    def example(cls) -> FollowUpAssigned:
        return cls(
            follow_up_id=uuid.UUID(int=13),
            elder_id=uuid.UUID(int=1),
            assigned_to="operator-1",
            assigned_by="operator-1",
            assigned_at=_T,
        )


class FollowUpReleased(EventData):
    """The operator who took a follow-up gave it back (or the district office took it off them): their access to
    the elder's contact ends; the follow-up is open again."""

    TYPE = "timebank.matching.follow-up.released"
    VERSION = 1

    follow_up_id: uuid.UUID
    elder_id: uuid.UUID
    released_by: str
    released_at: datetime

    @classmethod
    def example(cls) -> FollowUpReleased:
        return cls(
            follow_up_id=uuid.UUID(int=13), elder_id=uuid.UUID(int=1), released_by="officer-110105", released_at=_T
        )


class FollowUpClosed(EventData):
    TYPE = "timebank.matching.follow-up.closed"
    VERSION = 1

    follow_up_id: uuid.UUID
    elder_id: uuid.UUID
    closed_by: str
    closed_at: datetime

    @classmethod
    def example(cls) -> FollowUpClosed:
        return cls(follow_up_id=uuid.UUID(int=13), elder_id=uuid.UUID(int=1), closed_by="operator-1", closed_at=_T)


NotificationTemplate = Literal[
    "request_reviewed", "request_booked", "service_started", "service_finished", "booking_cancelled"
]


class NotificationRequested(Notification):
    """Tell a person something about their requests and bookings (see contracts.notifications)."""

    TYPE = "timebank.matching.notification.requested"
    VERSION = 1

    template: NotificationTemplate

    @classmethod
    def example(cls) -> NotificationRequested:
        return cls(
            notification_id=uuid.UUID(int=11),
            person_id=uuid.UUID(int=1),
            template="request_booked",
            data={"item": "陪伴聊天", "time": "2026-12-01 09:00", "status": "已有志愿者预约"},
            page="pages/requests/detail?id=00000000-0000-0000-0000-000000000005",
            requested_at=_T,
        )


class ListExported(ListExport):
    """A staff member exported a list of matching's (request statistics) as a file."""

    TYPE = "timebank.matching.list.exported"

    @classmethod
    def example(cls) -> ListExported:
        return cls.sample("request-statistics")
