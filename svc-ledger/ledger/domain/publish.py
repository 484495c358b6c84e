from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.base import EventData
from contracts.topics import Topic
from servicekit.events import build_event, record_event, record_events


async def publish(
    session: AsyncSession, data: EventData, *, subject: object, actor: str | None = None, acting_for: str | None = None
) -> None:
    """Record a ledger event in the outbox, in the operation's transaction."""
    await record_event(
        session,
        topic=Topic.LEDGER,
        event=build_event(source="ledger", data=data, subject=str(subject), actor=actor, acting_for=acting_for),
    )


async def publish_many(session: AsyncSession, items: Sequence[tuple[EventData, object]]) -> None:
    """Many events, each with its subject, in one statement."""
    await record_events(
        session,
        topic=Topic.LEDGER,
        events=[(build_event(source="ledger", data=data, subject=str(subject)), None) for data, subject in items],
    )
