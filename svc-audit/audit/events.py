"""What audit consumes: every event of every service (its own consumer group). Each consumed batch is
appended to the hash-chained trail, and the facts the fraud rules judge — completed services with their
sign-in/out trail (read out of the trail by PostgreSQL), gifts, residences — are recorded and judged, all in
one transaction and a fixed number of statements per batch."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from asyncpg.pgproto import pgproto
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.identity import ResidenceDeclared
from contracts.ledger import CoinsGifted
from contracts.matching import ServiceCompleted
from contracts.topics import TOPICS
from servicekit import clock
from servicekit.app import Runtime
from servicekit.consumer import EventConsumer
from servicekit.db import Database
from servicekit.events import CloudEvent
from audit.db import facts
from audit.domain import alerts, rules, trail
from audit.settings import AuditSettings

# asyncpg's own UUID: a uuid.UUID (equal to and hashing as one; the database's rows already hold it), parsed
# in C — ten times faster than uuid.UUID.
_uuid = pgproto.UUID

# What the rules read (contract -> version read): the payloads are read as plain dicts on the hot path.
READS = {ServiceCompleted.TYPE: ServiceCompleted, CoinsGifted.TYPE: CoinsGifted, ResidenceDeclared.TYPE: ResidenceDeclared}


def _gift(event: CloudEvent) -> facts.Gift:
    d = event.data
    return facts.Gift(operation_id=_uuid(d["operation_id"]), from_id=_uuid(d["from_person_id"]),
                      to_id=_uuid(d["to_person_id"]), amount=d["amount"], at=datetime.fromisoformat(d["gifted_at"]),
                      event_id=event.id)


@dataclass(slots=True)
class Facts:
    """What the rules judge that is read here from a poll's events (services are read from the trail, in SQL)."""
    gifts: list[facts.Gift]
    residences: list[tuple[uuid.UUID, str]]


def read_facts(events: list[CloudEvent]) -> Facts:
    return Facts([_gift(e) for e in events if e.type == CoinsGifted.TYPE],
                 [(_uuid(e.data["person_id"]), e.data["district"]) for e in events if e.type == ResidenceDeclared.TYPE])


async def judge(session: AsyncSession, after: int, known: Facts, settings: AuditSettings) -> None:
    """Record the facts of a batch — its events are the trail's records after `after` — then judge every new
    one against everything known."""
    findings: list[rules.Finding] = []
    if known.residences:
        await facts.record_districts(session, known.residences)
        await alerts.residences_known(session, known.residences)
    if await facts.record_services(session, after):
        findings += await rules.on_services(session, after, settings.rules, settings.district_thresholds())
    if known.gifts and (new_gifts := await facts.record_gifts(session, known.gifts)):
        findings += await rules.on_gifts(session, new_gifts, settings.rules)
    await alerts.raise_findings(session, findings, escalate_after=settings.rules.escalate_after)


class AuditPipeline:
    """The consumer's work for audit: `prepare` (outside any transaction, while the previous poll commits)
    drafts the poll's chain records; `everything` (in the poll's transaction) appends to the chain, using the
    drafts when they are for exactly the events it got, and judges."""

    def __init__(self, db: Database, settings: AuditSettings) -> None:
        self.db = db
        self.settings = settings
        self.chain = trail.Chain(trail.CheckpointSigner(settings.checkpoint_keys, settings.checkpoint_active_key),
                                 settings.checkpoint_every)

    async def prepare(self, events: list[CloudEvent]) -> None:
        await self.chain.draft(events, head=self._head)

    async def _head(self) -> tuple[int, bytes]:
        async with self.db.transaction(notify=False) as session:
            return await trail.head(session)

    async def everything(self, session: AsyncSession, events: list[CloudEvent]) -> None:
        after = await self.chain.append(session, events, now=clock.now())
        await judge(session, after, read_facts(events), self.settings)


def consumers(runtime: Runtime) -> list[EventConsumer]:
    return [audit_consumer(runtime.db, runtime.settings)]  # type: ignore[arg-type]


def audit_consumer(db, settings: AuditSettings, *, name: str = "audit", topics: list[str] | None = None,
                   pipeline: AuditPipeline | None = None) -> EventConsumer:
    pipeline = pipeline or AuditPipeline(db, settings)
    return EventConsumer(name=name, topics=topics or list(TOPICS), db=db, settings=settings,
                         every_event=pipeline.everything, unseen=trail.unseen, prepare=pipeline.prepare)
