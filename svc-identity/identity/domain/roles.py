"""Person roles, derived from facts and kept as grants with their history (who, when, why).

- elder: real-name verified and 18 or over.
- volunteer: verified, a declared Beijing permanent resident, volunteer training recorded by an
  institution, and 18 or over — or a minor of 14 or over with a confirmed guardian (they serve accompanied
  by them);
  never while a sanction removing recording rights stands.
- responder: a first-aid certificate that has not expired; the grant carries the expiry and lapses by
  itself (`lapse_expired_roles`).

Whenever a fact changes, `refresh_roles` grants what became true and revokes what stopped being true,
publishing `role.granted` / `role.revoked` with the actor and the reason.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.identity import RoleGranted, RoleRevoked
from identity.db import repository
from identity.db.models import RoleGrant
from identity.domain.publish import publish
from servicekit import clock
from servicekit.db import Database

BEIJING = ZoneInfo("Asia/Shanghai")
EXPIRED_CERTIFICATE = "急救证书已过期"
# The youngest who may volunteer, with a guardian's consent: the age from which a citizen may register as a
# volunteer (中国注册志愿者管理办法: 年满14周岁).
VOLUNTEER_MINIMUM_AGE = 14


def volunteer_age_day(turns_18_on: date) -> date:
    """The 14th birthday, from the stored 18th (four years apart, both fall on 1 March for a 29 February birth)."""
    return turns_18_on.replace(year=turns_18_on.year - (18 - VOLUNTEER_MINIMUM_AGE))


@dataclass(frozen=True)
class Eligible:
    reason: str
    expires_at: datetime | None = None


def end_of_validity(expires_on: date) -> datetime:
    """A certificate valid through `expires_on` lapses at the next midnight, Beijing time."""
    return datetime.combine(expires_on + timedelta(days=1), time(0), BEIJING).astimezone(UTC)


async def eligible_roles(session: AsyncSession, person_id: uuid.UUID, now: datetime) -> dict[str, Eligible]:
    person = await repository.person(session, person_id)
    verified = await repository.real_name(session, person_id)
    trainings = await repository.trainings_of(session, person_id)
    today = now.astimezone(BEIJING).date()
    roles: dict[str, Eligible] = {}
    if verified is not None and verified.turns_18_on <= today:  # a minor may volunteer (with a guardian), never ask
        roles["elder"] = Eligible("已实名认证、年满18周岁")
    if verified is not None:
        trained = any(t.kind == "volunteer" for t in trainings)
        may_volunteer = (
            person is not None
            and bool(person.permanent_resident)
            and trained
            and not await repository.recording_revoked(session, person_id)
        )
        if may_volunteer and verified.turns_18_on <= today:
            roles["volunteer"] = Eligible("已实名认证、北京市常住居民、年满18周岁、已完成志愿服务培训")
        elif (
            may_volunteer
            and volunteer_age_day(verified.turns_18_on) <= today
            and await repository.has_confirmed_guardian(session, person_id)
        ):
            roles["volunteer"] = Eligible(
                "未成年在校学生：已实名认证、北京市常住居民、已完成培训、监护人已确认（须由监护人陪同）"
            )
    valid = [
        t.certificate_expires_on
        for t in trainings
        if t.kind == "first_aid"
        and t.certificate_expires_on is not None
        and end_of_validity(t.certificate_expires_on) > now
    ]
    if valid:
        roles["responder"] = Eligible("持有效急救证书", end_of_validity(max(valid)))
    return roles


async def refresh_roles(
    session: AsyncSession, person_id: uuid.UUID, *, actor: str, now: datetime | None = None, why: str | None = None
) -> list[str]:
    """Bring the person's grants in line with their facts; returns the live roles."""
    now = now or clock.now()
    eligible = await eligible_roles(session, person_id, now)
    live = {grant.role: grant for grant in await repository.live_role_grants(session, person_id, lock=True)}
    for role, basis in eligible.items():
        if role not in live:
            session.add(
                RoleGrant(
                    person_id=person_id,
                    role=role,
                    granted_by=actor,
                    grant_reason=why or basis.reason,
                    granted_at=now,
                    expires_at=basis.expires_at,
                )
            )
            await publish(
                session,
                RoleGranted(
                    person_id=person_id,
                    role=role,
                    granted_by=actor,
                    reason=why or basis.reason,
                    expires_at=basis.expires_at,
                    granted_at=now,
                ),
                subject=person_id,
                actor=actor,
            )
        elif live[role].expires_at != basis.expires_at:
            live[role].expires_at = basis.expires_at  # a renewed certificate extends the grant
    for role, grant in live.items():
        if role not in eligible:
            reason = EXPIRED_CERTIFICATE if role == "responder" else (why or "不再符合条件")
            await revoke(session, grant, actor=actor, reason=reason, now=now)
    await session.flush()
    return sorted(eligible)


async def lapse_expired_roles(db: Database, *, now: datetime | None = None) -> int:
    """Revoke every grant whose expiry has passed (responders whose certificate expired)."""
    now = now or clock.now()
    async with db.transaction() as session:
        due = await repository.expired_role_grants(session, now)
        for grant in due:
            await revoke(session, grant, actor="system", reason=EXPIRED_CERTIFICATE, now=now)
    return len(due)


async def revoke(session: AsyncSession, grant: RoleGrant, *, actor: str, reason: str, now: datetime) -> None:
    grant.revoked_by, grant.revoke_reason, grant.revoked_at = actor, reason, now
    await publish(
        session,
        RoleRevoked(person_id=grant.person_id, role=grant.role, revoked_by=actor, reason=reason, revoked_at=now),
        subject=grant.person_id,
        actor=actor,
    )


async def live_roles(session: AsyncSession, person_id: uuid.UUID) -> tuple[str, ...]:
    """What goes into the person's access token."""
    now = clock.now()
    return tuple(
        sorted(
            g.role
            for g in await repository.live_role_grants(session, person_id)
            if g.expires_at is None or g.expires_at > now
        )
    )
