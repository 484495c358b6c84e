"""What matching consumes: the ledger's answers in the request saga (DESIGN.md §4), identity's facts about
people (projections), and audit's sanctions (a sanctioned volunteer's bookings end). It publishes on
`matching.events` (see contracts.matching)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.audit import SanctionApplied
from contracts.identity import (
    AccountClosureRequested,
    AccountClosureWithdrawn,
    AccountReinstated,
    AccountSuspended,
    GuardianshipConfirmed,
    GuardianshipRevoked,
    KinshipConfirmed,
    KinshipRevoked,
    PersonCameOfAge,
    PersonErased,
    PersonVerified,
    PersonVerifiedAnyVersion,
    PersonVerifiedV1,
    QualificationRecorded,
    QualificationRevoked,
    ResidenceDeclared,
    RoleGranted,
    RoleRevoked,
    SanctionLifted,
    SpecialGroupsSet,
)
from contracts.ledger import HoldPlaced, HoldRejected
from contracts.topics import Topic
from matching.db import kin_links, people
from matching.domain import closing, requests, sanctions
from matching.domain.notify import BEIJING
from servicekit import clock
from servicekit.app import Runtime
from servicekit.consumer import BatchHandler, EventConsumer, Reader, reading
from servicekit.events import CloudEvent

Handler = Callable[[AsyncSession, CloudEvent], Awaitable[None]]


async def _holds_answered(session: AsyncSession, events: list[CloudEvent]) -> None:
    answers = [(HoldPlaced if e.type == HoldPlaced.TYPE else HoldRejected).read(e.data) for e in events]
    await requests.holds_answered(session, answers, now=clock.now())


def _minor(verified: PersonVerified | PersonVerifiedV1) -> bool:
    if isinstance(verified, PersonVerifiedV1):
        return verified.turns_18_on > clock.now().astimezone(BEIJING).date()
    return not verified.adult


# The ledger answers every submitted request: a poll's answers are applied together.
BATCH_HANDLERS: dict[str, BatchHandler] = {HoldPlaced.TYPE: _holds_answered, HoldRejected.TYPE: _holds_answered}

# Event type -> (the payload class the handler reads, the handler).
HANDLERS: dict[str, tuple[Reader, Handler]] = {
    RoleGranted.TYPE: reading(RoleGranted, lambda s, d: people.record_role(s, d.person_id, d.role, True)),
    RoleRevoked.TYPE: reading(RoleRevoked, lambda s, d: people.record_role(s, d.person_id, d.role, False)),
    ResidenceDeclared.TYPE: reading(
        ResidenceDeclared, lambda s, d: people.record_residence(s, d.person_id, d.district)
    ),
    SpecialGroupsSet.TYPE: reading(
        SpecialGroupsSet, lambda s, d: people.record_special_groups(s, d.person_id, list(d.categories))
    ),
    KinshipConfirmed.TYPE: reading(
        KinshipConfirmed, lambda s, d: kin_links.record(s, d.link_id, d.person_id, d.relative_id)
    ),
    KinshipRevoked.TYPE: reading(
        KinshipRevoked, lambda s, d: kin_links.revoke(s, d.link_id, d.person_id, d.relative_id)
    ),
    PersonVerified.TYPE: reading(PersonVerifiedAnyVersion, lambda s, d: people.record_minor(s, d.person_id, _minor(d))),
    PersonCameOfAge.TYPE: reading(PersonCameOfAge, lambda s, d: people.record_minor(s, d.person_id, False)),
    GuardianshipConfirmed.TYPE: reading(
        GuardianshipConfirmed,
        lambda s, d: people.record_guardianship(
            s, d.guardianship_id, minor_id=d.minor_id, guardian_id=d.guardian_id, active=True
        ),
    ),
    GuardianshipRevoked.TYPE: reading(
        GuardianshipRevoked,
        lambda s, d: people.record_guardianship(
            s, d.guardianship_id, minor_id=d.minor_id, guardian_id=d.guardian_id, active=False
        ),
    ),
    QualificationRecorded.TYPE: reading(
        QualificationRecorded,
        lambda s, d: people.record_qualification(
            s, d.person_id, d.kind, qualification_id=d.qualification_id, valid_until=d.valid_until
        ),
    ),
    QualificationRevoked.TYPE: reading(
        QualificationRevoked, lambda s, d: sanctions.qualification_withdrawn(s, d, now=clock.now())
    ),
    AccountClosureRequested.TYPE: reading(AccountClosureRequested, lambda s, d: closing.asked(s, d, now=clock.now())),
    AccountClosureWithdrawn.TYPE: reading(AccountClosureWithdrawn, closing.withdrawn),
    PersonErased.TYPE: reading(PersonErased, closing.erased),
    AccountSuspended.TYPE: reading(AccountSuspended, lambda s, d: sanctions.suspended(s, d, now=clock.now())),
    AccountReinstated.TYPE: reading(AccountReinstated, lambda s, d: sanctions.reinstated(s, d)),
    SanctionApplied.TYPE: reading(SanctionApplied, lambda s, d: sanctions.applied(s, d, now=clock.now())),
    SanctionLifted.TYPE: reading(SanctionLifted, lambda s, d: sanctions.lifted(s, d)),
}


def consumers(runtime: Runtime) -> list[EventConsumer]:
    return [
        EventConsumer(
            name="matching",
            topics=[Topic.LEDGER.value, Topic.IDENTITY.value, Topic.AUDIT.value],
            db=runtime.db,
            settings=runtime.settings,
            handlers={t: handler for t, (_, handler) in HANDLERS.items()},
            batch_handlers=BATCH_HANDLERS,
        )
    ]
