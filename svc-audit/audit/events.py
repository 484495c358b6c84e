"""What audit consumes: every event of every service (its own consumer group). Each consumed batch is
appended to the hash-chained trail in one transaction and a fixed number of statements; the fraud rules
follow the trail (judging.py)."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy.ext.asyncio import AsyncSession

from audit.db.trail import DuplicateEvents
from audit.domain import trail
from audit.settings import AuditSettings
from contracts.identity import ResidenceDeclared
from contracts.ledger import CoinsGifted
from contracts.matching import ServiceCompleted
from contracts.topics import TOPICS
from servicekit import clock
from servicekit.app import Runtime
from servicekit.consumer import EventConsumer
from servicekit.db import Database
from servicekit.events import Envelope, read_envelope

# What the rules read (contract -> version read): the payloads are read as plain JSON (judging.py, facts.py).
READS = {
    ServiceCompleted.TYPE: ServiceCompleted,
    CoinsGifted.TYPE: CoinsGifted,
    ResidenceDeclared.TYPE: ResidenceDeclared,
}


class AuditPipeline:
    """The consumer's work for audit: `prepare` (outside any transaction, while the previous poll commits)
    drafts the poll's chain records; `everything` (in the poll's transaction) appends to the chain, using the
    drafts when they are for exactly the events it got. The rules follow the trail (judging.py)."""

    def __init__(self, db: Database, settings: AuditSettings) -> None:
        self.db = db
        self.chain = trail.Chain(
            trail.CheckpointSigner(settings.checkpoint_keys, settings.checkpoint_active_key), settings.checkpoint_every
        )
        self._ask = True  # whether the next poll asks the trail which events it holds (trail.unseen)

    async def unseen(self, session: AsyncSession, events: list[Envelope]) -> list[Envelope]:
        # A single event (applied alone, or a quiet moment's poll) costs one look-up: always asked.
        return await trail.unseen(session, events, ask=self._ask or len(events) == 1)

    async def prepare(self, events: list[Envelope]) -> None:
        await self.chain.draft(events, head=self._head)

    async def _head(self) -> tuple[int, bytes]:
        async with self.db.transaction(notify=False) as session:
            return await trail.head(session)

    async def everything(self, session: AsyncSession, events: list[Envelope]) -> None:
        try:
            await self.chain.append(session, events, now=clock.now())
        except DuplicateEvents:
            self._ask = True  # the consumer retries the poll: that attempt asks
            raise
        self._ask = False  # the first poll after a start asks (it may be a redelivery); later ones do not


def consumers(runtime: Runtime) -> list[EventConsumer]:
    return [audit_consumer(runtime.db, cast(AuditSettings, runtime.settings))]


def audit_consumer(
    db,
    settings: AuditSettings,
    *,
    name: str = "audit",
    topics: list[str] | None = None,
    pipeline: AuditPipeline | None = None,
) -> EventConsumer:
    pipeline = pipeline or AuditPipeline(db, settings)
    # The trail reads events as Envelopes (the data kept as text): the same attributes as the CloudEvents the
    # consumer's hooks are typed for, so they are handed over untyped.
    envelope_hooks: dict[str, Any] = {
        "every_event": pipeline.everything,
        "unseen": pipeline.unseen,
        "prepare": pipeline.prepare,
        "parse": read_envelope,
    }
    return EventConsumer(name=name, topics=topics or list(TOPICS), db=db, settings=settings, **envelope_hooks)
