"""What audit consumes: every event of every service (its own consumer group). Each consumed batch is
appended to the hash-chained trail, and the facts the fraud rules judge — completed services with their
sign-in/out trail, gifts, residences — are recorded and judged, all in one transaction and a fixed number
of statements per batch."""
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
from servicekit.consumer import EventConsumer, PreparedPolls, in_slices
from servicekit.db import Database
from servicekit.events import CloudEvent
from audit.db import facts
from audit.domain import alerts, rules, trail
from audit.settings import AuditSettings

# asyncpg's own UUID: a uuid.UUID (equal to and hashing as one; the database's rows already hold it), parsed
# in C — ten times faster than uuid.UUID, and a consumed service carries four.
_uuid = pgproto.UUID

# What the rules read (contract -> version read): the payloads are read as plain dicts on the hot path.
READS = {ServiceCompleted.TYPE: ServiceCompleted, CoinsGifted.TYPE: CoinsGifted, ResidenceDeclared.TYPE: ResidenceDeclared}


def _services(event: CloudEvent) -> list[facts.Service]:
    d = event.data
    return [facts.Service(
        request_id=_uuid(d["request_id"]), volunteer_id=_uuid(a["volunteer_id"]), elder_id=_uuid(d["elder_id"]),
        district=d["district"], institution_id=_uuid(d["institution_id"]) if d.get("institution_id") else None,
        night_item=bool(d.get("night_service_item")), checked_in_at=datetime.fromisoformat(a["checked_in_at"]),
        checked_out_at=datetime.fromisoformat(a["checked_out_at"]), check_in_distance_m=a.get("check_in_distance_m"),
        check_out_distance_m=a.get("check_out_distance_m"), check_in_method=a["check_in_method"],
        check_out_method=a["check_out_method"], recorded_by=a["check_out_by"], minutes=a["minutes"], event_id=event.id)
        for a in d.get("attendance", [])]


def _gift(event: CloudEvent) -> facts.Gift:
    d = event.data
    return facts.Gift(operation_id=_uuid(d["operation_id"]), from_id=_uuid(d["from_person_id"]),
                      to_id=_uuid(d["to_person_id"]), amount=d["amount"], at=datetime.fromisoformat(d["gifted_at"]),
                      event_id=event.id)


@dataclass(slots=True)
class Facts:
    """What the rules judge, read from a poll's events."""
    services: list[facts.Service]
    gifts: list[facts.Gift]
    residences: list[tuple[uuid.UUID, str]]


def read_facts(events: list[CloudEvent]) -> Facts:
    return Facts([s for e in events if e.type == ServiceCompleted.TYPE for s in _services(e)],
                 [_gift(e) for e in events if e.type == CoinsGifted.TYPE],
                 [(_uuid(e.data["person_id"]), e.data["district"]) for e in events if e.type == ResidenceDeclared.TYPE])


async def _read_facts_yielding(events: list[CloudEvent]) -> Facts:
    """`read_facts`, letting the event loop run between slices (the transaction in flight reads its replies)."""
    known = Facts([], [], [])
    async for part in in_slices(events):
        read = read_facts(list(part))
        known.services += read.services
        known.gifts += read.gifts
        known.residences += read.residences
    return known


async def judge(session: AsyncSession, known: Facts, settings: AuditSettings) -> None:
    """Record the facts of a batch, then judge every new one against everything known."""
    findings: list[rules.Finding] = []
    if known.residences:
        await facts.record_districts(session, known.residences)
        await alerts.residences_known(session, known.residences)
    if known.services and (new := await facts.record_services(session, known.services)):
        findings += await rules.on_services(session, new, settings.thresholds)
    if known.gifts and (new_gifts := await facts.record_gifts(session, known.gifts)):
        findings += await rules.on_gifts(session, new_gifts, settings.rules)
    await alerts.raise_findings(session, findings, escalate_after=settings.rules.escalate_after)


class AuditPipeline:
    """The consumer's work for audit: `prepare` (outside any transaction, while the previous poll commits)
    drafts the poll's chain records and reads its facts; `everything` (in the poll's transaction) appends to
    the chain and judges, using the drafts when they are for exactly the events it got."""

    def __init__(self, db: Database, settings: AuditSettings) -> None:
        self.db = db
        self.settings = settings
        self.chain = trail.Chain(trail.CheckpointSigner(settings.checkpoint_keys, settings.checkpoint_active_key),
                                 settings.checkpoint_every)
        self._facts: PreparedPolls[Facts] = PreparedPolls()

    async def prepare(self, events: list[CloudEvent]) -> None:
        await self.chain.draft(events, head=self._head)
        self._facts.put(events, await _read_facts_yielding(events))

    async def _head(self) -> tuple[int, bytes]:
        async with self.db.transaction(notify=False) as session:
            return await trail.head(session)

    async def everything(self, session: AsyncSession, events: list[CloudEvent]) -> None:
        await self.chain.append(session, events, now=clock.now())
        await judge(session, self._facts.take(events) or read_facts(events), self.settings)


def consumers(runtime: Runtime) -> list[EventConsumer]:
    return [audit_consumer(runtime.db, runtime.settings)]  # type: ignore[arg-type]


def audit_consumer(db, settings: AuditSettings, *, name: str = "audit", topics: list[str] | None = None,
                   pipeline: AuditPipeline | None = None) -> EventConsumer:
    pipeline = pipeline or AuditPipeline(db, settings)
    return EventConsumer(name=name, topics=topics or list(TOPICS), db=db, settings=settings,
                         every_event=pipeline.everything, unseen=trail.unseen, prepare=pipeline.prepare)
