"""What identity consumes: audit's sanctions. It publishes on `identity.events` (see contracts.identity)."""
from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.audit import SanctionApplied
from contracts.topics import Topic
from servicekit.app import Runtime
from servicekit.consumer import EventConsumer
from servicekit.events import CloudEvent
from identity.domain import sanctions


async def on_sanction_applied(session: AsyncSession, event: CloudEvent) -> None:
    await sanctions.apply_sanction(session, SanctionApplied.read(event.data))


# Event type -> (the payload class the handler reads, the handler).
HANDLERS = {SanctionApplied.TYPE: (SanctionApplied, on_sanction_applied)}


def consumers(runtime: Runtime) -> list[EventConsumer]:
    return [EventConsumer(name="identity", topics=[Topic.AUDIT.value], db=runtime.db, settings=runtime.settings,
                          handlers={t: handler for t, (_, handler) in HANDLERS.items()})]
