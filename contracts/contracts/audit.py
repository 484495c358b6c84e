"""Events published by svc-audit on `audit.events`."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Literal

from contracts.base import EventData
from contracts.exports import ListExport


class SanctionApplied(EventData):
    """An auditor confirmed fraud. Identity removes the volunteer's recording rights or lists the
    institution (失信名单); matching stops bookings; the ledger reverses the coins of `false_request_ids`."""

    TYPE = "timebank.audit.sanction.applied"
    VERSION = 1

    sanction_id: uuid.UUID
    alert_id: uuid.UUID
    kind: Literal["volunteer_recording_revoked", "institution_listed"]
    person_id: uuid.UUID | None = None
    institution_id: uuid.UUID | None = None
    false_request_ids: list[uuid.UUID] = []
    decided_by: str
    note: str
    decided_at: datetime

    @classmethod
    def example(cls) -> SanctionApplied:
        return cls(
            sanction_id=uuid.UUID(int=7),
            alert_id=uuid.UUID(int=8),
            kind="volunteer_recording_revoked",
            person_id=uuid.UUID(int=3),
            false_request_ids=[uuid.UUID(int=5)],
            decided_by="auditor",
            note="回访确认服务未发生",
            decided_at=datetime(2026, 12, 2, tzinfo=UTC),
        )


class ListExported(ListExport):
    """A staff member exported a list of audit's (fraud alerts) as a file."""

    TYPE = "timebank.audit.list.exported"

    @classmethod
    def example(cls) -> ListExported:
        return cls.sample("alerts")
