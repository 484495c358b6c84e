"""What the ledger consumes: identity's facts (projections), matching's request lifecycle (the saga of
DESIGN.md §4) and audit's sanctions. It publishes on `ledger.events` (see contracts.ledger)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from functools import partial
from typing import cast

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.audit import SanctionApplied
from contracts.identity import (
    KinshipConfirmed,
    KinshipRevoked,
    PersonErased,
    PersonReachedRedemptionAge,
    PersonRegistered,
    PersonVerified,
    PersonVerifiedAnyVersion,
    RealNameWithdrawn,
    ResidenceDeclared,
    SpecialGroupsSet,
)
from contracts.matching import RequestCancelled, RequestSubmitted, ServiceCompleted
from contracts.topics import Topic
from ledger.db import holders, kin_links
from ledger.domain import accounts, clock, closure, holds, settlement
from ledger.settings import LedgerSettings
from servicekit.app import Runtime
from servicekit.consumer import EventConsumer, Reader, reading
from servicekit.events import CloudEvent

Handler = Callable[[AsyncSession, CloudEvent], Awaitable[None]]


def handlers(settings: LedgerSettings) -> dict[str, tuple[Reader, Handler]]:
    """Event type -> (the payload class the handler reads, the handler)."""
    grace = timedelta(hours=settings.hold_grace_hours)

    return {
        PersonRegistered.TYPE: reading(PersonRegistered, lambda s, d: accounts.open_person_account(s, d.person_id)),
        PersonVerified.TYPE: reading(
            PersonVerifiedAnyVersion,
            lambda s, d: holders.record_redemption_age(
                s,
                d.person_id,
                d.redemption_age if isinstance(d, PersonVerified) else d.turns_60_on <= clock.beijing_date(clock.now()),
            ),
        ),
        PersonReachedRedemptionAge.TYPE: reading(
            PersonReachedRedemptionAge, lambda s, d: holders.record_redemption_age(s, d.person_id, True)
        ),
        # A verification withdrawn (the number was someone else's): its age facts no longer hold.
        RealNameWithdrawn.TYPE: reading(
            RealNameWithdrawn, lambda s, d: holders.record_redemption_age(s, d.person_id, False)
        ),
        ResidenceDeclared.TYPE: reading(
            ResidenceDeclared, lambda s, d: holders.record_residence(s, d.person_id, d.district)
        ),
        SpecialGroupsSet.TYPE: reading(
            SpecialGroupsSet, lambda s, d: holders.record_special_groups(s, d.person_id, d.district, list(d.categories))
        ),
        KinshipConfirmed.TYPE: reading(
            KinshipConfirmed, lambda s, d: kin_links.record(s, d.link_id, d.person_id, d.relative_id, d.relation)
        ),
        KinshipRevoked.TYPE: reading(
            KinshipRevoked, lambda s, d: kin_links.revoke(s, d.link_id, d.person_id, d.relative_id)
        ),
        PersonErased.TYPE: reading(PersonErased, lambda s, d: closure.close(s, d, now=clock.now())),
        RequestSubmitted.TYPE: reading(
            RequestSubmitted, lambda s, d: holds.place_hold(s, d, now=clock.now(), grace=grace)
        ),
        RequestCancelled.TYPE: reading(
            RequestCancelled, lambda s, d: holds.release_hold(s, d.request_id, now=clock.now())
        ),
        ServiceCompleted.TYPE: reading(ServiceCompleted, lambda s, d: settlement.settle_service(s, d, now=clock.now())),
        SanctionApplied.TYPE: reading(
            SanctionApplied, lambda s, d: settlement.reverse_false_records(s, d, now=clock.now())
        ),
    }


async def place_submitted_holds(session: AsyncSession, events: list[CloudEvent], *, grace: timedelta) -> None:
    """Consecutive request submissions of one poll are held together (one lock statement for all)."""
    await holds.place_holds(session, [RequestSubmitted.read(e.data) for e in events], now=clock.now(), grace=grace)


async def settle_completed_services(session: AsyncSession, events: list[CloudEvent]) -> None:
    """Consecutive service completions of one poll settle together (a fixed number of statements)."""
    await settlement.settle_services(session, [ServiceCompleted.read(e.data) for e in events], now=clock.now())


def consumers(runtime: Runtime) -> list[EventConsumer]:
    settings = cast(LedgerSettings, runtime.settings)  # the runtime holds the service's own settings
    table = handlers(settings)
    return [
        EventConsumer(
            name="ledger",
            topics=[Topic.IDENTITY.value, Topic.MATCHING.value, Topic.AUDIT.value],
            db=runtime.db,
            settings=runtime.settings,
            handlers={t: handler for t, (_, handler) in table.items()},
            batch_handlers={
                ServiceCompleted.TYPE: settle_completed_services,
                RequestSubmitted.TYPE: partial(place_submitted_holds, grace=timedelta(hours=settings.hold_grace_hours)),
            },
        )
    ]
