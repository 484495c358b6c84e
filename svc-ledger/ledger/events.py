"""What the ledger consumes. It publishes on `ledger.events` (see contracts.ledger)."""
from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.identity import PersonRegistered
from contracts.topics import Topic
from servicekit.app import Runtime
from servicekit.consumer import EventConsumer
from servicekit.events import CloudEvent
from ledger.domain import accounts


async def on_person_registered(session: AsyncSession, event: CloudEvent) -> None:
    data = PersonRegistered.read(event.data)
    await accounts.open_person_account(session, uuid.UUID(str(data.person_id)))


# Event type -> (the payload class the handler reads, the handler).
HANDLERS = {PersonRegistered.TYPE: (PersonRegistered, on_person_registered)}


def consumers(runtime: Runtime) -> list[EventConsumer]:
    return [EventConsumer(name="ledger", topics=[Topic.IDENTITY.value], db=runtime.db, settings=runtime.settings,
                          handlers={t: handler for t, (_, handler) in HANDLERS.items()})]
