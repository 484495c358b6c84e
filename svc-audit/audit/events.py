"""What audit consumes: every event of every service (its own consumer group) into the hash-chained trail,
and the facts the fraud rules judge — completed services with their sign-in/out trail, gifts, residences."""
from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.base import EventData
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

Handler = Callable[[AsyncSession, CloudEvent], Awaitable[None]]


def handlers(settings: AuditSettings) -> dict[str, tuple[type[EventData], Handler]]:
    """Event type -> (the payload class the handler reads, the handler)."""

    async def on_service_completed(session: AsyncSession, event: CloudEvent) -> None:
        done = ServiceCompleted.read(event.data)
        for a in done.attendance:
            service = facts.Service(
                request_id=done.request_id, volunteer_id=a.volunteer_id, elder_id=done.elder_id, district=done.district,
                institution_id=done.institution_id, night_item=done.night_service_item, checked_in_at=a.checked_in_at,
                checked_out_at=a.checked_out_at, check_in_distance_m=a.check_in_distance_m,
                check_out_distance_m=a.check_out_distance_m, check_in_method=a.check_in_method,
                check_out_method=a.check_out_method, recorded_by=a.check_out_by, minutes=a.minutes, event_id=event.id)
            if await facts.record_service(session, service):
                limits = settings.thresholds(done.district)
                await alerts.raise_findings(session, await rules.on_service(session, service, limits),
                                            escalate_after=limits.escalate_after)

    async def on_gift(session: AsyncSession, event: CloudEvent) -> None:
        data = CoinsGifted.read(event.data)
        gift = facts.Gift(operation_id=data.operation_id, from_id=data.from_person_id, to_id=data.to_person_id,
                          amount=data.amount, at=data.gifted_at, event_id=event.id)
        if await facts.record_gift(session, gift):
            district = await facts.district_of(session, gift.from_id)
            limits = settings.thresholds(district)
            await alerts.raise_findings(session, await rules.on_gift(session, gift, limits, district),
                                        escalate_after=limits.escalate_after)

    async def on_residence(session: AsyncSession, event: CloudEvent) -> None:
        data = ResidenceDeclared.read(event.data)
        await facts.record_person_district(session, data.person_id, data.district)
        await alerts.residence_known(session, data.person_id, data.district)

    return {ServiceCompleted.TYPE: (ServiceCompleted, on_service_completed), CoinsGifted.TYPE: (CoinsGifted, on_gift),
            ResidenceDeclared.TYPE: (ResidenceDeclared, on_residence)}


def consumers(runtime: Runtime) -> list[EventConsumer]:
    settings: AuditSettings = runtime.settings  # type: ignore[assignment]
    signer = trail.CheckpointSigner(settings.checkpoint_keys, settings.checkpoint_active_key)

    async def to_trail(session: AsyncSession, events: list[CloudEvent]) -> None:
        await trail.append(session, events, signer=signer, checkpoint_every=settings.checkpoint_every, now=clock.now())

    return [EventConsumer(name="audit", topics=list(TOPICS), db=runtime.db, settings=settings,
                          handlers={t: h for t, (_, h) in handlers(settings).items()}, every_event=to_trail)]
