"""Closing an account (注销, PIPL's right to deletion). The person asks, naming where their coins go: the
public-welfare account, or a confirmed direct relative. Nothing new starts for them from then on and what is
pending is cancelled (matching hears `account-closure.requested`); within the cooling-off period (冷静期,
`closure_cooling_off_days`) they may withdraw. After it, identity erases their personal data — real name and
identity number, WeChat link, phone, inbox, residence, relatives and guardianships (revoked, so the others'
projections drop them), roles (revoked), evidence numbers — and publishes `person.erased`: the ledger then moves
the coins, matching blanks the person's notes and the addresses nobody needs for a claim.

Kept, under the person id alone (a pseudonym once nothing links it to a person): ledger entries, the audit
trail, service records (志愿北京 claims need the item, place and period), and the history of grants, training,
qualifications and special-elder categories without their evidence numbers or notes."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.identity import AccountClosureRequested, AccountClosureWithdrawn, PersonErased, QualificationRevoked
from identity.db import repository
from identity.db.models import AccountClosure
from identity.domain import guardianship, kinship, roles
from identity.domain.publish import publish
from servicekit import clock
from servicekit.db import Database
from servicekit.errors import Conflict, NotFound, UnprocessableInput

ERASED = "账户已注销"


class ClosureAlreadyRequested(Conflict):
    type = "account-closure-requested"
    title_zh, title_en = "已申请注销账户", "Closing the account was already asked"


async def request(
    session: AsyncSession, *, person_id: uuid.UUID, coins_to: str, relative_id: uuid.UUID | None, cooling_off: timedelta
) -> AccountClosure:
    person = await repository.person(session, person_id, lock=True)
    if person is None or person.erased_at is not None:
        raise NotFound("用户不存在", "No such person")
    if (coins_to == "relative") != (relative_id is not None):
        raise UnprocessableInput(
            "转给亲属时须指明亲属，转入公益账户时不须",
            "Name the relative exactly when coins go to one",
            field="relative_id",
        )
    if relative_id is not None and not await repository.confirmed_relatives(session, person_id, relative_id):
        raise UnprocessableInput(
            "只能转给已确认的直系亲属", "Coins go only to a confirmed direct relative", field="relative_id"
        )
    now = clock.now()
    closure = await session.get(AccountClosure, person_id, with_for_update=True)
    if closure is not None and closure.state == "requested":
        raise ClosureAlreadyRequested()
    if closure is None:
        closure = AccountClosure(person_id=person_id)
        session.add(closure)
    closure.requested_at, closure.erase_after, closure.state = now, now + cooling_off, "requested"
    closure.coins_to, closure.relative_id, closure.withdrawn_at = coins_to, relative_id, None
    await session.flush()
    await publish(
        session,
        AccountClosureRequested(person_id=person_id, requested_at=now, erase_after=closure.erase_after),
        subject=person_id,
        actor=str(person_id),
    )
    return closure


async def withdraw(session: AsyncSession, person_id: uuid.UUID) -> AccountClosure:
    closure = await session.get(AccountClosure, person_id, with_for_update=True)
    if closure is None or closure.state != "requested":
        raise NotFound("没有待处理的注销申请", "No closure waiting")
    now = clock.now()
    closure.state, closure.withdrawn_at = "withdrawn", now
    await publish(
        session, AccountClosureWithdrawn(person_id=person_id, withdrawn_at=now), subject=person_id, actor=str(person_id)
    )
    return closure


async def of(session: AsyncSession, person_id: uuid.UUID) -> AccountClosure:
    closure = await session.get(AccountClosure, person_id)
    if closure is None:
        raise NotFound("没有注销申请", "No closure asked")
    return closure


async def erase_due(db: Database, *, batch: int = 50) -> int:
    """Erase the closed accounts whose cooling-off has passed; returns how many. Replicas share the work."""
    erased = 0
    while True:
        async with db.transaction() as session:
            due = await repository.due_closures(session, clock.now(), batch)
            for closure in due:
                await _erase(session, closure, now=clock.now())
        erased += len(due)
        if len(due) < batch:
            return erased


async def _erase(session: AsyncSession, closure: AccountClosure, *, now: datetime) -> None:
    person_id = closure.person_id
    for link in await repository.live_links_of(session, person_id):
        await kinship.end(session, link, actor="system", reason=ERASED)
    for record in await repository.live_guardianships_of(session, person_id):
        await guardianship.end(session, record, actor="system", reason=ERASED)
    for qualification in await repository.live_qualifications(session, person_id):
        qualification.revoked_at, qualification.revoked_by, qualification.revoke_reason = now, "system", ERASED
        await publish(
            session,
            QualificationRevoked(
                qualification_id=qualification.id,
                person_id=person_id,
                kind=qualification.kind,
                revoked_by="system",
                reason=ERASED,
                revoked_at=now,
            ),
            subject=person_id,
            actor="system",
        )
    for grant in await repository.live_role_grants(session, person_id, lock=True):
        await roles.revoke(session, grant, actor="system", reason=ERASED, now=now)
    await session.flush()
    await repository.erase_personal_data(session, person_id, now)
    closure.state, closure.erased_at = "erased", now
    await publish(
        session,
        PersonErased(
            person_id=person_id,
            coins_to=closure.coins_to,
            relative_id=closure.relative_id,
            erased_at=now,
        ),
        subject=person_id,
        actor="system",
    )
