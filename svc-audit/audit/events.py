"""What audit consumes: every event of every service (its own consumer group). Each consumed batch is
appended to the hash-chained trail, and the facts the fraud rules judge — completed services with their
sign-in/out trail, gifts, residences — are recorded and judged, all in one transaction and a fixed number
of statements per batch."""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.identity import ResidenceDeclared
from contracts.ledger import CoinsGifted
from contracts.matching import ServiceCompleted
from contracts.topics import TOPICS
from servicekit import clock
from servicekit.app import Runtime
from servicekit.consumer import EventConsumer
from servicekit.events import CloudEvent
from audit.db import facts
from audit.domain import alerts, rules, trail
from audit.settings import AuditSettings

# What the rules read (contract -> version read): the payloads are read as plain dicts on the hot path.
READS = {ServiceCompleted.TYPE: ServiceCompleted, CoinsGifted.TYPE: CoinsGifted, ResidenceDeclared.TYPE: ResidenceDeclared}


def _services(event: CloudEvent) -> list[facts.Service]:
    d = event.data
    return [facts.Service(
        request_id=uuid.UUID(d["request_id"]), volunteer_id=uuid.UUID(a["volunteer_id"]), elder_id=uuid.UUID(d["elder_id"]),
        district=d["district"], institution_id=uuid.UUID(d["institution_id"]) if d.get("institution_id") else None,
        night_item=bool(d.get("night_service_item")), checked_in_at=datetime.fromisoformat(a["checked_in_at"]),
        checked_out_at=datetime.fromisoformat(a["checked_out_at"]), check_in_distance_m=a.get("check_in_distance_m"),
        check_out_distance_m=a.get("check_out_distance_m"), check_in_method=a["check_in_method"],
        check_out_method=a["check_out_method"], recorded_by=a["check_out_by"], minutes=a["minutes"], event_id=event.id)
        for a in d.get("attendance", [])]


def _gift(event: CloudEvent) -> facts.Gift:
    d = event.data
    return facts.Gift(operation_id=uuid.UUID(d["operation_id"]), from_id=uuid.UUID(d["from_person_id"]),
                      to_id=uuid.UUID(d["to_person_id"]), amount=d["amount"], at=datetime.fromisoformat(d["gifted_at"]),
                      event_id=event.id)


async def judge(session: AsyncSession, events: list[CloudEvent], settings: AuditSettings) -> None:
    """Record the facts of a batch, then judge every new one against everything known."""
    services = [s for e in events if e.type == ServiceCompleted.TYPE for s in _services(e)]
    gifts = [_gift(e) for e in events if e.type == CoinsGifted.TYPE]
    residences = [(uuid.UUID(e.data["person_id"]), e.data["district"]) for e in events if e.type == ResidenceDeclared.TYPE]
    findings: list[rules.Finding] = []
    if residences:
        await facts.record_districts(session, residences)
        await alerts.residences_known(session, residences)
    if services and (new := await facts.record_services(session, services)):
        findings += await rules.on_services(session, new, settings.thresholds)
    if gifts and (new_gifts := await facts.record_gifts(session, gifts)):
        findings += await rules.on_gifts(session, new_gifts, settings.rules)
    await alerts.raise_findings(session, findings, escalate_after=settings.rules.escalate_after)


def consumers(runtime: Runtime) -> list[EventConsumer]:
    return [audit_consumer(runtime.db, runtime.settings)]  # type: ignore[arg-type]


def audit_consumer(db, settings: AuditSettings, *, name: str = "audit", topics: list[str] | None = None) -> EventConsumer:
    signer = trail.CheckpointSigner(settings.checkpoint_keys, settings.checkpoint_active_key)

    async def everything(session: AsyncSession, events: list[CloudEvent]) -> None:
        await trail.append(session, events, signer=signer, checkpoint_every=settings.checkpoint_every, now=clock.now())
        await judge(session, events, settings)

    return EventConsumer(name=name, topics=topics or list(TOPICS), db=db, settings=settings, every_event=everything,
                         unseen=trail.unseen)
