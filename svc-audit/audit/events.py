"""What audit consumes: every event of every service (its own consumer group). Each consumed batch is
appended to the hash-chained trail in one transaction and a fixed number of statements; the fraud rules
follow the trail (judging.py)."""

from __future__ import annotations

import gc
from typing import cast

from sqlalchemy.ext.asyncio import AsyncSession

from audit.db.trail import DuplicateEvents
from audit.domain import trail
from audit.envelope import Envelope, read_envelope
from audit.settings import AuditSettings
from contracts.identity import ResidenceDeclared
from contracts.ledger import CoinsGifted
from contracts.matching import ServiceCompleted
from contracts.topics import TOPICS
from servicekit import clock
from servicekit.app import Runtime
from servicekit.consumer import EventConsumer
from servicekit.db import Database

# What the rules read (contract -> version read): the payloads are read as plain JSON (judging.py, facts.py).
READS = {
    ServiceCompleted.TYPE: ServiceCompleted,
    CoinsGifted.TYPE: CoinsGifted,
    ResidenceDeclared.TYPE: ResidenceDeclared,
}


class AuditPipeline:
    """The consumer's work for audit (a `servicekit.consumer.Recorder`): `read` takes each record as an
    Envelope (the payload kept as text: what the trail stores); `prepare` (outside any transaction, while the
    previous poll commits) drafts the poll's chain records; `record` (in the poll's transaction) appends to the
    chain, using the drafts when they are for exactly the events it got. The rules follow the trail
    (judging.py)."""

    read = staticmethod(read_envelope)

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

    async def record(self, session: AsyncSession, events: list[Envelope]) -> None:
        try:
            await self.chain.append(session, events, now=clock.now())
        except DuplicateEvents:
            self._ask = True  # the consumer retries the poll: that attempt asks
            raise
        self._ask = False  # the first poll after a start asks (it may be a redelivery); later ones do not


def collect_less_often(settings: AuditSettings) -> None:
    """A consumed poll of thousands of events builds tens of thousands of dicts and lists that all live until
    it commits; at CPython's default the young generation was collected dozens of times a poll, walking the
    same live objects each time. At 50,000 new objects parsing an event took 9–11 µs instead of 18
    (bench/README.md); only cycles wait longer for a collection, a few megabytes of them."""
    gc.set_threshold(settings.gc_young_threshold, *gc.get_threshold()[1:])


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
    return EventConsumer(name=name, topics=topics or list(TOPICS), db=db, settings=settings, recorder=pipeline)
