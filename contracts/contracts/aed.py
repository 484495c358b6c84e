"""Events published by svc-aed on `aed.events`, keyed by device id."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Literal

from contracts.base import EventData
from contracts.exports import ListExport
from contracts.notifications import Notification

_T = datetime(2026, 11, 30, tzinfo=UTC)


class AedRegistered(EventData):
    TYPE = "timebank.aed.device.registered"
    VERSION = 1

    aed_id: uuid.UUID
    serial: str
    district: str
    organisation_id: uuid.UUID | None = None
    registered_by: str
    registered_at: datetime

    @classmethod
    def example(cls) -> AedRegistered:
        return cls(
            aed_id=uuid.UUID(int=20),
            serial="AED-2026-0001",
            district="110108",
            registered_by="officer-110108",
            registered_at=_T,
        )


class AedChanged(EventData):
    """Fields of a device changed (by its owner, district staff, an import or the upkeep job)."""

    TYPE = "timebank.aed.device.changed"
    VERSION = 1

    aed_id: uuid.UUID
    district: str
    fields: list[str]
    status: str
    usable_now_possible: bool
    changed_by: str
    changed_at: datetime

    @classmethod
    def example(cls) -> AedChanged:
        return cls(
            aed_id=uuid.UUID(int=20),
            district="110108",
            fields=["status"],
            status="out_of_service",
            usable_now_possible=False,
            changed_by="school-staff",
            changed_at=_T,
        )


class AedConsumablesExpiring(EventData):
    """The daily upkeep job: a battery or pads expire within the warning period (announced once per date),
    or have expired (the device is then not usable until replaced)."""

    TYPE = "timebank.aed.consumables.expiring"
    VERSION = 1

    aed_id: uuid.UUID
    district: str
    organisation_id: uuid.UUID | None = None
    item: Literal["battery", "adult_pads", "child_pads"]
    expires_on: date
    expired: bool
    announced_at: datetime

    @classmethod
    def example(cls) -> AedConsumablesExpiring:
        return cls(
            aed_id=uuid.UUID(int=20),
            district="110108",
            item="battery",
            expires_on=date(2026, 12, 20),
            expired=False,
            announced_at=_T,
        )


class AedInspected(EventData):
    TYPE = "timebank.aed.device.inspected"
    VERSION = 1

    aed_id: uuid.UUID
    district: str
    result: Literal["ok", "needs_repair"]
    restock_cleared: bool
    inspected_by: str
    inspected_on: date

    @classmethod
    def example(cls) -> AedInspected:
        return cls(
            aed_id=uuid.UUID(int=20),
            district="110108",
            result="ok",
            restock_cleared=True,
            inspected_by="school-staff",
            inspected_on=date(2026, 11, 30),
        )


class IncidentOpened(EventData):
    """An SOS (from the mini-program or 120) at a position; the first wave of alerts follows. No position or
    address travels in the event: 120 gets them over its own link."""

    TYPE = "timebank.aed.incident.opened"
    VERSION = 1

    incident_id: uuid.UUID
    source: Literal["app", "120"]
    reported_by: str
    aeds_nearby: int
    responders_nearby: int
    opened_at: datetime

    @classmethod
    def example(cls) -> IncidentOpened:
        return cls(
            incident_id=uuid.UUID(int=30),
            source="app",
            reported_by=str(uuid.UUID(int=1)),
            aeds_nearby=2,
            responders_nearby=4,
            opened_at=_T,
        )


class IncidentAddressAccessed(EventData):
    """Staff read an incident's exact address, giving a reason: every access to it beyond the caller, 120
    and the responders who accepted is on record for audit."""

    TYPE = "timebank.aed.incident.address-accessed"
    VERSION = 1

    incident_id: uuid.UUID
    accessed_by: str
    accessor_roles: list[str]
    reason: str
    accessed_at: datetime

    @classmethod
    def example(cls) -> IncidentAddressAccessed:
        return cls(
            incident_id=uuid.UUID(int=30),
            accessed_by="officer-110108",
            accessor_roles=["district_officer"],
            reason="核实120调度记录",
            accessed_at=_T,
        )


IncidentStepName = Literal[
    "alerted",
    "accepted",
    "declined",
    "sent_for_aed",
    "sent_to_patient",
    "alerts_cancelled",
    "arrived",
    "dispatch_update",
    "closed",
    "withdrew",
    "cancelled_by_caller",
]


class IncidentStep(EventData):
    """Every later step of an incident (网约式急救): alerts, answers, assignments (fetch an AED first, or go
    straight to the patient), cancellations once enough accepted, arrivals, 120's updates, the close."""

    TYPE = "timebank.aed.incident.step"
    VERSION = 1

    incident_id: uuid.UUID
    step: IncidentStepName
    responder_id: uuid.UUID | None = None
    aed_id: uuid.UUID | None = None
    wave: int | None = None
    detail: str | None = None
    at: datetime

    @classmethod
    def example(cls) -> IncidentStep:
        return cls(
            incident_id=uuid.UUID(int=30),
            step="sent_for_aed",
            responder_id=uuid.UUID(int=3),
            aed_id=uuid.UUID(int=20),
            wave=1,
            at=_T,
        )


class IncidentAlertRequested(Notification):
    """Tell an alerted responder (a WeChat subscription message, delivered by identity like every
    notification): someone nearby needs help. One per responder per incident (`notification_id`)."""

    TYPE = "timebank.aed.notification.requested"
    VERSION = 1

    template: Literal["incident_alert"]
    fallback: Literal["sms"] | None = "sms"

    @classmethod
    def example(cls) -> IncidentAlertRequested:
        return cls(
            notification_id=uuid.UUID(int=31),
            person_id=uuid.UUID(int=3),
            template="incident_alert",
            data={"item": "急救呼叫", "time": "2026-12-01 09:00", "status": "距您约300米，请尽快响应"},
            page="pages/incidents/alert?id=00000000-0000-0000-0000-00000000001e",
            requested_at=_T,
        )


class ListExported(ListExport):
    """A staff member exported a list of svc-aed's (the AED registry) as a file."""

    TYPE = "timebank.aed.list.exported"

    @classmethod
    def example(cls) -> ListExported:
        return cls.sample("aed-registry")
