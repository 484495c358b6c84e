"""What svc-aed consumes: identity's responder role (a valid first-aid certificate), kept as a projection, and
identity's reports that an alert reached a responder's phone. It publishes on `aed.events` (see contracts.aed)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from aed.db import incidents
from aed.domain import incidents as incident_rules
from contracts.identity import NotificationDelivered, RoleGranted, RoleRevoked
from contracts.topics import Topic
from servicekit.app import Runtime
from servicekit.consumer import EventConsumer
from servicekit.events import CloudEvent


async def on_role_granted(session: AsyncSession, event: CloudEvent) -> None:
    granted = RoleGranted.read(event.data)
    if granted.role == "responder":
        await incidents.record_role(session, granted.person_id, active=True, valid_until=granted.expires_at)


async def on_role_revoked(session: AsyncSession, event: CloudEvent) -> None:
    revoked = RoleRevoked.read(event.data)
    if revoked.role == "responder":
        await incidents.record_role(session, revoked.person_id, active=False, valid_until=None)


async def on_notification_delivered(session: AsyncSession, event: CloudEvent) -> None:
    delivered = NotificationDelivered.read(event.data)
    if delivered.template == "incident_alert":
        await incident_rules.alert_delivered(
            session,
            responder_id=delivered.person_id,
            notification_id=delivered.notification_id,
            channel=delivered.channel,
            at=delivered.delivered_at,
        )


# Event type -> (the payload class the handler reads, the handler).
HANDLERS = {
    RoleGranted.TYPE: (RoleGranted, on_role_granted),
    RoleRevoked.TYPE: (RoleRevoked, on_role_revoked),
    NotificationDelivered.TYPE: (NotificationDelivered, on_notification_delivered),
}


def consumers(runtime: Runtime) -> list[EventConsumer]:
    return [
        EventConsumer(
            name="aed",
            topics=[Topic.IDENTITY.value],
            db=runtime.db,
            settings=runtime.settings,
            handlers={t: handler for t, (_, handler) in HANDLERS.items()},
        )
    ]
