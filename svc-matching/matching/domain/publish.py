from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.base import EventData
from contracts.topics import Topic
from servicekit.events import build_event, record_event


async def publish(
    session: AsyncSession, data: EventData, *, subject: object, actor: str | None = None, acting_for: str | None = None
) -> None:
    """Record a matching event in the outbox, in the use case's transaction. Keyed by request id, so one
    request's events reach the ledger in order (submitted before cancelled)."""
    await record_event(
        session,
        topic=Topic.MATCHING,
        event=build_event(source="matching", data=data, subject=str(subject), actor=actor, acting_for=acting_for),
    )
