"""Real-name claims (实名认证申诉): a 居民身份证号 already verified for another account is not a dead end.

The claimant proves to the authority that the name is the number's (as for any verification), then files a
claim; staff of the claimant's district (city staff for anyone) decide on evidence they saw themselves — the
original ID card at a service counter, a police certificate — and record it. `transferred` withdraws the number
from the account that held it (that person is unverified again, and told so by event) and verifies the claimant
with it; `rejected` leaves everything as it was. Every step is an event, so the audit trail holds who decided
what on which evidence. The claim keeps the submitted name and number sealed under the claim's own id.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.identity import RealNameClaimDecided, RealNameClaimOpened, RealNameWithdrawn
from identity.db import claims as repo
from identity.db import repository
from identity.domain import roles
from identity.domain.publish import publish
from identity.domain.real_name import AlreadyVerified, Authority, checked_resident, record_verified
from identity.domain.resident_id import mask_name, parse_resident_id
from identity.pii import PersonalDataCipher, Sealed
from servicekit import clock
from servicekit.auth import Principal
from servicekit.errors import Conflict, NotFound


class NotTaken(Conflict):
    type, title_zh, title_en = (
        "id-number-not-taken",
        "该身份证号码未被其他账户认证，请直接实名认证",
        "No other account holds this number: verify your real name directly",
    )


class AlreadyDecided(Conflict):
    type, title_zh, title_en = ("claim-decided", "该申诉已处理", "This claim was decided already")


class HeldElsewhere(Conflict):
    type, title_zh, title_en = (
        "id-number-moved",
        "该身份证号码已转至其他账户，请重新提交申诉",
        "The number is now held by another account; a new claim is needed",
    )


async def file_claim(
    session: AsyncSession,
    cipher: PersonalDataCipher,
    authority: Authority,
    *,
    claimant_id: uuid.UUID,
    name: str,
    id_number: str,
    actor: str,
) -> repo.Claim:
    """Open a claim (or answer the one already open for this number): only for a name the authority matched to
    a number another account holds."""
    resident = await checked_resident(session, authority, person_id=claimant_id, name=name, id_number=id_number)
    lookup = cipher.lookup_hash(resident.number)
    await repository.lock_id_number(session, lookup)
    holder = await repository.real_name_by_lookup(session, lookup)
    if holder is None or holder.person_id == claimant_id:
        raise NotTaken()
    if (existing := await repo.open_claim_of(session, claimant_id, lookup)) is not None:
        return existing
    claim_id = uuid.uuid4()
    owner = str(claim_id)
    sealed_number = cipher.seal(resident.number, purpose="id_number", owner=owner)
    person = await repository.person(session, claimant_id)
    claim = repo.Claim(
        id=claim_id,
        claimant_id=claimant_id,
        holder_id=holder.person_id,
        id_number_lookup=lookup,
        key_id=sealed_number.key_id,
        name_encrypted=cipher.seal(name, purpose="name", owner=owner).blob,
        id_number_encrypted=sealed_number.blob,
        name_masked=mask_name(name),
        id_number_masked=resident.masked,
        district=person.residence_district if person else None,
        state="open",
        opened_at=clock.now(),
        decided_at=None,
        decided_by=None,
        evidence=None,
    )
    await repo.add(session, claim)
    opened = RealNameClaimOpened(
        claim_id=claim_id, claimant_id=claimant_id, holder_id=holder.person_id, district=claim.district
    )
    await publish(session, opened, subject=claimant_id, actor=actor)
    return claim


async def claims_of(session: AsyncSession, claimant_id: uuid.UUID) -> list[repo.Claim]:
    return await repo.claims_of(session, claimant_id)


def _in_scope(staff: Principal, claim: repo.Claim) -> bool:
    """City staff decide any claim; a district officer those of claimants living in their district."""
    return "city_admin" in staff.roles or ("district_officer" in staff.roles and claim.district == staff.district)


async def open_claims(session: AsyncSession, staff: Principal, *, limit: int) -> list[repo.Claim]:
    everywhere = "city_admin" in staff.roles
    return await repo.open_claims(session, district=staff.district, everywhere=everywhere, limit=limit)


async def decide(
    session: AsyncSession,
    cipher: PersonalDataCipher,
    *,
    claim_id: uuid.UUID,
    staff: Principal,
    transfer: bool,
    evidence: str,
) -> repo.Claim:
    claim = await repo.claim(session, claim_id, for_update=True)
    if claim is None or not _in_scope(staff, claim):
        raise NotFound("没有这个申诉", "No such claim")
    if claim.state != "open":
        raise AlreadyDecided()
    now = clock.now()
    if transfer:
        await _transfer(session, cipher, claim, actor=staff.id)
    state = "transferred" if transfer else "rejected"
    await repo.decide(session, claim.id, state=state, decided_by=staff.id, evidence=evidence, at=now)
    decided = RealNameClaimDecided(
        claim_id=claim.id,
        claimant_id=claim.claimant_id,
        holder_id=claim.holder_id,
        decision=state,
        decided_by=staff.id,
        evidence=evidence,
    )
    await publish(session, decided, subject=claim.claimant_id, actor=staff.id)
    found = await repo.claim(session, claim.id)
    assert found is not None
    return found


async def _transfer(session: AsyncSession, cipher: PersonalDataCipher, claim: repo.Claim, *, actor: str) -> None:
    """The number leaves the account that held it and verifies the claimant, in one transaction."""
    await repository.lock_id_number(session, claim.id_number_lookup)
    holder = await repository.real_name_by_lookup(session, claim.id_number_lookup)
    if holder is not None and holder.person_id != claim.holder_id:
        raise HeldElsewhere()
    existing = await repository.real_name(session, claim.claimant_id)
    if existing is not None and existing.id_number_lookup != claim.id_number_lookup:
        raise AlreadyVerified()
    if holder is not None:
        await session.delete(holder)
        await session.flush()
        withdrawn = RealNameWithdrawn(person_id=claim.holder_id, claim_id=claim.id)
        await publish(session, withdrawn, subject=claim.holder_id, actor=actor)
        await roles.refresh_roles(session, claim.holder_id, actor=actor, why="实名认证已撤销")
    owner = str(claim.id)
    name = cipher.open(Sealed(claim.key_id, claim.name_encrypted), purpose="name", owner=owner)
    number = cipher.open(Sealed(claim.key_id, claim.id_number_encrypted), purpose="id_number", owner=owner)
    resident = parse_resident_id(number, today=clock.now().date())
    await record_verified(session, cipher, person_id=claim.claimant_id, name=name, resident=resident, actor=actor)
