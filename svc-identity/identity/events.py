"""What identity consumes: audit's sanctions, and the notifications other services ask it to deliver. It
publishes on `identity.events` (see contracts.identity)."""
from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.audit import SanctionApplied
from contracts.matching import NotificationRequested
from contracts.topics import Topic
from servicekit.app import Runtime
from servicekit.consumer import EventConsumer
from servicekit.events import CloudEvent
from identity.domain import notifications, sanctions


async def on_sanction_applied(session: AsyncSession, event: CloudEvent) -> None:
    await sanctions.apply_sanction(session, SanctionApplied.read(event.data))


async def on_notification_requested(session: AsyncSession, event: CloudEvent) -> None:
    await notifications.accept(session, NotificationRequested.read(event.data), source_event=event.id)


# Event type -> (the payload class the handler reads, the handler).
HANDLERS = {SanctionApplied.TYPE: (SanctionApplied, on_sanction_applied),
            NotificationRequested.TYPE: (NotificationRequested, on_notification_requested)}


def consumers(runtime: Runtime) -> list[EventConsumer]:
    return [EventConsumer(name="identity", topics=[Topic.AUDIT.value, Topic.MATCHING.value], db=runtime.db, settings=runtime.settings,
                          handlers={t: handler for t, (_, handler) in HANDLERS.items()})]
