"""Events published by svc-matching on `matching.events`, keyed by request id.

The ledger consumes the request lifecycle to hold, release and pay coins (DESIGN.md §4). No address or
other personal data travels: positions stay in matching.
"""
from __future__ import annotations

import uuid
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

from contracts.base import EventData


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
    def example(cls) -> "RequestSubmitted":
        return cls(request_id=uuid.UUID(int=5), elder_id=uuid.UUID(int=1), district="110105", category="情感慰藉",
                   estimated_minutes=120, starts_at=datetime(2026, 12, 1, 1, tzinfo=UTC),
                   ends_at=datetime(2026, 12, 1, 3, tzinfo=UTC), submitted_by=str(uuid.UUID(int=1)),
                   submitted_at=datetime(2026, 11, 30, tzinfo=UTC))


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
    def example(cls) -> "RequestCancelled":
        return cls(request_id=uuid.UUID(int=5), elder_id=uuid.UUID(int=1), cancelled_by=str(uuid.UUID(int=1)),
                   reason="临时有事", cancelled_at=datetime(2026, 11, 30, tzinfo=UTC))


class ServiceParticipant(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    volunteer_id: uuid.UUID
    minutes: int = Field(ge=0)


class ServiceCompleted(EventData):
    """Every volunteer of the request has signed out (or the window closed): the ledger pays each
    participant their recorded minutes out of the elder's hold."""

    TYPE = "timebank.matching.service.completed"
    VERSION = 1

    request_id: uuid.UUID
    elder_id: uuid.UUID
    district: str
    participants: list[ServiceParticipant] = Field(min_length=1)
    completed_at: datetime

    @classmethod
    def example(cls) -> "ServiceCompleted":
        return cls(request_id=uuid.UUID(int=5), elder_id=uuid.UUID(int=1), district="110105",
                   participants=[ServiceParticipant(volunteer_id=uuid.UUID(int=3), minutes=90)],
                   completed_at=datetime(2026, 12, 1, 3, tzinfo=UTC))
