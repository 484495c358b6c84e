"""What identity consumes: audit's sanctions, the notifications other services ask it to deliver, and who took
a follow-up (whose elder's contact they may then read). It
publishes on `identity.events` (see contracts.identity)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.aed import IncidentAlertRequested
from contracts.audit import SanctionApplied
from contracts.matching import FollowUpAssigned, FollowUpClosed, FollowUpReleased, NotificationRequested
from contracts.topics import Topic
from identity.db import messages
from identity.domain import notifications, sanctions
from servicekit.app import Runtime
from servicekit.consumer import EventConsumer
from servicekit.events import CloudEvent


async def on_sanction_applied(session: AsyncSession, event: CloudEvent) -> None:
    await sanctions.apply_sanction(session, SanctionApplied.read(event.data))


async def on_notification_requested(session: AsyncSession, event: CloudEvent) -> None:
    reader = IncidentAlertRequested if event.type == IncidentAlertRequested.TYPE else NotificationRequested
    await notifications.accept(session, reader.read(event.data), source_event=event.id)


async def on_follow_up_assigned(session: AsyncSession, event: CloudEvent) -> None:
    taken = FollowUpAssigned.read(event.data)
    await messages.follow_up_taken(session, taken.follow_up_id, taken.elder_id, taken.assigned_to)


async def on_follow_up_released(session: AsyncSession, event: CloudEvent) -> None:
    released = FollowUpReleased.read(event.data)
    await messages.follow_up_taken(session, released.follow_up_id, released.elder_id, None)


async def on_follow_up_closed(session: AsyncSession, event: CloudEvent) -> None:
    closed = FollowUpClosed.read(event.data)
    await messages.follow_up_closed(session, closed.follow_up_id, closed.elder_id)


# Event type -> (the payload class the handler reads, the handler).
HANDLERS = {
    SanctionApplied.TYPE: (SanctionApplied, on_sanction_applied),
    NotificationRequested.TYPE: (NotificationRequested, on_notification_requested),
    IncidentAlertRequested.TYPE: (IncidentAlertRequested, on_notification_requested),
    # Who may read an elder's contact for a follow-up (回访): the operator who took it, while open.
    FollowUpAssigned.TYPE: (FollowUpAssigned, on_follow_up_assigned),
    FollowUpReleased.TYPE: (FollowUpReleased, on_follow_up_released),
    FollowUpClosed.TYPE: (FollowUpClosed, on_follow_up_closed),
}


def consumers(runtime: Runtime) -> list[EventConsumer]:
    return [
        EventConsumer(
            name="identity",
            topics=[Topic.AUDIT.value, Topic.MATCHING.value, Topic.AED.value],
            db=runtime.db,
            settings=runtime.settings,
            handlers={t: handler for t, (_, handler) in HANDLERS.items()},
        )
    ]
