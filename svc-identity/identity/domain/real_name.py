"""Real-name verification (实名认证): one person per identity number; personal data sealed at rest."""

from __future__ import annotations

import asyncio
import logging
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.identity import PersonalDataAccessed, PersonVerified
from identity.db import repository
from identity.db.models import RealName
from identity.domain import roles
from identity.domain.publish import publish
from identity.domain.resident_id import ResidentId, mask_name, parse_resident_id
from identity.pii import PersonalDataCipher, Sealed
from identity.tencentcloud import Verdict
from servicekit import clock
from servicekit.errors import Conflict, NotFound, ServiceUnavailable, UnprocessableInput

BEIJING = ZoneInfo("Asia/Shanghai")
log = logging.getLogger(__name__)


class IdNumberTaken(Conflict):
    type, title_zh, title_en = (
        "id-number-taken",
        "该身份证号码已被其他账户认证",
        "This identity number is verified for another account",
    )


class NameDoesNotMatch(UnprocessableInput):
    type, title_zh, title_en = (
        "real-name-mismatch",
        "姓名与身份证号码不一致",
        "The name and the identity number do not belong together",
    )


class NoSuchResident(UnprocessableInput):
    type, title_zh, title_en = (
        "id-number-unknown",
        "证件库中无此身份证号码",
        "The authority has no record of this identity number",
    )


class AuthorityUnavailable(ServiceUnavailable):
    type, title_zh, title_en = (
        "real-name-authority-unavailable",
        "实名核验服务暂时不可用，请稍后再试",
        "The real-name authority cannot be reached; try again later",
    )


class AlreadyVerified(Conflict):
    type, title_zh, title_en = (
        "already-verified",
        "您已完成实名认证，证件号码不可更改",
        "Already verified with another number",
    )


@dataclass(frozen=True)
class Verification:
    person_id: uuid.UUID
    name_masked: str
    id_number_masked: str
    age: int
    verified_at: datetime


def name_lookup(cipher: PersonalDataCipher, name: str) -> bytes:
    """The keyed hash staff find a person by: the full name as written on the card, width and spaces ignored.
    The prefix keeps it apart from the identity number's hash under the same key."""
    return cipher.lookup_hash("name:" + "".join(unicodedata.normalize("NFKC", name).split()))


def beijing_today() -> date:
    return clock.now().astimezone(BEIJING).date()


def age_on(record: RealName, day: date) -> int:
    return age_from(record.turns_18_on, day)


def age_from(turns_18_on: date, day: date) -> int:
    """Whole years, from the stored 18th birthday (the birth date itself is not kept in the clear)."""
    years = day.year - turns_18_on.year + 18
    return years - 1 if (day.month, day.day) < (turns_18_on.month, turns_18_on.day) else years


def _view(record: RealName, today: date) -> Verification:
    return Verification(
        person_id=record.person_id,
        name_masked=record.name_masked,
        id_number_masked=record.id_number_masked,
        age=age_on(record, today),
        verified_at=record.verified_at,
    )


class Authority(Protocol):
    """Whoever vouches that a name and a 居民身份证号 belong together (identity.tencentcloud.RealNameAuthority)."""

    async def check(self, *, name: str, id_number: str) -> Verdict: ...


async def checked_resident(
    session: AsyncSession, authority: Authority, *, person_id: uuid.UUID, name: str, id_number: str
) -> ResidentId:
    """The number's own checksum and region first (free, local), then the authority (a paid call, made before
    any lock is taken): the name must be the number's."""
    # The region table lookup is CPU work of a few milliseconds: keep it off the event loop.
    resident = await asyncio.to_thread(parse_resident_id, id_number, today=beijing_today())
    if await repository.person(session, person_id) is None:
        raise NotFound("用户不存在", "No such person")
    verdict = await authority.check(name=name, id_number=resident.number)
    if verdict is Verdict.MISMATCH:
        raise NameDoesNotMatch()
    if verdict is Verdict.NO_RECORD:
        raise NoSuchResident()
    if verdict is not Verdict.MATCH:
        raise AuthorityUnavailable()
    return resident


