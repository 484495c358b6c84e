"""What identity consumes: audit's sanctions, and the notifications other services ask it to deliver. It
publishes on `identity.events` (see contracts.identity)."""
from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.audit import SanctionApplied
from contracts.aed import IncidentAlertRequested
from contracts.matching import NotificationRequested
from contracts.topics import Topic
from servicekit.app import Runtime
from servicekit.consumer import EventConsumer
from servicekit.events import CloudEvent
from identity.domain import notifications, sanctions


async def on_sanction_applied(session: AsyncSession, event: CloudEvent) -> None:
    await sanctions.apply_sanction(session, SanctionApplied.read(event.data))


async def on_notification_requested(session: AsyncSession, event: CloudEvent) -> None:
    reader = IncidentAlertRequested if event.type == IncidentAlertRequested.TYPE else NotificationRequested
    await notifications.accept(session, reader.read(event.data), source_event=event.id)


# Event type -> (the payload class the handler reads, the handler).
HANDLERS = {SanctionApplied.TYPE: (SanctionApplied, on_sanction_applied),
            NotificationRequested.TYPE: (NotificationRequested, on_notification_requested),
            IncidentAlertRequested.TYPE: (IncidentAlertRequested, on_notification_requested)}


def consumers(runtime: Runtime) -> list[EventConsumer]:
    return [EventConsumer(name="identity", topics=[Topic.AUDIT.value, Topic.MATCHING.value, Topic.AED.value], db=runtime.db, settings=runtime.settings,
                          handlers={t: handler for t, (_, handler) in HANDLERS.items()})]