async def verify_real_name(
    session: AsyncSession,
    cipher: PersonalDataCipher,
    authority: Authority,
    *,
    person_id: uuid.UUID,
    name: str,
    id_number: str,
    actor: str,
) -> Verification:
    resident = await checked_resident(session, authority, person_id=person_id, name=name, id_number=id_number)
    today = beijing_today()
    lookup = cipher.lookup_hash(resident.number)
    await repository.lock_id_number(session, lookup)
    holder = await repository.real_name_by_lookup(session, lookup)
    if holder is not None and holder.person_id != person_id:
        raise IdNumberTaken(
            "该号码已被其他账户认证。如确为本人证件，请提交实名认证申诉（POST /api/v1/me/real-name/claims），"
            "由所在区工作人员核实",
            "Another account is verified with this number. If it is yours, file a claim "
            "(POST /api/v1/me/real-name/claims) for staff of your district to check",
        )
    existing = await repository.real_name(session, person_id)
    if existing is not None:
        if existing.id_number_lookup != lookup:
            raise AlreadyVerified()
        return _view(existing, today)  # the same submission again: nothing changes
    record = await record_verified(session, cipher, person_id=person_id, name=name, resident=resident, actor=actor)
    return _view(record, today)


async def record_verified(
    session: AsyncSession,
    cipher: PersonalDataCipher,
    *,
    person_id: uuid.UUID,
    name: str,
    resident: ResidentId,
    actor: str,
) -> RealName:
    """Keep the verified name and number (sealed) and tell the other services the facts they need."""
    today = beijing_today()
    owner = str(person_id)
    sealed_number = cipher.seal(resident.number, purpose="id_number", owner=owner)
    sealed_name = cipher.seal(name, purpose="name", owner=owner)
    record = RealName(
        person_id=person_id,
        key_id=sealed_number.key_id,
        name_encrypted=sealed_name.blob,
        id_number_encrypted=sealed_number.blob,
        id_number_lookup=cipher.lookup_hash(resident.number),
        name_lookup=name_lookup(cipher, name),
        name_masked=mask_name(name),
        id_number_masked=resident.masked,
        turns_18_on=resident.turns(18),
        turns_60_on=resident.turns(60),
        verified_at=clock.now(),
    )
    session.add(record)
    await session.flush()
    # The facts as they stand today; those still to come are announced on their day (age_facts.announce_due).
    record.came_of_age_announced = record.turns_18_on <= today
    record.redemption_age_announced = record.turns_60_on <= today
    record.volunteer_age_reached = roles.volunteer_age_day(record.turns_18_on) <= today
    data = PersonVerified(
        person_id=person_id,
        verified_at=record.verified_at,
        adult=record.came_of_age_announced,
        redemption_age=record.redemption_age_announced,
    )
    await publish(session, data, subject=owner, actor=actor, acting_for=owner if actor != owner else None)
    await roles.refresh_roles(session, person_id, actor=actor)
    return record


async def verification_of(session: AsyncSession, person_id: uuid.UUID) -> Verification | None:
    record = await repository.real_name(session, person_id)
    return _view(record, clock.now().astimezone(BEIJING).date()) if record else None


@dataclass(frozen=True)
class UnmaskedRealName:
    person_id: uuid.UUID
    name: str
    id_number: str


async def read_unmasked(
    session: AsyncSession,
    cipher: PersonalDataCipher,
    *,
    person_id: uuid.UUID,
    reader: str,
    reader_roles: list[str],
    purpose: str,
) -> UnmaskedRealName:
    """Decrypt for an authorised reader; the access event commits with the read or the read fails."""
    record = await repository.real_name(session, person_id)
    if record is None:
        raise NotFound("该用户未实名认证", "This person has not verified a real name")
    owner = str(person_id)
    result = UnmaskedRealName(
        person_id=person_id,
        name=cipher.open(Sealed(record.key_id, record.name_encrypted), purpose="name", owner=owner),
        id_number=cipher.open(Sealed(record.key_id, record.id_number_encrypted), purpose="id_number", owner=owner),
    )
    data = PersonalDataAccessed(
        person_id=person_id,
        accessed_by=reader,
        accessor_roles=sorted(reader_roles),
        fields=["name", "id_number"],
        purpose=purpose,
        accessed_at=clock.now(),
    )
    await publish(session, data, subject=owner, actor=reader)
    log.info("personal data read", extra={"person_id": owner, "reader": reader, "purpose": purpose})
    return result
